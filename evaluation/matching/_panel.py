"""Effects of matched/weighted comparisons on a person-month panel: horizons, matched DiD,
and a sensitivity table across matching choices."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..results import TableResult, tidy_frame
from ._core import WeightedSample, nearest_neighbor


def outcome_at_horizon(panel: pd.DataFrame, outcome: str, horizon: int, *,
                       person: str = "person_id", time: str = "event_time",
                       aggregate: str | None = None) -> pd.Series:
    """Person-level outcome at ``horizon`` months after the start (event time 0 = start month).

    ``aggregate=None``: the value in month ``horizon``; over the first ``horizon`` months
    (event times ``0 .. horizon-1``, the convention of the synthetic truth's ``*_ever_h`` and
    ``*_avg_h``): "any" = ever (max), "sum" = total (e.g. months employed), "mean" = average.
    For aggregates a person must be observed in every month of the window, otherwise NaN
    (incomplete follow-up is not silently treated as zero).
    """
    for c in (person, time, outcome):
        if c not in panel.columns:
            raise ValueError(f"column {c!r} not in the panel")
    if aggregate is None:
        sub = panel.loc[panel[time] == horizon, [person, outcome]]
        if sub[person].duplicated().any():
            raise ValueError(f"panel has several rows per {person} at {time} = {horizon}")
        return sub.set_index(person)[outcome].astype(float)
    if aggregate not in ("any", "sum", "mean"):
        raise ValueError("aggregate must be None, 'any', 'sum' or 'mean'")
    sub = panel.loc[(panel[time] >= 0) & (panel[time] <= horizon - 1), [person, outcome]]
    g = sub.assign(_y=sub[outcome].astype(float)).groupby(person)["_y"]
    val = {"any": g.max(), "sum": g.sum(), "mean": g.mean()}[aggregate]
    complete = g.count() == horizon
    return val.where(complete)


def _map_person(sample: WeightedSample, values: pd.Series, person: str) -> np.ndarray:
    if person not in sample.data.columns:
        raise ValueError(f"the matched data has no {person!r} column to link the panel on")
    return sample.data[person].map(values).to_numpy(dtype=float)


@dataclass
class HorizonResult(TableResult):
    """Effects at several horizons (one row per horizon), shown as ranges; ``results`` maps each
    horizon to its :class:`~evaluation.results.Result`."""

    results: dict = field(default_factory=dict)

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.errorbar(t["horizon"], t["estimate"], yerr=[t["estimate"] - t["ci_low"], t["ci_high"] - t["estimate"]],
                    fmt="o", capsize=4)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("months after start")
        ax.set_ylabel("effect (95% CI)")
        ax.set_xticks(list(t["horizon"]))
        ax.set_title(self.extra.get("outcome", ""))
        return ax


def effects_at_horizons(sample: WeightedSample, panel: pd.DataFrame, outcome: str,
                        horizons=(6, 12, 24), *, person: str = "person_id",
                        time: str = "event_time", aggregate: str | None = None, covariates=None,
                        se_type: str | None = None, level: float = 0.95) -> HorizonResult:
    """Effect on ``outcome`` at each horizon, estimated in the matched/weighted sample.

    Each horizon's person-level outcome comes from :func:`outcome_at_horizon`; persons not
    observed at a horizon (left the registers) are excluded from that horizon and counted in
    the ``n_missing_outcome`` column.  Returns a table with ``horizon``, weighted means of both
    groups and the estimate with its range (CI).
    """
    rows, extra_rows = [], []
    for h in horizons:
        y = _map_person(sample, outcome_at_horizon(panel, outcome, h, person=person, time=time,
                                                   aggregate=aggregate), person)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = sample.effect(y, covariates=covariates, se_type=se_type, level=level)
        use = (sample.weights > 0) & np.isfinite(y)
        w = sample.weights
        m1 = np.average(y[use & (sample.treat == 1)], weights=w[use & (sample.treat == 1)])
        m0 = np.average(y[use & (sample.treat == 0)], weights=w[use & (sample.treat == 0)])
        rows.append(r)
        extra_rows.append({"horizon": h, "mean_treated": m1, "mean_control": m0,
                           "n_treated": r.extra["n_treated"], "n_control": r.extra["n_control"],
                           "n_missing_outcome": r.extra["n_missing_outcome"]})
    label = outcome + ("" if aggregate is None else f" ({aggregate} within window)")
    tab = tidy_frame([f"{label} at {h} months" for h in horizons], [r.estimate for r in rows],
                     [r.se for r in rows], df=np.array([r.df for r in rows]),
                     n=np.array([r.n for r in rows]), level=level)
    tab = pd.concat([tab, pd.DataFrame(extra_rows)], axis=1)
    for r, h in zip(rows, horizons):
        r.term = f"{label} at {h} months ({sample.estimand})"
        r.extra["outcome"] = label
    return HorizonResult(table=tab, results=dict(zip(horizons, rows)), method=f"{sample.method}; effects on {label} by horizon ({rows[0].extra['se_type']} SEs)",
                         extra={"outcome": label, "estimand": sample.estimand})


@dataclass
class EventTimeResult(TableResult):
    """Event-time profile of a matched difference-in-differences, plus the post-period average
    (``att``, a :class:`~evaluation.results.Result`)."""

    att: object = None

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        ax.fill_between(t["event_time"], t["ci_low"], t["ci_high"], alpha=0.25, step=None)
        ax.plot(t["event_time"], t["estimate"], marker="o", ms=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="black", lw=0.8, ls="--")
        ax.set_xlabel("months since start (event time)")
        ax.set_ylabel("DiD estimate (95% CI)")
        ax.set_title(self.extra.get("outcome", ""))
        return ax


def matched_did(sample: WeightedSample, panel: pd.DataFrame, outcome: str, *,
                person: str = "person_id", time: str = "event_time", pre=(-12, -1),
                post=(0, 23), event_times=None, se_type: str | None = None,
                level: float = 0.95) -> EventTimeResult:
    """Difference-in-differences of the outcome paths of matched participants and comparisons.

    For each person the baseline is the mean outcome over event times ``pre`` (inclusive); the
    DiD at event time ``e`` is the matched-sample effect (weighted regression with the sample's
    weights, CR2 clustered on pair/subclass when defined) on ``y_e - baseline``.  ``att`` is the
    same on the average over ``post`` minus the baseline (persons observed in every post month).

    Notes
    -----
    Matching on pre-programme histories (e.g. ``sa_months_12``, ``emp_months_24``,
    ``earnings_12``) and then differencing removes time-invariant differences that the matching
    left (Heckman, Ichimura & Todd 1997).  Pre-period estimates should hover around zero.
    """
    for c in (person, time, outcome):
        if c not in panel.columns:
            raise ValueError(f"column {c!r} not in the panel")
    ids = sample.data.loc[sample.weights > 0, person]
    sub = panel.loc[panel[person].isin(ids), [person, time, outcome]]
    wide = sub.pivot_table(index=person, columns=time, values=outcome, aggfunc="mean")
    wide = wide.astype(float)
    pre_cols = [c for c in wide.columns if pre[0] <= c <= pre[1]]
    if not pre_cols:
        raise ValueError(f"no panel months in the pre-period {pre}; event times run from "
                         f"{wide.columns.min()} to {wide.columns.max()}")
    base = wide[pre_cols].mean(axis=1)
    if event_times is None:
        event_times = [c for c in wide.columns if pre[0] <= c <= post[1]]
    res, ets = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for e in event_times:
            if e not in wide.columns:
                continue
            d = _map_person(sample, wide[e] - base, person)
            if np.isfinite(d[sample.weights > 0]).sum() < 4:
                continue
            res.append(sample.effect(d, se_type=se_type, level=level))
            ets.append(e)
        post_cols = [c for c in wide.columns if post[0] <= c <= post[1]]
        full = wide[post_cols].notna().all(axis=1)
        dpost = (wide[post_cols].mean(axis=1) - base).where(full)
        att = sample.effect(_map_person(sample, dpost, person), se_type=se_type, level=level)
    att.term = f"DiD {outcome}, months {post[0]}–{post[1]}"
    tab = tidy_frame([str(e) for e in ets], [r.estimate for r in res], [r.se for r in res],
                     df=np.array([r.df for r in res]), n=np.array([r.n for r in res]), level=level)
    tab.insert(0, "event_time", ets)
    return EventTimeResult(table=tab, att=att,
                           method=f"Matched difference-in-differences on {outcome} "
                                  f"(baseline: mean over event times {pre[0]}..{pre[1]}); {sample.method}",
                           extra={"outcome": outcome, "pre": list(pre), "post": list(post)})


def sensitivity(data: pd.DataFrame, *, treatment: str, covariates, outcome, exact=(),
                caliper: float | None = None, variants: dict | None = None,
                se_type: str | None = None, missing: str = "error") -> pd.DataFrame:
    """Re-estimate the effect on ``outcome`` (a column of ``data``) under other matching choices.

    ``variants`` maps a label to a function ``data -> WeightedSample``; by default: the main
    1:1 match, calipers 0.1/0.2 SD, ratios 2 and 3, matching with replacement, Mahalanobis
    matching within a propensity-score caliper (the main caliper, else 0.2 SD), IPW (ATT, with and without 1 % trimming) and entropy balancing (``missing`` is
    passed to each).  A variant that
    fails is reported with its error message in ``note`` (nothing is dropped silently).
    """
    from ._weighting import entropy_balance, ipw
    kw = dict(treatment=treatment, covariates=covariates, missing=missing)
    nn = dict(kw, exact=exact)
    if variants is None:
        variants = {
            "main: NN 1:1" + (f", caliper {caliper}" if caliper else ""): lambda d: nearest_neighbor(d, **nn, caliper=caliper),
            "NN 1:1, caliper 0.1": lambda d: nearest_neighbor(d, **nn, caliper=0.1),
            "NN 1:1, caliper 0.2": lambda d: nearest_neighbor(d, **nn, caliper=0.2),
            "NN 1:1, no caliper": lambda d: nearest_neighbor(d, **nn),
            "NN 2:1": lambda d: nearest_neighbor(d, **nn, ratio=2, caliper=caliper),
            "NN 3:1": lambda d: nearest_neighbor(d, **nn, ratio=3, caliper=caliper),
            "NN 1:1 with replacement": lambda d: nearest_neighbor(d, **nn, replace=True, caliper=caliper),
            "NN 1:1, Mahalanobis within a PS caliper": lambda d: nearest_neighbor(
                d, **nn, distance="mahalanobis", caliper=caliper or 0.2),
            "IPW (ATT)": lambda d: ipw(d, **kw),
            "IPW (ATT), trimmed 0.01": lambda d: ipw(d, **kw, trim=0.01),
            "Entropy balancing (ATT)": lambda d: entropy_balance(d, **kw),
        }
    rows = []
    for label, fn in variants.items():
        row = {"variant": label}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                s = fn(data)
                r = s.effect(outcome, se_type=se_type)
            lo, hi = r.ci()
            bal = s.balance(include_distance=False)
            row.update(estimate=r.estimate, se=r.se, ci_low=lo, ci_high=hi,
                       n_treated=r.extra["n_treated"], n_control=r.extra["n_control"],
                       max_abs_smd=float(bal["smd_after"].abs().max()), note="")
        except Exception as exc:  # reported, not hidden
            row.update(estimate=np.nan, se=np.nan, ci_low=np.nan, ci_high=np.nan,
                       n_treated=np.nan, n_control=np.nan, max_abs_smd=np.nan,
                       note=f"{type(exc).__name__}: {exc}")
        rows.append(row)
    return pd.DataFrame(rows)
