"""Catalogue: designs that few-cluster inference, randomisation inference, synthetic control and
power simulation cannot handle, each with a clear error and the input left as it was."""
import warnings

import numpy as np
import pandas as pd
import pytest

import evaluation.did as did
from evaluation.did.power import cluster_design, did_power
from evaluation.did.randomization import randomization_inference, ri_cluster_trial
from evaluation.did.synth import synthdid
from evaluation.did.wild import wild_att_gt, wild_twfe, wild_weights

from ._util import unchanged


def _synth_panel(N0=8, N1=1, T0=6, T1=3, seed=0):
    rng = np.random.default_rng(seed)
    N, T = N0 + N1, T0 + T1
    W = np.zeros((N, T))
    W[N0:, T0:] = 1
    return pd.DataFrame({"unit": np.repeat([f"u{i}" for i in range(N)], T), "t": np.tile(np.arange(2000, 2000 + T), N),
                         "y": rng.normal(size=N * T), "d": W.ravel()})


def _rollout(dates=(3, 4, 0, 0), npg=4, T=6, seed=0):
    rng = np.random.default_rng(seed)
    dates = np.asarray(dates)
    G = len(dates)
    cl = np.repeat(np.arange(G), npg)
    return pd.DataFrame({"unit": np.repeat(np.arange(G * npg), T), "period": np.tile(np.arange(1, T + 1), G * npg),
                         "district": np.repeat(cl, T), "group": np.repeat(dates[cl], T),
                         "y": rng.normal(size=G * npg * T)})


def _same(df, fn):
    before = df.copy(deep=True)
    try:
        fn()
    finally:
        pd.testing.assert_frame_equal(df, before)


SYN = dict(outcome="y", unit="unit", time="t", treatment="d")


def test_jackknife_with_one_treated_unit():
    d = _synth_panel(N1=1)
    with pytest.raises(ValueError, match="jackknife.*at least 2 treated units.*se='placebo'"):
        _same(d, lambda: synthdid(d, **SYN, se="jackknife"))


def test_synthetic_control_with_too_few_pre_periods(tmp_path):
    f = tmp_path / "panel.csv"
    _synth_panel(T0=1).to_csv(f, index=False)
    with unchanged(f):
        d = pd.read_csv(f)
        with pytest.raises(ValueError, match="only 1 pre-treatment period.*needs at least 2"):
            synthdid(d, **SYN, se=None)


def test_synthetic_control_with_fewer_pre_periods_than_required():
    d = _synth_panel(T0=4)
    with pytest.raises(ValueError, match="only 4 pre-treatment period.*at least 8"):
        _same(d, lambda: synthdid(d, **SYN, se=None, min_pre_periods=8))


def test_synthetic_control_with_staggered_adoption():
    d = _synth_panel(N1=2)
    d.loc[(d["unit"] == "u9") & (d["t"] == 2006), "d"] = 0
    with pytest.raises(ValueError, match="do not all start at the same period"):
        _same(d, lambda: synthdid(d, **SYN, se=None))


def test_synthetic_control_on_unbalanced_panel():
    d = _synth_panel().iloc[1:]
    with pytest.raises(ValueError, match="unbalanced panel: unit 'u0' is missing"):
        _same(d, lambda: synthdid(d, **SYN, se=None))


def test_placebo_with_more_treated_than_controls():
    d = _synth_panel(N0=2, N1=3)
    with pytest.raises(ValueError, match="more control units \\(2\\) than treated units \\(3\\)"):
        _same(d, lambda: synthdid(d, **SYN, se="placebo"))


def test_too_many_permutations_without_a_sample_size():
    d = _rollout(dates=tuple(range(2, 12)) + (0, 0), T=12, npg=2)
    with pytest.raises(ValueError, match="too many to enumerate.*pass n_permutations="):
        _same(d, lambda: randomization_inference(d, outcome="y", time="period", group="group", cluster="district"))


def test_randomisation_with_adoption_varying_within_district():
    d = _rollout()
    d.loc[d["unit"] == 0, "group"] = 5
    with pytest.raises(ValueError, match="varies within cluster 0.*one adoption date per cluster"):
        _same(d, lambda: randomization_inference(d, outcome="y", time="period", group="group", cluster="district"))


def test_randomisation_with_too_few_clusters():
    d = _rollout(dates=(3, 0))
    with pytest.raises(ValueError, match="only 2 clusters.*at least 3"):
        _same(d, lambda: randomization_inference(d, outcome="y", time="period", group="group", cluster="district"))


def test_cluster_trial_with_arms_mixed_in_a_cluster():
    d = pd.DataFrame({"y": np.arange(8.0), "cl": np.repeat([0, 1, 2, 3], 2), "arm": [1, 0, 1, 1, 0, 0, 0, 0]})
    with pytest.raises(ValueError, match="treatment varies within cluster 0.*whole clusters"):
        _same(d, lambda: ri_cluster_trial(d, outcome="y", treatment="arm", cluster="cl"))


def test_wild_bootstrap_without_or_with_a_missing_cluster_column():
    d = _rollout()
    with pytest.raises(ValueError, match="needs cluster="):
        wild_twfe(d, outcome="y", unit="unit", time="period", group="group", cluster=None)
    with pytest.raises(ValueError, match="column 'office' \\(the cluster\\) is missing"):
        _same(d, lambda: wild_twfe(d, outcome="y", unit="unit", time="period", group="group", cluster="office"))


def test_wild_bootstrap_with_units_not_nested_in_clusters():
    d = _rollout()
    d.loc[(d["unit"] == 0) & (d["period"] == 6), "district"] = 3
    with pytest.raises(ValueError, match="unit 0 appears in 2 clusters.*nested in clusters"):
        _same(d, lambda: wild_twfe(d, outcome="y", unit="unit", time="period", group="group", cluster="district"))


def test_wild_bootstrap_for_cs_with_covariates():
    d = _rollout(dates=(3, 4, 0, 0, 0, 0), npg=10)
    d["x"] = np.repeat(np.random.default_rng(1).normal(size=60), 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = did.att_gt(d, outcome="y", unit="unit", time="period", group="group", covariates=["x"],
                        cluster="district", method="reg")
    with pytest.raises(ValueError, match="without covariates"):
        wild_att_gt(cs, d, cluster="district")


def test_wild_bootstrap_with_unknown_weights():
    with pytest.raises(ValueError, match="'rademacher' or 'webb', got 'mammen'"):
        wild_weights(6, weights="mammen")


def test_power_with_every_district_treated():
    with pytest.raises(ValueError, match="n_treated must be between 1 and n_clusters - 1 = 5"):
        did_power(n_clusters=6, n_treated=6, effect=0.1, n_sims=10)


def test_power_design_with_adoption_in_the_first_period():
    with pytest.raises(ValueError, match="at least one pre-period"):
        cluster_design(n_clusters=4, dates=[1, 3, 0, 0], periods=10)
