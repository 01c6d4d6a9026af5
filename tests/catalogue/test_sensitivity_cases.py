"""Catalogue: bad inputs to the sensitivity analyses (HonestDiD, pre-trend power, imputation
estimator, Rosenbaum bounds, E-values).  Each case asserts the clear error; cases that read
files assert that the files are unchanged."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaluation.did as did
import evaluation.matching as em
from evaluation.did.honest import honest_did
from evaluation.did.imputation import did_imputation
from evaluation.did.pretrends import pretrend_power, slope_for_power
from evaluation.matching.hidden_bias import e_value, rosenbaum_bounds

from tests.catalogue._util import unchanged

DATA = Path(__file__).parents[1] / "data"
B = np.array([0.01, -0.02, 0.0, 0.05, 0.07])
S = np.diag([1e-4, 1e-4, 1e-4, 2e-4, 3e-4])


def test_honest_sigma_not_psd():
    bad = S.copy()
    bad[0, 0] = -1e-4
    with pytest.raises(ValueError, match="not positive semi-definite"):
        honest_did(betahat=B, sigma=bad, num_pre=3, num_post=2)


def test_honest_sigma_wrong_shape():
    with pytest.raises(ValueError, match="betahat has 5 coefficients but sigma is 4 x 4"):
        honest_did(betahat=B, sigma=S[:4, :4], num_pre=3, num_post=2)


def test_honest_too_few_pre_periods():
    with pytest.raises(ValueError, match="at least one pre-period"):
        honest_did(betahat=B[3:], sigma=S[3:, 3:], num_pre=0, num_post=2)


def test_honest_counts_do_not_add_up():
    with pytest.raises(ValueError, match="num_pre \\+ num_post = 6"):
        honest_did(betahat=B, sigma=S, num_pre=4, num_post=2)


def test_honest_flci_for_relative_magnitudes():
    with pytest.raises(ValueError, match="method for relative_magnitude must be one of"):
        honest_did(betahat=B, sigma=S, num_pre=3, num_post=2, method="FLCI")


def test_honest_negative_m():
    with pytest.raises(ValueError, match="non-negative"):
        honest_did(betahat=B, sigma=S, num_pre=3, num_post=2, m_values=[-1.0])


def test_honest_varying_base_period_from_csv():
    f = DATA / "mpdta.csv"
    with unchanged(f):
        m = pd.read_csv(f)
        cs = did.att_gt(m, outcome="lemp", unit="countyreal", time="year", group="first.treat")
        with pytest.raises(ValueError, match="base_period='universal'"):
            honest_did(cs.aggregate("dynamic"))


def test_honest_not_an_event_study():
    f = DATA / "mpdta.csv"
    with unchanged(f):
        m = pd.read_csv(f)
        cs = did.att_gt(m, outcome="lemp", unit="countyreal", time="year", group="first.treat",
                        base_period="universal")
        with pytest.raises(ValueError, match="kind='dynamic'"):
            honest_did(cs.aggregate("group"))


def test_pretrends_no_pre_periods():
    with pytest.raises(ValueError, match="no pre-period coefficients"):
        slope_for_power(sigma=S[3:, 3:], event_times=[0, 1])


def test_pretrends_reference_period_included():
    with pytest.raises(ValueError, match="reference period -1 must be left out"):
        pretrend_power(sigma=S, event_times=[-3, -2, -1, 0, 1], slope=0.01)


def test_pretrends_delta_and_slope():
    with pytest.raises(ValueError, match="exactly one of delta"):
        pretrend_power(sigma=S, event_times=[-4, -3, -2, 0, 1], slope=0.01, delta=np.zeros(5))


def test_imputation_missing_column():
    f = DATA / "mpdta.csv"
    with unchanged(f):
        m = pd.read_csv(f)
        with pytest.raises(ValueError, match="group column 'first_treat' not in the data"):
            did_imputation(m, outcome="lemp", unit="countyreal", time="year", group="first_treat")


def test_imputation_always_treated_unit():
    d, _ = did.simulate_staggered(n_units=60, n_periods=6, cohorts=(3, 5), seed=1)
    d.loc[d.unit == 1, "group"] = 1            # treated from its first period: nothing to impute from
    with pytest.raises(ValueError, match="cannot be imputed: 6 belong to units never observed untreated"):
        did_imputation(d, outcome="y", unit="unit", time="period", group="group")


def test_imputation_duplicated_unit_periods():
    d, _ = did.simulate_staggered(n_units=40, n_periods=5, cohorts=(3,), seed=2)
    d = pd.concat([d, d.iloc[:3]])
    with pytest.raises(ValueError, match="3 duplicated \\(unit, period\\) rows"):
        did_imputation(d, outcome="y", unit="unit", time="period", group="group")


def test_imputation_missing_outcome():
    d, _ = did.simulate_staggered(n_units=40, n_periods=5, cohorts=(3,), seed=3)
    d.loc[[0, 7], "y"] = np.nan
    with pytest.raises(ValueError, match="missing or not numeric in 2 rows"):
        did_imputation(d, outcome="y", unit="unit", time="period", group="group")


def test_rosenbaum_unmatched_sample():
    f = DATA / "nsw.csv"
    with unchanged(f):
        d = pd.read_csv(f)
        w = em.ipw(d, treatment="treat", covariates=["age", "educ", "re74", "re75"])
        with pytest.raises(ValueError, match="need matched pairs"):
            rosenbaum_bounds(w, outcome="re78")


@pytest.mark.filterwarnings("ignore:fewer comparison units")
def test_rosenbaum_not_pairs():
    f = DATA / "nsw.csv"
    with unchanged(f):
        d = pd.read_csv(f)
        m = em.nearest_neighbor(d, treatment="treat", covariates=["age", "educ", "re74", "re75"], ratio=2)
        with pytest.raises(ValueError, match="not one treated and one control unit"):
            rosenbaum_bounds(m, outcome="re78")


def test_rosenbaum_missing_outcome_in_pairs():
    f = DATA / "nsw.csv"
    with unchanged(f):
        d = pd.read_csv(f)
        m = em.nearest_neighbor(d, treatment="treat", covariates=["age", "educ", "re74", "re75"])
        y = d["re78"].to_numpy(copy=True)
        y[np.flatnonzero(d.treat == 1)[:2]] = np.nan
        with pytest.raises(ValueError, match="outcome missing for 2 units in 2 matched pairs"):
            rosenbaum_bounds(m, outcome=y)


def test_rosenbaum_gamma_below_one():
    with pytest.raises(ValueError, match="gamma must be >= 1"):
        rosenbaum_bounds(np.array([1.0, 2.0, -0.5]), gamma=[0.5, 1.0])


def test_e_value_mean_difference_without_sd():
    with pytest.raises(ValueError, match="needs sd="):
        e_value(0.05, 0.01, 0.09, measure="MD")


def test_e_value_negative_ratio():
    with pytest.raises(ValueError, match="must be positive"):
        e_value(-0.2, measure="RR")
