"""Simulated power and coverage for few-cluster DiD: the district x period shortcut equals the
person-level estimators, rates behave as they must, tiny Monte Carlo only."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evaluation.did as did
from evaluation.did.power import (cluster_design, coverage, did_power, pvalues, simulate_means,
                                  variance_components)
from evaluation.did.randomization import randomization_inference
from evaluation.did.wild import wild_twfe


def _person_panel(design, seed=0, icc=0.1, effect=0.2):
    """Person-level balanced panel with district x period shocks; returns data and its cell means."""
    rng = np.random.default_rng(seed)
    G, T = design.n_clusters, len(design.periods)
    n = design.persons.astype(int)
    cl = np.repeat(np.arange(G), n)
    eta = rng.normal(scale=np.sqrt(icc), size=(G, T))
    D = (design.dates[:, None] > 0) & (design.periods[None] >= design.dates[:, None])
    Y = eta[cl] + rng.normal(size=len(cl))[:, None] + rng.normal(size=(len(cl), T)) + effect * D[cl]
    d = pd.DataFrame({"unit": np.repeat(np.arange(len(cl)), T), "period": np.tile(design.periods, len(cl)),
                      "district": np.repeat(cl, T), "group": np.repeat(design.dates[cl], T), "y": Y.ravel()})
    ybar = d.groupby(["district", "period"])["y"].mean().to_numpy().reshape(1, G, T)
    return d, ybar


def test_cell_shortcut_equals_person_level():
    des = cluster_design(n_clusters=6, dates=[3, 5, 0, 7, 0, 0], persons=[7, 5, 6, 4, 8, 5], periods=8)
    d, ybar = _person_panel(des)
    p = pvalues(des, ybar, null=0.1, B=999)
    tw = did.twfe(d, outcome="y", unit="unit", time="period", group="group", cluster="district")
    assert p["estimate"][0] == pytest.approx(tw.estimate, rel=1e-10)
    assert p["cr"][0] == pytest.approx(2 * stats.t.sf(abs(tw.estimate - 0.1) / tw.se, 5), rel=1e-8)
    w = wild_twfe(d, outcome="y", unit="unit", time="period", group="group", cluster="district", r=0.1, B=999)
    assert p["wild"][0] == w.pvalue
    ri = randomization_inference(d.assign(y=d["y"] - 0.1 * ((d["group"] > 0) & (d["period"] >= d["group"]))),
                                 outcome="y", time="period", group="group", cluster="district")
    assert p["ri"][0] == pytest.approx(ri.pvalue)


def test_power_rates_and_mc_se():
    base = dict(n_clusters=8, n_treated=4, persons=200, periods=10, icc=0.05, n_sims=150, seed=3, B=199)
    p0 = did_power(effect=0.0, **base).table.set_index("method")
    p1 = did_power(effect=0.3, **base).table.set_index("method")
    assert (p1["power"] > p0["power"]).all()
    assert (p0["power"] < 0.2).all()
    r = p1.loc["cr", "power"]
    assert p1.loc["cr", "mc_se"] == pytest.approx(np.sqrt(r * (1 - r) / 150))


def test_single_pilot_district_cannot_reach_significance_by_ri():
    r = did_power(n_clusters=6, n_treated=1, persons=300, periods=12, icc=0.02, effect=1.0, n_sims=50,
                  seed=1, methods=("ri",))
    assert r.table.loc[0, "power"] == 0.0          # smallest p-value is 1/6 > 0.05


def test_coverage_tiny():
    des = cluster_design(n_clusters=6, dates=[13, 19, 25, 31, 0, 0], persons=600, periods=48)
    c = coverage(design=des, icc=0.02, effect=0.1, n_sims=200, seed=4).table.set_index("method")
    assert (c["coverage"] > 0.85).all()
    pilot = cluster_design(n_clusters=6, n_treated=1, persons=600, periods=48)
    cp = coverage(design=pilot, icc=0.02, effect=0.1, n_sims=200, seed=4, methods=("cr",)).table
    assert cp.loc[0, "coverage"] < 0.85                       # CR with one treated cluster


def test_variance_components_recover_icc():
    des = cluster_design(n_clusters=30, n_treated=1, persons=40, periods=6)
    rng = np.random.default_rng(0)
    d, _ = _person_panel(des, icc=0.25, effect=0.0)
    vc = variance_components(d, outcome="y", unit="unit", time="period", cluster="district")
    # simulated: cluster x period shock var 0.25, person effect 1, noise 1 -> icc 0.25 / 2.25
    assert vc["icc"] == pytest.approx(0.25 / 2.25, abs=0.04)
    assert vc["cluster_persistence"] < 0.3
    assert vc["person_persistence"] == pytest.approx(0.5, abs=0.05)
    del rng


def test_bad_designs():
    with pytest.raises(ValueError, match="n_treated must be between 1 and"):
        cluster_design(n_clusters=6, n_treated=6)
    with pytest.raises(ValueError, match="icc must lie"):
        simulate_means(cluster_design(n_clusters=4, n_treated=1), icc=1.2)
    with pytest.raises(ValueError, match="at least one pre-period"):
        cluster_design(n_clusters=3, dates=[1, 0, 0], periods=5)
