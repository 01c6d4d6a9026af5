"""Export a contract and its results in the GO Lab INDIGO data standard's terms (project schema).

Field names follow ``schema/project.json`` of INDIGO-Initiative/indigo-data-standard: values are
wrapped as ``{"value": ...}``; ``outcome_metrics`` (definition, target population, targeted number,
outcome_metric_target, outcome_validation_method, data_source_for_outcome_validation),
``outcome_pricings`` (price_per_unit, maximum_price_if_all_targets_achieved),
``results`` (number_engaged_in_impact_bond, number_with_positive_social_outcomes),
``outcome_payments``, ``investments`` (investment_commitment, investor_repayment) and
``overall_project_finance`` (maximum_potential_outcome_payment_v2, total_outcome_payments_made).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

from .. import disclosure as dc
from .._io import atomic_write_text, to_jsonable
from ..disclosure import round_amount
from .spec import (COUNTERFACTUALS, REPAYMENT_CATEGORIES, RateCard, SharedSavings, StagedPayment,
                   ThresholdPayment)

if TYPE_CHECKING:  # the settlement's result type, for annotations only (engine imports this module)
    from .engine import ContractResult


def _v(x):
    return {"value": x}


def _count(n, threshold: int):
    """Disclosure control: counts 1..threshold-1 are not published."""
    if n is None:
        return None
    n = int(n)
    return None if 0 < n < threshold else n


def to_indigo(res: ContractResult, *, disclosure_threshold: int = 5,
              rounding_base: Optional[int] = None,
              data_source: str = "Administrative register data (NAV, a-ordningen)",
              result_type: str = "Final") -> dict:
    """The contract and its results as an INDIGO project record (a JSON-ready dict)."""
    spec = res.spec
    p = spec.payment
    cur = spec.currency
    events = spec.all_events()
    validation = spec.validation_method or COUNTERFACTUALS.get(res.counterfactual, "Not available")
    n_part = res.n_participants
    ev_rates = res.events
    metrics, pricings, results, payments = [], [], [], []
    step = (rounding_base or disclosure_threshold) * largest_unit_price(res)

    def paid_amount(x):  # amounts paid are counts x prices: rounded (disclosure gate)
        return None if x is None else round_amount(float(x), step)

    def achieved(event):
        if ev_rates is None or ev_rates.empty:
            return None
        r = ev_rates[(ev_rates["event"] == event) & (ev_rates["group"] == "participants")]
        return int(r["persons"].iloc[0]) if len(r) else 0

    if isinstance(p, (StagedPayment, RateCard)):
        items = p.items() if isinstance(p, StagedPayment) else p.items_list()
        paid = res.schedule.groupby("item")["amount"].sum() if not res.schedule.empty else {}
        for label, event, price in items:
            definition = "initial mapping completed" if event == "mapping" else events[event].description
            metrics.append({"id": label, "definition": _v(definition),
                            "target_population": _v(spec.target_population),
                            "targeted_number_of_service_users_or_beneficiaries_total": _v(spec.targeted_participants),
                            "unit_type_of_targeted_service_users_or_beneficiaries": _v("Individual"),
                            "outcome_validation_method": _v(validation),
                            "data_source_for_outcome_validation": _v(data_source)})
            maxp = price * (spec.targeted_participants or n_part)
            pricings.append({"outcome_metric_id": _v(label), "currency": _v(cur),
                             "price_per_unit": {"amount": _v(price)},
                             "maximum_price_if_all_targets_achieved": {"amount": _v(str(maxp))},
                             "price_description": _v(f"{price:g} {cur} per participant"
                                                     + (f" ({price / p.price:.0%} of the price)"
                                                        if isinstance(p, StagedPayment) else ""))})
            results.append({"outcome_metric_id": _v(label), "result_level": _v("Outcome level"),
                            "result_type": _v(result_type),
                            "number_engaged_in_impact_bond": _v(_count(n_part, disclosure_threshold)),
                            "number_with_positive_social_outcomes": _v(_count(achieved(event), disclosure_threshold))})
            payments.append({"outcome_metric_id": _v(label), "type": _v("Actual"),
                             "money": {"currency": _v(cur), "amount": _v(paid_amount(paid.get(label, 0.0)))}})
    elif isinstance(p, ThresholdPayment):
        mid = p.outcome
        metrics.append({"id": mid, "definition": _v(
            f"{p.outcome} per participant over {p.window_months} months after start, "
            f"{'fewer' if p.direction == 'decrease' else 'more'} than the counterfactual by at least "
            f"{p.margin:.1%} overall" + (f" or {p.cohort_margin:.1%} in a cohort (early payment)"
                                         if p.cohort_margin else "")),
            "target_population": _v(spec.target_population),
            "targeted_number_of_service_users_or_beneficiaries_total": _v(spec.targeted_participants),
            "outcome_metric_target": _v(f"{p.margin:.1%} relative {p.direction} vs counterfactual"),
            "outcome_validation_method": _v(validation),
            "data_source_for_outcome_validation": _v(data_source)})
        pricings.append({"outcome_metric_id": _v(mid), "currency": _v(cur),
                         "price_per_unit": {"amount": _v(p.price_per_event)},
                         "maximum_price_if_all_targets_achieved": {"amount": _v(
                             str(p.contract_cap) if p.contract_cap else None)},
                         "price_description": _v(f"{p.price_per_event:g} {cur} per event avoided")})
        diff = res.means.set_index("quantity").loc["outcome"] if "outcome" in set(res.means["quantity"]) else None
        results.append({"outcome_metric_id": _v(mid), "result_level": _v("Outcome level"),
                        "result_type": _v(result_type),
                        "number_engaged_in_impact_bond": _v(_count(n_part, disclosure_threshold)),
                        "other_description_of_result": _v(
                            None if diff is None else
                            f"participants {diff['participants']:.3f} vs counterfactual "
                            f"{diff['counterfactual']:.3f} per person ({res.counterfactual})")})
        payments.append({"outcome_metric_id": _v(mid), "type": _v("Actual"),
                         "money": {"currency": _v(cur), "amount": _v(paid_amount(res.payment))}})
    elif isinstance(p, SharedSavings):
        metrics.append({"id": "completion", "definition": _v(events[p.completion_event].description
                                                             if p.completion_event in events else p.completion_event),
                        "outcome_validation_method": _v("Simple ex-post verification"),
                        "data_source_for_outcome_validation": _v(data_source)})
        metrics.append({"id": "savings", "definition": _v(
            f"{p.savings_share:.0%} of savings on {p.benefit_column} and {p.tax_share:.0%} of tax "
            f"({p.tax_rate:.0%}) on the earnings gain vs counterfactual"),
            "outcome_validation_method": _v(validation),
            "data_source_for_outcome_validation": _v(data_source)})
        pricings.append({"outcome_metric_id": _v("completion"), "currency": _v(cur),
                         "price_per_unit": {"amount": _v(p.fee_per_completion)}})
        pricings.append({"outcome_metric_id": _v("savings"), "currency": _v(cur),
                         "price_description": _v("share of savings and tax gains")})
        payments.append({"outcome_metric_id": _v("all"), "type": _v("Actual"),
                         "money": {"currency": _v(cur), "amount": _v(paid_amount(res.payment))}})
    out = _project_record(res, metrics, pricings, results, payments, paid_amount, disclosure_threshold)
    if spec.investor is not None:
        _add_investment(out, spec.investor, res.repayment_category, cur)
    return out


def _project_record(res: ContractResult, metrics: list, pricings: list, results: list, payments: list,
                    paid_amount, disclosure_threshold: int) -> dict:
    """The INDIGO project record around the rule's metrics, pricings, results and payments."""
    spec = res.spec
    cur = spec.currency
    n_part = res.n_participants
    out = {
        "name": _v(spec.name),
        "service_and_beneficiaries": {
            "target_population": _v(spec.target_population),
            "targeted_number_service_users_or_beneficiaries_total": _v(spec.targeted_participants),
            "actual_number_service_users_or_beneficiaries_total": _v(_count(n_part, disclosure_threshold))},
        "overall_project_finance": {
            "maximum_potential_outcome_payment_v2": {"currency": _v(cur),
                                                     "amount": _v(res.totals.get("max_potential_payment"))},
            "total_outcome_payments_made": {"currency": _v(cur), "amount": _v(paid_amount(res.payment))}},
        "outcome_metrics": metrics,
        "outcome_pricings": pricings,
        "results": results,
        "outcome_payments": payments,
        "evaluation_suite": {"counterfactual": res.counterfactual,
                             "counterfactual_description": res.counterfactual_description,
                             "deadweight": paid_amount(res.deadweight),
                             "expected_payment": paid_amount(res.expected_payment),
                             "probabilities": res.probabilities},
    }
    return out


def _add_investment(out: dict, inv, cat, cur: str) -> None:
    """The investor's commitment and repayment category (``investments`` and the finance totals)."""
    out["investments"] = [{"id": inv.name, "investment_commitment": {
        "currency": _v(cur), "amount": {"exact": _v(inv.capital)}},
        "maximum_potential_loss": _v("100%"),
        "maximum_potential_return_type": _v("Average annual return"),
        "maximum_potential_return": _v(inv.return_rate * 100),
        "investor_repayment": _v(REPAYMENT_CATEGORIES.get(cat, "Not publicly available"))}]
    out["overall_project_finance"]["total_investment_commitment"] = {
        "currency": _v(cur), "amount": {"exact": _v(inv.capital)}}
    out["overall_project_finance"]["investor_repayment"] = _v(REPAYMENT_CATEGORIES.get(cat))

def largest_unit_price(res: ContractResult) -> float:
    """The largest price paid for one person's outcome under the rule (amounts are rounded to a
    multiple of ``rounding_base`` times it)."""
    p = res.spec.payment
    if isinstance(p, StagedPayment):
        prices = [price for _, _, price in p.items()]
    elif isinstance(p, RateCard):
        prices = [price for _, _, price in p.items_list()]
    elif isinstance(p, ThresholdPayment):
        prices = [p.price_per_event]
    elif isinstance(p, SharedSavings):
        prices = [p.fee_per_completion or 0.0]
    else:  # pragma: no cover
        prices = []
    prices = [float(x) for x in prices if x]
    gp = getattr(p, "group_prices", None)
    factor = 1.0
    if gp is not None:   # group-specific prices: the largest factor scales the largest price
        factor = max([gp.default, *(gp.levels.values() if gp.levels else gp.factors)])
    return factor * max(prices) if prices else 1.0


def to_indigo_json(res: ContractResult, path: Optional[str] = None, *, disclosure=None, **kw) -> str:
    """JSON text of :func:`to_indigo` after the disclosure gate; written to ``path`` if given.

    Counts pass the gate (``1 .. threshold-1`` not published) and amounts paid, which are counts
    times prices, are rounded to ``rounding_base x`` the largest unit price of the rule
    (:func:`evaluation.disclosure.gate_value`).
    """
    opts = dc.options(kw.pop("disclosure_threshold", None), disclosure)
    record = to_indigo(res, disclosure_threshold=opts.threshold, rounding_base=opts.base, **kw)
    return gated_json(record, path, disclosure=opts)


def gated_json(record: dict, path: Optional[str] = None, *, disclosure=None) -> str:
    """An INDIGO record as JSON text after the disclosure gate, written atomically to ``path``."""
    opts = dc.options(None, disclosure)
    text = json.dumps(dc.gate_value(to_jsonable(record), opts), indent=2, ensure_ascii=False)
    if path is not None:
        atomic_write_text(path, text)
    return text
