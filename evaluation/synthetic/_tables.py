"""Column builders: strings in Arrow, person ids from person numbers, months, typed frames."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import schema

_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def str_series(labels, codes: np.ndarray) -> pd.Series:
    """pandas ``str`` Series from a label list and integer codes (-1 = missing), built in Arrow."""
    dictionary = pa.array(list(labels), type=pa.string())
    codes = np.asarray(codes)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask if mask.any() else None)
    return pd.Series(pd.array(dictionary.take(idx), dtype=_STR))


def id_width(n_total: int) -> int:
    """Digits of the person ids of a population of ``n_total`` persons (``P0000001`` ...)."""
    return max(7, len(str(n_total)))


def person_ids(numbers: np.ndarray, width: int) -> pd.Series:
    """Person ids ``"P" + zero-padded (number + 1)`` for person numbers, without Python strings.

    The ASCII bytes are written into one buffer and wrapped as an Arrow string array.
    """
    v = np.asarray(numbers, dtype=np.int64) + 1
    n = len(v)
    w = width + 1
    buf = np.empty((n, w), dtype=np.uint8)
    buf[:, 0] = ord("P")
    for j in range(width, 0, -1):
        buf[:, j] = 48 + v % 10
        v = v // 10
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * w).tobytes())
    arr = pa.StringArray.from_buffers(n, offsets, pa.py_buffer(buf.tobytes()))
    return pd.Series(pd.array(arr, dtype=_STR))


def month_values(months: np.ndarray, idx: np.ndarray) -> pd.Series:
    """Month column (first day of month, datetime64[us]); ``idx < 0`` gives NaT."""
    m = months[np.clip(idx, 0, len(months) - 1)].astype("datetime64[us]")
    m = np.where(idx < 0, np.datetime64("NaT", "us"), m)
    return pd.Series(m, dtype="datetime64[us]")


def typed(name: str, cols: dict) -> pd.DataFrame:
    """Frame with exactly the schema's columns, in order, with the suite's dtypes."""
    spec = schema.EXTRACTS[name]
    out = {}
    for col, typ in spec.items():
        v = cols.get(col)
        if typ == "str":
            if v is None:
                v = pd.Series([], dtype=_STR)
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


def arrow_schema(name: str) -> pa.Schema:
    """The Arrow schema every part of extract ``name`` is written with."""
    return pa.Table.from_pandas(typed(name, {}), preserve_index=False).schema
