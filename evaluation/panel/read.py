"""Stage 1a: read register extracts from a folder.

An extract ``name`` is one of ``<folder>/<name>.parquet``, ``<folder>/<name>.csv`` (or
``.csv.gz``) or a folder ``<folder>/<name>/`` of parquet parts (``part-00000.parquet``, ...; the
synthetic generator writes large extracts in person blocks this way).  Two of these for one
extract is an error naming both.  Files that cannot be read (wrong encoding, wrong delimiter,
empty, truncated parquet, parts with different schemas) stop with a
:class:`~evaluation.panel.problems.PanelValidationError` naming the file and the fix, never a raw
traceback.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import schema
from . import mapping as _mapping
from ._convert import _coerce
from .problems import PanelValidationError, Problem
from .sources import parquet_source


def _unreadable(name: str, path, message: str, fix: str) -> PanelValidationError:
    return PanelValidationError([Problem(name, None, "unreadable", f"{message} (file {str(path)!r})",
                                         fix, 1)])


def extract_source(folder: Path, name: str) -> Path | None:
    """The file or folder holding extract ``name``; ``None`` when absent; error when ambiguous."""
    cands = [folder / f"{name}{ext}" for ext in (".parquet", ".csv", ".csv.gz")
             if (folder / f"{name}{ext}").is_file()]
    if (folder / name).is_dir():
        cands.append(folder / name)
    if len(cands) > 1:
        raise PanelValidationError([Problem(
            name, None, "ambiguous extract",
            f"extract '{name}' is in more than one file: " + " and ".join(repr(str(c)) for c in cands),
            "keep one of them (move the other out of the folder); the suite cannot tell which is current",
            len(cands))])
    return cands[0] if cands else None


def _parquet_parts(name: str, path: Path) -> list[Path]:
    """The parquet parts of a partitioned extract folder, checked to share one schema."""
    parts = sorted(path.rglob("*.parquet"))
    if not parts:
        raise _unreadable(name, path, f"extract folder '{name}/' holds no .parquet parts",
                          f"put the parts as {name}/part-00000.parquet, ... or remove the folder")
    schemas = {}
    for f in parts:
        schemas[f] = _parquet_schema(name, f)
    first = parts[0]
    for f in parts[1:]:
        if not schemas[f].equals(schemas[first]):
            a = {fl.name: str(fl.type) for fl in schemas[first]}
            b = {fl.name: str(fl.type) for fl in schemas[f]}
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise _unreadable(name, f, f"parquet part has a different schema from {first.name}: "
                              f"columns {diff} differ ({ {k: a.get(k) for k in diff} } vs "
                              f"{ {k: b.get(k) for k in diff} })",
                              "write every part with the same columns and types (cast the column in the "
                              "odd part, or re-export the extract in one go)")
    return parts


def _parquet_schema(name: str, f: Path):
    import pyarrow.parquet as pq
    if f.stat().st_size == 0:
        raise _unreadable(name, f, "the parquet file is empty (0 bytes)", "re-export the extract")
    try:
        return pq.read_schema(f)
    except Exception as exc:  # ArrowInvalid, OSError: truncated or not parquet
        raise _unreadable(name, f, f"not a readable parquet file ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:120]}); it may be truncated or another format",
                          "re-export or re-copy the file (a truncated copy lacks the parquet footer); "
                          "a CSV file must end in .csv") from None


def _read_csv(name: str, path: Path, cols) -> tuple[pd.DataFrame, list]:
    if path.stat().st_size == 0:
        raise _unreadable(name, path, "the CSV file is empty (0 bytes, no header)",
                          f"re-export the extract with a header row: {', '.join(cols)}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=True, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _unreadable(name, path, f"the CSV file is not UTF-8 (undecodable byte "
                          f"{exc.object[exc.start:exc.start + 1]!r})",
                          "save the file as UTF-8 (e.g. from Excel: 'CSV UTF-8'; or "
                          "iconv -f latin1 -t utf-8)") from None
    except pd.errors.EmptyDataError:
        raise _unreadable(name, path, "the CSV file has no header row",
                          f"re-export the extract with a header row: {', '.join(cols)}") from None
    except pd.errors.ParserError as exc:
        raise _unreadable(name, path, f"the CSV file cannot be parsed ({str(exc).strip()[:160]})",
                          "check the delimiter (a comma is expected) and quoting; "
                          "rows must have as many fields as the header") from None
    file_cols = list(df.columns)
    if len(file_cols) == 1 and len(cols) > 1:
        delim = next((d for d in (";", "\t", "|") if d in file_cols[0]), None)
        if delim is not None:
            raise _unreadable(name, path, f"the CSV file uses {delim!r} as delimiter; its header was read as "
                              f"one column {file_cols[0][:80]!r}",
                              "save it with commas as delimiter (e.g. pandas to_csv, or Excel 'CSV UTF-8 "
                              "(comma delimited)')")
    return df, file_cols


def read_extracts(folder, *, names: Sequence[str] | None = None, large_file_mb: float = 200.0,
                  columns=None, lazy: bool = False) -> dict[str, pd.DataFrame]:
    """Read register extracts from a folder.

    Each extract ``name`` is read from ``<folder>/<name>.parquet``, ``<folder>/<name>.csv``
    (``.csv.gz`` also works) or a folder ``<folder>/<name>/`` of parquet parts; two of these for one
    extract is an error.  Only the columns declared in
    :data:`evaluation.schema.EXTRACTS` are kept.  CSV files are parsed as text and converted to
    the schema types; a column that cannot be converted (e.g. text in a numeric column) is left
    as text so that :func:`validate_extracts` can report the offending rows.  Parquet files larger
    than ``large_file_mb`` are read through DuckDB, selecting only the schema columns.  Input
    files are opened read-only and never modified.

    Parameters
    ----------
    folder : str or Path
        Folder holding the extract files.
    names : sequence of str, optional
        Extracts to read.  By default every schema extract found in the folder.  A name given
        here without a file raises ``FileNotFoundError``.
    large_file_mb : float, default 200
        Parquet files above this size (MB) are read with DuckDB.
    lazy : bool, default False
        Return parquet extracts whose columns already have the schema types as
        :class:`~evaluation.panel.sources.ParquetSource` (read by the engine where they lie,
        never into pandas; :func:`load_panel` does this); the others are read as frames.
    columns : dict, optional
        The ``data.columns`` mapping of the user's column names, codes and date formats to the
        schema (:mod:`evaluation.panel.mapping`); by default the one a render made active for
        this folder, if any.

    Returns
    -------
    dict of str to DataFrame
        Extract name to frame.  The frames' ``attrs`` record ``source`` (file path),
        ``reader`` (``"pandas-csv"``, ``"pandas-parquet"`` or ``"duckdb"``) and
        ``ignored_columns`` (columns in the file that are not in the schema).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"extract folder {str(folder)!r} does not exist")
    wanted = list(names) if names is not None else list(schema.EXTRACTS)
    unknown = [n for n in wanted if n not in schema.EXTRACTS]
    if unknown:
        raise ValueError(f"unknown extract name(s) {unknown}; expected some of {list(schema.EXTRACTS)}")
    out: dict[str, pd.DataFrame] = {}
    columns = _mapping.active(folder) if columns is None else columns
    _mapping.check(columns)
    for name in wanted:
        path = extract_source(folder, name)
        if path is None:
            if names is not None:
                present = sorted(p.name for p in folder.iterdir())
                raise FileNotFoundError(f"extract {name!r} not found: expected {name}.parquet or "
                                        f"{name}.csv (or a folder {name}/ of parquet parts) in "
                                        f"{str(folder)!r}; files there: {present}")
            continue
        out[name] = (open_one if lazy else read_one)(name, path, large_file_mb=large_file_mb, columns=columns)
    if not out:
        raise FileNotFoundError(f"no extracts found in {str(folder)!r}; expected files such as "
                                f"persons.parquet / persons.csv, assignment.parquet, ...")
    return out


def open_one(name: str, path: Path, *, large_file_mb: float = 200.0, columns=None):
    """Extract ``name`` as a :class:`~evaluation.panel.sources.ParquetSource` when the engine can
    read it as it is (parquet with the schema types, no mapping), else as a frame (:func:`read_one`)."""
    if path.is_dir() or path.suffix == ".parquet":
        parts = _parquet_parts(name, path) if path.is_dir() else [path]
        _parquet_schema(name, parts[0])
        src = parquet_source(name, path, parts, _mapping.active(path.parent) if columns is None else columns)
        if src is not None:
            return src
    return read_one(name, path, large_file_mb=large_file_mb, columns=columns)


def read_one(name: str, path: Path, *, large_file_mb: float = 200.0, columns=None) -> pd.DataFrame:
    """Read one extract file (or folder of parquet parts), keeping the schema columns (and the
    columns ``columns`` maps to them, renamed and recoded: :mod:`evaluation.panel.mapping`)."""
    cols = schema.EXTRACTS[name]
    spec = _mapping.for_extract(columns, name)
    if path.is_dir() or path.suffix == ".parquet":
        parts = _parquet_parts(name, path) if path.is_dir() else [path]
        file_cols = _parquet_schema(name, parts[0]).names
        use = _mapping.select(spec, name, file_cols, path)
        size = sum(f.stat().st_size for f in parts)
        try:
            if size > large_file_mb * 1e6 or len(parts) > 1:
                df, reader = _read_parquet_duckdb(parts, use), "duckdb"
            else:
                df, reader = pd.read_parquet(parts[0], columns=use), "pandas-parquet"
        except Exception as exc:
            raise _unreadable(name, path, f"the parquet data cannot be read ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160]})",
                              "re-export or re-copy the file; it may be truncated or corrupt") from None
    else:
        df, file_cols = _read_csv(name, path, cols)
        use = _mapping.select(spec, name, file_cols, path)
        df = df[use]
        reader = "pandas-csv"
    df = _mapping.apply(spec, name, df, path)
    df, _ = _coerce(df, name)
    df.attrs.update(source=str(path), reader=reader,
                    ignored_columns=[c for c in file_cols if c not in cols and c not in spec])
    return df


def _read_parquet_duckdb(parts: list[Path], use: list[str]) -> pd.DataFrame:
    import duckdb
    sel = ", ".join('"' + c.replace('"', '""') + '"' for c in use)
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT {sel} FROM read_parquet(?)", [[str(p) for p in parts]]).df()
    finally:
        con.close()
