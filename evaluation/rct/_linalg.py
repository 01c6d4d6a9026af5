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
with the symmetric square root of the Moore–Penrose inverse (eigenvalues below 1e-12 clamped),
and per-coefficient Satterthwaite degrees of freedom
``df_k = (Σ_s p_s'p_s)² / Σ_s Σ_t (p_s'p_t)²``, ``p_s = (I − H)_s A_s X_s B z_k``.

Implementation note: ``H_ss = X_s B X_s'`` has rank ≤ K, so ``A_s`` is computed from the K × K
matrix ``F_s = X_s'X_s`` (with ``T_s = B^{1/2} F_s B^{1/2} = W Λ W'``,
``A_s = I + X_s B^{1/2} W D W' B^{1/2} X_s'`` with ``D = ((1 − λ)^{-1/2} − 1)/λ``).  Only ``F_s``
and ``X_s'e_s`` are needed, both segment sums; the N × N hat matrix is never formed.
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


def _sym_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


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


def _cr2_factors(F: np.ndarray, bread: np.ndarray, bread_half: np.ndarray) -> np.ndarray:
    """P_s (S, K, K) such that X_s'A_s v = X_s'v + F_s P_s X_s'v for any v in cluster s.

    ``A_s = I + X_s P_s X_s'`` with ``P_s = B^{1/2} W D W' B^{1/2}``.
    """
    T = bread_half @ F @ bread_half                     # (S, K, K)
    lam, W = np.linalg.eigh(T)                          # batched
    lam = np.clip(lam, 0.0, None)
    one_minus = 1.0 - lam
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_sqrt = np.where(one_minus > _EIG_TOL, 1.0 / np.sqrt(np.where(one_minus > _EIG_TOL, one_minus, 1.0)), 0.0)
        D = np.where(lam > 1e-14, (inv_sqrt - 1.0) / np.where(lam > 1e-14, lam, 1.0), 0.5)
    # D -> 1/2 as lam -> 0 (limit of ((1-l)^-1/2 - 1)/l); those directions do not matter anyway
    P = bread_half @ (W * D[:, None, :]) @ np.swapaxes(W, 1, 2) @ bread_half
    return P


def ols(X: np.ndarray, y: np.ndarray, *, se_type: str = "HC2", clusters: np.ndarray | None = None,
        df_for=None, keep_influence: bool = False) -> OLSFit:
    """OLS with estimatr-compatible robust variance.

    Parameters
    ----------
    X : (N, K) design matrix (full column rank; an error names the problem otherwise).
    y : (N,) outcome.
    se_type : one of :data:`SE_TYPES` (``"stata"`` is accepted as an alias of CR1/HC1).
    clusters : (N,) integer codes 0..S-1 (required for CR types).
    df_for : indices of coefficients for which CR2 Bell–McCaffrey df are computed (default all).
    keep_influence : keep the score rows ``inf`` (per observation for HC, per cluster for CR) with
        ``vcov = c · inf' inf`` (``c`` the HC1/CR1 factor, 1 otherwise).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    xtx = X.T @ X
    rank = np.linalg.matrix_rank(xtx)
    if rank < k:
        raise ValueError(f"design matrix is rank deficient (rank {rank} < {k} columns): a covariate is "
                         "constant or collinear with treatment/strata; drop it")
    bread = np.linalg.inv(xtx)
    beta = bread @ (X.T @ y)
    e = y - X @ beta
    vcov, df, infl, s, st = robust_vcov(X, e, bread, se_type=se_type, clusters=clusters, df_for=df_for)
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


def robust_vcov(X, e, bread, *, se_type="HC2", clusters=None, df_for=None):
    """Sandwich variance for coefficients with bread ``(X'X)^{-1}`` and residuals ``e``.

    Returns ``(vcov, df, influence, n_clusters, se_type)``.  Used by OLS and by 2SLS (with the
    second-stage regressors as ``X`` and structural residuals as ``e``, estimatr's convention).
    """
    n, k = X.shape
    se_type = normalise_se_type(se_type, clusters)
    infl = None
    n_clusters = None
    if se_type == "classical":
        vcov = bread * (e @ e) / (n - k)
        df = np.full(k, float(n - k))
    elif se_type in HC_TYPES:
        h = np.einsum("ij,jk,ik->i", X, bread, X)
        ok = 1.0 - h > 1e-12
        safe = np.where(ok, 1.0 - h, 1.0)
        if se_type in ("HC0", "HC1"):
            w = e
        elif se_type == "HC2":
            w = np.where(ok, e / np.sqrt(safe), 0.0)
        else:
            w = np.where(ok, e / safe, 0.0)
        infl = (X * w[:, None]) @ bread            # (N, K): influence of each obs on beta
        vcov = infl.T @ infl
        if se_type == "HC1":
            vcov *= n / (n - k)
        df = np.full(k, float(n - k))
    else:
        codes = np.asarray(clusters)
        n_clusters = int(codes.max()) + 1
        if n_clusters < 2:
            raise ValueError("cluster-robust variance needs at least two clusters")
        Xe = _segment_sum(X * e[:, None], codes, n_clusters)          # (S, K)
        if se_type in ("CR0", "CR1"):
            infl = Xe @ bread
            vcov = infl.T @ infl
            if se_type == "CR1":
                vcov *= (n - 1) / (n - k) * n_clusters / (n_clusters - 1)
            df = np.full(k, float(n_clusters - 1))
        else:
            F = _cluster_crossprods(X, codes, n_clusters)
            P = _cr2_factors(F, bread, _sym_sqrt(bread))
            u = Xe + np.einsum("sab,sbc,sc->sa", F, P, Xe)                 # X_s' A_s e_s
            infl = u @ bread
            vcov = infl.T @ infl
            idx = range(k) if df_for is None else np.atleast_1d(df_for)
            df = np.full(k, np.nan)
            for j in idx:
                df[j] = _bm_df(F, P, bread, j)
    return vcov, df, infl, n_clusters, se_type


def vcov_factor(se_type: str, n: int, k: int, n_clusters: int | None) -> float:
    """Scale factor c with vcov = c · influence' influence."""
    if se_type == "HC1":
        return n / (n - k)
    if se_type == "CR1":
        return (n - 1) / (n - k) * n_clusters / (n_clusters - 1)
    return 1.0


def _bm_df(F: np.ndarray, P: np.ndarray, bread: np.ndarray, j: int) -> float:
    """Bell–McCaffrey Satterthwaite df for coefficient j (estimatr / clubSandwich, working model I).

    With ``g_s = A_s X_s B z_j = X_s b_s`` (``b_s = a + P_s F_s a``, ``a = B z_j``):
    ``p_s'p_t = δ_st g_s'g_s − u_s' B u_t`` with ``u_s = F_s b_s``; then
    ``df = (tr G)² / ||G||_F²`` where ``||G||² = Σ d_s² − 2 Σ d_s (U B U')_ss + tr((B U'U)²)``.
    """
    a = bread[:, j]
    Fa = F @ a                                        # (S, K)
    b = a[None, :] + np.einsum("sab,sb->sa", P, Fa)   # (S, K)
    u = np.einsum("sab,sb->sa", F, b)                 # (S, K)
    d = np.einsum("sa,sa->s", b, u)                   # g_s'g_s
    ubu = np.einsum("sa,ab,sb->s", u, bread, u)       # (U B U')_ss
    trace = d.sum() - ubu.sum()
    BUU = bread @ (u.T @ u)
    frob = (d ** 2).sum() - 2 * (d * ubu).sum() + np.trace(BUU @ BUU)
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
