"""Sensitivity of event-study conclusions to violations of parallel trends (Rambachan & Roth 2023).

:func:`honest_did` takes event-study coefficients ``beta = (beta_pre, beta_post)`` and their
covariance ``sigma`` (from :func:`event_study_coefficients`, which reads a Callaway-Sant'Anna
dynamic aggregate, a Sun-Abraham or a TWFE event study) and returns confidence sets for
``theta = l' tau_post`` that are valid when the post-period violation of parallel trends
``delta_post`` is restricted by the pre-period one:

* relative magnitudes ``Delta^RM(Mbar)``: every post-period first difference of ``delta`` is at
  most ``Mbar`` times the largest pre-period first difference,
  ``|delta_{t+1} - delta_t| <= Mbar max_{s<0} |delta_{s+1} - delta_s|`` for ``t >= 0``;
* smoothness ``Delta^SD(M)``: the slope of ``delta`` changes by at most ``M`` between consecutive
  periods, ``|(delta_{t+1} - delta_t) - (delta_t - delta_{t-1})| <= M``.

Methods (R package HonestDiD 0.2.6, whose defaults, grids and tuning constants are followed):
``"FLCI"`` (fixed-length confidence interval, Armstrong & Kolesar; the default for ``Delta^SD``),
``"Conditional"`` (Andrews, Roth & Pakes 2023 conditional test, ``"ARP"``) and ``"C-LF"`` (the
conditional-least-favourable hybrid, the default for ``Delta^RM``).  Conditional sets are found
by test inversion over HonestDiD's grid of ``grid_points`` values of theta.

The ARP linear programme ``eta(y) = min_{eta, d} eta  s.t.  y - X d <= eta sd`` has the dual
``max_l l'y  s.t.  l >= 0, sd'l = 1, X'l = 0`` whose feasible set does not depend on ``y``; its
vertices are enumerated once (scipy's HiGHS is used for the identified-set LPs), so the
statistic, its dual solution ``gamma`` and the truncation points ``v_lo``/``v_up`` are exact for
every grid point and every simulation draw of the least-favourable critical value (HonestDiD
solves one lpSolve LP per point and finds ``v_lo``/``v_up`` by bisection to 1e-6).  The
least-favourable critical value uses R's own random stream (:mod:`._rrandom`), so the same 1000
draws as HonestDiD with ``seed = 0``.  The FLCI's folded-normal quantile is computed exactly
(HonestDiD simulates it from 10^6 draws).

References
----------
Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. *Review of
Economic Studies* 90(5), 2555-2591.
Andrews, I., Roth, J. and Pakes, A. (2023). Inference for linear conditional moment
inequalities. *Review of Economic Studies* 90(6), 2763-2791.
Armstrong, T. and Kolesar, M. (2018). Optimal inference in a class of regression models.
*Econometrica* 86(2), 655-683.
"""
from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ._rrandom import r_rmvnorm

__all__ = ["honest_did", "HonestDiDResult", "event_study_coefficients", "EventStudyCoefficients",
           "flci", "original_ci", "identified_set"]


# ================================================================================ inputs
@dataclass
class EventStudyCoefficients:
    """Event-study coefficients ready for :func:`honest_did` (reference period left out)."""

    betahat: np.ndarray
    sigma: np.ndarray
    event_times: np.ndarray
    ref: int = -1
    source: str = ""

    @property
    def num_pre(self) -> int:
        return int((self.event_times < self.ref).sum())

    @property
    def num_post(self) -> int:
        return int((self.event_times > self.ref).sum())


def event_study_coefficients(result, *, ref: int = -1) -> EventStudyCoefficients:
    """Read ``beta`` and ``sigma`` from an event-study result.

    Parameters
    ----------
    result : AggregateResult (``kind="dynamic"``), EventStudyResult (TWFE or Sun-Abraham)
        For a Callaway-Sant'Anna aggregate the covariance is the analytic one from the influence
        functions (``V = psi' psi``, clustered if the estimate was), as R's ``honest_did.AGGTEobj``;
        the estimate must use ``base_period="universal"`` so that ``e = ref`` is the normalised
        reference (HonestDiD requires it).  For a regression event study ``sigma`` is its
        variance matrix (clustered as estimated), the reference coefficient being absent.
    ref : int
        Reference event time (HonestDiD assumes ``-1``); it is dropped if present.

    Raises
    ------
    ValueError
        Not a dynamic aggregate, a varying base period, event times not consecutive.
    """
    from .attgt import AggregateResult
    from .twfe import EventStudyResult
    if isinstance(result, AggregateResult):
        if result.kind != "dynamic":
            raise ValueError(f"need an event study: aggregate(kind='dynamic'), not kind={result.kind!r}")
        parent = result._parent  # the ATT(g,t) result holding options and the variance method
        if parent.options.get("base_period") != "universal":
            raise ValueError("use base_period='universal' in att_gt for HonestDiD (the event-time "
                             f"{ref} effect must be the normalised reference, as R's honest_did requires)")
        et = result.components["value"].to_numpy().astype(int)
        beta = result.components["estimate"].to_numpy(float)
        V = parent._vcov_of(result._if)
        src = "Callaway-Sant'Anna dynamic aggregate"
    elif isinstance(result, EventStudyResult):
        names = [n for n in result.coef.index if str(n).startswith("e=")]
        et = np.array([int(str(n)[2:]) for n in names])
        beta = result.coef[names].to_numpy(float)
        V = result.vcov_matrix.loc[names, names].to_numpy(float)
        src = result.method
    else:
        raise TypeError("result must be an AggregateResult (dynamic) or an EventStudyResult; "
                        "for other estimators pass betahat and sigma to honest_did directly")
    keep = et != ref
    et, beta, V = et[keep], beta[keep], V[np.ix_(keep, keep)]
    order = np.argsort(et)
    et, beta, V = et[order], beta[order], V[np.ix_(order, order)]
    full = np.concatenate([et[et < ref], [ref], et[et > ref]])
    if len(full) > 1 and np.any(np.diff(full) != 1):
        raise ValueError(f"event times must be consecutive around the reference {ref}; got "
                         f"{et.tolist()} (restrict min_e/max_e or re-code the event study)")
    return EventStudyCoefficients(beta, V, et, ref, src)


def _check_inputs(betahat, sigma, num_pre, num_post, l_vec):
    b = np.asarray(betahat, float).ravel()
    S = np.asarray(sigma, float)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"sigma must be a square matrix; got shape {S.shape}")
    if S.shape[0] != b.size:
        raise ValueError(f"betahat has {b.size} coefficients but sigma is {S.shape[0]} x {S.shape[1]}")
    if num_pre is None or num_post is None:
        raise ValueError("give num_pre and num_post (or an EventStudyCoefficients)")
    if num_pre + num_post != b.size:
        raise ValueError(f"num_pre + num_post = {num_pre + num_post} but betahat has {b.size} coefficients")
    if num_pre < 1:
        raise ValueError("HonestDiD needs at least one pre-period coefficient besides the reference")
    if num_post < 1:
        raise ValueError("HonestDiD needs at least one post-period coefficient")
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(S))):
        raise ValueError("betahat and sigma must be finite (missing standard errors?)")
    if not np.allclose(S, S.T, rtol=1e-6, atol=1e-12 * max(1.0, np.abs(S).max())):
        raise ValueError("sigma is not symmetric")
    ev = np.linalg.eigvalsh((S + S.T) / 2)
    if ev.min() < -1e-8 * max(1.0, abs(ev.max())):
        raise ValueError(f"sigma is not positive semi-definite (smallest eigenvalue {ev.min():.3g}); "
                         "pass the covariance matrix of the event-study coefficients")
    lv = (np.zeros(num_post) if l_vec is None else np.asarray(l_vec, float).ravel())
    if l_vec is None:
        lv[0] = 1.0
    if lv.size != num_post:
        raise ValueError(f"l_vec has {lv.size} weights for {num_post} post-periods")
    return b, (S + S.T) / 2, lv


def original_ci(betahat, sigma, num_pre, num_post, l_vec=None, alpha=0.05):
    """The usual interval for ``theta = l' beta_post`` (HonestDiD ``constructOriginalCS``)."""
    b, S, lv = _check_inputs(betahat, sigma, num_pre, num_post, l_vec)
    post = slice(num_pre, num_pre + num_post)
    est = float(lv @ b[post])
    se = float(np.sqrt(lv @ S[post, post] @ lv))
    z = stats.norm.ppf(1 - alpha / 2)
    return est - z * se, est + z * se


# ========================================================================= restriction sets
def _A_rm(num_pre, num_post, mbar, s, max_positive=True):
    """Rows of ``A delta <= 0`` for Delta^RM with the largest pre-period difference at ``s``."""
    T = num_pre + num_post
    At = np.zeros((T, T + 1))
    r = np.arange(T)
    At[r, r], At[r, r + 1] = -1.0, 1.0
    v = np.zeros(T + 1)
    v[num_pre + s - 1], v[num_pre + s] = -1.0, 1.0
    if not max_positive:
        v = -v
    ub = np.vstack([np.tile(v, (num_pre, 1)), np.tile(mbar * v, (num_post, 1))])
    A = np.vstack([At - ub, -At - ub])
    A = A[(A * A).sum(axis=1) > 1e-10]
    return np.delete(A, num_pre, axis=1)


def _A_sd(num_pre, num_post):
    T = num_pre + num_post
    At = np.zeros((T - 1, T + 1))
    r = np.arange(T - 1)
    At[r, r], At[r, r + 1], At[r, r + 2] = 1.0, -2.0, 1.0
    At = np.delete(At, num_pre, axis=1)
    return np.vstack([At, -At])


def _post_rows(A, num_pre):
    return np.flatnonzero((A[:, num_pre:] != 0).any(axis=1))


# ============================================================================ ARP machinery
def _gamma_matrix(l_vec):
    """Invertible matrix with first row ``l'`` (greedy basis completion = HonestDiD's rref)."""
    rows = [np.asarray(l_vec, float)]
    for j in range(len(l_vec)):
        e = np.zeros(len(l_vec))
        e[j] = 1.0
        if np.linalg.matrix_rank(np.vstack(rows + [e])) > len(rows):
            rows.append(e)
    return np.vstack(rows)


def _dual_vertices(sd, X, max_bases=500_000):
    """Vertices of ``{l >= 0 : sd'l = 1, X'l = 0}`` by enumerating bases of size ``k+1``."""
    M = sd.size
    W = np.column_stack([sd, X]) if X is not None and X.size else sd[:, None]
    k1 = W.shape[1]
    n_b = math.comb(M, k1)
    if n_b > max_bases:
        raise ValueError(f"{M} moments and {k1 - 1} nuisance parameters give {n_b} candidate vertices; "
                         "reduce the number of post-periods or use method='FLCI'")
    combs = np.array(list(itertools.combinations(range(M), k1)), dtype=np.int64)
    WB = W[combs].transpose(0, 2, 1)                        # (n, k1, k1): W_B'
    det = np.linalg.det(WB)
    scale = np.abs(W).max() ** k1
    ok = np.abs(det) > 1e-12 * scale
    combs, WB = combs[ok], WB[ok]
    e1 = np.zeros(k1)
    e1[0] = 1.0
    lam_B = np.linalg.solve(WB, np.broadcast_to(e1, (len(WB), k1))[..., None])[..., 0]
    feas = (lam_B >= -1e-9 * np.abs(lam_B).max(axis=1, keepdims=True)).all(axis=1)
    lam = np.zeros((feas.sum(), M))
    np.put_along_axis(lam, combs[feas], np.clip(lam_B[feas], 0, None), axis=1)
    if len(lam) == 0:
        return lam
    key = np.round(lam / np.abs(lam).max(), 10)
    _, first = np.unique(key, axis=0, return_index=True)
    return lam[np.sort(first)]


def _truncnorm_q(p, lo, hi):
    """``p`` quantile of N(0, 1) truncated to ``[lo, hi]`` (tail-stable, as TruncatedNormal::norminvp)."""
    if not lo < hi:
        return lo
    if lo >= 0:      # upper tail: work with log survival functions
        sa, sb = special.log_ndtr(-lo), special.log_ndtr(-hi)
        return float(-special.ndtri_exp(sa + np.log1p(-p * -np.expm1(sb - sa))))
    if hi <= 0:
        la, lb = special.log_ndtr(lo), special.log_ndtr(hi)
        return float(special.ndtri_exp(lb + np.log(p + (1 - p) * np.exp(la - lb))))
    fa, fb = special.ndtr(lo), special.ndtr(hi)
    return float(special.ndtri(fa + p * (fb - fa)))


@dataclass
class _ARP:
    """ARP test of ``E[y - X d] <= 0`` on the moments ``rows`` for ``y = Y - a theta``."""

    Y: np.ndarray
    a: np.ndarray
    X: np.ndarray | None
    S: np.ndarray
    alpha: float
    hybrid: str
    kappa: float
    seed: int
    lf_cv: float = np.nan

    def __post_init__(self):
        self.sd = np.sqrt(np.diag(self.S))
        self.V = _dual_vertices(self.sd, self.X)
        self.k = 0 if self.X is None else self.X.shape[1]
        if self.hybrid == "LF":
            draws = r_rmvnorm(1000, self.S, self.seed)
            eta = (draws @ self.V.T).max(axis=1) if len(self.V) else np.full(1000, -np.inf)
            self.lf_cv = float(np.quantile(eta, 1 - self.kappa))

    def accept(self, thetas: np.ndarray) -> np.ndarray:
        if len(self.V) == 0:           # eta unbounded below: never rejects (R: LP error, not rejecting)
            return np.ones(len(thetas), bool)
        Yg = self.Y[None, :] - thetas[:, None] * self.a[None, :]
        vals = Yg @ self.V.T
        which = vals.argmax(axis=1)
        eta = vals[np.arange(len(thetas)), which]
        out = np.zeros(len(thetas), bool)
        todo = np.ones(len(thetas), bool)
        if self.hybrid == "LF":
            todo = eta <= self.lf_cv          # first stage rejects the rest
        for i in np.flatnonzero(todo):
            out[i] = not self._reject(Yg[i], eta[i], which[i])
        return out

    def _vertex(self, w):
        """Quantities of the conditional test that depend only on the optimal vertex ``w``."""
        if not hasattr(self, "_cache"):
            self._cache = {}
        if w in self._cache:
            return self._cache[w]
        gam, S = self.V[w], self.S
        B = gam > 1e-6
        nB = int(B.sum())
        degenerate = nB != self.k + 1
        full_rank = self.k == 0 or (nB > 0 and np.linalg.matrix_rank(self.X[B]) == min(nB, self.k))
        s2 = float(gam @ S @ gam)
        if not full_rank or degenerate:
            # dual approach (ARP Appendix D): {c : max_v v'(s + b c) = c} in closed form over the vertices
            b = S @ gam / s2 if s2 > np.finfo(float).eps else None
            out = ("dual", gam, s2, b, None if b is None else 1 - self.V @ b)
        else:
            Bc = ~B
            cols = lambda m: np.column_stack([self.sd[m], self.X[m]]) if self.k else self.sd[m][:, None]
            WBinv = np.linalg.inv(cols(B))
            M = len(gam)
            SB = np.eye(M)[B]
            GB = cols(Bc) @ WBinv @ SB - np.eye(M)[Bc]
            vB = WBinv[0] @ SB
            s2B = float(vB @ S @ vB)
            rho = GB @ S @ vB / s2B
            out = ("primal", vB, s2B, GB, rho)
        self._cache[w] = out
        return out

    def _reject(self, y, eta, w) -> bool:
        size = (self.alpha - self.kappa) / (1 - self.kappa) if self.hybrid == "LF" else self.alpha
        kind, g, s2, P, Q = self._vertex(w)
        if kind == "dual":
            if P is None:
                return eta > 0
            sT = y - P * (g @ y)
            num, den = self.V @ sT, Q
            pos, neg = den > 1e-12, den < -1e-12
            if np.any(~pos & ~neg & (num > 1e-12 * max(1.0, np.abs(num).max()))):
                return False
            vlo = (num[pos] / den[pos]).max() if pos.any() else -np.inf
            vup = (num[neg] / den[neg]).min() if neg.any() else np.inf
        else:
            GB, rho = P, Q
            mm = (-GB @ y) / rho + g @ y
            vlo = mm[rho > 0].max() if (rho > 0).any() else -np.inf
            vup = mm[rho < 0].min() if (rho < 0).any() else np.inf
        if self.hybrid == "LF":
            vup = min(vup, self.lf_cv)
        sB = math.sqrt(s2)
        stat, zlo, zup = eta / sB, vlo / sB, vup / sB
        if not (zlo <= stat <= zup):
            return False
        return stat > max(0.0, _truncnorm_q(1 - size, zlo, zup))


@dataclass
class _NoNuis:
    """HonestDiD's test without nuisance parameters (one post-period): ``A y <= d``."""

    b: np.ndarray
    S: np.ndarray
    A: np.ndarray
    d: np.ndarray
    num_pre: int
    alpha: float
    hybrid: str
    kappa: float
    seed: int
    lf_cv: float = np.nan

    def __post_init__(self):
        self.sA = np.sqrt(np.diag(self.A @ self.S @ self.A.T))
        self.At = self.A / self.sA[:, None]
        self.dt = self.d / self.sA
        if self.hybrid == "LF":
            draws = r_rmvnorm(1000, self.A @ self.S @ self.A.T, self.seed) / self.sA
            self.lf_cv = float(np.quantile(draws.max(axis=1), 1 - self.kappa))

    def accept(self, thetas):
        e = np.zeros(self.b.size)
        e[self.num_pre] = 1.0
        return np.array([not self._reject(self.b - e * t) for t in thetas])

    def _reject(self, y) -> bool:
        At, dt, S = self.At, self.dt, self.S
        mom = At @ y - dt
        j = int(np.argmax(mom))
        if self.hybrid == "LF" and mom[j] > self.lf_cv:
            return True
        alpha = (self.alpha - self.kappa) / (1 - self.kappa) if self.hybrid == "LF" else self.alpha
        gamma = At[j]
        s2 = float(gamma @ S @ gamma)
        c = S @ gamma / s2
        z = y - c * (gamma @ y)
        Abar = At - At[j][None, :]
        dbar = dt - dt[j]
        Ac = Abar @ c
        obj = (dbar - Abar @ z) / np.where(Ac == 0, np.nan, Ac)
        vlo = np.nanmax(obj[Ac < 0]) if (Ac < 0).any() else -np.inf
        vup = np.nanmin(obj[Ac > 0]) if (Ac > 0).any() else np.inf
        sd = math.sqrt(s2)
        mu = dt[j]
        q = mu + sd * _truncnorm_q(1 - alpha, (vlo - mu) / sd, (vup - mu) / sd)
        return mom[j] + dt[j] > max(0.0, q)


# ==================================================================================== FLCI
@functools.lru_cache(maxsize=4)
def _r_normals(n, seed):
    from ._rrandom import r_rnorm
    return r_rnorm(n, seed)


def _foldnorm_q(p, mu, sims=None, seed=0):
    """``p`` quantile of ``|Z + mu|``: exact, or HonestDiD's simulation (``sims`` draws of R's stream)."""
    mu = abs(float(mu))
    if sims:
        return float(np.quantile(np.abs(_r_normals(int(sims), int(seed)) + mu), p))
    f = lambda q: special.ndtr(q - mu) - special.ndtr(-q - mu) - p
    return float(optimize.brentq(f, 0.0, mu + 20.0, xtol=1e-14))


def _flci_parts(S, num_pre, num_post, lv):
    K = num_pre
    D = np.eye(K) - np.eye(K, k=-1)                  # w -> l_pre (first differences of w)
    Spre, Spp = S[:K, :K], S[:K, K:]
    Q = D.T @ Spre @ D
    g = 2 * D.T @ Spp @ lv
    c0 = float(lv @ S[K:, K:] @ lv)
    tvec = np.arange(1, num_post + 1)
    csum = float(tvec @ lv)
    const = sum(abs(float(np.arange(1, s + 1) @ lv[num_post - s:])) for s in range(1, num_post + 1)) - csum
    return D, Q, g, c0, csum, const


def _min_bias_given_h(h, Q, g, c0, csum, K, w0):
    """min sum_k |cumsum(w)_k| s.t. sum(w) = csum, var(w) <= h^2 (split u = cumsum(w) = p - q)."""
    if K == 1:
        return abs(csum), np.array([csum])
    L = np.tril(np.ones((K, K)))
    Linv = np.linalg.inv(L)
    var = lambda w: float(w @ Q @ w + g @ w + c0)

    def unpack(x):
        return Linv @ (x[:K] - x[K:])

    jeq = np.zeros(2 * K)
    jeq[K - 1], jeq[2 * K - 1] = 1.0, -1.0
    cons = [{"type": "eq", "fun": lambda x: (x[K - 1] - x[2 * K - 1]) - csum, "jac": lambda x: jeq},
            {"type": "ineq", "fun": lambda x: h * h - var(unpack(x)),
             "jac": lambda x: -np.concatenate([Linv.T @ (2 * Q @ unpack(x) + g), -Linv.T @ (2 * Q @ unpack(x) + g)])}]
    u0 = L @ w0
    x0 = np.concatenate([np.clip(u0, 0, None), np.clip(-u0, 0, None)])
    res = optimize.minimize(lambda x: x.sum(), x0, jac=lambda x: np.ones_like(x), method="SLSQP",
                            bounds=[(0, None)] * (2 * K), constraints=cons,
                            options={"ftol": 1e-13, "maxiter": 500})
    w = unpack(res.x)
    return float(np.abs(L @ w).sum()), w


def flci(betahat, sigma, *, num_pre: int, num_post: int, M: float = 0.0, l_vec=None,
         alpha: float = 0.05, fold_sims: int | None = 10**6, seed: int = 0) -> dict:
    """Optimal fixed-length confidence interval for ``theta = l' tau_post`` under ``Delta^SD(M)``.

    The interval is ``v' beta +/- chi`` with ``v = (v_pre, l)``; ``v_pre`` minimises the half-length
    ``chi = h cv_alpha(M b(h) / h)`` where ``b(h)`` is the smallest worst-case bias of an affine
    estimator with standard deviation ``h`` and ``cv_alpha(t)`` the ``1 - alpha`` quantile of
    ``|N(t, 1)|`` (Armstrong & Kolesar 2018; Rambachan & Roth 2023, Section 4.1).  As HonestDiD's
    ``findOptimalFLCI``: ``v_pre`` is parameterised by weights ``w`` with ``sum(w) = sum_s s l_s``,
    the worst-case bias is ``M (const + sum_k |cumsum(w)_k|)``, ``h`` ranges over ``[h_min, h_0]``
    (smallest achievable SD; SD of the minimum-bias estimator).  As HonestDiD, the folded-normal
    quantile is simulated from ``fold_sims = 10**6`` draws of R's stream after ``set.seed(seed)``
    (the same draws, so the same interval); ``fold_sims=None`` computes it exactly instead, which
    moves the bounds by about 2e-5 in the Medicaid example (the simulation error of HonestDiD).
    """
    b, S, lv = _check_inputs(betahat, sigma, num_pre, num_post, l_vec)
    K = num_pre
    D, Q, g, c0, csum, const = _flci_parts(S, num_pre, num_post, lv)
    var = lambda w: float(w @ Q @ w + g @ w + c0)
    # h_0: w = (0, ..., 0, csum); h_min: equality-constrained QP
    w_h0 = np.zeros(K)
    w_h0[-1] = csum
    h0 = math.sqrt(max(var(w_h0), 0.0))
    kkt = np.block([[2 * Q, np.ones((K, 1))], [np.ones((1, K)), np.zeros((1, 1))]])
    sol = np.linalg.lstsq(kkt, np.concatenate([-g, [csum]]), rcond=None)[0]
    w_min = sol[:K]
    hmin = math.sqrt(max(var(w_min), 0.0))
    p = 1 - alpha
    cache = {}

    def halflength(h, sims=None):
        if h not in cache:
            start = w_min if h < (hmin + h0) / 2 else w_h0
            cache[h] = _min_bias_given_h(h, Q, g, c0, csum, K, start)
        bias, w = cache[h]
        return h * _foldnorm_q(p, M * (const + bias) / h, sims, seed), w

    # optimise h with the exact quantile (the simulated one is a step function of mu); the
    # half-length at the optimum then uses the simulated quantile when fold_sims is set
    if h0 - hmin <= 1e-12 * max(h0, 1e-300):
        hstar = h0
    else:
        f = lambda h: halflength(h)[0]
        res = optimize.minimize_scalar(f, bounds=(hmin * (1 + 1e-9), h0), method="bounded",
                                       options={"xatol": 1e-8 * h0})
        hstar = min((f(x), x) for x in (hmin * (1 + 1e-9), h0, res.x))[1]
    chi, w = halflength(hstar, fold_sims)
    v = np.concatenate([D @ w, lv])
    est = float(v @ b)
    return {"lb": est - chi, "ub": est + chi, "estimate": est, "halflength": chi, "weights": v, "h": hstar}


# ====================================================================== confidence sets
def _grid_accept(tests, grid):
    acc = np.zeros(len(grid), bool)
    for t in tests:
        acc |= t.accept(grid)
    return acc


def _rm_tests(b, S, num_pre, num_post, lv, mbar, alpha, hybrid, kappa, seed):
    Gam_inv = np.linalg.inv(_gamma_matrix(lv))
    for s in range(-(num_pre - 1), 1):
        for pos in (True, False):
            A = _A_rm(num_pre, num_post, mbar, s, pos)
            if num_post == 1:
                A = A[A[:, -1] != 0]
                yield _NoNuis(b, S, A, np.zeros(len(A)), num_pre, alpha, hybrid, kappa, seed)
                continue
            rows = _post_rows(A, num_pre)
            yield _arp_for(A, np.zeros(len(A)), rows, b, S, num_pre, Gam_inv, alpha, hybrid, kappa, seed)


def _arp_for(A, d, rows, b, S, num_pre, Gam_inv, alpha, hybrid, kappa, seed):
    AG = A[:, num_pre:] @ Gam_inv
    Y = A @ b - d
    SY = A @ S @ A.T
    X = AG[rows, 1:]
    return _ARP(Y[rows], AG[rows, 0], X if X.shape[1] else None, SY[np.ix_(rows, rows)], alpha, hybrid,
                kappa, seed)


def _sd_idset(num_pre, num_post, lv, M):
    """Identified set of ``l' delta_post`` under Delta^SD(M) with ``delta_pre = 0`` (HonestDiD)."""
    A = _A_sd(num_pre, num_post)
    n = num_pre + num_post
    c = np.concatenate([np.zeros(num_pre), lv])
    Aeq = np.hstack([np.eye(num_pre), np.zeros((num_pre, num_post))])
    kw = dict(A_ub=A, b_ub=np.full(len(A), M), A_eq=Aeq, b_eq=np.zeros(num_pre), bounds=[(None, None)] * n,
              method="highs")
    lo = optimize.linprog(c, **kw)
    hi = optimize.linprog(-c, **kw)
    return -(-hi.fun), -lo.fun          # (id.lb, id.ub) = (0 - max, 0 - min)


def _sd_tests(b, S, num_pre, num_post, lv, M, alpha, hybrid, kappa, seed):
    A = _A_sd(num_pre, num_post)
    d = np.full(len(A), float(M))
    if num_post == 1:
        return [_NoNuis(b, S, A, d, num_pre, alpha, hybrid, kappa, seed)]
    rows = _post_rows(A, num_pre)
    return [_arp_for(A, d, rows, b, S, num_pre, np.linalg.inv(_gamma_matrix(lv)), alpha, hybrid, kappa, seed)]


def _one_set(b, S, num_pre, num_post, lv, restriction, method, m, alpha, grid_points, seed, fold_sims,
             grid_lb=None, grid_ub=None):
    post = slice(num_pre, num_pre + num_post)
    sd_theta = float(np.sqrt(lv @ S[post, post] @ lv))
    if method == "FLCI":
        r = flci(b, S, num_pre=num_pre, num_post=num_post, M=m, l_vec=lv, alpha=alpha, fold_sims=fold_sims,
                 seed=seed)
        return r["lb"], r["ub"], False
    hybrid = {"C-LF": "LF", "Conditional": "ARP"}[method]
    kappa = alpha / 10
    if restriction == "relative_magnitude":
        grid = np.linspace(-20 * sd_theta if grid_lb is None else grid_lb,
                           20 * sd_theta if grid_ub is None else grid_ub, grid_points)
        tests = _rm_tests(b, S, num_pre, num_post, lv, m, alpha, hybrid, kappa, seed)
    else:
        lo, hi = _sd_idset(num_pre, num_post, lv, m)
        grid = np.linspace(lo - 20 * sd_theta if grid_lb is None else grid_lb,
                           hi + 20 * sd_theta if grid_ub is None else grid_ub, grid_points)
        tests = _sd_tests(b, S, num_pre, num_post, lv, m, alpha, hybrid, kappa, seed)
    acc = _grid_accept(tests, grid)
    if not acc.any():
        return np.nan, np.nan, False
    return float(grid[acc].min()), float(grid[acc].max()), bool(acc[0] or acc[-1])


def identified_set(betahat, *, num_pre: int, num_post: int, restriction: str = "relative_magnitude",
                   m: float = 1.0, l_vec=None) -> tuple[float, float]:
    """Identified set of ``theta = l' tau_post`` given population coefficients ``betahat``.

    ``[l' beta_post - max l' delta_post, l' beta_post - min l' delta_post]`` over ``delta`` in the
    restriction set with ``delta_pre = beta_pre`` (HonestDiD's ``.compute_IDset_DeltaRM`` /
    ``.compute_IDset_DeltaSD``); for ``Delta^RM`` the union over the location and sign of the
    largest pre-period difference.  Linear programmes solved by scipy's HiGHS.
    """
    b = np.asarray(betahat, float).ravel()
    lv = np.eye(num_post)[0] if l_vec is None else np.asarray(l_vec, float).ravel()
    n = num_pre + num_post
    c = np.concatenate([np.zeros(num_pre), lv])
    Aeq = np.hstack([np.eye(num_pre), np.zeros((num_pre, num_post))])
    if restriction == "relative_magnitude":
        systems = [(_A_rm(num_pre, num_post, m, s, pos), 0.0) for s in range(-(num_pre - 1), 1)
                   for pos in (True, False)]
    elif restriction == "smoothness":
        systems = [(_A_sd(num_pre, num_post), m)]
    else:
        raise ValueError("restriction must be 'relative_magnitude' or 'smoothness'")
    theta = float(lv @ b[num_pre:])
    lows, highs = [], []
    for A, d in systems:
        kw = dict(A_ub=A, b_ub=np.full(len(A), float(d)), A_eq=Aeq, b_eq=b[:num_pre],
                  bounds=[(None, None)] * n, method="highs")
        lo, hi = optimize.linprog(c, **kw), optimize.linprog(-c, **kw)
        if lo.status == 0 and hi.status == 0:
            lows.append(theta + hi.fun)      # theta - max l'delta
            highs.append(theta - lo.fun)     # theta - min l'delta
    if not lows:
        return theta, theta
    return min(lows), max(highs)


_DEFAULT_METHOD = {"relative_magnitude": "C-LF", "smoothness": "FLCI"}


def honest_did(es=None, *, betahat=None, sigma=None, num_pre: int | None = None,
               num_post: int | None = None, restriction: str = "relative_magnitude",
               method: str | None = None, m_values=None, l_vec=None, e: int | None = None,
               alpha: float = 0.05, grid_points: int = 1000, grid_lb: float | None = None,
               grid_ub: float | None = None, seed: int = 0,
               fold_sims: int | None = 10**6) -> "HonestDiDResult":
    """Robust confidence sets for an event-study effect under restrictions on parallel trends.

    Parameters
    ----------
    es : EventStudyCoefficients, AggregateResult (dynamic), EventStudyResult, optional
        The event study; or give ``betahat``, ``sigma``, ``num_pre``, ``num_post`` directly
        (HonestDiD's ``betahat``, ``sigma``, ``numPrePeriods``, ``numPostPeriods``; pre-period
        coefficients first, the reference period left out).
    restriction : {"relative_magnitude", "smoothness"}
        ``Delta^RM(Mbar)`` (``createSensitivityResults_relativeMagnitudes``) or ``Delta^SD(M)``
        (``createSensitivityResults``).
    method : {"C-LF", "Conditional", "FLCI"}, optional
        Default ``"C-LF"`` for relative magnitudes, ``"FLCI"`` for smoothness (as HonestDiD).
        ``"FLCI"`` applies to smoothness only.
    m_values : sequence of float, optional
        ``Mbar`` (relative magnitudes; default 10 values on [0, 2]) or ``M`` (smoothness; default
        10 values from 0 to the pre-period upper bound ``max_t (A_SD beta_pre)_t + z_{0.95} se_t``,
        or to ``sqrt(sigma_11)`` with one pre-period), as HonestDiD.
    l_vec : array, optional
        Weights on the post-period effects (default the first post-period, ``e = 0``).
    e : int, optional
        Shortcut for ``l_vec`` = the post-period ``e`` (0 = on impact), as R ``honest_did(e=)``.
    alpha, grid_points, seed, fold_sims
        Size; number of theta values for test inversion (HonestDiD: 1000); seed of R's random
        stream for the least-favourable critical value and the FLCI quantile; see :func:`flci`.
    grid_lb, grid_ub : float, optional
        Ends of the theta grid (HonestDiD ``grid.lb``/``grid.ub``).  Defaults as HonestDiD:
        ``-/+ 20 sd(l' beta_post)`` for relative magnitudes (a grid around zero, so very precise
        estimates far from zero need explicit ends), the identified set at ``beta = 0`` widened by
        ``20 sd`` for smoothness.

    Returns
    -------
    HonestDiDResult
        ``table`` with one row per M (``lb``, ``ub``), the original interval, breakdown value.

    Notes
    -----
    Writing ``beta = tau + delta`` with ``tau_pre = 0``, the identified set for ``theta`` under
    ``delta in Delta`` is ``{l' (beta_post - delta_post) : delta in Delta, delta_pre = beta_pre}``.
    Conditional sets invert the ARP test of ``H0: theta = theta_0`` which, with
    ``Delta = {A delta <= d}``, is a test of the moment inequalities ``E[A beta - d - A_post
    Gamma^{-1} (theta_0, tau~)] <= 0`` in the nuisance ``tau~``; ``Delta^RM`` is a union of
    polyhedra (the location and sign of the largest pre-period difference), its set the union of
    theirs.  Breakdown value: the largest ``M`` in ``m_values`` such that the set excludes zero at
    that and every smaller value (``NaN`` if even the smallest includes zero).
    """
    if es is not None and not isinstance(es, EventStudyCoefficients):
        es = event_study_coefficients(es)
    event_times = None
    if es is not None:
        betahat, sigma, num_pre, num_post, event_times = es.betahat, es.sigma, es.num_pre, es.num_post, es.event_times
    if restriction not in _DEFAULT_METHOD:
        raise ValueError("restriction must be 'relative_magnitude' or 'smoothness'")
    method = method or _DEFAULT_METHOD[restriction]
    allowed = ("C-LF", "Conditional") if restriction == "relative_magnitude" else ("FLCI", "C-LF", "Conditional")
    if method not in allowed:
        raise ValueError(f"method for {restriction} must be one of {allowed}; got {method!r}")
    if e is not None:
        if l_vec is not None:
            raise ValueError("give either e or l_vec, not both")
        if num_post is None or not 0 <= e < num_post:
            raise ValueError(f"e={e} is not a post-period event time (0..{(num_post or 0) - 1})")
        l_vec = np.eye(num_post)[e]
    b, S, lv = _check_inputs(betahat, sigma, num_pre, num_post, l_vec)
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if m_values is None:
        m_values = _default_m(b, S, num_pre, restriction)
    m_values = np.atleast_1d(np.asarray(m_values, float))
    if np.any(m_values < 0) or not np.all(np.isfinite(m_values)):
        raise ValueError("m_values must be finite and non-negative")
    rows, open_ends = [], []
    for m in m_values:
        lb, ub, open_end = _one_set(b, S, num_pre, num_post, lv, restriction, method, float(m), alpha,
                                    int(grid_points), seed, fold_sims, grid_lb, grid_ub)
        rows.append({"M": float(m), "lb": lb, "ub": ub, "method": method,
                     "delta": "DeltaRM" if restriction == "relative_magnitude" else "DeltaSD"})
        open_ends.append(open_end)
    table = pd.DataFrame(rows)
    if table["lb"].isna().any():
        warnings.warn("no value of theta on the grid was accepted for M = "
                      f"{table['M'][table['lb'].isna()].tolist()}: the grid does not reach the confidence set "
                      "(set grid_lb/grid_ub) or the pre-period coefficients contradict the restriction",
                      RuntimeWarning, stacklevel=2)
    if any(open_ends):
        warnings.warn("the confidence set reaches the end of the theta grid for M = "
                      f"{table['M'][np.array(open_ends)].tolist()}; its length may be understated "
                      "(as HonestDiD warns)", RuntimeWarning, stacklevel=2)
    orig = original_ci(b, S, num_pre, num_post, lv, alpha)
    post = slice(num_pre, num_pre + num_post)
    inputs = dict(b=b, S=S, num_pre=num_pre, num_post=num_post, lv=lv, restriction=restriction, method=method,
                  alpha=alpha, grid_points=int(grid_points), seed=seed, fold_sims=fold_sims, grid_lb=grid_lb,
                  grid_ub=grid_ub)
    return HonestDiDResult(table=table, original=orig, restriction=restriction, method=method,
                           estimate=float(lv @ b[post]), l_vec=lv, alpha=alpha, num_pre=num_pre,
                           num_post=num_post, event_times=event_times, _inputs=inputs)


def _default_m(b, S, num_pre, restriction):
    if restriction == "relative_magnitude":
        return np.linspace(0, 2, 10)
    if num_pre == 1:
        return np.linspace(0, math.sqrt(S[0, 0]), 10)
    A = _A_sd(num_pre, 0)
    diffs = A @ b[:num_pre]
    se = np.sqrt(np.diag(A @ S[:num_pre, :num_pre] @ A.T))
    return np.linspace(0, float(np.max(diffs + stats.norm.ppf(0.95) * se)), 10)


# ====================================================================================== result
@dataclass
class HonestDiDResult:
    """Sensitivity of a confidence set to the size of violations of parallel trends.

    ``table``: one row per ``M`` (or ``Mbar``) with the robust set ``[lb, ub]``; ``original``:
    the usual interval under exact parallel trends; :attr:`breakdown`: the largest ``M`` in the
    grid at which (and below which) the set excludes zero.
    """

    table: pd.DataFrame
    original: tuple
    restriction: str
    method: str
    estimate: float
    l_vec: np.ndarray
    alpha: float = 0.05
    num_pre: int = 0
    num_post: int = 0
    event_times: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    _inputs: dict | None = field(default=None, repr=False)

    @property
    def m_name(self) -> str:
        return "Mbar" if self.restriction == "relative_magnitude" else "M"

    @property
    def breakdown(self) -> float:
        """Largest ``M`` of the grid with every set up to it excluding zero (NaN if none)."""
        excl = ~((self.table["lb"] <= 0) & (self.table["ub"] >= 0)) & self.table["lb"].notna()
        t = self.table.assign(excl=excl.to_numpy()).sort_values("M")
        if not t["excl"].iloc[0]:
            return float("nan")
        stop = np.flatnonzero(~t["excl"].to_numpy())
        last = (stop[0] - 1) if len(stop) else len(t) - 1
        return float(t["M"].iloc[last])

    def breakdown_refined(self, tol: float | None = None) -> float:
        """Breakdown value by bisection between the grid's breakdown value and the next grid value.

        ``tol`` defaults to 1 % of the grid step.  Each step computes one robust set (about a
        second for relative magnitudes), so this is not done by default.  Returns the grid value
        when the set includes zero already at the smallest ``M`` (``NaN``) or at none (the grid's
        largest value: the breakdown lies beyond the grid).
        """
        bd = self.breakdown
        ms = np.sort(self.table["M"].to_numpy())
        if not np.isfinite(bd) or bd >= ms.max() or self._inputs is None:
            return bd
        lo, hi = bd, ms[ms > bd].min()
        tol = 0.01 * (hi - lo) if tol is None else tol
        p = self._inputs
        while hi - lo > tol:
            mid = (lo + hi) / 2
            lb, ub, _ = _one_set(p["b"], p["S"], p["num_pre"], p["num_post"], p["lv"], p["restriction"],
                                 p["method"], mid, p["alpha"], p["grid_points"], p["seed"], p["fold_sims"],
                                 p["grid_lb"], p["grid_ub"])
            if np.isfinite(lb) and not (lb <= 0 <= ub):
                lo = mid
            else:
                hi = mid
        return float(lo)

    def tidy(self) -> pd.DataFrame:
        t = self.table.rename(columns={"M": self.m_name}).copy()
        t["excludes_zero"] = ~((t["lb"] <= 0) & (t["ub"] >= 0))
        return t

    def summary(self) -> str:
        lo, hi = self.original
        name = {"relative_magnitude": "relative magnitudes Delta^RM(Mbar)",
                "smoothness": "smoothness Delta^SD(M)"}[self.restriction]
        bd = self.breakdown
        return (f"HonestDiD sensitivity ({name}; {self.method}), theta = l' tau_post, l = {np.round(self.l_vec, 4).tolist()}\n"
                f"  estimate {self.estimate:.6g}, original {int(100 * (1 - self.alpha))}% CI [{lo:.6g}, {hi:.6g}]\n"
                f"  breakdown value {self.m_name} = {bd:.6g} (largest value in the grid where the set excludes 0)\n"
                + self.tidy().to_string(index=False, float_format=lambda x: f"{x:.5g}"))

    __str__ = summary

    def _repr_html_(self) -> str:
        return (f"<p><b>HonestDiD sensitivity ({self.restriction}, {self.method})</b>: breakdown "
                f"{self.m_name} = {self.breakdown:.4g}</p>"
                + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    def to_dict(self) -> dict:
        from ..results import _records
        bd = self.breakdown
        return {"method": f"HonestDiD {self.restriction} ({self.method})", "restriction": self.restriction,
                "estimate": self.estimate, "original_ci_low": float(self.original[0]),
                "original_ci_high": float(self.original[1]),
                "breakdown": None if not np.isfinite(bd) else bd, "m_name": self.m_name,
                "table": _records(self.tidy())}

    def plot(self, ax=None):
        """Robust sets by ``M`` next to the original interval (HonestDiD's sensitivity plot)."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        t = self.table
        ms = t["M"].to_numpy()
        step = np.min(np.diff(np.unique(ms))) if len(np.unique(ms)) > 1 else 1.0
        x0 = ms.min() - step
        ax.errorbar([x0], [np.mean(self.original)], yerr=[[np.mean(self.original) - self.original[0]],
                    [self.original[1] - np.mean(self.original)]], fmt="none", ecolor="tab:red", capsize=4,
                    lw=2, label="original")
        mid = (t["lb"] + t["ub"]) / 2
        ax.errorbar(ms, mid, yerr=[mid - t["lb"], t["ub"] - mid], fmt="none", ecolor="tab:blue", capsize=4,
                    lw=2, label=f"{self.method} ({'Delta^RM' if self.restriction == 'relative_magnitude' else 'Delta^SD'})")
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        bd = self.breakdown
        if np.isfinite(bd):
            ax.axvline(bd, color="grey", lw=0.8, ls=":", label=f"breakdown {self.m_name} = {bd:.3g}")
        ax.set_xlabel(self.m_name)
        ax.set_ylabel(f"{int(100 * (1 - self.alpha))}% confidence set")
        ax.legend(loc="best", fontsize=8)
        return ax
