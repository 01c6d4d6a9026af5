"""Target monitoring as in the Alna Aktiv plan: activity and result targets against what was
achieved (Wilson and Clopper-Pearson intervals), and the social-assistance caseload (inflow,
outflow, stock) against a reduction goal with a counterfactual trend."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..results import TableResult, _records
from ..schema import PANEL
from .events import detect_events, ever_true, month_index, person_table
from .spec import ContractSpec, Target


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
        df = panel.data if hasattr(panel, "data") and not isinstance(panel, pd.DataFrame) else panel
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


def caseload(panel, *, pilot: Optional[Iterable[str]] = None, reduction: float = 0.2,
             counterfactual: str = "comparison", start=None, baseline_months: int = 3,
             column: str = "on_social_assistance") -> CaseloadResult:
    """Caseload (stock), inflow and outflow of social assistance in the pilot by calendar month,
    against a counterfactual trend and the goal ``(1 - reduction) x counterfactual``.

    ``pilot``: office codes of the pilot (default: offices of treated persons).  ``counterfactual``:
    ``"comparison"`` indexes the other offices' stock to the pilot's pre-start baseline (the business
    cycle moves both); ``"trend"`` extrapolates a linear trend of the pilot's stock before ``start``.
    ``start`` defaults to the first assigned month of treated persons.
    """
    df = panel.data if hasattr(panel, "data") and not isinstance(panel, pd.DataFrame) else panel
    for c in ("person_id", "month", "office", column):
        if c not in df.columns:
            raise ValueError(f"caseload needs panel column {c!r}")
    if pilot is None:
        pilot = sorted(df.loc[df["treated"].astype(bool), "office"].unique())
    pilot = list(pilot)
    if start is None:
        start = df.loc[df["treated"].astype(bool), "assigned_month"].min()
    start = pd.Timestamp(start)
    d = df[["person_id", "month", "office", column]].sort_values(["person_id", "month"], kind="mergesort")
    on = d[column].to_numpy().astype(bool)
    pid = d["person_id"].to_numpy()
    mi = month_index(d["month"])
    same = np.zeros(len(d), dtype=bool)
    same[1:] = (pid[1:] == pid[:-1]) & (mi[1:] == mi[:-1] + 1)
    prev_on = np.zeros(len(d), dtype=bool)
    prev_on[1:] = on[:-1]
    prev_on &= same
    d = d.assign(stock=on, inflow=on & same & ~prev_on, outflow=~on & prev_on,
                 is_pilot=d["office"].isin(pilot).to_numpy())
    g = d.groupby(["is_pilot", "month"])[["stock", "inflow", "outflow"]].sum()
    if True not in g.index.get_level_values(0):
        raise ValueError(f"no rows for pilot offices {pilot}")
    pil = g.loc[True].astype(float)
    base_mask = (pil.index < start) & (pil.index >= start - pd.DateOffset(months=baseline_months))
    if not base_mask.any():
        raise ValueError(f"no pilot months in the {baseline_months} months before start {start:%Y-%m}; "
                         "the panel must cover the baseline")
    base = pil.loc[base_mask, "stock"].mean()
    if counterfactual == "comparison":
        if False not in g.index.get_level_values(0):
            raise ValueError("counterfactual='comparison' needs offices outside the pilot; use 'trend'")
        comp = g.loc[False, "stock"].astype(float).reindex(pil.index)
        cbase = comp[base_mask].mean()
        cf = base * comp / cbase
        desc = "comparison offices' caseload indexed to the pilot's pre-start level"
    elif counterfactual == "trend":
        pre = pil[pil.index < start]
        x = month_index(pre.index.to_series())
        if len(pre) < 2:
            raise ValueError("counterfactual='trend' needs at least 2 pre-start months")
        b, a = np.polyfit(x, pre["stock"].to_numpy(), 1)
        cf = pd.Series(a + b * month_index(pil.index.to_series()), index=pil.index)
        desc = "linear trend of the pilot's caseload before start"
    else:
        raise ValueError("counterfactual must be 'comparison' or 'trend'")
    t = pil.reset_index()
    t["counterfactual"] = cf.to_numpy()
    t["goal"] = np.where(t["month"] >= start, (1 - reduction) * t["counterfactual"], np.nan)
    t["reduction_vs_counterfactual"] = 1 - t["stock"] / t["counterfactual"]
    last = t.iloc[-1]
    for c in ("stock", "inflow", "outflow"):
        t[c] = t[c].astype(int)
    return CaseloadResult(table=t, method=f"Caseload vs {reduction:.0%} reduction goal ({desc})",
                          extra={"start": str(start.date()), "baseline_stock": float(base),
                                 "reduction_goal": reduction, "counterfactual": counterfactual,
                                 "final_reduction": float(last["reduction_vs_counterfactual"]),
                                 "goal_met": bool(last["reduction_vs_counterfactual"] >= reduction)})
