"""Influence-function stores for the group-time ATTs and their aggregations.

Every estimate handled here is asymptotically linear: ``est - truth ~ sum_i psi_i`` with one term
per unit.  The stores keep ``psi`` (the influence function divided by ``n``, so that the variance is
``sum_i psi_i psi_i'``) in one of two forms:

* :class:`LinearIF` - without covariates on a balanced panel every ATT(g,t) is a difference of
  cohort means of long differences, so ``psi_i = w_i ([Y_i1..Y_iT, 1] . theta_{c(i)})`` with one
  coefficient vector ``theta`` per *cohort*.  Aggregations are linear maps of ``theta`` and all
  variances follow from per-cohort Gram matrices (T+1 x T+1); nothing of size units x ATT(g,t) is
  ever formed.
* :class:`DenseIF` - a units x K matrix (covariates, unbalanced panels).

Both expose ``combine(A, H)`` (linear combination of the K columns with weights ``A`` (K x P) plus
the estimation effect of the aggregation weights, ``w_i H[c(i), p] / n``), ``vcov()``
(analytic, optionally clustered by summing ``psi`` within clusters) and ``boot()`` (multiplier
bootstrap draws of ``est* - est``).
"""
from __future__ import annotations

import numpy as np

_SQ5 = np.sqrt(5.0)


def multipliers(rng: np.random.Generator, shape, kind: str) -> np.ndarray:
    if kind == "mammen":
        p = (_SQ5 + 1) / (2 * _SQ5)
        u = rng.random(shape)
        return np.where(u < p, (1 - _SQ5) / 2, (1 + _SQ5) / 2)
    if kind == "rademacher":
        return rng.integers(0, 2, size=shape).astype(np.float64) * 2 - 1
    if kind == "normal":
        return rng.standard_normal(shape)
    raise ValueError("bootstrap_weights must be 'mammen', 'rademacher' or 'normal'")


class LinearData:
    """Cohort-sorted outcome array and the per-cohort sufficient statistics."""

    def __init__(self, Y: np.ndarray, w: np.ndarray, cc: np.ndarray, n_coh: int,
                 cluster: np.ndarray | None = None, weighted: bool = False):
        self.n, self.T = Y.shape
        self.n_coh = n_coh
        counts = np.bincount(cc, minlength=n_coh)
        if np.all(cc[1:] >= cc[:-1]):
            perm = None
            Ys, ws = Y, w
        else:
            perm = np.argsort(cc, kind="stable")
            Ys, ws = Y[perm], w[perm]
        self.perm = perm
        self.Ys, self.ws = Ys, ws
        self.bounds = np.concatenate([[0], np.cumsum(counts)])
        self.weighted = weighted
        T = self.T
        self.W = np.empty(n_coh)
        self.SY = np.empty((n_coh, T))
        self.gram = np.empty((n_coh, T + 1, T + 1))
        for c in range(n_coh):
            a, b = self.bounds[c], self.bounds[c + 1]
            Yc = Ys[a:b]
            if weighted:
                wc = ws[a:b]
                wY = Yc * wc[:, None]
                self.W[c] = wc.sum()
                self.SY[c] = wY.sum(axis=0)
                w2Y = wY * wc[:, None]
                self.gram[c, :T, :T] = w2Y.T @ Yc
                s2 = w2Y.sum(axis=0)
                q = float(wc @ wc)
            else:
                self.W[c] = b - a
                self.SY[c] = Yc.sum(axis=0)
                self.gram[c, :T, :T] = Yc.T @ Yc
                s2 = self.SY[c]
                q = float(b - a)
            self.gram[c, :T, T] = s2
            self.gram[c, T, :T] = s2
            self.gram[c, T, T] = q
        self._cluster = None
        if cluster is not None:
            self._cluster = cluster if perm is None else cluster[perm]
            self.n_clusters = int(cluster.max()) + 1
            self._R = None

    def cluster_sums(self) -> np.ndarray:
        """(n_clusters, n_coh, T+1) sums of w_i [Y_i, 1] by cluster and cohort."""
        if self._R is None:
            J, T = self.n_clusters, self.T
            R = np.zeros((J, self.n_coh, T + 1))
            for c in range(self.n_coh):
                a, b = self.bounds[c], self.bounds[c + 1]
                cl = self._cluster[a:b]
                wc = self.ws[a:b]
                for t in range(T):
                    R[:, c, t] = np.bincount(cl, weights=wc * self.Ys[a:b, t], minlength=J)
                R[:, c, T] = np.bincount(cl, weights=wc, minlength=J)
            self._R = R
        return self._R


class LinearIF:
    def __init__(self, data: LinearData, theta: np.ndarray):
        self.data = data
        self.theta = theta          # (P, n_coh, T+1)

    @property
    def n(self):
        return self.data.n

    def combine(self, A: np.ndarray, H: np.ndarray | None = None) -> "LinearIF":
        K, C, T1 = self.theta.shape
        th = (A.T @ self.theta.reshape(K, C * T1)).reshape(A.shape[1], C, T1)
        if H is not None:
            th[:, :, -1] += H.T / self.data.n
        return LinearIF(self.data, th)

    def vcov(self, cluster: bool = False) -> np.ndarray:
        P, C, T1 = self.theta.shape
        if cluster:
            R = self.data.cluster_sums()
            S = R.reshape(R.shape[0], C * T1) @ self.theta.reshape(P, C * T1).T
            return S.T @ S
        V = np.zeros((P, P))
        for c in range(C):                       # sum over cohorts of theta_c G_c theta_c'
            th = self.theta[:, c, :]
            V += (th @ self.data.gram[c]) @ th.T
        return V

    def boot(self, biters: int, rng: np.random.Generator, kind: str, cluster: bool = False,
             chunk: int = 2_000_000) -> np.ndarray:
        d = self.data
        P, C, T1 = self.theta.shape
        if cluster:
            R = d.cluster_sums()
            S = R.reshape(R.shape[0], C * T1) @ self.theta.reshape(P, C * T1).T
            V = multipliers(rng, (biters, S.shape[0]), kind)
            return V @ S
        T = d.T
        acc = np.zeros((biters, d.n_coh, T + 1))
        step = max(1, chunk // biters)
        for c in range(d.n_coh):
            a, b = d.bounds[c], d.bounds[c + 1]
            for s in range(a, b, step):
                e = min(b, s + step)
                wZ = np.empty((e - s, T + 1))
                wZ[:, :T] = d.Ys[s:e] * d.ws[s:e, None]
                wZ[:, T] = d.ws[s:e]
                V = multipliers(rng, (biters, e - s), kind)
                acc[:, c, :] += V @ wZ
        return acc.reshape(biters, C * T1) @ self.theta.reshape(P, C * T1).T


class DenseIF:
    """``psi`` as a units x K matrix ``M`` (covariates, unbalanced panels, repeated cross-sections).

    Aggregations never form their own units x P matrix: with the Gram matrix ``G = M'M``, the
    per-cohort weighted sums ``C = M' W_c`` (``W_c[i, c] = w_i 1[c(i) = c]``) and
    ``q_c = sum_{c(i)=c} w_i^2``, the variance of ``M A + W_c H / n`` is

    .. math:: A'GA + (A'CH + H'C'A)/n + H'\,\mathrm{diag}(q)\,H/n^2,

    and clustered variances use the cluster sums of ``M`` and ``W_c`` in the same way; each is
    computed once per fit (:class:`CombinedIF`).  ``perm`` maps rows to units when the rows were
    reordered (cohort-sorted); it is ``None`` when row i is unit i.
    """

    def __init__(self, M: np.ndarray, w: np.ndarray, cc: np.ndarray, cluster: np.ndarray | None,
                 perm: np.ndarray | None = None):
        self.M = M                  # (n, P): psi = IF / n
        self.w, self.cc, self.cluster, self.perm = w, cc, cluster, perm
        self._cache: dict = {}

    @property
    def n(self):
        return self.M.shape[0]

    @property
    def n_coh(self):
        return int(self.cc.max()) + 1

    def _Wc(self):
        from scipy import sparse
        n = self.n
        return sparse.csr_matrix((self.w, (np.arange(n), self.cc)), shape=(n, self.n_coh))

    def gram(self):
        c = self._cache
        if "G" not in c:
            c["G"] = self.M.T @ self.M
            c["C"] = np.asarray((self._Wc().T @ self.M).T)                    # K x n_coh
            c["q"] = np.bincount(self.cc, weights=self.w ** 2, minlength=self.n_coh)
        return c["G"], c["C"], c["q"]

    def cluster_sums(self):
        c = self._cache
        if "SM" not in c:
            c["SM"] = self._csum()
            J = c["SM"].shape[0]
            c["SW"] = np.bincount(self.cluster * self.n_coh + self.cc, weights=self.w,
                                  minlength=J * self.n_coh).reshape(J, self.n_coh)
        return c["SM"], c["SW"]

    def combine(self, A: np.ndarray, H: np.ndarray | None = None) -> "CombinedIF":
        return CombinedIF(self, A, np.zeros((self.n_coh, A.shape[1])) if H is None else H)

    def _csum(self):
        J = int(self.cluster.max()) + 1
        M = self.M
        if M.flags.f_contiguous and not M.flags.c_contiguous:   # contiguous columns: bincount each
            return np.column_stack([np.bincount(self.cluster, weights=M[:, j], minlength=J)
                                    for j in range(M.shape[1])]) if M.shape[1] else np.zeros((J, 0))
        from scipy import sparse
        n = M.shape[0]
        agg = sparse.csr_matrix((np.ones(n), (self.cluster, np.arange(n))), shape=(J, n))
        return np.asarray(agg @ M)

    def vcov(self, cluster: bool = False) -> np.ndarray:
        if cluster:
            S = self.cluster_sums()[0]
            return S.T @ S
        return self.gram()[0]

    def boot(self, biters: int, rng: np.random.Generator, kind: str, cluster: bool = False,
             chunk: int = 2_000_000) -> np.ndarray:
        if cluster:
            S = self.cluster_sums()[0]
            return multipliers(rng, (biters, S.shape[0]), kind) @ S
        out = np.zeros((biters, self.M.shape[1]))
        step = max(1, chunk // biters)
        for s in range(0, self.n, step):
            e = min(self.n, s + step)
            out += multipliers(rng, (biters, e - s), kind) @ self.M[s:e]
        return out


class BlockIF(DenseIF):
    """A :class:`DenseIF` kept as the blocks the covariate path estimates: ``(ranges, cols, psi)``
    with ``ranges`` a list of ``(cohort, lo, hi)`` row ranges (units sorted by cohort) and ``psi``
    the block's rows x len(cols) values; every other entry of ``M`` is zero.  The Gram matrix and
    the per-cohort sums come from products of block pieces over shared cohort ranges, so the
    units x K matrix is formed only if a bootstrap or cluster sums need it."""

    def __init__(self, n, K, blocks, w, cc, cluster, perm=None):
        self._n, self._K, self.blocks = n, K, blocks
        self.w, self.cc, self.cluster, self.perm = w, cc, cluster, perm
        self._cache = {}
        self._M = None

    @property
    def n(self):
        return self._n

    @property
    def M(self):
        if self._M is None:
            self._M = np.zeros((self._n, self._K))
            self.write(self._M, self.blocks)
        return self._M

    @staticmethod
    def write(M, blocks):
        for ranges, cols, psi in blocks:
            o = 0
            for _, lo, hi in ranges:
                M[lo:hi, cols] = psi[o:o + hi - lo]
                o += hi - lo

    def gram(self):
        c = self._cache
        if "G" not in c:
            K, ncoh = self._K, self.n_coh
            pieces: dict = {}                           # cohort -> [(cols, rows of psi)]
            for ranges, cols, psi in self.blocks:
                o = 0
                for coh, lo, hi in ranges:
                    pieces.setdefault(coh, []).append((cols, psi[o:o + hi - lo], lo, hi))
                    o += hi - lo
            G = np.zeros((K, K))
            C = np.zeros((K, ncoh))
            for coh, ps in pieces.items():
                for i, (ca, pa, lo, hi) in enumerate(ps):
                    C[ca, coh] += self.w[lo:hi] @ pa
                    for cb, pb, _, _ in ps[i:]:
                        blk = pa.T @ pb
                        G[np.ix_(ca, cb)] += blk
                        if cb is not ca:
                            G[np.ix_(cb, ca)] += blk.T
            c["G"], c["C"] = G, C
            c["q"] = np.bincount(self.cc, weights=self.w ** 2, minlength=ncoh)
        return c["G"], c["C"], c["q"]


class CombinedIF:
    """``M A + W_c H / n`` for a :class:`DenseIF` ``M``, without forming it (see there)."""

    def __init__(self, base: DenseIF, A: np.ndarray, H: np.ndarray):
        self.base, self.A, self.H = base, A, H

    @property
    def n(self):
        return self.base.n

    def _S(self):
        SM, SW = self.base.cluster_sums()
        return SM @ self.A + SW @ self.H / self.n

    def vcov(self, cluster: bool = False) -> np.ndarray:
        if cluster:
            S = self._S()
            return S.T @ S
        G, C, q = self.base.gram()
        A, H, n = self.A, self.H, self.n
        X = A.T @ C @ H / n
        return A.T @ G @ A + X + X.T + (H.T * q) @ H / n ** 2

    def boot(self, biters: int, rng: np.random.Generator, kind: str, cluster: bool = False,
             chunk: int = 2_000_000) -> np.ndarray:
        if cluster:
            S = self._S()
            return multipliers(rng, (biters, S.shape[0]), kind) @ S
        b = self.base
        out = np.zeros((biters, self.A.shape[1]))
        step = max(1, chunk // biters)
        for s in range(0, b.n, step):
            e = min(b.n, s + step)
            psi = b.M[s:e] @ self.A + (b.w[s:e, None] * self.H[b.cc[s:e]]) / b.n
            out += multipliers(rng, (biters, e - s), kind) @ psi
        return out


def boot_summary(bres: np.ndarray, n: int, alpha: float):
    """R did's mboot: IQR-based standard errors and the sup-t critical value (type-1 quantiles)."""
    from scipy.stats import norm
    P = bres.shape[1]
    se = np.full(P, np.nan)
    ndg = np.isfinite(bres).all(axis=0) & ((bres ** 2).sum(axis=0) * n > np.sqrt(np.finfo(float).eps) * 10)
    if not ndg.any():
        return se, np.nan
    b = bres[:, ndg]
    q75 = np.quantile(b, 0.75, axis=0, method="inverted_cdf")
    q25 = np.quantile(b, 0.25, axis=0, method="inverted_cdf")
    bsig = (q75 - q25) / (norm.ppf(0.75) - norm.ppf(0.25))
    se[ndg] = bsig
    with np.errstate(divide="ignore", invalid="ignore"):
        bT = np.nanmax(np.abs(b / bsig), axis=1)
    bT = bT[np.isfinite(bT)]
    crit = float(np.quantile(bT, 1 - alpha, method="inverted_cdf")) if len(bT) else np.nan
    return se, crit
