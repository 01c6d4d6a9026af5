"""Stage 1a: read register extracts from a folder (csv, parquet, or a folder of parquet parts)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import schema
from ._convert import _coerce


def read_extracts(folder, *, names: Sequence[str] | None = None, large_file_mb: float = 200.0,
                  ) -> dict[str, pd.DataFrame]:
    """Read register extracts from a folder.

    Each extract ``name`` is read from ``<folder>/<name>.parquet`` or, if absent,
    ``<folder>/<name>.csv`` (``.csv.gz`` also works).  Only the columns declared in
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
    for name in wanted:
        cols = schema.EXTRACTS[name]
        path = next((folder / f"{name}{ext}" for ext in (".parquet", ".csv", ".csv.gz")
                     if (folder / f"{name}{ext}").is_file()), None)
        if path is None:
            if names is not None:
                present = sorted(p.name for p in folder.iterdir() if p.is_file())
                raise FileNotFoundError(f"extract {name!r} not found: expected {name}.parquet or "
                                        f"{name}.csv in {str(folder)!r}; files there: {present}")
            continue
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq
            file_cols = pq.read_schema(path).names
            use = [c for c in cols if c in file_cols]
            if path.stat().st_size > large_file_mb * 1e6:
                import duckdb
                sel = ", ".join('"' + c.replace('"', '""') + '"' for c in use)
                con = duckdb.connect()
                try:
                    df = con.execute(f"SELECT {sel} FROM read_parquet(?)", [str(path)]).df()
                finally:
                    con.close()
                reader = "duckdb"
            else:
                df = pd.read_parquet(path, columns=use)
                reader = "pandas-parquet"
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=True)
            file_cols = list(df.columns)
            use = [c for c in cols if c in file_cols]
            df = df[use]
            reader = "pandas-csv"
        df, _ = _coerce(df, name)
        df.attrs.update(source=str(path), reader=reader,
                        ignored_columns=[c for c in file_cols if c not in cols])
        out[name] = df
    if not out:
        raise FileNotFoundError(f"no extracts found in {str(folder)!r}; expected files such as "
                                f"persons.parquet / persons.csv, assignment.parquet, ...")
    return out
