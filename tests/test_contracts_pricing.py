"""Prices from counterfactual rates and incentive diagnostics (evaluation.contracts.pricing),
checked by hand on tests/_contract_panel.py."""
import numpy as np
import pytest

from evaluation.contracts import ContractSpec, evaluate, pricing
from evaluation.contracts.spec import GroupPrices
from tests._contract_panel import BEYOND, CONTRACT, STAGED, contract_panel


@pytest.fixture(scope="module")
def staged():
    return evaluate(contract_panel(), ContractSpec.model_validate(CONTRACT), uncertainty=None)


def test_event_rate(staged):
    c, se, n = pricing.event_rate(staged, "job_kept")
    assert (c, n) == (pytest.approx(0.4), 10)
    assert se == pytest.approx(np.sqrt(0.4 * 0.6 / 10))


def test_break_even_prices_by_hand():
    t = pricing.break_even_prices(0.4, 0.0, target_effect=0.1, value_per_outcome=100000,
                                  budget=50000, n_participants=10).set_index("counterfactual")
    assert t.loc["estimate", "break_even_price"] == pytest.approx(0.1 * 100000 / 0.5)   # 20 000
    assert t.loc["estimate", "budget_price"] == pytest.approx(50000 / (10 * 0.5))        # 10 000
    assert t.loc["estimate", "price"] == pytest.approx(10000)
    assert t.loc["estimate", "deadweight_share"] == pytest.approx(0.8)
    w = pricing.break_even_prices(0.4, 0.05, target_effect=0.1, value_per_outcome=100000)
    assert w["break_even_price"].is_monotonic_decreasing        # a higher counterfactual rate, a lower price
    with pytest.raises(ValueError, match="target_effect"):
        pricing.break_even_prices(0.4, 0.05, target_effect=0, value_per_outcome=1)
    with pytest.raises(ValueError, match="n_participants"):
        pricing.break_even_prices(0.4, 0.05, target_effect=0.1, value_per_outcome=1, budget=10)


def test_incentives_by_hand(staged):
    t = pricing.incentives(staged, contract_panel(), "sa_months_24", cuts=[12]).set_index("group")
    # long-term group: all 5 participants get a job (10 000 each); controls 4 of 5 (8 400 anyway)
    assert t.loc["[12, inf)", "payment"] == pytest.approx(10000)
    assert t.loc["[12, inf)", "paid_anyway"] == pytest.approx(8400)
    # others: one job among 5 participants, none among the controls
    assert t.loc["[-inf, 12)", "payment"] == pytest.approx((10000 + 4 * 2000) / 5)
    assert t.loc["[-inf, 12)", "paid_anyway"] == pytest.approx(2000)
    assert t["effect"].to_numpy() == pytest.approx([1600, 1600])


def test_incentives_threshold_rule():
    res = evaluate(contract_panel(), ContractSpec.model_validate({**CONTRACT, "payment": BEYOND}), uncertainty=None)
    t = pricing.incentives(res, contract_panel(), "sa_months_24", cuts=[12]).set_index("group")
    # long-term: 5/5 participants vs 4/5 controls kept a job: 0.2 x 50 000 per participant
    assert t.loc["[12, inf)", "payment"] == pytest.approx(10000)
    assert t.loc["[-inf, 12)", "payment"] == pytest.approx(0.2 * 50000)
    assert (t["paid_anyway"] == 0).all()


def test_even_group_prices_even_out_the_no_effect_payment(staged):
    t = pricing.incentives(staged, contract_panel(), "sa_months_24", cuts=[12])
    rule = pricing.even_group_prices(t, STAGED, column="sa_months_24", cuts=[12])
    f = rule["group_prices"]["factors"]
    assert f == pytest.approx([5200 / 2000, 5200 / 8400], abs=1e-4)
    # budget neutral with no effect: sum n_g f_g c_g = n cbar
    assert 5 * f[0] * 2000 + 5 * f[1] * 8400 == pytest.approx(10 * 5200, rel=1e-4)
    ContractSpec.model_validate({**CONTRACT, "payment": rule})      # a valid rule


def test_group_prices_bins_follow_find_interval():
    gp = GroupPrices(column="sa_months_24", cuts=[12], factors=[0.5, 2.0])
    assert list(gp.factors_for([0, 11.999, 12, 24, np.nan])) == [0.5, 0.5, 2.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="factors"):
        GroupPrices(column="sa_months_24", cuts=[12], factors=[1.0])
    with pytest.raises(ValueError, match="not a panel column"):
        GroupPrices(column="sa_months24", levels={"a": 1.0})


def test_incentives_unknown_column(staged):
    with pytest.raises(ValueError, match="not in the panel"):
        pricing.incentives(staged, contract_panel(), "no_such")


def test_incentive_tables_stack_rules_and_groups(staged):
    t = pricing.incentive_tables({"staged": staged}, contract_panel(),
                                 [{"column": "sa_months_24", "cuts": [12]}])
    assert list(t["rule"].unique()) == ["staged"] and len(t) == 2
    assert pricing.incentive_tables({}, contract_panel(), []).empty
