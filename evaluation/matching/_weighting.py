"""Weighting estimators (IPW, entropy balancing) and coarsened exact matching."""
from __future__ import annotations


import numpy as np
import pandas as pd

from ._core import (NoOverlapError, WeightedSample, _check_overlap, _fit_ps, _flow_frame,
                    _prepare, check_min_participants)
from ._design import build_design, referenced_columns


def _setup(data, treatment, covariates, estimand, missing, min_participants):
    """Common first steps of the weighting estimators: check the estimand, prepare the rows
    (missing covariates per ``missing``), check the minimum participants, build the design."""
    estimand = str(estimand).upper()
    if estimand not in ("ATT", "ATC", "ATE"):
        raise ValueError(f"estimand must be 'ATT', 'ATC' or 'ATE'; got {estimand!r}")
    cols = referenced_columns(data, covariates)
    data, t, flow, miss = _prepare(data, treatment, cols, missing)
    if min_participants is not None:
        check_min_participants(int(t.sum()), minimum=min_participants)
    return estimand, data, t, flow, miss, build_design(data, covariates)


def ipw(data: pd.DataFrame, *, treatment: str, covariates, estimand: str = "ATT",
        link: str = "logit", trim: float | None = None, missing: str = "error",
        min_participants: int | None = None) -> WeightedSample:
    """Inverse-probability-of-treatment weights for the ATT or ATE.

    Parameters
    ----------
    data, treatment, covariates, link, missing : as :func:`nearest_neighbor`.
    estimand : "ATT" (participants 1, comparison units ``e/(1-e)``), "ATC" (participants
        ``(1-e)/e``, comparison units 1) or "ATE" (``1/e`` and ``1/(1-e)``), as WeightIt.
    trim : exclude units with a propensity score outside ``[trim, 1 - trim]`` (common-support
        trimming, e.g. 0.01 or 0.05); exclusions are counted in ``flow``.

    Notes
    -----
    The effect (:meth:`WeightedSample.effect`) is the weighted difference in means (a weighted
    regression of the outcome on treatment) with HC2 robust standard errors, as
    ``lm_robust(y ~ treat, weights = w)``; these ignore the estimation of the propensity score
    (conservative for the ATE; Hirano, Imbens & Ridder 2003).
    """
    estimand, data, t, flow, miss, design = _setup(data, treatment, covariates, estimand,
                                                   missing, min_participants)
    ps = _fit_ps(design, t, link)
    _check_overlap(ps.score, t)
    e = ps.score
    keep = np.ones(t.size, dtype=bool)
    if trim is not None:
        if not 0 < trim < 0.5:
            raise ValueError("trim must be in (0, 0.5)")
        keep = (e >= trim) & (e <= 1 - trim)
        flow.append({"step": f"propensity score outside [{trim}, {1 - trim}] (trimmed)",
                     "treated": int(((t == 1) & keep).sum()), "control": int(((t == 0) & keep).sum()),
                     "excluded_treated": int(((t == 1) & ~keep).sum()),
                     "excluded_control": int(((t == 0) & ~keep).sum())})
        if ((t == 1) & keep).sum() == 0 or ((t == 0) & keep).sum() == 0:
            raise NoOverlapError(f"trimming at {trim} leaves no treated or no comparison units")
    if estimand == "ATT":
        w = np.where(t == 1, 1.0, e / (1 - e))
    elif estimand == "ATC":
        w = np.where(t == 1, (1 - e) / e, 1.0)
    else:
        w = np.where(t == 1, 1 / e, 1 / (1 - e))
    w = np.where(keep, w, 0.0)
    flow.append({"step": "weighted sample", "treated": int(((t == 1) & keep).sum()),
                 "control": int(((t == 0) & keep).sum()), "excluded_treated": 0,
                 "excluded_control": 0})
    return WeightedSample(data=data, treatment=treatment, treat=t, weights=w, design=design,
                          method=f"Inverse probability weighting ({estimand}, {link} propensity score"
                                 + (f", trimmed at {trim}" if trim else "") + ")",
                          estimand=estimand, ps=ps, distance=e, flow=_flow_frame(flow),
                          missing=miss, options={"estimand": estimand, "trim": trim, "link": link},
                          extra={"discarded": ~keep})


def _ebal_weights(C: np.ndarray, target: np.ndarray, base: np.ndarray, max_iter: int, tol: float):
    """Entropy-balancing weights: minimise sum w log(w/q) s.t. sum w = 1, sum w c = target.

    Dual (Hainmueller 2012): minimise ``log sum_i q_i exp(lambda'(c_i - target))`` over lambda by
    Newton's method with backtracking; ``w_i ∝ q_i exp(lambda'(c_i - target))``.
    """
    scale = C.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (C - target) / scale
    q = base / base.sum()
    lam = np.zeros(Z.shape[1])

    def f(l):
        a = Z @ l
        m = a.max()
        return m + np.log(np.sum(q * np.exp(a - m)))

    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        a = Z @ lam
        a -= a.max()
        w = q * np.exp(a)
        w /= w.sum()
        g = w @ Z
        if np.max(np.abs(g)) < tol:
            converged = True
            break
        H = (Z * w[:, None]).T @ Z - np.outer(g, g)
        step = np.linalg.lstsq(H + 1e-12 * np.eye(H.shape[0]), g, rcond=None)[0]
        f0, s = f(lam), 1.0
        while f(lam - s * step) > f0 - 1e-4 * s * (g @ step) and s > 1e-10:
            s /= 2
        lam = lam - s * step
    a = Z @ lam
    a -= a.max()
    w = q * np.exp(a)
    w /= w.sum()
    return w, converged, it, float(np.max(np.abs(w @ Z)))


def entropy_balance(data: pd.DataFrame, *, treatment: str, covariates, estimand: str = "ATT",
                    moments: int = 1, base_weights=None, max_iter: int = 200, tol: float = 1e-8,
                    missing: str = "error", min_participants: int | None = None) -> WeightedSample:
    """Entropy balancing (Hainmueller 2012): comparison weights that exactly match the
    participants' covariate means (and variances with ``moments=2``).

    Parameters
    ----------
    estimand : "ATT" reweights comparison units to the participants' moments, "ATC"
        participants to the comparison units' moments; "ATE" reweights both groups to the
        whole-sample moments.
    moments : 1 (means) or 2 (means and squares of non-binary covariates).
    base_weights : optional base weights ``q`` (column name or array) for the comparison units.
    tol : convergence tolerance on the largest standardised imbalance.

    Notes
    -----
    Weights ``w_i ∝ q_i exp(λ'c_i)`` solve the dual problem
    ``min_λ log Σ_i q_i exp(λ'(c_i − m))`` (m the target moments) by Newton's method; if the
    targets lie outside the convex hull of the comparison units no solution exists and a
    ``ValueError`` reports the remaining imbalance.  Effects use HC2 robust standard errors.
    """
    estimand, data, t, flow, miss, design = _setup(data, treatment, covariates, estimand,
                                                   missing, min_participants)
    C = design.model.drop(columns=["Intercept"]).to_numpy(dtype=float)
    names = [c for c in design.model.columns if c != "Intercept"]
    if moments == 2:
        nb = [j for j in range(C.shape[1]) if not np.all((C[:, j] == 0) | (C[:, j] == 1))]
        C = np.column_stack([C] + [C[:, j] ** 2 for j in nb])
        names = names + [f"{names[j]}^2" for j in nb]
    elif moments != 1:
        raise ValueError("moments must be 1 or 2")
    # drop constraints that are constant or collinear in the reweighted group(s)
    q = np.ones(t.size)
    if base_weights is not None:
        q = (data[base_weights].to_numpy(dtype=float) if isinstance(base_weights, str)
             else np.asarray(base_weights, dtype=float))
    w = np.ones(t.size)
    info = {}
    groups = {"ATT": [(0, C[t == 1].mean(axis=0))], "ATC": [(1, C[t == 0].mean(axis=0))],
              "ATE": [(0, C.mean(axis=0)), (1, C.mean(axis=0))]}[estimand]
    for g, target in groups:
        idx = t == g
        Cg = C[idx]
        keepc = _independent_columns(Cg)
        wg, conv, it, imb = _ebal_weights(Cg[:, keepc], target[keepc], q[idx], max_iter, tol)
        if not conv:
            raise ValueError(f"entropy balancing did not converge for the {'comparison' if g == 0 else 'treated'} "
                             f"group after {it} iterations (largest standardised imbalance {imb:.3g}): "
                             "the target moments are (nearly) outside the range of these units; use "
                             "fewer/coarser covariates or trim the sample")
        w[idx] = wg * idx.sum()
        info[f"iterations_{g}"] = it
    if estimand == "ATT":
        w[t == 1] = 1.0
    elif estimand == "ATC":
        w[t == 0] = 1.0
    flow.append({"step": "weighted sample", "treated": int(t.sum()), "control": int((t == 0).sum()),
                 "excluded_treated": 0, "excluded_control": 0})
    return WeightedSample(data=data, treatment=treatment, treat=t, weights=w, design=design,
                          method=f"Entropy balancing ({estimand}, {'means' if moments == 1 else 'means and variances'})",
                          estimand=estimand, flow=_flow_frame(flow), missing=miss,
                          options={"estimand": estimand, "moments": moments},
                          extra={"constraints": names, **info})


def _independent_columns(C: np.ndarray) -> np.ndarray:
    """Indices of a maximal set of non-constant, linearly independent columns (greedy QR)."""
    keep = []
    sd = C.std(axis=0)
    Zc = C - C.mean(axis=0)
    for j in range(C.shape[1]):
        if sd[j] <= 1e-12:
            continue
        trial = keep + [j]
        if np.linalg.matrix_rank(Zc[:, trial] / sd[trial]) == len(trial):
            keep.append(j)
    return np.array(keep, dtype=int)


def _coarsen(x: pd.Series, cut, n: int, name: str) -> np.ndarray:
    """Bin codes of ``x`` as MatchIt's ``cem_matchit``: categorical/binary kept as they are;
    numeric values binned with R ``findInterval`` on the breaks, i.e. half-open bins [a, b): a
    value exactly on a cut point falls into the upper bin."""
    if x.dtype == object or isinstance(x.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(x.dtype):
        return pd.factorize(x.astype(str), sort=True)[0]
    v = x.to_numpy(dtype=float)
    if isinstance(cut, str):
        if cut.lower() != "sturges":
            raise ValueError(f"cutpoints[{name!r}] = {cut!r}: use 'sturges', a number of bins, a list "
                             "of cut points, or 0 for no coarsening")
        cut = None
    if cut is not None and np.isscalar(cut) and float(cut) == 0:
        return pd.factorize(v, sort=True)[0]                  # MatchIt: 0 = not binned
    u = np.unique(v)
    if cut is None and u.size <= 2:
        return np.searchsorted(u, v)
    if cut is None or np.isscalar(cut):
        k = int(np.ceil(np.log2(n) + 1)) if cut is None else int(cut)   # Sturges (nclass.Sturges)
        if cut is not None and (k != float(cut) or k < 1):
            raise ValueError(f"cutpoints[{name!r}] = {cut!r}: a number of bins must be a positive "
                             "integer")
        inner = np.linspace(v.min(), v.max(), k + 1)[1:-1]    # R seq(min, max, length = k + 1)
    else:
        inner = np.unique(np.asarray(cut, dtype=float))       # breaks c(-Inf, cuts, Inf)
        if not np.all(np.isfinite(inner)):
            raise ValueError(f"cutpoints[{name!r}] must be finite numbers")
    return np.searchsorted(inner, v, side="right")            # findInterval: [a, b)


def cem(data: pd.DataFrame, *, treatment: str, covariates, cutpoints: dict | None = None,
        estimand: str = "ATT", missing: str = "error",
        min_participants: int | None = None) -> WeightedSample:
    """Coarsened exact matching (Iacus, King & Porro 2012).

    Numeric covariates are cut into bins as MatchIt's ``cem_matchit`` (``cutpoints[col]``: a
    number of equal-width bins between the minimum and maximum, a list of cut points, or 0 for no
    coarsening; default Sturges' rule ``ceil(log2 n + 1)`` equal-width bins).  Bins are half-open
    ``[a, b)`` as R ``findInterval``: a value exactly on a cut point falls into the upper bin.
    Categorical and binary covariates are used as they are.  Strata (subclasses) are the cells of
    the cross-classification that hold both participants and comparison units; units in other
    cells are unmatched (counted in ``flow``).

    Weights (MatchIt's ``get_weights_from_subclass``, then normalised to sum to the matched count
    of each group): ATT — participants 1, comparison units ``n1_s / n0_s``; ATC — comparison
    units 1, participants ``n0_s / n1_s``; ATE — ``1 + n0_s / n1_s`` and ``1 + n1_s / n0_s``.
    Effects cluster on the stratum.
    """
    estimand = str(estimand).upper()
    if estimand not in ("ATT", "ATC", "ATE"):
        raise ValueError(f"cem estimand must be 'ATT', 'ATC' or 'ATE' (MatchIt); got {estimand!r}")
    if isinstance(covariates, str):
        raise ValueError("cem takes a list of columns (coarsening is per column), not a formula")
    cols = referenced_columns(data, covariates)
    data, t, flow, miss = _prepare(data, treatment, cols, missing)
    if min_participants is not None:
        check_min_participants(int(t.sum()), minimum=min_participants)
    cutpoints = cutpoints or {}
    unknown = sorted(set(cutpoints) - set(cols))
    if unknown:
        raise ValueError(f"cutpoints name column(s) {unknown} that are not among the covariates "
                         f"{cols}")
    n = t.size
    codes = np.column_stack([_coarsen(data[c], cutpoints.get(c), n, c) for c in cols])
    stratum = pd.factorize(pd.MultiIndex.from_arrays(codes.T))[0] if codes.shape[1] > 1 else codes[:, 0]
    stratum = np.asarray(stratum, dtype=np.int64)
    k = stratum.max() + 1
    n1s = np.bincount(stratum, weights=(t == 1), minlength=k)
    n0s = np.bincount(stratum, weights=(t == 0), minlength=k)
    ok = (n1s > 0) & (n0s > 0)
    matched = ok[stratum]
    if not matched.any():
        raise NoOverlapError(f"coarsened exact matching found no stratum with both groups "
                             f"({k} strata); coarsen more (fewer bins) or use fewer covariates")
    w = np.zeros(n)
    tm, c = (t == 1) & matched, (t == 0) & matched
    r01 = n0s[stratum] / np.where(n1s[stratum] > 0, n1s[stratum], 1)   # n0_s / n1_s
    r10 = n1s[stratum] / np.where(n0s[stratum] > 0, n0s[stratum], 1)   # n1_s / n0_s
    if estimand == "ATT":
        w[tm], w[c] = 1.0, r10[c]
    elif estimand == "ATC":
        w[tm], w[c] = r01[tm], 1.0
    else:
        w[tm], w[c] = 1 + r01[tm], 1 + r10[c]
    w[tm] *= tm.sum() / w[tm].sum()                               # MatchIt .make_sum_to_n
    w[c] *= c.sum() / w[c].sum()
    sub = np.where(matched, stratum.astype(float), np.nan)
    # renumber subclasses 1..S in order of appearance
    lab = pd.factorize(pd.Series(sub).dropna())[0] + 1
    sub[matched] = lab
    flow.append({"step": "in a stratum without the other group", "treated": int(((t == 1) & matched).sum()),
                 "control": int(((t == 0) & matched).sum()),
                 "excluded_treated": int(((t == 1) & ~matched).sum()),
                 "excluded_control": int(((t == 0) & ~matched).sum())})
    flow.append({"step": "matched sample", "treated": int(((t == 1) & matched).sum()),
                 "control": int(((t == 0) & matched).sum()), "excluded_treated": 0, "excluded_control": 0})
    design = build_design(data, cols)
    return WeightedSample(data=data, treatment=treatment, treat=t, weights=w, design=design,
                          method=f"Coarsened exact matching ({estimand})", estimand=estimand,
                          subclass=sub, flow=_flow_frame(flow), missing=miss,
                          options={"cutpoints": cutpoints, "estimand": estimand},
                          extra={"n_strata": int(ok.sum()), "strata": stratum})
