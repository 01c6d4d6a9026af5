"""Weighted least squares with robust and cluster-robust variances exactly as R estimatr ``lm_robust``.

Private to :mod:`evaluation.matching` (evaluation.rct's solver has no weights yet); to be merged.

With weights ``w`` estimatr rescales them to mean one (``w~ = w / mean(w)``) and fits OLS on
``sqrt(w~) X``, ``sqrt(w~) y``.  Variances (``B = (X'W~X)^{-1}``):

* HC0/HC1/HC2/HC3, CR0, "stata" (CR1): the usual sandwiches on the sqrt-weighted data, df ``N - K``
  (HC) or ``J - 1`` (CR0, stata).
* CR2 (default with clusters): Bell & McCaffrey (2002) bias-reduced linearisation in the form of
  Pustejovsky & Tipton (2018), as estimatr (following clubSandwich) implements it for weights:
  residuals ``e = y - X b`` are unweighted, ``A_g = (I - H_g - H_g' + X_g M X_g')^{-1/2}`` with
  ``H_g = X_g B X_g' W~_g`` and ``M = B X'W~^2 X B`` (eigenvalues < 1e-12 set to zero), and
  ``V = B (sum_g X_g'W~_g A_g e_g e_g' A_g W~_g X_g) B``.  Degrees of freedom are the
  Bell–McCaffrey Satterthwaite approximation per coefficient, ``tr(P)^2 / ||P||_F^2``, computed in
  O(J K^2) from K x K cross products instead of the J x J matrix ``P``.

Clusters are processed in batches of equal size, so there is no Python loop over clusters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SE_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3", "CR0", "stata", "CR2")


@dataclass
class WLSFit:
    coef: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    df: np.ndarray
    n: int
    n_clusters: int | None
    se_type: str


def _inv_sqrt_psd(A: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Batched symmetric inverse square root with eigenvalues below ``tol`` set to zero."""
    vals, vecs = np.linalg.eigh(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(vals > tol, 1.0 / np.sqrt(np.where(vals > tol, vals, 1.0)), 0.0)
    return (vecs * d[..., None, :]) @ np.swapaxes(vecs, -1, -2)


def _chol_lower(A: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:  # pragma: no cover - near-singular; fall back to a PSD root
        vals, vecs = np.linalg.eigh(A)
        return vecs * np.sqrt(np.clip(vals, 0, None))


def wls(X, y, *, weights=None, clusters=None, se_type: str | None = None) -> WLSFit:
    """Fit ``y ~ X`` by (weighted) least squares with estimatr ``lm_robust`` variances.

    Parameters
    ----------
    X : (N, K) array, full column rank (an intercept column if wanted).
    y : (N,) array.
    weights : (N,) non-negative array or None.  Rows with zero weight are dropped first.
    clusters : (N,) labels or None.
    se_type : one of ``SE_TYPES``; default ``"CR2"`` with clusters, ``"HC2"`` without (estimatr).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    n0 = X.shape[0]
    keep = np.ones(n0, dtype=bool)
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError("weights must be finite and non-negative")
        keep &= weights > 0
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("outcome or regressors contain missing/non-finite values")
    X, y = X[keep], y[keep]
    w = weights[keep] if weights is not None else None
    cl = None
    if clusters is not None:
        cl_raw = np.asarray(clusters)[keep]
        if pd_isna(cl_raw).any():
            raise ValueError("cluster variable has missing values among units with positive weight")
        _, cl = np.unique(cl_raw, return_inverse=True)
    if se_type is None:
        se_type = "CR2" if cl is not None else "HC2"
    if se_type not in SE_TYPES:
        raise ValueError(f"se_type {se_type!r} not supported; use one of {SE_TYPES}")
    if se_type in ("CR0", "CR2") and cl is None:
        raise ValueError(f"se_type {se_type!r} needs clusters")
    if se_type == "stata" and cl is None:
        se_type = "HC1"
    n, k = X.shape
    if n <= k:
        raise ValueError(f"only {n} observations with positive weight for {k} coefficients")
    # order by cluster (as estimatr); results do not depend on it
    if cl is not None:
        o = np.argsort(cl, kind="stable")
        X, y, cl = X[o], y[o], cl[o]
        w = w[o] if w is not None else None
    if w is not None:
        wt = w / w.mean()
        s = np.sqrt(wt)
    else:
        wt = np.ones(n)
        s = np.ones(n)
    Xs, ys = X * s[:, None], y * s
    xtx = Xs.T @ Xs
    if np.linalg.matrix_rank(xtx) < k:
        raise ValueError("regression design is rank deficient: a covariate is constant in the matched "
                         "sample or collinear with treatment; drop it")
    B = np.linalg.inv(xtx)
    coef = B @ (Xs.T @ ys)
    J = None
    if se_type == "CR2":
        e = y - X @ coef
        Xw = X * wt[:, None]
        V, df = _cr2(X, Xw, e, cl, B)
        J = int(cl.max()) + 1
    else:
        es = ys - Xs @ coef
        if se_type == "classical":
            V = B * (es @ es) / (n - k)
            df = np.full(k, n - k, dtype=float)
        elif se_type in ("HC0", "HC1", "HC2", "HC3"):
            om = es ** 2
            if se_type in ("HC2", "HC3"):
                h = np.einsum("ij,jk,ik->i", Xs, B, Xs)
                om = om / (1 - h) ** (1 if se_type == "HC2" else 2)
            V = B @ ((Xs * om[:, None]).T @ Xs) @ B
            if se_type == "HC1":
                V = V * n / (n - k)
            df = np.full(k, n - k, dtype=float)
        else:  # CR0 / stata
            J = int(cl.max()) + 1
            S = np.zeros((J, k))
            np.add.at(S, cl, Xs * es[:, None])
            V = B @ (S.T @ S) @ B
            if se_type == "stata":
                V = V * (J * (n - 1)) / ((J - 1) * (n - k))
            df = np.full(k, J - 1, dtype=float)
    se = np.sqrt(np.diag(V))
    return WLSFit(coef=coef, vcov=V, se=se, df=df, n=n, n_clusters=J, se_type=se_type)


def pd_isna(a) -> np.ndarray:
    import pandas as pd
    return pd.isna(pd.Series(a)).to_numpy()


def _cr2(Xu, Xw, e, cl, B):
    """CR2 vcov and Bell–McCaffrey df (estimatr ``lm_variance_cr2``), batched by cluster size."""
    n, k = Xu.shape
    J = int(cl.max()) + 1
    sizes = np.bincount(cl, minlength=J)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    M = B @ (Xw.T @ Xw) @ B
    Lu = _chol_lower(B)
    Lo = _chol_lower(M)
    half_meat = np.zeros((J, k))
    H1 = np.zeros((J, k, k))
    H2 = np.zeros((J, k, k))
    H3 = np.zeros((J, k, k))
    Pd = np.zeros((J, k))
    for m in np.unique(sizes):
        g = np.flatnonzero(sizes == m)
        idx = starts[g][:, None] + np.arange(m)[None, :]          # (G, m)
        Xu_g, Xw_g, e_g = Xu[idx], Xw[idx], e[idx]                # (G, m, k), (G, m)
        H = Xu_g @ B @ np.swapaxes(Xw_g, 1, 2)                   # (G, m, m)
        A = np.eye(m)[None] - H - np.swapaxes(H, 1, 2) + Xu_g @ M @ np.swapaxes(Xu_g, 1, 2)
        AW = _inv_sqrt_psd(A) @ Xw_g                              # (G, m, k)
        half_meat[g] = np.einsum("gm,gmk->gk", e_g, AW)
        ME = B[None] @ np.swapaxes(AW, 1, 2)                      # (G, k, m)
        Pd[g] = np.sum(ME ** 2, axis=2)
        MEU = ME @ Xu_g                                           # (G, k, k)
        H1[g] = MEU @ Lu
        H2[g] = ME @ Xw_g @ Lu
        H3[g] = MEU @ Lo
    V = B @ (half_meat.T @ half_meat) @ B
    df = np.empty(k)
    for j in range(k):
        a, b1, b2, d = H3[:, j, :], H1[:, j, :], H2[:, j, :], Pd[:, j]
        ab = np.sum(a * a, axis=1)
        bb = np.sum(b1 * b2, axis=1)
        tr = ab.sum() - 2 * bb.sum() + d.sum()
        AtA = a.T @ a
        nA = np.sum(AtA * AtA)
        nB = np.trace((b1.T @ b1) @ (b2.T @ b2))
        BBt = np.trace((b1.T @ b2) @ (b1.T @ b2))
        AB = np.trace((a.T @ b1) @ (b2.T @ a))
        fro = nA + 2 * nB + np.sum(d * d) - 4 * AB + 2 * np.sum(ab * d) + 2 * BBt - 4 * np.sum(bb * d)
        df[j] = tr ** 2 / fro
    return V, df


def _cr2_df_dense(Xu, Xw, e, cl, B):  # pragma: no cover - reference for tests (J x J matrices)
    n, k = Xu.shape
    J = int(cl.max()) + 1
    M = B @ (Xw.T @ Xw) @ B
    Lu, Lo = _chol_lower(B), _chol_lower(M)
    H1 = np.zeros((k, k * J)); H2 = np.zeros((k, k * J)); H3 = np.zeros((k, k * J)); P = np.zeros((k, J))
    for g in range(J):
        i = cl == g
        Xu_g, Xw_g = Xu[i], Xw[i]
        H = Xu_g @ B @ Xw_g.T
        A = np.eye(i.sum()) - H - H.T + Xu_g @ M @ Xu_g.T
        AW = _inv_sqrt_psd(A) @ Xw_g
        ME = B @ AW.T
        P[:, g] = np.sum(ME ** 2, axis=1)
        MEU = ME @ Xu_g
        H1[:, g * k:(g + 1) * k] = MEU @ Lu
        H2[:, g * k:(g + 1) * k] = ME @ Xw_g @ Lu
        H3[:, g * k:(g + 1) * k] = MEU @ Lo
    out = []
    for j in range(k):
        h1 = H1[j].reshape(J, k).T; h2 = H2[j].reshape(J, k).T; h3 = H3[j].reshape(J, k).T
        uf = h1.T @ h2
        PA = h3.T @ h3 - uf - uf.T + np.diag(P[j])
        out.append(np.trace(PA) ** 2 / np.sum(PA ** 2))
    return np.array(out)
