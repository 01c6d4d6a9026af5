"""Binary-response GLM fitted by iteratively reweighted least squares exactly as R's ``glm.fit``.

MatchIt estimates the propensity score with ``glm(treat ~ ..., family = binomial)``; to reproduce
its matched samples the fitted probabilities must agree with R's to floating-point precision,
including R's starting values (``mustart = (y + 0.5) / 2``), its convergence rule
(``|dev - dev_old| / (|dev| + 0.1) < 1e-8``, at most 25 iterations), the clamping in the logit
inverse link (``|eta| > 30``) and step halving when the deviance is not finite.

How it is computed (fast on millions of rows, same iterates as R)
-----------------------------------------------------------------
R solves each IRLS step ``b = argmin ||W^{1/2}(z - X b)||`` by a QR decomposition of the
weighted n × p matrix.  Here each step uses the p × p normal equations instead:

* for the candidate coefficients one BLAS call gives ``eta = X b`` and a blocked pass ``mu`` and
  the deviance; only if R would iterate again, a second blocked pass over the rows (cache-sized
  blocks, no n × p temporary) accumulates ``X'WX`` and the score ``X'u``
  (``u = (mu_eta / var)(y - mu)``, which is ``y - mu`` for the canonical logit link);
* the step ``delta = (X'WX)^{-1} X'u`` is solved by a Cholesky factorisation of ``X'WX`` scaled to
  unit diagonal (so covariates in kroner and in years do not spoil the conditioning); R's next
  iterate ``b + delta`` is the same as its weighted least-squares solution with working response
  ``z = eta + (y - mu)/mu_eta``, but solving for the increment keeps the rounding error
  proportional to the (small, near convergence) step;
* when the scaled matrix is ill-conditioned (condition number above 1e10) or not positive
  definite, that step falls back to a QR decomposition of ``W^{1/2} X`` as R.

The model-based covariance is the inverse of the last step's ``X'WX``, as ``summary.glm`` (the QR
of R's last iteration).  The first iteration needs no pass over the rows: at ``mustart`` the weights are one constant, so its system is
``w0 X'X`` and its right-hand side a combination of ``X'y`` and ``X'1``, which :func:`summarise`
computes once, with the rank and separation checks that use the same sums.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

_EPS = np.finfo(float).eps
_THRESH = 30.0
_PROBIT_THRESH = -float(special.ndtri(_EPS))
_CHUNK = 1 << 15            # rows per block: a block of X stays in cache during a pass
_COND_MAX = 1e10            # Cholesky of the scaled X'WX above this condition number -> QR


def _linkinv(eta, link, out=None):
    """R's ``binomial()$linkinv``: logit clamped at |eta| > 30, probit at the normal's eps quantile."""
    if link == "logit":
        lo, hi = eta.min(initial=0.0), eta.max(initial=0.0)
        if lo < -_THRESH or hi > _THRESH:
            t = np.exp(np.clip(eta, -_THRESH, _THRESH))
            t[eta < -_THRESH] = _EPS
            t[eta > _THRESH] = 1 / _EPS
        else:
            t = np.exp(eta)
        mu = np.divide(t, 1.0 + t, out=out)
        return mu
    if link == "probit":
        return special.ndtr(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH), out=out)
    raise ValueError(f"link {link!r} not supported; use 'logit' or 'probit'")


def _mu_eta(eta, link):
    if link == "logit":
        e = np.exp(np.clip(eta, -_THRESH, _THRESH))
        out = e / (1 + e) ** 2
        return np.where(np.abs(eta) > _THRESH, _EPS, out)
    return np.maximum(np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi), _EPS)


def _linkfun(mu, link):
    if link == "logit":
        return np.log(mu / (1 - mu))
    return special.ndtri(mu)


def _weights(eta, mu, y, link):
    """IRLS weights ``w = mu_eta^2 / var`` and score terms ``u = (mu_eta / var)(y - mu)``.

    For the canonical logit link ``mu_eta = var = mu(1 - mu)`` (R's separately computed values
    agree to rounding, also where |eta| > 30 clamps both to about eps), so ``w = mu(1 - mu)`` and
    ``u = y - mu``."""
    if link == "logit":
        w = mu * (1.0 - mu)
        return w, y - mu
    var = mu * (1.0 - mu)
    me = _mu_eta(eta, link)
    return me * me / var, (me / var) * (y - mu)


@dataclass
class DesignSummary:
    """Sums over the rows that the checks and the first IRLS step need (one pass)."""

    xtx: np.ndarray          # X'X
    xt1: np.ndarray          # X'1
    xty: np.ndarray          # X'y
    col_min: np.ndarray
    col_max: np.ndarray
    n: int
    n1: int

    @property
    def scale(self) -> np.ndarray:
        d = np.sqrt(np.diag(self.xtx))
        return np.where(d > 0, d, 1.0)

    def rank(self, tol: float = 1e-7) -> int:
        """Numerical rank of X from the scaled Gram matrix (singular values relative to the
        largest below ``tol`` count as zero; as a QR with tolerance ``tol`` on |R_jj|)."""
        d = self.scale
        ev = np.linalg.eigvalsh(self.xtx / np.outer(d, d))
        sv = np.sqrt(np.clip(ev, 0.0, None))
        return int((sv > tol * sv.max()).sum())

    def two_valued(self, j: int, X: np.ndarray | None = None) -> bool:
        """Whether column j takes exactly two values: Σ(x − a)(x − b) = 0 for its minimum a and
        maximum b (from the sums, up to rounding), confirmed on the column itself if ``X`` is given
        (one comparison pass, only for the candidates)."""
        a, b = self.col_min[j], self.col_max[j]
        if not b > a:
            return False
        s = self.xtx[j, j] - (a + b) * self.xt1[j] + self.n * a * b
        if abs(s) > 1e-9 * self.n * (b - a) ** 2:
            return False
        return X is None or bool(np.all((X[:, j] == a) | (X[:, j] == b)))

    def level_counts(self, j: int) -> tuple[tuple[float, int, int], tuple[float, int, int]]:
        """For a two-valued column: (value, units, treated) at its lower and upper value."""
        a, b = self.col_min[j], self.col_max[j]
        n_b = int(round((self.xt1[j] - self.n * a) / (b - a)))
        t_b = int(round((self.xty[j] - self.n1 * a) / (b - a)))
        return (a, self.n - n_b, self.n1 - t_b), (b, n_b, t_b)


def summarise(X: np.ndarray, y: np.ndarray) -> DesignSummary:
    """X'X (in row blocks), X'1, X'y and column minima/maxima of a column-major X."""
    n, p = X.shape
    xtx = np.zeros((p, p))
    for s in range(0, n, _CHUNK):
        Xc = X[s:s + _CHUNK]
        xtx += Xc.T @ Xc
    return DesignSummary(xtx=xtx, xt1=X.sum(axis=0), xty=y @ X, col_min=X.min(axis=0),
                         col_max=X.max(axis=0), n=n, n1=int(round(float(y.sum()))))


def _predict(X, y, yb, coef, link, eta, mu, xty):
    """Linear predictor and fitted values (written into ``eta``, ``mu``) and the deviance.

    For the logit link without clamping the deviance is ``2 Σ log(1 + e^eta) − 2 b'X'y`` (the
    binomial deviance written with the denominator that ``mu`` needs anyway)."""
    np.dot(X, coef, out=eta)              # one BLAS call (blocked calls cost 2-3 times as much)
    if link == "logit" and eta.min() >= -_THRESH and eta.max() <= _THRESH:
        n = eta.shape[0]
        dev = 0.0
        buf = np.empty(min(n, _CHUNK))
        for s in range(0, n, _CHUNK):     # blocks stay in cache between the four operations
            e = slice(s, s + _CHUNK)
            d1 = buf[:eta[e].shape[0]]
            np.exp(eta[e], out=d1)
            np.divide(d1, np.add(d1, 1.0, out=mu[e]), out=mu[e])      # mu = t / (1 + t)
            np.add(d1, 1.0, out=d1)
            dev += 2.0 * float(np.log(d1, out=d1).sum())
        return dev - 2.0 * float(coef @ xty), True
    _linkinv(eta, link, out=mu)
    with np.errstate(divide="ignore"):
        dev = -2.0 * float(np.log(np.where(yb, mu, 1.0 - mu)).sum())
    return dev, link != "probit" or bool(np.all((mu > 0) & (mu < 1)))


def _system(X, y, eta, mu, link):
    """``X'WX`` and ``X'u`` at the current fit, accumulated over cache-sized row blocks."""
    n, p = X.shape
    G = np.zeros((p, p))
    r = np.zeros(p)
    for s in range(0, n, _CHUNK):
        e = slice(s, s + _CHUNK)
        Xc = X[e]
        w, u = _weights(eta[e], mu[e], y[e], link)
        G += (Xc * w[:, None]).T @ Xc
        r += u @ Xc
    return G, r


def _solve(G: np.ndarray, r: np.ndarray, X, w_fn) -> np.ndarray:
    """Solve G delta = r by Cholesky of the unit-diagonal scaling of G; QR of W^{1/2}X (as R)
    when that is ill-conditioned.  ``w_fn()`` returns (w, u) over all rows for the fall-back."""
    d = np.sqrt(np.clip(np.diag(G), 0.0, None))
    d[d == 0] = 1.0
    Gs = G / np.outer(d, d)
    try:
        if np.linalg.cond(Gs) > _COND_MAX:
            raise np.linalg.LinAlgError("ill-conditioned")
        return linalg.cho_solve(linalg.cho_factor(Gs, check_finite=False), r / d,
                                check_finite=False) / d
    except (np.linalg.LinAlgError, linalg.LinAlgError):
        w, u = w_fn()
        sw = np.sqrt(w)
        return linalg.lstsq(X * sw[:, None], u / sw, check_finite=False, lapack_driver="gelsy")[0]


@dataclass
class GLMFit:
    coef: np.ndarray
    fitted: np.ndarray
    linear_predictor: np.ndarray
    deviance: float
    iterations: int
    converged: bool
    vcov: np.ndarray


def glm_binary(X: np.ndarray, y: np.ndarray, *, link: str = "logit", epsilon: float = 1e-8,
               maxit: int = 25, summary: DesignSummary | None = None) -> GLMFit:
    """Fit a binomial GLM by IRLS with R ``glm.fit``'s iterates (unit prior weights).

    ``summary`` (from :func:`summarise`) saves the first pass when the caller already has it.
    """
    if link not in ("logit", "probit"):
        raise ValueError(f"link {link!r} not supported; use 'logit' or 'probit'")
    X = np.asfortranarray(X, dtype=float)      # columns contiguous (pandas' own layout: no copy)
    y = np.asarray(y, dtype=float)
    yb = y == 1
    n, k = X.shape
    S = summary if summary is not None else summarise(X, y)
    # iteration 1 from mustart = (y + 0.5)/2: the weights are one constant w0
    mu0 = np.array([0.25, 0.75])                              # y = 0, y = 1
    eta0 = _linkfun(mu0, link)
    me0 = _mu_eta(eta0, link)
    var0 = mu0 * (1 - mu0)
    w0 = float(me0[1] ** 2 / var0[1])
    wz = w0 * eta0 + (me0 / var0) * (np.array([0.0, 1.0]) - mu0)   # w z for y = 0, 1
    rhs = wz[1] * S.xty + wz[0] * (S.xt1 - S.xty)
    devold = -2.0 * n * np.log(0.75)
    eta = np.empty(n)
    mu = np.empty(n)

    def full_weights():
        return _weights(eta, mu, y, link)

    G = w0 * S.xtx
    coef = _solve(G, rhs, X, lambda: (np.full(n, w0), np.where(yb, wz[1], wz[0])))
    coef_old = None
    conv = False
    it = 0
    for it in range(1, maxit + 1):
        if it > 1:
            G, r = _system(X, y, eta, mu, link)
            coef = coef_old + _solve(G, r, X, full_weights)
        dev, valid = _predict(X, y, yb, coef, link, eta, mu, S.xty)
        halvings = 0
        while (not np.isfinite(dev) or not valid) and coef_old is not None:
            halvings += 1
            if halvings > maxit:
                raise FloatingPointError("propensity model: IRLS step halving failed; the model "
                                         "cannot be fitted (check for separation)")
            coef = (coef + coef_old) / 2
            dev, valid = _predict(X, y, yb, coef, link, eta, mu, S.xty)
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            conv = True
            break
        devold = dev
        coef_old = coef
    # covariance as summary.glm: the inverse of X'WX of the last IRLS step (R's chol2inv of its QR)
    try:
        vcov = np.linalg.inv(G)
    except np.linalg.LinAlgError:
        vcov = np.full((k, k), np.nan)
    return GLMFit(coef=coef, fitted=mu, linear_predictor=eta, deviance=dev, iterations=it,
                  converged=conv, vcov=vcov)
