"""Catalogue: estimator calls whose options do not fit the data or the method (matching and
trials), each with a clear error (or a visible note) and the input left as it was."""
import warnings

import numpy as np
import pandas as pd
import pytest

import evaluation.matching as M
import evaluation.rct as rct

from ._util import unchanged


def _obs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 2, n)
    t = (rng.random(n) < 1 / (1 + np.exp(-(-1 + x1 + 0.5 * x2)))).astype(int)
    return pd.DataFrame({"treat": t, "x1": x1, "x2": x2, "age": rng.integers(18, 60, n),
                         "y": x1 + t + rng.normal(size=n)})


def _trial(n=300, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"z": rng.integers(0, 2, n), "office": rng.choice(list("ABCDEFGH"), n),
                         "x": rng.normal(size=n), "y": rng.normal(size=n)})


def _same(df, fn):
    """Run ``fn`` and assert that it left ``df`` as it was (raises or not)."""
    before = df.copy(deep=True)
    try:
        fn()
    finally:
        pd.testing.assert_frame_equal(df, before)


COV = ["x1", "x2"]

# (label, call, expected error message pattern) -- matching
MATCHING = [
    ("ATE by nearest neighbour",
     lambda d: M.nearest_neighbor(d, treatment="treat", covariates=COV, estimand="ATE"),
     r"ATT or the ATC.*For the ATE use ipw, entropy_balance or cem"),
    ("unknown estimand for CEM",
     lambda d: M.cem(d, treatment="treat", covariates=["x2"], estimand="ATO"),
     r"cem estimand must be 'ATT', 'ATC' or 'ATE'.*'ATO'"),
    ("unknown estimand for IPW",
     lambda d: M.ipw(d, treatment="treat", covariates=COV, estimand="att_overlap"),
     r"estimand must be 'ATT', 'ATC' or 'ATE'"),
    ("unknown estimand for entropy balancing",
     lambda d: M.entropy_balance(d, treatment="treat", covariates=COV, estimand="ATM"),
     r"estimand must be 'ATT', 'ATC' or 'ATE'"),
    ("round-1 rule name (the MatchIt 4.5.1 bug) no longer accepted",
     lambda d: M.nearest_neighbor(d, treatment="treat", covariates=COV, rule="matchit"),
     r"rule must be one of \('nearest', 'matchit_4_5_1_bug'\)"),
    ("propensity order with pure Mahalanobis distance",
     lambda d: M.nearest_neighbor(d, treatment="treat", covariates=COV, distance="mahalanobis",
                                  order="largest"),
     r"order='largest' sorts by the propensity score.*order='data'"),
    ("unknown matching order",
     lambda d: M.nearest_neighbor(d, treatment="treat", covariates=COV, order="biggest"),
     r"order must be one of \('largest', 'smallest', 'random', 'data'\)"),
    ("zero caliper",
     lambda d: M.nearest_neighbor(d, treatment="treat", covariates=COV, caliper=0),
     r"caliper must be positive"),
    ("ratio below one",
     lambda d: M.nearest_neighbor(d, treatment="treat", covariates=COV, ratio=0),
     r"ratio must be a positive integer"),
    ("unknown distance",
     lambda d: M.nearest_neighbor(d, treatment="treat", covariates=COV, distance="euclidean"),
     r"distance must be 'logit', 'probit' or 'mahalanobis'"),
    ("unknown common-support rule",
     lambda d: M.nearest_neighbor(d, treatment="treat", covariates=COV, discard="outside"),
     r"discard must be 'none', 'both', 'treated' or 'control'"),
    ("CEM cut points for a column that is not a covariate",
     lambda d: M.cem(d, treatment="treat", covariates=["x2", "age"], cutpoints={"agee": [30, 40]}),
     r"cutpoints name column\(s\) \['agee'\].*\['x2', 'age'\]"),
    ("CEM binning rule MatchIt has but this package does not",
     lambda d: M.cem(d, treatment="treat", covariates=["x2", "age"], cutpoints={"age": "fd"}),
     r"cutpoints\['age'\] = 'fd': use 'sturges', a number of bins"),
    ("CEM number of bins not an integer",
     lambda d: M.cem(d, treatment="treat", covariates=["x2", "age"], cutpoints={"age": 2.5}),
     r"cutpoints\['age'\] = 2.5: a number of bins must be a positive integer"),
    ("CEM with a formula",
     lambda d: M.cem(d, treatment="treat", covariates="x1 + x2"),
     r"cem takes a list of columns"),
    ("treatment not 0/1",
     lambda d: M.nearest_neighbor(d.assign(treat=d.treat * 2), treatment="treat", covariates=COV),
     r"treatment column 'treat' must be 0/1 or boolean"),
    ("collinear covariates in the propensity model",
     lambda d: M.propensity_score(d.assign(x3=2 * d.x1), treatment="treat", covariates=["x1", "x2", "x3"]),
     r"rank deficient \(rank 3 < 4 columns.*drop constant or collinear"),
]


@pytest.mark.parametrize("label,call,pattern", MATCHING, ids=[c[0] for c in MATCHING])
def test_matching_call(label, call, pattern):
    d = _obs()
    with pytest.raises(ValueError, match=pattern):
        _same(d, lambda: call(d))


def test_matching_estimand_from_a_file_leaves_it_unchanged(tmp_path):
    f = tmp_path / "persons.csv"
    _obs().to_csv(f, index=False)
    with unchanged(tmp_path):
        d = pd.read_csv(f)
        with pytest.raises(ValueError, match="ATT or the ATC"):
            M.nearest_neighbor(d, treatment="treat", covariates=COV, estimand="ate")


def test_matchit_bug_emulation_is_a_visible_warning():
    d = _obs()
    with pytest.warns(UserWarning, match="emulates a bug of MatchIt 4.5.1-4.5.3 .*issue #163"):
        _same(d, lambda: M.nearest_neighbor(d, treatment="treat", covariates=COV,
                                            rule="matchit_4_5_1_bug"))


# -- trials: clusters ---------------------------------------------------------------------
TRIAL = [
    ("a single cluster",
     lambda d: rct.itt(d.assign(office="A"), outcome="y", treatment="z", clusters="office"),
     r"clusters column 'office' has 1 distinct value.*at least two clusters"),
    ("difference in means with clusters that are not the unit of randomisation",
     lambda d: rct.difference_in_means(d, outcome="y", treatment="z", clusters="office"),
     r"treatment varies within 8 cluster\(s\).*use itt\(\.\.\., clusters='office'\)"),
    ("cluster column missing",
     lambda d: rct.itt(d, outcome="y", treatment="z", clusters="ofice"),
     r"ofice"),
    ("cluster-robust type without clusters",
     lambda d: rct.itt(d, outcome="y", treatment="z", se_type="CR2"),
     r"se_type 'CR2' needs clusters="),
    ("heteroskedasticity-robust type with clusters",
     lambda d: rct.itt(d, outcome="y", treatment="z", clusters="office", se_type="HC1"),
     r"se_type 'HC1' ignores clusters; use CR0, CR1 or CR2"),
    ("unknown variance type",
     lambda d: rct.itt(d, outcome="y", treatment="z", clusters="office", se_type="CR3"),
     r"se_type 'CR3' is not supported"),
]


@pytest.mark.parametrize("label,call,pattern", TRIAL, ids=[c[0] for c in TRIAL])
def test_trial_call(label, call, pattern):
    d = _trial()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rct.ClusteringNote)
        with pytest.raises(ValueError, match=pattern):
            _same(d, lambda: call(d))


def test_clusters_within_which_the_arm_varies_get_a_note(tmp_path):
    f = tmp_path / "trial.csv"
    _trial().to_csv(f, index=False)
    with unchanged(tmp_path):
        d = pd.read_csv(f)
        with pytest.warns(rct.ClusteringNote, match="'office' are not the unit of randomisation: "
                                                     "treatment varies within 8 of 8 clusters"):
            r = rct.itt(d, outcome="y", treatment="z", clusters="office")
    assert r.extra["se_type"] == "CR2" and r.extra["n_clusters"] == 8
