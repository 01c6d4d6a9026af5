"""Simulated staggered-adoption panels with known group-time effects (tests, benchmarks, docs)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_staggered(n_units: int = 1000, n_periods: int = 10, cohorts=(4, 6, 8), never_share: float = 0.3,
                       effect=lambda g, e: 0.1 * (e + 1) * (1 + (g == 4)), seed: int = 0,
                       covariate: bool = False, unit_trend_sd: float = 0.0):
    """Balanced panel ``unit, period (1..n_periods), group (0 = never), y, x``.

    ``effect(g, e)`` gives the treatment effect of cohort ``g`` at event time ``e >= 0`` (the true
    ATT(g,t)).  Returns ``(data, truth)`` where ``truth`` has columns ``group, time, att``.
    With ``covariate=True`` a time-invariant ``x`` shifts both the cohort probability and the trend,
    so unconditional parallel trends fail but conditional ones hold.
    """
    rng = np.random.default_rng(seed)
    cohorts = np.asarray(cohorts)
    x = rng.normal(size=n_units)
    if covariate:
        p_never = 1 / (1 + np.exp(-(np.log(never_share / (1 - never_share)) - 0.8 * x)))
    else:
        p_never = np.full(n_units, never_share)
    never = rng.random(n_units) < p_never
    G = np.where(never, 0, cohorts[rng.integers(0, len(cohorts), n_units)])
    t = np.arange(1, n_periods + 1)
    alpha = rng.normal(size=n_units) + 0.5 * (G > 0)
    lam = 0.2 * t
    trend = (0.15 * x[:, None] * t[None, :]) if covariate else 0.0
    eps = rng.normal(scale=0.5, size=(n_units, n_periods))
    e = t[None, :] - G[:, None]
    treated = (G[:, None] > 0) & (e >= 0)
    gv = np.broadcast_to(G[:, None], e.shape)
    tau = np.where(treated, np.vectorize(effect, otypes=[float])(gv, e), 0.0) if treated.any() else 0.0
    Y = alpha[:, None] + lam[None, :] + trend + tau + eps
    data = pd.DataFrame({"unit": np.repeat(np.arange(1, n_units + 1), n_periods),
                         "period": np.tile(t, n_units), "group": np.repeat(G, n_periods),
                         "y": Y.ravel(), "x": np.repeat(x, n_periods)})
    truth = pd.DataFrame([(g, tt, float(effect(g, tt - g)) if tt >= g else 0.0)
                          for g in sorted(set(G[G > 0].tolist())) for tt in t],
                         columns=["group", "time", "att"])
    return data, truth
