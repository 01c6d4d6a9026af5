"""Rosenbaum bounds and E-values (evaluation.matching.hidden_bias).

References
----------
* Lead data (Morton et al. 1982; 33 matched pairs of children) as printed in the examples of
  rbounds::psens and DOS::senWilcox.  Upper bounds on the one-sided p-value of Wilcoxon's signed
  rank test, Rosenbaum (2002), *Observational Studies* 2nd ed., Table 4.3: Gamma = 2, 3, 4, 4.25, 5
  -> 0.0018, 0.0136, 0.0388, 0.0468, 0.0740 (4 decimals; tolerance 5e-5, the printed precision).
* At Gamma = 1 the bound is the usual large-sample Wilcoxon p-value: scipy.stats.wilcoxon
  (zero_method "pratt" for Rosenbaum's zeros, "wilcox" for rbounds' dropped zeros,
  correction=False), tolerance 1e-12.
* E-values: VanderWeele & Ding (2017), Annals of Internal Medicine 167:268, worked example
  RR = 3.9 (95% CI 1.8 to 8.7): E-value 7.26 and 3.00 for the lower limit (printed precision).
"""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evaluation.matching as em
from evaluation.matching.hidden_bias import e_value, pair_differences, rosenbaum_bounds

TRT = np.array([38, 23, 41, 18, 37, 36, 23, 62, 31, 34, 24, 14, 21, 17, 16, 20, 15, 10, 45, 39, 22, 35, 49, 48,
                44, 35, 43, 39, 34, 13, 73, 25, 27.])
CTRL = np.array([16, 18, 18, 24, 19, 11, 10, 15, 16, 18, 18, 13, 19, 10, 16, 16, 24, 13, 9, 14, 21, 19, 7, 18,
                 19, 12, 11, 22, 25, 16, 13, 11, 13.])


def test_lead_example_matches_rosenbaum_table_4_3():
    r = rosenbaum_bounds(TRT, CTRL, gamma=[2, 3, 4, 4.25, 5])
    np.testing.assert_allclose(r.table["p_upper"], [0.0018, 0.0136, 0.0388, 0.0468, 0.0740], atol=5e-5)
    assert 4.25 < r.gamma_critical < 5
    assert r.n_pairs == 33 and r.n_nonzero == 32


@pytest.mark.parametrize("zeros,zero_method", [("rosenbaum", "pratt"), ("drop", "wilcox")])
def test_gamma_one_is_wilcoxon(zeros, zero_method):
    d = TRT - CTRL
    r = rosenbaum_bounds(d, gamma=[1.0], zeros=zeros)
    ref = stats.wilcoxon(d, zero_method=zero_method, correction=False, alternative="greater", method="approx")
    assert r.table["p_upper"][0] == pytest.approx(ref.pvalue, rel=1e-12)
    assert r.table["p_lower"][0] == pytest.approx(ref.pvalue, rel=1e-12)


def test_critical_gamma_solves_level():
    r = rosenbaum_bounds(TRT, CTRL, gamma=[1.0])
    r2 = rosenbaum_bounds(TRT, CTRL, gamma=[r.gamma_critical])
    assert r2.table["p_upper"][0] == pytest.approx(0.05, abs=1e-9)


def test_hodges_lehmann_bounds():
    d = TRT - CTRL
    r = rosenbaum_bounds(d, gamma=[1, 2, 3])
    i, j = np.triu_indices(len(d))
    assert r.hodges_lehmann == np.median((d[i] + d[j]) / 2)
    t = r.table
    assert t["hl_low"][0] == t["hl_high"][0] == r.hodges_lehmann
    assert (np.diff(t["hl_low"]) <= 0).all() and (np.diff(t["hl_high"]) >= 0).all()


def test_bound_controls_size_under_hidden_bias():
    """Monte Carlo: with hidden bias of exactly Gamma0 = 2 and no effect, the bound at Gamma0
    rejects at most 5 % of the time, the naive (Gamma = 1) test far more often."""
    rng = np.random.default_rng(7)
    reps, n, g0 = 2000, 60, 2.0
    mag = np.abs(rng.standard_normal((reps, n)))
    sign = np.where(rng.random((reps, n)) < g0 / (1 + g0), 1.0, -1.0)   # worst case: u decides the sign
    d = mag * sign
    r = stats.rankdata(np.abs(d), axis=1)
    T = (r * (d > 0)).sum(axis=1)
    S, S2 = r.sum(axis=1), (r ** 2).sum(axis=1)
    pp = g0 / (1 + g0)
    p_up = stats.norm.sf((T - pp * S) / np.sqrt(pp * (1 - pp) * S2))
    p_naive = stats.norm.sf((T - 0.5 * S) / np.sqrt(0.25 * S2))
    assert (p_up < 0.05).mean() <= 0.065
    assert (p_naive < 0.05).mean() > 0.5
    one = rosenbaum_bounds(d[0], gamma=[g0])
    assert one.table["p_upper"][0] == pytest.approx(p_up[0], rel=1e-10)


@pytest.fixture(scope="module")
def nsw_pairs():
    from pathlib import Path
    d = pd.read_csv(Path(__file__).parent / "data" / "nsw.csv")
    return em.nearest_neighbor(d, treatment="treat", covariates=["age", "educ", "black", "hisp", "marr",
                                                                  "nodegree", "re74", "re75"])


def test_matched_sample_pairs(nsw_pairs):
    dif = pair_differences(nsw_pairs, "re78")
    assert len(dif) == nsw_pairs.n_treated
    md = nsw_pairs.matched_data()
    assert dif.sum() == pytest.approx(md.loc[md.treat == 1, "re78"].sum() - md.loc[md.treat == 0, "re78"].sum())
    r = rosenbaum_bounds(nsw_pairs, outcome="re78", gamma=[1, 1.5, 2])
    assert (np.diff(r.table["p_upper"]) > 0).all()
    assert "Gamma" in r.summary() and "<table" in r._repr_html_()
    assert r.to_dict()["table"][0]["gamma"] == 1
    assert r.plot().get_xlabel().startswith("Gamma")


def test_e_value_paper_example():
    r = e_value(3.9, 1.8, 8.7)
    assert round(r.e_value, 2) == 7.26
    assert round(r.e_value_ci, 2) == 3.00


def test_e_value_protective_and_null_crossing():
    r = e_value(0.8, 0.7, 0.9)         # protective: use 1/RR and the upper limit
    assert r.e_value == pytest.approx(1 / 0.8 + np.sqrt(1 / 0.8 * (1 / 0.8 - 1)))
    assert r.e_value_ci == pytest.approx(1 / 0.9 + np.sqrt(1 / 0.9 * (1 / 0.9 - 1)))
    assert e_value(1.3, 0.9, 1.8).e_value_ci == 1.0


def test_e_value_mean_difference():
    r = e_value(2.0, measure="MD", se=0.5, sd=4.0)    # d = 0.5, se_d = 0.125
    rr = np.exp(0.91 * 0.5)
    assert r.rr == pytest.approx(rr)
    assert r.rr_low == pytest.approx(np.exp(0.91 * 0.5 - 1.78 * 0.125))
    assert r.e_value == pytest.approx(rr + np.sqrt(rr * (rr - 1)))
    lo = np.exp(0.91 * 0.5 - 1.78 * 0.125)
    assert r.e_value_ci == pytest.approx(lo + np.sqrt(lo * (lo - 1)))
    assert "E-value" in r.summary() and r.to_dict()["measure"] == "MD"


def test_e_value_odds_ratio_common():
    r = e_value(4.0, measure="OR", rare=False)
    assert r.rr == pytest.approx(2.0)


def test_missing_outcomes_drop_pairs(nsw_pairs):
    y = nsw_pairs.data["re78"].to_numpy(copy=True)
    y[np.flatnonzero(nsw_pairs.treat == 1)[:3]] = np.nan
    r = rosenbaum_bounds(nsw_pairs, outcome=y, missing="drop_pairs")
    assert r.n_pairs_dropped == 3 and r.n_pairs == nsw_pairs.n_treated - 3
    assert "3 pairs left out" in r.summary()
