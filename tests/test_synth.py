"""Synthetic control / synthetic DiD against the published California Proposition 99 numbers.

References (the smoking panel in tests/data/california_prop99.csv, from the synthdid package):

* Point estimates printed by synthdid 0.0.9 (vignette "synthdid introduction", ``print(unlist(
  estimates))``; the same numbers are printed by the Stata ``sdid`` and Python ports):
  DID -27.34911, SC -19.61966, SDID -15.60383 (Arkhangelsky et al. 2021, Table 1: -27.3, -19.6,
  -15.6).  Tolerance 5e-5 (printed to 5 decimals; we agree to about 1e-8 because the solver,
  its zeta, min.decrease = 1e-5 sigma, max.iter = 1e4 and the 100-step pre-sparsify round are the
  package's defaults).
* SDID weights printed by ``summary(tau.hat)`` (3 decimals), "Effective N0/N0 = 16.4/38",
  ``N0.effective 16.388``, ``T0.effective 2.783``.
* Placebo standard errors: Table 1 of the paper (SDID 8.4, SC 9.9, DID 17.7) and the vignette's
  95 % CI (-32.01, 0.80) for SDID (SE 8.37).  Those are 200 random placebo draws; we compute the
  exact placebo distribution (every control once) and check that each published SE lies inside
  the central 99 % of the distribution of a 200-draw SE from it.
"""
import matplotlib

matplotlib.use("Agg")
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.did.synth import jackknife_se, synthdid, synthetic_control

DATA = Path(__file__).parent / "data" / "california_prop99.csv"
COLS = dict(outcome="PacksPerCapita", unit="State", time="Year", treatment="treated")
OMEGA = {"Nevada": 0.124, "New Hampshire": 0.105, "Connecticut": 0.078, "Delaware": 0.070,
         "Colorado": 0.058, "Illinois": 0.053, "Nebraska": 0.048, "Montana": 0.045, "Utah": 0.042,
         "New Mexico": 0.041, "Minnesota": 0.039, "Wisconsin": 0.037, "West Virginia": 0.034,
         "North Carolina": 0.033, "Idaho": 0.031, "Ohio": 0.031, "Maine": 0.028, "Iowa": 0.026}


@pytest.fixture(scope="module")
def prop99():
    return pd.read_csv(DATA, sep=";")


@pytest.fixture(scope="module")
def fits(prop99):
    return {m: synthdid(prop99, **COLS, method=m, se=None) for m in ("sdid", "sc", "did")}


@pytest.mark.parametrize("method,ref", [("sdid", -15.60383), ("sc", -19.61966), ("did", -27.34911)])
def test_prop99_estimates(fits, method, ref):
    assert fits[method].estimate == pytest.approx(ref, abs=5e-5)


def test_prop99_weights(fits):
    r = fits["sdid"]
    for state, w in OMEGA.items():
        assert r.omega[state] == pytest.approx(w, abs=5e-4), state
    lam = r.lam[r.lam > 0]
    assert lam.round(3).to_dict() == {1986: 0.366, 1987: 0.206, 1988: 0.427}
    assert r.effective_controls == pytest.approx(16.388, abs=5e-4)
    assert 1 / (r.lam ** 2).sum() == pytest.approx(2.783, abs=5e-4)
    sc = fits["sc"]
    assert sc.lam.sum() == 0 and sc.omega.sum() == pytest.approx(1)
    tj = r.trajectories()
    assert len(tj) == 31 and tj["post"].sum() == 12


@pytest.mark.parametrize("method,published", [("sdid", (8.4, 8.37)), ("did", (17.7,))])
def test_prop99_placebo_se(prop99, method, published):
    r = synthdid(prop99, **COLS, method=method)
    assert len(r.placebo) == 38
    rng = np.random.default_rng(20210101)
    draws = np.array([np.sqrt(199 / 200) * np.std(rng.choice(r.placebo, 200), ddof=1) for _ in range(2000)])
    lo, hi = np.quantile(draws, [0.005, 0.995])
    for se in published:
        assert lo <= se <= hi
    assert r.ci()[0] < r.estimate < r.ci()[1]


def _factor_panel(seed=0, N0=30, N1=3, T0=15, T1=5, effect=2.0):
    rng = np.random.default_rng(seed)
    N, T = N0 + N1, T0 + T1
    f = rng.normal(size=(T, 2)).cumsum(axis=0)
    load = rng.normal(size=(N, 2))
    load[N0:] += 0.5
    Y = 5 + load @ f.T + rng.normal(size=N)[:, None] + rng.normal(scale=0.5, size=(N, T))
    W = np.zeros((N, T))
    W[N0:, T0:] = 1
    Y = Y + effect * W
    return pd.DataFrame({"unit": np.repeat(np.arange(N), T), "t": np.tile(np.arange(T), N),
                         "y": Y.ravel(), "d": W.ravel()})


def test_recovers_known_effect_and_jackknife():
    d = _factor_panel()
    r = synthdid(d, outcome="y", unit="unit", time="t", treatment="d", se="jackknife", max_iter=2000)
    assert abs(r.estimate - 2.0) < 3 * r.se and r.se > 0
    p = synthetic_control(d, outcome="y", unit="unit", time="t", treatment="d", se="placebo",
                          placebo_draws=20, seed=1, max_iter=500)
    assert len(p.placebo) == 20 and abs(p.estimate - 2.0) < 4 * p.se


def test_jackknife_by_brute_force():
    """DiD weights are uniform, so the fixed-weights jackknife is the plain leave-one-unit-out DiD."""
    d = _factor_panel(seed=3, N0=12, N1=3, T0=6, T1=3)
    r = synthdid(d, outcome="y", unit="unit", time="t", treatment="d", method="did", se="jackknife")
    Y = r.Y.to_numpy()
    N0, T0 = r.N0, r.T0
    u = []
    for i in range(Y.shape[0]):
        keep = np.delete(np.arange(Y.shape[0]), i)
        Yi = Y[keep]
        n0 = N0 - (i < N0)
        u.append((Yi[n0:, T0:].mean() - Yi[n0:, :T0].mean()) - (Yi[:n0, T0:].mean() - Yi[:n0, :T0].mean()))
    u = np.array(u)
    assert r.se == pytest.approx(np.sqrt((len(u) - 1) / len(u) * ((u - u.mean()) ** 2).sum()), rel=1e-10)


def test_result_object_and_plots(fits):
    r = fits["sdid"]
    t = r.tidy()
    assert list(t["term"]) == ["ATT"]
    d = r.to_dict()
    assert "weights" in d and d["effective_controls"] > 1
    assert "Synthetic difference-in-differences" in r.summary()
    ax = r.plot()
    r.plot_weights()
    import matplotlib.pyplot as plt
    plt.close("all")
    assert ax is not None
