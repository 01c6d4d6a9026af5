"""Design a contract before it is signed: candidate payment rules compared on the same data.

A commissioner, a social investor and a provider need, before signing, what each candidate rule
would pay on the programme's data and counterfactual, how much of it would have been paid anyway,
how likely it is to pay for nothing and to pay nothing for a real effect, what it means for the
public purse and the investor, whom it pays for, and how the settlement moves with the
counterfactual and the window.  Every function here re-uses :func:`~evaluation.contracts.evaluate`
(the same per-person quantities, bootstrap draws and settlement as a signed contract), so a rule
chosen here settles exactly as it was compared.

Quantities (per rule, ``n`` participants, bootstrap draws ``b`` of the participants' and the
counterfactual group means ``T_b``, ``C_b`` by cohort, their point values ``T``, ``C``):

* expected payment ``E_b[pay(T_b, C_b)]``;
* deadweight ``E_b[pay(T_b - (T - C), C_b)]``: the same draws with the participants moved onto the
  counterfactual (zero true effect); its share of the expected payment, and of the payment at the
  stated true effect;
* ``P(pay > 0 | no effect)`` over the zero-effect draws, and ``P(pay = 0 | effect δ)`` over the
  draws ``T_b - (T - C) + δ`` (δ per outcome, mapped to the rule's quantities as
  :func:`~evaluation.contracts.evaluate` maps an effect: a payment event moves the payable amount
  by its price, an outcome column moves the threshold outcome);
* public net benefit; the investor's repayment and internal rate of return per draw (the
  repayment profile of the point settlement scaled to each draw's total).

References: GO Lab, *INDIGO data standard* (outcome pricing, payment plan); Carter et al. (2018),
*Building the tools for public services to secure better outcomes* (deadweight and pricing from
counterfactual rates); DWP, *Youth Engagement Fund rate card* (group-weighted prices).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .. import disclosure as dc
from ..results import TableResult, _records
from .engine import _Q, ContractResult, _by_quantity, _resolve_quantity, evaluate, settle
from .indigo import gated_json, largest_unit_price, to_indigo
from .pricing import even_group_prices
from .spec import ContractSpec, keep_available

#: Columns of :attr:`RuleComparison.table` (one row per candidate rule).
COMPARISON_COLUMNS = ["rule", "type", "n", "payment", "expected_payment", "payment_per_participant",
                      "deadweight", "deadweight_share", "payment_at_effect",
                      "deadweight_share_at_effect", "p_pay_no_effect", "p_no_pay_at_effect",
                      "public_net_benefit", "investor_multiple_median", "investor_irr_median",
                      "p_investor_repaid"]


# ------------------------------------------------------------------------------------------
# candidate rules
# ------------------------------------------------------------------------------------------
def candidate_specs(spec: ContractSpec, rules: Mapping[str, Any], *,
                    investor: Optional[Mapping] = None) -> dict[str, ContractSpec]:
    """One :class:`ContractSpec` per candidate rule: ``spec`` with its payment replaced.

    ``rules`` maps a rule's name to a payment section (the schema of ``contract.payment``) or to a
    dict of contract fields to replace (must include ``payment``).  ``investor`` (the same terms
    for every rule) replaces the contract's investor.  Errors name ``design.rules.<name>``.
    """
    if not rules:
        raise ValueError("design.rules is empty: list at least one candidate payment rule")
    base = spec.model_dump(exclude_none=True)
    if investor is not None:
        base["investor"] = dict(investor)
    out = {}
    for name, rule in rules.items():
        upd = dict(rule) if "payment" in rule else {"payment": dict(rule)}
        try:
            out[str(name)] = ContractSpec.model_validate({**base, **upd, "name": f"{spec.name}: {name}"})
        except ValidationError as exc:
            tags = {"staged", "rate_card", "threshold", "shared_savings"}
            msgs = "; ".join(f"design.rules.{name}."
                             f"{'.'.join(str(x) for x in e['loc'] if x not in tags)}: {e['msg']}"
                             for e in exc.errors())
            raise ValueError(msgs) from None
    return out


def _effect_vector(spec: ContractSpec, effect: Mapping[str, float] | None, C_hat, Tn,
                   relative: bool) -> np.ndarray:
    """δ on the five quantities for ``spec``: keys the rule does not use are ignored."""
    d = np.zeros(len(_Q))
    if not effect:
        return d
    used = {k: v for k, v in effect.items() if _resolve_quantity(k, spec) is not None}
    if relative:
        pooled = (Tn[:, None] * C_hat).sum(0) / Tn.sum()
        for k, v in used.items():
            q, mult = _resolve_quantity(k, spec)
            if q == "payable":
                raise ValueError(f"a relative true effect on {k!r} (a payment event) is not defined; "
                                 "give design.true_effect in absolute terms (a change in the event rate)")
            used[k] = v * pooled[_Q[q]]
    for q, (e, _) in _by_quantity(used, spec, "true effect").items():
        d[_Q[q]] += e
    return d


def _settle_at(res: ContractResult, delta: np.ndarray) -> dict[str, np.ndarray]:
    """Settle ``res``'s draws with the participants at the counterfactual plus ``delta``."""
    it = res.internals
    Tb, Cb = it["Tb"], it["Cb"]
    if Tb is None:
        raise ValueError("rule comparison needs draws: evaluate with uncertainty='bootstrap' or 'normal'")
    Tz = Tb - (it["Tc"] - it["Cc"])[None] + delta[None, None, :]
    return settle(res.spec, Tz, Cb, np.broadcast_to(it["Tn"], Tb.shape[:2]))


# ------------------------------------------------------------------------------------------
# the investor's internal rate of return
# ------------------------------------------------------------------------------------------
def irr(flows: np.ndarray, *, periods_per_year: int = 12) -> np.ndarray:
    """Annual internal rate of return of each row of monthly cash ``flows`` (draws x months).

    Solves ``sum_t flows[t] / (1 + r)^t = 0`` for the monthly ``r`` by bisection (one sign change:
    drawdowns first, repayments later) and returns ``(1 + r)^periods_per_year - 1``; ``-1`` (all
    lost) where nothing is repaid, ``nan`` where nothing is invested or where no monthly rate up to
    100 % makes the value zero (repayments before most of the capital is drawn: the IRR is then not
    a meaningful summary; use the money multiple).
    """
    flows = np.atleast_2d(np.asarray(flows, dtype=float))
    t = np.arange(flows.shape[1])
    lo = np.full(flows.shape[0], -0.99)
    hi = np.full(flows.shape[0], 1.0)
    for _ in range(100):
        mid = (lo + hi) / 2
        npv = (flows / (1 + mid[:, None]) ** t).sum(axis=1)
        pos = npv > 0                     # NPV falls with r: positive -> the root lies above
        lo = np.where(pos, mid, lo)
        hi = np.where(pos, hi, mid)
    r = (1 + (lo + hi) / 2) ** periods_per_year - 1
    r = np.where((flows / 2.0 ** t).sum(axis=1) > 0, np.nan, r)   # no root below 100 % a month
    paid_in = (flows < 0).any(axis=1)
    repaid = np.where(flows > 0, flows, 0).sum(axis=1)
    return np.where(~paid_in, np.nan, np.where(repaid <= 0, -1.0, r))


def investor_irr(res: ContractResult, repaid: np.ndarray) -> np.ndarray:
    """IRR of the investor for each draw's total repayment ``repaid``.

    Drawdowns are the contract's; repayments follow the point settlement's monthly profile scaled
    to each draw's total (a single repayment at the end of the window when the point settlement
    repays nothing).
    """
    cf = res.cashflows
    if res.spec.investor is None or "investor_drawdown" not in cf.columns:
        return np.full(len(repaid), np.nan)
    months = pd.period_range(cf["month"].min(), cf["month"].max() + pd.DateOffset(months=1), freq="M")
    pos = pd.PeriodIndex(pd.to_datetime(cf["month"]), freq="M")
    k = months.get_indexer(pos)
    draw = np.zeros(len(months))
    prof = np.zeros(len(months))
    np.add.at(draw, k, cf["investor_drawdown"].to_numpy())
    np.add.at(prof, k, cf["investor_repayment"].to_numpy())
    if prof.sum() <= 0:
        prof[-1] = 1.0
    prof = prof / prof.sum()
    flows = -draw[None, :] + np.asarray(repaid, dtype=float)[:, None] * prof[None, :]
    return irr(flows)


# ------------------------------------------------------------------------------------------
# the comparison
# ------------------------------------------------------------------------------------------
@dataclass
class RuleComparison(TableResult):
    """Candidate payment rules side by side (:func:`compare_rules`).

    ``table`` has one row per rule (:data:`COMPARISON_COLUMNS`); ``curves`` the probability of
    payment and the expected payment against the size of the true effect; ``irr`` the investor's
    IRR per draw and rule; ``results`` the :class:`ContractResult` of each rule (not published).
    """

    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    irr: pd.DataFrame = field(default_factory=pd.DataFrame)
    results: dict = field(default_factory=dict, repr=False)
    true_effect: dict = field(default_factory=dict)
    currency: str = "NOK"

    def summary(self) -> str:
        eff = ", ".join(f"{k} {v:+g}" for k, v in self.true_effect.items()) or "none"
        return (f"{self.method}\n  stated true effect: {eff}\n"
                + self.table.to_string(index=False, float_format=lambda x: f"{x:,.4g}"))

    def to_dict(self) -> dict:
        return {"method": self.method, "true_effect": dict(self.true_effect),
                "currency": self.currency, "table": _records(self.table),
                "curves": _records(self.curves)}

    def plot(self, kind: str = "payments", ax=None):
        """``"payments"`` (expected payment split into deadweight and the rest), ``"curve"``
        (probability of payment against the true effect) or ``"irr"`` (investor IRR draws)."""
        from .design_plots import plot_comparison
        return plot_comparison(self, kind=kind, ax=ax)


def _rule_row(name: str, res: ContractResult, delta: np.ndarray) -> dict:
    at = _settle_at(res, delta)
    zero = res.draws["payment_zero"].to_numpy()
    pay = res.draws["payment"].to_numpy()
    n = res.n_participants
    exp_pay, dead = float(pay.mean()), float(zero.mean())
    at_eff = float(at["payment"].mean())
    row = {"rule": name, "type": res.spec.payment.type, "n": n, "payment": res.payment,
           "expected_payment": exp_pay, "payment_per_participant": exp_pay / n,
           "deadweight": dead, "deadweight_share": dead / exp_pay if exp_pay > 0 else np.nan,
           "payment_at_effect": at_eff,
           "deadweight_share_at_effect": dead / at_eff if at_eff > 0 else np.nan,
           "p_pay_no_effect": float((zero > 0).mean()),
           "p_no_pay_at_effect": float((at["payment"] <= 0).mean()),
           "public_net_benefit": float(res.totals["public_net_benefit"]),
           "investor_multiple_median": np.nan, "investor_irr_median": np.nan,
           "p_investor_repaid": np.nan}
    if "investor_repaid" in res.draws:
        rep = res.draws["investor_repaid"].to_numpy()
        r = investor_irr(res, rep)
        row["investor_multiple_median"] = float(np.median(rep) / res.spec.investor.capital)
        row["investor_irr_median"] = float(np.nanmedian(r)) if np.isfinite(r).any() else np.nan
        row["p_investor_repaid"] = float(res.probabilities.get("investor_repaid", np.nan))
    return row


def compare_rules(panel, spec, rules: Mapping[str, Any], *, true_effect: Mapping[str, float] | None = None,
                  relative: bool = False, effect_grid: Sequence[float] = tuple(np.linspace(0, 2, 9)),
                  investor: Optional[Mapping] = None, counterfactual: str = "rct_control",
                  n_draws: int = 999, seed: int = 0, **evaluate_kw) -> RuleComparison:
    """Evaluate candidate payment rules on the same data and counterfactual.

    Parameters
    ----------
    panel, spec
        As for :func:`~evaluation.contracts.evaluate`; ``spec`` supplies everything but the payment.
    rules : mapping
        Rule name -> payment section (``contract.payment`` schema), see :func:`candidate_specs`.
    true_effect : mapping, optional
        The true effect of a stated size, by payment event, outcome column or quantity (e.g.
        ``{"job_kept": 0.05, "job_kept_6m": 0.05}``: five more persons in a hundred keep a job).
        Keys a rule does not use do not move its payment.
    relative : bool
        ``true_effect`` values are relative to the counterfactual mean (outcome columns only, e.g.
        ``{"reoffence_events": -0.10}`` for 10 % fewer events).
    effect_grid : sequence of float
        Multiples of ``true_effect`` for :attr:`RuleComparison.curves`.
    investor : mapping, optional
        Investor terms applied to every rule (for the IRR distribution).
    counterfactual, n_draws, seed, **evaluate_kw
        Passed to :func:`~evaluation.contracts.evaluate` (bootstrap over participants by default;
        ``uncertainty="normal"`` is needed with a ``did`` counterfactual).
    """
    base = spec if isinstance(spec, ContractSpec) else ContractSpec.model_validate(dict(spec))
    specs = candidate_specs(base, rules, investor=investor)
    evaluate_kw.setdefault("uncertainty", "normal" if counterfactual == "did" else "bootstrap")
    rows, curves, irrs, results = [], [], [], {}
    for name, s in specs.items():
        res = evaluate(panel, s, counterfactual=counterfactual, n_draws=n_draws, seed=seed, **evaluate_kw)
        it = res.internals
        delta = _effect_vector(s, true_effect, it["C_hat"], it["Tn"], relative)
        rows.append(_rule_row(name, res, delta))
        for m in effect_grid:
            at = _settle_at(res, m * delta)
            curves.append({"rule": name, "multiple": float(m), "p_payment": float((at["payment"] > 0).mean()),
                           "expected_payment": float(at["payment"].mean())})
        if "investor_repaid" in res.draws:
            irrs.append(pd.DataFrame({"rule": name, "irr": investor_irr(res, res.draws["investor_repaid"].to_numpy())}))
        results[name] = res
    curves = pd.DataFrame(curves)
    if true_effect:
        key, val = next(iter(true_effect.items()))
        curves[f"true_effect_{key}"] = curves["multiple"] * val
    return RuleComparison(
        table=pd.DataFrame(rows)[COMPARISON_COLUMNS],
        method=f"Candidate payment rules for {base.name} against the {counterfactual} counterfactual "
               f"({n_draws} draws)",
        curves=curves, irr=pd.concat(irrs, ignore_index=True) if irrs else pd.DataFrame(),
        results=results, true_effect=dict(true_effect or {}), currency=base.currency)


# ------------------------------------------------------------------------------------------
# sensitivity of the settlement and export of the chosen rule
# ------------------------------------------------------------------------------------------
def with_window(spec: ContractSpec, months: int) -> ContractSpec:
    """``spec`` with the evaluation window (and a threshold rule's outcome window) set to ``months``."""
    d = spec.model_dump(exclude_none=True)
    d["window_months"] = int(months)
    if d["payment"]["type"] == "threshold":
        d["payment"]["window_months"] = int(months)
    return ContractSpec.model_validate(d)


def _used_keys(values, spec: ContractSpec):
    """An effect/baseline dict restricted to the keys ``spec``'s rule uses (other values as given)."""
    if not isinstance(values, Mapping) or "estimate" in values:
        return values
    return {k: v for k, v in values.items() if _resolve_quantity(k, spec) is not None}


def settlement_sensitivity(panel, specs: Mapping[str, ContractSpec],
                           counterfactuals: Mapping[str, Mapping[str, Any]],
                           windows: Sequence[int], *, grid: str = "one_at_a_time",
                           **evaluate_kw) -> pd.DataFrame:
    """Point settlement of every rule under other counterfactuals and evaluation windows.

    ``counterfactuals`` maps a label to the keyword arguments of
    :func:`~evaluation.contracts.evaluate` that define it (``counterfactual=`` and its
    ``comparison=``, ``effect=`` or ``baseline=``); the first is the reference.  ``grid="full"``
    settles every counterfactual at every window; ``"one_at_a_time"`` (default) every
    counterfactual at the rule's own window and every window with the reference counterfactual.
    Returns one row per rule, counterfactual and window: the payment, the payment with no effect
    (participants at the counterfactual), the public net benefit and, for threshold rules,
    whether the threshold is met.
    """
    if grid not in ("full", "one_at_a_time"):
        raise ValueError(f"grid must be 'full' or 'one_at_a_time', got {grid!r}")
    first = next(iter(counterfactuals))
    rows = []
    for name, spec in specs.items():
        cells = [(label, w) for w in windows for label in counterfactuals] if grid == "full" else \
            list(dict.fromkeys([(label, spec.window_months) for label in counterfactuals]
                               + [(first, w) for w in windows]))
        for label, w in cells:
            s = with_window(spec, w)
            kw = {k: _used_keys(v, s) if k in ("effect", "baseline") else v
                  for k, v in counterfactuals[label].items()}
            res = evaluate(panel, s, uncertainty=None, detail=False, **{**evaluate_kw, **kw})
            rows.append({"rule": name, "counterfactual": label, "window_months": int(w),
                         "payment": res.payment, "payment_no_effect": res.totals["deadweight_point"],
                         "public_net_benefit": res.totals["public_net_benefit"],
                         "threshold_met": res.totals.get("threshold_met")})
    return pd.DataFrame(rows)


def design_to_indigo(comparison: RuleComparison, chosen: str, path: Optional[str] = None, *,
                     disclosure=None) -> dict:
    """The chosen rule as an INDIGO record (outcome metrics, pricing, payment plan) with the
    expected figures of the comparison (expected payment, deadweight, probabilities), after the
    disclosure gate (amounts rounded as in :func:`~evaluation.contracts.to_indigo_json`); written
    atomically to ``path`` if given."""
    import json

    if chosen not in comparison.results:
        raise ValueError(f"design.chosen {chosen!r} is not one of the candidate rules "
                         f"{list(comparison.results)}")
    opts = dc.options(None, disclosure)
    rec = to_indigo(comparison.results[chosen], result_type="Expected",
                    disclosure_threshold=opts.threshold, rounding_base=opts.base)
    row = comparison.table.set_index("rule").loc[chosen]
    rec["outcome_payment_plan"] = {
        "rule": chosen, "currency": comparison.currency,
        "expected_outcome_payment": {"value": float(row["expected_payment"])},
        "expected_deadweight": {"value": float(row["deadweight"])},
        "probability_of_payment_with_no_effect": {"value": float(row["p_pay_no_effect"])},
        "probability_of_no_payment_at_stated_effect": {"value": float(row["p_no_pay_at_effect"])},
        "stated_true_effect": {"value": dict(comparison.true_effect)},
    }
    return json.loads(gated_json(rec, path, disclosure=opts))


# ------------------------------------------------------------------------------------------
# the design section of a params file
# ------------------------------------------------------------------------------------------
class PriceSpec(BaseModel):
    """``design.prices``: the price per outcome from the counterfactual rate."""

    model_config = ConfigDict(extra="forbid")
    event: str = Field(description="payment event priced (e.g. job_kept)")
    target_effect: float = Field(gt=0, le=1, description="effect the commissioner hopes for, in rate points")
    value_per_outcome: float = Field(gt=0, description="public value of one additional outcome")
    budget: Optional[float] = Field(None, gt=0, description="outcome budget for all participants")


class IncentiveGroup(BaseModel):
    """``design.incentives[]``: a baseline column (and cut points for a numeric one)."""

    model_config = ConfigDict(extra="forbid")
    column: str
    cuts: Optional[list[float]] = None


class SensitivitySpec(BaseModel):
    """``design.sensitivity``: counterfactuals (label -> evaluate arguments) and windows."""

    model_config = ConfigDict(extra="forbid")
    counterfactuals: dict[str, dict[str, Any]] = Field(default_factory=dict)
    windows: list[int] = Field(default_factory=list)


class DesignSpec(BaseModel):
    """The ``design:`` section of a params file: candidate rules and what to compare.

    Examples
    --------
    ``design: {rules: {staged: {...}, beyond: {...}}, true_effect: {job_kept: 0.05}, chosen: beyond}``
    """

    model_config = ConfigDict(extra="forbid")
    rules: dict[str, dict[str, Any]] = Field(min_length=1, description="rule name -> payment section")
    true_effect: dict[str, float] = Field(default_factory=dict, description="true effect of a stated "
                                          "size by payment event / outcome column")
    relative: bool = False
    effect_grid: list[float] = Field(default_factory=lambda: [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2])
    investor: Optional[dict[str, Any]] = None
    n_draws: int = Field(499, gt=0)
    prices: Optional[PriceSpec] = None
    incentives: list[IncentiveGroup] = Field(default_factory=list)
    even_rule: Optional[str] = Field(None, description="rule to re-price by the first incentives group")
    sensitivity: SensitivitySpec = Field(default_factory=SensitivitySpec)
    chosen: Optional[str] = None

    @model_validator(mode="after")
    def _names_known(self):
        for what, name in (("chosen", self.chosen), ("even_rule", self.even_rule)):
            if name is not None and name not in self.rules:
                raise ValueError(f"design.{what} {name!r} is not one of the rules {list(self.rules)}")
        if self.even_rule is not None and not self.incentives:
            raise ValueError("design.even_rule needs design.incentives (the group to even out)")
        return self

    def check(self, contract: Mapping[str, Any]) -> dict[str, ContractSpec]:
        """Validate every rule against ``contract`` (errors name design.rules.<name>)."""
        return candidate_specs(ContractSpec.model_validate(dict(contract)), self.rules,
                               investor=self.investor)

    def panel_columns(self, contract: Mapping[str, Any] | ContractSpec,
                      available: Optional[Sequence[str]] = None) -> list[str]:
        """The panel columns the design's comparison reads: those of the contract and of every
        candidate rule (:meth:`ContractSpec.panel_columns`) and the incentive groups' columns
        (:func:`~evaluation.contracts.incentive_tables`, the re-priced rule's group prices).

        ``available`` (the panel's columns, :attr:`evaluation.panel.Panel.columns`) leaves out
        names the panel does not have, as in :meth:`ContractSpec.panel_columns`.
        """
        base = contract if isinstance(contract, ContractSpec) else ContractSpec.model_validate(dict(contract))
        specs = [base, *candidate_specs(base, self.rules, investor=self.investor).values()]
        return keep_available([*(c for s in specs for c in s.panel_columns()),
                               *(g.column for g in self.incentives)], available)


def compare_even_rule(panel, spec, design: DesignSpec, incentive_table: pd.DataFrame, *,
                      seed: int = 0, **evaluate_kw) -> tuple[RuleComparison, dict]:
    """``design.even_rule`` re-priced by group (:func:`~evaluation.contracts.even_group_prices`
    over the first ``design.incentives`` group) and compared like the other rules.

    Returns the comparison of the re-priced rule and its payment section (with ``group_prices``).
    """
    if design.even_rule is None or not design.incentives:
        raise ValueError("design.even_rule and design.incentives are needed to re-price a rule by group")
    g = design.incentives[0]
    t = incentive_table
    base = t[(t["rule"] == design.even_rule) & (t["by"] == g.column)]
    rule = even_group_prices(base, design.rules[design.even_rule], column=g.column, cuts=g.cuts)
    cmp = compare_rules(panel, spec, {f"{design.even_rule} (group prices)": rule},
                        true_effect=design.true_effect, relative=design.relative,
                        investor=design.investor, n_draws=design.n_draws, seed=seed, **evaluate_kw)
    return cmp, rule


def money_spec(table: pd.DataFrame, results: Mapping[str, ContractResult], totals: Sequence[str] = (),
               per_person: Sequence[str] = (), *, counts: Sequence[str] = ("n",), n: str = "n", **spec_kw):
    """The disclosure declaration of a table with a ``rule`` column: money columns are counts of
    outcomes times the rule's prices, so the gate rounds ``totals`` to ``rounding_base x`` the
    rule's largest unit price and ``per_person`` amounts to that step divided by the row's ``n``
    (:class:`evaluation.disclosure.TableSpec` with per-row prices)."""
    from ..disclosure import TableSpec
    price = table["rule"].map({k: largest_unit_price(r) for k, r in results.items()}).to_numpy(dtype=float)
    persons = pd.to_numeric(table[n], errors="coerce").to_numpy(dtype=float) if per_person else None
    amounts = {c: (None, price) for c in totals if c in table.columns}
    amounts.update({c: (None, price / np.maximum(persons, 1)) for c in per_person if c in table.columns})
    return TableSpec(counts=[c for c in counts if c in table.columns], amounts=amounts, **spec_kw)


#: Money columns of :attr:`RuleComparison.table` (totals and per participant).
MONEY_TOTALS = ("payment", "expected_payment", "deadweight", "payment_at_effect", "public_net_benefit")
MONEY_PER_PERSON = ("payment_per_participant",)
