"""Randomisation inference over districts: statistics equal the DiD estimators, exact enumeration,
Fisher p-values by brute force, and confidence sets equal to the inverted tests."""
import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

import evaluation.did as did
from evaluation.did.randomization import (_pvalue, assignments, n_distinct_permutations,
                                          randomization_inference, ri_cluster_trial)

DATES = np.array([4, 6, 8, 10, 0, 0])


def rollout(seed=0, effect=0.5, npg=30, T=12):
    rng = np.random.default_rng(seed)
    G = len(DATES)
    unit = np.arange(G * npg)
    cl = unit // npg
    tt = np.arange(1, T + 1)
    D = (DATES[cl][:, None] > 0) & (tt[None] >= DATES[cl][:, None])
    Y = (rng.normal(size=G * npg)[:, None] + 0.1 * tt[None] + rng.normal(scale=0.3, size=(G, T))[cl]
         + rng.normal(size=(G * npg, T)) + effect * D)
    return pd.DataFrame({"unit": np.repeat(unit, T), "period": np.tile(tt, G * npg),
                         "district": np.repeat(cl, T), "group": np.repeat(DATES[cl], T), "y": Y.ravel()})


@pytest.fixture(scope="module")
def data():
    return rollout()


def test_counts_and_enumeration():
    assert n_distinct_permutations(DATES) == 360
    A, exact = assignments(DATES)
    assert exact and A.shape == (360, 6) and (A[0] == DATES).all()
    assert len({tuple(a) for a in A}) == 360
    with pytest.raises(ValueError, match="too many to enumerate.*n_permutations"):
        assignments(np.arange(12))
    A, exact = assignments(np.arange(12), n_permutations=199, seed=1)
    assert not exact and A.shape == (199, 12) and (A[0] == np.arange(12)).all()


def test_statistics_equal_did_estimators(data):
    tw = did.twfe(data, outcome="y", unit="unit", time="period", group="group")
    r = randomization_inference(data, outcome="y", time="period", group="group", cluster="district")
    assert r.estimate == pytest.approx(tw.estimate, rel=1e-10)
    assert r.exact and r.n_assignments == 360
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = did.att_gt(data, outcome="y", unit="unit", time="period", group="group", control_group="notyet")
        cs_never = did.att_gt(data, outcome="y", unit="unit", time="period", group="group")
    for st, ref in (("cs_simple", cs.aggregate("simple")), ("cs_dynamic", cs.aggregate("dynamic"))):
        r = randomization_inference(data, outcome="y", time="period", group="group", cluster="district",
                                    statistic=st, n_permutations=40, seed=1)
        assert r.estimate == pytest.approx(ref.estimate, rel=1e-10)
    r = randomization_inference(data, outcome="y", time="period", group="group", cluster="district",
                                statistic="cs_simple", control_group="never", n_permutations=25, seed=1)
    assert r.estimate == pytest.approx(cs_never.aggregate("simple").estimate, rel=1e-10)


def test_permutation_distribution_by_brute_force(data):
    """Each assignment's statistic is the TWFE estimate on the data with permuted adoption dates."""
    r = randomization_inference(data, outcome="y", time="period", group="group", cluster="district")
    A, _ = assignments(DATES)
    for p in (1, 77, 359):
        d = data.assign(group=A[p][data["district"].to_numpy()])
        tw = did.twfe(d, outcome="y", unit="unit", time="period", group="group")
        assert r.distribution[p] == pytest.approx(tw.estimate, rel=1e-9)
    assert r.pvalue == pytest.approx(np.mean(np.abs(r.distribution) >= abs(r.estimate) - 1e-12))


def test_confidence_set_is_inverted_test(data):
    r = randomization_inference(data, outcome="y", time="period", group="group", cluster="district")
    lo, hi = r.ci()
    assert lo < r.estimate < hi
    A, _ = assignments(DATES)
    n = data.groupby(["district", "period"]).size().unstack().to_numpy(float)
    from evaluation.did.randomization import twfe_weights
    W = twfe_weights(A, np.arange(1, 13), n)
    D = ((DATES[:, None] > 0) & (np.arange(1, 13)[None] >= DATES[:, None])).astype(float)
    b = np.einsum("pgt,gt->p", W, D)
    a = r.distribution
    eps = 1e-7 * (hi - lo)
    assert _pvalue(a, b, a[0], lo + eps) > 0.05 >= _pvalue(a, b, a[0], lo - eps)
    assert _pvalue(a, b, a[0], hi - eps) > 0.05 >= _pvalue(a, b, a[0], hi + eps)
    # a sharp null at the truth-shifted outcome: testing tau0 on Y - tau0 D equals testing 0
    d2 = data.assign(y=data["y"] - 0.3 * ((data["group"] > 0) & (data["period"] >= data["group"])))
    r2 = randomization_inference(d2, outcome="y", time="period", group="group", cluster="district")
    assert r2.pvalue == pytest.approx(_pvalue(a, b, a[0], 0.3))


def test_cluster_trial_exact_by_brute_force():
    rng = np.random.default_rng(3)
    G, m = 8, 25
    cl = np.repeat(np.arange(G), m)
    arm = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    y = rng.normal(size=G)[cl] + rng.normal(size=G * m) + 0.8 * arm[cl]
    d = pd.DataFrame({"y": y, "cl": cl, "d": arm[cl]})
    r = ri_cluster_trial(d, outcome="y", treatment="d", cluster="cl")
    assert r.exact and r.n_assignments == 70
    ybar = d.groupby("cl")["y"].mean().to_numpy()
    stats = [ybar[list(c)].mean() - ybar[[i for i in range(G) if i not in c]].mean()
             for c in itertools.combinations(range(G), 4)]
    obs = ybar[:4].mean() - ybar[4:].mean()
    assert r.estimate == pytest.approx(obs)
    assert r.pvalue == pytest.approx(np.mean(np.abs(stats) >= abs(obs) - 1e-12))
    assert r.ci()[0] < r.estimate < r.ci()[1]
    assert set(r.tidy().columns) >= {"pvalue", "ci_low", "ci_high"}


def test_size_tiny_monte_carlo():
    """Under a sharp null the exact test rejects at most alpha; tiny run, randomised dates."""
    rej = []
    rng = np.random.default_rng(5)
    for s in range(30):
        d = rollout(seed=100 + s, effect=0.0, npg=5, T=10)
        perm = rng.permutation(6)
        d["group"] = DATES[perm][d["district"].to_numpy()]
        r = randomization_inference(d, outcome="y", time="period", group="group", cluster="district")
        rej.append(r.pvalue <= 0.05)
    assert np.mean(rej) <= 0.2


def test_few_cluster_inference_and_pilot_panel(data):
    """The notebook's two calls: one estimate, three inferences; the pilot district's window."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = did.att_gt(data, outcome="y", unit="unit", time="period", group="group", cluster="district",
                        control_group="notyet")
    few = did.few_cluster_inference(cs, data, cluster="district", wild_draws=999, seed=1)
    t = few.tidy()
    assert list(t["inference"]) == ["cluster", "wild", "randomization"]
    np.testing.assert_allclose(t["estimate"], cs.aggregate("simple").estimate, rtol=1e-10)
    assert few.extra["single_cluster_cohorts"] and t["note"].iloc[0]
    assert few.result("randomization").exact
    with pytest.raises(ValueError, match="inference must be one of"):
        few.result("bayes")
    pp = did.pilot_panel(data, outcome="y", time="period", group="group", district="district", pilot="0")
    assert pp["period"].max() == 5 and pp["treated"].sum() == 2 and (pp["n"] == 30).all()
    r = did.synthdid(pp, outcome="y", unit="district", time="period", treatment="treated", method="sc")
    assert len(r.placebo) == 5 and 1 / 6 <= r.placebo_pvalue <= 1
    with pytest.raises(ValueError, match="needs it to be the first adopter"):
        did.pilot_panel(data, outcome="y", time="period", group="group", district="district", pilot="1")
