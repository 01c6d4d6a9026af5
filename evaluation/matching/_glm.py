"""Binary-response GLM fitted by iteratively reweighted least squares exactly as R's ``glm.fit``.

MatchIt estimates the propensity score with ``glm(treat ~ ..., family = binomial)``; to reproduce
its matched samples the fitted probabilities must agree with R's to floating-point precision,
including R's starting values (``mustart = (y + 0.5) / 2``), its convergence rule
(``|dev - dev_old| / (|dev| + 0.1) < 1e-8``, at most 25 iterations), the clamping in the logit
inverse link (``|eta| > 30``) and step halving when the deviance is not finite.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, stats

_EPS = np.finfo(float).eps
_THRESH = 30.0
_PROBIT_THRESH = -stats.norm.ppf(_EPS)


def _linkinv(eta, link):
    if link == "logit":
        t = np.exp(np.clip(eta, -_THRESH, _THRESH))
        t = np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, 1 / _EPS, t))
        return t / (1 + t)
    if link == "probit":
        return stats.norm.cdf(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH))
    raise ValueError(f"link {link!r} not supported; use 'logit' or 'probit'")


def _mu_eta(eta, link):
    if link == "logit":
        e = np.exp(np.clip(eta, -_THRESH, _THRESH))
        out = e / (1 + e) ** 2
        return np.where(np.abs(eta) > _THRESH, _EPS, out)
    return np.maximum(stats.norm.pdf(eta), _EPS)


def _linkfun(mu, link):
    if link == "logit":
        return np.log(mu / (1 - mu))
    return stats.norm.ppf(mu)


def _deviance(y, mu):
    with np.errstate(divide="ignore"):
        return float(np.sum(np.where(y == 1, -2 * np.log(mu), -2 * np.log(1 - mu))))


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
               maxit: int = 25) -> GLMFit:
    """Fit a binomial GLM by IRLS with R ``glm.fit``'s algorithm (unit prior weights)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    mu = (y + 0.5) / 2.0
    eta = _linkfun(mu, link)
    devold = _deviance(y, mu)
    coef = None
    conv = False
    it = 0
    for it in range(1, maxit + 1):
        var = mu * (1 - mu)
        me = _mu_eta(eta, link)
        good = me != 0
        z = eta[good] + (y[good] - mu[good]) / me[good]
        w = np.sqrt(me[good] ** 2 / var[good])
        q, r = linalg.qr(X[good] * w[:, None], mode="economic", check_finite=False)
        start = linalg.solve_triangular(r, q.T @ (z * w), check_finite=False)
        eta_new = X @ start
        mu_new = _linkinv(eta_new, link)
        dev = _deviance(y, mu_new)
        # step halving as glm.fit when the deviance is not finite or mu leaves (0, 1)
        halvings = 0
        while (not np.isfinite(dev) or np.any(mu_new <= 0) or np.any(mu_new >= 1)) and coef is not None:
            halvings += 1
            if halvings > maxit:
                raise FloatingPointError("propensity model: IRLS step halving failed; the model "
                                         "cannot be fitted (check for separation)")
            start = (start + coef) / 2
            eta_new = X @ start
            mu_new = _linkinv(eta_new, link)
            dev = _deviance(y, mu_new)
        coef, eta, mu = start, eta_new, mu_new
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            conv = True
            break
        devold = dev
    # covariance of the coefficients (inverse Fisher information)
    var = mu * (1 - mu)
    me = _mu_eta(eta, link)
    wt = me ** 2 / var
    try:
        vcov = np.linalg.inv((X * wt[:, None]).T @ X)
    except np.linalg.LinAlgError:
        vcov = np.full((k, k), np.nan)
    return GLMFit(coef=coef, fitted=mu, linear_predictor=eta, deviance=dev, iterations=it,
                  converged=conv, vcov=vcov)
