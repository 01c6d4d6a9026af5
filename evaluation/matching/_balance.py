"""Balance statistics with MatchIt's ``summary.matchit`` conventions.

* Standardised mean difference: weighted mean difference divided by a standardisation factor from
  the *unmatched* sample: the SD in the treated group for the ATT, in the control group for the
  ATC, ``sqrt((s1^2 + s0^2)/2)`` for the ATE.  Binary (0/1) variables use ``sqrt(p(1-p))``.
  A mean difference below ``sqrt(machine eps)`` is reported unstandardised (as MatchIt).
* Variance ratio (treated / control), weighted variances with the ``cov.wt`` (unbiased) formula
  ``sum w (x - m)^2 * sum w / ((sum w)^2 - sum w^2)``; not computed for binary variables.
* eCDF mean and max (the max is the Kolmogorov–Smirnov statistic) of the weighted eCDFs; for
  binary variables both equal the absolute difference in proportions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SMD_STRICT = 0.1
SMD_LOOSE = 0.25
VR_LOW, VR_HIGH = 0.5, 2.0
_SQRT_EPS = np.sqrt(np.finfo(float).eps)


def _wm(x, w):
    sw = w.sum()
    return float((x * w).sum() / sw) if sw > 0 else np.nan


def _wvar(x, w, binary):
    sw = w.sum()
    if sw <= 0:
        return np.nan
    m = (x * w).sum() / sw
    if binary:
        return float(m * (1 - m))
    denom = sw ** 2 - (w ** 2).sum()
    if denom <= 0:
        return np.nan
    return float((w * (x - m) ** 2).sum() * sw / denom)


def _ecdf_stats(x, t, w):
    """Mean and max absolute difference of weighted eCDFs (non-binary x)."""
    keep = w > 0
    x, t, w = x[keep], t[keep], w[keep]
    if (t == 1).sum() == 0 or (t == 0).sum() == 0:
        return np.nan, np.nan
    wn = w.astype(float).copy()
    wn[t == 1] /= wn[t == 1].sum()
    wn[t == 0] /= wn[t == 0].sum()
    o = np.argsort(x, kind="stable")
    xo, to, wo = x[o], t[o], wn[o]
    signed = np.where(to == to[0], -wo, wo)
    cs = np.abs(np.cumsum(signed))
    last = np.r_[np.diff(xo) != 0, True]
    e = cs[last]
    return float(e.mean()), float(e.max())


def balance_stats(x: np.ndarray, t: np.ndarray, w: np.ndarray | None, sd_denom: float,
                  binary: bool) -> dict:
    w = np.ones_like(x, dtype=float) if w is None else np.asarray(w, dtype=float)
    i1, i0 = t == 1, t == 0
    m1, m0 = _wm(x[i1], w[i1]), _wm(x[i0], w[i0])
    md = m1 - m0
    if abs(md) > _SQRT_EPS and np.isfinite(sd_denom) and sd_denom > 0:
        smd = md / sd_denom
    else:
        smd = md
    if binary:
        vr = np.nan
        em = ex = abs(md)
    else:
        v1, v0 = _wvar(x[i1], w[i1], False), _wvar(x[i0], w[i0], False)
        vr = v1 / v0 if v0 and np.isfinite(v0) and v0 > 0 else np.nan
        em, ex = _ecdf_stats(x, t, w)
    return {"mean_treated": m1, "mean_control": m0, "smd": smd, "var_ratio": vr,
            "ecdf_mean": em, "ecdf_max": ex}


def sd_denominator(x: np.ndarray, t: np.ndarray, estimand: str, binary: bool) -> float:
    ones = np.ones_like(x, dtype=float)
    v1 = _wvar(x[t == 1], ones[t == 1], binary)
    v0 = _wvar(x[t == 0], ones[t == 0], binary)
    est = estimand.upper()
    if est == "ATT":
        s = np.sqrt(v1)
    elif est == "ATC":
        s = np.sqrt(v0)
    else:
        s = np.sqrt((v1 + v0) / 2)
    if not np.isfinite(s) or s < _SQRT_EPS:
        s = np.sqrt((v1 + v0) / 2)
    return float(s)


def balance_table(X: pd.DataFrame, t: np.ndarray, weights: np.ndarray | None, *,
                  estimand: str = "ATT", distance: np.ndarray | None = None) -> pd.DataFrame:
    """Balance before (unweighted) and after (``weights``) for every column of ``X``.

    Returns one row per covariate (index ``covariate``) with ``*_before`` and ``*_after`` columns
    (mean_treated, mean_control, smd, var_ratio, ecdf_mean, ecdf_max) and flags:
    ``smd_flag`` ("ok" if |SMD| <= 0.1, "> 0.1", "> 0.25") and ``var_ratio_flag`` ("ok" or
    "outside 0.5–2") on the after-matching values.
    """
    t = np.asarray(t)
    cols = {}
    if distance is not None:
        cols["distance"] = np.asarray(distance, dtype=float)
    for c in X.columns:
        cols[str(c)] = X[c].to_numpy(dtype=float)
    rows = []
    for name, x in cols.items():
        binary = bool(np.all((x == 0) | (x == 1)))
        sd = sd_denominator(x, t, estimand, binary)
        b = balance_stats(x, t, None, sd, binary)
        row = {"covariate": name, "type": "binary" if binary else "continuous"}
        row.update({f"{k}_before": v for k, v in b.items()})
        if weights is not None:
            a = balance_stats(x, t, weights, sd, binary)
            row.update({f"{k}_after": v for k, v in a.items()})
        rows.append(row)
    out = pd.DataFrame(rows).set_index("covariate")
    col = "smd_after" if weights is not None else "smd_before"
    vcol = "var_ratio_after" if weights is not None else "var_ratio_before"
    a = out[col].abs()
    out["smd_flag"] = np.where(a > SMD_LOOSE, "> 0.25", np.where(a > SMD_STRICT, "> 0.1", "ok"))
    vr = out[vcol]
    out["var_ratio_flag"] = np.where(vr.isna(), "", np.where((vr < VR_LOW) | (vr > VR_HIGH),
                                                             "outside 0.5–2", "ok"))
    return out
