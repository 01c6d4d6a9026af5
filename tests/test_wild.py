"""Wild cluster bootstrap (WCR) against wildboottest 0.3.2 (py-econometrics, the Python port of
fwildclusterboot) and against the DiD estimators it wraps.

Reference: ``wildboottest.wildboottest.WildboottestCL`` 0.3.2 (pip), bootstrap type "11", null
imposed.  With Rademacher weights and 2^G <= B both enumerate all 2^G sign vectors, so the
bootstrap t-statistics must agree draw for draw (tolerance 1e-9 relative).  Its p-value counts
``|t*| > |t|`` strictly over all draws; the two constant draws (v = +1, -1) reproduce |t| up to
rounding and wildboottest counts them when rounding makes |t*| a hair larger, we never do (see
the module docstring), so p-values are compared after removing those two draws from its count.
"""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaluation.did as did
from evaluation.did.wild import (wild_att_gt, wild_cluster_test, wild_did_2x2, wild_event_study,
                                 wild_twfe, wild_weights)

REF = Path(__file__).parent / "data" / "wildboottest_reference.json"


def _data(seed=1, N=600, G=8):
    rng = np.random.default_rng(seed)
    cl = rng.integers(0, G, N)
    X = np.column_stack([np.ones(N), rng.normal(size=N), (cl < 3).astype(float)])
    y = 0.2 + 0.3 * X[:, 1] + 0.1 * X[:, 2] + rng.normal(size=N) + rng.normal(size=G)[cl]
    return X, y, cl


def _reference(X, y, cl, j, V=None):
    wbt = pytest.importorskip("wildboottest.wildboottest")
    R = np.zeros(X.shape[1])
    R[j] = 1
    wb = wbt.WildboottestCL(X=X, Y=y, cluster=cl, R=R, B=9999, seed=1, parallel=False)
    wb.get_scores(bootstrap_type="11", impose_null=True)
    wb.get_weights(weights_type="rademacher")
    if V is not None:                      # same draws for random weights
        wb.v, wb.B = V, V.shape[1]
    wb.get_numer()
    wb.get_denom()
    wb.get_tboot()
    wb.get_vcov()
    wb.get_tstat()
    return wb


@pytest.mark.parametrize("j", ["1", "2"])
def test_enumeration_matches_stored_wildboottest_numbers(j):
    """Stored output of wildboottest 0.3.2 (tests/data/wildboottest_reference.json, made by the
    live comparison below): runs without the reference package installed."""
    ref = json.loads(REF.read_text())["coefficients"][j]
    X, y, cl = _data()
    out = wild_cluster_test(X, y, cl, coef=int(j), B=9999, return_draws=True)
    assert out["t"] == pytest.approx(ref["t_stat"], rel=1e-10)
    np.testing.assert_allclose(np.sort(np.abs(out["t_boot"])), ref["abs_t_boot_sorted"], rtol=1e-9)
    assert out["pvalue"] == ref["pvalue_without_constant_draws"]
    assert 0 <= ref["pvalue_wildboottest"] - out["pvalue"] <= 2 / 256


@pytest.mark.parametrize("j", [1, 2])
def test_enumeration_matches_wildboottest(j):
    X, y, cl = _data()
    wb = _reference(X, y, cl, j)
    out = wild_cluster_test(X, y, cl, coef=j, B=9999, return_draws=True)
    assert out["enumerated"] and out["draws"] == 256
    np.testing.assert_allclose(out["t"], float(np.ravel(wb.t_stat)[0]), rtol=1e-10)
    np.testing.assert_allclose(np.sort(np.abs(out["t_boot"])), np.sort(np.abs(wb.t_boot)), rtol=1e-9)
    const = (np.abs(wb.v - wb.v[:1]).max(axis=0) == 0)
    p_ref = np.mean((np.abs(np.ravel(wb.t_stat)[0]) < np.abs(wb.t_boot)) & ~const)
    assert out["pvalue"] == p_ref
    # the naive reference count differs at most by the two constant draws
    assert abs(np.mean(np.abs(np.ravel(wb.t_stat)[0]) < np.abs(wb.t_boot)) - out["pvalue"]) <= 2 / 256


def test_webb_draws_match_wildboottest():
    X, y, cl = _data(seed=5, G=6)
    out = wild_cluster_test(X, y, cl, coef=2, weights="webb", B=499, seed=3, return_draws=True)
    wb = _reference(X, y, cl, 2, V=out["v"])
    np.testing.assert_allclose(out["t_boot"], wb.t_boot, rtol=1e-9)
    assert out["pvalue"] == np.mean(np.abs(np.ravel(wb.t_stat)[0]) < np.abs(wb.t_boot))


@pytest.mark.parametrize("weights", ["rademacher", "webb"])
def test_interval_is_the_inverted_test(weights):
    X, y, cl = _data(seed=2)
    out = wild_cluster_test(X, y, cl, coef=2, weights=weights, B=999, seed=4)
    lo, hi = out["ci_low"], out["ci_high"]
    assert lo < out["estimate"] < hi
    eps = 1e-7 * (hi - lo)

    def p(r):
        return wild_cluster_test(X, y, cl, coef=2, r=r, weights=weights, B=999, seed=4, ci=False)["pvalue"]
    assert p(lo + eps) >= 0.05 > p(lo - eps)
    assert p(hi - eps) >= 0.05 > p(hi + eps)


def test_weights():
    V, enum = wild_weights(4, B=999)
    assert enum and V.shape == (4, 16) and len({tuple(c) for c in V.T}) == 16
    V, enum = wild_weights(12, B=999, seed=1)
    assert not enum and V.shape == (12, 999)
    V, _ = wild_weights(5, weights="webb", B=20000, seed=1)
    assert set(np.round(np.unique(V) ** 2, 12)) == {0.5, 1.0, 1.5}
    assert abs(V.mean()) < 0.02 and abs((V ** 2).mean() - 1) < 0.02
    with pytest.raises(ValueError, match="rademacher' or 'webb"):
        wild_weights(5, weights="mammen")


@pytest.fixture(scope="module")
def panel():
    d, _ = did.simulate_staggered(n_units=300, n_periods=6, cohorts=(3, 5), seed=3)
    d["district"] = d["unit"] % 7
    return d


def test_twfe_and_event_study_match_did(panel):
    w = wild_twfe(panel, outcome="y", unit="unit", time="period", group="group", cluster="district", B=999)
    tw = did.twfe(panel, outcome="y", unit="unit", time="period", group="group", cluster="district")
    assert w.estimate == pytest.approx(tw.estimate, rel=1e-10)
    assert w.se == pytest.approx(tw.se, rel=1e-10)
    assert w.enumerated and w.draws == 128
    lo, hi = w.ci()
    assert lo < w.estimate < hi
    es = wild_event_study(panel, outcome="y", unit="unit", time="period", group="group", cluster="district",
                          min_e=-2, max_e=2, B=999)
    ref = did.event_study(panel, outcome="y", unit="unit", time="period", group="group", cluster="district",
                          min_e=-2, max_e=2).tidy()
    np.testing.assert_allclose(es.tidy()["estimate"], ref["estimate"], rtol=1e-10)
    np.testing.assert_allclose(es.tidy()["se"], ref["se"], rtol=1e-10)
    assert set(es.tidy().columns) >= {"pvalue", "ci_low", "ci_high"}
    assert w.to_dict()["enumerated"] is True


def test_cs_aggregate_equals_2x2_wcr():
    """One cohort, never-treated controls, two periods: the CS ATT is the 2x2 DiD and its
    equivalent cohort x period regression is the saturated 2x2 regression: identical WCR."""
    rng = np.random.default_rng(7)
    n, G = 400, 8
    unit = np.arange(n)
    cl = unit % G
    tr = (cl < 3).astype(int)
    y0 = rng.normal(size=n) + rng.normal(size=G)[cl]
    y1 = y0 + 0.3 + 0.4 * tr + rng.normal(size=n) + rng.normal(scale=0.5, size=G)[cl]
    d = pd.DataFrame({"unit": np.repeat(unit, 2), "period": np.tile([1, 2], n), "district": np.repeat(cl, 2),
                      "group": np.repeat(np.where(tr == 1, 2, 0), 2), "y": np.column_stack([y0, y1]).ravel()})
    d["treated"] = (d["group"] > 0).astype(int)
    d["post"] = (d["period"] == 2).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = did.att_gt(d, outcome="y", unit="unit", time="period", group="group", cluster="district")
    w_cs = wild_att_gt(cs, d, cluster="district", aggregate="simple", B=999)
    w_22 = wild_did_2x2(d, outcome="y", treated="treated", post="post", cluster="district", B=999)
    assert w_cs.estimate == pytest.approx(w_22.estimate, rel=1e-10)
    assert w_cs.pvalue == w_22.pvalue
    np.testing.assert_allclose(w_cs.ci(), w_22.ci(), rtol=1e-8)


def test_cs_aggregates_reproduce_att_gt(panel):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = did.att_gt(panel, outcome="y", unit="unit", time="period", group="group", cluster="district",
                        control_group="notyet")
    for kind in ("simple", "group", "dynamic"):
        w = wild_att_gt(cs, panel, cluster="district", aggregate=kind, B=999)
        assert w.estimate == pytest.approx(cs.aggregate(kind).estimate, rel=1e-10)
        assert w.ci()[0] < w.estimate < w.ci()[1]
    e1 = wild_att_gt(cs, panel, cluster="district", aggregate=("event", 1), B=999)
    comp = cs.aggregate("dynamic").components.set_index("value")
    assert e1.estimate == pytest.approx(comp.loc[1, "estimate"], rel=1e-10)


def test_coverage_small_monte_carlo():
    """WCR (Rademacher, enumerated) covers the true effect in a tiny simulation (8 clusters)."""
    rng = np.random.default_rng(11)
    G, n, S = 8, 240, 60
    cl = np.arange(n) % G
    x = (cl < 4).astype(float)
    X = np.column_stack([np.ones(n), x])
    Y = 1.0 + 0.5 * x[:, None] + rng.normal(size=(G, S))[cl] + rng.normal(size=(n, S))
    out = wild_cluster_test(X, Y, cl, coef=1, r=0.5, B=999)
    cover = np.mean(out["pvalue"] >= 0.05)
    assert 0.85 <= cover <= 1.0
    one = wild_cluster_test(X, Y[:, 0], cl, coef=1, r=0.5, B=999, ci=False)
    assert one["pvalue"] == out["pvalue"][0]


@pytest.mark.parametrize("seed", [3, 8])
def test_reported_set_is_the_hull_of_the_acceptance_region(seed):
    """On a grid: every accepted r lies in [lo, hi]; without gaps every r in [lo, hi] is accepted."""
    rng = np.random.default_rng(seed)
    G, n = 5, 100
    cl = np.arange(n) % G
    X = np.column_stack([np.ones(n), (cl < 2).astype(float), rng.normal(size=n)])
    y = X @ [0.0, 0.3, 0.2] + rng.normal(size=G)[cl] * 2 + rng.normal(size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = wild_cluster_test(X, y, cl, coef=1, B=999)
        lo, hi = out["ci_low"], out["ci_high"]
        w = (hi - lo) if np.isfinite(hi - lo) else 10.0
        grid = np.linspace(lo - 0.5 * w, hi + 0.5 * w, 301) if np.isfinite(lo + hi) else np.linspace(-10, 10, 301)
        acc = np.array([wild_cluster_test(X, y, cl, coef=1, r=r, B=999, ci=False)["pvalue"] >= 0.05 for r in grid])
    tol = 1e-9 * w                        # a grid point can fall on an end (where p jumps)
    assert np.all((grid[acc] >= lo - tol) & (grid[acc] <= hi + tol))
    if not out["ci_disjoint"]:
        inside = (grid > lo + 1e-9 * w) & (grid < hi - 1e-9 * w)
        assert acc[inside].all()


def test_cv3_statistics_by_brute_force():
    """variance='CV3': the original and bootstrap t use the leave-one-cluster-out jackknife
    (G-1)/G sum_g (b_(g) - b)^2, recomputed here by refitting without each cluster."""
    rng = np.random.default_rng(1)
    N, G = 300, 7
    cl = rng.integers(0, G, N)
    X = np.column_stack([np.ones(N), rng.normal(size=N), (cl < 3).astype(float)])
    y = X @ [0.2, 0.3, 0.1] + rng.normal(size=N) + rng.normal(size=G)[cl]
    out = wild_cluster_test(X, y, cl, coef=2, r=0.05, variance="CV3", B=999, return_draws=True)

    def t_cv3(ym):
        b = np.linalg.lstsq(X, ym, rcond=None)[0][2]
        bj = np.array([np.linalg.lstsq(X[cl != g], ym[cl != g], rcond=None)[0][2] for g in range(G)])
        return (b - 0.05) / np.sqrt((G - 1) / G * ((bj - b) ** 2).sum())
    assert out["t"] == pytest.approx(t_cv3(y), rel=1e-10)
    XtXi = np.linalg.inv(X.T @ X)
    R = np.array([0, 0, 1.0])
    bh = XtXi @ X.T @ y
    bt = bh - XtXi @ R / (R @ XtXi @ R) * (R @ bh - 0.05)
    ut = y - X @ bt
    for k in (3, 50, 100):
        assert out["t_boot"][k] == pytest.approx(t_cv3(X @ bt + out["v"][cl, k] * ut), rel=1e-9)
    lo, hi = out["ci_low"], out["ci_high"]
    assert lo < out["estimate"] < hi
