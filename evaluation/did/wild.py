"""Wild cluster bootstrap with the null imposed (WCR) for few clusters.

Cameron, Gelbach & Miller (2008); MacKinnon & Webb (2017, 2018); Roodman, MacKinnon, Nielsen &
Webb (2019, "Fast and wild").  The restricted wild cluster bootstrap (WCR) is the bootstrap that
keeps its size with few clusters; it works on cluster-level sufficient statistics
(``X_g'X_g``, ``X_g'y_g``), so its cost does not grow with the number of persons.

* :func:`wild_cluster_test` - the engine for any linear regression ``y = X b + u`` and a
  coefficient ``b_j``: bootstrap p-value of ``H0: b_j = r`` and the confidence interval by test
  inversion, exact up to floating point (the bootstrap statistics are rational in ``r``; the
  interval ends are roots of one quartic per draw, no grid search).
* :func:`wild_did_2x2`, :func:`wild_twfe`, :func:`wild_event_study` - the DiD regressions of
  :mod:`evaluation.did.twfe` with WCR inference.
* :func:`wild_att_gt` - Callaway-Sant'Anna aggregates (no covariates, balanced panel) by the WCR of
  their equivalent regression (see its docstring).

Weights: ``"rademacher"`` (all ``2^G`` sign vectors are enumerated when ``2^G <= B``, as boottest
and fwildclusterboot do) and ``"webb"`` (six-point, drawn; MacKinnon & Webb recommend it below
about 12 clusters because Rademacher has only ``2^(G-1)`` distinct statistics).

The p-value counts draws with ``|t*| > |t|`` strictly, as ``fwildclusterboot`` and
``wildboottest`` do; draws with a constant weight vector (``v = +1`` or ``-1`` under enumeration)
reproduce ``|t|`` exactly and are counted as not exceeding, identified from the weights rather
than by a tolerance on ``t``.  The interval is ``{r : p(r) >= alpha}`` (a test rejecting when
``p < alpha``); ``p(r)`` need not fall monotonically away from the estimate, so the set can have
gaps: the reported interval is its hull (``ci_disjoint`` says whether there were gaps).
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..results import TIDY_COLUMNS, InvertedResult, TableResult
from ._data import _require_columns, group_codes, integer_time

_WEBB = np.sqrt(np.array([3.0, 2.0, 1.0]) / 2)
_WEBB = np.concatenate([-_WEBB, _WEBB[::-1]])


def _lab(x) -> str:
    """A data label for a message: numpy scalars shown as plain Python values."""
    return repr(x.item() if hasattr(x, "item") else x)


# =============================================================================== weights
def wild_weights(n_clusters: int, *, weights: str = "rademacher", B: int = 9999,
                 seed: int | None = None) -> tuple[np.ndarray, bool]:
    """Bootstrap weights, ``(G, B')`` matrix and whether all sign vectors were enumerated.

    Rademacher weights are enumerated (``B' = 2^G``, every sign vector once) when ``2^G <= B``,
    else drawn; Webb's six-point weights ``+-sqrt(1/2), +-1, +-sqrt(3/2)`` are always drawn.
    """
    G = int(n_clusters)
    if weights == "rademacher":
        if 2 ** G <= B:
            V = np.array(list(itertools.product([-1.0, 1.0], repeat=G))).T
            return V, True
        rng = np.random.default_rng(seed)
        return rng.integers(0, 2, size=(G, B)).astype(float) * 2 - 1, False
    if weights == "webb":
        rng = np.random.default_rng(seed)
        return _WEBB[rng.integers(0, 6, size=(G, B))], False
    raise ValueError(f"weights must be 'rademacher' or 'webb', got {weights!r}")


# =============================================================================== engine
@dataclass
class _Stats:
    XtX: np.ndarray            # (k, k)
    XtXg: np.ndarray           # (G, k, k)
    Xtyg: np.ndarray           # (G, k) or (S, G, k)
    n: int
    k: int


def cluster_stats(X: np.ndarray, y: np.ndarray, cluster: np.ndarray) -> _Stats:
    """Per-cluster cross products ``X_g'X_g`` and ``X_g'y_g`` (``y`` may be ``(n, S)``)."""
    cl, _ = pd.factorize(cluster, sort=True)
    G = int(cl.max()) + 1
    n, k = X.shape
    order = np.argsort(cl, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(cl, minlength=G))])
    Xs, ys = X[order], y[order]
    XtXg = np.empty((G, k, k))
    Xtyg = np.empty((G, k) if y.ndim == 1 else (y.shape[1], G, k))
    for g in range(G):                     # loop over clusters (few), not over persons
        a, b = bounds[g], bounds[g + 1]
        XtXg[g] = Xs[a:b].T @ Xs[a:b]
        if y.ndim == 1:
            Xtyg[g] = Xs[a:b].T @ ys[a:b]
        else:
            Xtyg[:, g, :] = (Xs[a:b].T @ ys[a:b]).T
    return _Stats(XtXg.sum(axis=0), XtXg, Xtyg, n, k)


def _rvec(coef, k):
    if np.ndim(coef) == 0:
        R = np.zeros(k)
        R[int(coef)] = 1.0
        return R
    R = np.asarray(coef, float)
    if R.shape != (k,):
        raise ValueError(f"coef must be a column index or a length-{k} restriction vector")
    return R


def _pieces(st: _Stats, j, V: np.ndarray, variance: str = "CV1"):
    """Pieces of the bootstrap statistic, affine in delta = R b - r: numerator weights ``c0 + d c1``
    (``R b* - r = sum_g v_g c_g``), the matrix ``K0 + d K1`` with the draw's variance terms
    ``Z = K v`` (``sum Z^2`` is the CV1 meat, or the CV3 jackknife sum), and ``Q``, the same sum
    for the original sample."""
    XtXi = np.linalg.inv(st.XtX)
    R = _rvec(j, st.k)
    Rv = R @ XtXi                                  # R (X'X)^-1
    a = 1.0 / (Rv @ R)
    q = XtXi @ R * a                               # (X'X)^-1 R' / (R (X'X)^-1 R')
    Xty = st.Xtyg.sum(axis=-2)
    beta = Xty @ XtXi.T                            # (k,) or (S, k)
    s0 = st.Xtyg - np.einsum("gkl,...l->...gk", st.XtXg, beta)   # X_g' u_hat_g
    s1 = st.XtXg @ q                                               # (G, k): X_g'X_g q
    c0 = s0 @ Rv                                   # (G,) or (S, G)
    c1 = s1 @ Rv                                   # (G,)
    G = st.XtXg.shape[0]
    if variance == "CV1":
        M = np.einsum("l,glm,mk->gk", Rv, st.XtXg, XtXi)           # (G, k)
        K0 = -np.einsum("hk,...gk->...hg", M, s0)                  # -H0
        idx = np.arange(G)
        K0[..., idx, idx] += c0
        K1 = -(M @ s1.T)
        K1[idx, idx] += c1
        Q = (c0 ** 2).sum(axis=-1)
    elif variance == "CV3":
        # leave-one-cluster-out: R b*_(g) - R b_tilde = sum_{h != g} v_h R A_g s_h, A_g = (X'X - X_g'X_g)^+
        RA = np.stack([R @ np.linalg.pinv(st.XtX - st.XtXg[g]) for g in range(G)])   # (G, k)
        off = 1.0 - np.eye(G)
        K0 = np.einsum("gk,...hk->...gh", RA, s0) * off - c0[..., None, :]
        K1 = (RA @ s1.T) * off - c1[None, :]
        bj = np.einsum("gk,...gk->...g", RA, Xty[..., None, :] - st.Xtyg)         # R b_hat_(g)
        Q = ((bj - (beta @ R)[..., None]) ** 2).sum(axis=-1)
    else:
        raise ValueError("variance must be 'CV1' or 'CV3'")
    const = np.abs(V - V[:1]).max(axis=0) < 1e-12                  # v constant: t* = +-t exactly
    return beta, c0, c1, K0, K1, Q, const


def _quartic(c0, c1, K0, K1, Q, V):
    """Per draw, coefficients of P_b(d) = Q (n0 + d n1)^2 - d^2 ||Z0 + d Z1||^2 (highest first)."""
    n0 = c0 @ V
    n1 = c1 @ V
    Z0 = K0 @ V
    Z1 = K1 @ V
    A = (Z0 ** 2).sum(axis=0)
    Bc = (Z0 * Z1).sum(axis=0)
    C = (Z1 ** 2).sum(axis=0)
    Q = float(Q)
    return np.stack([-C, -2 * Bc, Q * n1 ** 2 - A, 2 * Q * n0 * n1, Q * n0 ** 2], axis=1)


def _pval_at(coef, delta, const):
    P = np.polyval(coef.T, delta) if np.ndim(delta) == 0 else None
    return float(np.mean((P > 0) & ~const))


def _real_roots(coef, const):
    """Real roots of each draw's polynomial (rows of ``coef``, highest power first) and their owners."""
    roots, owner = [], []
    scale = np.abs(coef).max(axis=1)
    lead = np.abs(coef[:, 0]) > 1e-14 * np.where(scale > 0, scale, 1.0)
    idx = np.flatnonzero(lead & ~const)
    if len(idx):
        m = coef[idx, 1:] / coef[idx, :1]
        d = m.shape[1]
        comp = np.zeros((len(idx), d, d))
        comp[:, 0, :] = -m
        for k in range(1, d):
            comp[:, k, k - 1] = 1.0
        ev = np.linalg.eigvals(comp)
        ok = np.abs(ev.imag) <= 1e-7 * np.maximum(1.0, np.abs(ev.real))
        roots.append(ev.real[ok])
        owner.append(np.repeat(idx, d).reshape(-1, d)[ok])
    for b in np.flatnonzero(~lead & ~const):        # degenerate draws: lower-degree polynomial
        c = np.trim_zeros(coef[b], "f")
        if len(c) < 2:
            continue
        r = np.roots(c)
        r = r[np.abs(r.imag) <= 1e-7 * np.maximum(1.0, np.abs(r.real))].real
        roots.append(r)
        owner.append(np.full(len(r), b))
    if not roots:
        return np.array([]), np.array([], int)
    return np.concatenate(roots), np.concatenate(owner)


def acceptance_set(coef, keep, alpha, *, strict=True, center=0.0):
    """The set ``{d : p(d) >= alpha}`` (``p(d) > alpha`` if ``strict`` is False... see below) where
    ``p(d)`` is the share of rows ``b`` of ``coef`` with ``P_b(d) > 0`` (``>= 0`` when
    ``strict=False``), counting only rows with ``keep``.

    ``p`` changes only at the real roots of the polynomials: sorting all roots and adding the
    sign of each polynomial's derivative at its root gives ``p`` on every interval between them
    exactly.  Returns ``(lo, hi, disjoint)``: the smallest interval holding the whole set (its
    hull; infinite if the set is unbounded) and whether the set has gaps.  Accepts when
    ``p >= alpha`` (``strict=True``, the wild bootstrap's strict count) or ``p > alpha``
    (``strict=False``, the randomisation test's inclusive count).
    """
    B = coef.shape[0]
    deg = coef.shape[1] - 1
    roots, owner = _real_roots(coef, ~keep)
    if len(roots) == 0:
        x = np.array([center])
        pv = np.mean(((np.polyval(coef.T, x[0]) > 0) if strict else (np.polyval(coef.T, x[0]) >= 0)) & keep)
        ok = pv >= alpha if strict else pv > alpha
        return (-np.inf, np.inf, False) if ok else (np.nan, np.nan, False)
    o = np.argsort(roots, kind="stable")
    r, b = roots[o], owner[o]
    dcoef = coef[:, :-1] * np.arange(deg, 0, -1)[None, :]
    slope = np.sign(np.einsum("ik,ik->i", dcoef[b], r[:, None] ** np.arange(deg - 1, -1, -1)[None, :]))
    x0 = r[0] - 1.0 - abs(r[0])
    v0 = np.polyval(coef.T, x0)
    count0 = np.sum(((v0 > 0) if strict else (v0 >= 0)) & keep)
    counts = np.concatenate([[count0], count0 + np.cumsum(slope)]) / B
    acc = counts >= alpha if strict else counts > alpha
    if not acc.any():
        return np.nan, np.nan, False
    edges = np.concatenate([[-np.inf], r, [np.inf]])
    i0, i1 = np.flatnonzero(acc)[[0, -1]]
    inner = acc[i0:i1 + 1]
    # zero-length intervals between coinciding roots are not gaps
    width = edges[i0 + 1:i1 + 2] - edges[i0:i1 + 1]
    disjoint = bool(np.any(~inner & (width > 1e-12 * max(1.0, np.nanmax(np.abs(r))))))
    return float(edges[i0]), float(edges[i1 + 1]), disjoint


def wild_cluster_test(X: np.ndarray, y: np.ndarray, cluster: np.ndarray, *, coef: int = 0,
                      r: float = 0.0, weights: str = "rademacher", B: int = 9999,
                      seed: int | None = None, level: float = 0.95, ci: bool = True,
                      k_ssc: int | None = None, n_ssc: int | None = None, variance: str = "CV1",
                      return_draws: bool = False) -> dict:
    r"""Restricted wild cluster bootstrap (WCR-11) test of ``H0: b_coef = r`` in ``y = X b + u``.

    Parameters
    ----------
    X : (n, k) array
        Regressors (fixed effects nested in clusters may be projected out beforehand).
    y : (n,) array, or (n, S) for S outcomes at once (p-values only; Monte Carlo use)
    cluster : (n,) array
        Cluster labels.
    coef : int or (k,) array
        Column of ``X`` tested, or a restriction vector ``R`` (then ``H0: R b = r``).
    r : float
        Null value.
    weights : {"rademacher", "webb"}
    B : int
        Draws; Rademacher weights enumerate all ``2^G`` sign vectors when ``2^G <= B``.
    level : float
        Confidence level of the test-inversion interval.
    k_ssc : int, optional
        Number of parameters in the small-sample factor ``G/(G-1) (n-1)/(n-k)`` of the reported
        CR1 standard error (default ``k``); the factor cancels in the bootstrap p-value.
    n_ssc : int, optional
        Number of observations in that factor (default the rows of ``X``; e.g. persons x periods
        when the rows are weighted cell means).
    variance : {"CV1", "CV3"}
        Variance in the t-statistics: CR1 (WCR-11, the default, as fwildclusterboot) or the
        leave-one-cluster-out jackknife ``(G-1)/G sum_g (b_(g) - b)^2`` (CV3; MacKinnon, Nielsen &
        Webb 2023), both for the original and every bootstrap sample (restricted residuals in the
        bootstrap DGP either way).
    return_draws : bool
        Also return the bootstrap t-statistics ``t_boot`` (one per draw) and the weights ``v``.

    Returns
    -------
    dict with ``estimate``, ``se`` (CR1), ``t``, ``pvalue``, ``ci_low``, ``ci_high``, ``draws``,
    ``enumerated``, ``n_clusters``.

    Notes
    -----
    With ``d = b_hat - r``, the restricted estimate is ``b_tilde = b_hat - q d`` with
    ``q = (X'X)^{-1} R' / (R (X'X)^{-1} R')``, restricted residuals ``u_tilde = u_hat + X q d`` and
    bootstrap outcomes ``y* = X b_tilde + v_g u_tilde``.  For draw ``v`` the numerator
    ``R b* - r = sum_g v_g c_g`` and the CR1 meat ``sum_h (v_h c_h - sum_g H_hg v_g)^2`` are affine
    and quadratic in ``d`` (``c_g = R (X'X)^{-1} X_g' u_tilde_g``,
    ``H_hg = R (X'X)^{-1} X_h'X_h (X'X)^{-1} X_g' u_tilde_g``; Roodman et al. 2019, sec. 3), so
    ``|t*| > |t|`` holds where a quartic in ``d`` is positive: the p-value as a function of ``r``
    changes only at those quartics' real roots, which gives the interval exactly.
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    st = cluster_stats(X, y, np.asarray(cluster))
    G = st.XtXg.shape[0]
    if G < 2:
        raise ValueError("the wild cluster bootstrap needs at least 2 clusters")
    V, enumerated = wild_weights(G, weights=weights, B=B, seed=seed)
    beta, c0, c1, K0, K1, Qv, const = _pieces(st, coef, V, variance)
    Rc = _rvec(coef, st.k)
    k = k_ssc if k_ssc is not None else st.k
    n_obs = st.n if n_ssc is None else n_ssc
    ssc = (G / (G - 1) * (n_obs - 1) / max(n_obs - k, 1)) if variance == "CV1" else (G - 1) / G
    alpha = 1 - level
    if y.ndim == 2:                                     # batch of outcomes: p-values only
        est = beta @ Rc
        se = np.sqrt(ssc * Qv)
        delta = est - r
        n_b = c0 @ V + delta[:, None] * (c1 @ V)[None, :]
        Z = K0 @ V + delta[:, None, None] * (K1 @ V)[None]
        lhs = n_b ** 2 * Qv[:, None]
        rhs = delta[:, None] ** 2 * (Z ** 2).sum(axis=1)
        p = ((lhs > rhs) & ~const[None, :]).mean(axis=1)
        return {"estimate": est, "se": se, "t": delta / se, "pvalue": p, "draws": V.shape[1],
                "enumerated": enumerated, "n_clusters": G}
    est = float(beta @ Rc)
    se = float(np.sqrt(ssc * Qv))
    coefq = _quartic(c0, c1, K0, K1, Qv, V)
    delta = est - r
    p = float(np.mean((np.polyval(coefq.T, delta) > 0) & ~const))
    out = {"estimate": est, "se": se, "t": delta / se if se > 0 else np.nan, "pvalue": p,
           "draws": V.shape[1], "enumerated": enumerated, "n_clusters": G, "weights": weights,
           "ci_low": np.nan, "ci_high": np.nan, "level": level, "variance": variance}
    if return_draws:
        Zd = (K0 + delta * K1) @ V
        out["t_boot"] = ((c0 + delta * c1) @ V) / np.sqrt(ssc * (Zd ** 2).sum(axis=0))
        out["v"] = V
    if ci:
        lo, hi, gaps = acceptance_set(coefq, ~const, alpha, strict=True)
        out["ci_low"], out["ci_high"] = est - hi, est - lo
        out["ci_disjoint"] = gaps
    if weights == "rademacher" and G <= 5:
        warnings.warn(f"Only {G} clusters: Rademacher weights give {2 ** (G - 1)} distinct bootstrap "
                      "statistics, so the smallest attainable p-value is coarse; consider weights='webb'.",
                      UserWarning, stacklevel=2)
    return out


# =============================================================================== results
@dataclass
class WildResult(InvertedResult):
    """A coefficient with wild cluster bootstrap p-value and test-inversion interval.

    ``se`` is the CR1 cluster-robust standard error; ``pvalue`` and ``ci()`` are the bootstrap's.
    """

    inverted: ClassVar[str] = "the bootstrap interval"
    draws: int = 0
    enumerated: bool = False
    n_clusters: int = 0
    weights: str = "rademacher"

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update({"draws": int(self.draws), "enumerated": bool(self.enumerated),
                  "n_clusters": int(self.n_clusters), "weights": self.weights,
                  "ci_disjoint": bool(self.ci_disjoint)})
        return d


def _result(out: dict, term: str, method: str, n: int) -> WildResult:
    return WildResult(estimate=out["estimate"], se=out["se"], n=n, term=term, method=method,
                      level=out["level"], pvalue_override=out["pvalue"], ci_low=out["ci_low"],
                      ci_high=out["ci_high"], draws=out["draws"], enumerated=out["enumerated"],
                      n_clusters=out["n_clusters"], weights=out["weights"],
                      ci_disjoint=bool(out.get("ci_disjoint", False)))


def _method(kind: str, out: dict, cluster: str) -> str:
    how = (f"all {out['draws']} sign vectors enumerated" if out["enumerated"]
           else f"{out['draws']} {out['weights']} draws")
    return (f"{kind}; wild cluster bootstrap, null imposed (WCR), {out['weights']} weights, {how}, "
            f"{out['n_clusters']} clusters of {cluster}")


# =============================================================================== DiD wrappers
def _check_cluster(data, cluster):
    if cluster is None:
        raise ValueError("the wild cluster bootstrap needs cluster= (e.g. the district column)")
    _require_columns(data, {"cluster": cluster})
    if data[cluster].isna().any():
        rows = np.flatnonzero(data[cluster].isna().to_numpy())[:5].tolist()
        raise ValueError(f"cluster column {cluster!r} has missing values (rows {rows}...); "
                         "fill or drop them first")


def wild_did_2x2(data: pd.DataFrame, *, outcome: str, treated: str, post: str, cluster: str,
                 r: float = 0.0, weights: str = "rademacher", B: int = 9999, seed: int | None = None,
                 level: float = 0.95) -> WildResult:
    """2x2 DiD ``y = a + b treated + c post + att treated x post`` with WCR inference on ``att``.

    The estimate and CR1 standard error equal :func:`evaluation.did.did_2x2`'s.
    """
    _require_columns(data, {"outcome": outcome, "treated": treated, "post": post})
    _check_cluster(data, cluster)
    y = data[outcome].to_numpy(float)
    d = data[treated].to_numpy(float)
    p = data[post].to_numpy(float)
    if not (np.isin(d, [0, 1]).all() and np.isin(p, [0, 1]).all()):
        raise ValueError("treated and post must be 0/1")
    X = np.column_stack([np.ones_like(y), d, p, d * p])
    out = wild_cluster_test(X, y, data[cluster].to_numpy(), coef=3, r=r, weights=weights, B=B,
                            seed=seed, level=level)
    return _result(out, f"{treated}:{post}", _method("2x2 difference-in-differences", out, cluster), len(y))


def _within_unit(data, unit, cols):
    """Subtract unit means (the unit effects) from each column; units must be nested in clusters."""
    u, _ = pd.factorize(data[unit].to_numpy())
    cnt = np.bincount(u).astype(float)
    out = np.empty((len(u), len(cols)))
    for j, c in enumerate(cols):
        out[:, j] = c - (np.bincount(u, weights=c) / cnt)[u]
    return out


def _nested(data, unit, cluster):
    k = data.groupby(unit, observed=True)[cluster].nunique()
    bad = k[k > 1]
    if len(bad):
        raise ValueError(f"unit {_lab(bad.index[0])} appears in {int(bad.iloc[0])} clusters of {cluster!r}: the "
                         "wild bootstrap projects out the unit effects, which needs units nested in clusters")


def _twfe_design(data, outcome, unit, time, regs):
    t = integer_time(data[time].to_numpy(), time)
    tl, tc = np.unique(t, return_inverse=True)
    y = data[outcome].to_numpy(float)
    if not np.isfinite(y).all():
        raise ValueError(f"outcome {outcome!r} has missing values; drop or impute them first")
    dums = [(tc == j).astype(float) for j in range(1, len(tl))]
    A = _within_unit(data, unit, [y] + regs + dums)
    return A[:, 0], A[:, 1:], len(tl)


def wild_twfe(data: pd.DataFrame, *, outcome: str, unit: str, time: str, cluster: str,
              treatment: str | None = None, group: str | None = None, r: float = 0.0,
              weights: str = "rademacher", B: int = 9999, seed: int | None = None,
              level: float = 0.95) -> WildResult:
    """Static TWFE ``y_it = a_i + l_t + att D_it + e_it`` with WCR inference on ``att``.

    ``D`` is ``treatment`` or ``1[t >= group]`` (never treated: group 0/NaN).  Unit effects are
    projected out (units must be nested in clusters, as persons in districts are); period effects
    enter as dummies, so the bootstrap is the WCR of the full two-way model (fwildclusterboot's
    advice for fixed effects not nested in clusters).  The estimate equals
    :func:`evaluation.did.twfe`'s.
    """
    _require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "treatment": treatment,
                            "group": group})
    _check_cluster(data, cluster)
    _nested(data, unit, cluster)
    if treatment is not None:
        D = data[treatment].to_numpy(float)
        term = treatment
    elif group is not None:
        g = group_codes(data[group].to_numpy(), group)
        t = integer_time(data[time].to_numpy(), time)
        D = ((g > 0) & (t >= g)).astype(float)
        term = "treated"
    else:
        raise ValueError("give treatment= or group=")
    y, X, T = _twfe_design(data, outcome, unit, time, [D])
    n_units = data[unit].nunique()
    out = wild_cluster_test(X, y, data[cluster].to_numpy(), coef=0, r=r, weights=weights, B=B,
                            seed=seed, level=level, k_ssc=X.shape[1] + 1)
    return _result(out, term, _method("Two-way fixed effects", out, cluster), len(y))


@dataclass
class WildTableResult(TableResult):
    """Several coefficients, each with its own WCR p-value and test-inversion interval."""

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        from .attgt import _event_plot
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        t = self.table
        x = t["term"].str.replace("e=", "", regex=False).astype(float).to_numpy()
        return _event_plot(ax, x, t["estimate"], t["ci_low"], t["ci_high"],
                           title="Event study, wild cluster bootstrap intervals")


def wild_event_study(data: pd.DataFrame, *, outcome: str, unit: str, time: str, group: str,
                     cluster: str, min_e: int = -5, max_e: int = 5, ref: int = -1,
                     weights: str = "rademacher", B: int = 9999, seed: int | None = None,
                     level: float = 0.95) -> WildTableResult:
    """TWFE event study (binned end points, as :func:`evaluation.did.event_study`) with a WCR
    test and interval for every event-time coefficient (each with its own restricted model)."""
    _require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "group": group})
    _check_cluster(data, cluster)
    _nested(data, unit, cluster)
    if not (min_e <= ref <= max_e):
        raise ValueError("ref must lie between min_e and max_e")
    g = group_codes(data[group].to_numpy(), group)
    t = integer_time(data[time].to_numpy(), time)
    tr = g > 0
    e = np.clip(t - g, min_e, max_e)
    evs = [k for k in range(min_e, max_e + 1) if k != ref and k in set(np.unique(e[tr]).tolist())]
    regs = [((e == k) & tr).astype(float) for k in evs]
    y, X, T = _twfe_design(data, outcome, unit, time, regs)
    cl = data[cluster].to_numpy()
    rows = []
    for j, k in enumerate(evs):
        out = wild_cluster_test(X, y, cl, coef=j, weights=weights, B=B, seed=seed, level=level,
                                k_ssc=X.shape[1] + 1)
        rows.append({"term": f"e={k}", "estimate": out["estimate"], "se": out["se"], "statistic": out["t"],
                     "pvalue": out["pvalue"], "ci_low": out["ci_low"], "ci_high": out["ci_high"],
                     "df": np.nan, "n": len(y)})
    tab = pd.DataFrame(rows)[TIDY_COLUMNS]
    tab["n"] = tab["n"].astype("Int64")
    return WildTableResult(table=tab, method=_method(f"TWFE event study (ref e={ref})", out, cluster),
                           extra={"n_clusters": out["n_clusters"], "draws": out["draws"]})


# =============================================================================== CS aggregates
def _cs_linear(res, data, cohort_of_unit, periods, kind, max_e):
    """Cell weights ``R[c, t]`` such that the aggregate equals ``sum R[c, t] mean(y | cohort c, t)``."""
    o = res.options
    gt = res.gt
    cohorts = np.unique(cohort_of_unit)                  # 0 = never treated first
    ncoh = len(cohorts)
    n_c = np.array([(cohort_of_unit == c).sum() for c in cohorts], float)
    cidx = {int(c): i for i, c in enumerate(cohorts)}
    T = len(periods)
    tidx = {int(p): i for i, p in enumerate(periods)}
    K = len(gt)
    L = np.zeros((K, ncoh, T))                           # ATT(g,t) as weights on cell means
    for k, (gg, tt, bb) in enumerate(zip(gt["group"], gt["time"], gt["base_period"])):
        if tt == bb:
            continue
        gi, ti, bi = cidx[int(gg)], tidx[int(tt)], tidx[int(bb)]
        if o["control_group"] == "never":
            cm = cohorts == 0
        else:
            thr = max(tt, bb) + o["anticipation"]
            cm = (cohorts == 0) | ((cohorts > thr) & (cohorts != gg))
        wc = n_c * cm / (n_c * cm).sum()
        L[k, gi, ti] += 1.0
        L[k, gi, bi] -= 1.0
        L[k, :, ti] -= wc
        L[k, :, bi] += wc
    g = gt["group"].to_numpy()
    t = gt["time"].to_numpy()
    pg = n_c[[cidx[int(x)] for x in g]]
    ok = np.isfinite(gt["estimate"].to_numpy())
    A = np.zeros(K)
    if kind == "simple":
        k = np.flatnonzero(ok & (g <= t) & (t - g <= max_e))
        A[k] = pg[k] / pg[k].sum()
    elif kind == "group":
        gl = np.unique(g)
        wg = np.array([n_c[cidx[int(x)]] for x in gl])
        wg = wg / wg.sum()
        for x, w in zip(gl, wg):
            k = np.flatnonzero(ok & (g == x) & (g <= t) & (t - g <= max_e))
            A[k] += w / len(k)
    elif kind == "dynamic":
        e = t - g
        es = [x for x in np.unique(e[ok]) if 0 <= x <= max_e]
        for x in es:
            k = np.flatnonzero(ok & (e == x))
            A[k] += pg[k] / pg[k].sum() / len(es)
    elif isinstance(kind, tuple) and kind[0] == "event":
        k = np.flatnonzero(ok & (t - g == kind[1]))
        A[k] = pg[k] / pg[k].sum()
    else:
        raise ValueError("aggregate must be 'simple', 'group', 'dynamic' or ('event', e)")
    return np.einsum("k,kct->ct", A, L), cohorts


def wild_att_gt(res, data: pd.DataFrame, *, cluster: str, aggregate="simple", max_e: float = np.inf,
                r: float = 0.0, weights: str = "rademacher", B: int = 9999, seed: int | None = None,
                level: float = 0.95) -> WildResult:
    r"""WCR inference for a Callaway-Sant'Anna aggregate (no covariates, balanced panel).

    Parameters
    ----------
    res : ATTgtResult
        From :func:`evaluation.did.att_gt` on ``data`` (no covariates, balanced panel).
    data : DataFrame
        The same long panel.
    cluster : str
        Cluster column (e.g. district); units must be nested in clusters.
    aggregate : {"simple", "group", "dynamic"} or ("event", e)
        As ``res.aggregate(kind)``; ``("event", e)`` is one event-time effect.

    Notes
    -----
    Without covariates every ATT(g,t) is a fixed linear combination of cohort x period means
    (treated cohort's long difference minus the size-weighted control cohorts'), and so is every
    aggregate: ``theta = sum_{c,t} R_{ct} mu_{ct}``.  That is the coefficient combination
    ``R'b`` of the *equivalent regression* of ``y`` on a full set of cohort x period dummies,
    whose cluster-robust variance is the clustered influence-function variance used by R ``did``
    (without the estimation effect of the cohort shares).  This function runs the restricted wild
    cluster bootstrap of that regression (null ``R'b = r`` imposed), as fwildclusterboot would.
    R ``did``'s ``mboot`` and diff-diff instead draw multipliers on the cluster sums of the
    influence function without imposing the null and form ``est +- crit x IQR-SE`` intervals.
    The weights are checked against ``res.aggregate(...)``: the estimate must agree to 1e-8.

    Where whole cohorts are single clusters (one district per adoption date), the cluster sums of
    those cohorts' residuals vanish, the variance rests on the comparison clusters alone, and no
    cluster-based method is reliable: use :func:`evaluation.did.randomization_inference`.
    """
    o = res.options
    if o.get("covariates"):
        raise ValueError("wild_att_gt supports att_gt results without covariates; the equivalent "
                         "regression with covariates is not a cell-means regression")
    if not o.get("balanced", True):
        raise ValueError("wild_att_gt needs a balanced panel (att_gt with allow_unbalanced_panel on an "
                         "unbalanced panel uses repeated cross-section estimators)")
    _require_columns(data, {"outcome": o["outcome"], "unit": o["unit"], "time": o["time"],
                            "group": o["group"]})
    _check_cluster(data, cluster)
    _nested(data, o["unit"], cluster)
    u, uid = pd.factorize(data[o["unit"]].to_numpy())
    gcode = group_codes(data[o["group"]].to_numpy(), o["group"])
    tt = integer_time(data[o["time"]].to_numpy(), o["time"])
    periods = np.unique(tt)
    if periods[-1] < gcode.max():
        gcode = np.where(gcode > periods[-1], 0, gcode)
    coh_u = np.zeros(len(uid), np.int64)
    coh_u[u] = gcode
    Rct, cohorts = _cs_linear(res, data, coh_u, periods, aggregate, max_e)
    ncoh, T = Rct.shape
    ci_ = np.searchsorted(cohorts, gcode)
    ti_ = np.searchsorted(periods, tt)
    cell = ci_ * T + ti_
    cl, clid = pd.factorize(data[cluster].to_numpy(), sort=True)
    G = len(clid)
    key = cl * (ncoh * T) + cell
    y = data[o["outcome"]].to_numpy(float)
    nk = np.bincount(key, minlength=G * ncoh * T).reshape(G, ncoh * T)
    sk = np.bincount(key, weights=y, minlength=G * ncoh * T).reshape(G, ncoh * T)
    keep = nk.sum(axis=0) > 0
    Rv = Rct.ravel()[keep]
    gg, cc = np.nonzero(nk[:, keep])
    w = nk[:, keep][gg, cc].astype(float)
    Xa = np.zeros((len(gg), keep.sum()))
    Xa[np.arange(len(gg)), cc] = np.sqrt(w)
    ya = sk[:, keep][gg, cc] / np.sqrt(w)
    kind = aggregate if isinstance(aggregate, str) else f"e={aggregate[1]}"
    ref = (res.aggregate(aggregate, max_e=max_e).estimate if isinstance(aggregate, str)
           else float(res.aggregate("dynamic").components.set_index("value").loc[aggregate[1], "estimate"]))
    mine = float(Rv @ (sk[:, keep].sum(axis=0) / nk[:, keep].sum(axis=0)))
    if not np.isclose(mine, ref, rtol=1e-8, atol=1e-10):
        raise RuntimeError(f"internal check failed: the linear form of the {kind} aggregate gives {mine:.10g} "
                           f"but att_gt gives {ref:.10g}; please report this")
    out = wild_cluster_test(Xa, ya, clid[gg], coef=Rv, r=r, weights=weights, B=B, seed=seed, level=level)
    out["estimate"] = ref
    res_ = _result(out, f"ATT ({kind})", _method(f"Callaway-Sant'Anna aggregate ({kind}) by its equivalent "
                                                  "cohort x period regression", out, cluster), len(uid))
    res_.extra = {"n_units": int(len(uid))}
    return res_
