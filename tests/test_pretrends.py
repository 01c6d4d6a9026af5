"""Pre-trend test power (evaluation.did.pretrends) against R pretrends' README (He & Wang 2017).

Reference numbers: tests/data/pretrends_he_wang.json (pretrends README).  Tolerances: the
likelihood ratio is deterministic in R (1e-6 relative); power, Bayes factor and the means after
pre-testing come from ``mvtnorm::pmvnorm`` (randomised Genz, absolute error up to 1e-3 by
default) in R, so 2e-4 absolute; the slope for 50 % power from ``uniroot`` (tolerance 1.2e-4),
so 1.2e-4 absolute.  Our rectangle probabilities are deterministic quadrature (~1e-12).
"""
import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.did.pretrends import _rect_prob, pretrend_power, slope_for_power

REF = json.loads((Path(__file__).parent / "data" / "pretrends_he_wang.json").read_text())
B, S, T = np.array(REF["beta"]), np.array(REF["sigma"]), np.array(REF["tVec"])
R = REF["readme"]


def test_slope_for_power_matches_readme():
    s50 = slope_for_power(sigma=S, event_times=T, power=0.5)
    assert s50 == pytest.approx(R["slope50"], abs=1.2e-4)
    tab = slope_for_power(sigma=S, event_times=T)
    assert list(tab["power"]) == [0.5, 0.8] and tab["slope"].is_monotonic_increasing


def test_linear_trend_power_matches_readme():
    r = pretrend_power(betahat=B, sigma=S, event_times=T, slope=R["slope50"])
    lin = R["linear"]
    assert r.power == pytest.approx(lin["Power"], abs=2e-4)
    assert r.bayes_factor == pytest.approx(lin["Bayes.Factor"], abs=2e-4)
    assert r.likelihood_ratio == pytest.approx(lin["Likelihood.Ratio"], rel=1e-6)
    np.testing.assert_allclose(r.table["delta"], lin["deltatrue"], atol=1e-8)
    np.testing.assert_allclose(r.table["mean_after_pretest"], lin["meanAfterPretesting"], atol=2e-4)
    post = r.table[r.table.event_time >= 0]
    np.testing.assert_allclose(post["bias_after_pretest"], post["mean_after_pretest"])


def test_quadratic_trend_matches_readme():
    q = R["quadratic"]
    r = pretrend_power(betahat=B, sigma=S, event_times=T, delta=0.024 * (T + 1) ** 2)
    assert r.power == pytest.approx(q["Power"], abs=2e-4)
    assert r.bayes_factor == pytest.approx(q["Bayes.Factor"], abs=2e-4)
    assert r.likelihood_ratio == pytest.approx(q["Likelihood.Ratio"], rel=1e-6)


def test_rectangle_probability_against_scipy():
    from scipy import stats
    ub = 1.96 * np.sqrt(np.diag(S[:3, :3]))
    m = np.array([-0.1, 0.02, 0.05])
    ref = stats.multivariate_normal.cdf(ub, mean=m, cov=S[:3, :3], lower_limit=-ub, abseps=1e-8, releps=1e-8,
                                        rng=np.random.default_rng(0))
    assert _rect_prob(m, S[:3, :3], -ub, ub) == pytest.approx(ref, abs=1e-7)


def test_monte_carlo_power_and_conditional_bias():
    """Recovery: simulated event studies under a linear trend; the pass rate and the mean of the
    post-period estimates among those passing match the analytic values (MC error ~1e-3)."""
    slope = 0.04
    r = pretrend_power(sigma=S, event_times=T, slope=slope)
    rng = np.random.default_rng(3)
    delta = slope * (T + 1)
    draws = rng.multivariate_normal(delta, S, size=200_000)
    se = np.sqrt(np.diag(S))
    passed = (np.abs(draws[:, :3]) <= 1.96 * se[:3]).all(axis=1)
    assert 1 - passed.mean() == pytest.approx(r.power, abs=4e-3)
    tab = r.table.set_index("event_time")
    for j, t in enumerate(T):
        assert draws[passed, j].mean() == pytest.approx(tab.loc[t, "mean_after_pretest"], abs=2e-3)


def test_result_api_and_adapter():
    import matplotlib
    matplotlib.use("Agg")
    from evaluation.did.honest import EventStudyCoefficients
    es = EventStudyCoefficients(B, S, T.astype(int), -1)
    r = pretrend_power(es, slope=0.05)
    assert "Bayes factor" in r.summary() and "<table" in r._repr_html_()
    assert r.to_dict()["power"] == pytest.approx(r.power)
    assert r.plot().get_xlabel() == "event time"
    assert 0.05 < r.size < 0.15     # three pre-periods at 5 % each
