"""Candidate payment rules compared on data (evaluation.contracts.compare), checked by hand on a
small constructed panel (tests/_contract_panel.py)."""
import numpy as np
import pandas as pd
import pytest

from evaluation.contracts import ContractSpec, compare, evaluate, incentive_tables, matched_comparison
from tests._contract_panel import BEYOND, CONTRACT, STAGED, WEIGHTED, contract_panel

RULES = {"staged": STAGED, "beyond": BEYOND, "weighted": WEIGHTED}


@pytest.fixture(scope="module")
def cmp():
    return compare.compare_rules(contract_panel(), CONTRACT, RULES,
                                 true_effect={"job_kept": 0.2, "job_entry": 0.2, "job_kept_6m": 0.2},
                                 investor={"capital": 30000, "drawdown_months": 1, "return_rate": 0.1},
                                 n_draws=400, seed=3)


def test_observed_payments_by_hand(cmp):
    t = cmp.table.set_index("rule")
    # staged: 10 mappings x 2000 + 6 jobs x 4000 + 6 jobs kept x 4000
    assert t.loc["staged", "payment"] == pytest.approx(68000)
    # beyond the counterfactual rate: (0.6 - 0.4) x 10 participants x 50 000
    assert t.loc["beyond", "payment"] == pytest.approx(100000)
    # weighted rate card: 5 long-term job entries x 3000 x 2.0 + 1 other x 3000 x 0.5
    assert t.loc["weighted", "payment"] == pytest.approx(31500)
    assert (t["n"] == 10).all()


def test_zero_effect_settlement_by_hand(cmp):
    res = cmp.results["staged"]
    # controls with mapping at the participants' rate (1.0): 2000 + 0.4 x 4000 + 0.4 x 4000 each
    assert res.totals["deadweight_point"] == pytest.approx(52000)
    assert cmp.results["beyond"].totals["deadweight_point"] == 0


def test_probabilities_and_deadweight(cmp):
    t = cmp.table.set_index("rule")
    assert t.loc["staged", "p_pay_no_effect"] == 1.0       # it pays whatever happens
    assert 0 < t.loc["beyond", "p_pay_no_effect"] < 1       # pays for noise, sometimes
    assert t.loc["beyond", "deadweight"] < t.loc["staged", "deadweight"]
    for r in t.index:
        assert t.loc[r, "deadweight_share"] == pytest.approx(t.loc[r, "deadweight"] / t.loc[r, "expected_payment"])
    # an effect of 20 points on the paid outcomes: the beyond rule nearly always pays
    assert t.loc["beyond", "p_no_pay_at_effect"] < 0.2
    # staged payment at the stated effect: deadweight + 10 x (0.4 x 10000 x 0.2 + 0.4 x 10000 x 0.2)
    assert t.loc["staged", "payment_at_effect"] == pytest.approx(t.loc["staged", "deadweight"] + 16000)


def test_curves_increase_with_the_effect(cmp):
    c = cmp.curves[cmp.curves["rule"] == "beyond"].sort_values("multiple")
    assert np.all(np.diff(c["p_payment"]) >= -1e-12)
    assert c["p_payment"].iloc[0] == pytest.approx(cmp.table.set_index("rule").loc["beyond", "p_pay_no_effect"])
    assert "true_effect_job_kept" in cmp.curves.columns


def test_irr_by_hand():
    flows = np.zeros((1, 13))
    flows[0, 0], flows[0, 12] = -100.0, 110.0
    assert compare.irr(flows)[0] == pytest.approx(0.10, abs=1e-9)
    flows[0, 12] = 0.0
    assert compare.irr(flows)[0] == -1.0


def test_investor_columns(cmp):
    t = cmp.table.set_index("rule")
    assert t.loc["staged", "investor_multiple_median"] == pytest.approx(1.1)   # repaid in full + 10 %
    assert set(cmp.irr["rule"]) == set(RULES)


def test_rule_errors_name_the_rule():
    with pytest.raises(ValueError, match=r"design\.rules\.bad\.payment: .*stage shares add up to 0\.5"):
        compare.candidate_specs(ContractSpec.model_validate(CONTRACT),
                                {"bad": {**STAGED, "stages": [{"name": "a", "share": 0.5, "event": "mapping"}]}})
    with pytest.raises(ValueError, match="empty"):
        compare.candidate_specs(ContractSpec.model_validate(CONTRACT), {})


def test_relative_effect_on_payment_event_refused():
    with pytest.raises(ValueError, match="relative"):
        compare.compare_rules(contract_panel(), CONTRACT, {"staged": STAGED}, true_effect={"job_kept": 0.1},
                              relative=True, n_draws=20)


def test_sensitivity_by_window_and_counterfactual():
    specs = compare.candidate_specs(ContractSpec.model_validate(CONTRACT), {"beyond": BEYOND})
    s = compare.settlement_sensitivity(contract_panel(), specs,
                                       {"rct_control": {"counterfactual": "rct_control"},
                                        "historical": {"counterfactual": "historical",
                                                       "baseline": {"job_kept_6m": 0.5, "job_entry": 0.1}}},
                                       windows=[6, 24], grid="full")
    s = s.set_index(["counterfactual", "window_months"])["payment"]
    assert s.loc[("rct_control", 24)] == pytest.approx(100000)
    assert s.loc[("historical", 24)] == pytest.approx((0.6 - 0.5) * 10 * 50000)
    # within 6 months nobody has kept a job for six months: nothing to pay
    assert s.loc[("rct_control", 6)] == 0


def test_design_to_indigo(cmp):
    rec = compare.design_to_indigo(cmp, "beyond")
    plan = rec["outcome_payment_plan"]
    assert plan["rule"] == "beyond"
    assert plan["expected_outcome_payment"]["value"] == pytest.approx(
        cmp.table.set_index("rule").loc["beyond", "expected_payment"])
    with pytest.raises(ValueError, match="not one of the candidate rules"):
        compare.design_to_indigo(cmp, "nope")


def test_group_prices_in_evaluate_match_hand_count():
    spec = ContractSpec.model_validate({**CONTRACT, "payment": WEIGHTED})
    res = evaluate(contract_panel(), spec, uncertainty=None)
    assert res.payment == pytest.approx(31500)


def test_sensitivity_one_at_a_time_cells():
    specs = compare.candidate_specs(ContractSpec.model_validate(CONTRACT), {"beyond": BEYOND})
    cfs = {"rct_control": {"counterfactual": "rct_control"},
           "historical": {"counterfactual": "historical", "baseline": {"job_kept_6m": 0.5}}}
    s = compare.settlement_sensitivity(contract_panel(), specs, cfs, windows=[6, 12, 24])
    # every counterfactual at the rule's window (24), every window with the first counterfactual
    assert sorted(zip(s["counterfactual"], s["window_months"])) == [
        ("historical", 24), ("rct_control", 6), ("rct_control", 12), ("rct_control", 24)]
    with pytest.raises(ValueError, match="grid"):
        compare.settlement_sensitivity(contract_panel(), specs, cfs, windows=[6], grid="half")


def test_compare_even_rule_reprices_by_group():
    from evaluation.contracts import incentive_tables
    from evaluation.contracts.compare import DesignSpec
    design = DesignSpec.model_validate({"rules": {"staged": STAGED}, "even_rule": "staged",
                                        "incentives": [{"column": "sa_months_24", "cuts": [12]}],
                                        "n_draws": 50})
    base = compare.compare_rules(contract_panel(), CONTRACT, design.rules, n_draws=50)
    inc = incentive_tables(base.results, contract_panel(), design.incentives)
    cmp, rule = compare.compare_even_rule(contract_panel(), CONTRACT, design, inc)
    assert rule["group_prices"]["factors"] == pytest.approx([2.6, 0.619], abs=1e-3)
    # the re-priced rule pays 2.6 x the low group's and 0.619 x the long-term group's prices
    assert cmp.results["staged (group prices)"].payment == pytest.approx(
        2.6 * (10000 + 4 * 2000) + 0.619048 * 5 * 10000, rel=1e-4)


def test_money_spec_rounds_each_rule_to_its_own_price(cmp):
    from evaluation.disclosure import DisclosureOptions, suppress
    spec = compare.money_spec(cmp.tidy(), cmp.results, compare.MONEY_TOTALS, compare.MONEY_PER_PERSON)
    pub = suppress(cmp.tidy(), spec, DisclosureOptions(threshold=5)).frame.set_index("rule")
    # staged: largest unit price 0.4 x 10 000 -> steps of 5 x 4 000; weighted: 2.0 x 3 000 -> 5 x 6 000
    assert pub.loc["staged", "payment"] % 20000 == 0 and pub.loc["weighted", "payment"] % 30000 == 0
    assert pub.loc["beyond", "payment"] % 250000 == 0
    # per participant: the total's step over the 10 participants
    assert pub.loc["staged", "payment_per_participant"] % 2000 == 0


# ------------------------------------------------------------------------------------------
# the frame a design asks the panel for (DesignSpec.panel_columns), on each programme's plan
# ------------------------------------------------------------------------------------------
from tests._contract_panel import counterfactual_kw, plan_options, synthetic_panel  # noqa: E402

DESIGN_PLANS = plan_options("07_contract_design")


@pytest.mark.parametrize("programme,opt", DESIGN_PLANS, ids=[p for p, _ in DESIGN_PLANS])
def test_design_frame_gives_the_whole_panels_comparison(programme, opt):
    """Rules, incentive tables, the re-priced rule and the settlement sensitivity are the same on
    the frame of ``design.panel_columns`` as on the whole panel."""
    panel, assignment = synthetic_panel(programme)
    spec = ContractSpec.model_validate(opt.contract)
    design = compare.DesignSpec.model_validate(opt.design)
    assert set(design.panel_columns(spec)) - set(panel.columns) <= {"mapping_month"}
    frame = panel.person_period(design.panel_columns(opt.contract, panel.columns))
    assert set(frame.columns) < set(panel.columns)
    kw = counterfactual_kw(opt, panel, assignment)
    kw.pop("baseline")
    matched = matched_comparison(panel, seed=1, **opt.matching.model_dump())[0]
    sens_cf = {"main": kw, **{k: {"comparison": matched, **v} if v.get("counterfactual") == "matched" else v
                              for k, v in design.sensitivity.counterfactuals.items()}}
    out = {}
    for name, d in (("frame", frame), ("full", panel.data)):
        cmp = compare.compare_rules(d, spec, design.rules, true_effect=design.true_effect,
                                    relative=design.relative, effect_grid=[0, 1], n_draws=29, seed=4, **kw)
        inc = incentive_tables(cmp.results, d, design.incentives)
        even = pd.DataFrame()
        if design.even_rule is not None:
            cmp_even, _ = compare.compare_even_rule(d, spec, design, inc, seed=4, **kw)
            even = pd.concat([cmp_even.table, incentive_tables(cmp_even.results, d, design.incentives)])
        two_rules = {k: r.spec for k, r in list(cmp.results.items())[:2]}     # the test's time
        sens = compare.settlement_sensitivity(d, two_rules, sens_cf,
                                              (design.sensitivity.windows or [spec.window_months])[:2],
                                              assignment=assignment)
        out[name] = (cmp.table, cmp.curves, inc, even, sens)
    for a, b in zip(out["frame"], out["full"]):
        pd.testing.assert_frame_equal(a, b)
    on_disk = type(panel).from_store(panel.store, panel.flow, panel.meta)   # data not read yet
    cmp = compare.compare_rules(on_disk, spec, design.rules, true_effect=design.true_effect,
                                relative=design.relative, effect_grid=[0, 1], n_draws=29, seed=4, **kw)
    pd.testing.assert_frame_equal(incentive_tables(cmp.results, on_disk, design.incentives), out["full"][2])
    pd.testing.assert_frame_equal(cmp.table, out["full"][0])
    assert on_disk._data is None
