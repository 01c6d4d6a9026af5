"""Months, type conversion to the schema types, and example rows for validation messages."""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import schema
from ._constants import _N_EXAMPLES, _NAT


def _month_of(x) -> int:
    """Month index (months since 1970-01) of a date-like scalar ("2020-03", Timestamp, Period)."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        raise TypeError(f"window months must be dates such as '2020-01', got the integer {x!r}")
    ts = x.to_timestamp() if isinstance(x, pd.Period) else pd.Timestamp(x)
    return (ts.year - 1970) * 12 + ts.month - 1


def _parse_window(window) -> tuple[int, int] | None:
    if window is None:
        return None
    if isinstance(window, Mapping):
        window = (window["start"], window["end"])
    if len(window) != 2:
        raise ValueError(f"window must be (start, end), e.g. ('2018-01', '2022-12'); got {window!r}")
    ws, we = _month_of(window[0]), _month_of(window[1])
    if we < ws:
        raise ValueError(f"window end {window[1]!r} is before window start {window[0]!r}")
    return ws, we


def _month_str(m: int) -> str:
    return f"{1970 + m // 12:04d}-{m % 12 + 1:02d}"


def _midx(s: pd.Series) -> np.ndarray:
    """Month index (int64, months since 1970-01) of a datetime series; NaT -> ``_NAT``."""
    v = s.to_numpy()
    if not np.issubdtype(v.dtype, np.datetime64):
        v = pd.to_datetime(s).to_numpy()
    if len(v) > 100_000:  # few distinct months: convert the distinct values only
        codes, uniq = pd.factorize(v, use_na_sentinel=True)
        m = np.asarray(uniq).astype("datetime64[M]").astype(np.int64)
        return np.append(m, _NAT)[codes]
    return v.astype("datetime64[M]").astype(np.int64)


def _month_ts(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.int64)
    return m.astype("datetime64[M]").astype("datetime64[ns]")


def _convert(s: pd.Series, typ: str) -> tuple[pd.Series, np.ndarray]:
    """Convert ``s`` to schema type ``typ``.

    Returns the converted series and a boolean mask of values that are present but could not be
    converted (the series is returned unconverted when the mask has any ``True``).
    """
    n = len(s)
    none = np.zeros(n, dtype=bool)
    if typ == "str":
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if pd.api.types.is_float_dtype(s.dtype):
            f = s.to_numpy(dtype=float, na_value=np.nan)
            if np.all(np.isnan(f) | (f == np.round(f))):
                s = s.astype("Int64")
        if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
            return s, none
        return s.astype("string"), none
    if typ in ("int", "float"):
        if pd.api.types.is_bool_dtype(s.dtype):
            conv = s.astype("Int64" if s.hasnans else "int64")
        elif pd.api.types.is_numeric_dtype(s.dtype):
            conv = s
        else:
            st = s.astype("string").str.strip()
            st = st.mask(st == "")
            conv = pd.to_numeric(st, errors="coerce")
            bad = (st.notna() & conv.isna()).to_numpy(dtype=bool, na_value=False)
            if bad.any():
                return s, bad
        if typ == "int" and pd.api.types.is_float_dtype(conv.dtype):
            f = conv.to_numpy(dtype=float, na_value=np.nan)
            bad = ~np.isnan(f) & (f != np.round(f))
            if bad.any():
                return s, bad
            conv = conv.astype("Int64") if np.isnan(f).any() else conv.astype("int64")
        elif typ == "float" and (not pd.api.types.is_float_dtype(conv.dtype)
                                 or isinstance(conv.dtype, pd.api.extensions.ExtensionDtype)):
            conv = pd.Series(conv.to_numpy(dtype="float64", na_value=np.nan), index=s.index, name=s.name)
        return conv, none
    if typ == "bool":
        if pd.api.types.is_bool_dtype(s.dtype):
            return s, none
        if pd.api.types.is_numeric_dtype(s.dtype):
            f = s.to_numpy(dtype=float, na_value=np.nan)
            bad = ~np.isnan(f) & (f != 0) & (f != 1)
            if bad.any():
                return s, bad
            out = pd.array(np.where(np.isnan(f), pd.NA, f == 1).tolist(), dtype="boolean") \
                if np.isnan(f).any() else pd.array(f == 1, dtype="boolean")
            return pd.Series(out, index=s.index, name=s.name), none
        st = s.astype("string").str.strip().str.lower()
        st = st.mask(st == "")
        mapping = {"1": True, "0": False, "true": True, "false": False, "t": True, "f": False,
                   "yes": True, "no": False, "y": True, "n": False, "1.0": True, "0.0": False}
        conv = st.map(mapping)
        bad = (st.notna() & conv.isna()).to_numpy(dtype=bool, na_value=False)
        if bad.any():
            return s, bad
        return conv.astype("boolean"), none
    if typ in ("month", "date"):
        if isinstance(s.dtype, pd.PeriodDtype):
            conv = s.dt.to_timestamp()
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            conv = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        else:
            if pd.api.types.is_string_dtype(s.dtype):
                st = s.astype("string").str.strip()
                st = st.mask(st == "")
                conv = pd.to_datetime(st, errors="coerce", format="ISO8601")
                present = st.notna()
            else:
                conv = pd.to_datetime(s, errors="coerce")
                present = s.notna()
            bad = (present & conv.isna()).to_numpy(dtype=bool, na_value=False)
            if bad.any():
                return s, bad
        if typ == "month":  # normalise to the first day of the month
            conv = pd.Series(conv.to_numpy().astype("datetime64[M]").astype("datetime64[ns]"),
                             index=s.index, name=s.name)
        elif conv.dtype != "datetime64[ns]":
            conv = conv.astype("datetime64[ns]")
        return conv, none
    raise ValueError(f"unknown schema type {typ!r}")  # pragma: no cover


def _coerce(df: pd.DataFrame, name: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Convert the schema columns of extract ``name``; returns (frame, {column: bad-value mask})."""
    out = df.copy(deep=False)
    bad: dict[str, np.ndarray] = {}
    for col, typ in schema.EXTRACTS.get(name, {}).items():
        if col not in out.columns:
            continue
        conv, mask = _convert(out[col], typ)
        if mask.any():
            bad[col] = mask
        else:
            out[col] = conv
    return out, bad


def _fmt(v) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(v).date())
    return repr(v) if not isinstance(v, (float, np.floating)) else f"{float(v):g}"


def _examples(df: pd.DataFrame, mask, cols: Sequence[str] = ()) -> list[str]:
    """Describe the first offending rows: ``row N (person_id 'X', col=value)``."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))[:_N_EXAMPLES]
    out = []
    for i in idx:
        parts = []
        if "person_id" in df.columns:
            parts.append(f"person_id {_fmt(df['person_id'].iloc[i])}")
        for c in cols:
            if c != "person_id" and c in df.columns:
                parts.append(f"{c}={_fmt(df[c].iloc[i])}")
        out.append(f"row {i + 1} (" + ", ".join(parts) + ")")
    return out


def _ids_examples(ids: Iterable, n: int = _N_EXAMPLES) -> list[str]:
    return [f"person_id {_fmt(x)}" for x in list(ids)[:n]]


def _codes(s: pd.Series, index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the values of ``s`` in ``index`` (-1 if absent) and factorize codes of ``s``.

    Factorizing first makes the lookup of millions of string ids cost one hash pass.
    """
    fc, uniq = pd.factorize(s, use_na_sentinel=True)
    pos = index.get_indexer(np.asarray(uniq, dtype=object))
    return np.append(pos, -1)[fc], fc


def _dup_mask(df: pd.DataFrame, key: Sequence[str]) -> np.ndarray:
    """Rows whose ``key`` columns repeat another row's (all copies marked)."""
    comb = np.zeros(len(df), dtype=np.int64)
    for col in key:
        fc, uniq = pd.factorize(df[col], use_na_sentinel=True)
        comb = comb * (len(uniq) + 1) + (fc + 1)
    return pd.Series(comb).duplicated(keep=False).to_numpy()

