"""Tests for evaluation.matching: MatchIt/estimatr replication, hand computations, recovery, bad input."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation import matching as M
from evaluation.matching._nn import nn_match_1d
from evaluation.matching._wls import wls
from evaluation.rct._linalg import ols

DATA = Path(__file__).parent / "data"
LALONDE_F = ("treat ~ age + I(age**2) + educ + I(educ**2) + black + hisp + marr + nodegree"
             " + re74 + re75 + u74 + u75")


@pytest.fixture(scope="module")
def lalonde():
    nsw = pd.read_csv(DATA / "nsw.csv")
    cps = pd.read_csv(DATA / "cps.csv")
    d = pd.concat([nsw[nsw.treat == 1], cps], ignore_index=True)   # 185 NSW treated, then CPS
    d["u74"] = (d.re74 == 0).astype(int)
    d["u75"] = (d.re75 == 0).astype(int)
    return d


@pytest.fixture(scope="module")
def lalonde_match(lalonde):
    return M.nearest_neighbor(lalonde, treatment="treat", covariates=LALONDE_F)


# ------------------------------------------------------------------------------------------
# 1. Reference replication: LaLonde NSW treated vs CPS controls
# ------------------------------------------------------------------------------------------
REF = json.loads((DATA / "lalonde_matching_reference.json").read_text())


def test_lalonde_matchit_estimatr_replication(lalonde_match):
    # Source and MatchIt version: tests/data/lalonde_matching_reference.json -- MatchIt >= 4.5.4
    #   (the integer-abs bug of 4.5.1-4.5.3, MatchIt issue #163, fixed by commit 4b5b2f8 "abs ->
    #   std::abs" in src/nn_matchC_vec.cpp), matchit(..., method = "nearest", ratio = 1,
    #   replace = FALSE) with m.order = "largest"; estimatr lm_robust(re78 ~ treat, weights =
    #   weights, clusters = subclass) (CR2).  Six decimals given: rel 1e-6.
    ref = REF["nn_1to1_without_replacement"]
    e = lalonde_match.effect("re78")
    assert e.estimate == pytest.approx(ref["att"], rel=1e-6)
    assert e.se == pytest.approx(ref["se"], rel=1e-6)
    assert e.n == ref["n"] and e.extra["n_clusters"] == ref["n_clusters"]
    assert lalonde_match.options["order"] == "largest" and lalonde_match.options["rule"] == "nearest"
    b = lalonde_match.balance()
    # summary(m)$sum.matched[, "Std. Mean Diff."], six decimals: half a unit in the last place
    assert b.loc["re75", "smd_after"] == pytest.approx(ref["smd_after"]["re75"], abs=5e-7)
    assert b.loc["age", "smd_after"] == pytest.approx(ref["smd_after"]["age"], abs=5e-7)
    # more digits from this implementation, kept to catch regressions
    assert b.loc["re75", "smd_after"] == pytest.approx(-0.11295640124555716, rel=1e-9)
    assert b.loc["age", "smd_after"] == pytest.approx(-0.06497045598507585, rel=1e-9)
    # balance table has the before columns and flags
    assert {"smd_before", "var_ratio_after", "ecdf_max_after", "smd_flag", "var_ratio_flag"} <= set(b.columns)
    assert b.loc["re75", "smd_flag"] == "> 0.1"
    # experimental benchmark for the same men (Dehejia–Wahba): 1794.34 lies inside the range
    lo, hi = e.ci()
    assert lo < 1794.34 < hi


def test_lalonde_with_replacement_caliper(lalonde):
    # matchit(..., replace = TRUE, caliper = 0.1) (0.1 SD of the score), lm_robust with weights
    # (HC2; no subclass with replacement).  Source: the reference file, rel 1e-6.
    ref = REF["nn_1to1_with_replacement_caliper_0.1"]
    m = M.nearest_neighbor(lalonde, treatment="treat", covariates=LALONDE_F, replace=True,
                           caliper=0.1)
    e = m.effect("re78")
    assert e.estimate == pytest.approx(ref["att"], rel=1e-6)
    assert e.se == pytest.approx(ref["se"], rel=1e-6)
    assert m.n_treated == ref["n_treated_matched"] and e.extra["se_type"] == "HC2"
    assert m.extra["unmatched_treated"] == ref["n_treated"] - ref["n_treated_matched"]


def test_matchit_4_5_1_bug_emulation_reproduces_the_old_reference(lalonde):
    # Debian's MatchIt 4.5.1 (with the bug) gave the round-1 numbers; the emulation is named as a
    # bug, warns, and is never the default.
    ref = REF["matchit_4_5_1_bug"]
    with pytest.warns(UserWarning, match="emulates a bug of MatchIt 4.5.1"):
        m = M.nearest_neighbor(lalonde, treatment="treat", covariates=LALONDE_F,
                               rule="matchit_4_5_1_bug")
    e = m.effect("re78")
    assert e.estimate == pytest.approx(ref["att"], rel=1e-6)
    assert e.se == pytest.approx(ref["se"], rel=1e-6)
    assert m.balance().loc["re75", "smd_after"] == pytest.approx(ref["smd_after"]["re75"], abs=5e-7)
    # the bug also switches calipers off: 0.1 SD keeps all 185 participants
    with pytest.warns(UserWarning):
        mc = M.nearest_neighbor(lalonde, treatment="treat", covariates=LALONDE_F,
                                rule="matchit_4_5_1_bug", replace=True, caliper=0.1)
    assert mc.n_treated == 185


def test_lalonde_flow_and_sizes(lalonde_match):
    f = lalonde_match.flow
    assert list(f.columns) == M.FLOW_COLUMNS
    assert f.iloc[0][["treated", "control"]].tolist() == [185, 15992]
    assert f.iloc[-1][["treated", "control"]].tolist() == [185, 185]
    ss = lalonde_match.sample_sizes().set_index("group")
    assert ss.loc["control", "matched"] == 185 and ss.loc["control", "unmatched"] == 15807
    md = lalonde_match.matched_data()
    assert len(md) == 370 and md.groupby("subclass").size().eq(2).all()


def test_propensity_matches_statsmodels(lalonde, lalonde_match):
    import statsmodels.api as sm
    import patsy
    ps = lalonde_match.ps
    y, X = patsy.dmatrices(LALONDE_F, lalonde, return_type="dataframe")
    r = sm.Logit(y, X).fit(method="newton", tol=1e-10, maxiter=50, disp=0)
    np.testing.assert_allclose(ps.score, r.predict(X), rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(ps.linear_predictor, X.to_numpy() @ ps.coef.to_numpy())
    assert ps.converged and ps.tidy().shape[0] == 13


# ------------------------------------------------------------------------------------------
# 2. estimatr lm_robust variances
# ------------------------------------------------------------------------------------------
def _direct_cr2(X, y, cl):
    B = np.linalg.inv(X.T @ X)
    b = B @ X.T @ y
    e = y - X @ b
    meat = np.zeros_like(B)
    for g in np.unique(cl):
        i = cl == g
        H = X[i] @ B @ X[i].T
        vals, vecs = np.linalg.eigh(np.eye(i.sum()) - H)
        A = vecs @ np.diag(1 / np.sqrt(vals)) @ vecs.T
        u = X[i].T @ A @ e[i]
        meat += np.outer(u, u)
    return b, B @ meat @ B


def test_cr2_unweighted_and_df():
    rng = np.random.default_rng(1)
    n = 120
    cl = rng.integers(0, 17, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = X @ [1, 0.5, 2] + rng.normal(size=n) * (1 + cl % 3)
    fit = wls(X, y, clusters=cl)
    b, V = _direct_cr2(X, y, cl)
    np.testing.assert_allclose(fit.coef, b, rtol=1e-10)
    np.testing.assert_allclose(fit.vcov, V, rtol=1e-8)
    assert fit.se_type == "CR2" and np.all(fit.df > 1)


def test_wls_is_shared_weighted_ols_on_positive_weights():
    """wls drops zero-weight rows, recodes cluster labels and otherwise is evaluation.rct's weighted
    OLS (whose weighted CR2 / Bell-McCaffrey df are checked against N x N formulas in test_rct)."""
    rng = np.random.default_rng(2)
    n = 90
    cl = rng.choice(np.array(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]), n)
    w = rng.uniform(0.2, 3, n)
    w[:7] = 0
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [1, -1] + rng.normal(size=n)
    f1 = wls(X, y, weights=w, clusters=cl)
    f2 = wls(X, y, weights=5 * w, clusters=cl)
    np.testing.assert_allclose(f1.vcov, f2.vcov, rtol=1e-9)
    np.testing.assert_allclose(f1.df, f2.df, rtol=1e-9)
    k = w > 0
    ref = ols(X[k], y[k], weights=w[k], clusters=pd.factorize(cl[k])[0], se_type="CR2")
    np.testing.assert_allclose(f1.coef, ref.beta, rtol=1e-12)
    np.testing.assert_allclose(f1.vcov, ref.vcov, rtol=1e-10)
    np.testing.assert_allclose(f1.df, ref.df, rtol=1e-10)
    assert f1.n == k.sum() and f1.n_clusters == len(set(cl[k]))
    assert wls(X, y, weights=w, clusters=cl, se_type="stata").se_type == "stata"


def test_hc_types_against_statsmodels():
    import statsmodels.api as sm
    rng = np.random.default_rng(3)
    n = 80
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    w = rng.uniform(0.5, 2, n)
    y = X @ [2, 1] + rng.normal(size=n) * (1 + np.abs(X[:, 1]))
    for t in ("HC0", "HC1", "HC2", "HC3"):
        ref = sm.WLS(y, X, weights=w).fit(cov_type=t)
        fit = wls(X, y, weights=w, se_type=t)
        np.testing.assert_allclose(fit.se, ref.bse, rtol=1e-8)


# ------------------------------------------------------------------------------------------
# 3. The matching algorithm
# ------------------------------------------------------------------------------------------
def _brute_greedy(d, t, order, ratio, caliper=None, replace=False):
    """Reference: truly nearest available control, left (lower score) on ties, rounds of ratio."""
    ind1, ctrl = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
    avail = np.ones(ctrl.size, bool)
    out = np.full((ind1.size, ratio), -1)
    for r in range(ratio):
        for i in order:
            dd = np.abs(d[ctrl] - d[ind1[i]])
            dd[~avail] = np.inf
            dd[np.isin(ctrl, out[i, :r])] = np.inf
            if caliper is not None:
                dd[dd > caliper] = np.inf
            if np.isinf(dd).all():
                continue
            best = dd.min()
            cand = np.flatnonzero(dd == best)
            j = cand[np.argmin(d[ctrl[cand]])] if cand.size > 1 else cand[0]
            out[i, r] = ctrl[j]
            avail[j] = replace
    return out


@pytest.mark.parametrize("ratio,caliper,replace", [(1, None, False), (2, None, False), (1, 0.02, False),
                                                   (3, 0.05, False), (3, None, True), (2, 0.02, True)])
def test_nearest_rule_equals_brute_force(ratio, caliper, replace):
    rng = np.random.default_rng(10 + ratio)
    n1, n0 = 60, 400
    d = np.r_[rng.beta(3, 2, n1), rng.beta(2, 3, n0)]
    t = np.r_[np.ones(n1, int), np.zeros(n0, int)]
    order = np.argsort(-d[:n1], kind="stable")
    mm = nn_match_1d(d, t, order, ratio, np.zeros(d.size, bool), d.size if replace else 1, caliper)
    np.testing.assert_array_equal(mm, _brute_greedy(d, t, order, ratio, caliper, replace))


def test_bug_rule_takes_lower_neighbour_and_default_takes_nearest():
    # treated at 0.50; available controls at 0.30 (below) and 0.52 (above): MatchIt 4.5.1's
    # integer-abs bug takes 0.30, the default (MatchIt >= 4.5.4) 0.52
    d = np.array([0.5, 0.3, 0.52])
    t = np.array([1, 0, 0])
    z = np.zeros(3, bool)
    assert nn_match_1d(d, t, np.array([0]), 1, z, 1, None, rule="matchit_4_5_1_bug")[0, 0] == 1
    assert nn_match_1d(d, t, np.array([0]), 1, z, 1, None)[0, 0] == 2
    # an exact tie goes to the lower neighbour (MatchIt's find_control_vec looks left first)
    d3 = np.array([0.5, 0.4, 0.6])
    assert nn_match_1d(d3, t, np.array([0]), 1, z, 1, None)[0, 0] == 1
    # no lower neighbour: the upper one
    d2 = np.array([0.1, 0.3, 0.52])
    assert nn_match_1d(d2, t, np.array([0]), 1, z, 1, None, rule="matchit_4_5_1_bug")[0, 0] == 1
    # the bug ignores calipers; the default respects them
    assert nn_match_1d(d, t, np.array([0]), 1, z, 1, 0.01, rule="matchit_4_5_1_bug")[0, 0] == 1
    assert nn_match_1d(d, t, np.array([0]), 1, z, 1, 0.01)[0, 0] == -1
    with pytest.raises(ValueError, match="rule must be one of"):
        nn_match_1d(d, t, np.array([0]), 1, z, 1, None, rule="matchit")


def test_ratio_two_without_replacement_rounds():
    # 3 treated, 4 controls, ratio 2: every treated gets a first match before any gets a second
    d = np.array([0.90, 0.80, 0.70, 0.89, 0.79, 0.69, 0.10])
    t = np.array([1, 1, 1, 0, 0, 0, 0])
    mm = nn_match_1d(d, t, np.array([0, 1, 2]), 2, np.zeros(7, bool), 1, None)
    np.testing.assert_array_equal(mm[:, 0], [3, 4, 5])
    np.testing.assert_array_equal(mm[:, 1], [6, -1, -1])


def test_ratio_two_weights_and_subclasses(lalonde):
    m = M.nearest_neighbor(lalonde, treatment="treat", covariates=LALONDE_F, ratio=2)
    md = m.matched_data()
    assert (md.treat == 0).sum() == 370 and (md.treat == 1).sum() == 185
    assert md.groupby("subclass").size().eq(3).all()
    np.testing.assert_allclose(md.loc[md.treat == 0, "weights"], 1.0)
    e = m.effect("re78")
    assert np.isfinite(e.se) and e.extra["n_clusters"] == 185


def test_with_replacement_weights():
    d = np.array([0.5, 0.51, 0.52, 0.505, 0.2])
    df = pd.DataFrame({"x": [0.0] * 5})
    t = np.array([1, 1, 1, 0, 0])
    mm = nn_match_1d(d, t, np.arange(3), 1, np.zeros(5, bool), 5, None)
    np.testing.assert_array_equal(mm[:, 0], [3, 3, 3])
    from evaluation.matching._core import _weights_from_mm
    w, sub = _weights_from_mm(mm, np.arange(3), 5, True)
    np.testing.assert_allclose(w, [1, 1, 1, 1, 0])     # one control used 3 times, rescaled to 1
    assert sub is None


def _sim(n=3000, seed=0, tau=1.0, n_office=3):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, n)
    office = rng.choice([f"O{k}" for k in range(n_office)], n)
    lin = -2.2 + 1.0 * x1 + 0.8 * x2 + 0.3 * (office == "O0")
    t = rng.binomial(1, 1 / (1 + np.exp(-lin)))
    y = 1 + 2 * x1 + 1.5 * x2 + tau * t + rng.normal(size=n)
    return pd.DataFrame({"treat": t, "x1": x1, "x2": x2, "office": office, "y": y})


def test_caliper_drops_expected_treated_and_records_them():
    df = _sim(1500, seed=4)
    # add participants far outside the comparison pool's score range
    extra = pd.DataFrame({"treat": 1, "x1": [4.5, 4.8, 5.2], "x2": 1, "office": "O1", "y": 0.0})
    df = pd.concat([df, extra], ignore_index=True)
    m = M.nearest_neighbor(df, treatment="treat", covariates=["x1", "x2"], caliper=0.1)
    ps = m.ps.score
    t = df.treat.to_numpy()
    cal = 0.1 * np.std(ps, ddof=1)
    assert m.extra["caliper_distance_units"] == pytest.approx(cal)
    order = np.argsort(-ps[t == 1], kind="stable")
    ref = _brute_greedy(ps, t, order, 1, cal)
    expected_unmatched = int((ref[:, 0] < 0).sum())
    assert expected_unmatched >= 3
    mm = m.extra["match_matrix"]
    np.testing.assert_array_equal(mm, ref)
    row = m.flow.set_index("step").loc["no comparison unit within caliper/exact strata"]
    assert row["excluded_treated"] == expected_unmatched
    assert m.flow.iloc[-1]["treated"] == int(t.sum()) - expected_unmatched
    # the far-out participants are among the dropped
    assert (m.weights[-3:] == 0).all()
    # every kept pair is inside the caliper
    rows, _ = np.nonzero(mm >= 0)
    assert np.all(np.abs(ps[np.flatnonzero(t == 1)[rows]] - ps[mm[mm >= 0]]) <= cal)


def test_exact_never_pairs_across_keys():
    df = _sim(2000, seed=5)
    m = M.nearest_neighbor(df, treatment="treat", covariates="x1 + x2", exact=["office"])
    md = m.matched_data()
    assert md.groupby("subclass")["office"].nunique().eq(1).all()
    assert md.treat.sum() == df.treat.sum()


def test_mahalanobis_matching_runs_and_balances():
    df = _sim(1500, seed=6)
    m = M.nearest_neighbor(df, treatment="treat", covariates=["x1", "x2"], distance="mahalanobis",
                           order="data")
    b = m.balance()
    assert abs(b.loc["x1", "smd_after"]) < abs(b.loc["x1", "smd_before"])
    assert m.matched_data().groupby("subclass").size().eq(2).all()


def test_default_order_follows_matchit_per_distance():
    # MatchIt matchit2nearest.R: m.order = NULL -> "largest" for a propensity score ("smallest"
    # for the ATC), "data" when the distance is not a propensity score (Mahalanobis alone);
    # Mahalanobis within a PS caliper is MatchIt's mahvars with distance = "glm" -> "largest".
    df = _sim(800, seed=6)
    cov = ["x1", "x2"]
    assert M.nearest_neighbor(df, treatment="treat", covariates=cov).options["order"] == "largest"
    with pytest.warns(RuntimeWarning, match="fewer participants than needed .* not all "
                                            "comparison units will get 1 match"):
        assert M.nearest_neighbor(df, treatment="treat", covariates=cov, caliper=0.1,
                                  estimand="ATC").options["order"] == "smallest"
    # with replacement the order is moot and MatchIt sets it to "data"
    assert M.nearest_neighbor(df, treatment="treat", covariates=cov, replace=True,
                              estimand="ATC").options["order"] == "data"
    mh = M.nearest_neighbor(df, treatment="treat", covariates=cov, distance="mahalanobis")
    assert mh.options["order"] == "data"
    np.testing.assert_array_equal(
        mh.extra["match_matrix"],
        M.nearest_neighbor(df, treatment="treat", covariates=cov, distance="mahalanobis",
                           order="data").extra["match_matrix"])
    assert M.nearest_neighbor(df, treatment="treat", covariates=cov, distance="mahalanobis",
                              caliper=0.5).options["order"] == "largest"
    with pytest.raises(ValueError, match="Mahalanobis matching without a caliper"):
        M.nearest_neighbor(df, treatment="treat", covariates=cov, distance="mahalanobis",
                           order="largest")


def test_mahalanobis_data_order_by_hand():
    # one control (x = 0.9) is nearest to both participants (x = 1.0 first in the data, then
    # 0.85); in data order the first participant takes it and the second gets x = 0.7
    df = pd.DataFrame({"treat": [1, 1, 0, 0, 0, 0], "x": [1.0, 0.85, 0.9, 0.7, -1.0, 2.0],
                       "z": [0.0, 0.1, 0.05, 0.1, 0.0, 0.1]})
    m = M.nearest_neighbor(df, treatment="treat", covariates=["x"], distance="mahalanobis")
    np.testing.assert_array_equal(m.extra["match_matrix"][:, 0], [2, 3])


def test_atc_equals_att_with_treatment_flipped():
    # MatchIt: estimand = "ATC" is matching with the treatment labels swapped (order "smallest"
    # on the same score = "largest" on the flipped score); the effect changes sign.
    df = _sim(1200, seed=21)
    df = pd.concat([df[df.treat == 0].head(150), df[df.treat == 1]], ignore_index=True)
    assert (df.treat == 1).sum() > 150
    flip = df.assign(treat=1 - df.treat)
    for kw in ({}, {"caliper": 0.2}, {"ratio": 2, "replace": True}):
        atc = M.nearest_neighbor(df, treatment="treat", covariates=["x1", "x2"], estimand="ATC", **kw)
        att = M.nearest_neighbor(flip, treatment="treat", covariates=["x1", "x2"], **kw)
        np.testing.assert_array_equal(atc.extra["match_matrix"], att.extra["match_matrix"])
        np.testing.assert_allclose(atc.weights, att.weights, rtol=1e-12)
        ra, rt = atc.effect("y"), att.effect("y")
        assert ra.estimate == pytest.approx(-rt.estimate, rel=1e-9)
        assert ra.se == pytest.approx(rt.se, rel=1e-9)
        assert atc.estimand == "ATC" and "ATC" in ra.term
        # comparison units carry weight 1, matched participants the matching weights
        assert np.all(atc.weights[(atc.treat == 0) & (atc.weights > 0)] == 1.0)
        w1 = atc.weights[(atc.treat == 1) & (atc.weights > 0)]
        assert w1.sum() == pytest.approx(w1.size)
    # balance uses the comparison group's SD for the ATC (MatchIt summary)
    b = atc.balance()
    x = df.x1.to_numpy()
    assert b.loc["x1", "smd_before"] == pytest.approx(
        (x[df.treat == 1].mean() - x[df.treat == 0].mean()) / x[df.treat == 0].std(ddof=1))


def test_large_matching_problem_runs():
    # 2,000 participants x 100,000 comparison units (no timing assertion; see benchmarks/)
    rng = np.random.default_rng(7)
    d = np.r_[rng.beta(3, 4, 2000), rng.beta(2, 6, 100_000)]
    t = np.r_[np.ones(2000, int), np.zeros(100_000, int)]
    mm = nn_match_1d(d, t, np.argsort(-d[:2000], kind="stable"), 1, np.zeros(d.size, bool), 1, None)
    assert (mm >= 0).all() and np.unique(mm).size == 2000


# ------------------------------------------------------------------------------------------
# 4. Weighting, entropy balancing, CEM
# ------------------------------------------------------------------------------------------
def _ps_hand(df):
    import statsmodels.api as sm
    X = sm.add_constant(df[["x1", "x2"]].to_numpy())
    return sm.Logit(df.treat.to_numpy(), X).fit(disp=0, tol=1e-12, method="newton").predict(X)


def test_ipw_att_and_ate_against_hand_computation():
    df = _sim(2500, seed=8)
    e = _ps_hand(df)
    t, y = df.treat.to_numpy(), df.y.to_numpy()
    w0 = e / (1 - e)
    att_hand = y[t == 1].mean() - np.sum(w0[t == 0] * y[t == 0]) / w0[t == 0].sum()
    r = M.ipw(df, treatment="treat", covariates=["x1", "x2"]).effect("y")
    assert r.estimate == pytest.approx(att_hand, rel=1e-6)
    ate_hand = (np.sum(y[t == 1] / e[t == 1]) / np.sum(1 / e[t == 1])
                - np.sum(y[t == 0] / (1 - e[t == 0])) / np.sum(1 / (1 - e[t == 0])))
    s = M.ipw(df, treatment="treat", covariates=["x1", "x2"], estimand="ATE")
    assert s.effect("y").estimate == pytest.approx(ate_hand, rel=1e-6)
    assert s.effect("y").extra["se_type"] == "HC2"


def test_ipw_trimming_in_flow():
    df = _sim(2500, seed=9)
    s = M.ipw(df, treatment="treat", covariates=["x1", "x2"], trim=0.05)
    e = _ps_hand(df)
    out = (e < 0.05) | (e > 0.95)
    row = s.flow.iloc[1]
    assert row["excluded_treated"] + row["excluded_control"] == out.sum()
    assert (s.weights[out] == 0).all()


def test_entropy_balancing_exact_means():
    df = _sim(2500, seed=10)
    s = M.entropy_balance(df, treatment="treat", covariates=["x1", "x2", "office"])
    t, w = s.treat, s.weights
    X = s.design.balance
    for c in X.columns:
        x = X[c].to_numpy()
        assert np.average(x[t == 0], weights=w[t == 0]) == pytest.approx(x[t == 1].mean(), abs=1e-7)
    assert np.all(w[t == 1] == 1) and np.all(w[t == 0] > 0)
    s2 = M.entropy_balance(df, treatment="treat", covariates=["x1", "x2"], moments=2)
    x = df.x1.to_numpy()
    assert np.average(x[t == 0] ** 2, weights=s2.weights[t == 0]) == pytest.approx(np.mean(x[t == 1] ** 2), abs=1e-6)


def test_cem_hand_case():
    df = pd.DataFrame({
        "treat": [1, 1, 0, 0, 0, 1, 0, 1, 0],
        "age":   [21, 24, 22, 29, 23, 35, 36, 50, 31],
        "sex":   ["F", "F", "F", "F", "M", "M", "M", "F", "M"],
        "y":     [5., 7., 4., 3., 2., 9., 6., 1., 8.],
    })
    # bins (20,25], (25,30], (30,40], (40,60] via explicit cut points
    s = M.cem(df, treatment="treat", covariates=["age", "sex"], cutpoints={"age": [20, 25, 30, 40, 60]})
    # strata: (<=25, F): T{0,1} C{2}; (<=30, F): C{3}; (<=25, M): C{4}; (30-40, M): T{5} C{6,8};
    # (40-60, F): T{7}  -> matched: {0,1,2} and {5,6,8}; unmatched treated 7, controls 3 and 4
    w = s.weights
    np.testing.assert_array_equal(w > 0, [1, 1, 1, 0, 0, 1, 1, 0, 1])
    # control weights n1/n0 = 2 and 1/2, rescaled to sum to 3 matched controls: 2,0.5,0.5 * 3/3
    np.testing.assert_allclose(w[[2, 6, 8]], [2.0, 0.5, 0.5])
    assert s.flow.iloc[1]["excluded_treated"] == 1 and s.flow.iloc[1]["excluded_control"] == 2
    est = s.effect("y", se_type="HC2").estimate
    hand = np.mean([5, 7, 9]) - (2 * 4 + 0.5 * 6 + 0.5 * 8) / 3
    assert est == pytest.approx(hand)


def test_cem_values_on_cut_points_go_to_the_upper_bin():
    # MatchIt cem_matchit: findInterval(x, c(-Inf, cuts, Inf)), bins [a, b)
    df = pd.DataFrame({"treat": [1, 0, 1, 0, 1, 0, 0],
                       "age": [25.0, 24.9, 30.0, 30.0, 29.0, 25.0, 35.0],
                       "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    s = M.cem(df, treatment="treat", covariates=["age"], cutpoints={"age": [20, 25, 30]})
    # bins: [25, 30): 25 (T), 29 (T), 25 (C); [30, inf): 30 (T), 30 (C), 35 (C); [20, 25): 24.9 (C)
    sub = s.subclass
    assert sub[0] == sub[4] == sub[5] and sub[2] == sub[3] == sub[6] and sub[0] != sub[2]
    assert s.weights[1] == 0                                  # 24.9 is alone below the cut at 25
    # equal-width bins: cut points min + k * (max - min) / bins; a value on one goes up
    e = pd.DataFrame({"treat": [1, 0, 1, 0], "x": [0.0, 5.0, 10.0, 4.999]})
    s2 = M.cem(e, treatment="treat", covariates=["x"], cutpoints={"x": 2})   # cut at 5
    np.testing.assert_array_equal(s2.subclass[[1, 2]], [s2.subclass[2]] * 2)
    assert s2.subclass[0] == s2.subclass[3]
    with pytest.raises(ValueError, match="not among the covariates"):
        M.cem(e, treatment="treat", covariates=["x"], cutpoints={"age": 2})


@pytest.fixture(scope="module")
def matchit451():
    return json.loads((DATA / "lalonde_matchit_4_5_1_reference.json").read_text())


CEM_COV = ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"]


@pytest.mark.parametrize("estimand", ["ATT", "ATC", "ATE"])
@pytest.mark.parametrize("kind", ["cutpoints", "sturges"])
def test_cem_against_matchit(lalonde, matchit451, kind, estimand):
    # Source: tests/data/lalonde_matchit_4_5_1_reference.json (R MatchIt 4.5.1, method = "cem";
    # the cut points put many ages and years of education exactly on a cut); rel 1e-9.
    ref = matchit451["cem"][kind][estimand]
    cuts = ({"age": [20, 25, 30, 35, 40], "educ": [9, 12], "re74": 3, "re75": 4}
            if kind == "cutpoints" else None)
    s = M.cem(lalonde, treatment="treat", covariates=CEM_COV, cutpoints=cuts, estimand=estimand)
    t, w = s.treat, s.weights
    assert s.effect("re78").estimate == pytest.approx(ref["estimate"], rel=1e-9)
    assert ((t == 1) & (w > 0)).sum() == ref["n_treated"] and ((t == 0) & (w > 0)).sum() == ref["n_control"]
    assert (w[t == 1] ** 2).sum() == pytest.approx(ref["sum_w2_treated"], rel=1e-9)
    assert (w[t == 0] ** 2).sum() == pytest.approx(ref["sum_w2_control"], rel=1e-9)
    assert s.extra["n_strata"] == ref["n_subclasses"]


def test_mahalanobis_and_atc_against_matchit(lalonde, matchit451):
    # distance = "mahalanobis" in data order: the same 185 pairs as MatchIt 4.5.1 (nn_matchC)
    ref = matchit451["mahalanobis_data_order"]
    m = M.nearest_neighbor(lalonde, treatment="treat", covariates=["age", "educ", "re74", "re75"],
                           distance="mahalanobis")
    np.testing.assert_array_equal(m.extra["match_matrix"][:, 0] + 1, ref["match_matrix_rows_1based"])
    assert m.effect("re78").estimate == pytest.approx(ref["estimate"], rel=1e-9)
    # ATC with replacement: every comparison man gets the nearest participant.  MatchIt 4.5.1 has
    # the integer-abs bug, so it is compared with the emulation; this checks the ATC machinery
    # (labels swapped, weights on the participants normalised to their matched count).
    ref = matchit451["nn_atc_replace"]
    with pytest.warns(UserWarning, match="emulates a bug"):
        a = M.nearest_neighbor(lalonde, treatment="treat", covariates=LALONDE_F, estimand="ATC",
                               replace=True, rule="matchit_4_5_1_bug")
    t, w = a.treat, a.weights
    assert a.effect("re78").estimate == pytest.approx(ref["estimate"], rel=1e-9)
    assert ((t == 1) & (w > 0)).sum() == ref["n_treated"] and ((t == 0) & (w > 0)).sum() == ref["n_control"]
    assert (w[t == 1] ** 2).sum() == pytest.approx(ref["sum_w2_treated"], rel=1e-9)


def test_weighting_atc_equals_att_with_treatment_flipped():
    df = _sim(2000, seed=22)
    flip = df.assign(treat=1 - df.treat)
    cov = ["x1", "x2"]
    for fn in (M.ipw, M.entropy_balance):
        atc = fn(df, treatment="treat", covariates=cov, estimand="ATC")
        att = fn(flip, treatment="treat", covariates=cov, estimand="ATT")
        np.testing.assert_allclose(atc.weights, att.weights, rtol=1e-6)
        ra, rt = atc.effect("y"), att.effect("y")
        assert ra.estimate == pytest.approx(-rt.estimate, rel=1e-6)
        assert ra.se == pytest.approx(rt.se, rel=1e-6)
        assert np.all(atc.weights[df.treat == 0] == 1.0)
    e = _ps_hand(df)
    w = M.ipw(df, treatment="treat", covariates=cov, estimand="ATC").weights
    np.testing.assert_allclose(w[df.treat == 1], ((1 - e) / e)[df.treat == 1], rtol=1e-6)
    # CEM: ATC = ATT with labels swapped
    df["x1c"] = np.round(df.x1, 0)
    flip["x1c"] = df["x1c"]
    a = M.cem(df, treatment="treat", covariates=["x1c", "x2"], estimand="ATC")
    b = M.cem(flip, treatment="treat", covariates=["x1c", "x2"], estimand="ATT")
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)
    assert a.effect("y").estimate == pytest.approx(-b.effect("y").estimate, rel=1e-9)


def test_unsupported_estimands_are_refused():
    df = _sim(300, seed=23)
    with pytest.raises(ValueError, match="ATT or the ATC.*ipw, entropy_balance or cem"):
        M.nearest_neighbor(df, treatment="treat", covariates=["x1"], estimand="ATE")
    for fn in (M.ipw, M.entropy_balance, M.cem):
        with pytest.raises(ValueError, match="'ATT', 'ATC' or 'ATE'"):
            fn(df, treatment="treat", covariates=["x1"], estimand="ATO")


def test_propensity_logit_equals_r_glm(lalonde, matchit451):
    # R 4.2.2 glm(..., family = binomial) coefficients (17 digits, reference file); rel 1e-8
    ref = matchit451["glm"]
    ps = M.propensity_score(lalonde, treatment="treat", covariates=LALONDE_F)
    coef = ps.coef.to_numpy()
    np.testing.assert_allclose(coef, list(ref["coef"].values()), rtol=1e-8, atol=0)
    assert ps.deviance == pytest.approx(ref["deviance"], rel=1e-10)
    assert ps.iterations == ref["iterations"]
    # model-based SEs as summary.glm (inverse Fisher information; R's comes from the QR of the
    # last iteration's weights, ours from the final fit's: they agree far below the tolerance)
    np.testing.assert_allclose(ps.se.to_numpy(), list(ref["se"].values()), rtol=1e-6)
    pr = matchit451["glm_probit"]
    with pytest.warns(RuntimeWarning, match="numerically 0 or 1"):
        pp = M.propensity_score(lalonde, treatment="treat", covariates=LALONDE_F, link="probit")
    np.testing.assert_allclose(pp.coef.to_numpy(), list(pr["coef"].values()), rtol=1e-8, atol=0)
    assert pp.deviance == pytest.approx(pr["deviance"], rel=1e-10)
    assert pp.iterations == pr["iterations"]


def test_glm_normal_equations_fall_back_to_qr_when_ill_conditioned(monkeypatch):
    # the Cholesky path and the QR fall-back (forced by a zero condition limit) give R's iterates
    from evaluation.matching import _glm
    rng = np.random.default_rng(31)
    n = 3000
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, x + 1e-4 * rng.normal(size=n), rng.integers(0, 2, n)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + 0.5 * x + 0.5 * X[:, 3])))).astype(float)
    a = _glm.glm_binary(X, y)
    monkeypatch.setattr(_glm, "_COND_MAX", 0.0)
    b = _glm.glm_binary(X, y)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-8)
    assert a.iterations == b.iterations and a.converged
    # the maximum-likelihood score equations hold at the solution
    score = X.T @ (y - a.fitted)
    assert np.abs(score).max() < 1e-6 * np.sqrt(n)


# ------------------------------------------------------------------------------------------
# 5. Recovery of a known effect (selection on observables)
# ------------------------------------------------------------------------------------------
def test_recovery_simulated_selection_on_observables():
    df = _sim(6000, seed=11, tau=1.0)
    naive = df.loc[df.treat == 1, "y"].mean() - df.loc[df.treat == 0, "y"].mean()
    assert abs(naive - 1.0) > 1.0                            # the naive comparison is badly biased
    cov = ["x1", "x2"]
    ests = {
        "nn": M.nearest_neighbor(df, treatment="treat", covariates=cov, replace=True),
        "nn_cal": M.nearest_neighbor(df, treatment="treat", covariates=cov, caliper=0.2),
        "ipw": M.ipw(df, treatment="treat", covariates=cov),
        "ebal": M.entropy_balance(df, treatment="treat", covariates=cov),
    }
    for name, s in ests.items():
        r = s.effect("y")
        assert abs(r.estimate - 1.0) < 4 * r.se + 0.05, name
    # regression adjustment inside the matched sample (doubly robust) also recovers it
    r_dr = ests["nn_cal"].effect("y", covariates=["x1", "x2"])
    assert abs(r_dr.estimate - 1.0) < 4 * r_dr.se and "covariates" in r_dr.method


@pytest.fixture(scope="module")
def bjerke():
    synthetic = pytest.importorskip("evaluation.synthetic")
    panel_mod = pytest.importorskip("evaluation.panel")
    sd = synthetic.generate("bjerke_effektkontrakt", n_persons=6000, seed=3)
    p = panel_mod.build_panel(sd.extracts)
    return sd, p


BJ_COV = ("age + I(age < 35) + female + C(norwegian_level) + C(education_level) + sa_months_12"
          " + sa_months_24 + emp_months_12 + emp_months_24 + earnings_12")


def test_recovery_on_synthetic_effektkontrakt(bjerke):
    sd, p = bjerke
    per = p.persons()
    per["treated"] = per["treated"].astype(int)
    # outcome: mean employment over the first 24 months (event times 0..23) = truth att_avg_24
    y = M.outcome_at_horizon(p.data, "employed", 24, aggregate="mean")
    per["y24"] = per.person_id.map(y)
    truth = sd.truth_value("att_avg_24", "employed")
    naive = per.loc[per.treated == 1, "y24"].mean() - per.loc[per.treated == 0, "y24"].mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        nn = M.nearest_neighbor(per, treatment="treated", covariates=BJ_COV, exact=["office"],
                                caliper=0.2)
        r_nn = nn.effect("y24")
        r_ipw = M.ipw(per, treatment="treated", covariates=BJ_COV).effect("y24")
    assert abs(naive - truth) > 4 * r_nn.se                    # naive comparison misses
    assert abs(r_nn.estimate - truth) < 3 * r_nn.se
    assert abs(r_ipw.estimate - truth) < 3 * r_ipw.se
    hz = M.effects_at_horizons(nn, p.data, "employed", horizons=(6, 12, 24))
    assert list(hz.table["horizon"]) == [6, 12, 24]
    t12 = sd.truth_value("att", "employed", event_time=12)
    row = hz.table.set_index("horizon").loc[12]
    assert abs(row["estimate"] - t12) < 3.5 * row["se"]
    did = M.matched_did(nn, p.data, "employed")
    assert abs(did.att.estimate - truth) < 3 * did.att.se
    pre = did.table[did.table.event_time < 0]
    assert (np.abs(pre["estimate"]) < 4 * pre["se"] + 1e-9).mean() > 0.8


# ------------------------------------------------------------------------------------------
# 6. Horizons and matched DiD on a hand-made panel
# ------------------------------------------------------------------------------------------
def test_outcome_at_horizon_and_did_by_hand():
    # 2 pairs; outcome path y = base + 1{treated, e >= 0} * 2
    rows = []
    for pid, tr, base in (("a", 1, 1.0), ("b", 0, 0.0), ("c", 1, 3.0), ("d", 0, 2.5)):
        for e in range(-3, 4):
            rows.append({"person_id": pid, "event_time": e, "y": base + (2.0 if tr and e >= 0 else 0.0)})
    panel = pd.DataFrame(rows)
    assert M.outcome_at_horizon(panel, "y", 2).to_dict() == {"a": 3.0, "b": 0.0, "c": 5.0, "d": 2.5}
    assert M.outcome_at_horizon(panel, "y", 3, aggregate="sum")["a"] == 9.0
    assert np.isnan(M.outcome_at_horizon(panel, "y", 5, aggregate="mean")["a"])   # incomplete window
    per = pd.DataFrame({"person_id": list("abcd"), "treat": [1, 0, 1, 0], "x": [0.1, 0.2, 0.9, 1.0]})
    s = M.WeightedSample(data=per, treatment="treat", treat=per.treat.to_numpy(),
                         weights=np.ones(4), design=M._core.build_design(per, ["x"]), method="hand",
                         subclass=np.array([1.0, 1.0, 2.0, 2.0]))
    did = M.matched_did(s, panel, "y", pre=(-3, -1), post=(0, 3))
    np.testing.assert_allclose(did.table.set_index("event_time").loc[[-3, -1], "estimate"], 0, atol=1e-12)
    np.testing.assert_allclose(did.table.set_index("event_time").loc[[0, 3], "estimate"], 2.0)
    assert did.att.estimate == pytest.approx(2.0)
    hz = M.effects_at_horizons(s, panel, "y", horizons=(1, 2), aggregate=None, se_type="HC2")
    np.testing.assert_allclose(hz.table["estimate"], [(3 + 5) / 2 - (0 + 2.5) / 2] * 2)


# ------------------------------------------------------------------------------------------
# 7. Bad input
# ------------------------------------------------------------------------------------------
def test_no_overlap_is_an_error():
    rng = np.random.default_rng(12)
    df = pd.DataFrame({"treat": np.r_[np.ones(50), np.zeros(200)].astype(int),
                       "x": np.r_[rng.uniform(5, 6, 50), rng.uniform(0, 1, 200)]})
    with pytest.raises(M.NoOverlapError, match="no overlap"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            M.nearest_neighbor(df, treatment="treat", covariates=["x"])


def test_perfect_separation_warns_or_errors_with_counts():
    rng = np.random.default_rng(13)
    # a binary covariate that only participants have: quasi-separation, overlap otherwise
    n = 400
    x = rng.normal(size=n)
    t = rng.binomial(1, 0.3, n)
    z = np.where(t == 1, rng.binomial(1, 0.5, n), 0)
    df = pd.DataFrame({"treat": t, "x": x, "z": z})
    with pytest.warns(RuntimeWarning, match=r"\d+ units"):
        M.propensity_score(df, treatment="treat", covariates=["x", "z"])


def test_two_valued_columns_found_from_sums_and_confirmed():
    from evaluation.matching._glm import summarise
    n = 1000
    X = np.column_stack([np.ones(n), np.r_[np.zeros(500), np.ones(499), 1e-7],
                         np.r_[np.full(300, 2.0), np.full(700, 5.0)]])
    y = np.r_[np.ones(300), np.zeros(700)]
    S = summarise(np.asfortranarray(X), y)
    assert not S.two_valued(0, X)                 # constant
    assert not S.two_valued(1, X)                 # a third value next to the minimum
    assert S.two_valued(2, X)
    assert S.level_counts(2) == ((2.0, 300, 300), (5.0, 700, 0))
    df = pd.DataFrame({"treat": y.astype(int), "z": X[:, 2], "x": np.random.default_rng(0).normal(size=n)})
    with pytest.warns(RuntimeWarning) as rec:                 # also: does not converge
        M.propensity_score(df, treatment="treat", covariates=["x", "z"])
    assert any("z = 2: 300 units, all participants; z = 5: 700 units, all comparison units"
               in str(w.message) for w in rec)


def test_too_few_controls_without_replacement_warns():
    df = _sim(300, seed=14)
    df = pd.concat([df[df.treat == 1], df[df.treat == 0].head(20)], ignore_index=True)
    n1 = int(df.treat.sum())
    with pytest.warns(RuntimeWarning, match=f"20 comparison units for {n1} participants"):
        m = M.nearest_neighbor(df, treatment="treat", covariates=["x1", "x2"])
    assert m.n_control == 20 and m.n_treated == 20
    assert m.flow.set_index("step").loc["no comparison unit within caliper/exact strata",
                                        "excluded_treated"] == n1 - 20


def test_missing_covariates_error_and_exclusion():
    df = _sim(500, seed=15)
    df.loc[[0, 1, 2], "x1"] = np.nan
    nt = int(df.loc[[0, 1, 2], "treat"].sum())
    with pytest.raises(ValueError, match=r"x1: \d+ treated, \d+ comparison"):
        M.nearest_neighbor(df, treatment="treat", covariates=["x1", "x2"])
    with pytest.raises(ValueError, match="missing values"):
        M.nearest_neighbor(df, treatment="treat", covariates="x1 + I(x2**2)")
    m = M.nearest_neighbor(df, treatment="treat", covariates=["x1", "x2"], missing="exclude")
    row = m.flow.set_index("step").loc["missing covariates (excluded)"]
    assert row["excluded_treated"] == nt and row["excluded_control"] == 3 - nt
    assert len(m.data) == 497


def test_bad_treatment_and_min_participants():
    df = _sim(200, seed=16)
    with pytest.raises(ValueError, match="0/1"):
        M.nearest_neighbor(df.assign(treat=df.treat * 2), treatment="treat", covariates=["x1"])
    with pytest.raises(ValueError, match="not in data"):
        M.nearest_neighbor(df, treatment="treat", covariates=["nope"])
    with pytest.raises(M.TooFewParticipantsError, match="minimum of 60"):
        M.check_min_participants(df.head(100), "treat", minimum=60)
    with pytest.raises(M.TooFewParticipantsError):
        M.nearest_neighbor(df.head(100), treatment="treat", covariates=["x1"], min_participants=60)
    assert M.check_min_participants(75) == 75


def test_presentation_objects(lalonde_match):
    import matplotlib
    matplotlib.use("Agg")
    assert "ATT" in lalonde_match.summary()
    ax = lalonde_match.love_plot()
    assert ax.get_xlabel().startswith("|standardised")
    axes = lalonde_match.overlap_plot()
    assert len(axes) == 2
    d = lalonde_match.effect("re78").to_dict()
    assert d["se_type"] == "CR2" and d["n_treated"] == 185
    import matplotlib.pyplot as plt
    plt.close("all")


def test_sensitivity_table_reports_failures():
    df = _sim(1500, seed=17)
    tab = M.sensitivity(df, treatment="treat", covariates=["x1", "x2"], outcome="y")
    assert len(tab) == 11 and tab["estimate"].notna().all()
    tab2 = M.sensitivity(df, treatment="treat", covariates=["x1", "x2"], outcome="y",
                         variants={"bad": lambda d: M.nearest_neighbor(d, treatment="treat",
                                                                       covariates=["zz"])})
    assert "not in data" in tab2.loc[0, "note"]
