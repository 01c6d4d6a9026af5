"""Stage 1a': extracts as engine tables, so validation and the build never hold them in pandas.

An extract reaches the engine (DuckDB) in one of two ways:

* a **parquet view** -- a folder of parquet parts or a parquet file whose columns already have
  the schema's types (text, integers, numbers, booleans, dates or timestamps) and no
  ``data.columns`` mapping: :class:`ParquetSource`.  The engine reads the files where they lie
  (read-only), casts the columns and numbers the rows (``_row``, 1-based, in file and part
  order), so an extract of hundreds of millions of rows is validated and built out of core;
* a **frame** -- everything else (CSV, mapped columns, parquet with text in a numeric or date
  column, frames passed in memory): read by :func:`evaluation.panel.read.read_one` into pandas,
  where values are converted one by one (:func:`evaluation.panel._convert._coerce`) so that
  every unconvertible value can be reported, then registered as an Arrow table.

Both give the same engine table (schema columns with the schema types plus ``_row``); the
checks (:mod:`.validate`) and the build (:mod:`.relational`) see no difference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import schema
from . import mapping as _mapping

#: DuckDB type of each schema type (months and dates are timestamps at midnight).
SQL_TYPES = {"str": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
             "month": "TIMESTAMP", "date": "TIMESTAMP"}


@dataclass
class ParquetSource:
    """An extract read by the engine from parquet files (see the module docstring).

    Attributes
    ----------
    name : str
        Extract name.
    path : Path
        The file or folder named in messages.
    parts : list of Path
        The parquet files, in row order.
    types : dict
        Schema columns present in the files and their Arrow types.
    rows : list of int
        Rows per part (from the parquet footers).
    """

    name: str
    path: Path
    parts: list
    types: dict
    rows: list = field(default_factory=list)
    ignored_columns: list = field(default_factory=list)

    def __len__(self) -> int:
        return int(sum(self.rows))

    @property
    def columns(self) -> list[str]:
        return list(self.types)

    @property
    def attrs(self) -> dict:
        return {"source": str(self.path), "reader": "duckdb-parquet-view",
                "ignored_columns": self.ignored_columns}

    def id_kind(self) -> str | None:
        """How ``person_id`` is stored, from the file type (text ids are judged in the engine)."""
        import pyarrow as pa
        t = self.types.get("person_id")
        if t is None:
            return None
        if pa.types.is_boolean(t):
            return "boolean"
        return "integer" if pa.types.is_integer(t) else None

    def to_pandas(self) -> pd.DataFrame:
        """The extract as a frame (small data only; used where a frame is required)."""
        import duckdb
        con = duckdb.connect()
        try:
            register_parquet(_Raw(con), "x", self)
            return con.execute(f"SELECT * EXCLUDE (_row) FROM x ORDER BY _row").df()
        finally:
            con.close()


class _Raw:
    """A plain DuckDB connection with the one method :func:`register_parquet` uses."""

    def __init__(self, con):
        self.con = con

    def raw_sql(self, sql: str):
        return self.con.execute(sql)


def _sql_ok(typ: str, at) -> bool:
    """Whether an Arrow column type casts to schema type ``typ`` without value-by-value checks."""
    import pyarrow as pa
    if pa.types.is_dictionary(at):
        at = at.value_type
    if typ == "str":
        return pa.types.is_string(at) or pa.types.is_large_string(at) or pa.types.is_integer(at)
    if typ == "int":
        return pa.types.is_integer(at)
    if typ == "float":
        return pa.types.is_integer(at) or pa.types.is_floating(at)
    if typ == "bool":
        return pa.types.is_boolean(at)
    if typ in ("month", "date"):
        return pa.types.is_date(at) or (pa.types.is_timestamp(at) and at.tz is None)
    return False


def parquet_source(name: str, path: Path, parts: Sequence[Path], columns=None) -> ParquetSource | None:
    """A :class:`ParquetSource` for the parts, or ``None`` when the extract needs the frame route
    (a mapping applies, or a column's type needs value-by-value conversion)."""
    import pyarrow.parquet as pq
    if _mapping.for_extract(columns, name):
        return None
    meta = [pq.read_metadata(p) for p in parts]
    arrow = meta[0].schema.to_arrow_schema()
    cols = schema.EXTRACTS[name]
    types = {c: arrow.field(c).type for c in cols if c in arrow.names}
    if not all(_sql_ok(cols[c], t) for c, t in types.items()):
        return None
    return ParquetSource(name, Path(path), list(parts), types, [m.num_rows for m in meta],
                         [c for c in arrow.names if c not in cols])


# ------------------------------------------------------------------------------- registering --
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cast(col: str, typ: str) -> str:
    e = f"CAST({_q(col)} AS {SQL_TYPES[typ]})"
    if typ == "float":      # NaN is a missing value, as in pandas
        return f"CASE WHEN isnan({e}) THEN NULL ELSE {e} END"
    return f"date_trunc('month', {e})::TIMESTAMP" if typ == "month" else e


def register_parquet(con, view: str, src: ParquetSource) -> None:
    """A view ``view`` over the parts: the schema columns cast to the schema types and ``_row``."""
    cols = schema.EXTRACTS[src.name]
    sel = ", ".join(f"{_cast(c, cols[c])} AS {_q(c)}" for c in src.types)
    files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in src.parts) + "]"
    offsets = np.concatenate([[0], np.cumsum(src.rows)[:-1]]).astype(np.int64)
    if len(src.parts) == 1:
        body = f"SELECT {sel}{', ' if sel else ''}file_row_number + 1 AS _row FROM read_parquet({files}, file_row_number=true)"
    else:
        pairs = ", ".join(f"('{str(p).replace(chr(39), chr(39) * 2)}', {int(o)})"
                          for p, o in zip(src.parts, offsets))
        body = (f"SELECT {sel}{', ' if sel else ''}r.file_row_number + o.off + 1 AS _row "
                f"FROM read_parquet({files}, file_row_number=true, filename=true) r "
                f"JOIN (VALUES {pairs}) o(fname, off) ON r.filename = o.fname")
    con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS {body}")


def _arrow_type(typ: str):
    import pyarrow as pa
    return {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
            "month": pa.timestamp("ns"), "date": pa.timestamp("ns")}[typ]


def register_frame(con, view: str, name: str, df: pd.DataFrame, usable: Sequence[str]) -> None:
    """Register the converted frame's usable schema columns and ``_row`` as table ``view``."""
    import pyarrow as pa
    cols = schema.EXTRACTS[name]
    arrays, fields = [], []
    for c in usable:
        typ = _arrow_type(cols[c])
        s = df[c]
        if cols[c] == "str":
            v = s.astype(object).where(s.notna(), None).to_numpy()
        elif cols[c] in ("month", "date"):
            v = pd.to_datetime(s).astype("datetime64[ns]").to_numpy()
        elif cols[c] == "bool":
            v = s.astype("boolean")
        else:
            v = s.to_numpy(dtype=float if cols[c] == "float" else object, na_value=None if cols[c] == "int" else np.nan)
        arrays.append(pa.array(v, type=typ, from_pandas=True))
        fields.append(pa.field(c, typ))
    arrays.append(pa.array(np.arange(1, len(df) + 1, dtype=np.int64)))
    fields.append(pa.field("_row", pa.int64()))
    con.con.register(view, pa.Table.from_arrays(arrays, schema=pa.schema(fields)))


def as_sources(extracts: Mapping) -> dict:
    """Extract name to frame or :class:`ParquetSource` (other values are left to validation)."""
    return dict(extracts)
