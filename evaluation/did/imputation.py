"""Imputation estimator for staggered difference-in-differences (Borusyak, Jaravel & Spiess 2024).

1. Fit ``Y_it = alpha_i + beta_t + eps_it`` by (weighted) least squares on the untreated
   observations ``Omega_0`` only (never-treated units and not-yet-treated periods);
2. impute ``Y_it(0) = alpha_i + beta_t`` for every treated observation and form
   ``tau_it = Y_it - Y_it(0)``;
3. average: ``tau_w = sum_{Omega_1} w_it tau_it`` with ``w_it`` proportional to the observation
   weights over the treated observations (overall ATT) or over those at event time ``e``.

The estimator is linear, ``tau_w = sum_it v_it Y_it`` with ``v_it = w_it`` on ``Omega_1`` and
``v_0 = -W_0 Z_0 (Z_0' W_0 Z_0)^{-1} Z_1' w_1`` on ``Omega_0`` (``Z`` the unit and period
dummies, ``W`` the observation weights).  The fixed effects and ``v_0`` solve the normal
equations of the two-way design exactly through the Schur complement on the period block
(``T x T``), with sparse unit-by-period sums: no loops over units.

Standard errors are BJS's conservative clustered variance (Theorem 3) -- which cannot separate
cluster-level shocks from effect heterogeneity when each cohort is a single cluster (a district
rollout clustered by district); the estimator warns then:
``Var = sum_c (sum_{it in c} v_it eps~_it)^2`` with ``eps~_it`` the first-stage residual on
``Omega_0`` and ``tau_it - tau~_g`` on ``Omega_1``, where ``tau~_g`` is the ``v^2``-weighted mean
of ``tau_it`` in the auxiliary group ``g`` (cohort x event time; unit-level sums as BJS eq. 8).
``leave_out=True`` applies BJS's Supplementary Appendix A.9 leave-one-out refinement (each
treated residual scaled by ``1 / (1 - v_ig^2 / sum_j v_jg^2)``), which removes the downward bias
from ``tau~_g`` fitting the unit's own noise; the default (``False``) follows R ``didimputation``
and diff-diff's default.  The pre-trend test regresses ``Y`` on lead indicators and the two-way
effects on ``Omega_0`` with cluster-robust (CR1, fixest's small-sample factor) standard errors,
as ``didimputation(pretrends=)``.

References
----------
Borusyak, K., Jaravel, X. and Spiess, J. (2024). Revisiting event-study designs: robust and
efficient estimation. *Review of Economic Studies* 91(6), 3253-3285.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ..results import TableResult, tidy_frame

__all__ = ["did_imputation", "ImputationResult"]


# ======================================================================== two-way FE solver
class _TwoWay:
    """Normal equations of ``y ~ unit + period`` on the untreated observations, solved exactly."""

    def __init__(self, ucode, tcode, w, n_units, n_periods):
        self.u, self.t, self.w = ucode, tcode, w
        self.Du = np.bincount(ucode, weights=w, minlength=n_units)
        self.Dt = np.bincount(tcode, weights=w, minlength=n_periods)
        self.C = sparse.csr_matrix((w, (ucode, tcode)), shape=(n_units, n_periods))
        inv = np.divide(1.0, self.Du, out=np.zeros_like(self.Du), where=self.Du > 0)
        self.Du_inv = inv
        S = np.diag(self.Dt) - (self.C.T @ sparse.diags(inv) @ self.C).toarray()
        self.S_pinv = np.linalg.pinv(S, rcond=1e-11, hermitian=True)
        rank = np.linalg.matrix_rank(S, tol=1e-9 * max(1.0, np.abs(S).max()))
        self.rank_deficit = (self.Dt > 0).sum() - rank

    def solve(self, cu, ct):
        """``(alpha, beta)`` with ``D_u alpha + C beta = cu``, ``C' alpha + D_t beta = ct`` (columns)."""
        cu = cu.reshape(len(self.Du), -1)
        ct = ct.reshape(len(self.Dt), -1)
        rhs = ct - self.C.T @ (self.Du_inv[:, None] * cu)
        beta = self.S_pinv @ rhs
        alpha = self.Du_inv[:, None] * (cu - self.C @ beta)
        return alpha, beta

    def project(self, X):
        """Fitted values of the weighted regression of each column of ``X`` (rows of Omega_0) on the FE."""
        X = X.reshape(len(self.u), -1)
        wX = X * self.w[:, None]
        cu = np.stack([np.bincount(self.u, weights=wX[:, k], minlength=len(self.Du)) for k in range(X.shape[1])], 1)
        ct = np.stack([np.bincount(self.t, weights=wX[:, k], minlength=len(self.Dt)) for k in range(X.shape[1])], 1)
        a, b = self.solve(cu, ct)
        return a[self.u] + b[self.t]


# ========================================================================== data checks
def _prepare(data, outcome, unit, time, group, weights, cluster):
    cols = {"outcome": outcome, "unit": unit, "time": time, "group": group}
    if weights is not None:
        cols["weights"] = weights
    if cluster is not None:
        cols["cluster"] = cluster
    for role, c in cols.items():
        if c not in data.columns:
            raise ValueError(f"{role} column {c!r} not in the data; columns are {list(data.columns)[:20]}")
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(f"outcome {outcome!r} is missing or not numeric in {int(bad.sum())} rows (e.g. rows "
                         f"{data.index[bad][:5].tolist()}); drop or impute them before estimating")
    t = pd.to_numeric(data[time], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
        raise ValueError(f"time column {time!r} must hold integer periods without gaps in coding")
    g = pd.to_numeric(data[group], errors="coerce").to_numpy(float)
    g = np.where(~np.isfinite(g) | (g == 0), 0.0, g)
    w = np.ones(len(data)) if weights is None else pd.to_numeric(data[weights], errors="coerce").to_numpy(float)
    if weights is not None and (not np.all(np.isfinite(w)) or np.any(w < 0)):
        raise ValueError(f"weights column {weights!r} must be finite and non-negative")
    dup = pd.DataFrame({"u": data[unit].to_numpy(), "t": t}).duplicated()
    if dup.any():
        raise ValueError(f"{int(dup.sum())} duplicated ({unit}, {time}) rows (e.g. rows {data.index[dup.to_numpy()][:5].tolist()}); "
                         "the imputation estimator needs one row per unit and period")
    if not (g > 0).any():
        raise ValueError(f"no treated units: {group!r} is 0 or missing for every row")
    ucode, _ = pd.factorize(data[unit], sort=True)
    tcode, tlev = pd.factorize(t, sort=True)
    cl = None if cluster is None else pd.factorize(data[cluster], sort=True)[0]
    return y, t, g, w, ucode, tcode, tlev, cl


# ========================================================================== variance
def _aux_residuals(tau, v1, unit1, gcode, leave_out):
    """``tau - tau~_g`` per target column; ``tau~_g = sum_i a_ig b_ig / sum_i a_ig^2`` (BJS eq. 8).

    ``gcode``: auxiliary group (cohort x event time) of each treated observation."""
    n1, K = v1.shape
    gu = np.unique(np.column_stack([gcode, unit1]), axis=0, return_inverse=True)[1].ravel() if n1 else gcode
    ng, ngu = (gcode.max() + 1, gu.max() + 1) if n1 else (0, 0)
    g_of_gu = np.zeros(ngu, int)
    g_of_gu[gu] = gcode
    out = np.empty((n1, K))
    n_single = 0
    for k in range(K):                      # K targets (event times): a handful
        a = np.bincount(gu, weights=v1[:, k], minlength=ngu)
        b = np.bincount(gu, weights=v1[:, k] * tau, minlength=ngu)
        num = np.bincount(g_of_gu, weights=a * b, minlength=ng)
        den = np.bincount(g_of_gu, weights=a * a, minlength=ng)
        simple = np.bincount(gcode, weights=tau, minlength=ng) / np.maximum(np.bincount(gcode, minlength=ng), 1)
        tt = np.where(den > 1e-15, num / np.where(den > 1e-15, den, 1.0), simple)
        eps = tau - tt[gcode]
        if leave_out:
            other = den[g_of_gu] - a * a
            npos = np.bincount(g_of_gu, weights=(a * a > 0).astype(float), minlength=ng)
            ok = (npos[g_of_gu] >= 2) & (other > 1e-12 * np.maximum(den[g_of_gu], 1e-300))
            fac = np.where(ok, den[g_of_gu] / np.where(ok, other, 1.0), 1.0)
            eps = eps * fac[gu]
            n_single = max(n_single, int(((npos < 2) & (den > 0)).sum()))
        out[:, k] = eps
    if leave_out and n_single:
        warnings.warn(f"leave_out=True: {n_single} auxiliary group(s) have a single unit with positive weight; "
                      "the leave-one-out residual is undefined there and the usual one is kept (BJS 2024, "
                      "Appendix A.9, fn. 51)", RuntimeWarning, stacklevel=3)
    return out


def _cluster_se(v, eps, cl):
    psi = np.stack([np.bincount(cl, weights=v[:, k] * eps[:, k]) for k in range(v.shape[1])], 1)
    return np.sqrt((psi ** 2).sum(axis=0))


# ====================================================================== pre-trend test
def _pretrend_leads(y0, fe, et0, leads, cl0, w0, vcov="cluster"):
    """Leads regression on Omega_0 (BJS Test 1, didimputation ``pretrends``): CR1 as fixest
    (``G/(G-1) (n-1)/(n-K)``, ``K`` = leads + periods, unit effects nested in the clusters), or
    ``vcov="iid"`` (``K`` = leads + units + periods - 1)."""
    X = np.column_stack([(et0 == e).astype(float) for e in leads])
    keep = X.sum(axis=0) > 0
    leads, X = [e for e, k in zip(leads, keep) if k], X[:, keep]
    A = np.column_stack([y0, X])
    R = A - fe.project(A)
    yt, Xt = R[:, 0], R[:, 1:]
    sw = np.sqrt(w0)
    XtX = (Xt * w0[:, None]).T @ Xt
    b = np.linalg.solve(XtX, (Xt * w0[:, None]).T @ yt)
    e = yt - Xt @ b
    G = cl0.max() + 1
    bread = np.linalg.inv(XtX)
    n = len(yt)
    if vcov == "iid":
        k = Xt.shape[1] + (fe.Du > 0).sum() + (fe.Dt > 0).sum() - 1
        V = bread * float(e @ (w0 * e)) / (n - k)
    else:
        score = np.stack([np.bincount(cl0, weights=Xt[:, j] * w0 * e, minlength=G) for j in range(Xt.shape[1])], 1)
        k = Xt.shape[1] + (fe.Dt > 0).sum()
        V = bread @ score.T @ score @ bread * G / (G - 1) * (n - 1) / (n - k)
    del sw
    return leads, b, V, G


# ====================================================================== main function
def did_imputation(data: pd.DataFrame, *, outcome: str, unit: str, time: str, group: str,
                   weights: str | None = None, cluster: str | None = None, horizon=None,
                   pretrends=None, leave_out: bool = False, pretrend_vcov: str = "cluster",
                   level: float = 0.95) -> "ImputationResult":
    """Borusyak-Jaravel-Spiess imputation estimator with its conservative standard errors.

    Parameters
    ----------
    data : DataFrame, one row per unit and period.
    outcome, unit, time, group : str
        Columns; ``group`` is the first treated period (0 or missing = never treated), as R ``did``
        and ``didimputation`` (``gname``).
    weights : str, optional
        Observation weights (first stage and aggregation).
    cluster : str, optional
        Cluster for the standard errors (default the unit).
    horizon : None, True or list of int
        ``None``: the overall ATT only; ``True``: every event time ``e >= 0``; a list: those event
        times (``didimputation(horizon=)``).  The overall ATT is always reported.
    pretrends : None, True or list of int
        Lead event times ``e < 0`` tested in the pre-trend regression on ``Omega_0`` (``True``: all).
    leave_out : bool
        BJS Appendix A.9 leave-one-out refinement of the variance (default off, as R).
    pretrend_vcov : {"cluster", "iid"}
        Standard errors of the lead coefficients: clustered as the estimates (didimputation since
        2024-05) or homoskedastic (older didimputation, as its README prints).
    level : float
        Confidence level (normal critical values, as didimputation's ``1.96``).

    Returns
    -------
    ImputationResult
        ``estimate``/``se`` (overall ATT), ``table`` (``ATT``, ``e=0``, ``e=1``, ... and leads),
        ``pretest`` (joint Wald test of the leads), ``plot()``.

    Raises
    ------
    ValueError
        Missing columns or outcomes, duplicated unit-periods, no treated units, treated
        observations whose unit or period has no untreated observation (nothing to impute from).
    """
    y, t, g, w, ucode, tcode, tlev, cl = _prepare(data, outcome, unit, time, group, weights, cluster)
    treat = (g > 0) & (t >= g)
    et = np.where(g > 0, t - g, -np.inf)
    nU, nT = ucode.max() + 1, len(tlev)
    u0, t0 = ucode[~treat], tcode[~treat]
    fe = _TwoWay(u0, t0, w[~treat], nU, nT)
    if fe.rank_deficit > 1:
        raise ValueError("the untreated observations do not connect all units and periods (the two-way "
                         "fixed effects are not identified); check the panel for isolated groups")
    no_u = treat & (fe.Du[ucode] == 0)
    no_t = treat & (fe.Dt[tcode] == 0)
    if (no_u | no_t).any():
        bad = no_u | no_t
        raise ValueError(f"{int(bad.sum())} treated observations cannot be imputed: {int(no_u.sum())} belong to "
                         f"units never observed untreated (treated from their first period) and {int(no_t.sum())} "
                         "to periods in which every unit is treated. Drop those units/periods explicitly "
                         f"(e.g. rows {data.index[bad][:5].tolist()})")
    wy = w[~treat] * y[~treat]
    a, b = fe.solve(np.bincount(u0, weights=wy, minlength=nU), np.bincount(t0, weights=wy, minlength=nT))
    y0hat = a[ucode, 0] + b[tcode, 0]
    tau = y[treat] - y0hat[treat]
    resid0 = y[~treat] - y0hat[~treat]

    e1 = et[treat]
    evs = _horizons(horizon, e1)
    W1 = np.column_stack([np.ones(treat.sum())] + [(e1 == e).astype(float) for e in evs]) * w[treat][:, None]
    W1 = W1 / W1.sum(axis=0)
    est = W1.T @ tau
    # v on Omega_0: -W0 Z0 (Z0'W0 Z0)^{-1} Z1'w1
    cu = np.stack([np.bincount(ucode[treat], weights=W1[:, k], minlength=nU) for k in range(W1.shape[1])], 1)
    ct = np.stack([np.bincount(tcode[treat], weights=W1[:, k], minlength=nT) for k in range(W1.shape[1])], 1)
    ga, gb = fe.solve(cu, ct)
    v0 = -(ga[u0] + gb[t0]) * w[~treat][:, None]
    gcode1 = np.unique(np.column_stack([g[treat], e1]), axis=0, return_inverse=True)[1].ravel()
    eps1 = _aux_residuals(tau, W1, ucode[treat], gcode1, leave_out)
    v = np.vstack([W1, v0])
    eps = np.vstack([eps1, np.repeat(resid0[:, None], W1.shape[1], axis=1)])
    clu = (ucode if cl is None else cl)
    clv = np.concatenate([clu[treat], clu[~treat]])
    se = _cluster_se(v, eps, clv)
    if cl is not None:
        g_cl = pd.DataFrame({"g": gcode1, "c": clu[treat]}).groupby("g")["c"].nunique()
        if (g_cl <= 1).all():
            warnings.warn(f"every cohort x event-time group of treated observations lies in a single {cluster!r} "
                          "cluster: the conservative variance then treats cluster-level shocks to treated clusters "
                          "as effect heterogeneity and leaves them out, so the standard errors can be far too small. "
                          "Use few-cluster inference (wild cluster bootstrap, randomisation inference) instead.",
                          RuntimeWarning, stacklevel=2)
    terms = ["ATT"] + [f"e={int(e)}" for e in evs]
    table = tidy_frame(terms, est, se, n=np.concatenate([[treat.sum()], [(e1 == e).sum() for e in evs]]),
                       level=level)
    table.insert(1, "event_time", [np.nan] + [float(e) for e in evs])
    pre = None
    if pretrends is not None and pretrends is not False:
        leads = _leads(pretrends, et[~treat])
        if pretrend_vcov not in ("cluster", "iid"):
            raise ValueError("pretrend_vcov must be 'cluster' or 'iid'")
        lds, bl, Vl, G = _pretrend_leads(y[~treat], fe, et[~treat], leads, clu[~treat], w[~treat], pretrend_vcov)
        lt = tidy_frame([f"e={int(e)}" for e in lds], bl, np.sqrt(np.diag(Vl)),
                        n=[int(((et[~treat]) == e).sum()) for e in lds], level=level)
        lt.insert(1, "event_time", [float(e) for e in lds])
        table = pd.concat([lt, table], ignore_index=True)
        from .attgt import wald
        pre = wald(bl, Vl, "Pre-trend test (BJS Test 1: leads on untreated observations = 0)",
                   terms=[f"e={int(e)}" for e in lds])
    return ImputationResult(
        table=table, method=f"Imputation estimator (Borusyak, Jaravel & Spiess 2024){'; leave-one-out variance' if leave_out else ''}"
                            f"; SEs clustered by {cluster or unit}",
        extra={"n_treated_obs": int(treat.sum()), "n_untreated_obs": int((~treat).sum()),
               "n_clusters": int(clu.max() + 1)},
        pretest=pre, level=level)


def _horizons(horizon, e1):
    if horizon is None or horizon is False:
        return []
    avail = np.unique(e1)
    if horizon is True:
        return [float(e) for e in avail if e >= 0]
    hs = [float(h) for h in np.atleast_1d(horizon)]
    missing = [h for h in hs if h not in set(avail)]
    if missing:
        raise ValueError(f"horizon {missing} not among the treated event times {avail.astype(int).tolist()}")
    return [h for h in hs if h >= 0]


def _leads(pretrends, et0):
    avail = np.unique(et0[np.isfinite(et0) & (et0 < 0)])
    if pretrends is True:
        return [float(e) for e in avail]
    ls = [float(e) for e in np.atleast_1d(pretrends)]
    bad = [e for e in ls if e not in set(avail)]
    if bad:
        raise ValueError(f"pretrends {bad} not among the pre-treatment event times {avail.astype(int).tolist()}")
    return ls


@dataclass
class ImputationResult(TableResult):
    """Imputation estimates: overall ATT (``estimate``, ``se``), event times and leads (``table``)."""

    pretest: object = None
    level: float = 0.95

    @property
    def estimate(self) -> float:
        return float(self.table.loc[self.table.term == "ATT", "estimate"].iloc[0])

    @property
    def se(self) -> float:
        return float(self.table.loc[self.table.term == "ATT", "se"].iloc[0])

    def ci(self, level: float | None = None):
        z = stats.norm.ppf(1 - (1 - (level or self.level)) / 2)
        return self.estimate - z * self.se, self.estimate + z * self.se

    def event_study(self) -> pd.DataFrame:
        return self.table[self.table.event_time.notna()].sort_values("event_time").reset_index(drop=True)

    def summary(self) -> str:
        s = super().summary()
        if self.pretest is not None:
            s += "\n" + self.pretest.summary()
        return s

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update({"estimate": self.estimate, "se": self.se, "ci": list(self.ci())})
        if self.pretest is not None:
            d["pretest"] = self.pretest.to_dict()
        return d

    def plot(self, ax=None):
        """Event-time effects (and leads) with pointwise intervals."""
        import matplotlib.pyplot as plt
        f = self.event_study()
        if f.empty:
            raise ValueError("no event-time estimates: call did_imputation with horizon=True")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        post = f.event_time >= 0
        for m, c in ((post, "tab:blue"), (~post, "tab:grey")):
            ax.errorbar(f.event_time[m], f.estimate[m], yerr=[f.estimate[m] - f.ci_low[m], f.ci_high[m] - f.estimate[m]],
                        fmt="o", color=c, capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("event time")
        ax.set_title(self.method.split(";")[0])
        return ax
