"""Stage 1b: check register extracts against the schema and against each other.

:func:`validate_extracts` runs named steps in order (required extracts and columns, types,
missing values, duplicates, values and plausible ranges, study window, linkage); each adds
:class:`~evaluation.panel.problems.Problem` findings to one :class:`_Checks` collector.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import schema
from ._constants import (BENEFIT_VALUES, MONTHLY_KEYS, OPTIONAL_COLUMNS, PERSON_EXTRACTS, SEX_VALUES,
                         _NAT)
from ._convert import (_coerce, _dup_mask, _examples, _ids_examples, _midx, _month_str,
                       _parse_window)
from .problems import Problem, ValidationReport


class _Checks:
    """Findings so far, the type-converted extracts and their usable (present, typed) columns."""

    def __init__(self):
        self.probs: list[Problem] = []
        self.conv: dict[str, pd.DataFrame] = {}
        self.usable: dict[str, set] = {}

    def add(self, p: Problem) -> None:
        self.probs.append(p)

    def has(self, name, *cs) -> bool:
        return name in self.conv and all(c in self.usable[name] for c in cs)

    def check(self, name, col, mask, kind, message, fix, show=None, severity="error") -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.add(Problem(name, col, kind, message, fix, int(mask.sum()),
                             _examples(self.conv[name], mask, show or ([col] if col else [])), severity))


def validate_extracts(extracts: Mapping[str, pd.DataFrame], *, window=None,
                      offices: Sequence[str] | None = None, lookback_months: int = 24,
                      outside_window: str = "error", linkage: str = "exclude",
                      raise_errors: bool = True, ranges: Mapping | None = None,
                      min_link_rate: float | None = None) -> ValidationReport:
    """Check register extracts against the schema and each other.

    Hard errors (always): a required extract or column missing; a value that is not of the
    column's type (text in a numeric column, an unreadable date); missing person ids, months,
    ``arm``, ``birth_year`` or coverage months; ``sex`` other than ``"F"``/``"M"``; duplicate
    person-months (person, month[, benefit]) in monthly extracts; duplicate persons in
    ``persons``/``coverage``; a person with two different arms (assignment changing within a
    person) or a repeated assignment row; negative amounts, earnings, events or years in Norway;
    ``position_share`` outside [0, 1]; a ``benefit`` other than ``"AAP"``/``"disability"``;
    ``last_month`` before ``first_month`` or ``spell_end`` before ``spell_start``; office codes not
    in ``offices`` (when given).

    Dates outside the study window (monthly records and assignment months outside
    ``[window start - lookback_months, window end]``) are errors with
    ``outside_window="error"`` and warnings (records excluded and counted in the flow) with
    ``"exclude"``.  Linkage problems -- persons present in one extract and absent from another
    (no assignment, no covariates, no coverage, outcome records for persons not in ``persons``)
    -- are warnings that become exclusions in the sample flow with ``linkage="exclude"``, errors
    with ``"error"``.

    Parameters
    ----------
    extracts : dict of str to DataFrame
        Extracts as returned by :func:`read_extracts` (or the synthetic generator).  Not modified.
    window : (start, end), optional
        Study window, inclusive months, e.g. ``("2018-01", "2022-12")``.
    offices : sequence of str, optional
        Allowed office codes for ``persons.office`` and ``assignment.office``.
    lookback_months : int, default 24
        Months before the window start that records may have (baseline history).
    outside_window : {"error", "exclude"}
    linkage : {"exclude", "error"}
    ranges : dict, optional
        Plausible ranges ``{extract: {column: (low, high)}}``; default :data:`schema.RANGES`.
        Values outside, and non-finite numbers (``inf``), are errors.
    min_link_rate : float, optional
        Smallest share of an extract's records that must link to a person in ``assignment``
        (default :data:`schema.MIN_LINK_RATE`); below it the extract is an error (it is probably
        keyed by another id).  Also an error: ``person_id`` stored as integers in some extracts
        and as text in others.
    raise_errors : bool, default True
        Raise :class:`PanelValidationError` (listing all errors) when there are errors.

    Returns
    -------
    ValidationReport
        Problems (warnings, and errors when ``raise_errors=False``) and the type-converted extracts.
    """
    if outside_window not in ("error", "exclude"):
        raise ValueError(f"outside_window must be 'error' or 'exclude', got {outside_window!r}")
    if linkage not in ("error", "exclude"):
        raise ValueError(f"linkage must be 'exclude' or 'error', got {linkage!r}")
    win = _parse_window(window)
    ck = _Checks()
    _check_extracts_present(ck, extracts)
    _check_columns_and_types(ck, extracts)
    _check_missing_values(ck)
    _check_duplicates(ck)
    _check_values(ck, offices)
    _check_plausible(ck, schema.RANGES if ranges is None else ranges)
    _check_id_types(ck, extracts)
    if win is not None:
        _check_window(ck, win, lookback_months, outside_window)
    _check_linkage(ck, linkage)
    _check_link_rates(ck, schema.MIN_LINK_RATE if min_link_rate is None else min_link_rate)
    rep = ValidationReport(ck.probs, ck.conv, win)
    if raise_errors:
        rep.raise_for_errors()
    return rep


def _check_extracts_present(ck: _Checks, extracts) -> None:
    """Required extracts present; unknown extract names are warnings."""
    for name in schema.REQUIRED_EXTRACTS:
        if name not in extracts or extracts[name] is None:
            cols = ", ".join(schema.EXTRACTS[name])
            ck.add(Problem(name, None, "missing extract", f"required extract '{name}' is missing",
                        f"provide {name}.parquet or {name}.csv with columns {cols}", 1))
    for name in extracts:
        if name not in schema.EXTRACTS:
            ck.add(Problem(name, None, "unknown extract", f"extract '{name}' is not in the schema and is ignored",
                        f"rename it to one of {list(schema.EXTRACTS)} or leave it out", 1, severity="warning"))



def _check_columns_and_types(ck: _Checks, extracts) -> None:
    """Required and optional columns present; values convertible to the schema types."""
    for name, df in extracts.items():
        if name not in schema.EXTRACTS or df is None:
            continue
        cols = schema.EXTRACTS[name]
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"extract '{name}' must be a pandas DataFrame, got {type(df).__name__}")
        optional = OPTIONAL_COLUMNS.get(name, ())
        for c, typ in cols.items():
            if c in df.columns:
                continue
            if c in optional:
                ck.add(Problem(name, c, "missing column", f"optional column '{c}' is missing; it is "
                            "filled with missing values", f"add column '{c}' ({typ}) if the register has it",
                            len(df), severity="warning"))
            else:
                ck.add(Problem(name, c, "missing column", f"required column '{c}' ({typ}) is missing; "
                            f"the extract has columns {list(df.columns)}",
                            f"add column '{c}' of type {typ} (or rename the column that holds it)", 1))
        cdf, bad = _coerce(df, name)
        for c, mask in bad.items():
            typ = cols[c]
            what = {"int": "an integer", "float": "a number", "bool": "0/1 or true/false",
                    "month": "a month such as 2020-01 or 2020-01-01", "date": "a date such as 2020-01-15",
                    "str": "text"}[typ]
            ck.add(Problem(name, c, "type", f"values that are not {what} (column type {typ})",
                        f"correct or blank the offending values in '{c}' (missing values are allowed "
                        "where the column may be missing)", int(mask.sum()), _examples(df, mask, [c])))
        ck.conv[name] = cdf
        ck.usable[name] = {c for c in cols if c in df.columns and c not in bad}



def _check_missing_values(ck: _Checks) -> None:
    """Keys and values that must be present."""
    # missing keys / values that must be present
    must = {"person_id": "person id", "month": "month", "first_month": "coverage start",
            "last_month": "coverage end", "spell_start": "spell start", "arm": "arm",
            "birth_year": "birth year", "amount": "amount", "position_share": "position share",
            "earnings": "earnings", "benefit": "benefit", "events": "number of events"}
    for name, df in ck.conv.items():
        for c, what in must.items():
            if c in schema.EXTRACTS[name] and ck.has(name, c):
                ck.check(name, c, df[c].isna().to_numpy(), "missing value", f"missing {what}",
                      f"fill in '{c}' or remove these rows from the extract")


def _check_duplicates(ck: _Checks) -> None:
    """One row per person in person extracts, one per key in monthly extracts."""
    # duplicates
    for name in PERSON_EXTRACTS:
        if not ck.has(name, "person_id"):
            continue
        df = ck.conv[name]
        dup = df["person_id"].duplicated(keep=False).to_numpy()
        if not dup.any():
            continue
        if name == "assignment" and ck.has(name, "arm"):
            n_arms = df.groupby("person_id", sort=False, observed=True)["arm"].transform("nunique")
            changing = dup & (n_arms.to_numpy() > 1)
            ck.check(name, "arm", changing, "assignment changes",
                  "assignment changes within a person: two or more different arms for one person",
                  "keep one assignment row per person (the randomised arm); the arm cannot change",
                  ["arm", "assigned_month"])
            dup = dup & ~changing
        ck.check(name, "person_id", dup, "duplicate", "duplicate persons (one row per person expected)",
              "keep one row per person_id", ["person_id"])
    for name, key in MONTHLY_KEYS.items():
        if key is None or not ck.has(name, *key):
            continue
        df = ck.conv[name]
        dup = _dup_mask(df, key)
        ck.check(name, "month", dup, "duplicate",
              "duplicate person-months (" + ", ".join(key) + " repeated)",
              "aggregate to one row per " + ", ".join(key) + " (e.g. sum the amounts) or drop repeated rows",
              list(key[1:]) + [c for c in schema.EXTRACTS[name] if c not in key])


def _check_values(ck: _Checks, offices) -> None:
    """Signs, ranges, codes and order of dates."""
    # values
    def nonneg(name, col):
        if ck.has(name, col):
            v = ck.conv[name][col].to_numpy(dtype=float, na_value=np.nan)
            ck.check(name, col, v < 0, "negative", f"negative {col}",
                  f"{col} must be >= 0; correct the rows or drop reversals/corrections from the extract",
                  ["month", col])
    nonneg("social_assistance", "amount")
    nonneg("employment", "earnings")
    nonneg("reoffending", "events")
    nonneg("persons", "years_in_norway")
    if ck.has("employment", "position_share"):
        v = ck.conv["employment"]["position_share"].to_numpy(dtype=float, na_value=np.nan)
        ck.check("employment", "position_share", (v < 0) | (v > 1), "range", "position_share outside [0, 1]",
              "position_share is a fraction of a full-time position (0.5 = 50 %); divide percentages by 100",
              ["month", "position_share"])
    if ck.has("benefits", "benefit"):
        b = ck.conv["benefits"]["benefit"]
        ck.check("benefits", "benefit", ~b.isin(BENEFIT_VALUES).to_numpy(dtype=bool), "value",
              f"unknown benefit (allowed: {list(BENEFIT_VALUES)})",
              "recode the benefit to 'AAP' or 'disability' or drop other benefits from the extract",
              ["month", "benefit"])
    if ck.has("persons", "sex"):
        s = ck.conv["persons"]["sex"]
        ck.check("persons", "sex", ~s.isin(SEX_VALUES).to_numpy(dtype=bool), "value",
              "sex must be 'F' or 'M'", "recode sex to 'F'/'M'", ["sex"])
    if ck.has("coverage", "first_month", "last_month"):
        df = ck.conv["coverage"]
        ck.check("coverage", "last_month", (df["last_month"] < df["first_month"]).to_numpy(dtype=bool),
              "range", "last_month before first_month", "swap or correct the coverage months",
              ["first_month", "last_month"])
    if ck.has("jobseeker_spells", "spell_start", "spell_end"):
        df = ck.conv["jobseeker_spells"]
        ck.check("jobseeker_spells", "spell_end",
              (df["spell_end"] < df["spell_start"]).to_numpy(dtype=bool), "range",
              "spell_end before spell_start", "correct the spell dates (leave spell_end empty for ongoing spells)",
              ["spell_start", "spell_end"])
    if offices is not None:
        allowed = list(offices)
        for name in ("persons", "assignment"):
            if ck.has(name, "office"):
                o = ck.conv[name]["office"]
                ck.check(name, "office", (o.notna() & ~o.isin(allowed)).to_numpy(dtype=bool), "unknown office",
                      f"unknown office codes (allowed: {allowed})",
                      "recode the office to one of the allowed codes or add it to offices=", ["office"])


def _check_window(ck: _Checks, win, lookback_months, outside_window) -> None:
    """Dates outside the study window plus look-back."""
    lo, hi = win[0] - lookback_months, win[1]
    sev = "error" if outside_window == "error" else "warning"
    fix = (f"filter the extract to {_month_str(lo)}..{_month_str(hi)} (window plus {lookback_months} "
           "months of baseline history), widen window=, or pass outside_window='exclude'")
    for name, col in ([(n, "month") for n in MONTHLY_KEYS]
                      + [("assignment", "assigned_month"), ("assignment", "mapping_month")]):
        if ck.has(name, col):
            m = _midx(ck.conv[name][col])
            ck.check(name, col, (m != _NAT) & ((m < lo) | (m > hi)), "window",
                  f"dates outside the study window {_month_str(win[0])}..{_month_str(win[1])} "
                  f"(baseline history from {_month_str(lo)} allowed)", fix, [col], sev)


def _check_linkage(ck: _Checks, linkage) -> None:
    """Persons present in one extract and absent from another."""
    # linkage
    if ck.has("assignment", "person_id"):
        sev = "error" if linkage == "error" else "warning"
        a_ids = pd.Index(ck.conv["assignment"]["person_id"].dropna().unique())
        p_ids = pd.Index(ck.conv["persons"]["person_id"].dropna().unique()) if ck.has("persons", "person_id") else None
        for name, what in (("persons", "no covariates"), ("coverage", "no coverage record")):
            if ck.has(name, "person_id"):
                ids = pd.Index(ck.conv[name]["person_id"].dropna().unique())
                miss = a_ids.difference(ids)
                if len(miss):
                    ck.add(Problem(name, "person_id", "linkage",
                                f"persons in assignment but absent from {name} ({what}); they are excluded "
                                "from the panel", f"add these persons to {name}, or accept the exclusion "
                                "shown in the sample flow", len(miss), _ids_examples(miss), sev))
        for name in ck.conv:
            if name == "assignment" or not ck.has(name, "person_id"):
                continue
            ids = pd.Index(ck.conv[name]["person_id"].dropna().unique())
            miss = ids.difference(a_ids)
            if len(miss):
                ck.add(Problem(name, "person_id", "linkage",
                            f"persons present in {name} but absent from assignment (not in the study "
                            "population); their rows are excluded", "add their assignment rows if they "
                            "belong to the study, or accept the exclusion shown in the sample flow",
                            len(miss), _ids_examples(miss), sev))
            if p_ids is not None and name != "persons":
                miss = ids.difference(p_ids)
                if len(miss):
                    ck.add(Problem(name, "person_id", "linkage",
                                f"persons present in {name} but absent from persons (no covariates); "
                                "their rows are excluded", "add the persons to the persons extract, or "
                                "accept the exclusion shown in the sample flow", len(miss),
                                _ids_examples(miss), sev))



#: Columns whose negative values already have their own message in :func:`_check_values`.
_SIGN_CHECKED = {("social_assistance", "amount"), ("employment", "earnings"), ("reoffending", "events"),
                 ("persons", "years_in_norway"), ("employment", "position_share")}


def _check_plausible(ck: _Checks, ranges: Mapping) -> None:
    """Non-finite numbers in every numeric column; values outside the declared plausible ranges."""
    for name, df in ck.conv.items():
        for c, typ in schema.EXTRACTS[name].items():
            if typ not in ("int", "float") or not ck.has(name, c):
                continue
            v = df[c].to_numpy(dtype=float, na_value=np.nan)
            ck.check(name, c, np.isinf(v), "non-finite", f"non-finite values (inf) in {c}",
                     f"replace the infinite values in '{c}' by the true value or blank them; they "
                     "usually come from a division by zero in the export", ["month", c])
            lo, hi = ranges.get(name, {}).get(c, (-np.inf, np.inf))
            if (name, c) == ("employment", "position_share"):
                continue   # its range has its own message
            low = (v < lo) & ~((name, c) in _SIGN_CHECKED and lo >= 0 and v < 0)
            ck.check(name, c, np.isfinite(v) & (low | (v > hi)), "range",
                     f"{c} outside the plausible range [{lo:g}, {hi:g}]",
                     f"correct the values (wrong unit, e.g. ore instead of NOK, or a typo), or declare "
                     f"a wider range with ranges={{'{name}': {{'{c}': (low, high)}}}}", ["month", c])


def _id_kind(df: pd.DataFrame) -> str | None:
    """``"integer"`` or ``"text"``: how an extract stores ``person_id``.

    Text ids that are all plain integers (no leading zeros) count as integers: they link to
    integer ids after conversion.  Text such as ``'00123'`` or ``'P1'`` does not."""
    s = df["person_id"]
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "integer"
    v = s.dropna().astype(str)   # text (CSV is all text): judge by the values
    return "integer" if len(v) and v.str.fullmatch(r"[1-9][0-9]*|0").all() else "text"


def _check_id_types(ck: _Checks, extracts) -> None:
    """person_id stored as integers in some extracts and as text in others cannot link."""
    kinds = {n: _id_kind(df) for n, df in extracts.items()
             if n in ck.conv and isinstance(df, pd.DataFrame) and "person_id" in df.columns}
    if len(set(kinds.values()) - {None}) > 1:
        by = {k: sorted(n for n, v in kinds.items() if v == k) for k in sorted(set(kinds.values()))}
        ck.add(Problem("/".join(sorted(kinds)), "person_id", "id type",
                       "person_id has different types across extracts: " + "; ".join(
                           f"{k} in {v}" for k, v in by.items()) + " (integer ids and text ids such as "
                       "'00123' do not link)",
                       "export person_id with one type in every extract (text is safest: keep leading "
                       "zeros), e.g. cast it to string in the export", sum(len(v) for v in by.values())))


def _check_link_rates(ck: _Checks, min_rate: float) -> None:
    """Share of each extract's records whose person links to ``assignment``; too low is an error."""
    if not ck.has("assignment", "person_id"):
        return
    a_ids = pd.Index(ck.conv["assignment"]["person_id"].dropna().unique())
    for name, df in ck.conv.items():
        if name == "assignment" or not ck.has(name, "person_id") or not len(df):
            continue
        linked = df["person_id"].isin(a_ids).to_numpy(dtype=bool, na_value=False)
        rate = linked.mean()
        if rate < min_rate:
            ck.add(Problem(name, "person_id", "link rate",
                           f"only {rate:.1%} of the {len(df)} records link to a person in assignment "
                           f"(minimum {min_rate:.0%}); {int((~linked).sum())} records do not link",
                           "check that the extract uses the same person id (pseudonymisation key) as "
                           "assignment and covers the study population; pass min_link_rate= to accept "
                           "a lower rate", int((~linked).sum()), _examples(df, ~linked, ["person_id"])))
