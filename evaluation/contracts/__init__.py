"""Outcome contracts (effektkontrakter): payment rules, counterfactuals, investor and public cash flows.

Declare the contract in the params file (``contract:``), validate it with :class:`ContractSpec`,
and evaluate it on the person-month panel with :func:`evaluate`::

    spec = ContractSpec.model_validate(params["contract"])
    res = evaluate(panel, spec, counterfactual="rct_control", uncertainty="bootstrap")
    res.summary(); res.schedule; res.cashflows; res.plot("cumulative"); res.to_indigo()

A ``did`` counterfactual can take its effect from a previous notebook's ``results.json`` entry
(:func:`effect_from_results`, :func:`resolve_effect`).
Target monitoring (Alna Aktiv) is in :func:`monitor_targets` and :func:`caseload`; the GO Lab
INDIGO export in :func:`to_indigo`; trial design for a payment threshold in
:func:`threshold_power` and :func:`threshold_required_n`.  Designing a contract before it is
signed: candidate rules side by side in :func:`compare_rules`, prices from counterfactual rates in
:func:`break_even_prices`, who a rule pays for in :func:`incentives` (and group prices that even it
out, :func:`even_group_prices`), the settlement under other counterfactuals and windows in
:func:`settlement_sensitivity`, the chosen rule as INDIGO in :func:`design_to_indigo`.
"""
from .spec import (COUNTERFACTUALS, CaseloadGoal, ContractSpec, Drawdown, EventOptions, EventSpec,
                   InvestorTerms, PublicSide, RateCard, RateCardItem, SharedSavings, Stage,
                   StagedPayment, Target, ThresholdPayment, builtin_events)
from .events import detect_events, prepare_panel
from .effects import EffectEstimate, effect_from_results, matched_comparison, resolve_effect
from .monitor import (CaseloadResult, TargetsResult, caseload, clopper_pearson_interval,
                      monitor_targets, wilson_interval)
from .indigo import to_indigo, to_indigo_json
from .design import (design_inputs, design_table, threshold_power, threshold_required_n,
                     threshold_se)
from .compare import (MONEY_PER_PERSON, MONEY_TOTALS, RuleComparison, candidate_specs,
                      compare_even_rule, compare_rules, design_to_indigo, irr, money_spec,
                      settlement_sensitivity, with_window)
from .pricing import break_even_prices, even_group_prices, event_rate, incentive_tables, incentives
from .engine import (QUANTITIES, REPAYMENT_CATEGORIES, ContractResult, apply_contract_cap,
                     comparison_from_sample, describe_contract, evaluate,
                     person_payments, repayment_category, settle, threshold_probability)

__all__ = [
    "COUNTERFACTUALS", "CaseloadGoal", "ContractSpec", "Drawdown", "EventOptions", "EventSpec",
    "InvestorTerms", "PublicSide", "RateCard", "RateCardItem", "SharedSavings", "Stage",
    "StagedPayment", "Target", "ThresholdPayment", "builtin_events", "detect_events",
    "prepare_panel", "QUANTITIES", "REPAYMENT_CATEGORIES", "ContractResult", "apply_contract_cap",
    "evaluate", "person_payments", "repayment_category", "settle", "threshold_probability",
    "CaseloadResult", "TargetsResult", "caseload", "clopper_pearson_interval", "monitor_targets",
    "wilson_interval", "to_indigo", "to_indigo_json", "threshold_power", "threshold_required_n",
    "threshold_se", "comparison_from_sample", "describe_contract", "design_inputs", "design_table",
    "EffectEstimate", "effect_from_results", "matched_comparison", "resolve_effect",
    "MONEY_PER_PERSON", "MONEY_TOTALS", "money_spec", "RuleComparison", "candidate_specs", "compare_even_rule", "compare_rules", "incentive_tables", "design_to_indigo", "irr",
    "settlement_sensitivity", "with_window", "break_even_prices", "even_group_prices", "event_rate",
    "incentives",
]
