"""Column builders: strings in Arrow, person ids from person numbers, months, typed frames."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import schema

_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def str_array(labels, codes: np.ndarray) -> pa.Array:
    """Arrow string array from a label list and integer codes (-1 = missing)."""
    dictionary = pa.array(list(labels), type=pa.large_string())
    codes = np.asarray(codes)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask if mask.any() else None)
    return dictionary.take(idx)


def str_series(labels, codes: np.ndarray) -> pd.Series:
    """pandas ``str`` Series from a label list and integer codes (-1 = missing), built in Arrow."""
    return pd.Series(pd.array(str_array(labels, codes), dtype=_STR))


def id_width(n_total: int) -> int:
    """Digits of the person ids of a population of ``n_total`` persons (``P0000001`` ...)."""
    return max(7, len(str(n_total)))


class PersonIds:
    """Person ids ``"P" + zero-padded (number + 1)`` of a block, as fixed-width ASCII rows.

    :meth:`array` gathers rows (one per record) and wraps them as an Arrow string array
    without creating Python strings.
    """

    def __init__(self, numbers: np.ndarray, width: int):
        v = np.asarray(numbers, dtype=np.int64) + 1
        self.w = width + 1
        buf = np.empty((len(v), self.w), dtype=np.uint8)
        buf[:, 0] = ord("P")
        for j in range(width, 0, -1):
            buf[:, j] = 48 + v % 10
            v = v // 10
        self.rows = buf.view(f"S{self.w}").ravel()

    def array(self, i: np.ndarray | None = None) -> pa.Array:
        data = self.rows if i is None else self.rows[i]
        n = len(data)
        offsets = pa.py_buffer(np.arange(0, (n + 1) * self.w, self.w, dtype=np.int64))
        return pa.LargeStringArray.from_buffers(n, offsets, pa.py_buffer(data))


def month_array(months: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Months (first day, datetime64[us]) at month indices; ``idx < 0`` gives NaT."""
    tab = np.concatenate([[np.datetime64("NaT", "us")], months.astype("datetime64[us]")])
    return tab[np.maximum(np.asarray(idx), -1) + 1]


def month_values(months: np.ndarray, idx: np.ndarray) -> pd.Series:
    return pd.Series(month_array(months, idx), dtype="datetime64[us]")


def typed(name: str, cols: dict) -> pd.DataFrame:
    """Frame with exactly the schema's columns, in order, with the suite's dtypes."""
    spec = schema.EXTRACTS[name]
    out = {}
    for col, typ in spec.items():
        v = cols.get(col)
        if typ == "str":
            if v is None:
                v = pd.Series([], dtype=_STR)
            elif isinstance(v, (pa.Array, pa.ChunkedArray)):
                v = pd.Series(pd.array(v, dtype=_STR))
            elif not isinstance(v, pd.Series):
                v = pd.Series(v, dtype=_STR)
        elif typ == "int":
            v = pd.Series(np.asarray([] if v is None else v, dtype=np.int64))
        elif typ == "float":
            v = pd.Series(np.asarray([] if v is None else v, dtype=np.float64))
        elif typ == "bool":
            v = pd.Series(np.asarray([] if v is None else v, dtype=bool))
        else:   # month / date
            v = pd.Series(np.asarray([] if v is None else v, dtype="datetime64[us]"),
                          dtype="datetime64[us]") if not isinstance(v, pd.Series) else v
        out[col] = v.reset_index(drop=True)
    return pd.DataFrame(out)


_SCHEMAS: dict = {}


def arrow_schema(name: str) -> pa.Schema:
    """The Arrow schema every part of extract ``name`` is written with (pandas metadata kept)."""
    if name not in _SCHEMAS:
        _SCHEMAS[name] = pa.Table.from_pandas(typed(name, {}), preserve_index=False).schema
    return _SCHEMAS[name]


def arrow_table(name: str, cols: dict) -> pa.Table:
    """Arrow table of an extract straight from its columns (no pandas in between).

    Missing values follow pandas' conversion: NaN floats and NaT months become nulls.
    """
    sch = arrow_schema(name)
    arrays = []
    for fld in sch:
        v = cols.get(fld.name)
        if v is None:
            arrays.append(pa.nulls(0, fld.type) if not cols else pa.nulls(_nrows(cols), fld.type))
        elif isinstance(v, (pa.Array, pa.ChunkedArray)):
            arrays.append(v.cast(fld.type) if v.type != fld.type else v)
        elif isinstance(v, pd.Series):
            arrays.append(pa.array(v, type=fld.type, from_pandas=True))
        else:
            arrays.append(pa.array(np.asarray(v), type=fld.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=sch)


def _nrows(cols: dict) -> int:
    return len(next(iter(cols.values())))
