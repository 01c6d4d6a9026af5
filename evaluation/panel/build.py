"""Stage 2: link the validated extracts by person id into the person-month panel.

:func:`build_panel` runs named steps: the options, validation, who enters the panel (with the
persons stage of the sample flow), the row layout (coverage months clipped to the window, with
the person-months stage), the monthly outcomes and baselines (:mod:`.outcomes`), the person
table, and the assembly of the person-month frame.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import schema
from ._constants import CONTROL_ARMS, MONTHLY_KEYS, OUTCOMES
from ._convert import _midx, _month_str, _month_ts, _NAT, _parse_window
from .flow import Flow
from .outcomes import (Rows, derive, employment_outcomes, other_outcomes,
                       social_assistance_outcomes)
from .problems import ValidationReport
from .validate import validate_extracts

if TYPE_CHECKING:  # pragma: no cover
    from .panel import Panel


def _cat_take(values, codes: np.ndarray) -> pd.Categorical:
    cat = pd.Categorical(values)
    return pd.Categorical.from_codes(cat.codes[codes], categories=cat.categories)


def _bool_person(s: pd.Series):
    """Person-level boolean column: numpy bool when complete, pandas 'boolean' with missing."""
    b = s.astype("boolean")
    return b.to_numpy(dtype=bool) if not b.isna().any() else b.array


def build_panel(extracts: Mapping[str, pd.DataFrame], *, window=None,
                outcomes: Sequence[str] | None = None, baseline_months: Sequence[int] = (12, 24),
                offices: Sequence[str] | None = None, lookback_months: int | None = None,
                outside_window: str = "error", linkage: str = "exclude",
                include_person_columns: bool = True, job_kept_min_share: float | None = None,
                report: ValidationReport | None = None, ranges: Mapping | None = None,
                min_link_rate: float | None = None) -> Panel:
    """Link register extracts by person id into a person-month panel.

    Parameters
    ----------
    extracts : dict of str to DataFrame
        Register extracts (:func:`read_extracts`, or the synthetic generator's ``.extracts``).
        Not modified.
    window : (start, end), optional
        Study window, inclusive months, e.g. ``("2018-01", "2022-12")``.  Default: earliest
        ``coverage.first_month`` to latest ``coverage.last_month``.
    outcomes : sequence of str, optional
        Outcome columns to include (default: all of :data:`OUTCOMES`).
    baseline_months : sequence of int, default (12, 24)
        Baseline windows ``k``: columns ``sa_months_k`` and ``emp_months_k`` for each ``k``, and
        ``earnings_k`` and ``sa_amount_k`` for the smallest ``k``.
    offices : sequence of str, optional
        Allowed office codes (validation).
    lookback_months : int, optional
        Months of history before the window that records may have (default
        ``max(baseline_months)``).
    outside_window : {"error", "exclude"}
        Whether records dated outside the window (plus look-back) are errors or counted
        exclusions.
    linkage : {"exclude", "error"}
        Whether persons missing from an extract are counted exclusions or errors.
    include_person_columns : bool, default True
        Repeat covariates and baseline histories on every row (the :data:`schema.PANEL` layout).
        ``False`` keeps only identifiers, time, assignment and outcomes in ``data`` (the rest is in
        :meth:`Panel.persons`), which saves memory for millions of persons.
    job_kept_min_share : float, optional
        Position share a month needs to count towards ``job_kept_6m``.  Default ``None``: any
        employment (``position_share > 0``); e.g. ``0.5`` counts only months in at least a 50 %
        position (the REFINO payment condition), making ``job_kept_6m`` "in a >= 50 % position
        this month and each of the previous 5 months".
    ranges, min_link_rate
        Plausible value ranges and minimum link rate, passed to :func:`validate_extracts`.
    report : ValidationReport, optional
        A report from :func:`validate_extracts` to reuse (otherwise validation runs here).

    Returns
    -------
    Panel

    Raises
    ------
    PanelValidationError
        If the extracts fail validation (every error is listed).

    Notes
    -----
    Definitions of every column are in the module docstring.  The construction is vectorised:
    each person gets a contiguous block of rows (coverage months clipped to the window); a
    register record of person ``i`` in month ``m`` lands on row ``offset[i] + m - first[i]``.
    """
    ks, outs, lookback = _options(outcomes, baseline_months, lookback_months)
    if report is None:
        report = validate_extracts(extracts, window=window, offices=offices, lookback_months=lookback,
                                   outside_window=outside_window, linkage=linkage, raise_errors=True,
                                   ranges=ranges, min_link_rate=min_link_rate)
    else:
        report.raise_for_errors()
    ex = {k: v for k, v in report.extracts.items() if k in schema.EXTRACTS}
    win = _parse_window(window) if window is not None else report.window
    cov = ex["coverage"]
    if win is None:
        win = (int(_midx(cov["first_month"]).min()), int(_midx(cov["last_month"]).max()))
    flow = Flow()
    kidx, A, P, C = _study_population(ex, win, flow)
    rows = _row_layout(kidx, C, win, flow)
    ref = _midx(A["assigned_month"])
    ref = np.where(ref != _NAT, ref, rows.ws)
    data_start = min((int(_midx(ex[nm]["month"]).min()) for nm in MONTHLY_KEYS
                      if nm in ex and len(ex[nm])), default=rows.ws)
    base: dict[str, np.ndarray] = {}
    monthly = employment_outcomes(ex, rows, flow, ref, ks, base, job_kept_min_share)
    monthly["sa_amount"] = social_assistance_outcomes(ex, rows, flow, ref, ks, base)
    monthly.update(other_outcomes(ex, rows, flow))
    pers, person_cols = _person_table(A, P, rows, ref, ks, base, data_start, flow)
    data = _assemble(rows, A, pers, person_cols, derive(monthly, outs), include_person_columns)
    meta = {"panel": {
        "window": [_month_str(rows.ws), _month_str(rows.we)], "n_periods": rows.we - rows.ws + 1,
        "n_persons": rows.K, "n_person_months": rows.total,
        "data_start": _month_str(data_start), "baseline_months": ks,
        "lookback_months": lookback, "outcomes": outs, "job_kept_min_share": job_kept_min_share,
        "extracts": {k: {"rows": len(v), "source": extracts[k].attrs.get("source") if k in extracts else None}
                     for k, v in ex.items()},
        "missing_extracts": [n_ for n_ in schema.EXTRACTS if n_ not in ex],
        "control_arms": list(CONTROL_ARMS),
        "warnings": [str(p) for p in report.warnings],
    }}
    from .panel import Panel
    return Panel(data, flow.frame(), meta, pers, report=report)


def _options(outcomes, baseline_months, lookback_months):
    """Checked baseline windows (sorted), outcome list and look-back."""
    ks = sorted({int(k) for k in baseline_months})
    if not ks or ks[0] < 1:
        raise ValueError(f"baseline_months must be positive integers, got {baseline_months!r}")
    if outcomes is None:
        outs = list(OUTCOMES)
    else:
        outs = list(outcomes)
        unknown = [o for o in outs if o not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}; available: {list(OUTCOMES)}")
    lookback = ks[-1] if lookback_months is None else int(lookback_months)
    return ks, outs, lookback


def _study_population(ex, win, flow: Flow):
    """Persons in the panel (sorted ids) and their assignment, persons and coverage rows;
    the persons stage of the sample flow."""
    ws, we = win
    cov = ex["coverage"]
    cf, cl = _midx(cov["first_month"]), _midx(cov["last_month"])
    all_ids = pd.Index(pd.concat([pd.Series(df["person_id"].dropna().unique()).astype(object)
                                  for df in ex.values()], ignore_index=True).unique())
    cov_in = pd.Series(np.maximum(0, np.minimum(cl, we) - np.maximum(cf, ws) + 1),
                       index=cov["person_id"].astype(object).to_numpy())
    cov_in = cov_in[~cov_in.index.duplicated()]

    def in_win_months(ids):
        return cov_in.reindex(ids).fillna(0).sum()

    flow.add("persons", "total", "persons in any extract", len(all_ids), in_win_months(all_ids))
    remaining = all_ids
    for reason, name in (("no assignment record", "assignment"),
                         ("no covariates (not in persons)", "persons"),
                         ("no coverage record", "coverage")):
        ok = pd.Index(ex[name]["person_id"].dropna().astype(object).unique())
        excl = remaining.difference(ok)
        remaining = remaining.intersection(ok)
        flow.add("persons", "excluded", reason, len(excl), in_win_months(excl))
    n_in = cov_in.reindex(remaining).to_numpy()
    flow.add("persons", "excluded", "coverage does not overlap the study window", (n_in <= 0).sum(), 0)
    kidx = pd.Index(np.sort(remaining[n_in > 0].to_numpy(dtype=object)), dtype=object, name="person_id")

    def per_person(df):
        d = df.copy(deep=False)
        d.index = pd.Index(d["person_id"].astype(object).to_numpy())
        return d.reindex(kidx)

    A, P, C = per_person(ex["assignment"]), per_person(ex["persons"]), per_person(cov)
    for frame, name in ((A, "assignment"), (P, "persons")):
        for c in schema.EXTRACTS[name]:
            if c not in frame.columns:
                frame[c] = pd.NA if schema.EXTRACTS[name][c] != "month" else pd.NaT
    flow.add("persons", "kept", "persons in the panel", len(kidx), None)
    return kidx, A, P, C


def _row_layout(kidx, C, win, flow: Flow) -> Rows:
    """One row per person and covered month in the window; the person-months stage of the flow."""
    ws, we = win
    K, T = len(kidx), we - ws + 1
    first = np.maximum(_midx(C["first_month"]), ws)
    last = np.minimum(_midx(C["last_month"]), we)
    n = (last - first + 1).astype(np.int64)
    offs = np.cumsum(n) - n
    total = int(n.sum())
    code = np.repeat(np.arange(K, dtype=np.int32), n)
    mi = np.arange(total, dtype=np.int64) - np.repeat(offs - first, n)
    flow.set_last_person_months(total)
    raw_first, raw_last = _midx(C["first_month"]), _midx(C["last_month"])
    late = np.clip(np.minimum(raw_first, we + 1) - ws, 0, None)
    attr = np.clip(we - np.maximum(raw_last, ws - 1), 0, None)
    flow.add("person-months", "total", "kept persons x window months", K, K * T)
    flow.add("person-months", "excluded", "months before first_month (late entry, not observed)",
             (late > 0).sum(), late.sum())
    flow.add("person-months", "excluded", "months after last_month (attrition, not observed)",
             (attr > 0).sum(), attr.sum())
    flow.add("person-months", "kept", "person-months in the panel", K, total)
    outside = np.clip(ws - raw_first, 0, None) + np.clip(raw_last - we, 0, None)
    if outside.sum():
        flow.add("records", "info", "coverage months of kept persons outside the study window (not in panel)",
                 (outside > 0).sum(), outside.sum())
    return Rows(kidx, first, last, n, offs, total, code, mi, ws, we)


def _person_table(A, P, rows: Rows, ref, ks, base, data_start, flow: Flow):
    """One row per panel person: assignment, covariates, cohort, age, baseline histories."""
    ws, n, first, last, kidx = rows.ws, rows.n, rows.first, rows.last, rows.kidx
    arm = A["arm"].astype(object).to_numpy()
    treated = ~pd.Series(arm).isin(CONTROL_ARMS).to_numpy()
    a_idx = _midx(A["assigned_month"])
    coh = np.where(treated, a_idx - ws + 1, 0)
    coh_na = treated & ((a_idx == _NAT) | (a_idx < ws))
    if coh_na.any():
        flow.add("persons", "info", "treated persons assigned before the window or without assigned_month "
           "(cohort missing)", coh_na.sum(), n[coh_na].sum())
    cohort = pd.array(np.where(coh_na, 0, coh).astype(np.int16), dtype="Int16")
    cohort[coh_na] = pd.NA
    birth = P["birth_year"].to_numpy(dtype=np.int64)
    age = (ref // 12 + 1970 - birth).astype(np.int16)
    office = A["office"].astype(object).where(A["office"].notna(), P["office"].astype(object))

    pers = pd.DataFrame({
        "person_id": kidx.to_numpy(),
        "arm": pd.Categorical(arm), "treated": treated,
        "participated": _bool_person(A["participated"]),
        "provider": pd.Categorical(A["provider"].astype(object)),
        "office": pd.Categorical(office), "stratum": pd.Categorical(A["stratum"].astype(object)),
        "assigned_month": A["assigned_month"].to_numpy(dtype="datetime64[ns]"),
        "cohort": cohort,
        "birth_year": birth.astype(np.int16), "age": age,
        "sex": pd.Categorical(P["sex"].astype(object)),
        "female": (P["sex"].astype(object) == "F").to_numpy(dtype=bool),
        "immigrant": _bool_person(P["immigrant"]),
        "country_group": pd.Categorical(P["country_group"].astype(object)),
        "years_in_norway": P["years_in_norway"].to_numpy(dtype=np.float32, na_value=np.nan),
        "education_level": pd.Categorical(P["education_level"].astype(object)),
        "norwegian_level": pd.Categorical(P["norwegian_level"].astype(object)),
        "under_30": age < 30,
    })
    for k in ks:
        pers[f"sa_months_{k}"] = base[f"sa_months_{k}"].astype(np.int16)
    for k in ks:
        pers[f"emp_months_{k}"] = base[f"emp_months_{k}"].astype(np.int16)
    pers[f"earnings_{ks[0]}"] = base[f"earnings_{ks[0]}"]
    pers[f"sa_amount_{ks[0]}"] = base[f"sa_amount_{ks[0]}"]
    person_cols = [c_ for c_ in pers.columns if c_ != "person_id"]
    pers["mapping_month"] = A["mapping_month"].to_numpy(dtype="datetime64[ns]")
    pers["first_month"] = _month_ts(first)
    pers["last_month"] = _month_ts(last)
    pers["n_months"] = n.astype(np.int32)
    for k in ks:
        pers[f"baseline_observed_{k}"] = np.clip(ref - data_start, 0, k).astype(np.int16)

    return pers, person_cols


def _assemble(rows: Rows, A, pers, person_cols, outcome_cols: dict, include_person_columns: bool):
    """The person-month frame: ids, time, person columns repeated on each row, outcomes."""
    code, mi, ws, we, kidx = rows.code, rows.mi, rows.ws, rows.we, rows.kidx
    a_idx = _midx(A["assigned_month"])
    has_a = a_idx != _NAT
    cols: dict[str, Any] = {}
    et_vals = (mi - a_idx[code])
    et_mask = ~has_a[code]
    cols["person_id"] = pd.Categorical.from_codes(code, categories=pd.Index(kidx.to_numpy()))
    cols["month"] = _month_ts(np.arange(ws, we + 1))[mi - ws]
    cols["period"] = (mi - ws + 1).astype(np.int16)
    cols["event_time"] = pd.arrays.IntegerArray(np.where(et_mask, 0, et_vals).astype(np.int16), et_mask)
    keep_always = {"arm", "treated", "participated", "provider", "office", "stratum",
                   "assigned_month", "cohort"}
    for c_ in person_cols:
        if not include_person_columns and c_ not in keep_always:
            continue
        v = pers[c_]
        if isinstance(v.dtype, pd.CategoricalDtype):
            cols[c_] = pd.Categorical.from_codes(v.cat.codes.to_numpy()[code], categories=v.cat.categories)
        else:
            cols[c_] = v.array.take(code) if isinstance(v.array, pd.api.extensions.ExtensionArray) \
                and not isinstance(v.array, pd.arrays.NumpyExtensionArray) else v.to_numpy()[code]
    cols.update(outcome_cols)
    return pd.DataFrame(cols, copy=False)  # no block consolidation: avoids copying every column
