"""Outcome contracts: hand-computed payments, validation errors, zero-effect behaviour."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import stats

from evaluation.contracts import (ContractSpec, caseload, detect_events, evaluate, monitor_targets,
                                  prepare_panel, repayment_category, threshold_power,
                                  threshold_probability, threshold_required_n, to_indigo,
                                  wilson_interval, clopper_pearson_interval)


# ------------------------------------------------------------------------------------------
# small hand-made panels
# ------------------------------------------------------------------------------------------
def make_panel(people, n_months=12, start="2020-01-01", pre=0):
    """Person-month panel from per-person lists indexed by event time 0, 1, ...

    Each person: id, treated, assigned (months after ``start``), mapping (event time or None) and
    lists position_share, sa_amount, earnings, reoffence_events, in_education.
    """
    rows = []
    s = pd.Timestamp(start)
    for p in people:
        am = s + pd.DateOffset(months=p.get("assigned", 0))
        for e in range(-pre, n_months):
            def get(k, default=0.0):
                v = p.get(k)
                if v is None:
                    return default
                if e < 0:
                    return p.get(k + "_pre", default)
                return v[e] if e < len(v) else default
            ps, sa = float(get("position_share")), float(get("sa_amount"))
            rows.append(dict(
                person_id=p["id"], month=am + pd.DateOffset(months=e), event_time=e,
                arm="treatment" if p["treated"] else "control", treated=p["treated"],
                participated=p.get("participated", p["treated"]), assigned_month=am,
                office=p.get("office", "ALNA"), position_share=ps, employed=ps > 0,
                employed_50=ps >= 0.5, job_kept_6m=False, earnings=float(get("earnings")),
                sa_amount=sa, on_social_assistance=sa > 0, in_education=bool(get("in_education")),
                reoffence_events=int(get("reoffence_events")), reoffended=get("reoffence_events") > 0,
                mapping_month=(am + pd.DateOffset(months=p["mapping"])) if p.get("mapping") is not None
                else pd.NaT))
    return pd.DataFrame(rows)


REFINO = {"name": "REFINO", "payment": {
    "type": "staged", "price": 10000, "min_position_share": 0.5, "stages": [
        {"name": "mapping", "share": 0.2, "event": "mapping"},
        {"name": "job", "share": 0.4, "event": "job_entry"},
        {"name": "kept", "share": 0.4, "event": "job_kept"}]}}


def test_refino_staged_history_exact_amounts():
    # month 0-1 nothing, 2-3 a 40 % job (no job-entry payment), 4-9 a 60 % job (6 months), 10-11 none
    ps = [0, 0, 0.4, 0.4, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0, 0]
    df = make_panel([dict(id="a", treated=True, mapping=1, position_share=ps),
                     dict(id="b", treated=True, mapping=0, position_share=[0.4] * 12),
                     dict(id="c", treated=False, mapping=0, position_share=[0.0] * 12)])
    res = evaluate(df, REFINO, uncertainty=None)
    sch = res.schedule.set_index(["month", "item"])["amount"]
    assert sch[(pd.Timestamp("2020-02-01"), "mapping")] == 2000 + 0  # a at event time 1
    assert sch[(pd.Timestamp("2020-01-01"), "mapping")] == 2000      # b at event time 0
    assert sch[(pd.Timestamp("2020-05-01"), "job")] == 4000          # a: first month at >= 50 %
    assert sch[(pd.Timestamp("2020-10-01"), "kept")] == 4000         # a: 6th month of that job
    # b only ever had a 40 % position: mapping only
    assert res.payment == 2000 + 4000 + 4000 + 2000
    assert len(res.schedule) == 4
    assert res.deadweight == pytest.approx(2000 * 2)  # control: mapping only, times 2 participants
    assert res.counterfactual == "rct_control"
    assert "control arm" in res.counterfactual_description


def test_staged_sequential_needs_earlier_stage():
    ps = [0.6] * 12
    df = make_panel([dict(id="a", treated=True, mapping=None, position_share=ps),
                     dict(id="b", treated=False, mapping=None)])
    res = evaluate(df, REFINO, uncertainty=None)
    assert res.payment == 0  # never mapped: no stage is paid
    spec = json.loads(json.dumps(REFINO))
    spec["payment"]["sequential"] = False
    assert evaluate(df, spec, uncertainty=None).payment == 8000


def test_mapping_from_assignment_extract():
    df = make_panel([dict(id="a", treated=True, mapping=2), dict(id="b", treated=False)])
    assignment = df[["person_id", "mapping_month"]].drop_duplicates()
    res = evaluate(df.drop(columns="mapping_month"), REFINO, assignment=assignment, uncertainty=None)
    assert res.payment == 2000
    with pytest.raises(ValueError, match="mapping_month"):
        evaluate(df.drop(columns="mapping_month"), REFINO, uncertainty=None)


RATE = {"payment": {"type": "rate_card", "participant_cap": 5000, "contract_cap": 8000, "items": [
    {"outcome": "job_entry", "price": 1000}, {"outcome": "sustained_13w", "price": 2000},
    {"outcome": "sustained_26w", "price": 3000}]}}


def test_rate_card_caps_bind():
    df = make_panel([
        dict(id="a", treated=True, position_share=[1.0] * 12),            # 1000 m0, 2000 m2, 3000->2000 m5
        dict(id="b", treated=True, position_share=[0, 1, 1, 1, 1]),       # 1000 m1, 2000 m3
        dict(id="c", treated=True, position_share=[0] * 6 + [1.0] * 6),   # m6, m8, m11: all cut by contract cap
        dict(id="d", treated=False)])
    res = evaluate(df, RATE, uncertainty=None)
    by_month = res.schedule.groupby("month")["amount"].sum()
    assert by_month.to_dict() == {pd.Timestamp("2020-01-01"): 1000, pd.Timestamp("2020-02-01"): 1000,
                                  pd.Timestamp("2020-03-01"): 2000, pd.Timestamp("2020-04-01"): 2000,
                                  pd.Timestamp("2020-06-01"): 2000}
    assert res.payment == 8000                              # contract cap
    assert res.means.set_index("quantity").loc["payable", "participants"] == pytest.approx(13000 / 3)
    assert res.totals["max_potential_payment"] == 8000
    no_cap = json.loads(json.dumps(RATE))
    no_cap["payment"].pop("contract_cap")
    assert evaluate(df, no_cap, uncertainty=None).payment == 5000 + 3000 + 5000


def _threshold_panel(treated_events, control_events, assigned=0, prefix=""):
    people = []
    for i, n in enumerate(treated_events):
        people.append(dict(id=f"{prefix}t{i}", treated=True, assigned=assigned, reoffence_events=[n]))
    for i, n in enumerate(control_events):
        people.append(dict(id=f"{prefix}c{i}", treated=False, assigned=assigned, reoffence_events=[n]))
    return make_panel(people, n_months=12)


PETERBOROUGH = {"payment": {"type": "threshold", "outcome": "reoffence_events", "margin": 0.075,
                            "price_per_event": 1000, "window_months": 12}}


@pytest.mark.parametrize("treated_total, expected", [(36, 4000.0), (37, 3000.0), (38, 0.0)])
def test_threshold_above_at_and_below_margin(treated_total, expected):
    control = [4] * 10                       # 40 events, 4.0 per person
    treated = [4] * 10
    for i in range(40 - treated_total):      # remove events one by one
        treated[i] -= 1
    res = evaluate(_threshold_panel(treated, control), PETERBOROUGH, uncertainty=None)
    # 36 -> 10 % fewer: 4 avoided; 37 -> exactly 7.5 %: 3 avoided; 38 -> 5 %: nothing
    assert res.payment == pytest.approx(expected)


def test_threshold_cohort_early_payment():
    spec = json.loads(json.dumps(PETERBOROUGH))
    spec["payment"].update(cohort_margin=0.10, cohort_months=12)
    c1 = _threshold_panel([3, 4] * 5, [4] * 10, assigned=0, prefix="a")     # 35 vs 40: 12.5 %
    c2 = _threshold_panel([4] * 10, [4] * 10, assigned=12, prefix="b")      # 40 vs 40: 0 %
    res = evaluate(pd.concat([c1, c2]), spec, uncertainty=None)
    assert res.payment == 5000          # early payment for cohort 1; overall 6.25 % < 7.5 %: no final
    sch = res.schedule.set_index("item")["amount"]
    assert sch["final payment"] == 0
    c2b = _threshold_panel([3, 4] * 5, [4] * 10, assigned=12, prefix="b")
    res2 = evaluate(pd.concat([c1, c2b]), spec, uncertainty=None)
    assert res2.payment == 10000        # 2 x 5000 early; final = 10 avoided x 1000 - early = 0
    assert res2.schedule["month"].min() == pd.Timestamp("2021-01-01")  # cohort 1 due after 12 months


def test_shared_savings_month():
    spec = {"window_months": 1, "public": {"window_months": 1, "tax_rate": 0.3},
            "events": {"training_completed": {"column": "in_education"}},
            "payment": {"type": "shared_savings", "fee_per_completion": 5000,
                        "completion_event": "training_completed", "savings_share": 0.5,
                        "tax_share": 0.5, "tax_rate": 0.3}}
    people = [dict(id=f"t{i}", treated=True, sa_amount=[8000], earnings=[8000],
                   in_education=[1 if i < 2 else 0]) for i in range(10)]
    people += [dict(id=f"c{i}", treated=False, sa_amount=[10000], earnings=[5000]) for i in range(10)]
    res = evaluate(make_panel(people, n_months=1), spec, uncertainty=None)
    # 2 x 5000 fees + 0.5 x (10 x 2000 saved) + 0.5 x 0.3 x (10 x 3000 more earnings)
    assert res.payment == pytest.approx(10000 + 10000 + 4500)
    assert res.cashflows["outcome_payment"].sum() == pytest.approx(24500)
    assert res.totals["public_savings"] == pytest.approx(20000)
    assert res.totals["public_tax_gain"] == pytest.approx(9000)
    assert res.totals["public_net_benefit"] == pytest.approx(20000 + 9000 - 24500)


def test_investor_repayment_categories_and_cashflows():
    spec = json.loads(json.dumps(RATE))
    spec["investor"] = {"capital": 6000, "return_rate": 0.1, "drawdown": [
        {"month": 0, "amount": 4000}, {"month": 3, "amount": 2000}]}
    df = make_panel([dict(id="a", treated=True, position_share=[1.0] * 12),
                     dict(id="b", treated=True, position_share=[0, 1, 1, 1, 1]),
                     dict(id="d", treated=False)])
    res = evaluate(df, spec, uncertainty=None)
    assert res.payment == 8000
    assert res.totals["investor_repaid"] == pytest.approx(6600)
    assert res.repayment_category == "principal+return"
    cf = res.cashflows.set_index("month")
    assert cf["investor_drawdown"].sum() == 6000
    assert cf.loc[pd.Timestamp("2020-04-01"), "investor_drawdown"] == 2000
    assert cf["investor_repayment"].sum() == pytest.approx(6600)
    assert cf["investor_net_cum"].iloc[-1] == pytest.approx(600)
    assert repayment_category(0, 10) == "none"
    assert repayment_category(5, 10) == "partial"
    assert repayment_category(10, 10) == "principal"
    assert repayment_category(11, 10) == "principal+return"


# ------------------------------------------------------------------------------------------
# validation errors
# ------------------------------------------------------------------------------------------
def _err(d):
    with pytest.raises(ValidationError) as e:
        ContractSpec.model_validate(d)
    return str(e.value)


def test_validation_errors_name_field_and_fix():
    bad = json.loads(json.dumps(REFINO))
    bad["payment"]["stages"][0]["share"] = 1.2
    assert "above 100 %" in _err(bad) and "share" in _err(bad)
    bad = json.loads(json.dumps(REFINO))
    bad["payment"]["stages"][0]["share"] = 0.1
    assert "add up to 0.9" in _err(bad)
    bad = json.loads(json.dumps(RATE))
    bad["payment"]["participant_cap"] = 2500
    msg = _err(bad)
    assert "participant_cap" in msg and "below one payment" in msg
    bad = json.loads(json.dumps(RATE))
    bad["payment"]["contract_cap"] = 2000
    bad["payment"].pop("participant_cap")
    assert "contract_cap" in _err(bad)
    assert "not a panel column" in _err({"payment": {**PETERBOROUGH["payment"], "outcome": "reoffences"}})
    assert "unknown event" in _err({"payment": {"type": "rate_card", "items": [
        {"outcome": "jobentry", "price": 1}]}})
    assert "savings_share" in _err({"payment": {"type": "shared_savings", "savings_share": 1.5}})
    extra = json.loads(json.dumps(REFINO))
    extra["paymnet"] = {}
    assert "paymnet" in _err(extra)
    assert "Extra inputs" in _err({**REFINO, "investor": {"capital": 1, "interest": 0.1}})
    assert "drawdown amounts add up" in _err({**REFINO, "investor": {"capital": 10, "drawdown": [
        {"month": 0, "amount": 5}]}})
    assert "Input should be" in _err({"payment": {**PETERBOROUGH["payment"], "margin": "a lot"}})


def test_outcome_missing_from_panel_is_a_clear_error():
    df = make_panel([dict(id="a", treated=True), dict(id="b", treated=False)]).drop(
        columns="reoffence_events")
    with pytest.raises(ValueError, match=r"no column\(s\) \['reoffence_events'\]"):
        evaluate(df, PETERBOROUGH, uncertainty=None)


def test_counterfactual_argument_errors():
    df = _threshold_panel([4] * 5, [4] * 5)
    with pytest.raises(ValueError, match="counterfactual 'synthetic' unknown"):
        evaluate(df, PETERBOROUGH, counterfactual="synthetic")
    with pytest.raises(ValueError, match="needs effect"):
        evaluate(df, PETERBOROUGH, counterfactual="did", uncertainty="normal")
    with pytest.raises(ValueError, match="needs comparison"):
        evaluate(df, PETERBOROUGH, counterfactual="matched")
    with pytest.raises(ValueError, match="needs baseline"):
        evaluate(df, PETERBOROUGH, counterfactual="historical")
    with pytest.raises(ValueError, match="bootstrap"):
        evaluate(df, PETERBOROUGH, counterfactual="did", effect=-0.1, uncertainty="bootstrap")


# ------------------------------------------------------------------------------------------
# counterfactuals
# ------------------------------------------------------------------------------------------
def test_counterfactual_choices_agree_on_the_same_rate():
    df = _threshold_panel([3] * 10, [4] * 10)      # 25 % fewer, 10 avoided
    rct = evaluate(df, PETERBOROUGH, counterfactual="rct_control", uncertainty=None)
    comp = pd.DataFrame({"person_id": [f"c{i}" for i in range(10)], "weight": 1.0})
    matched = evaluate(df, PETERBOROUGH, counterfactual="matched", comparison=comp, uncertainty=None)
    did = evaluate(df[df.treated], PETERBOROUGH, counterfactual="did",
                   effect={"estimate": -1.0, "se": 0.3}, uncertainty=None)
    hist = evaluate(df[df.treated], PETERBOROUGH, counterfactual="historical", baseline=4.0,
                    uncertainty=None)
    for r in (rct, matched, did, hist):
        assert r.payment == pytest.approx(10000)
    assert {r.counterfactual for r in (rct, matched, did, hist)} == {"rct_control", "matched", "did",
                                                                     "historical"}
    # matched weights matter: weight the 4-event controls against a 2-event control
    df2 = pd.concat([df, _threshold_panel([], [2], prefix="x")])
    comp2 = pd.DataFrame({"person_id": ["c0", "xc0"], "weight": [1.0, 1.0]})   # mean 3.0: no gain
    assert evaluate(df2, PETERBOROUGH, counterfactual="matched", comparison=comp2,
                    uncertainty=None).payment == 0


# ------------------------------------------------------------------------------------------
# uncertainty and zero effect
# ------------------------------------------------------------------------------------------
class _Effect:
    def __init__(self, estimate, se):
        self.estimate, self.se = estimate, se


def test_zero_effect_normal_approximation_threshold_probability():
    df = _threshold_panel([4] * 10, [4] * 10)
    spec = {**PETERBOROUGH, "investor": {"capital": 1.0, "return_rate": 0.1}}
    se = 0.2
    res = evaluate(df, spec, effect=_Effect(0.0, se), uncertainty="normal", n_draws=200_000, seed=1)
    implied = stats.norm.cdf(-0.075 * 4.0 / se)                       # P(estimate <= -0.3)
    assert implied == pytest.approx(threshold_probability(0.0, se, 4.0, 0.075))
    assert res.probabilities["investor_return"] == pytest.approx(implied, abs=0.003)
    assert res.probabilities["threshold_met"] == pytest.approx(implied, abs=0.003)
    # with zero true effect the expected payment is the deadweight payment
    assert res.expected_payment == pytest.approx(res.deadweight)
    # deadweight: E[1000 x 10 x (-d) ; d <= -0.3] with d ~ N(0, se)
    a = 0.3 / se
    dw = 1000 * 10 * se * stats.norm.pdf(a)
    assert res.deadweight == pytest.approx(dw, rel=0.02)
    assert res.totals["deadweight_point"] == 0


def test_bootstrap_reproducible_and_deadweight_centred():
    rng = np.random.default_rng(3)
    t = rng.poisson(3.0, 200)
    c = rng.poisson(3.0, 200)
    df = _threshold_panel(list(t), list(c))
    a = evaluate(df, PETERBOROUGH, uncertainty="bootstrap", n_draws=300, seed=5)
    b = evaluate(df, PETERBOROUGH, uncertainty="bootstrap", n_draws=300, seed=5)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    assert set(a.tidy()["term"]) >= {"payment", "deadweight", "public_net_benefit"}
    assert 0 <= a.probabilities["threshold_met_zero_effect"] < 0.5
    d = a.to_dict()
    json.dumps(d)
    assert d["counterfactual"] == "rct_control"


def test_break_even_for_threshold_investor():
    df = _threshold_panel([4] * 100, [4] * 100)
    spec = {**PETERBOROUGH, "investor": {"capital": 20000}}
    res = evaluate(df, spec, effect=_Effect(0.0, 0.01), uncertainty="normal", n_draws=2000)
    # payment = 1000 x 100 x avoided per person; the capital is covered from 0.2 avoided per person
    # (5 %), but nothing is paid below the margin: 7.5 % of 4 = 0.3
    assert res.break_even["investor"] == pytest.approx(-0.3, abs=1e-6)
    spec["investor"]["capital"] = 40000   # now the capital binds: 0.4 avoided per person
    res = evaluate(df, spec, effect=_Effect(0.0, 0.01), uncertainty="normal", n_draws=200)
    assert res.break_even["investor"] == pytest.approx(-0.4, abs=1e-6)


# ------------------------------------------------------------------------------------------
# monitoring, INDIGO, design
# ------------------------------------------------------------------------------------------
def test_targets_with_intervals():
    counts = pd.DataFrame({"name": ["attend", "work"], "kind": ["result", "result"],
                           "target": [0.9, 0.4], "achieved": [45, 10], "n": [50, 40]})
    res = monitor_targets(counts=counts)
    t = res.tidy().set_index("name")
    lo, hi = wilson_interval(45, 50)
    assert t.loc["attend", "wilson_low"] == pytest.approx(lo)
    assert t.loc["attend", "met"]
    assert t.loc["work", "verdict"] == "not met" or t.loc["work", "verdict"] == "inconclusive"
    clo, chi = clopper_pearson_interval(10, 40)
    assert t.loc["work", "cp_low"] == pytest.approx(stats.beta.ppf(0.025, 10, 31))
    assert t.loc["work", "cp_high"] == pytest.approx(chi)


def test_targets_from_panel():
    df = make_panel([dict(id="a", treated=True, position_share=[0, 1]),
                     dict(id="b", treated=True), dict(id="c", treated=False, position_share=[1])])
    spec = {**RATE, "targets": [{"name": "work", "target": 0.4, "numerator": "job_entry"},
                                {"name": "attend", "kind": "activity", "target": 0.9,
                                 "numerator": "participated"}]}
    t = monitor_targets(df, spec).tidy().set_index("name")
    assert (t.loc["work", "achieved"], t.loc["work", "n"]) == (1, 2)
    assert t.loc["attend", "achieved"] == 2


def test_caseload_against_goal():
    people = []
    for i in range(20):   # pilot: 20 recipients, 10 leave at start
        people.append(dict(id=f"p{i}", treated=True, office="ALNA", assigned=3,
                           sa_amount=[1.0] * (1 if i < 10 else 6), sa_amount_pre=1.0))
    for i in range(20):   # comparison office: stays on
        people.append(dict(id=f"q{i}", treated=False, office="STOVNER", assigned=3, sa_amount=[1.0] * 6,
                           sa_amount_pre=1.0))
    df = make_panel(people, n_months=6, pre=3)
    res = caseload(df, reduction=0.2)
    t = res.tidy()
    assert t["stock"].iloc[0] == 20 and t["stock"].iloc[-1] == 10
    assert t["outflow"].sum() == 10
    assert res.extra["goal_met"] and res.extra["final_reduction"] == pytest.approx(0.5)


def test_indigo_export_fields():
    df = make_panel([dict(id=f"a{i}", treated=True, mapping=0, position_share=[1.0] * 12) for i in range(6)]
                    + [dict(id="b", treated=True, mapping=0)] + [dict(id="c", treated=False)])
    res = evaluate(df, {**REFINO, "investor": {"capital": 30000, "return_rate": 0.05}}, uncertainty=None)
    ind = to_indigo(res)
    json.dumps(ind)
    assert [m["id"] for m in ind["outcome_metrics"]] == ["mapping", "job", "kept"]
    assert ind["outcome_metrics"][0]["outcome_validation_method"]["value"] == "Randomised Control Trial"
    assert ind["outcome_pricings"][1]["price_per_unit"]["amount"]["value"] == 4000
    assert ind["results"][1]["number_with_positive_social_outcomes"]["value"] == 6
    # 6 x 10 000 + 2 000 paid, published rounded to 5 x the largest unit price (disclosure gate)
    assert ind["overall_project_finance"]["total_outcome_payments_made"]["amount"]["value"] == 60000
    assert ind["investments"][0]["investor_repayment"]["value"].startswith("Principal + positive")
    # small counts are not published
    small = to_indigo(res, disclosure_threshold=10)
    assert small["results"][1]["number_with_positive_social_outcomes"]["value"] is None


def test_threshold_design_helpers():
    p = threshold_power(2000, counterfactual_mean=1.0, sd=1.5, true_effect=0.15, margin=0.075)
    se = 1.5 * np.sqrt(1 / 1000 + 1 / 1000)
    assert p == pytest.approx(stats.norm.cdf(0.075 / se))
    n = threshold_required_n(counterfactual_mean=1.0, sd=1.5, true_effect=0.15, margin=0.075,
                             probability=0.8)
    assert threshold_power(n, counterfactual_mean=1.0, sd=1.5, true_effect=0.15, margin=0.075) >= 0.8
    assert threshold_power(n - 2, counterfactual_mean=1.0, sd=1.5, true_effect=0.15, margin=0.075) < 0.8
    assert threshold_required_n(counterfactual_mean=1, sd=1, true_effect=0.05, margin=0.075) == np.inf


def test_events_are_vectorised_and_respect_gaps():
    df = make_panel([dict(id="a", treated=True, position_share=[1, 1, 0, 1, 1, 1])])
    ev = detect_events(prepare_panel(df, ContractSpec.model_validate(RATE)),
                       ContractSpec.model_validate(RATE))
    got = ev.set_index("event")["event_time"].to_dict()
    assert got == {"job_entry": 0, "sustained_13w": 5}
    # a missing month breaks a run
    df2 = df[df["event_time"] != 4]
    ev2 = detect_events(prepare_panel(df2, ContractSpec.model_validate(RATE)),
                        ContractSpec.model_validate(RATE))
    assert "sustained_13w" not in set(ev2["event"])


def test_figures_and_html():
    import matplotlib
    matplotlib.use("Agg")
    df = _threshold_panel([3] * 10, [4] * 10)
    res = evaluate(df, {**PETERBOROUGH, "investor": {"capital": 5000}}, uncertainty="normal",
                   n_draws=500)
    for kind in ("cumulative", "cashflow", "distribution"):
        assert res.plot(kind) is not None
    assert "rct_control" in res._repr_html_()
    assert "counterfactual" in res.summary()


# ------------------------------------------------------------------------------------------
# synthetic REFINO data with zero true effect
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def refino_zero():
    synthetic = pytest.importorskip("evaluation.synthetic")
    panel_mod = pytest.importorskip("evaluation.panel")
    s = synthetic.generate("refino", n_persons=2000, seed=11, effect_scale=0)
    return panel_mod.build_panel(s.extracts).data, s.extracts["assignment"]


def test_zero_effect_expected_payment_is_deadweight(refino_zero):
    data, assignment = refino_zero
    spec = {**REFINO, "window_months": 24}
    spec["payment"] = {**REFINO["payment"], "price": 30000}
    res = evaluate(data, spec, assignment=assignment, n_draws=199, seed=3)
    sd = res.draws["payment"].std()
    # E[payment] and deadweight estimate the same thing when the true effect is zero; their
    # difference is n_t x (mean_T - mean_C): within 3 standard errors of a difference
    assert abs(res.expected_payment - res.deadweight) < 3 * np.sqrt(2) * sd
    assert res.deadweight > 0.5 * res.payment      # most of what REFINO pays is deadweight
    assert res.expected_payment == pytest.approx(res.payment, rel=0.02)


def test_zero_effect_threshold_probability_is_what_the_margin_implies(refino_zero):
    rct = pytest.importorskip("evaluation.rct")
    data, _ = refino_zero
    W = 24
    spec = {"window_months": W, "investor": {"capital": 1.0, "return_rate": 0.1},
            "payment": {"type": "threshold", "outcome": "employed_50", "direction": "increase",
                        "margin": 0.05, "price_per_event": 1000, "window_months": W,
                        "cohort_months": 36}}
    win = data[(data["event_time"] >= 0) & (data["event_time"] < W)]
    per = win.groupby("person_id", observed=True).agg(y=("employed_50", "sum"),
                                                      treated=("treated", "first")).reset_index()
    per["treated"] = per["treated"].astype(int)
    eff = rct.difference_in_means(per, outcome="y", treatment="treated")
    c = per.loc[per["treated"] == 0, "y"].mean()
    res = evaluate(data, spec, effect=eff, uncertainty="normal", n_draws=100_000, seed=4)
    t_hat = res.means.set_index("quantity").loc["outcome"]
    assert t_hat["difference"] == pytest.approx(eff.estimate, rel=1e-9, abs=1e-9)
    # the investor gets a return exactly when the estimate beats the margin: P = Phi((d - m c)/se)
    implied = stats.norm.sf((0.05 * c - eff.estimate) / eff.se)
    assert res.probabilities["investor_return"] == pytest.approx(implied, abs=0.004)
    # and under a true effect of zero: Phi(-m c / se)
    implied0 = stats.norm.sf(0.05 * c / eff.se)
    assert res.probabilities["investor_return_zero_effect"] == pytest.approx(implied0, abs=0.004)
    assert res.probabilities["threshold_met_zero_effect"] == pytest.approx(implied0, abs=0.004)


# ------------------------------------------------------------------------------------------
# Alna Aktiv: effect from a previous notebook's results, caseload, targets, params file
# ------------------------------------------------------------------------------------------
def _write_results(folder, entries):
    (folder / "results.json").write_text(json.dumps({"programme": "x", "notebooks": entries}))


def test_effect_from_results_found_and_scaled(tmp_path):
    from evaluation.contracts import EffectEstimate, effect_from_results, resolve_effect
    _write_results(tmp_path, {"03_did_rollout": {"headline": {
        "estimate": -0.125, "se": 0.03, "ci_low": -0.184, "ci_high": -0.066,
        "outcome": "on_social_assistance, overall ATT"}}})
    e = effect_from_results(tmp_path, "03_did_rollout.headline")
    assert isinstance(e, EffectEstimate)
    assert (e.estimate, e.se, e.ci_low, e.ci_high) == (-0.125, 0.03, -0.184, -0.066)
    assert e.source == "results.json: notebooks.03_did_rollout.headline"
    e12 = effect_from_results(tmp_path / "results.json", "03_did_rollout.headline", scale=12)
    assert e12.estimate == pytest.approx(-1.5) and e12.se == pytest.approx(0.36)
    assert (e12.ci_low, e12.ci_high) == (pytest.approx(-2.208), pytest.approx(-0.792))
    neg = effect_from_results(tmp_path, "03_did_rollout.headline", scale=-1)
    assert neg.se == pytest.approx(0.03) and neg.ci_low < neg.ci_high
    # the option forms: a reference, a dict of references and numbers, plain values untouched
    r = resolve_effect({"from_results": "03_did_rollout.headline", "scale": 12}, tmp_path)
    assert r.estimate == pytest.approx(-1.5)
    r = resolve_effect({"outcome": {"from_results": "03_did_rollout.headline"}, "benefit": -100.0}, tmp_path)
    assert r["outcome"].estimate == -0.125 and r["benefit"] == -100.0
    assert resolve_effect(None, tmp_path) is None
    assert resolve_effect({"estimate": 1.0, "se": 0.5}, tmp_path) == {"estimate": 1.0, "se": 0.5}


def test_effect_from_results_missing_key_names_file_and_keys(tmp_path):
    from evaluation.contracts import effect_from_results, resolve_effect
    with pytest.raises(FileNotFoundError, match=r"results.json does not exist.*03_did_rollout"):
        effect_from_results(tmp_path, "03_did_rollout.headline")
    _write_results(tmp_path, {"03_did_rollout": {"headline": {"estimate": -0.1, "se": 0.03},
                                                 "pretest": {"stat": 1.0}}})
    with pytest.raises(ValueError, match=r"results.json has no entry notebooks.03_did_rollout.overall "
                       r".*keys recorded under notebooks.03_did_rollout: \['headline', 'pretest'\]"):
        effect_from_results(tmp_path, "03_did_rollout.overall")
    with pytest.raises(ValueError, match=r"no entry notebooks.02_rct_analysis .*\['03_did_rollout'\]"):
        effect_from_results(tmp_path, "02_rct_analysis.headline")
    with pytest.raises(ValueError, match=r"not an effect estimate with 'estimate' and 'se' .*\['stat'\]"):
        effect_from_results(tmp_path, "03_did_rollout.pretest")
    with pytest.raises(ValueError, match="must be '<notebook>.<key>'"):
        effect_from_results(tmp_path, "headline")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['scal'\]"):
        resolve_effect({"from_results": "03_did_rollout.headline", "scal": 12}, tmp_path)


def test_did_counterfactual_with_effect_from_results(tmp_path):
    from evaluation.contracts import resolve_effect
    # 4 participants, each 6 months on social assistance in the 12-month window; the DiD effect
    # is -0.25 per month -> -3 months over 12, so the counterfactual is 9 months: 33 % fewer,
    # above the 20 % margin; 4 x 3 recipient-months avoided at 100 each = 1200
    _write_results(tmp_path, {"03_did_rollout": {"headline": {"estimate": -0.25, "se": 0.0}}})
    df = make_panel([dict(id=f"a{i}", treated=True, sa_amount=[1.0] * 6) for i in range(4)])
    spec = {"window_months": 12, "payment": {
        "type": "threshold", "outcome": "on_social_assistance", "margin": 0.2, "window_months": 12,
        "price_per_event": 100}}
    eff = resolve_effect({"from_results": "03_did_rollout.headline", "scale": 12}, tmp_path)
    res = evaluate(df, spec, counterfactual="did", effect=eff, uncertainty=None)
    assert res.payment == pytest.approx(1200)
    assert res.deadweight == pytest.approx(0)


def _caseload_panel():
    """Offices A (adopts 2020-03), B (adopts 2020-05), C (never), months 2020-01 .. 2020-06."""
    months = pd.date_range("2020-01-01", periods=6, freq="MS")
    seqs = {"a1": [1, 1, 1, 0, 0, 0], "a2": [1, 1, 0, 0, 1, 1], "a3": [0, 1, 1, 1, 1, 0],
            "a4": [1, 1, 1, 1, 1, 1], "a5": [None, None, 1, 1, 0, 0]}   # a5 enters the panel in March
    rows = []
    def add(pid, office, seq, treated, assigned):
        for m, v in zip(months, seq):
            if v is not None:
                rows.append(dict(person_id=pid, month=m, office=office, treated=treated,
                                 assigned_month=assigned, on_social_assistance=bool(v)))
    for pid, seq in seqs.items():
        add(pid, "A", seq, True, months[2])
    for i in range(10):   # B: 10 recipients until it joins, 5 leave after
        add(f"b{i}", "B", [1, 1, 1, 1] + [int(i < 5)] * 2, True, months[4])
    for i in range(14):   # C: 10 recipients, 4 more from April
        add(f"c{i}", "C", [int(i < 10)] * 3 + [1] * 3, False, pd.NaT)
    return pd.DataFrame(rows)


def test_caseload_stock_inflow_outflow_exact():
    res = caseload(_caseload_panel(), reduction=0.2, baseline_months=2)
    t = res.tidy()
    assert res.extra["pilot"] == "A" and res.extra["start"] == "2020-03-01"
    assert t["stock"].tolist() == [3, 4, 4, 3, 3, 2]
    assert t["inflow"].tolist() == [0, 1, 0, 0, 1, 0]        # a5 entering the panel is no inflow
    assert t["outflow"].tolist() == [0, 0, 1, 1, 1, 1]
    # comparison: B and C until B joins in May, then C alone, chain-linked:
    # growth Apr = (10 + 14) / (10 + 10) = 1.2, May = 14 / 14, Jun = 14 / 14; baseline Jan-Feb 3.5
    assert t["counterfactual"].tolist() == pytest.approx([3.5, 3.5, 3.5, 4.2, 4.2, 4.2])
    assert t["comparison_offices"].tolist() == [2, 2, 2, 2, 1, 1]
    assert np.isnan(t["goal"].iloc[:2]).all()
    assert t["goal"].iloc[2:].tolist() == pytest.approx([2.8, 3.36, 3.36, 3.36])
    assert res.extra["final_reduction"] == pytest.approx(1 - 2 / 4.2) and res.extra["goal_met"]
    assert "never treated: C; not yet treated: B" in res.extra["counterfactual_description"]
    assert res.extra["change_vs_baseline"] == pytest.approx(2 / 3.5 - 1)
    # the goal checked after 1 month (March) is not met: 4 against a counterfactual of 3.5
    first = caseload(_caseload_panel(), baseline_months=2, horizon_months=1)
    assert first.extra["evaluation_month"] == "2020-03-01"
    assert first.extra["final_reduction"] == pytest.approx(1 - 4 / 3.5) and not first.extra["goal_met"]
    # pre-start trend: stock 3, 4 in Jan, Feb -> 5, 6, 7, 8 from March
    tr = caseload(_caseload_panel(), baseline_months=2, counterfactual="trend")
    assert tr.tidy()["counterfactual"].tolist() == pytest.approx([3, 4, 5, 6, 7, 8])
    assert "linear trend" in tr.method and tr.extra["final_reduction"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"pilot offices \['X'\] are not in the panel"):
        caseload(_caseload_panel(), pilot=["X"])
    with pytest.raises(ValueError, match="'comparison' or 'trend'"):
        caseload(_caseload_panel(), counterfactual="did")


def test_targets_shares_by_hand():
    people = [dict(id="p1", treated=True, position_share=[0, 0, 1.0]),          # works in month 2
              dict(id="p2", treated=True, position_share=[0] * 11 + [0.5]),     # month 11: in window
              dict(id="p3", treated=True, position_share=[0] * 12 + [1.0]),     # month 12: outside
              dict(id="p4", treated=True, position_share_pre=1.0),               # only before start
              dict(id="p5", treated=True, participated=False, position_share=[1.0]),
              dict(id="c1", treated=False, position_share=[1.0])]
    df = make_panel(people, n_months=14, pre=2)
    df["on_aap_or_disability"] = (df["person_id"] == "p3") & (df["event_time"] == 5)
    spec = {**RATE, "window_months": 12, "targets": [
        {"name": "attend", "target": 0.9, "numerator": "participated"},
        {"name": "work", "target": 0.4, "numerator": "employed", "denominator": "participated"},
        {"name": "income rights", "target": 0.2, "numerator": "on_aap_or_disability",
         "denominator": "participated"}]}
    t = monitor_targets(df, spec).tidy().set_index("name")
    assert (t.loc["attend", "achieved"], t.loc["attend", "n"]) == (4, 5)
    assert (t.loc["work", "achieved"], t.loc["work", "n"]) == (2, 4)
    assert (t.loc["income rights", "achieved"], t.loc["income rights", "n"]) == (1, 4)
    assert t["share"].tolist() == pytest.approx([0.8, 0.5, 0.25])
    assert t["met"].tolist() == [False, True, True]
    lo, hi = wilson_interval(2, 4)
    assert (t.loc["work", "wilson_low"], t.loc["work", "wilson_high"]) == (pytest.approx(lo), pytest.approx(hi))


def test_alna_params_contract_validates():
    from evaluation.params import load_params
    p = load_params("params/alna_aktiv.yaml")
    spec = ContractSpec.model_validate(p.contract)
    assert spec.caseload_goal.reduction == 0.2 and spec.caseload_goal.counterfactual == "comparison"
    assert {t.numerator for t in spec.targets} == {"participated", "in_education", "employed",
                                                   "on_aap_or_disability"}
    assert "hypothetical" in spec.name.lower()
    names = [nb.name for nb in p.notebooks]
    assert names.index("05_outcome_contract") > names.index("03_did_rollout")
    opts = p.notebooks[names.index("05_outcome_contract")].options
    assert opts["counterfactual"] == "did"
    assert opts["effect"]["from_results"] == "03_did_rollout.headline"
    assert opts["contract"] == p.contract


# ------------------------------------------------------------------------------------------
# the frame a contract asks the panel for (ContractSpec.panel_columns)
# ------------------------------------------------------------------------------------------
from tests._contract_panel import counterfactual_kw, plan_options, synthetic_panel  # noqa: E402

CONTRACT_PLANS = plan_options("05_outcome_contract") + plan_options("06_trial_design")


@pytest.mark.parametrize("programme,opt", CONTRACT_PLANS,
                         ids=[f"{p}-{o.notebook[:2]}" for p, o in CONTRACT_PLANS])
def test_contract_frame_gives_the_whole_panels_results(programme, opt):
    """The person x period frame of ``spec.panel_columns`` gives the same payments, events,
    schedule, cash flows, targets and caseload as the whole panel (every programme's contract)."""
    panel, assignment = synthetic_panel(programme)
    spec = ContractSpec.model_validate(opt.contract)
    named = spec.panel_columns()
    assert set(named) - set(panel.columns) <= {"mapping_month"}   # it comes from the assignment extract
    frame = panel.person_period(spec.panel_columns(panel.columns))
    assert set(frame.columns) < set(panel.columns)
    kw = dict(counterfactual_kw(opt, panel, assignment),
              uncertainty="normal" if opt.counterfactual == "did" else "bootstrap", n_draws=49, seed=2)
    full, part = evaluate(panel.data, spec, **kw), evaluate(frame, spec, **kw)
    for what in ("table", "events", "means", "draws", "schedule", "cashflows"):
        pd.testing.assert_frame_equal(getattr(part, what), getattr(full, what), obj=what)
    assert part.totals == full.totals and part.break_even == full.break_even
    on_disk = type(panel).from_store(panel.store, panel.flow, panel.meta)   # data not read yet
    pd.testing.assert_frame_equal(evaluate(on_disk, spec, **kw).table, full.table)
    if spec.targets:
        pd.testing.assert_frame_equal(monitor_targets(frame, spec).table,
                                      monitor_targets(panel.data, spec).table)
        pd.testing.assert_frame_equal(monitor_targets(on_disk, spec).table,
                                      monitor_targets(panel.data, spec).table)
    if spec.caseload_goal is not None:
        goal = spec.caseload_goal.model_dump()
        pd.testing.assert_frame_equal(caseload(frame, **goal).table, caseload(panel.data, **goal).table)
        pd.testing.assert_frame_equal(caseload(on_disk, **goal).table, caseload(panel.data, **goal).table)
    assert on_disk._data is None         # a Panel given to the contract functions stays on disk


def test_contract_panel_columns_name_what_the_rule_and_targets_read():
    spec = ContractSpec.model_validate({**REFINO, "targets": [
        {"name": "jobs", "target": 0.4, "numerator": "job_entry", "denominator": "participated"},
        {"name": "education", "target": 0.3, "numerator": "in_education"}],
        "caseload_goal": {"reduction": 0.2}})
    cols = spec.panel_columns()
    assert {"mapping_month", "employed", "position_share", "in_education", "participated",
            "office", "on_social_assistance", "treated", "assigned_month"} <= set(cols)
    assert "reoffence_events" not in cols and len(cols) == len(set(cols))
    assert spec.panel_columns(["person_id", "employed", "month"]) == ["person_id", "month", "employed"]
