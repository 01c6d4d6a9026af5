"""Payments, counterfactuals, cash flows and their uncertainty for an outcome contract.

:func:`evaluate` takes the person-month panel and a :class:`~evaluation.contracts.ContractSpec`
and returns a :class:`ContractResult`.  Every contract is reduced to five per-person quantities
over the contract window, for the participants and (where there is one) the comparison group:

``payable``      outcome payments due for the person (staged / rate card, after the participant cap)
``outcome``      count of the threshold outcome (e.g. reconviction events)
``benefit``      social-assistance amount paid (the benefit column)
``earnings``     earnings
``completions``  1 if the person completed the shared-savings completion event

Group means of these quantities by cohort feed a settlement function that applies the payment
rule, the contract cap, the public side's savings and costs and the investor's terms.  The
counterfactual means come from the RCT control arm, a matched comparison group (weights), a DiD
effect estimate (counterfactual = participants' mean minus the effect) or a historical baseline.

Uncertainty: ``"bootstrap"`` resamples persons within arm and cohort; ``"normal"`` draws the group
means from normal distributions with their sampling standard errors, or, when an effect estimate is
given (any object with ``.estimate`` and ``.se``), draws the effect on the primary quantity from
``N(estimate, se)`` around the counterfactual mean.  The deadweight is the expected payment when the
true effect is zero: the same draws shifted so the participants-minus-counterfactual difference is
centred on zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd
from scipy import stats

from ..results import TIDY_COLUMNS, TableResult, _records
from .events import (detect_events, index_to_month, month_index, person_table, prepare_panel,
                     window_sums)
from .indigo import to_indigo
from .spec import (COUNTERFACTUALS, REPAYMENT_CATEGORIES, ContractSpec, RateCard, SharedSavings,
                   StagedPayment, ThresholdPayment)

QUANTITIES = ("payable", "outcome", "benefit", "earnings", "completions")
_Q = {q: i for i, q in enumerate(QUANTITIES)}



# ------------------------------------------------------------------------------------------
# payments per person (staged / rate card)
# ------------------------------------------------------------------------------------------
def person_payments(events: pd.DataFrame, spec: ContractSpec,
                    multiplier: Optional[pd.Series] = None) -> pd.DataFrame:
    """Payments due per person and item, in month order, after the participant cap.

    ``multiplier`` (person_id -> factor) scales every price of a person before the participant
    cap: the group-specific prices of a rule with ``group_prices`` (:func:`price_multipliers`).
    Returns ``person_id, item, event, month, event_time, price, amount`` (one row per payment).
    """
    p = spec.payment
    cols = ["person_id", "item", "event", "month", "event_time", "price", "amount"]
    if isinstance(p, StagedPayment):
        items = p.items()
    elif isinstance(p, RateCard):
        items = p.items_list()
    elif isinstance(p, SharedSavings) and p.fee_per_completion > 0:
        items = [("completion fee", p.completion_event, p.fee_per_completion)]
    else:
        return pd.DataFrame(columns=cols)
    it = pd.DataFrame(items, columns=["item", "event", "price"])
    it["order"] = np.arange(len(it))
    ev = events.assign(mi=month_index(events["month"]))
    long = it.merge(ev, on="event", how="inner")
    if long.empty:
        return pd.DataFrame(columns=cols)
    if isinstance(p, StagedPayment) and p.sequential:
        # a stage pays no earlier than the stage before it, and not at all if that one is missing
        wide = long.pivot_table(index="person_id", columns="order", values="mi", aggfunc="first")
        wide = wide.reindex(columns=range(len(it)))
        arr = wide.to_numpy(dtype="float64")
        reached = np.cumprod(np.isfinite(arr), axis=1).astype(bool)
        paid_mi = np.fmax.accumulate(np.where(np.isfinite(arr), arr, -np.inf), axis=1)
        paid_mi = np.where(reached, paid_mi, np.nan)
        r, c = np.nonzero(np.isfinite(paid_mi))
        st = pd.DataFrame({"person_id": wide.index.to_numpy()[r], "order": wide.columns.to_numpy()[c],
                           "mi": paid_mi[r, c]})
        st = st.merge(it, on="order")
        if st.empty:
            return pd.DataFrame(columns=cols)
        # event_time of the paid month relative to start
        start = long.drop_duplicates("person_id").set_index("person_id")
        start_mi = start["mi"] - start["event_time"]
        st["event_time"] = (st["mi"] - st["person_id"].map(start_mi)).astype(int)
        long = st
    long = long.sort_values(["person_id", "mi", "order"], kind="mergesort").reset_index(drop=True)
    if multiplier is not None:
        long["price"] = long["price"] * long["person_id"].map(multiplier).fillna(1.0).to_numpy()
    amount = long["price"].to_numpy(dtype="float64")
    cap = getattr(p, "participant_cap", None)
    if cap is not None:
        cum = long.groupby("person_id", sort=False)["price"].cumsum().to_numpy()
        amount = np.clip(cap - (cum - amount), 0.0, amount)
    long["amount"] = amount
    long["month"] = index_to_month(long["mi"].to_numpy()).to_numpy()
    return long[cols]


def apply_contract_cap(payments: pd.DataFrame, cap: Optional[float], amount: str = "amount",
                       order: tuple = ("month",)) -> pd.DataFrame:
    """Cut payments once their running total (in ``order``) reaches ``cap``."""
    out = payments.sort_values(list(order), kind="mergesort").copy()
    if cap is None or out.empty:
        return out
    a = out[amount].to_numpy(dtype="float64")
    cum = np.cumsum(a)
    out[amount] = np.clip(cap - (cum - a), 0.0, np.maximum(a, 0.0)) if (a >= 0).all() else \
        np.diff(np.concatenate([[0.0], np.minimum(np.maximum.accumulate(np.maximum(cum, 0)), cap)]))
    return out


def price_multipliers(df: pd.DataFrame, spec: ContractSpec) -> Optional[pd.Series]:
    """person_id -> price factor of the rule's ``group_prices`` (``None`` without them).

    The group is read from the person's first panel row (baseline columns are time-invariant).
    """
    gp = getattr(spec.payment, "group_prices", None)
    if gp is None:
        return None
    first = df.drop_duplicates("person_id", keep="first")
    return pd.Series(gp.factors_for(first[gp.column]), index=first["person_id"].to_numpy())


# ------------------------------------------------------------------------------------------
# settlement from group means
# ------------------------------------------------------------------------------------------
def settle(spec: ContractSpec, T: np.ndarray, C: np.ndarray, Tn: np.ndarray) -> dict[str, np.ndarray]:
    """Apply the payment rule, the public side and the investor to group means.

    ``T`` and ``C`` are participants' and counterfactual means of :data:`QUANTITIES` with shape
    ``(draws, cohorts, 5)``; ``Tn`` the number of participants ``(draws, cohorts)``.
    Returns arrays of shape ``(draws,)`` (and ``cohort_payment`` ``(draws, cohorts)``).
    """
    p = spec.payment
    B, G, _ = T.shape
    n_all = Tn.sum(axis=1)
    cohort_pay = np.zeros((B, G))
    met = None
    if isinstance(p, (StagedPayment, RateCard)):
        cohort_pay = Tn * T[..., _Q["payable"]]
        total = cohort_pay.sum(axis=1)
        final = np.zeros(B)
    elif isinstance(p, ThresholdPayment):
        t = T[..., _Q["outcome"]]
        c = C[..., _Q["outcome"]]
        sign = 1.0 if p.direction == "decrease" else -1.0
        avoided = sign * (c - t) * Tn                     # events avoided per cohort
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(c > 0, sign * (c - t) / c, 0.0)
        if p.cohort_margin is not None:
            early = np.where(rel >= p.cohort_margin - 1e-12, p.price_per_event * np.maximum(avoided, 0), 0.0)
        else:
            early = np.zeros((B, G))
        t_all = (Tn * t).sum(axis=1) / n_all
        c_all = (Tn * c).sum(axis=1) / n_all              # counterfactual standardised to the cohort mix
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_all = np.where(c_all > 0, sign * (c_all - t_all) / c_all, 0.0)
        avoided_all = sign * (c_all - t_all) * n_all
        final = np.where(rel_all >= p.margin - 1e-12,
                         np.maximum(p.price_per_event * avoided_all - early.sum(axis=1), 0.0), 0.0)
        cohort_pay = early
        total = early.sum(axis=1) + final
        met = rel_all >= p.margin - 1e-12
    elif isinstance(p, SharedSavings):
        fees = p.fee_per_completion * (Tn * T[..., _Q["completions"]]).sum(axis=1)
        sav = (Tn * (C[..., _Q["benefit"]] - T[..., _Q["benefit"]])).sum(axis=1)
        gain = (Tn * (T[..., _Q["earnings"]] - C[..., _Q["earnings"]])).sum(axis=1)
        final = np.maximum(p.savings_share * sav + p.tax_share * p.tax_rate * gain, 0.0)
        total = fees + final
    else:  # pragma: no cover
        raise TypeError(type(p))
    cap = getattr(p, "contract_cap", None)
    if cap is not None:
        total = np.minimum(total, cap)
    pub = spec.public
    savings = (Tn * (C[..., _Q["benefit"]] - T[..., _Q["benefit"]])).sum(axis=1)
    tax = pub.tax_rate * (Tn * (T[..., _Q["earnings"]] - C[..., _Q["earnings"]])).sum(axis=1)
    cost = pub.fixed_cost + pub.programme_cost_per_participant * n_all
    out = {"payment": total, "cohort_payment": cohort_pay, "final_payment": final,
           "public_savings": savings, "public_tax_gain": tax, "programme_cost": cost * np.ones(B),
           "public_net_benefit": savings + tax - total - cost}
    if met is not None:
        out["threshold_met"] = met
    if pub.value_per_unit is not None and isinstance(p, ThresholdPayment):
        sign = 1.0 if p.direction == "decrease" else -1.0
        val = pub.value_per_unit * sign * (Tn * (C[..., _Q["outcome"]] - T[..., _Q["outcome"]])).sum(axis=1)
        out["public_outcome_value"] = val
        out["public_net_benefit"] = out["public_net_benefit"] + val
    inv = spec.investor
    if inv is not None:
        due = inv.capital * (1 + inv.return_rate)
        repaid = np.minimum(inv.share_of_payments * total, due)
        out["investor_repaid"] = repaid
        out["investor_net"] = repaid - inv.capital
    return out


def repayment_category(repaid: float, capital: float, rel_tol: float = 1e-9) -> str:
    """``none`` / ``partial`` / ``principal`` / ``principal+return`` (INDIGO investor_repayment)."""
    tol = rel_tol * max(capital, 1.0)
    if repaid <= tol:
        return "none"
    if repaid < capital - tol:
        return "partial"
    if repaid <= capital + tol:
        return "principal"
    return "principal+return"


# ------------------------------------------------------------------------------------------
# the result object
# ------------------------------------------------------------------------------------------
@dataclass
class ContractResult(TableResult):
    """Payments, cash flows and risk of an outcome contract.

    ``table`` (``tidy()``) has one row per headline quantity: the point value in ``estimate``, the
    standard deviation of its draws in ``se`` and the central interval of the draws in
    ``ci_low``/``ci_high``.  Further attributes:

    ``schedule``   payments by month, cohort and item (``count`` = number of payments)
    ``cashflows``  outcome payments, investor drawdown/repayment and public savings by month
    ``draws``      one row per draw: payment, public net benefit, investor repaid, and the same
                   under zero true effect (``*_zero``)
    ``events``     outcome events by group (counts of persons and rates)
    ``probabilities``  investor repaid / return, payment > 0, public net benefit > 0
    ``break_even`` effect on the primary quantity at which the investor / public break even
    """

    spec: Optional[ContractSpec] = None
    counterfactual: str = ""
    counterfactual_description: str = ""
    uncertainty: str = ""
    n_participants: int = 0
    n_comparison: Optional[float] = None
    schedule: pd.DataFrame = field(default_factory=pd.DataFrame)
    cashflows: pd.DataFrame = field(default_factory=pd.DataFrame)
    draws: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    totals: dict = field(default_factory=dict)
    probabilities: dict = field(default_factory=dict)
    break_even: dict = field(default_factory=dict)
    means: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)
    #: person-level quantities and the draws of the group means (never published; used by
    #: :mod:`evaluation.contracts.compare` to re-settle other rules and true effects)
    internals: dict = field(default_factory=dict, repr=False)

    # convenience -------------------------------------------------------------------------
    @property
    def payment(self) -> float:
        return float(self.totals["payment"])

    @property
    def deadweight(self) -> float:
        return float(self.totals["deadweight"])

    @property
    def expected_payment(self) -> float:
        return float(self.totals["expected_payment"])

    @property
    def repayment_category(self) -> Optional[str]:
        return self.totals.get("investor_repayment_category")

    def summary(self) -> str:
        cur = self.spec.currency if self.spec else ""
        lines = [f"{self.method}",
                 f"  counterfactual: {self.counterfactual} - {self.counterfactual_description}",
                 f"  uncertainty: {self.uncertainty}; participants: {self.n_participants}"]
        for k in ("payment", "expected_payment", "deadweight", "public_net_benefit", "investor_repaid"):
            if k in self.totals and self.totals[k] is not None:
                lines.append(f"  {k}: {self.totals[k]:,.0f} {cur}")
        if self.repayment_category:
            lines.append(f"  investor repayment: {self.repayment_category}")
        for k, v in self.probabilities.items():
            lines.append(f"  P({k}) = {v:.3f}")
        for k, v in self.break_even.items():
            if v is not None:
                lines.append(f"  break-even {k}: {v:.4g}" if isinstance(v, (int, float))
                             else f"  break-even {k}: {v}")
        lines.append(self.table.to_string(index=False, float_format=lambda x: f"{x:,.6g}"))
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        probs = "".join(f"<li>P({k}) = {v:.3f}</li>" for k, v in self.probabilities.items())
        be = "".join(f"<li>break-even {k}: {v:.4g}</li>" if isinstance(v, (int, float))
                     else f"<li>break-even {k}: {v}</li>" for k, v in self.break_even.items()
                     if v is not None)
        notes = "".join(f"<li>{n}</li>" for n in self.notes)
        return (f"<p><b>{self.method}</b><br>counterfactual: <b>{self.counterfactual}</b> "
                f"({self.counterfactual_description}); uncertainty: {self.uncertainty}; "
                f"participants: {self.n_participants}</p>"
                + self.table.to_html(index=False, float_format=lambda x: f"{x:,.4g}")
                + f"<ul>{probs}{be}{notes}</ul>")

    def to_dict(self) -> dict:
        d = {"method": self.method, "counterfactual": self.counterfactual,
             "counterfactual_description": self.counterfactual_description,
             "uncertainty": self.uncertainty, "n_participants": int(self.n_participants),
             "currency": self.spec.currency if self.spec else None,
             "totals": {k: _plain(v) for k, v in self.totals.items()},
             "probabilities": {k: _plain(v) for k, v in self.probabilities.items()},
             "break_even": {k: _plain(v) for k, v in self.break_even.items()},
             "table": _records(self.table), "notes": list(self.notes)}
        return d

    def plot(self, kind: str = "cumulative", ax=None):
        """Figures: ``"cumulative"`` payments, ``"cashflow"`` curves, ``"distribution"`` of payments."""
        from .plots import plot_contract   # matplotlib only when a figure is drawn
        return plot_contract(self, kind=kind, ax=ax)

    def to_indigo(self, **kw) -> dict:
        return to_indigo(self, **kw)


def _plain(v):
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


# ------------------------------------------------------------------------------------------
# evaluate
# ------------------------------------------------------------------------------------------
def _as_spec(spec) -> ContractSpec:
    if isinstance(spec, ContractSpec):
        return spec
    if isinstance(spec, Mapping):
        return ContractSpec.model_validate(dict(spec))
    raise TypeError(f"spec must be a ContractSpec or the contract section as a dict, got {type(spec).__name__}")


def _effect_pair(obj, name: str) -> tuple[float, float]:
    if isinstance(obj, (int, float, np.floating)):
        return float(obj), 0.0
    if isinstance(obj, Mapping) and "estimate" in obj:
        return float(obj["estimate"]), float(obj.get("se", 0.0))
    if hasattr(obj, "estimate") and hasattr(obj, "se"):
        return float(obj.estimate), float(obj.se)
    raise TypeError(f"effect for {name!r} must have .estimate and .se (a result object), "
                    f"a dict with 'estimate'/'se', or a number; got {type(obj).__name__}")


def _resolve_quantity(key: str, spec: ContractSpec) -> tuple[str, float] | None:
    """Map a user key (quantity, panel column or payment event) to (quantity, multiplier)."""
    if key in _Q:
        return key, 1.0
    p = spec.payment
    if isinstance(p, ThresholdPayment) and key == p.outcome:
        return "outcome", 1.0
    if key == spec.public.benefit_column or key == getattr(p, "benefit_column", None):
        return "benefit", 1.0
    if key == spec.public.earnings_column or key == getattr(p, "earnings_column", None):
        return "earnings", 1.0
    if isinstance(p, SharedSavings) and key == p.completion_event:
        return "completions", 1.0
    if isinstance(p, (StagedPayment, RateCard)):
        items = p.items() if isinstance(p, StagedPayment) else p.items_list()
        price = sum(pr for _, ev, pr in items if ev == key)
        if price > 0:
            return "payable", price
    return None


def _by_quantity(values: Any, spec: ContractSpec, what: str, pair: bool = True) -> dict[str, tuple[float, float]]:
    """Turn an effect/baseline argument into {quantity: (value, se)}."""
    if values is None:
        return {}
    single = not isinstance(values, Mapping) or ("estimate" in values and set(values) <= {"estimate", "se"})
    if single:
        values = {spec.primary_quantity: values}
    out: dict[str, list[float]] = {}
    for k, v in values.items():
        r = _resolve_quantity(k, spec)
        if r is None:
            raise ValueError(f"{what} given for {k!r}, which the contract does not use; use one of "
                             f"{list(QUANTITIES)}, a payment event or the contract's outcome column")
        q, mult = r
        est, se = _effect_pair(v, k)
        cur = out.setdefault(q, [0.0, 0.0])
        cur[0] += mult * est
        cur[1] = math.sqrt(cur[1] ** 2 + (mult * se) ** 2)
    return {k: (v[0], v[1]) for k, v in out.items()}


def evaluate(panel, spec, *, counterfactual: str = "rct_control",
             comparison: Optional[pd.DataFrame] = None, effect: Any = None, baseline: Any = None,
             assignment: Optional[pd.DataFrame] = None, uncertainty: Optional[str] = "bootstrap",
             n_draws: int = 999, seed: int = 0, level: float = 0.95,
             detail: bool = True) -> ContractResult:
    """Payments, cash flows and risk of an outcome contract on a person-month panel.

    Parameters
    ----------
    panel : DataFrame or Panel
        Person-month panel with the :data:`evaluation.schema.PANEL` columns the contract needs;
        from a :class:`evaluation.panel.Panel` only :meth:`ContractSpec.panel_columns` are read
        (the panel stays on disk).
    spec : ContractSpec or dict
        The contract (the ``contract:`` section of a params file).
    counterfactual : {"rct_control", "matched", "did", "historical"}
        ``rct_control``: the control arm (``treated == False``); ``matched``: the persons in
        ``comparison`` (columns ``person_id`` and optional ``weight``); ``did``: the participants'
        mean minus ``effect``; ``historical``: ``baseline`` values.
    comparison : DataFrame, optional
        Matched comparison persons and weights (``counterfactual="matched"``).
    effect : result object, number, or dict
        Effect estimate(s) (anything with ``.estimate`` and ``.se``) on the contract's primary
        quantity (``spec.primary_quantity``), or a dict keyed by quantity / panel column / payment
        event.  Required for ``did``; with ``uncertainty="normal"`` it drives the draws.
    baseline : number or dict
        Historical counterfactual means per participant over the window (``historical``): for the
        primary quantity, or a dict keyed like ``effect`` (payment events take a rate per person).
    assignment : DataFrame, optional
        Assignment extract with ``mapping_month`` when the panel lacks it (staged payments).
    uncertainty : {"bootstrap", "normal", None}
    n_draws, seed, level
        Number of draws, random seed, interval level.
    detail : bool
        Compute the payment schedule, the monthly cash flows and the break-even effects (``False``
        leaves them empty: the totals alone, for many settlements in a row).

    Returns
    -------
    ContractResult

    Notes
    -----
    Deadweight is the expected payment under a true effect of zero, computed from the same draws
    with the participants-minus-counterfactual difference re-centred on zero.  For threshold
    contracts this is the chance of beating the margin by sampling noise alone times what it pays.
    """
    spec = _as_spec(spec)
    _check_options(counterfactual, uncertainty)
    df = prepare_panel(panel, spec, assignment=assignment)
    notes: list[str] = []
    persons = person_table(df)
    part, weights = _participants(persons, spec, counterfactual, comparison)
    coh, G, start = _cohorts(persons, part, spec)
    X, events, pay_long = _person_quantities(df, persons, part, weights, spec, notes)
    g = _group_means(X, part, weights, coh, G)
    eff = _by_quantity(effect, spec, "effect", True)
    _counterfactual_means(g, spec, counterfactual, eff, baseline, notes)
    point = settle(spec, g.T_hat[None], g.C_hat[None], g.Tn[None])
    zero = settle(spec, g.C_hat[None], g.C_hat[None], g.Tn[None])
    d = _draws(g, spec, counterfactual, uncertainty, n_draws, eff, baseline, seed, point, zero)
    n = int(g.Tn.sum())
    totals, probs = _totals(spec, point, zero, d, n)
    internals = {"T_hat": g.T_hat, "C_hat": g.C_hat, "Tn": g.Tn, "Tc": d.Tc, "Cc": d.Cc, "Tb": d.Tb,
                 "Cb": d.Cb, "X": X, "part": part, "weights": weights,
                 "person_id": persons["person_id"].to_numpy(), "eff": eff}
    kw = dict(table=_tidy_table(spec, point, d, totals, n, level),
              method=f"Outcome contract: {spec.name} ({spec.payment.type})", spec=spec,
              counterfactual=counterfactual, counterfactual_description=g.desc,
              uncertainty=uncertainty or "none", n_participants=n, n_comparison=g.n_comp,
              draws=_draw_frame(spec, d), events=_event_summary(events, persons, part, weights),
              totals=totals, probabilities=probs, means=_means_table(spec, g), notes=notes,
              extra={"counterfactual": counterfactual, "n_draws": d.B}, internals=internals)
    if not detail:
        return ContractResult(**kw)
    schedule = _schedule(spec, pay_long, persons, part, coh, point, start, df)
    W_pub = spec.public.window_months or spec.window_months
    cashflows = _cashflows(spec, schedule, persons, part, start, df, weights, g.has_comp, eff,
                           baseline, counterfactual, W_pub)
    be = _break_even(spec, g.T_hat, g.C_hat, g.T_se, g.C_se, g.Tn, eff, rng_seed=seed)
    return ContractResult(schedule=schedule, cashflows=cashflows, break_even=be, **kw)


# -- the steps of evaluate ------------------------------------------------------------------------
def _check_options(counterfactual: str, uncertainty: Optional[str]) -> None:
    if counterfactual not in COUNTERFACTUALS:
        raise ValueError(f"counterfactual {counterfactual!r} unknown; choose one of {list(COUNTERFACTUALS)}")
    if uncertainty not in ("bootstrap", "normal", None):
        raise ValueError("uncertainty must be 'bootstrap', 'normal' or None")
    if uncertainty == "bootstrap" and counterfactual == "did":
        raise ValueError("uncertainty='bootstrap' needs person-level comparison data; with "
                         "counterfactual='did' use uncertainty='normal' (the effect's SE)")


def _participants(persons: pd.DataFrame, spec: ContractSpec, counterfactual: str,
                  comparison: Optional[pd.DataFrame]) -> tuple[np.ndarray, np.ndarray]:
    """Contract participants (mask) and the counterfactual group's weights per person."""
    treated = persons["treated"].to_numpy().astype(bool)
    part = treated.copy()
    if spec.participants == "participated":
        part &= persons["participated"].to_numpy().astype(bool)
    if not part.any():
        raise ValueError("no contract participants in the panel (treated == True"
                         + (" and participated" if spec.participants == "participated" else "") + ")")
    weights = np.zeros(len(persons))
    if counterfactual == "rct_control":
        weights[~treated] = 1.0
        if not (~treated).any():
            raise ValueError("counterfactual='rct_control' but the panel has no control arm "
                             "(treated == False); use 'matched', 'did' or 'historical'")
    elif counterfactual == "matched":
        if comparison is None or "person_id" not in getattr(comparison, "columns", []):
            raise ValueError("counterfactual='matched' needs comparison=<DataFrame with person_id "
                             "and optional weight> (e.g. the matched sample's controls)")
        w = comparison.groupby("person_id")["weight"].sum() if "weight" in comparison.columns \
            else comparison.groupby("person_id").size().astype(float)
        idx = pd.Index(persons["person_id"]).get_indexer(w.index)
        if (idx < 0).any():
            raise ValueError(f"{int((idx < 0).sum())} comparison persons are not in the panel; "
                             "pass the panel that includes the comparison group")
        weights[idx] = w.to_numpy(dtype=float)
        if (weights[part] > 0).any():
            raise ValueError("some comparison persons are contract participants; the comparison group "
                             "must come from the non-participants")
    return part, weights


def _cohorts(persons: pd.DataFrame, part: np.ndarray, spec: ContractSpec) -> tuple[np.ndarray, int, float]:
    """Cohort of each person (``-1`` without a start month), number of cohorts, first start month."""
    p = spec.payment
    am = month_index(persons["assigned_month"])
    start = np.nanmin(am[part])
    cohort_months = p.cohort_months if isinstance(p, ThresholdPayment) else spec.cohort_months
    coh = np.floor((am - start) / cohort_months)
    G = int(np.nanmax(coh[part])) + 1
    return np.where(np.isfinite(coh), np.clip(coh, 0, G - 1), -1).astype(int), G, start


def _person_quantities(df, persons, part, weights, spec, notes) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """The :data:`QUANTITIES` of every person over the window, the outcome events and the
    payments due (participants and counterfactual persons only)."""
    p = spec.payment
    keep_ids = persons["person_id"][part | (weights > 0)]
    dsub = df[df["person_id"].isin(keep_ids)] if len(keep_ids) < len(persons) else df
    needed_events = [e for _, e in spec.payment_events()]
    events = detect_events(dsub, spec, needed_events) if needed_events else \
        pd.DataFrame(columns=["person_id", "event", "month", "event_time"])
    mult = price_multipliers(dsub, spec)
    pay_long = person_payments(events, spec, mult)
    X = np.zeros((len(persons), len(QUANTITIES)))
    pid_index = pd.Index(persons["person_id"])
    if not pay_long.empty and isinstance(p, (StagedPayment, RateCard)):
        s = pay_long.groupby("person_id")["amount"].sum()
        X[pid_index.get_indexer(s.index), _Q["payable"]] = s.to_numpy()
    if weights.sum() > 0 and "mapping" in needed_events and isinstance(p, (StagedPayment, RateCard)):
        _mapped_comparison_payable(X, events, persons, part, weights, spec, mult, notes)
    W_pub = spec.public.window_months or spec.window_months
    cols = {"benefit": spec.public.benefit_column, "earnings": spec.public.earnings_column}
    if isinstance(p, SharedSavings):
        cols = {"benefit": p.benefit_column, "earnings": p.earnings_column}
    sums = window_sums(dsub, {k: v for k, v in cols.items() if v in dsub.columns}, W_pub)
    for k in sums.columns:
        X[pid_index.get_indexer(sums.index), _Q[k]] = sums[k].to_numpy()
    if isinstance(p, ThresholdPayment):
        o = window_sums(dsub, {"outcome": p.outcome}, p.window_months)["outcome"]
        if p.count == "ever":
            o = (o > 0).astype(float)
        X[pid_index.get_indexer(o.index), _Q["outcome"]] = o.to_numpy()
    if isinstance(p, SharedSavings):
        done = events.loc[events["event"] == p.completion_event, "person_id"]
        X[pid_index.get_indexer(done), _Q["completions"]] = 1.0
    return X, events, pay_long


def _mapped_comparison_payable(X, events, persons, part, weights, spec, mult, notes) -> None:
    """Payable amounts of the comparison persons had they been mapped at the participants' rate.

    Mapping is the provider's activity, not an outcome: the comparison persons would have been
    mapped at the participants' rate had they been in the programme (at their start month).
    """
    cids = persons["person_id"][weights > 0]
    part_ids = persons["person_id"][part]
    rate = float(events.loc[events["event"] == "mapping", "person_id"].isin(part_ids).sum()) / part.sum()
    ce = events[events["person_id"].isin(cids) & (events["event"] != "mapping")]
    cp = persons[weights > 0]
    mapped = pd.DataFrame({"person_id": cp["person_id"].to_numpy(), "event": "mapping",
                           "month": pd.to_datetime(cp["assigned_month"]).to_numpy(), "event_time": 0})
    x1 = person_payments(pd.concat([ce, mapped], ignore_index=True), spec, mult)
    x0 = person_payments(ce, spec, mult)
    ci = pd.Index(persons["person_id"]).get_indexer(cids)
    v1 = x1.groupby("person_id")["amount"].sum().reindex(cids).fillna(0.0).to_numpy()
    v0 = x0.groupby("person_id")["amount"].sum().reindex(cids).fillna(0.0).to_numpy() \
        if not x0.empty else np.zeros(len(cids))
    X[ci, _Q["payable"]] = rate * v1 + (1 - rate) * v0
    notes.append(f"counterfactual payments assume the comparison group would have been mapped at "
                 f"the participants' mapping rate ({rate:.0%}); mapping is the provider's activity")


def _group_means(X, part, weights, coh, G) -> SimpleNamespace:
    """Participants' means and standard errors by cohort, and the comparison group's (weighted)."""
    Xt, ct = X[part], coh[part]
    Tn = np.bincount(ct, minlength=G).astype(float)
    T_hat = np.stack([np.bincount(ct, weights=Xt[:, k], minlength=G) for k in range(5)], axis=1) \
        / np.maximum(Tn, 1)[:, None]
    T_sd = np.stack([_group_sd(Xt[:, k], ct, G, np.ones(len(ct))) for k in range(5)], axis=1)
    g = SimpleNamespace(Xt=Xt, ct=ct, Tn=Tn, T_hat=T_hat, T_se=T_sd / np.sqrt(np.maximum(Tn, 1))[:, None],
                        G=G, has_comp=weights.sum() > 0, n_comp=None, Xc=None, cc=None, wc=None, Cw=None)
    if g.has_comp:
        g.wc = weights[weights > 0]
        g.Xc, g.cc = X[weights > 0], coh[weights > 0]
        g.C_hat, g.C_se, g.Cw = _weighted_means(g.Xc, g.cc, g.wc, G)
        g.n_comp = float(g.wc.sum() ** 2 / (g.wc ** 2).sum())
    return g


def _counterfactual_means(g, spec, counterfactual, eff, baseline, notes) -> None:
    """``g.C_hat``/``g.C_se`` and the description for the counterfactual: the comparison group's
    means, the participants' minus a DiD effect, or a historical baseline."""
    if g.has_comp:
        g.desc = ("control arm of the randomised trial" if counterfactual == "rct_control"
                  else f"matched comparison group (effective n {g.n_comp:.0f})")
    else:
        g.C_se = np.zeros_like(g.T_hat)
        g.C_hat = g.T_hat.copy()
        if counterfactual == "did":
            if not eff:
                raise ValueError("counterfactual='did' needs effect=<DiD result with .estimate and "
                                 f".se> on the contract's primary quantity ({spec.primary_quantity})")
            for q, (e, _) in eff.items():
                g.C_hat[:, _Q[q]] = g.T_hat[:, _Q[q]] - e
            given, what = eff, "DiD effect given"
            g.desc = "participants' outcomes minus the difference-in-differences effect estimate"
        else:  # historical
            base = _by_quantity(baseline, spec, "baseline", False)
            if spec.primary_quantity not in base:
                raise ValueError("counterfactual='historical' needs baseline=<historical mean per "
                                 f"participant of the primary quantity {spec.primary_quantity!r}> "
                                 "(a number or a dict by quantity / payment event)")
            for q, (v, _) in base.items():
                g.C_hat[:, _Q[q]] = v
            given, what = base, "historical baseline"
            g.desc = "historical baseline"
        missing = [q for q in ("benefit", "earnings") if q not in given]
        if missing:
            notes.append(f"no {what} for {missing}: the counterfactual equals the "
                         "participants' mean there (zero effect assumed)")
    if isinstance(spec.payment, StagedPayment) and not g.has_comp:
        notes.append("payable counterfactual from effects/baselines on payment events is linear "
                     "(staging order and caps ignored)")


def _draws(g, spec, counterfactual, uncertainty, n_draws, eff, baseline, seed, point, zero) -> SimpleNamespace:
    """Draws of the group means (bootstrap over persons within arm and cohort, or normal) and their
    settlement, with the estimated effect (``dr``) and with zero true effect (``drz``)."""
    rng = np.random.default_rng(seed)
    B = int(n_draws) if uncertainty else 0
    d = SimpleNamespace(B=B, Tc=g.T_hat.copy(), Cc=g.C_hat.copy(), Tb=None, Cb=None, dr=point, drz=zero)
    if not B:
        return d
    if uncertainty == "bootstrap":
        Tb, Cb = _bootstrap_draws(g, spec, counterfactual, baseline, B, rng)
    else:
        Tb, Cb = _normal_draws(g, counterfactual, eff, B, rng, d.Tc)
    Tn_b = np.broadcast_to(g.Tn, (B, g.G))
    d.Tb, d.Cb, d.dr = Tb, Cb, settle(spec, Tb, Cb, Tn_b)
    # zero true effect: shift the participants so that T - C is centred on zero
    if counterfactual == "did":
        Cz = Cb.copy()
        for q, (e, s) in eff.items():
            Cz[..., _Q[q]] = Cb[..., _Q[q]] + e
        d.drz = settle(spec, Tb.copy(), Cz, Tn_b)
    else:
        d.drz = settle(spec, Tb - (d.Tc - d.Cc)[None], Cb, Tn_b)
    return d


def _bootstrap_draws(g, spec, counterfactual, baseline, B, rng):
    Tb = _bootstrap_means(g.Xt, g.ct, np.ones(len(g.ct)), g.G, B, rng)
    if g.has_comp:
        Cb = _bootstrap_means(g.Xc, g.cc, g.wc, g.G, B, rng)
        empty = g.Cw == 0
        if empty.any():
            pooled = (Cb * g.Cw[None, :, None]).sum(axis=1) / g.Cw.sum()
            Cb[:, empty, :] = pooled[:, None, :]
    else:
        Cb = np.broadcast_to(g.C_hat, Tb.shape).copy()
        if counterfactual == "historical":
            base = _by_quantity(baseline, spec, "baseline", False)
            for q, (v, s) in base.items():
                if s > 0:
                    Cb[..., _Q[q]] = v + s * rng.standard_normal((B, 1))
    return Tb, Cb


def _normal_draws(g, counterfactual, eff, B, rng, Tc):
    """Normal draws of the group means; with an effect estimate, the effect drives the draws
    (``Tc`` is updated to the participants' means implied by the effect)."""
    T_hat, C_hat = g.T_hat, g.C_hat
    Z = rng.standard_normal((B, g.G, 5))
    Tb = T_hat[None] + Z * g.T_se[None]
    Cb = C_hat[None] + rng.standard_normal((B, g.G, 5)) * g.C_se[None]
    if counterfactual == "did":
        Tb = np.broadcast_to(T_hat, Tb.shape).copy()
        Cb = np.broadcast_to(T_hat, Tb.shape).copy()
        for q, (e, s) in eff.items():
            Cb[..., _Q[q]] = T_hat[None, :, _Q[q]] - (e + s * rng.standard_normal((B, 1)))
    elif counterfactual == "historical":
        Cb = np.broadcast_to(C_hat, Tb.shape).copy()
    if counterfactual != "did" and eff:
        for q, (e, s) in eff.items():
            draw = e + s * rng.standard_normal((B, 1))
            Cb[..., _Q[q]] = C_hat[None, :, _Q[q]]
            Tb[..., _Q[q]] = C_hat[None, :, _Q[q]] + draw
            Tc[:, _Q[q]] = C_hat[:, _Q[q]] + e
    return Tb, Cb


def _totals(spec, point, zero, d, n: int) -> tuple[dict, dict]:
    """Headline totals (point, expected, deadweight, public side, investor) and probabilities."""
    dr, drz = d.dr, d.drz
    totals = {
        "payment": float(point["payment"][0]),
        "expected_payment": float(np.mean(dr["payment"])),
        "deadweight": float(np.mean(drz["payment"])),
        "deadweight_point": float(zero["payment"][0]),
        "public_savings": float(point["public_savings"][0]),
        "public_tax_gain": float(point["public_tax_gain"][0]),
        "programme_cost": float(point["programme_cost"][0]),
        "public_net_benefit": float(point["public_net_benefit"][0]),
        "max_potential_payment": spec.max_potential_payment(n),
        "n_participants": n,
    }
    probs: dict[str, float] = {"payment_positive": float(np.mean(dr["payment"] > 0)),
                               "public_net_benefit_positive": float(np.mean(dr["public_net_benefit"] > 0))}
    inv = spec.investor
    if inv is not None:
        rep = float(point["investor_repaid"][0])
        totals.update({"investor_capital": inv.capital, "investor_repaid": rep,
                       "investor_net": rep - inv.capital,
                       "investor_repayment_category": repayment_category(rep, inv.capital),
                       "expected_investor_repaid": float(np.mean(dr["investor_repaid"])),
                       "expected_investor_repaid_zero_effect": float(np.mean(drz["investor_repaid"]))})
        tol = 1e-9 * inv.capital
        probs["investor_repaid"] = float(np.mean(dr["investor_repaid"] >= inv.capital - tol))
        probs["investor_return"] = float(np.mean(dr["investor_repaid"] > inv.capital + tol))
        probs["investor_repaid_zero_effect"] = float(np.mean(drz["investor_repaid"] >= inv.capital - tol))
        probs["investor_return_zero_effect"] = float(np.mean(drz["investor_repaid"] > inv.capital + tol))
    if isinstance(spec.payment, ThresholdPayment):
        probs["threshold_met"] = float(np.mean(dr["threshold_met"]))
        probs["threshold_met_zero_effect"] = float(np.mean(drz["threshold_met"]))
        totals["threshold_met"] = bool(point["threshold_met"][0])
    return totals, probs


def _tidy_table(spec, point, d, totals, n, level) -> pd.DataFrame:
    """One row per headline quantity: point value, SD and central interval of its draws."""
    rows = ["payment", "public_savings", "public_tax_gain", "public_net_benefit"]
    if spec.investor is not None:
        rows += ["investor_repaid", "investor_net"]
    a, B = (1 - level) / 2, d.B

    def rec(term, est, draws):
        return {"term": term, "estimate": est, "se": float(np.std(draws, ddof=1)) if B > 1 else np.nan,
                "statistic": np.nan, "pvalue": np.nan,
                "ci_low": float(np.quantile(draws, a)) if B else np.nan,
                "ci_high": float(np.quantile(draws, 1 - a)) if B else np.nan, "df": np.nan, "n": n}

    recs = [rec(r, float(point[r][0]), d.dr[r]) for r in rows]
    recs.append(rec("deadweight", totals["deadweight"], d.drz["payment"]))
    table = pd.DataFrame(recs)[TIDY_COLUMNS]
    table["n"] = table["n"].astype("Int64")
    return table


def _draw_frame(spec, d) -> pd.DataFrame:
    if not d.B:
        return pd.DataFrame()
    dr, drz = d.dr, d.drz
    draws = pd.DataFrame({"payment": dr["payment"], "public_net_benefit": dr["public_net_benefit"],
                          "payment_zero": drz["payment"], "public_net_benefit_zero": drz["public_net_benefit"]})
    if spec.investor is not None:
        draws["investor_repaid"] = dr["investor_repaid"]
        draws["investor_repaid_zero"] = drz["investor_repaid"]
    return draws


def _means_table(spec, g) -> pd.DataFrame:
    """Participants against the counterfactual, pooled over cohorts, for the quantities used."""
    wT = g.Tn / g.Tn.sum()
    means = pd.DataFrame({"quantity": QUANTITIES, "participants": (wT[:, None] * g.T_hat).sum(0),
                          "counterfactual": (wT[:, None] * g.C_hat).sum(0)})
    means["difference"] = means["participants"] - means["counterfactual"]
    means["sd_participants"] = g.Xt.std(axis=0, ddof=1) if len(g.Xt) > 1 else np.nan
    if g.has_comp:
        mu = (g.wc[:, None] * g.Xc).sum(0) / g.wc.sum()
        means["sd_counterfactual"] = np.sqrt((g.wc[:, None] * (g.Xc - mu) ** 2).sum(0) / g.wc.sum())
    else:
        means["sd_counterfactual"] = means["sd_participants"]
    means["n_participants"] = int(g.Tn.sum())
    means["n_counterfactual"] = g.n_comp if g.n_comp is not None else np.nan
    return means[_used_quantities(spec)].reset_index(drop=True)


def _used_quantities(spec) -> np.ndarray:
    p = spec.payment
    used = {"benefit", "earnings"}
    if isinstance(p, (StagedPayment, RateCard)):
        used.add("payable")
    if isinstance(p, ThresholdPayment):
        used.add("outcome")
    if isinstance(p, SharedSavings):
        used.add("completions")
    return np.array([q in used for q in QUANTITIES])


def _group_sd(x, g, G, w):
    n = np.bincount(g, weights=w, minlength=G)
    m = np.bincount(g, weights=w * x, minlength=G) / np.maximum(n, 1e-300)
    v = np.bincount(g, weights=w * (x - m[g]) ** 2, minlength=G) / np.maximum(n - 1, 1)
    return np.sqrt(v)


def _weighted_means(X, g, w, G):
    """Weighted means by cohort (pooled where a cohort has no comparison weight) and their SEs."""
    Cw = np.bincount(g[g >= 0], weights=w[g >= 0], minlength=G)
    pooled = (w[:, None] * X).sum(0) / w.sum()
    ok = g >= 0
    M = np.stack([np.bincount(g[ok], weights=w[ok] * X[ok, k], minlength=G) for k in range(5)], 1)
    M = M / np.maximum(Cw, 1e-300)[:, None]
    M[Cw == 0] = pooled
    neff_all = w.sum() ** 2 / (w ** 2).sum()
    se = np.zeros_like(M)
    for k in range(5):
        gg = np.where(ok, g, 0)
        resid = X[:, k] - M[gg, k]
        v = np.bincount(gg, weights=w * resid ** 2, minlength=G) / np.maximum(Cw, 1e-300)
        w2 = np.bincount(gg, weights=w ** 2, minlength=G)
        neff = np.where(w2 > 0, Cw ** 2 / np.maximum(w2, 1e-300), neff_all)
        se[:, k] = np.sqrt(v / np.maximum(neff - 1, 1))
        if (Cw == 0).any():
            sd_all = np.sqrt(np.sum(w * (X[:, k] - pooled[k]) ** 2) / w.sum())
            se[Cw == 0, k] = sd_all / np.sqrt(max(neff_all - 1, 1))
    return M, se, Cw


def _bootstrap_means(X, g, w, G, B, rng, chunk_cells: int = 20_000_000) -> np.ndarray:
    """Bootstrap means by cohort, resampling persons within cohort (weights kept)."""
    out = np.zeros((B, G, X.shape[1]))
    for c in range(G):
        idx = np.flatnonzero(g == c)
        if idx.size == 0:
            out[:, c, :] = np.nan
            continue
        Xw = X[idx] * w[idx, None]
        wi = w[idx]
        step = max(1, chunk_cells // idx.size)
        for b0 in range(0, B, step):
            b1 = min(B, b0 + step)
            cnt = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=b1 - b0)
            out[b0:b1, c, :] = (cnt @ Xw) / (cnt @ wi)[:, None]
    return out


def _event_summary(events, persons, part, weights) -> pd.DataFrame:
    if events.empty:
        return pd.DataFrame(columns=["event", "group", "persons", "n", "rate"])
    grp = pd.Series(np.where(part, "participants", np.where(weights > 0, "comparison", "")),
                    index=persons["person_id"])
    w = pd.Series(np.where(part, 1.0, weights), index=persons["person_id"])
    e = events.assign(group=events["person_id"].map(grp), w=events["person_id"].map(w))
    e = e[e["group"] != ""]
    counts = e.groupby(["event", "group"]).agg(persons=("person_id", "size"), wsum=("w", "sum")).reset_index()
    denom = {"participants": float(part.sum()), "comparison": float(weights.sum())}
    counts["n"] = counts["group"].map({"participants": int(part.sum()),
                                       "comparison": int((weights > 0).sum())})
    counts["rate"] = counts["wsum"] / counts["group"].map(denom)
    return counts[["event", "group", "persons", "n", "rate"]]


def _schedule(spec, pay_long, persons, part, coh, point, start, df) -> pd.DataFrame:
    """Payments to the provider by month, cohort and item (point estimate)."""
    p = spec.payment
    cols = ["month", "cohort", "item", "payments", "amount"]
    cohort_of = pd.Series(coh, index=persons["person_id"])
    if isinstance(p, (StagedPayment, RateCard)) or (isinstance(p, SharedSavings) and not pay_long.empty):
        pl = pay_long[pay_long["person_id"].isin(persons["person_id"][part])].copy()
        pl = pl[pl["amount"] > 0] if isinstance(p, (StagedPayment, RateCard)) else pl
        pl["cohort"] = pl["person_id"].map(cohort_of).to_numpy()
        cap = getattr(p, "contract_cap", None) if isinstance(p, (StagedPayment, RateCard)) else None
        pl = apply_contract_cap(pl, cap, order=("month", "person_id"))
        if isinstance(p, (StagedPayment, RateCard)):
            pl = pl[pl["amount"] > 0]
        sch = pl.groupby(["month", "cohort", "item"], as_index=False).agg(
            payments=("amount", lambda a: int((a > 0).sum())), amount=("amount", "sum"))
        if isinstance(p, SharedSavings):
            return sch[cols]  # savings share added in _cashflows
        return sch[cols].sort_values(["month", "cohort", "item"]).reset_index(drop=True)
    if isinstance(p, ThresholdPayment):
        am = month_index(persons["assigned_month"])
        recs = []
        G = point["cohort_payment"].shape[1]
        for c in range(G):
            m = am[part & (coh == c)]
            if m.size == 0:
                continue
            due = np.nanmax(m) + p.window_months + p.payment_lag_months
            recs.append({"month": index_to_month([due])[0], "cohort": c, "item": "early cohort payment",
                         "payments": 1, "amount": float(point["cohort_payment"][0, c])})
        due = np.nanmax(am[part]) + p.window_months + p.payment_lag_months
        recs.append({"month": index_to_month([due])[0], "cohort": -1, "item": "final payment",
                     "payments": 1, "amount": float(point["final_payment"][0])})
        sch = pd.DataFrame(recs)
        sch = apply_contract_cap(sch, p.contract_cap, order=("month", "cohort"))
        return sch[cols].reset_index(drop=True)
    return pd.DataFrame(columns=cols)


def _cf_by_event_time(df, ids_w: pd.Series, cols: dict[str, str], W: int) -> pd.DataFrame:
    """Weighted mean of columns by event time among comparison persons."""
    sub = df[df["person_id"].isin(ids_w.index)]
    sub = sub[(sub["event_time"] >= 0) & (sub["event_time"] < W)]
    w = sub["person_id"].map(ids_w).to_numpy()
    data = {"event_time": sub["event_time"].to_numpy(), "_w": w}
    for k, c in cols.items():
        data[k] = np.nan_to_num(sub[c].to_numpy(dtype="float64")) * w
    g = pd.DataFrame(data).groupby("event_time").sum()
    return g[list(cols)].div(g["_w"], axis=0)


def _cashflows(spec, schedule, persons, part, start, df, weights, has_comp, eff, baseline,
               counterfactual, W) -> pd.DataFrame:
    """Monthly cash flows: outcome payments, investor and public side (point estimate)."""
    p = spec.payment
    ids = persons["person_id"][part]
    tsub = df[df["person_id"].isin(ids)]
    tsub = tsub[(tsub["event_time"] >= 0) & (tsub["event_time"] < W)]
    cols = {"benefit": spec.public.benefit_column, "earnings": spec.public.earnings_column}
    if isinstance(p, SharedSavings):
        cols = {"benefit": p.benefit_column, "earnings": p.earnings_column}
    cols = {k: c for k, c in cols.items() if c in df.columns}
    et = tsub["event_time"].to_numpy()
    if has_comp:
        cf = _cf_by_event_time(df, pd.Series(weights[weights > 0],
                                             index=persons["person_id"][weights > 0].to_numpy()), cols, W)
        cf = cf.reindex(range(W)).ffill().fillna(0.0)
    else:
        tm = tsub.groupby("event_time")[list(cols.values())].mean()
        tm.columns = list(cols)
        cf = tm.reindex(range(W)).ffill().fillna(0.0)
        if counterfactual == "did":
            for q, (e, _) in eff.items():
                if q in cf.columns:
                    cf[q] = cf[q] - e / W
        else:
            base = _by_quantity(baseline, spec, "baseline", False)
            for q, (v, _) in base.items():
                if q in cf.columns:
                    cf[q] = v / W
    monthly = pd.DataFrame({"month": tsub["month"].to_numpy()})
    for k, c in cols.items():
        monthly[f"{k}_gain"] = (cf[k].to_numpy()[et] - np.nan_to_num(tsub[c].to_numpy(dtype=float))) \
            if k == "benefit" else (np.nan_to_num(tsub[c].to_numpy(dtype=float)) - cf[k].to_numpy()[et])
    pub = monthly.groupby("month").sum()
    out = pd.DataFrame(index=pub.index)
    out["public_savings"] = pub.get("benefit_gain", 0.0)
    out["public_tax_gain"] = spec.public.tax_rate * pub.get("earnings_gain", 0.0)
    pay = schedule.groupby("month")["amount"].sum() if not schedule.empty else pd.Series(dtype=float)
    if isinstance(p, SharedSavings):
        g = (p.savings_share * pub.get("benefit_gain", 0.0)
             + p.tax_share * p.tax_rate * pub.get("earnings_gain", 0.0))
        cum = np.maximum(np.cumsum(g.to_numpy()), 0.0)
        share_pay = pd.Series(np.diff(np.concatenate([[0.0], cum])), index=g.index)
        pay = share_pay.add(pay, fill_value=0.0)
        if p.contract_cap is not None:
            c = np.minimum(np.cumsum(pay.to_numpy()), p.contract_cap)
            pay = pd.Series(np.diff(np.concatenate([[0.0], c])), index=pay.index)
    idx = out.index.union(pay.index)
    inv = spec.investor
    draw = pd.Series(dtype=float)
    if inv is not None:
        if inv.drawdown:
            dm = [start + d.month for d in inv.drawdown]
            da = [d.amount for d in inv.drawdown]
        else:
            dm = [start + i for i in range(inv.drawdown_months)]
            da = [inv.capital / inv.drawdown_months] * inv.drawdown_months
        draw = pd.Series(da, index=index_to_month(dm).to_numpy()).groupby(level=0).sum()
        idx = idx.union(draw.index)
    # programme cost at each participant's start month
    starts = persons.loc[part, "assigned_month"].value_counts()
    cost = starts * spec.public.programme_cost_per_participant
    idx = idx.union(cost.index)
    out = out.reindex(idx).fillna(0.0)
    out.index.name = "month"
    out["outcome_payment"] = pay.reindex(idx).fillna(0.0)
    out["programme_cost"] = cost.reindex(idx).fillna(0.0)
    if len(out):
        out.iloc[0, out.columns.get_loc("programme_cost")] += spec.public.fixed_cost
    out["cum_outcome_payment"] = out["outcome_payment"].cumsum()
    out["public_net_cum"] = (out["public_savings"] + out["public_tax_gain"] - out["outcome_payment"]
                             - out["programme_cost"]).cumsum()
    if inv is not None:
        due = inv.capital * (1 + inv.return_rate)
        rep_cum = np.minimum(inv.share_of_payments * out["cum_outcome_payment"].to_numpy(), due)
        out["investor_drawdown"] = draw.reindex(idx).fillna(0.0)
        out["investor_repayment"] = np.diff(np.concatenate([[0.0], rep_cum]))
        out["investor_net_cum"] = (out["investor_repayment"] - out["investor_drawdown"]).cumsum()
    return out.reset_index()


def _break_even(spec, T_hat, C_hat, T_se, C_se, Tn, eff, rng_seed=0) -> dict:
    """Smallest true effect on the primary quantity (in the favourable direction) at which the
    settled contract repays the investor's capital, and at which the public side's net benefit is
    zero.  Deterministic: the participants' mean is the counterfactual mean plus the effect."""
    q = _Q[spec.primary_quantity]
    wT = Tn / Tn.sum()
    c0 = float((wT * C_hat[:, q]).sum())
    favour = -1.0 if spec.primary_quantity in ("outcome", "benefit") else 1.0
    if isinstance(spec.payment, ThresholdPayment) and spec.payment.direction == "increase":
        favour = 1.0

    def value(delta, key):
        Tq = T_hat.copy()
        Tq[:, q] = C_hat[:, q] + delta
        r = settle(spec, Tq[None], C_hat[None], Tn[None])
        return float(r[key][0])

    out = {"primary_quantity": spec.primary_quantity, "counterfactual_mean": c0}
    scale = max(abs(c0), float(np.abs(T_hat[:, q] - C_hat[:, q]).max()), 1.0)
    grid = favour * np.linspace(0, 1, 401) * 4 * scale

    def crossing(key, level):
        vals = np.array([value(d, key) for d in grid]) - level
        ok = np.flatnonzero(vals >= -1e-9 * max(1.0, abs(level)))
        if ok.size == 0:
            return None
        i = ok[0]
        if i == 0:
            return float(grid[0])
        lo, hi = grid[i - 1], grid[i]
        for _ in range(60):
            mid = (lo + hi) / 2
            if value(mid, key) - level >= -1e-9 * max(1.0, abs(level)):
                hi = mid
            else:
                lo = mid
        return float(hi)

    if spec.investor is not None:
        out["investor"] = crossing("investor_repaid", spec.investor.capital)
    if spec.public.value_per_unit is not None or spec.primary_quantity == "benefit":
        out["public"] = crossing("public_net_benefit", 0.0)
    return out


def threshold_probability(effect: float, se: float, counterfactual_mean: float, margin: float,
                          direction: str = "decrease") -> float:
    """P(the estimated effect beats the margin) under the normal approximation.

    For ``direction="decrease"``: ``P(estimate <= -margin x counterfactual_mean)`` with the
    estimate ~ ``N(effect, se)``, i.e. ``Phi((-margin*c - effect)/se)``.
    """
    if direction == "decrease":
        return float(stats.norm.cdf((-margin * counterfactual_mean - effect) / se))
    return float(stats.norm.sf((margin * counterfactual_mean - effect) / se))


def comparison_from_sample(sample, person: str = "person_id") -> pd.DataFrame:
    """Comparison persons and weights from a matched/weighted sample (evaluation.matching):
    rows with treatment 0 and a positive weight, as ``person_id, weight``."""
    data = sample.data
    if person not in data.columns:
        raise ValueError(f"the matched sample has no {person!r} column")
    keep = (np.asarray(sample.treat) == 0) & (np.asarray(sample.weights) > 0)
    return pd.DataFrame({"person_id": data.loc[keep, person].astype(str).to_numpy(),
                         "weight": np.asarray(sample.weights, dtype=float)[keep]})


def describe_contract(spec) -> pd.DataFrame:
    """The payment rule as a table: item, event, definition, price (for reports)."""
    spec = _as_spec(spec)
    p = spec.payment
    ev = spec.all_events()
    rows = []
    if isinstance(p, (StagedPayment, RateCard)):
        items = p.items() if isinstance(p, StagedPayment) else p.items_list()
        for label, event, price in items:
            rows.append({"item": label, "event": event,
                         "definition": "initial mapping done (assignment extract)" if event == "mapping"
                         else ev[event].description, "price": price})
        if isinstance(p, StagedPayment):
            rows.append({"item": "rule", "event": "", "definition":
                         ("stages paid in order" if p.sequential else "stages paid independently")
                         + f"; job events need at least a {p.min_position_share:.0%} position",
                         "price": p.price})
        else:
            for cap in ("participant_cap", "contract_cap"):
                if getattr(p, cap) is not None:
                    rows.append({"item": cap, "event": "", "definition": cap.replace("_", " "),
                                 "price": getattr(p, cap)})
    elif isinstance(p, ThresholdPayment):
        rows.append({"item": "per event avoided", "event": p.outcome, "definition":
                     f"{p.outcome} over {p.window_months} months; paid if {p.margin:.1%} "
                     f"{'fewer' if p.direction == 'decrease' else 'more'} than the counterfactual overall"
                     + (f", or {p.cohort_margin:.1%} in a cohort of {p.cohort_months} start months "
                        "(early payment)" if p.cohort_margin else ""), "price": p.price_per_event})
        if p.contract_cap:
            rows.append({"item": "contract_cap", "event": "", "definition": "contract cap",
                         "price": p.contract_cap})
    elif isinstance(p, SharedSavings):
        rows.append({"item": "fee per completion", "event": p.completion_event,
                     "definition": ev[p.completion_event].description if p.completion_event in ev else "",
                     "price": p.fee_per_completion})
        rows.append({"item": "savings share", "event": p.benefit_column, "definition":
                     f"{p.savings_share:.0%} of benefit savings vs counterfactual", "price": float("nan")})
        rows.append({"item": "tax share", "event": p.earnings_column, "definition":
                     f"{p.tax_share:.0%} of tax ({p.tax_rate:.0%}) on the earnings gain", "price": float("nan")})
    if spec.investor is not None:
        inv = spec.investor
        rows.append({"item": "investor capital", "event": "", "definition":
                     f"repaid from {inv.share_of_payments:.0%} of outcome payments up to principal + "
                     f"{inv.return_rate:.0%}", "price": inv.capital})
    return pd.DataFrame(rows)
