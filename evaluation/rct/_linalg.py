"""Least squares with heteroskedasticity- and cluster-robust variances, as R estimatr ``lm_robust``.

Everything here works on arrays; clusters enter only through segment sums (``np.bincount``), so
the cost is linear in the number of observations and there is no Python loop over units.

Variance types (estimatr's definitions, see its "Mathematical notes" vignette):

==========  =================================================================  =====================
se_type     variance                                                            degrees of freedom
==========  =================================================================  =====================
HC0         ``B X' diag(e²) X B``                                               N − K
HC1         ``N/(N−K) × HC0``                                                   N − K
HC2         ``B X' diag(e²/(1−h)) X B``                                         N − K
HC3         ``B X' diag(e²/(1−h)²) X B``                                        N − K
CR0         ``B Σ_s X_s' e_s e_s' X_s B``                                       S − 1
CR1         ``(N−1)/(N−K) · S/(S−1) × CR0`` (estimatr ``"stata"``)              S − 1
CR2         ``B Σ_s X_s' A_s e_s e_s' A_s X_s B``, ``A_s = (I − H_ss)^{-1/2}``  Bell–McCaffrey
==========  =================================================================  =====================

``B = (X'X)^{-1}``.  CR2 is Bell & McCaffrey (2002) in the form of Pustejovsky & Tipton (2018),
with the symmetric square root of the Moore–Penrose inverse (eigenvalues below 1e-12 set to zero),
and per-coefficient Satterthwaite degrees of freedom
``df_k = (Σ_s p_s'p_s)² / Σ_s Σ_t (p_s'p_t)²``, ``p_s = (I − H)_s' A_s W_s X_s B z_k``.

Weights (``weights=``, estimatr ``lm_robust(weights = w)``): weighted least squares with
``W = diag(w / mean(w))`` and ``B = (X'WX)^{-1}``.  Classical, HC0–HC3, CR0 and CR1 are the formulas
above applied to the sqrt(w)-transformed data ``W^{1/2} X``, ``W^{1/2} e`` (so ``h_i = w_i x_i'B x_i``).
CR2 is *not* the transformed-data CR2: estimatr (following clubSandwich, working model I) uses
unweighted residuals ``e = y − Xb`` and ``V = B Σ_s X_s'W_s A_s e_s e_s' A_s W_s X_s B`` with
``A_s = [(I − H)_s (I − H)_s']^{-1/2} = (I − H_ss − H_ss' + X_s M X_s')^{-1/2}``, ``H = X B X'W``,
``M = B X'W²X B`` (src/lm_robust_helper.cpp, ``lm_variance_cr2``).  Without weights both coincide
with the table.

Implementation note: every CR2 adjustment matrix has the form ``C_s = I + Z_s Q Z_s'`` with a
low-rank ``Z_s`` (``Z = X``, ``Q = −B`` unweighted; ``Z = [X, WX]``, ``Q = [[M, −B], [−B, 0]]``
weighted), so ``C_s^{-1/2} = I + Z_s R_s Z_s'`` with ``R_s`` a q × q function of the Gram matrix
``G_s = Z_s'Z_s`` (:func:`_cr2_factors`).  Only ``G_s`` and ``Z_s'e_s`` are needed, both segment
sums; the N × N hat matrix is never formed, and there is no loop over clusters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HC_TYPES = ("HC0", "HC1", "HC2", "HC3")
CR_TYPES = ("CR0", "CR1", "CR2")
SE_TYPES = HC_TYPES + CR_TYPES + ("classical",)
_EIG_TOL = 1e-12


@dataclass
class OLSFit:
    beta: np.ndarray          # (K,)
    vcov: np.ndarray          # (K, K)
    df: np.ndarray            # (K,) residual degrees of freedom per coefficient
    resid: np.ndarray         # (N,)
    bread: np.ndarray         # (K, K) = (X'X)^{-1}
    n: int
    k: int
    n_clusters: int | None
    se_type: str
    influence: np.ndarray | None = None   # (N or S, K) adjusted scores with vcov = inf' inf

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.vcov), 0, None))


def _segment_sum(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum rows of ``values`` (N, ...) within groups -> (n_groups, ...)."""
    flat = values.reshape(values.shape[0], -1)
    out = np.empty((n_groups, flat.shape[1]))
    for j in range(flat.shape[1]):           # loop over columns (K or K²), not over units
        out[:, j] = np.bincount(codes, weights=flat[:, j], minlength=n_groups)
    return out.reshape((n_groups,) + values.shape[1:])


def _cluster_crossprods(X: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """F_s = X_s'X_s for every cluster, shape (S, K, K), by K(K+1)/2 bincounts."""
    k = X.shape[1]
    F = np.empty((n_groups, k, k))
    for a in range(k):
        for b in range(a, k):
            s = np.bincount(codes, weights=X[:, a] * X[:, b], minlength=n_groups)
            F[:, a, b] = s
            F[:, b, a] = s
    return F


def _k_of(lam: np.ndarray) -> np.ndarray:
    """``k(λ) = (h(λ) − h(0))/λ`` with ``h(λ) = (f(1+λ) − 1)/λ``, ``f(x) = x^{-1/2}`` (0 for x ≤ 1e-12).

    Accurate for small ``|λ|`` (Taylor series of ``(1+λ)^{-1/2}``), where the difference quotient
    would cancel.
    """
    lam = np.asarray(lam, dtype=float)
    small = np.abs(lam) < 1e-3
    sing = 1.0 + lam <= _EIG_TOL
    ls = np.where(small, 1.0, lam)                              # safe λ for the closed forms
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.where(sing, -1.0 / ls, np.expm1(-0.5 * np.log1p(np.where(sing, 0.0, ls))) / ls)
        k = (h + 0.5) / ls
    series = 3 / 8 + lam * (-5 / 16 + lam * (35 / 128 + lam * (-63 / 256 + lam * 231 / 1024)))
    return np.where(small, series, k)


def _cr2_factors(G: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """R_s (S, q, q) with ``(I + Z_s Q Z_s')^{-1/2} = I + Z_s R_s Z_s'`` for every cluster.

    ``G`` (S, q, q) holds ``G_s = Z_s'Z_s``; ``Q`` (q, q) is symmetric (indefinite in the weighted
    case).  With ``S_s = G_s^{1/2}`` and ``T_s = S_s Q S_s = V Λ V'`` (same non-zero spectrum as
    ``Z_s Q Z_s'``), ``R_s = −Q/2 + Q S_s V k(Λ) V' S_s Q`` (power series of ``h(QG)Q``; see
    :func:`_k_of`).  No inverse of ``G_s`` is needed, so tiny or collinear clusters are fine.
    """
    g, U = np.linalg.eigh(G)
    Sh = (U * np.sqrt(np.clip(g, 0.0, None))[:, None, :]) @ np.swapaxes(U, 1, 2)
    lam, V = np.linalg.eigh(Sh @ Q @ Sh)
    QSV = Q @ Sh @ V                                            # (S, q, q)
    return -0.5 * Q + (QSV * _k_of(lam)[:, None, :]) @ np.swapaxes(QSV, 1, 2)


def ols(X: np.ndarray, y: np.ndarray, *, se_type: str = "HC2", clusters: np.ndarray | None = None,
        df_for=None, keep_influence: bool = False, weights: np.ndarray | None = None) -> OLSFit:
    """OLS (or weighted LS) with estimatr-compatible robust variance.

    Parameters
    ----------
    X : (N, K) design matrix (full column rank; an error names the problem otherwise).
    y : (N,) outcome.
    se_type : one of :data:`SE_TYPES` (``"stata"`` is accepted as an alias of CR1/HC1).
    clusters : (N,) integer codes 0..S-1 (required for CR types).
    df_for : indices of coefficients for which CR2 Bell–McCaffrey df are computed (default all).
    keep_influence : keep the score rows ``inf`` (per observation for HC, per cluster for CR) with
        ``vcov = c · inf' inf`` (``c`` the HC1/CR1 factor, 1 otherwise).
    weights : (N,) positive observation weights (estimatr ``lm_robust(weights=)``, rescaled to mean
        one); ``bread`` is then ``(X'WX)^{-1}`` and ``resid`` the unweighted ``y − Xb``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (n,) or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise ValueError("weights must be finite and positive, one per row (drop zero-weight rows)")
        weights = weights / weights.mean()
        Xw = X * weights[:, None]
    else:
        Xw = X
    xtx = Xw.T @ X
    rank = np.linalg.matrix_rank(xtx)
    if rank < k:
        raise ValueError(f"design matrix is rank deficient (rank {rank} < {k} columns): a covariate is "
                         "constant or collinear with treatment/strata; drop it")
    bread = np.linalg.inv(xtx)
    beta = bread @ (Xw.T @ y)
    e = y - X @ beta
    vcov, df, infl, s, st = robust_vcov(X, e, bread, se_type=se_type, clusters=clusters, df_for=df_for,
                                        weights=weights)
    return OLSFit(beta=beta, vcov=vcov, df=df, resid=e, bread=bread, n=n, k=k, n_clusters=s,
                  se_type=st, influence=infl if keep_influence else None)


def normalise_se_type(se_type: str, clusters) -> str:
    st = "classical" if se_type == "classical" else str(se_type).upper()
    if st == "STATA":
        st = "CR1" if clusters is not None else "HC1"
    if st not in SE_TYPES:
        raise ValueError(f"se_type {se_type!r} is not supported; use one of {SE_TYPES}")
    if st in CR_TYPES and clusters is None:
        raise ValueError(f"se_type {se_type!r} needs clusters=; use an HC type without clusters")
    if clusters is not None and st not in CR_TYPES:
        raise ValueError(f"se_type {se_type!r} ignores clusters; use CR0, CR1 or CR2 with clusters=")
    return st


def robust_vcov(X, e, bread, *, se_type="HC2", clusters=None, df_for=None, weights=None):
    """Sandwich variance for coefficients with bread ``(X'WX)^{-1}`` and residuals ``e``.

    ``X`` and ``e`` are unweighted; ``weights`` (W, any scale consistent with ``bread``) as in
    :func:`ols`.  Returns ``(vcov, df, influence, n_clusters, se_type)``.  Used by OLS and by 2SLS
    (with the second-stage regressors as ``X`` and structural residuals as ``e``, estimatr's convention).
    """
    n, k = X.shape
    se_type = normalise_se_type(se_type, clusters)
    infl = None
    n_clusters = None
    if weights is not None and se_type != "CR2":      # sqrt(w)-transformed data
        sw = np.sqrt(np.asarray(weights, dtype=float))
        X, e = X * sw[:, None], e * sw
    if se_type == "classical":
        vcov = bread * (e @ e) / (n - k)
        df = np.full(k, float(n - k))
    elif se_type in HC_TYPES:
        XB = X @ bread                             # (N, K), by BLAS; reused for the influence
        h = np.einsum("ij,ij->i", XB, X)           # leverages x_i' (X'X)^{-1} x_i
        ok = 1.0 - h > 1e-12
        safe = np.where(ok, 1.0 - h, 1.0)
        if se_type in ("HC0", "HC1"):
            w = e
        elif se_type == "HC2":
            w = np.where(ok, e / np.sqrt(safe), 0.0)
        else:
            w = np.where(ok, e / safe, 0.0)
        infl = XB * w[:, None]                     # (N, K): influence of each obs on beta
        vcov = infl.T @ infl
        if se_type == "HC1":
            vcov *= n / (n - k)
        df = np.full(k, float(n - k))
    else:
        codes = np.asarray(clusters)
        n_clusters = int(codes.max()) + 1
        if n_clusters < 2:
            raise ValueError("cluster-robust variance needs at least two clusters")
        if se_type in ("CR0", "CR1"):
            Xe = _segment_sum(X * e[:, None], codes, n_clusters)          # (S, K)
            infl = Xe @ bread
            vcov = infl.T @ infl
            if se_type == "CR1":
                vcov *= (n - 1) / (n - k) * n_clusters / (n_clusters - 1)
            df = np.full(k, float(n_clusters - 1))
        else:
            # C_s = I + Z_s Q Z_s'; the meat uses the rows `sel` of Z_s' (= W_s X_s)
            if weights is None:
                Z, Q, sel = X, -bread, slice(0, k)
            else:
                Xw = X * np.asarray(weights, dtype=float)[:, None]
                M = bread @ (Xw.T @ Xw) @ bread
                Z = np.hstack([X, Xw])
                Q = np.block([[M, -bread], [-bread, np.zeros((k, k))]])
                sel = slice(k, 2 * k)
            G = _cluster_crossprods(Z, codes, n_clusters)                   # (S, q, q)
            R = _cr2_factors(G, Q)
            Ze = _segment_sum(Z * e[:, None], codes, n_clusters)           # (S, q)
            u = (Ze + np.einsum("sab,sbc,sc->sa", G, R, Ze))[:, sel]        # X_s'W_s A_s e_s
            infl = u @ bread
            vcov = infl.T @ infl
            idx = range(k) if df_for is None else np.atleast_1d(df_for)
            df = np.full(k, np.nan)
            for j in idx:
                df[j] = _bm_df(G, R, Q, bread, j, sel)
    return vcov, df, infl, n_clusters, se_type


def vcov_factor(se_type: str, n: int, k: int, n_clusters: int | None) -> float:
    """Scale factor c with vcov = c · influence' influence."""
    if se_type == "HC1":
        return n / (n - k)
    if se_type == "CR1":
        return (n - 1) / (n - k) * n_clusters / (n_clusters - 1)
    return 1.0


def _bm_df(G: np.ndarray, R: np.ndarray, Q: np.ndarray, bread: np.ndarray, j: int, sel: slice) -> float:
    """Bell–McCaffrey Satterthwaite df for coefficient j (estimatr / clubSandwich, working model I).

    ``g_s = A_s W_s X_s B z_j = Z_s c_s`` with ``c_s = v + R_s G_s v`` (``v`` = ``B z_j`` placed in
    the rows ``sel``).  With ``y_s = Z_s'g_s = G_s c_s``:
    ``p_s'p_t = δ_st d_s + y_s'Q y_t``, ``d_s = g_s'g_s = c_s'y_s``; then
    ``df = (tr P)² / ||P||_F²`` with ``||P||² = Σ d_s² + 2 Σ d_s (Y Q Y')_ss + tr((Q Y'Y)²)``.
    """
    v = np.zeros(Q.shape[0])
    v[sel] = bread[:, j]
    c = v[None, :] + np.einsum("sab,sbc,c->sa", R, G, v)   # (S, q)
    y = np.einsum("sab,sb->sa", G, c)                      # (S, q)
    d = np.einsum("sa,sa->s", c, y)
    yqy = np.einsum("sa,ab,sb->s", y, Q, y)
    trace = d.sum() + yqy.sum()
    QYY = Q @ (y.T @ y)
    frob = (d ** 2).sum() + 2 * (d * yqy).sum() + np.trace(QYY @ QYY)
    return float(trace ** 2 / frob) if frob > 0 else float("nan")


def grouped_ols(X: np.ndarray, y: np.ndarray, groups: np.ndarray, n_groups: int, *, hc2: bool = True):
    """Separate OLS fits of y on X within each group, computed in one stacked pass.

    Returns ``beta`` (G, K), ``bread`` (G, K, K), residuals (N,), leverages (N,) and the per-observation
    score rows ``bread_g x_i e_i / sqrt(1-h_i)`` (N, K) (HC2-adjusted when ``hc2``), so that the HC2
    variance of group g is the cross-product of its score rows.  Groups with a singular X'X get NaN.
    """
    k = X.shape[1]
    F = _cluster_crossprods(X, groups, n_groups)
    Xy = _segment_sum(X * y[:, None], groups, n_groups)
    det_ok = np.linalg.matrix_rank(F) == k
    bread = np.full_like(F, np.nan)
    if det_ok.any():
        bread[det_ok] = np.linalg.inv(F[det_ok])
    beta = np.einsum("gab,gb->ga", bread, Xy)
    e = y - np.einsum("ik,ik->i", X, beta[groups])
    Bx = np.empty_like(X)                             # B_g x_i  (N, K)
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(n_groups + 1))
    for g in range(n_groups):                         # loop over groups (months), not units
        rows = order[bounds[g]:bounds[g + 1]]
        Bx[rows] = X[rows] @ bread[g]
    h = np.einsum("ia,ia->i", Bx, X)
    w = e / np.sqrt(np.clip(1.0 - h, 1e-300, None)) if hc2 else e
    if hc2:
        w = np.where(1.0 - h > 1e-12, w, 0.0)
    scores = Bx * w[:, None]
    return beta, bread, e, h, scores
