"""Effects over time: the ITT month by month with simultaneous bands, and cumulative outcomes."""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ..results import tidy_frame
from ._linalg import grouped_ols
from ._prep import (MissingDataWarning, code_treatment, covariate_matrix, drop_missing, factorize,
                    require_columns)
from ._results import RCTTable
from .estimators import _as_list, itt

__all__ = ["effects_by_month", "cumulative_effects", "person_level", "at_month", "MonthlyEffects",
           "sup_t_critical_value"]


def at_month(data: pd.DataFrame, month: int, *, event_time: str = "event_time") -> pd.DataFrame:
    """Rows of a person-month panel at one event month (one row per person observed then)."""
    require_columns(data, [event_time])
    return data.loc[data[event_time] == month]


def _months_list(months, available: np.ndarray) -> list[int]:
    if months is None:
        return sorted(int(m) for m in np.unique(available) if m >= 1)
    if np.isscalar(months):
        return list(range(1, int(months) + 1))
    return sorted(int(m) for m in months)


def sup_t_critical_value(vcov: np.ndarray, *, level: float = 0.95, draws: int = 10000,
                         seed: int | None = 0) -> float:
    """Critical value ``c`` with ``P(max_m |Z_m| ≤ c) = level`` for ``Z ~ N(0, R)``, R the correlation of vcov.

    This is the Gaussian multiplier bootstrap on the stacked influence functions (Montiel Olea &
    Plagborg-Møller 2019, *J. Appl. Econometrics* 34:1–17): with influence rows ψ_i,
    ``Σ_i ξ_i ψ_i`` with ``ξ_i ~ N(0,1)`` is exactly ``N(0, Σ ψ_i ψ_i')``, so we draw from that normal.
    """
    sd = np.sqrt(np.diag(vcov))
    ok = np.isfinite(sd) & (sd > 0)
    if ok.sum() == 0:
        return float("nan")
    R = vcov[np.ix_(ok, ok)] / np.outer(sd[ok], sd[ok])
    w, U = np.linalg.eigh(R)
    half = U * np.sqrt(np.clip(w, 0, None))
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((draws, len(w))) @ half.T
    return float(np.quantile(np.abs(Z).max(axis=1), level))


class MonthlyEffects(RCTTable):
    """ITT per event month: ``table`` has pointwise ``ci_low/ci_high`` and uniform ``band_low/band_high``."""

    def plot(self, ax=None, *, title: str | None = None, ylabel: str | None = None):
        """Seaborn line of the estimates with the pointwise (dark) and sup-t uniform (light) bands."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        palette = sns.color_palette(n_colors=max(1, t["term"].nunique()))
        for colour, (term, g) in zip(palette, t.groupby("term", sort=False)):
            ax.fill_between(g["event_time"], g["band_low"], g["band_high"], color=colour, alpha=0.15,
                            linewidth=0, label=f"{term}: {int(self.extra.get('level', 0.95) * 100)}% uniform band")
            ax.fill_between(g["event_time"], g["ci_low"], g["ci_high"], color=colour, alpha=0.3,
                            linewidth=0, label=f"{term}: pointwise CI")
            sns.lineplot(x=g["event_time"], y=g["estimate"], ax=ax, color=colour, marker="o", markersize=3,
                         label=f"{term}: ITT")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("months since randomisation")
        ax.set_ylabel(ylabel or f"effect on {self.extra.get('outcome', 'outcome')}")
        if title:
            ax.set_title(title)
        ax.legend(fontsize="small", frameon=False)
        return ax


def effects_by_month(data: pd.DataFrame, *, outcome: str, treatment: str = "arm",
                     event_time: str = "event_time", person: str = "person_id", months=None,
                     covariates: Sequence[str] = (), method: str = "ancova", control=None,
                     level: float = 0.95, draws: int = 10000, seed: int | None = 0) -> MonthlyEffects:
    """ITT for each month since randomisation with pointwise and simultaneous (sup-t) bands.

    Parameters
    ----------
    data : person-month panel (one row per person and observed month).
    outcome, treatment : columns; treatment 0/1 or arms with a control level.
    event_time, person : month-since-randomisation and person-id columns.
    months : int ``M`` (months 1..M), a list of months, or ``None`` (every month ≥ 1 in the data).
    covariates, method : baseline adjustment per month, ``"ancova"`` or ``"lin"`` (centred per month).
    level : confidence level of both bands.
    draws, seed : Gaussian multiplier draws for the sup-t critical value.

    Notes
    -----
    Month ``m``'s estimate is the OLS coefficient of its own regression on the persons observed in
    month ``m`` (all months are fitted in one stacked pass), with HC2 variance, df ``N_m − K``.

    The joint distribution across months comes from the stacked influence functions: person ``i``'s
    HC2-adjusted score for month ``m`` is ``ψ_im = [(X_m'X_m)^{-1} x_im]_a e_im / sqrt(1 − h_im)``;
    the covariance of the month estimates is ``V = Ψ'Ψ`` (persons as clusters across months — the
    diagonal equals the per-month HC2 variances exactly).  The sup-t critical value ``c`` is the
    ``level`` quantile of ``max_m |Z_m|``, ``Z ~ N(0, corr(V))`` (:func:`sup_t_critical_value`), and
    the uniform band is ``estimate ± c · se``: it covers the whole path of monthly effects with
    probability ``level`` (Montiel Olea & Plagborg-Møller 2019).  With several arms each arm gets its
    own band over months.  Months in which an arm has no persons are dropped from the table.
    """
    covariates = _as_list(covariates)
    if method not in ("ancova", "lin"):
        raise ValueError(f"method must be 'ancova' or 'lin', got {method!r}")
    require_columns(data, [outcome, treatment, event_time, person] + covariates)
    mlist = _months_list(months, data[event_time].dropna().to_numpy())
    d = data.loc[data[event_time].isin(mlist)]
    d, n_drop = drop_missing(d, [outcome, treatment, person, *covariates], where="effects_by_month: ")
    if len(d) == 0:
        raise ValueError(f"no person-months at event months {mlist[:5]}... in the data")
    dup = d.duplicated([person, event_time])
    if dup.any():
        raise ValueError(f"{int(dup.sum())} duplicated (person, {event_time}) rows: the panel must have one "
                         "row per person and month")
    arms = code_treatment(d[treatment], control, column=treatment)
    g, g_u = factorize(d[event_time])
    G = len(g_u)
    p, _ = factorize(d[person])
    P = int(p.max()) + 1
    n = len(d)
    y = d[outcome].to_numpy(dtype=float)
    D = arms.dummies()
    Xc, _ = covariate_matrix(d, covariates)
    if method == "lin" and Xc.shape[1]:
        cnt = np.bincount(g, minlength=G).astype(float)
        means = np.column_stack([np.bincount(g, weights=Xc[:, j], minlength=G) for j in range(Xc.shape[1])])
        Xcc = Xc - (means / cnt[:, None])[g]
        inter = (D[:, :, None] * Xcc[:, None, :]).reshape(n, -1)
        X = np.hstack([np.ones((n, 1)), D, Xcc, inter])
    else:
        X = np.hstack([np.ones((n, 1)), D, Xc])
    k = X.shape[1]
    beta, bread, e, h, scores = grouped_ols(X, y, g, G, hc2=True)
    n_g = np.bincount(g, minlength=G)
    arm_counts = np.zeros((G, arms.n_arms + 1), dtype=np.int64)
    np.add.at(arm_counts, (g, arms.codes), 1)
    tables, crits = [], {}
    labels = arms.labels()
    for a in range(1, arms.n_arms + 1):
        j = a
        Psi = sparse.csr_matrix((scores[:, j], (p, g)), shape=(P, G))
        V = (Psi.T @ Psi).toarray()
        est = beta[:, j]
        se = np.sqrt(np.diag(V))
        ok = np.isfinite(est) & (arm_counts[:, 0] > 0) & (arm_counts[:, a] > 0) & (n_g > k)
        c = sup_t_critical_value(V[np.ix_(ok, ok)], level=level, draws=draws, seed=seed)
        crits[labels[a - 1]] = c
        t = tidy_frame([labels[a - 1]] * int(ok.sum()), est[ok], se[ok], df=(n_g[ok] - k).astype(float),
                       n=n_g[ok], level=level)
        t.insert(1, "event_time", g_u[ok].astype(int))
        t["n_control"] = arm_counts[ok, 0]
        t["n_arm"] = arm_counts[ok, a]
        t["band_low"] = t["estimate"] - c * t["se"]
        t["band_high"] = t["estimate"] + c * t["se"]
        t["supt_crit"] = c
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    label = {"ancova": "ANCOVA", "lin": "Lin"}[method] if covariates else "unadjusted"
    first = next(iter(crits.values()))
    return MonthlyEffects(table, method=f"ITT by month since randomisation ({label}, HC2; sup-t bands)",
                          extra={"outcome": outcome, "level": level, "supt_crit": first, "draws": draws,
                                 "n_missing_dropped": n_drop, "n_persons": P})


def person_level(data: pd.DataFrame, *, outcome: str, window: tuple[int, int] | int, how: str = "sum",
                 person: str = "person_id", event_time: str = "event_time",
                 keep: Sequence[str] = ()) -> tuple[pd.DataFrame, int]:
    """One row per person with the outcome aggregated over event months ``window`` (inclusive).

    ``how``: ``"sum"`` (e.g. months employed), ``"any"`` (ever within the window), ``"mean"``.
    Only persons observed in every month of the window are kept; the number of persons with an
    incomplete window is returned (and must be reported — see :func:`cumulative_effects`).
    ``keep`` lists time-invariant columns carried over (first row per person).
    """
    lo, hi = (1, window) if np.isscalar(window) else window
    require_columns(data, [outcome, person, event_time] + list(keep))
    d = data.loc[(data[event_time] >= lo) & (data[event_time] <= hi)]
    months_needed = hi - lo + 1
    grp = d.groupby(person, sort=False)
    y = d[outcome].astype(float)
    agg = {"sum": "sum", "any": "max", "mean": "mean"}
    if how not in agg:
        raise ValueError(f"how must be one of {list(agg)}, got {how!r}")
    out = pd.DataFrame({outcome: y.groupby(d[person], sort=False).agg(agg[how]),
                        "_months": grp[event_time].nunique(),
                        "_missing": y.isna().groupby(d[person], sort=False).sum()})
    if keep:
        out = out.join(grp[list(keep)].first())
    all_persons = data[person].nunique()
    complete = (out["_months"] == months_needed) & (out["_missing"] == 0)
    n_incomplete = int(all_persons - complete.sum())
    out = out.loc[complete].drop(columns=["_months", "_missing"]).reset_index()
    return out, n_incomplete


def cumulative_effects(data: pd.DataFrame, *, outcome: str, treatment: str = "arm",
                       windows: Sequence = (12, 24, 36), how: str = "sum", covariates: Sequence[str] = (),
                       method: str = "ancova", se_type: str = "HC2", strata: str | None = None,
                       person: str = "person_id", event_time: str = "event_time", control=None,
                       level: float = 0.95) -> RCTTable:
    """ITT on cumulative outcomes, e.g. months employed in months 1–12, 1–24, ...

    Each window is ``w`` (months 1..w) or ``(first, last)``.  Persons not observed in every month of
    a window (attrition) are excluded from that window with a :class:`MissingDataWarning`; the count is
    in the ``n_incomplete`` column.  The estimator is :func:`itt` on the person-level totals.
    """
    keep = [treatment] + _as_list(covariates) + _as_list(strata)
    rows, incomplete = [], {}
    for w in windows:
        pl, n_inc = person_level(data, outcome=outcome, window=w, how=how, person=person,
                                 event_time=event_time, keep=keep)
        lo, hi = (1, w) if np.isscalar(w) else w
        if n_inc:
            incomplete[f"{lo}-{hi}"] = n_inc
        r = itt(pl, outcome=outcome, treatment=treatment, covariates=covariates, method=method,
                se_type=se_type, strata=strata, control=control, level=level)
        t = r.tidy()
        t.insert(1, "window", f"{lo}-{hi}")
        t["n_incomplete"] = n_inc
        rows.append(t)
    table = pd.concat(rows, ignore_index=True)
    if incomplete:
        warnings.warn(f"cumulative_effects: persons without a complete window excluded (window: count) "
                      f"{incomplete}; see the n_incomplete column", MissingDataWarning, stacklevel=2)
    return RCTTable(table, method=f"ITT on {how} of {outcome} over windows ({method}, {se_type})",
                    extra={"outcome": outcome, "how": how})
