"""Power, minimum detectable effect and required sample size for planning a trial.

All three functions share one model of the standard error of an arm-vs-control difference in means::

    SE = σ · sqrt( (1 − R²) · DEFF · (1/(n·p_t) + 1/(n·p_c)) ),   DEFF = 1 + (m − 1)·ICC

* ``n`` — persons in the whole trial (all arms);
* ``p`` — share of the trial in the treatment arm being compared (default ``1/arms``); the control
  share is ``1 − (arms − 1)·p`` (for two arms ``1 − p``);
* ``σ`` — outcome SD, or ``sqrt(b(1 − b))`` when a ``baseline`` rate ``b`` of a binary outcome is given;
* ``R²`` — share of outcome variance explained by baseline covariates (ANCOVA);
* ``clusters`` — number of clusters in the trial (cluster randomisation), ``m = n/clusters`` persons
  per cluster, ``ICC`` the intra-cluster correlation (applied after covariate adjustment).

Inference is two-sided at level ``alpha`` (divided by ``arms − 1`` if ``bonferroni=True``), normal
for individual randomisation and t with ``J − 2`` degrees of freedom (J = clusters in the two arms
compared) for cluster randomisation (Bloom 2005, *Learning More from Social Experiments*, ch. 4).

* ``mde = (q_{1−α/2} + q_{power}) · SE``,
* ``power(effect) = P(|T| > q_{1−α/2})`` with ``T`` normal (or noncentral t) with mean ``effect/SE``,
* ``required_n`` inverts ``power`` (closed form in the normal case, root finding with clusters).

Examples
--------
>>> round(mde(1000, sd=1), 4)              # 2 arms, 50/50, alpha 5 %, power 80 %
0.1772
>>> required_n(0.1772, sd=1) <= 1000
True
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["mde", "power", "required_n", "standard_error", "power_table", "r_squared"]


def _shares(p, arms):
    if arms < 2:
        raise ValueError("arms must be at least 2 (control and one treatment)")
    pt = 1.0 / arms if p is None else float(p)
    pc = 1.0 - (arms - 1) * pt
    if not (0 < pt < 1) or pc <= 0:
        raise ValueError(f"allocation p={p} with {arms} arms leaves no control share; need (arms-1)*p < 1")
    return pt, pc


def _sigma(sd, baseline):
    if baseline is None:
        return np.asarray(sd, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if np.any((b <= 0) | (b >= 1)):
        raise ValueError("baseline is a rate of a binary outcome and must lie strictly between 0 and 1")
    return np.sqrt(b * (1 - b))


def standard_error(n, *, p=None, sd=1.0, baseline=None, r2=0.0, clusters=None, icc=0.0, arms=2):
    """Standard error of the arm-vs-control difference (see module notes)."""
    n = np.asarray(n, dtype=float)
    pt, pc = _shares(p, arms)
    if np.any(np.asarray(r2) < 0) or np.any(np.asarray(r2) >= 1):
        raise ValueError("r2 must be in [0, 1)")
    deff = 1.0
    if clusters is not None:
        m = n / np.asarray(clusters, dtype=float)
        deff = 1.0 + (m - 1.0) * np.asarray(icc, dtype=float)
    elif np.any(np.asarray(icc) != 0):
        raise ValueError("icc given without clusters=; give the number of clusters")
    return _sigma(sd, baseline) * np.sqrt((1 - np.asarray(r2)) * deff * (1 / (n * pt) + 1 / (n * pc)))


def _df(clusters, p, arms):
    if clusters is None:
        return None
    pt, pc = _shares(p, arms)
    df = np.asarray(clusters, dtype=float) * (pt + pc) - 2
    if np.any(df < 1):
        raise ValueError("too few clusters: need more than two clusters in the arms compared")
    return df


def _alpha(alpha, arms, bonferroni):
    return alpha / (arms - 1) if bonferroni else alpha


def mde(n, *, p=None, sd=1.0, baseline=None, alpha=0.05, power=0.8, r2=0.0, clusters=None, icc=0.0,
        arms=2, bonferroni=False):
    """Minimum detectable effect (outcome units) for a trial of ``n`` persons.

    Parameters are described in the module notes; arrays broadcast (e.g. ``n=[500, 1000, 2000]``).
    """
    a = _alpha(alpha, arms, bonferroni)
    se = standard_error(n, p=p, sd=sd, baseline=baseline, r2=r2, clusters=clusters, icc=icc, arms=arms)
    df = _df(clusters, p, arms)
    if df is None:
        mult = stats.norm.ppf(1 - a / 2) + stats.norm.ppf(power)
    else:
        mult = stats.t.ppf(1 - a / 2, df) + stats.t.ppf(power, df)
    out = mult * se
    return float(out) if np.ndim(out) == 0 else out


def power(effect, n, *, p=None, sd=1.0, baseline=None, alpha=0.05, r2=0.0, clusters=None, icc=0.0,
          arms=2, bonferroni=False):
    """Probability that a two-sided test at ``alpha`` rejects when the true effect is ``effect``."""
    a = _alpha(alpha, arms, bonferroni)
    se = standard_error(n, p=p, sd=sd, baseline=baseline, r2=r2, clusters=clusters, icc=icc, arms=arms)
    delta = np.abs(np.asarray(effect, dtype=float)) / se
    df = _df(clusters, p, arms)
    if df is None:
        c = stats.norm.ppf(1 - a / 2)
        out = stats.norm.sf(c - delta) + stats.norm.cdf(-c - delta)
    else:
        c = stats.t.ppf(1 - a / 2, df)
        out = stats.nct.sf(c, df, delta) + stats.nct.cdf(-c, df, delta)
    return float(out) if np.ndim(out) == 0 else out


def required_n(effect, *, p=None, sd=1.0, baseline=None, alpha=0.05, power=0.8, r2=0.0,
               cluster_size=None, icc=0.0, arms=2, bonferroni=False):
    """Smallest total number of persons giving ``power`` to detect ``effect``.

    Individual randomisation: ``n = (q_{1−α/2} + q_power)² σ²(1 − R²)(1/p_t + 1/p_c) / effect²``
    rounded up.  Cluster randomisation: give ``cluster_size`` (persons per cluster) and ``icc``; the
    result is a multiple of ``cluster_size`` found by root finding on :func:`power` (t with J − 2 df).
    """
    eff = abs(float(effect))
    if eff == 0:
        raise ValueError("effect must be non-zero")
    target = power
    pt, pc = _shares(p, arms)
    a = _alpha(alpha, arms, bonferroni)
    if cluster_size is None:
        if icc:
            raise ValueError("icc given without cluster_size=")
        sig = float(_sigma(sd, baseline))
        mult = stats.norm.ppf(1 - a / 2) + stats.norm.ppf(target)
        n = mult ** 2 * sig ** 2 * (1 - r2) * (1 / pt + 1 / pc) / eff ** 2
        return int(np.ceil(n - 1e-9))
    m = float(cluster_size)
    _pow = globals()["power"]

    def gap(J):
        return _pow(eff, J * m, p=p, sd=sd, baseline=baseline, alpha=alpha, r2=r2, clusters=J, icc=icc,
                    arms=arms, bonferroni=bonferroni) - target
    lo = 2.0 / (pt + pc) + 1.0
    hi = lo * 2
    while gap(hi) < 0:
        hi *= 2
        if hi > 1e9:
            raise ValueError("no feasible number of clusters: the ICC is too large for this effect")
    J = optimize.brentq(gap, lo, hi) if gap(lo) < 0 else lo
    # clusters must split by allocation: round the number of clusters up
    return int(np.ceil(J - 1e-9) * m)


def power_table(n, *, effects=None, **kwargs) -> pd.DataFrame:
    """A small planning table: MDE at ``n`` and, for each of ``effects``, the power at ``n``."""
    ns = np.atleast_1d(n)
    mde_kw = {k: v for k, v in kwargs.items() if k != "power"}
    rows = []
    for nn in ns:
        row = {"n": int(nn), "mde": mde(nn, power=kwargs.get("power", 0.8), **{k: v for k, v in mde_kw.items()})}
        for e in (effects or []):
            row[f"power_at_{e:g}"] = power(e, nn, **mde_kw)
        rows.append(row)
    return pd.DataFrame(rows)


def r_squared(data: pd.DataFrame, *, outcome: str, covariates, treatment: str | None = None,
              control=None) -> float:
    """R² of the outcome on baseline covariates (in the control arm if ``treatment`` is given).

    The planning input ``r2`` for :func:`mde`/:func:`power`/:func:`required_n`.  Rows with missing
    values are dropped with a warning.
    """
    from ._prep import code_treatment, covariate_matrix, drop_missing, require_columns
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    require_columns(data, [outcome] + covariates + ([treatment] if treatment else []))
    d, _ = drop_missing(data, [outcome, *covariates, treatment], where="r_squared: ")
    if treatment is not None:
        arms = code_treatment(d[treatment], control, column=treatment)
        d = d.loc[arms.codes == 0]
    X, _ = covariate_matrix(d, covariates)
    X = np.hstack([np.ones((len(d), 1)), X])
    y = d[outcome].to_numpy(dtype=float)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    tss = ((y - y.mean()) ** 2).sum()
    return float(1 - (resid @ resid) / tss) if tss > 0 else 0.0
