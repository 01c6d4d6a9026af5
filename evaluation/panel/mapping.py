"""A user's own column names, value codes and date formats, mapped to the schema (``data.columns``).

Register extracts rarely arrive in the suite's schema: person ids are ``fnr``, months ``aarmnd``
as ``202001``, amounts ``belop``, sex ``kjonn`` coded 1/2.  The ``columns:`` section under
``data:`` of a parameter file maps them, per extract::

    data:
      source: extracts
      folder: data/my_programme/extracts
      columns:
        persons:
          fnr: person_id                              # rename
          fodt_aar: birth_year
          kjonn: {to: sex, values: {1: M, 2: F}}      # rename and recode
        social_assistance:
          fnr: person_id
          aarmnd: {to: month, format: YYYYMM}         # declared date format
          belop: amount
        assignment:
          fnr: person_id
          gruppe: {to: arm, values: {K: control, T: treatment}}
          startdato: {to: assigned_month, format: excel}   # Excel day serials

Each entry is ``<column in the file>: <schema column>`` or ``<column in the file>: {to: <schema
column>, values: {<code>: <schema value>}, format: <date format>}``.  Date formats: ``YYYYMM``,
``YYYY-MM``, ``YYYY-MM-DD``, ``YYYYMMDD``, ``DD.MM.YYYY``, ``MM/DD/YYYY``, ``DD/MM/YYYY``,
``excel`` (day serials counted from 1899-12-30, as Excel and LibreOffice store dates) or ``auto``
(the default for month and date columns of a mapped extract: the format is detected from the
values; a column whose values fit two formats, or several formats at once, is an error asking
for ``format:``).

The mapping is applied where extracts are read (:func:`evaluation.panel.read.read_one`), before
the schema types are converted, so it holds for every engine of the panel build.  The files are
never modified: the frame read from them is renamed and recoded.  Mistakes are
:class:`~evaluation.panel.problems.PanelValidationError` problems naming the extract, the column,
example values (codes and dates, never person ids) and the fix.

A render makes its plan's mapping active for the notebooks' kernels through the environment
(:func:`activate`, ``EVALUATION_COLUMNS``), keyed by the data folder, so that
``read_extracts(data_dir)`` and ``load_panel(data_dir)`` in a notebook apply it without new
notebook code; the panel cache key includes it.
"""
from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import schema
from ._constants import OPTIONAL_COLUMNS
from .problems import PanelValidationError, Problem

ENV = "EVALUATION_COLUMNS"

#: Declared date formats and the regular expression their values must match.
DATE_FORMATS: dict[str, str] = {
    "YYYYMM": r"\d{6}", "YYYY-MM": r"\d{4}-\d{1,2}", "YYYY-MM-DD": r"\d{4}-\d{1,2}-\d{1,2}",
    "YYYYMMDD": r"\d{8}", "DD.MM.YYYY": r"\d{1,2}\.\d{1,2}\.\d{4}",
    "DD/MM/YYYY": r"\d{1,2}/\d{1,2}/\d{4}", "MM/DD/YYYY": r"\d{1,2}/\d{1,2}/\d{4}",
    "excel": r"\d{4,5}(\.0+)?",
}
_STRPTIME = {"YYYYMM": "%Y%m", "YYYY-MM": "%Y-%m", "YYYY-MM-DD": "%Y-%m-%d", "YYYYMMDD": "%Y%m%d",
             "DD.MM.YYYY": "%d.%m.%Y", "DD/MM/YYYY": "%d/%m/%Y", "MM/DD/YYYY": "%m/%d/%Y"}
#: Excel serials accepted: 1950-01-01 .. 2099-12-31 (others are almost surely not dates).
EXCEL_RANGE = (18264, 73415)
_EXCEL_EPOCH = np.datetime64("1899-12-30")


class MappingError(ValueError):
    """A ``data.columns`` section that cannot be right whatever the data hold."""


def _entry(target: Any) -> dict:
    return {"to": target} if isinstance(target, str) else dict(target or {})


def check_spec(columns: Mapping | None) -> list[str]:
    """Problems of a ``data.columns`` section on its own (before any data are read).

    Unknown extracts, entries naming no schema column or an unknown one (with the allowed names
    and the closest), two file columns mapped to one schema column, unknown keys or date formats,
    ``values`` that is not a mapping, a ``format`` on a column that is not a date.
    """
    probs: list[str] = []
    if columns is None:
        return probs
    if not isinstance(columns, Mapping):
        return [f"data.columns must map extract names to column mappings, got {type(columns).__name__}"]
    for name, cols in columns.items():
        where = f"data.columns.{name}"
        if name not in schema.EXTRACTS:
            close = difflib.get_close_matches(str(name), list(schema.EXTRACTS), n=1)
            probs.append(f"{where}: unknown extract {name!r}" + (f" (did you mean {close[0]!r}?)" if close
                         else "") + f"; extracts: {list(schema.EXTRACTS)}")
            continue
        if not isinstance(cols, Mapping):
            probs.append(f"{where}: expected '<column in the file>: <schema column>' entries, got "
                         f"{type(cols).__name__}")
            continue
        allowed = list(schema.EXTRACTS[name])
        seen: dict[str, str] = {}
        for src, target in cols.items():
            w = f"{where}.{src}"
            if not isinstance(target, (str, Mapping)):
                probs.append(f"{w}: expected a schema column name or {{to: ..., values: ..., format: ...}}, "
                             f"got {target!r}")
                continue
            e = _entry(target)
            extra = sorted(set(e) - {"to", "values", "format"})
            if extra:
                probs.append(f"{w}: unknown key(s) {extra}; allowed: to, values, format")
            to = e.get("to")
            if to not in allowed:
                close = difflib.get_close_matches(str(to), allowed, n=1)
                probs.append(f"{w}: {to!r} is not a column of the {name} extract"
                             + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; its columns: {allowed}")
                continue
            if to in seen:
                probs.append(f"{w}: two file columns map to {name}.{to}: {seen[to]!r} and {src!r}; "
                             "keep one (a schema column comes from one file column)")
            seen[to] = str(src)
            if "values" in e and to == "person_id":   # its codes would be ids in messages
                probs.append(f"{w}.values: person ids are not recoded (a value map would print ids "
                             f"in messages); map the id column as it is: {src}: person_id")
            elif "values" in e and not isinstance(e["values"], Mapping):
                probs.append(f"{w}.values: expected {{code in the file: schema value}}, got {e['values']!r}")
            fmt = e.get("format")
            if fmt is not None:
                if schema.EXTRACTS[name][to] not in ("month", "date"):
                    probs.append(f"{w}.format: {name}.{to} is not a date column "
                                 f"(type {schema.EXTRACTS[name][to]}); remove format")
                elif fmt not in (*DATE_FORMATS, "auto"):
                    probs.append(f"{w}.format: unknown date format {fmt!r}; one of "
                                 f"{[*DATE_FORMATS, 'auto']}")
    return probs


# ------------------------------------------------------------------------------------------
# the mapping that a render makes active for its kernels
# ------------------------------------------------------------------------------------------
def activate(folder, columns: Mapping | None) -> None:
    """Make ``columns`` the mapping of extracts read from ``folder`` in this process and the
    kernels it starts (environment ``EVALUATION_COLUMNS``); ``None`` clears it."""
    if not columns:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = json.dumps({"folder": str(Path(folder).resolve()), "columns": columns},
                                     default=str)


def active(folder) -> dict | None:
    """The mapping made active for ``folder`` by :func:`activate`, if any."""
    raw = os.environ.get(ENV)
    if not raw:
        return None
    try:
        d = json.loads(raw)
    except ValueError:
        return None
    return d.get("columns") if d.get("folder") == str(Path(folder).resolve()) else None


# ------------------------------------------------------------------------------------------
# applied where an extract is read
# ------------------------------------------------------------------------------------------
def check(columns: Mapping | None) -> None:
    """Raise :class:`MappingError` listing the problems of :func:`check_spec`, if any."""
    probs = check_spec(columns)
    if probs:
        raise MappingError("invalid data.columns mapping:\n" + "\n".join(f"  - {p}" for p in probs))


def for_extract(columns: Mapping | None, name: str) -> dict[str, dict]:
    """``{file column: entry}`` of extract ``name`` (empty without a mapping)."""
    cols = (columns or {}).get(name) or {}
    return {str(src): _entry(t) for src, t in cols.items()}


def select(spec: Mapping[str, dict], name: str, file_cols, path) -> list[str]:
    """The file columns to read for extract ``name``: schema columns not mapped from another
    column, and the mapped ones.  A mapped column missing from the file is an error."""
    file_cols = list(file_cols)
    cols = schema.EXTRACTS[name]
    targets = {e["to"] for e in spec.values()}
    probs = []
    for src, e in spec.items():
        if src not in file_cols:
            close = difflib.get_close_matches(src, file_cols, n=1)
            probs.append(Problem(name, src, "mapping", f"data.columns.{name} maps column {src!r} "
                                 f"to {e['to']!r}, but the file has no column {src!r}"
                                 + (f" (did you mean {close[0]!r}?)" if close else "")
                                 + f"; its columns: {file_cols} (file {str(path)!r})",
                                 f"correct the name under data.columns.{name} or remove the entry", 1))
    for t in targets:
        if t in file_cols and t not in spec:
            src = next(s for s, e in spec.items() if e["to"] == t)
            probs.append(Problem(name, t, "mapping", f"the file has a column {t!r} and data.columns."
                                 f"{name} also maps {src!r} to it: two columns for one (file "
                                 f"{str(path)!r})", f"remove the entry {src}: {t} or drop the "
                                 f"column {t!r} from the export", 1))
    if spec:                       # a mapped extract: required columns neither in the file nor mapped
        for c in cols:
            if c not in file_cols and c not in targets and c not in OPTIONAL_COLUMNS.get(name, ()):
                probs.append(Problem(name, c, "mapping", f"required column {c!r} ({cols[c]}) is neither "
                                     f"in the file nor mapped by data.columns.{name}; the file has "
                                     f"columns {file_cols} (file {str(path)!r})",
                                     f"add '<column in the file>: {c}' under data.columns.{name}", 1))
    if probs:
        raise PanelValidationError(probs)
    return [c for c in cols if c in file_cols and c not in targets] + \
        [s for s in spec if spec[s]["to"] in cols]


def apply(spec: Mapping[str, dict], name: str, df: pd.DataFrame, path) -> pd.DataFrame:
    """Rename, recode and parse the dates of extract ``name`` (a new frame; ``df`` unchanged)."""
    if not spec:
        return df
    cols = schema.EXTRACTS[name]
    out = df.rename(columns={s: e["to"] for s, e in spec.items()})
    probs: list[Problem] = []
    for src, e in spec.items():
        to = e["to"]
        if to not in out.columns:
            continue
        if "values" in e:
            out[to], p = _recode(out[to], e["values"], name, src, to)
            probs += p
        if cols[to] in ("month", "date"):
            out[to], p = _dates(out[to], e.get("format") or "auto", name, src, to)
            probs += p
    if probs:
        raise PanelValidationError(probs)
    out.attrs.update(df.attrs)
    return out


def _key(v) -> str:
    """A code as text: ``1``, ``1.0`` and ``"1"`` are one code."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _recode(s: pd.Series, values: Mapping, name, src, to) -> tuple[pd.Series, list[Problem]]:
    """Recode by the distinct values only (factorize, map the uniques, take): no loop over rows."""
    table = {_key(k): v for k, v in values.items()}
    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    keys = [_key(u) for u in uniq]
    target = np.array([table.get(k) for k in keys] + [None], dtype=object)
    unmapped = np.array([k not in table for k in keys] + [False], dtype=bool)
    bad = unmapped[codes]
    if bad.any():
        counts = pd.Series(np.bincount(codes[bad], minlength=len(keys)), index=keys)
        counts = counts[counts > 0].sort_values(ascending=False)
        shown = ", ".join(f"{c!r} ({n} rows)" for c, n in counts.head(5).items())
        return s, [Problem(name, src, "value code",
                           f"codes in {src!r} (mapped to {to!r}) that data.columns.{name}.{src}.values "
                           f"does not map: {shown}" + (f" and {len(counts) - 5} more" if len(counts) > 5
                                                       else ""),
                           f"add them to data.columns.{name}.{src}.values (e.g. {counts.index[0]}: "
                           f"<schema value>), or correct the rows", int(bad.sum()))]
    return pd.Series(target[codes], index=s.index, name=to).astype("string"), []


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(s.dtype):
        f = s.to_numpy(dtype=float, na_value=np.nan)
        if np.all(np.isnan(f) | (f == np.round(f))):
            s = s.astype("Int64")
    st = s.astype("string").str.strip()
    return st.mask(st == "")


def detect_format(values: pd.Series) -> list[str]:
    """Date formats that every present value of ``values`` (text) matches; for day/month orders,
    the ones the values allow (a first field above 12 rules out MM/DD, a second rules out DD/MM)."""
    v = values.dropna().unique()
    v = pd.Series(v, dtype="string")
    fits = [f for f, rx in DATE_FORMATS.items() if len(v) and v.str.fullmatch(rx).all()]
    if {"DD/MM/YYYY", "MM/DD/YYYY"} <= set(fits):
        parts = v.str.split("/", expand=True).astype(int)
        if (parts[0] > 12).any():
            fits.remove("MM/DD/YYYY")
        if (parts[1] > 12).any():
            fits.remove("DD/MM/YYYY")
    return fits


def _dates(s: pd.Series, fmt: str, name, src, to) -> tuple[pd.Series, list[Problem]]:
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or isinstance(s.dtype, pd.PeriodDtype):
        return s, []                                  # a parquet date column: nothing to parse
    st = _as_text(s)
    where = f"data.columns.{name}.{src}"
    codes, uniq = pd.factorize(st, use_na_sentinel=True)   # work on the distinct values, then take
    u = pd.Series(np.asarray(uniq, dtype=object), dtype="string")
    if fmt == "auto":
        if u.str.fullmatch(r"\d{4}-\d{1,2}(-\d{1,2})?([ T].*)?").all():
            return s, []                              # ISO dates: the schema conversion reads them
        fits = detect_format(u)
        ex = ", ".join(repr(x) for x in u[:3])
        if len(fits) != 1:
            what = (f"fit several date formats ({', '.join(fits)})" if fits
                    else "do not share one date format")
            return s, [Problem(name, src, "date format",
                               f"the dates in {src!r} (mapped to {to!r}) {what}; e.g. {ex}",
                               f"declare the format: {src}: {{to: {to}, format: <one of "
                               f"{list(DATE_FORMATS)}>}} under data.columns.{name}", int(st.notna().sum()))]
        fmt = fits[0]
    parsed, probs = _parse(u, fmt, where, name, src, to,
                           np.bincount(codes[codes >= 0], minlength=len(u)))
    if probs:
        return s, probs
    out = np.append(parsed.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))[codes]
    return pd.Series(out, index=s.index, name=to), []


def _parse(st: pd.Series, fmt, where, name, src, to, weight) -> tuple[pd.Series, list[Problem]]:
    """Parse distinct text values ``st`` with format ``fmt``; ``weight``: rows per value."""
    present = st.notna().to_numpy(dtype=bool)
    if fmt == "excel":
        num = pd.to_numeric(st, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        lo, hi = EXCEL_RANGE
        bad = present & ~((num >= lo) & (num <= hi))
        if bad.any():
            ex = ", ".join(repr(x) for x in st[bad].unique()[:3])
            return st, [Problem(name, src, "date format",
                                f"Excel date serials in {src!r} outside {lo}..{hi} (1950-01-01.."
                                f"2099-12-31) or not numbers: e.g. {ex}",
                                f"check that {where} holds Excel serials (days since 1899-12-30); "
                                "otherwise declare its format", int(weight[bad].sum()))]
        days = np.where(present, np.nan_to_num(num), 0).astype("int64")
        out = (_EXCEL_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[ns]")
        return pd.Series(np.where(present, out, np.datetime64("NaT", "ns"))).astype("datetime64[ns]"), []
    conv = pd.to_datetime(st, format=_STRPTIME[fmt], errors="coerce")
    bad = present & conv.isna().to_numpy(dtype=bool)
    if bad.any():
        ex = ", ".join(repr(x) for x in st[bad].unique()[:3])
        return st, [Problem(name, src, "date format",
                            f"values in {src!r} that are not dates of the format {fmt}: e.g. {ex}",
                            f"correct the rows, or the format declared in {where}", int(weight[bad].sum()))]
    return conv.astype("datetime64[ns]"), []


def describe(columns: Mapping | None) -> str:
    """One line per mapped column, for messages: ``persons.fnr -> person_id``."""
    out = []
    for name in (columns or {}):
        for src, e in for_extract(columns, name).items():
            extra = [k for k in ("values", "format") if k in e]
            out.append(f"{name}.{src} -> {e['to']}" + (f" ({', '.join(extra)})" if extra else ""))
    return "\n".join(out)

