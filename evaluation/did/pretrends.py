"""Power of pre-trend tests and the bias that remains after passing them (Roth 2022).

A pre-test "passes" when no pre-period event-study coefficient is individually significant,
``|beta_hat_t| <= c se_t`` for every ``t < ref`` (``c = 1.96``).  Given the covariance ``sigma`` of
the event-study coefficients and a hypothesised violation of parallel trends ``delta`` (e.g. the
linear trend ``slope (t - ref)``):

* :func:`slope_for_power` - the slope of a linear violation the pre-test detects with a given
  probability (50 %, 80 %), as R ``pretrends::slope_for_power``;
* :func:`pretrend_power` - the power against ``delta``, the Bayes factor
  ``(1 - power) / (1 - size)``, the likelihood ratio of the estimated pre-period coefficients under
  ``delta`` versus parallel trends, and the expected coefficients *conditional on passing* the
  pre-test, ``E[beta_hat | pass]`` (for post-periods: the bias of the event-study estimate after
  pre-testing when the true effect is zero), as R ``pretrends::pretrends``.

Rectangle probabilities of the multivariate normal are computed by nested Gauss-Legendre
quadrature over conditional normals (up to five pre-periods; accurate to about 1e-12), else by
scipy's Genz algorithm; R uses ``mvtnorm::pmvnorm`` (Genz, Monte Carlo error up to 1e-3 by
default), so R's printed numbers carry that noise.  The truncated mean uses the
Tallis/Manjunath-Wilhelm formula (R: ``tmvtnorm::mtmvnorm``).

References
----------
Roth, J. (2022). Pretest with caution: event-study estimates after testing for parallel trends.
*American Economic Review: Insights* 4(3), 305-322.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["pretrend_power", "slope_for_power", "PretrendPowerResult"]

_RNG_SEED = 20220901


_GL_Z, _GL_W = np.polynomial.legendre.leggauss(48)


def _box_prob(means: np.ndarray, cov: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """P(lo <= X <= hi) for X ~ N(m, cov), for each row m of ``means``, by nested Gauss-Legendre
    quadrature over the first coordinate of the conditional normals (accurate to ~1e-12)."""
    s1 = np.sqrt(cov[0, 0])
    m0 = means[:, 0]
    if cov.shape[0] == 1:
        return stats.norm.cdf((hi[0] - m0) / s1) - stats.norm.cdf((lo[0] - m0) / s1)
    a = np.maximum(lo[0], m0 - 9 * s1)
    b = np.minimum(hi[0], m0 + 9 * s1)
    half, mid = np.clip(b - a, 0, None) / 2, (a + b) / 2
    x = mid[:, None] + half[:, None] * _GL_Z[None, :]                     # (n, K)
    dens = stats.norm.pdf((x - m0[:, None]) / s1) / s1 * half[:, None] * _GL_W[None, :]
    c = cov[1:, 0] / cov[0, 0]
    S_c = cov[1:, 1:] - np.outer(cov[1:, 0], cov[0, 1:]) / cov[0, 0]
    m_c = means[:, None, 1:] + (x - m0[:, None])[..., None] * c[None, None, :]   # (n, K, d-1)
    p = _box_prob(m_c.reshape(-1, len(c)), S_c, lo[1:], hi[1:]).reshape(x.shape)
    return (dens * p).sum(axis=1)


def _rect_prob(mean, cov, lower, upper) -> float:
    """P(lower <= X <= upper) for X ~ N(mean, cov): quadrature up to 5 dimensions, else Genz."""
    mean, cov = np.atleast_1d(np.asarray(mean, float)), np.atleast_2d(np.asarray(cov, float))
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    if mean.size <= 5:
        return float(_box_prob(mean[None, :], cov, lower, upper)[0])
    return float(stats.multivariate_normal.cdf(upper, mean=mean, cov=cov, lower_limit=lower, abseps=1e-7,
                                               releps=1e-7, rng=np.random.default_rng(_RNG_SEED)))


def _truncated_mean(mean, cov, lower, upper) -> np.ndarray:
    """E[X | lower <= X <= upper] for X ~ N(mean, cov) (Manjunath & Wilhelm 2012, eq. 12)."""
    mean, cov = np.asarray(mean, float), np.asarray(cov, float)
    d = mean.size
    alpha = _rect_prob(mean, cov, lower, upper)
    F = np.zeros(d)
    for k in range(d):          # d = number of pre-periods (a handful)
        s_kk = cov[k, k]
        rest = np.delete(np.arange(d), k)
        for x, sign in ((lower[k], 1.0), (upper[k], -1.0)):
            if not np.isfinite(x):
                continue
            dens = stats.norm.pdf(x, mean[k], np.sqrt(s_kk))
            if d == 1:
                p = 1.0
            else:
                c = cov[rest, k] / s_kk
                m_c = mean[rest] + c * (x - mean[k])
                S_c = cov[np.ix_(rest, rest)] - np.outer(cov[rest, k], cov[k, rest]) / s_kk
                p = _rect_prob(m_c, S_c, lower[rest], upper[rest])
            F[k] += sign * dens * p
    return mean + cov @ F / alpha


def _split(es, betahat, sigma, event_times, ref):
    if es is not None:
        from .honest import EventStudyCoefficients, event_study_coefficients
        if not isinstance(es, EventStudyCoefficients):
            es = event_study_coefficients(es, ref=ref)
        betahat, sigma, event_times, ref = es.betahat, es.sigma, es.event_times, es.ref
    if sigma is None or event_times is None:
        raise ValueError("give an event study, or sigma and event_times")
    S = np.asarray(sigma, float)
    t = np.asarray(event_times, float).ravel()
    if S.ndim != 2 or S.shape[0] != S.shape[1] or S.shape[0] != t.size:
        raise ValueError(f"sigma must be square with one row per event time; got {S.shape} for {t.size} event times")
    if ref in t:
        raise ValueError(f"the reference period {ref} must be left out of event_times and sigma")
    if not np.allclose(S, S.T, rtol=1e-6, atol=1e-14):
        raise ValueError("sigma is not symmetric")
    pre = np.flatnonzero(t < ref)
    if len(pre) == 0:
        raise ValueError(f"no pre-period coefficients (event time < {ref}); a pre-test needs at least one")
    ev = np.linalg.eigvalsh(S[np.ix_(pre, pre)])
    if ev.min() <= 0:
        raise ValueError("the covariance of the pre-period coefficients is not positive definite "
                         f"(smallest eigenvalue {ev.min():.3g})")
    b = None if betahat is None else np.asarray(betahat, float).ravel()
    if b is not None and b.size != t.size:
        raise ValueError(f"betahat has {b.size} coefficients for {t.size} event times")
    return b, S, t, float(ref), pre


def _power(delta_pre, S_pre, c):
    ub = c * np.sqrt(np.diag(S_pre))
    return 1.0 - _rect_prob(delta_pre, S_pre, -ub, ub)


def slope_for_power(es=None, *, sigma=None, event_times=None, ref: int = -1, power=(0.5, 0.8),
                    threshold: float = 1.96):
    """Slope of a linear violation ``delta_t = slope (t - ref)`` that the pre-test detects with
    probability ``power`` (R ``pretrends::slope_for_power``).

    Returns a float for a scalar ``power`` and a DataFrame (``power``, ``slope``) otherwise.

    Notes
    -----
    Power is ``1 - P(|beta_hat_t| <= c se_t for all t < ref)`` with ``beta_hat_pre ~
    N(slope (t_pre - ref), sigma_pre)``; the root is found by Brent's method on
    ``[0, 8 max se_pre]`` (R: ``uniroot`` on the same interval, tolerance 1.2e-4).
    """
    _, S, t, ref, pre = _split(es, None, sigma, event_times, ref)
    Sp = S[np.ix_(pre, pre)]
    rel = t[pre] - ref
    powers = np.atleast_1d(np.asarray(power, float))
    if np.any((powers <= 0) | (powers >= 1)):
        raise ValueError("power must be strictly between 0 and 1")
    size = _power(np.zeros(len(pre)), Sp, threshold)
    hi = 8 * np.sqrt(np.diag(Sp)).max()
    out = []
    for p in powers:
        if p <= size:
            raise ValueError(f"target power {p} is not above the size of the pre-test ({size:.3g})")
        f = lambda s: _power(rel * s, Sp, threshold) - p
        while f(hi) < 0:
            hi *= 2
        out.append(optimize.brentq(f, 0.0, hi, xtol=1e-12))
    if np.ndim(power) == 0:
        return float(out[0])
    return pd.DataFrame({"power": powers, "slope": out})


@dataclass
class PretrendPowerResult:
    """Power of the pre-test against a hypothesised trend and expectations after passing it."""

    power: float
    size: float
    bayes_factor: float
    likelihood_ratio: float
    table: pd.DataFrame
    threshold: float = 1.96
    extra: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        lr = "" if not np.isfinite(self.likelihood_ratio) else f", likelihood ratio {self.likelihood_ratio:.4g}"
        return (f"Pre-trend test power (no pre-period coefficient significant at |t| <= {self.threshold:g})\n"
                f"  power {self.power:.4g} against the hypothesised trend (size {self.size:.3g}), "
                f"Bayes factor {self.bayes_factor:.4g}{lr}\n"
                + self.table.to_string(index=False, float_format=lambda x: f"{x:.5g}"))

    __str__ = summary

    def _repr_html_(self) -> str:
        return (f"<p><b>Pre-trend test power</b>: {self.power:.3g} (Bayes factor {self.bayes_factor:.3g})</p>"
                + self.table.to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    def to_dict(self) -> dict:
        from ..results import _records
        return {"method": "Pre-trend test power (Roth 2022)", "power": self.power, "size": self.size,
                "bayes_factor": self.bayes_factor,
                "likelihood_ratio": None if not np.isfinite(self.likelihood_ratio) else self.likelihood_ratio,
                "table": _records(self.table)}

    def plot(self, ax=None):
        """Event study with the hypothesised trend and the expectation after pre-testing."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        t = self.table
        if t["betahat"].notna().any():
            ax.errorbar(t["event_time"], t["betahat"], yerr=1.96 * t["se"], fmt="o", color="black", capsize=3,
                        label="estimated coefficients")
        ax.plot(t["event_time"], t["delta"], "-^", color="tab:red", label="hypothesised trend")
        ax.plot(t["event_time"], t["mean_after_pretest"], "--s", color="tab:blue",
                label="expectation after passing the pre-test")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("event time")
        ax.set_title(f"Power of the pre-test {self.power:.2f}")
        ax.legend(fontsize=8)
        return ax


def pretrend_power(es=None, *, betahat=None, sigma=None, event_times=None, ref: int = -1, delta=None,
                   slope: float | None = None, threshold: float = 1.96) -> PretrendPowerResult:
    """Power of the pre-test against a hypothesised violation ``delta`` (R ``pretrends::pretrends``).

    Parameters
    ----------
    es : event study (see :func:`evaluation.did.honest.event_study_coefficients`), optional
        Or give ``betahat`` (optional: only for the likelihood ratio and the plot), ``sigma`` and
        ``event_times`` (reference period left out).
    delta : array, optional
        Hypothesised difference in trends at each event time; or ``slope`` for the linear trend
        ``slope (t - ref)``.
    threshold : float
        |t| above which a pre-period coefficient counts as significant.

    Notes
    -----
    ``power = 1 - P_delta(pass)``; Bayes factor ``P_delta(pass) / P_0(pass)``; likelihood ratio
    ``phi(beta_hat_pre; delta_pre, sigma_pre) / phi(beta_hat_pre; 0, sigma_pre)``.  After passing,
    ``E[beta_hat_pre | pass]`` is the mean of the normal truncated to the acceptance box and
    ``E[beta_hat_post | pass] = delta_post + sigma_post,pre sigma_pre^{-1} (E[beta_hat_pre | pass]
    - delta_pre)``: with a zero true effect, the bias of the post-period estimates conditional on
    passing the pre-test (``bias_after_pretest``), next to the unconditional bias ``delta_post``.
    """
    b, S, t, ref, pre = _split(es, betahat, sigma, event_times, ref)
    if (delta is None) == (slope is None):
        raise ValueError("give exactly one of delta (hypothesised trend) or slope (linear trend)")
    dl = slope * (t - ref) if slope is not None else np.asarray(delta, float).ravel()
    if dl.size != t.size:
        raise ValueError(f"delta has {dl.size} values for {t.size} event times")
    post = np.flatnonzero(t > ref)
    Sp = S[np.ix_(pre, pre)]
    ub = threshold * np.sqrt(np.diag(Sp))
    power = _power(dl[pre], Sp, threshold)
    size = _power(np.zeros(len(pre)), Sp, threshold)
    lr = np.nan
    if b is not None:
        lr = float(np.exp(stats.multivariate_normal(dl[pre], Sp).logpdf(b[pre])
                          - stats.multivariate_normal(np.zeros(len(pre)), Sp).logpdf(b[pre])))
    m_pre = _truncated_mean(dl[pre], Sp, -ub, ub)
    m_post = dl[post] + S[np.ix_(post, pre)] @ np.linalg.solve(Sp, m_pre - dl[pre])
    mean_after = np.full(t.size, np.nan)
    mean_after[pre], mean_after[post] = m_pre, m_post
    table = pd.DataFrame({"event_time": t, "betahat": np.nan if b is None else b, "delta": dl,
                          "se": np.sqrt(np.diag(S)), "mean_after_pretest": mean_after})
    ref_row = pd.DataFrame({"event_time": [ref], "betahat": [0.0 if b is not None else np.nan], "delta": [0.0],
                            "se": [0.0], "mean_after_pretest": [0.0]})
    table = pd.concat([table, ref_row], ignore_index=True).sort_values("event_time").reset_index(drop=True)
    table["bias_after_pretest"] = np.where(table["event_time"] > ref, table["mean_after_pretest"], np.nan)
    table["bias_unconditional"] = np.where(table["event_time"] > ref, table["delta"], np.nan)
    return PretrendPowerResult(power=power, size=size, bayes_factor=(1 - power) / (1 - size), likelihood_ratio=lr,
                               table=table, threshold=threshold)
