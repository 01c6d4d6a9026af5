"""Sensitivity of matched comparisons to hidden bias: Rosenbaum bounds and E-values.

* :func:`rosenbaum_bounds` - for matched pairs, the upper (and lower) bound on the one-sided
  p-value of Wilcoxon's signed rank test when treatment odds within a pair may differ by a
  factor ``Gamma`` because of an unobserved covariate (Rosenbaum 2002, ch. 4), the value of
  ``Gamma`` at which the result stops being significant, and the Hodges-Lehmann bounds.
* :func:`e_value` - the E-value (VanderWeele & Ding 2017): the minimum strength of association,
  on the risk-ratio scale, that an unmeasured confounder would need with both treatment and
  outcome to explain away the estimate (and the confidence limit closest to the null).

References
----------
Rosenbaum, P. R. (2002). *Observational Studies*, 2nd ed., Springer, ch. 4.
Rosenbaum, P. R. (2020). *Design of Observational Studies*, 2nd ed., Springer, sec. 3.5.
VanderWeele, T. J. and Ding, P. (2017). Sensitivity analysis in observational research:
introducing the E-value. *Annals of Internal Medicine* 167(4), 268-274.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["rosenbaum_bounds", "RosenbaumResult", "e_value", "EValueResult", "pair_differences"]


# ============================================================================ matched pairs
def pair_differences(sample, outcome, *, missing: str = "error", return_dropped: bool = False):
    """Treated-minus-control outcome differences of the matched pairs of a 1:1 matched sample.

    Parameters
    ----------
    sample : WeightedSample
        From :func:`nearest_neighbor` with ``ratio=1`` and without replacement (pairs are its
        ``subclass``).
    outcome : str or array
        Column of ``sample.data`` or an array aligned with it.
    missing : {"error", "drop_pairs"}
        Pairs with a missing outcome: raise, or leave the pair out (the number left out is
        returned with ``return_dropped=True`` and reported by :func:`rosenbaum_bounds`).

    Raises
    ------
    ValueError
        No pairs (weighting, matching with replacement), subclasses that are not one treated
        and one control unit, or pairs with a missing outcome.
    """
    if getattr(sample, "subclass", None) is None:
        raise ValueError(f"Rosenbaum bounds need matched pairs, but this sample ({sample.method}) has no "
                         "pairs/subclasses (weighting or matching with replacement); use "
                         "nearest_neighbor(..., ratio=1, replace=False)")
    y = sample._column(outcome, "outcome")
    sub = np.asarray(sample.subclass, float)
    use = np.isfinite(sub) & (sample.weights > 0)
    t = sample.treat[use].astype(int)
    s = sub[use]
    yy = y[use]
    codes, inv = np.unique(s, return_inverse=True)
    n_t = np.bincount(inv, weights=t, minlength=len(codes))
    n_c = np.bincount(inv, weights=1 - t, minlength=len(codes))
    bad = (n_t != 1) | (n_c != 1)
    if bad.any():
        raise ValueError(f"Rosenbaum bounds (Wilcoxon signed rank) are for matched pairs; {int(bad.sum())} of "
                         f"{len(codes)} subclasses are not one treated and one control unit (e.g. ratio > 1); "
                         "match 1:1 without replacement")
    miss = ~np.isfinite(yy)
    if missing not in ("error", "drop_pairs"):
        raise ValueError("missing must be 'error' or 'drop_pairs'")
    n_dropped = 0
    if miss.any() and missing == "drop_pairs":
        bad_pair = np.zeros(len(codes), bool)
        bad_pair[inv[miss]] = True
        n_dropped = int(bad_pair.sum())
        keep = ~bad_pair[inv]
        t, s, yy = t[keep], s[keep], yy[keep]
        inv = np.unique(inv[keep], return_inverse=True)[1]
        codes = codes[~bad_pair]
        miss = np.zeros(len(yy), bool)
    if miss.any():
        pairs = np.unique(s[miss])
        raise ValueError(f"outcome missing for {int(miss.sum())} units in {len(pairs)} matched pairs (subclass "
                         f"{pairs[:5].tolist()}{'...' if len(pairs) > 5 else ''}); drop those pairs explicitly "
                         "or impute before the sensitivity analysis, or pass missing='drop_pairs'")
    yt = np.zeros(len(codes))
    yc = np.zeros(len(codes))
    yt[inv[t == 1]] = yy[t == 1]
    yc[inv[t == 0]] = yy[t == 0]
    return (yt - yc, n_dropped) if return_dropped else yt - yc


def _signed_rank_parts(d, zeros):
    d = np.asarray(d, float)
    if zeros == "drop":          # rbounds::psens, Wilcoxon's original convention
        d = d[d != 0]
        r = stats.rankdata(np.abs(d))
    elif zeros == "rosenbaum":   # Rosenbaum (2002), DOS::senWilcox: rank all |d|, zeros add nothing
        r = stats.rankdata(np.abs(d))
        r, d = r[d != 0], d[d != 0]
    else:
        raise ValueError("zeros must be 'rosenbaum' or 'drop'")
    return d, r


def _p_bounds(T, r, gamma):
    """Normal-approximation bounds on P(T >= t) under bias at most Gamma (no continuity correction)."""
    pp = gamma / (1 + gamma)
    pm = 1 / (1 + gamma)
    S, S2 = r.sum(), (r * r).sum()
    sd = np.sqrt(pp * (1 - pp) * S2)
    up = stats.norm.sf((T - pp * S) / sd)
    lo = stats.norm.sf((T - pm * S) / sd)
    return up, lo


def _walsh(d):
    i, j = np.triu_indices(len(d))
    return np.sort((d[i] + d[j]) / 2)


def _walsh_quantile(w, q):
    """Value where the count of Walsh averages above it crosses ``q`` of them (midpoint at ties)."""
    k = q * len(w)
    lo = int(np.clip(math.ceil(k) - 1, 0, len(w) - 1))
    hi = int(np.clip(math.floor(k), 0, len(w) - 1))
    return float((w[lo] + w[hi]) / 2)


def rosenbaum_bounds(data=None, control=None, *, outcome=None, gamma=None, alpha: float = 0.05,
                     zeros: str = "rosenbaum", alternative: str = "greater",
                     missing: str = "error") -> "RosenbaumResult":
    """Rosenbaum bounds for Wilcoxon's signed rank test in matched pairs.

    Parameters
    ----------
    data : WeightedSample, or array
        A 1:1 matched sample (then give ``outcome``), the treated outcomes (then give the
        pair-aligned ``control`` outcomes), or the treated-minus-control pair differences.
    control : array, optional
        Control outcomes aligned with the treated ones.
    outcome : str or array
        Outcome of a matched sample.
    gamma : sequence of float >= 1
        Values of the sensitivity parameter (default 1, 1.25, ..., 3).
    alpha : float
        Level at which the critical ``Gamma`` is found.
    zeros : {"rosenbaum", "drop"}
        Pairs with zero difference: ``"rosenbaum"`` ranks all ``|d|`` and lets zeros add nothing
        (Rosenbaum 2002, Table 4.3; DOS ``senWilcox``); ``"drop"`` removes them before ranking
        (rbounds ``psens``).
    alternative : {"greater", "less"}
        Direction of the effect tested (``"less"`` tests ``-d``).
    missing : {"error", "drop_pairs"}
        Matched pairs with a missing outcome: raise, or leave them out (counted in
        ``n_pairs_dropped`` and shown in the summary).

    Returns
    -------
    RosenbaumResult

    Notes
    -----
    With ``d_i`` the pair differences and ``q_i`` the ranks of ``|d_i|``, Wilcoxon's statistic is
    ``T = sum_i q_i 1[d_i > 0]``.  If within each pair the odds of treatment differ by at most
    ``Gamma``, ``T`` is bounded (stochastically) by the sum of independent ``q_i B_i`` with
    ``P(B_i = 1) = p+ = Gamma / (1 + Gamma)``, so the upper bound on the one-sided p-value is
    ``1 - Phi((T - p+ sum q_i) / sqrt(p+ (1 - p+) sum q_i^2))`` (and the lower bound with
    ``p- = 1 / (1 + Gamma)``).  The critical ``Gamma`` solves ``p_upper(Gamma) = alpha``.  The
    Hodges-Lehmann estimate under bias ``Gamma`` ranges over
    ``[W_(1/(1+Gamma)), W_(Gamma/(1+Gamma))]``, quantiles of the Walsh averages
    ``(d_i + d_j) / 2``, ``i <= j`` (the values of ``tau`` at which ``T(d - tau)`` equals its
    smallest and largest expectation under ``Gamma``; ties broken at midpoints).
    """
    d, n_dropped = _differences(data, control, outcome, missing)
    if alternative == "less":
        d = -d
    elif alternative != "greater":
        raise ValueError("alternative must be 'greater' or 'less'")
    gam = np.array([1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3.0]) if gamma is None else np.atleast_1d(
        np.asarray(gamma, float))
    if np.any(~np.isfinite(gam)) or np.any(gam < 1):
        raise ValueError(f"gamma must be >= 1 (odds of differential assignment); got {gam.tolist()}")
    dn, r = _signed_rank_parts(d, zeros)
    if len(dn) < 2:
        raise ValueError(f"only {len(dn)} matched pairs with a non-zero outcome difference; Rosenbaum bounds "
                         "need more pairs")
    T = float(r[dn > 0].sum())
    up, lo = _p_bounds(T, r, gam)
    w = _walsh(d)
    hl_lo = [_walsh_quantile(w, 1 - g / (1 + g)) for g in gam]
    hl_hi = [_walsh_quantile(w, 1 - 1 / (1 + g)) for g in gam]
    table = pd.DataFrame({"gamma": gam, "p_upper": up, "p_lower": lo, "hl_low": hl_lo, "hl_high": hl_hi})
    f = lambda g: _p_bounds(T, r, g)[0] - alpha
    if f(1.0) >= 0:
        g_crit = 1.0
    else:
        hi = 2.0
        while f(hi) < 0 and hi < 1e6:
            hi *= 2
        g_crit = float(optimize.brentq(f, 1.0, hi, xtol=1e-10)) if f(hi) >= 0 else float("inf")
    return RosenbaumResult(table=table, gamma_critical=g_crit, statistic=T, n_pairs=int(len(d)),
                           n_nonzero=int(len(dn)), alpha=alpha, zeros=zeros, alternative=alternative,
                           hodges_lehmann=_walsh_quantile(w, 0.5), n_pairs_dropped=n_dropped)


def _differences(data, control, outcome, missing="error"):
    if data is None:
        raise ValueError("give a matched sample with outcome=, treated and control outcomes, or pair differences")
    if hasattr(data, "treat") and hasattr(data, "weights"):
        if outcome is None:
            raise ValueError("outcome= is required with a matched sample")
        return pair_differences(data, outcome, missing=missing, return_dropped=True)
    a = np.asarray(data, float).ravel()
    if control is not None:
        c = np.asarray(control, float).ravel()
        if c.shape != a.shape:
            raise ValueError(f"treated ({a.size}) and control ({c.size}) outcomes must be aligned pairs")
        a = a - c
    bad = ~np.isfinite(a)
    if bad.any() and missing == "drop_pairs":
        return a[~bad], int(bad.sum())
    if bad.any():
        raise ValueError(f"{int(bad.sum())} pair differences are missing or infinite; drop those pairs "
                         "explicitly or pass missing='drop_pairs'")
    return a, 0


@dataclass
class RosenbaumResult:
    """Bounds on the Wilcoxon signed-rank p-value and Hodges-Lehmann estimate by ``Gamma``."""

    table: pd.DataFrame
    gamma_critical: float
    statistic: float
    n_pairs: int
    n_nonzero: int
    alpha: float = 0.05
    zeros: str = "rosenbaum"
    alternative: str = "greater"
    hodges_lehmann: float = float("nan")
    n_pairs_dropped: int = 0
    extra: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        t = self.table.copy()
        t["significant"] = t["p_upper"] < self.alpha
        return t

    def summary(self) -> str:
        dropped = f", {self.n_pairs_dropped} pairs left out (missing outcome)" if self.n_pairs_dropped else ""
        return (f"Rosenbaum bounds, Wilcoxon signed rank test ({self.alternative}), {self.n_pairs} matched pairs "
                f"({self.n_nonzero} with non-zero difference{dropped}), T = {self.statistic:.6g}, "
                f"Hodges-Lehmann {self.hodges_lehmann:.6g}\n"
                f"  significant at {self.alpha:g} up to Gamma = {self.gamma_critical:.4g}\n"
                + self.tidy().to_string(index=False, float_format=lambda x: f"{x:.4g}"))

    __str__ = summary

    def _repr_html_(self) -> str:
        return (f"<p><b>Rosenbaum bounds</b> (Wilcoxon signed rank, {self.n_pairs} pairs): significant at "
                f"{self.alpha:g} up to &Gamma; = {self.gamma_critical:.3g}</p>"
                + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    def to_dict(self) -> dict:
        from ..results import _records
        return {"method": "Rosenbaum bounds (Wilcoxon signed rank)", "gamma_critical": self.gamma_critical,
                "alpha": self.alpha, "statistic": self.statistic, "n_pairs": self.n_pairs,
                "n_pairs_dropped": self.n_pairs_dropped,
                "hodges_lehmann": self.hodges_lehmann, "table": _records(self.tidy())}

    def plot(self, ax=None):
        """Upper bound on the p-value against ``Gamma`` with the level and the critical ``Gamma``."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        t = self.table
        ax.plot(t["gamma"], t["p_upper"], marker="o", label="upper bound on p-value")
        ax.axhline(self.alpha, color="grey", ls="--", lw=0.8, label=f"level {self.alpha:g}")
        if np.isfinite(self.gamma_critical):
            ax.axvline(self.gamma_critical, color="tab:red", ls=":", lw=1,
                       label=f"critical Gamma = {self.gamma_critical:.2f}")
        ax.set_xlabel("Gamma (odds of differential assignment)")
        ax.set_ylabel("p-value (upper bound)")
        ax.legend(fontsize=8)
        return ax


# ================================================================================= E-values
def _e(rr):
    rr = np.where(rr < 1, 1 / rr, rr)
    return rr + np.sqrt(rr * (rr - 1))


@dataclass
class EValueResult:
    """E-values for an estimate and the confidence limit closest to the null."""

    measure: str
    estimate: float
    rr: float
    rr_low: float | None
    rr_high: float | None
    e_value: float
    e_value_ci: float | None
    note: str = ""

    def tidy(self) -> pd.DataFrame:
        return pd.DataFrame({"measure": [self.measure], "estimate": [self.estimate], "rr": [self.rr],
                             "rr_low": [self.rr_low], "rr_high": [self.rr_high], "e_value": [self.e_value],
                             "e_value_ci": [self.e_value_ci]})

    def summary(self) -> str:
        ci = "" if self.e_value_ci is None else f"; for the confidence limit closest to 1: {self.e_value_ci:.4g}"
        return (f"E-value ({self.measure}{', ' + self.note if self.note else ''}): risk ratio {self.rr:.4g}, "
                f"E-value {self.e_value:.4g}{ci}")

    __str__ = summary

    def _repr_html_(self) -> str:
        return f"<p><b>E-value</b></p>" + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}")

    def to_dict(self) -> dict:
        return {k: (None if v is None else (float(v) if isinstance(v, (int, float, np.floating)) else v))
                for k, v in self.__dict__.items()}


def e_value(estimate: float, lo: float | None = None, hi: float | None = None, *, measure: str = "RR",
            se: float | None = None, sd: float | None = None, rare: bool = True) -> EValueResult:
    """E-value of an estimate and of its confidence limit closest to the null.

    Parameters
    ----------
    estimate, lo, hi : float
        Estimate and confidence limits on the scale of ``measure``.
    measure : {"RR", "OR", "HR", "MD"}
        Risk ratio; odds ratio or hazard ratio (converted to a risk ratio: unchanged if the
        outcome is rare, ``rare=True``; else ``sqrt(OR)`` and
        ``(1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``); mean difference (with the outcome's
        standard deviation ``sd``: standardised difference ``d = estimate / sd`` and
        ``RR = exp(0.91 d)``, limits ``exp(0.91 d -/+ 1.78 se_d)`` from ``se`` or from the
        limits).
    se, sd : float
        Standard error of the mean difference and standard deviation of the outcome (``MD``).

    Notes
    -----
    ``E = RR + sqrt(RR (RR - 1))`` for ``RR >= 1`` (use ``1/RR`` below 1).  The E-value of the
    confidence interval is that of the limit closest to 1, and 1 if the interval includes 1
    (VanderWeele & Ding 2017, Table 2).
    """
    m = measure.upper()
    est = float(estimate)
    note = ""
    if m == "MD":
        if sd is None or not sd > 0:
            raise ValueError("measure='MD' needs sd=, the standard deviation of the outcome (> 0), to form the "
                             "standardised difference")
        d = est / sd
        if se is None and lo is not None and hi is not None:
            se = (hi - lo) / (2 * 1.959963984540054)
        rr = math.exp(0.91 * d)
        rl = rh = None
        if se is not None:
            sdd = se / sd
            rl, rh = math.exp(0.91 * d - 1.78 * sdd), math.exp(0.91 * d + 1.78 * sdd)
        note = f"standardised difference {d:.4g}, RR ~ exp(0.91 d)"
    elif m in ("RR", "OR", "HR"):
        vals = [v for v in (est, lo, hi) if v is not None]
        if any(not v > 0 for v in vals):
            raise ValueError(f"a {m} and its limits must be positive; got {vals}")
        conv = (lambda x: x) if (m == "RR" or rare) else (
            (lambda x: math.sqrt(x)) if m == "OR" else
            (lambda x: (1 - 0.5 ** math.sqrt(x)) / (1 - 0.5 ** math.sqrt(1 / x))))
        if m != "RR":
            note = "rare outcome: taken as a risk ratio" if rare else f"common outcome: {m} converted"
        rr = conv(est)
        rl = None if lo is None else conv(lo)
        rh = None if hi is None else conv(hi)
    else:
        raise ValueError("measure must be 'RR', 'OR', 'HR' or 'MD'")
    if rl is not None and rh is not None and rl > rh:
        raise ValueError(f"lower limit {lo} is above the upper limit {hi}")
    e_pt = float(_e(np.array(rr)))
    e_ci = None
    if rl is not None or rh is not None:
        if (rl is not None and rl <= 1 <= (rh if rh is not None else np.inf)) or (rh is not None and rl is None and rh >= 1 >= rr):
            e_ci = 1.0
        else:
            near = rl if rr >= 1 else rh
            e_ci = 1.0 if near is None else float(_e(np.array(near))) if (near - 1) * (rr - 1) > 0 else 1.0
    return EValueResult(measure=m, estimate=est, rr=float(rr), rr_low=rl, rr_high=rh, e_value=e_pt,
                        e_value_ci=e_ci, note=note)
