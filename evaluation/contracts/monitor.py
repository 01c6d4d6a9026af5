"""Target monitoring as in the Alna Aktiv plan: activity and result targets against what was
achieved (Wilson and Clopper-Pearson intervals), and the social-assistance caseload (inflow,
outflow, stock) against a reduction goal with a counterfactual trend."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..results import TableResult, _records
from .events import detect_events, ever_true, month_index, panel_frame, person_table
from .spec import CASELOAD_COLUMNS, CASELOAD_REQUIRED, ContractSpec, Target


def wilson_interval(k, n, level: float = 0.95):
    """Wilson score interval for k successes out of n (arrays allowed)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(1 - (1 - level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        den = 1 + z ** 2 / n
        centre = (p + z ** 2 / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2)) / den
    return centre - half, centre + half


def clopper_pearson_interval(k, n, level: float = 0.95):
    """Exact (Clopper-Pearson) interval for k successes out of n."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    a = 1 - level
    lo = np.where(k > 0, stats.beta.ppf(a / 2, k, n - k + 1), 0.0)
    hi = np.where(k < n, stats.beta.ppf(1 - a / 2, k + 1, n - k), 1.0)
    return lo, hi


@dataclass
class TargetsResult(TableResult):
    """Targets vs achieved: one row per target with counts, share, intervals and verdict."""

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.5 + 0.5 * len(self.table)))
        t = self.table.reset_index(drop=True)
        y = np.arange(len(t))
        ax.errorbar(t["share"], y, xerr=[t["share"] - t["wilson_low"], t["wilson_high"] - t["share"]],
                    fmt="o", label="achieved (Wilson interval)")
        ax.scatter(t["target"], y, marker="|", s=300, color="red", label="target")
        ax.set_yticks(y, t["name"])
        ax.set_xlim(0, 1)
        ax.set_xlabel("share")
        ax.legend(loc="lower right")
        ax.set_title("Targets and achievement")
        return ax


def _resolve(ref: str, df: pd.DataFrame, spec: ContractSpec, persons: pd.DataFrame, W: int) -> pd.Series:
    """Per-person boolean for an event name, a person flag or a panel column (ever within window)."""
    ids = persons["person_id"]
    if ref == "all":
        return pd.Series(True, index=ids)
    if ref in persons.columns and ref not in ("person_id",):
        return pd.Series(persons[ref].astype(bool).to_numpy(), index=ids)
    known = set(spec.all_events()) | {"mapping"}
    if ref in known:
        ev = detect_events(df, spec, [ref], window_months=W)
        return pd.Series(ids.isin(ev["person_id"]).to_numpy(), index=ids)
    if ref in df.columns:
        return ever_true(df, ref, W).reindex(ids).fillna(False).astype(bool)
    raise ValueError(f"target refers to {ref!r}, which is neither an event nor a column of the panel")


def monitor_targets(panel=None, spec: ContractSpec | Mapping | None = None, *,
                    targets: Sequence[Target | Mapping] | None = None,
                    counts: Optional[pd.DataFrame] = None, group: str = "participants",
                    level: float = 0.95, window_months: Optional[int] = None) -> TargetsResult:
    """Activity and result targets against what was achieved.

    Either from the panel (``targets`` or ``spec.targets``: the share of ``denominator`` persons
    reaching ``numerator``, ever within the window after start) or from given ``counts`` (columns
    ``name, kind, target, achieved, n``).  Intervals: Wilson and Clopper-Pearson at ``level``.
    ``met`` says whether the point share reaches the target; ``verdict`` whether the interval lies
    above (``"met"``), below (``"not met"``) or around the target (``"inconclusive"``).
    """
    if counts is None:
        if spec is not None and not isinstance(spec, ContractSpec):
            spec = ContractSpec.model_validate(dict(spec))
        tlist = [t if isinstance(t, Target) else Target.model_validate(dict(t))
                 for t in (targets if targets is not None else (spec.targets if spec else []))]
        if not tlist:
            raise ValueError("no targets: pass targets=[...] or a contract with a targets: list")
        if spec is None:
            spec = ContractSpec.model_validate({"payment": {"type": "rate_card", "items": [
                {"outcome": "job_entry", "price": 1}]}})
        df = panel_frame(panel, spec.model_copy(update={"targets": tlist}).panel_columns())
        df = df.sort_values(["person_id", "month"], kind="mergesort")
        W = window_months or spec.window_months
        persons = person_table(df)
        if group == "participants":
            keep = persons["treated"].astype(bool).to_numpy()
            persons = persons[keep]
            df = df[df["person_id"].isin(persons["person_id"])]
        recs = []
        for t in tlist:
            den = _resolve(t.denominator, df, spec, persons, W)
            num = _resolve(t.numerator, df, spec, persons, W) & den
            recs.append({"name": t.name, "kind": t.kind, "target": t.target,
                         "numerator": t.numerator, "denominator": t.denominator,
                         "achieved": int(num.sum()), "n": int(den.sum())})
        counts = pd.DataFrame(recs)
    need = {"name", "target", "achieved", "n"}
    if not need <= set(counts.columns):
        raise ValueError(f"counts needs columns {sorted(need)}")
    c = counts.copy()
    if "kind" not in c.columns:
        c["kind"] = "result"
    c["share"] = np.where(c["n"] > 0, c["achieved"] / c["n"].where(c["n"] > 0, 1), np.nan)
    c["wilson_low"], c["wilson_high"] = wilson_interval(c["achieved"], c["n"], level)
    c["cp_low"], c["cp_high"] = clopper_pearson_interval(c["achieved"], c["n"], level)
    c["met"] = c["share"] >= c["target"]
    c["verdict"] = np.select([c["wilson_low"] >= c["target"], c["wilson_high"] < c["target"]],
                             ["met", "not met"], "inconclusive")
    return TargetsResult(table=c.reset_index(drop=True),
                         method=f"Targets vs achieved ({int(level * 100)}% Wilson / Clopper-Pearson)",
                         extra={"level": level})


@dataclass
class CaseloadResult(TableResult):
    """Social-assistance caseload by month: stock, inflow, outflow, counterfactual and goal."""

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        import seaborn as sns
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4.5))
        t = self.table
        long = t.melt(id_vars="month", value_vars=["stock", "counterfactual", "goal"],
                      var_name="series", value_name="recipients")
        sns.lineplot(data=long, x="month", y="recipients", hue="series", style="series", ax=ax)
        if self.extra.get("start") is not None:
            ax.axvline(pd.Timestamp(self.extra["start"]), color="grey", ls=":", lw=1)
        ax.set_title("Social-assistance caseload against the reduction goal")
        return ax

    def to_dict(self) -> dict:
        return {"method": self.method, "table": _records(self.table),
                **{k: v for k, v in self.extra.items() if isinstance(v, (int, float, str, type(None)))}}


def _office_adoption(df: pd.DataFrame) -> pd.Series:
    """First ``assigned_month`` of treated persons per office (NaT: the office never adopts)."""
    offices = pd.Index(pd.unique(df["office"].to_numpy()))
    tr = df["treated"].to_numpy().astype(bool)
    if "assigned_month" not in df.columns:
        return pd.Series(pd.NaT, index=offices, dtype="datetime64[ns]")
    first = pd.to_datetime(df.loc[tr, "assigned_month"]).groupby(df.loc[tr, "office"].to_numpy()).min()
    return first.reindex(offices)


def caseload(panel, *, pilot: Optional[Iterable[str]] = None, reduction: float = 0.2,
             counterfactual: str = "comparison", start=None, baseline_months: int = 3,
             horizon_months: Optional[int] = None,
             column: str = "on_social_assistance") -> CaseloadResult:
    """Social-assistance caseload of the pilot district(s) by calendar month against a reduction
    goal and a counterfactual trend.

    Parameters
    ----------
    panel : DataFrame or Panel
        Person-month panel with ``person_id, month, office, treated, assigned_month`` and
        ``column``.
    pilot : list of str, optional
        Office codes of the pilot.  Default: the office(s) that adopt first (earliest
        ``assigned_month`` of treated persons), so in a staggered rollout (Alna Aktiv) the pilot is
        the first district and the later districts serve as comparisons until they join.
    reduction : float, default 0.2
        Goal: the pilot's caseload at most ``(1 - reduction) x`` the counterfactual.
    counterfactual : {"comparison", "trend"}
        ``"comparison"``: the caseload of the offices outside the pilot that have not adopted yet
        (never-treated and not-yet-treated offices), chain-linked month to month over the offices
        untreated in both months and indexed to the pilot's mean stock in the ``baseline_months``
        before ``start`` (the business cycle moves both).  ``"trend"``: a linear trend fitted to
        the pilot's stock before ``start``, extrapolated.
    start : date-like, optional
        Start of the pilot; default the first adoption month of the pilot offices.
    baseline_months : int, default 3
        Months before ``start`` whose mean stock is the baseline.
    horizon_months : int, optional
        Check the goal in month ``start + horizon_months - 1`` (e.g. 12: the pilot's first year);
        default the last month with a counterfactual.
    column : str, default "on_social_assistance"
        Boolean panel column defining a recipient in a month.

    Returns
    -------
    CaseloadResult
        ``table`` by month: ``stock`` (recipients), ``inflow`` (recipients who were in the panel
        but not recipients the month before), ``outflow`` (recipients the month before who are in
        the panel but not recipients now), ``counterfactual``, ``goal`` (from ``start``),
        ``reduction_vs_counterfactual`` and ``comparison_offices`` (number of offices behind the
        counterfactual that month).  Persons entering or leaving the panel are neither inflow nor
        outflow, so ``stock`` changes by ``inflow - outflow`` plus recipients entering minus
        recipients leaving the panel.  ``extra`` names the pilot, the comparison offices and the
        counterfactual used, and says whether the goal is met in the evaluation month.

    Raises
    ------
    ValueError
        For a missing column, unknown pilot offices, a panel without the baseline months, or a
        ``"comparison"`` counterfactual without untreated offices outside the pilot.
    """
    df = panel_frame(panel, [*CASELOAD_COLUMNS, column])
    adopt, pilot, start = _pilot_and_start(df, column, counterfactual, pilot, start)
    by = _office_flows(df, column)
    S = by["stock"].unstack("office", fill_value=0).sort_index().astype(float)
    months = S.index
    is_pilot = S.columns.isin(pilot)
    pil = pd.DataFrame({c: by[c].unstack("office", fill_value=0).reindex(index=months, columns=S.columns,
                                                                          fill_value=0).loc[:, is_pilot].sum(axis=1)
                        for c in ("stock", "inflow", "outflow")})
    base_mask = (months < start) & (months >= start - pd.DateOffset(months=baseline_months))
    if not base_mask.any():
        raise ValueError(f"no pilot months in the {baseline_months} months before start {start:%Y-%m}; "
                         "the panel must cover the baseline")
    base = float(pil.loc[base_mask, "stock"].mean())
    comp_offices = sorted(S.columns[~is_pilot])
    if counterfactual == "comparison":
        cf, n_comp, desc = _comparison_counterfactual(S, is_pilot, adopt, base, base_mask, baseline_months)
    else:
        cf, n_comp, desc = _trend_counterfactual(pil, start)
    t = pil.astype(int).rename_axis("month").reset_index()
    t["counterfactual"] = cf.to_numpy()
    t["goal"] = np.where(t["month"] >= start, (1 - reduction) * t["counterfactual"], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["reduction_vs_counterfactual"] = 1 - t["stock"] / t["counterfactual"]
    t["comparison_offices"] = n_comp.to_numpy().astype(int)
    extra = {"start": str(start.date()), "pilot": ", ".join(pilot),
             "comparison_offices": ", ".join(comp_offices) if counterfactual == "comparison" else "",
             "counterfactual": counterfactual, "counterfactual_description": desc,
             "baseline_stock": base, "reduction_goal": float(reduction),
             **_goal_at_evaluation(t, start, horizon_months, reduction, base)}
    return CaseloadResult(table=t, method=f"Caseload of {', '.join(pilot)} vs {reduction:.0%} reduction "
                          f"goal (counterfactual: {desc})", extra=extra)


def _pilot_and_start(df: pd.DataFrame, column: str, counterfactual: str, pilot, start):
    """Check the panel's columns and the options; the offices' adoption months, the pilot offices
    (default: the first to adopt) and the start month (default: their first adoption)."""
    for c in (*CASELOAD_REQUIRED, column):
        if c not in df.columns:
            raise ValueError(f"caseload needs panel column {c!r}")
    if counterfactual not in ("comparison", "trend"):
        raise ValueError(f"counterfactual must be 'comparison' or 'trend', got {counterfactual!r}")
    adopt = _office_adoption(df)
    if pilot is None:
        if adopt.isna().all():
            raise ValueError("no treated persons in the panel: pass pilot=[office codes] and start=")
        pilot = sorted(adopt.index[adopt == adopt.min()])
    pilot = list(pilot)
    unknown = sorted(set(pilot) - set(adopt.index))
    if unknown:
        raise ValueError(f"pilot offices {unknown} are not in the panel; offices: {sorted(adopt.index)}")
    if start is None:
        start = adopt.reindex(pilot).min()
        if pd.isna(start):
            raise ValueError(f"pilot offices {pilot} have no treated persons; pass start=")
    return adopt, pilot, pd.Timestamp(start)


def _office_flows(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Stock, inflow and outflow of recipients by (month, office), vectorised over the panel
    sorted by person and month (a flow needs the same person in consecutive months)."""
    d = df[["person_id", "month", "office", column]].sort_values(["person_id", "month"], kind="mergesort")
    on = d[column].to_numpy().astype(bool)
    pid = d["person_id"].to_numpy()
    mi = month_index(d["month"])
    same = np.zeros(len(d), dtype=bool)
    same[1:] = (pid[1:] == pid[:-1]) & (mi[1:] == mi[:-1] + 1)
    prev_on = np.zeros(len(d), dtype=bool)
    prev_on[1:] = on[:-1]
    prev_on &= same
    flows = pd.DataFrame({"stock": on, "inflow": on & same & ~prev_on, "outflow": ~on & prev_on},
                         index=pd.MultiIndex.from_arrays([pd.to_datetime(d["month"]).to_numpy(),
                                                          d["office"].to_numpy()],
                                                         names=["month", "office"]))
    return flows.groupby(level=["month", "office"]).sum()


def _comparison_counterfactual(S: pd.DataFrame, is_pilot, adopt: pd.Series, base: float, base_mask,
                               baseline_months: int):
    """The comparison offices' caseload while untreated, chain-linked month to month over the
    offices untreated in both months and indexed to the pilot's baseline ``base``; returns the
    counterfactual, the number of comparison offices by month and a description."""
    months = S.index
    comp_offices = sorted(S.columns[~is_pilot])
    if not comp_offices:
        raise ValueError("counterfactual='comparison' needs offices outside the pilot; use 'trend'")
    a = adopt.reindex(S.columns[~is_pilot]).to_numpy(dtype="datetime64[ns]")
    m = months.to_numpy(dtype="datetime64[ns]")[:, None]
    U = np.isnat(a)[None, :] | (m < a[None, :])                     # untreated office-months
    Sc = S.loc[:, ~is_pilot].to_numpy()
    both = U[1:] & U[:-1]
    num = (Sc[1:] * both).sum(axis=1)
    den = (Sc[:-1] * both).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    idx = pd.Series(np.concatenate([[1.0], np.cumprod(growth)]), index=months)
    cbase = idx[base_mask].mean()
    if not np.isfinite(cbase) or cbase <= 0:
        raise ValueError("the comparison offices have no caseload in the baseline months")
    cf = base * idx / cbase
    n_comp = pd.Series(U.sum(axis=1), index=months)
    never = [o for o in comp_offices if pd.isna(adopt[o])]
    later = [o for o in comp_offices if not pd.isna(adopt[o])]
    desc = ("comparison districts' caseload (never treated: " + (", ".join(never) or "none")
            + "; not yet treated: " + (", ".join(later) or "none")
            + ", each until it joins), chain-linked month to month and indexed to the pilot's "
            f"mean caseload in the {baseline_months} months before start")
    return cf, n_comp, desc


def _trend_counterfactual(pil: pd.DataFrame, start: pd.Timestamp):
    """A linear trend fitted to the pilot's stock before ``start``, extrapolated."""
    months = pil.index
    pre = pil[months < start]
    if len(pre) < 2:
        raise ValueError("counterfactual='trend' needs at least 2 pre-start months")
    b, a0 = np.polyfit(month_index(pre.index.to_series()), pre["stock"].to_numpy(), 1)
    cf = pd.Series(a0 + b * month_index(months.to_series()), index=months)
    n_comp = pd.Series(0, index=months)
    return cf, n_comp, f"linear trend of the pilot's caseload in the {len(pre)} months before start"


def _goal_at_evaluation(t: pd.DataFrame, start: pd.Timestamp, horizon_months: Optional[int],
                        reduction: float, base: float) -> dict:
    """The goal checked in the evaluation month: the last month from ``start`` (within the
    horizon) with a counterfactual."""
    ok = t[(t["month"] >= start) & np.isfinite(t["counterfactual"])]
    if horizon_months is not None:
        ok = ok[ok["month"] <= start + pd.DateOffset(months=int(horizon_months) - 1)]
    if ok.empty:
        raise ValueError(f"no month from start {start:%Y-%m} with a counterfactual to check the goal in")
    ev = ok.iloc[-1]
    return {"evaluation_month": str(pd.Timestamp(ev["month"]).date()),
            "stock_at_evaluation": float(ev["stock"]),
            "counterfactual_at_evaluation": float(ev["counterfactual"]),
            "goal_at_evaluation": float((1 - reduction) * ev["counterfactual"]),
            "change_vs_baseline": float(ev["stock"] / base - 1),
            "final_reduction": float(ev["reduction_vs_counterfactual"]),
            "goal_met": bool(ev["reduction_vs_counterfactual"] >= reduction)}
