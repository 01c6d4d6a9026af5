"""HonestDiD sensitivity sets (evaluation.did.honest) against the HonestDiD README (Medicaid example).

Reference numbers and their sources are in tests/data/honestdid_medicaid.json; the data are
tests/data/ehec_data.csv (see tests/data/ehec_data.SOURCE.md).  Tolerance: the printed precision
of the README (3 significant digits), i.e. |ours - printed| <= half a unit in the last printed
digit, plus 2e-6 for the numerical tolerance of HonestDiD's convex solver (CVXR/ECOS) in the FLCI.
"""
import json
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import evaluation.did as did
from evaluation.did._rrandom import r_rnorm, r_runif
from evaluation.did.honest import (event_study_coefficients, flci, honest_did, identified_set,
                                   original_ci)

matplotlib.use("Agg")
DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "honestdid_medicaid.json").read_text())


def _printed_ok(ours, printed, extra=0.0):
    ours, printed = np.asarray(ours, float), np.asarray(printed, float)
    digits = 3 - np.floor(np.log10(np.abs(printed))) - 1          # 3 significant digits
    half_unit = 0.5 * 10.0 ** (-digits)
    return np.abs(ours - printed) <= half_unit + extra + 1e-12


@pytest.fixture(scope="module")
def ehec():
    return pd.read_csv(DATA / "ehec_data.csv")


@pytest.fixture(scope="module")
def twfe_es(ehec):
    d = ehec[(ehec.year < 2016) & (ehec.yexp2.isna() | (ehec.yexp2 != 2015))].copy()
    d["g"] = np.where(d.yexp2 == 2014, 2014, 0)
    es = did.event_study(d, outcome="dins", unit="stfips", time="year", group="g", cluster="stfips",
                         min_e=-6, max_e=1)
    return event_study_coefficients(es)


def test_r_random_stream_matches_r():
    # set.seed(0); rnorm(5) and set.seed(42); runif(3) in R 4.x
    np.testing.assert_allclose(r_rnorm(5, 0), [1.262954285, -0.326233361, 1.329799263, 1.272429321,
                                               0.414641434], atol=1e-9)
    np.testing.assert_allclose(r_runif(3, 42), [0.914806043, 0.937075413, 0.286139535], atol=1e-9)


def test_adapter_twfe(twfe_es):
    assert twfe_es.num_pre == 5 and twfe_es.num_post == 2
    assert list(twfe_es.event_times) == [-6, -5, -4, -3, -2, 0, 1]


def test_relative_magnitudes_match_readme(twfe_es):
    ref = REF["rm_readme_v022"]
    r = honest_did(twfe_es, m_values=ref["Mbar"])
    assert r.method == "C-LF"
    assert _printed_ok(r.table["lb"], ref["lb"]).all(), r.table
    assert _printed_ok(r.table["ub"], ref["ub"]).all(), r.table
    assert r.breakdown == 1.5                       # the set includes 0 at Mbar = 2


def test_smoothness_flci_matches_readme(twfe_es):
    ref = REF["sd_readme"]
    r = honest_did(twfe_es, restriction="smoothness", m_values=ref["M"])
    assert r.method == "FLCI"
    assert _printed_ok(r.table["lb"], ref["lb"], extra=2e-6).all(), r.table
    assert _printed_ok(r.table["ub"], ref["ub"], extra=2e-6).all(), r.table
    assert r.breakdown == pytest.approx(0.02)


def test_smoothness_flci_with_control_matches_readme():
    ref = REF["sd_control_readme"]
    b, S = np.array(ref["betahat"]), np.array(ref["sigma"])
    r = honest_did(betahat=b, sigma=S, num_pre=5, num_post=2, restriction="smoothness", m_values=ref["M"])
    assert _printed_ok(r.table["lb"], ref["lb"], extra=2e-6).all(), r.table
    assert _printed_ok(r.table["ub"], ref["ub"], extra=2e-6).all(), r.table


def test_flci_exact_quantile_close_to_simulated():
    ref = REF["sd_control_readme"]
    b, S = np.array(ref["betahat"]), np.array(ref["sigma"])
    a = flci(b, S, num_pre=5, num_post=2, M=0.02)
    e = flci(b, S, num_pre=5, num_post=2, M=0.02, fold_sims=None)
    assert abs(a["lb"] - e["lb"]) < 5e-5 and abs(a["ub"] - e["ub"]) < 5e-5


def test_original_ci(twfe_es):
    lo, hi = original_ci(twfe_es.betahat, twfe_es.sigma, 5, 2)
    se = np.sqrt(twfe_es.sigma[5, 5])
    assert lo == pytest.approx(twfe_es.betahat[5] - 1.959964 * se, rel=1e-6)
    assert hi == pytest.approx(twfe_es.betahat[5] + 1.959964 * se, rel=1e-6)


@pytest.mark.parametrize("method", ["C-LF", "Conditional"])
def test_sets_shrink_to_identified_set(twfe_es, method):
    """Recovery: with a tiny covariance the robust set approaches the identified set."""
    b = twfe_es.betahat
    lo, hi = identified_set(b, num_pre=5, num_post=2, m=1.0)
    r = honest_did(betahat=b, sigma=twfe_es.sigma * 1e-4, num_pre=5, num_post=2, m_values=[1.0],
                   grid_lb=0.0, grid_ub=0.1, method=method)
    step = 0.1 / 999
    assert r.table["lb"][0] <= lo + step and r.table["ub"][0] >= hi - step
    assert r.table["lb"][0] >= lo - 10 * step and r.table["ub"][0] <= hi + 10 * step


def test_flci_coverage_under_worst_case_trend(twfe_es):
    """Coverage: the FLCI covers theta in >= 95 % of draws when delta is in Delta^SD(M)."""
    S = twfe_es.sigma
    M = 0.01
    res = flci(np.zeros(7), S, num_pre=5, num_post=2, M=M, fold_sims=None)
    v, chi = res["weights"], res["halflength"]
    t = np.array([-6, -5, -4, -3, -2, 0, 1], float)
    # delta with second differences +-M (curvature), the direction that biases v'beta most
    delta = 0.5 * M * (t + 1) ** 2 * np.sign(-(v[5] + 1e-12))
    tau = np.array([0, 0, 0, 0, 0, 0.05, 0.06])
    rng = np.random.default_rng(1)
    draws = rng.multivariate_normal(tau + delta, S, size=4000)
    cover = np.abs(draws @ v - tau[5]) <= chi
    assert cover.mean() >= 0.94


def test_callaway_santanna_adapter(ehec):
    d = ehec.assign(g=ehec.yexp2.fillna(0))
    cs = did.att_gt(d, outcome="dins", unit="stfips", time="year", group="g", control_group="notyet",
                    base_period="universal")
    agg = cs.aggregate("dynamic", min_e=-5, max_e=5)
    c = event_study_coefficients(agg)
    assert list(c.event_times) == [-5, -4, -3, -2, 0, 1, 2, 3, 4, 5]
    comp = agg.components.set_index("value")
    np.testing.assert_allclose(c.betahat, comp.loc[c.event_times, "estimate"])
    np.testing.assert_allclose(np.sqrt(np.diag(c.sigma)), comp.loc[c.event_times, "se"], rtol=1e-8)
    r = honest_did(agg, m_values=[0.5, 1.0], grid_points=200)
    assert (r.table["lb"] < r.estimate).all() and (r.table["ub"] > r.estimate).all()
    with pytest.raises(ValueError, match="universal"):
        event_study_coefficients(did.att_gt(d, outcome="dins", unit="stfips", time="year", group="g")
                                 .aggregate("dynamic"))


def test_sun_abraham_adapter_matches_fixest(ehec):
    # README's sunab_beta_vcv(feols(dins ~ sunab(year_treated, year) | stfips + year)) objects
    ref = REF.get("sunab")
    d = ehec.assign(g=ehec.yexp2.fillna(0))
    sa = did.sun_abraham(d, outcome="dins", unit="stfips", time="year", group="g", cluster="stfips")
    c = event_study_coefficients(sa)
    assert c.num_pre == 10 and c.num_post == 6
    if ref is not None:
        np.testing.assert_allclose(c.betahat, ref["betahat"], atol=1e-12)
        np.testing.assert_allclose(c.sigma, ref["sigma"], rtol=1e-9, atol=1e-16)


def test_one_post_period_and_result_api(twfe_es):
    b, S = twfe_es.betahat[:6], twfe_es.sigma[:6, :6]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rm = honest_did(betahat=b, sigma=S, num_pre=5, num_post=1, m_values=[0.5, 1.0], grid_points=300)
        sd = honest_did(betahat=b, sigma=S, num_pre=5, num_post=1, restriction="smoothness",
                        method="Conditional", m_values=[0.0, 0.01], grid_points=300)
    for r in (rm, sd):
        assert (r.table["lb"] <= r.table["ub"]).all()
        d = r.to_dict()
        assert d["table"] and "breakdown" in d
        assert "breakdown" in r.summary() and "<table" in r._repr_html_()
        assert set(r.tidy().columns) >= {"lb", "ub", "excludes_zero"}
    ax = rm.plot()
    assert ax.get_xlabel() == "Mbar"


def test_breakdown_refined(twfe_es):
    r = honest_did(twfe_es, restriction="smoothness", m_values=[0.0, 0.01, 0.02, 0.03])
    assert r.breakdown == pytest.approx(0.02)
    bd = r.breakdown_refined(tol=5e-4)
    assert 0.02 <= bd < 0.03
    just_in = honest_did(twfe_es, restriction="smoothness", m_values=[bd])
    just_out = honest_did(twfe_es, restriction="smoothness", m_values=[bd + 5e-4])
    assert just_in.table["lb"][0] > 0 and just_out.table["lb"][0] <= 0
