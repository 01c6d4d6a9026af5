"""Payment rules of an outcome contract, declared in the ``contract:`` section of a params file.

Every rule is a pydantic v2 model that forbids unknown keys and type-checks its values, so a
misspelt key or an impossible rule (a share above 100 %, stage shares that do not add up to one,
a cap below a single payment, an outcome the panel does not have) stops with a message naming the
field and the fix.

The top-level model is :class:`ContractSpec`; ``ContractSpec.model_validate(dict)`` validates the
``contract:`` section of ``params/<programme>.yaml``.  Four payment mechanisms are supported
(the ``payment.type`` key chooses one):

``staged``
    Per-participant price paid in stages (REFINO: 20 % at mapping, 40 % at the first month in a
    job of at least a 50 % position, 40 % when that job is kept).
``rate_card``
    A price per outcome event (job entry, 13/26 weeks sustained, part/full time, qualification,
    off social assistance) with a per-participant cap and a contract cap (UK Youth Engagement Fund).
``threshold``
    Pay per outcome event avoided only when the participants beat the counterfactual by a margin
    (Peterborough: >= 7.5 % fewer reconviction events overall, >= 10 % in a cohort for an early
    payment).
``shared_savings``
    A fixed fee per completed training plus a share of the benefit savings and tax gains against
    the counterfactual (Finnish Koto-SIB).
"""
from __future__ import annotations

from typing import Annotated, Iterable, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..schema import PANEL

#: Person fields the contract functions take from each person's first panel row
#: (:func:`~evaluation.contracts.events.person_table`).
PERSON_FIELDS = ("person_id", "arm", "treated", "participated", "assigned_month", "office",
                 "mapping_month", "cohort")

#: Panel columns :func:`~evaluation.contracts.caseload` needs besides its recipient column.
CASELOAD_REQUIRED = ("person_id", "month", "office", "treated")
#: ... and all it reads (``assigned_month`` gives the offices' adoption months when present).
CASELOAD_COLUMNS = (*CASELOAD_REQUIRED, "assigned_month")

def keep_available(columns: Iterable[str], available: Optional[Iterable[str]] = None) -> list[str]:
    """``columns`` once each, in order, without those not in ``available`` (a panel's columns;
    ``None``: all kept)."""
    cols = list(dict.fromkeys(columns))
    if available is None:
        return cols
    have = set(available)
    return [c for c in cols if c in have]


#: Counterfactuals the engine accepts (and the INDIGO validation method each implies).
COUNTERFACTUALS = {
    "rct_control": "Randomised Control Trial",
    "matched": "Quasi-experimental study",
    "did": "Quasi-experimental study",
    "historical": "Historical comparison",
}

#: INDIGO investor_repayment categories (the settlement engine assigns one, the export prints it).
REPAYMENT_CATEGORIES = {
    "none": "No repayment (no principle or return)",
    "partial": "Some repayment (but below value of principle)",
    "principal": "Principal repaid (but no net return)",
    "principal+return": "Principal + positive financial returns",
}

VALIDATION_METHODS = ("Randomised Control Trial", "Quasi-experimental study", "Historical comparison",
                      "Pre-Post analysis", "Simple ex-post verification", "Not available")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _share(v: float, what: str) -> float:
    if v is None:
        return v
    if v > 1:
        raise ValueError(f"{what} {v} is above 100 %; give shares as fractions between 0 and 1 "
                         f"(e.g. 0.4 for 40 %)")
    if v < 0:
        raise ValueError(f"{what} {v} is negative; give shares as fractions between 0 and 1")
    return v


def _panel_column(v: str, what: str) -> str:
    if v not in PANEL:
        raise ValueError(f"{what} {v!r} is not a panel column; use one of the outcomes in "
                         f"evaluation.schema.PANEL, e.g. {sorted(_OUTCOME_COLUMNS)}")
    return v


_OUTCOME_COLUMNS = ("employed", "employed_50", "job_kept_6m", "on_social_assistance", "sa_amount",
                    "earnings", "in_education", "in_measure", "reoffended", "reoffence_events",
                    "self_sufficient", "on_aap_or_disability", "position_share", "participated")


# ------------------------------------------------------------------------------------------
# outcome events
# ------------------------------------------------------------------------------------------
class EventSpec(_Strict):
    """An outcome event detected per participant from the person-month panel.

    The event happens in the first month (from programme start, within the contract window) in
    which ``condition`` has held for ``consecutive_months`` months in a row (``kind="reached"``),
    or in the month after a run of at least ``consecutive_months`` ended (``kind="completed"``,
    e.g. an education spell completed).  ``condition`` is ``column`` true (``negate`` flips it),
    optionally restricted to ``min_position_share <= position_share < max_position_share``.
    ``eligible="on_sa_at_start"`` limits the event to persons on social assistance in the start
    month or in the 12 months before (off-benefit outcomes).
    """

    column: str
    negate: bool = False
    min_position_share: Optional[float] = Field(default=None, ge=0)
    max_position_share: Optional[float] = Field(default=None, gt=0)
    consecutive_months: int = Field(default=1, ge=1)
    kind: Literal["reached", "completed"] = "reached"
    eligible: Literal["all", "on_sa_at_start"] = "all"
    description: str = ""

    @field_validator("column")
    @classmethod
    def _col(cls, v):
        return _panel_column(v, "event column")

    @field_validator("min_position_share", "max_position_share")
    @classmethod
    def _ps(cls, v, info):
        return _share(v, info.field_name)


def builtin_events(*, min_position_share: float = 0.0, full_time_share: float = 0.8,
                   qualification_months: int = 3, off_sa_months: int = 3,
                   kept_months: int = 6) -> dict[str, EventSpec]:
    """The named events rules may refer to (a params file may add or override events)."""
    mps = min_position_share or None
    return {
        "job_entry": EventSpec(column="employed", min_position_share=mps,
                               description="first month employed"
                               + (f" in at least a {min_position_share:.0%} position" if mps else "")),
        "part_time_entry": EventSpec(column="employed", max_position_share=full_time_share,
                                     description=f"first month employed below a {full_time_share:.0%} position"),
        "full_time_entry": EventSpec(column="employed", min_position_share=full_time_share,
                                     description=f"first month employed in at least a {full_time_share:.0%} position"),
        "sustained_13w": EventSpec(column="employed", min_position_share=mps, consecutive_months=3,
                                   description="3 consecutive months employed (about 13 weeks)"),
        "sustained_26w": EventSpec(column="employed", min_position_share=mps, consecutive_months=6,
                                   description="6 consecutive months employed (about 26 weeks)"),
        "job_kept": EventSpec(column="employed", min_position_share=mps, consecutive_months=kept_months,
                              description=f"job kept: {kept_months} consecutive months employed"
                              + (f" in at least a {min_position_share:.0%} position" if mps else "")),
        "qualification": EventSpec(column="in_education", kind="completed",
                                   consecutive_months=qualification_months,
                                   description=f"education spell of at least {qualification_months} "
                                   "months completed (proxy for a qualification passed)"),
        "off_social_assistance": EventSpec(column="on_social_assistance", negate=True,
                                           consecutive_months=off_sa_months, eligible="on_sa_at_start",
                                           description=f"{off_sa_months} consecutive months without "
                                           "social assistance (recipients at start)"),
    }


#: Names of events that are not panel conditions.
SPECIAL_EVENTS = ("mapping",)


class EventOptions(_Strict):
    """Parameters of the built-in events."""

    full_time_share: float = Field(default=0.8, gt=0)
    qualification_months: int = Field(default=3, ge=1)
    off_sa_months: int = Field(default=3, ge=1)
    kept_months: int = Field(default=6, ge=1)

    @field_validator("full_time_share")
    @classmethod
    def _fts(cls, v):
        return _share(v, "full_time_share")


# ------------------------------------------------------------------------------------------
# payment mechanisms
# ------------------------------------------------------------------------------------------
class GroupPrices(_Strict):
    """Group-specific prices, as UK rate cards pay more for harder groups.

    Every price of a person is multiplied by the factor of the person's group, read from a
    time-invariant panel ``column``: either ``levels`` (value -> factor, for a categorical column;
    ``default`` for other values) or ``cuts`` and ``factors`` for a numeric column, with
    ``len(factors) == len(cuts) + 1`` and bins ``[cut_k, cut_k+1)`` (a value on a cut goes to the
    upper bin, as R's ``findInterval``).

    Examples
    --------
    Long-term recipients (12 or more of the 24 months before start on social assistance) priced
    1.5 times, the others 0.8 times: ``{column: sa_months_24, cuts: [12], factors: [0.8, 1.5]}``.
    """

    column: str
    levels: Optional[dict[str, float]] = None
    cuts: Optional[list[float]] = None
    factors: Optional[list[float]] = None
    default: float = Field(default=1.0, ge=0)

    @field_validator("column")
    @classmethod
    def _col(cls, v):
        if v not in PANEL:
            raise ValueError(f"group_prices.column {v!r} is not a panel column; use a baseline "
                             f"column such as sa_months_24, education_level or norwegian_level")
        return v

    @model_validator(mode="after")
    def _one_form(self):
        if (self.levels is None) == (self.cuts is None):
            raise ValueError("group_prices needs either 'levels' (value -> factor) or 'cuts' with "
                             "'factors', not both and not neither")
        if self.cuts is not None:
            if self.factors is None or len(self.factors) != len(self.cuts) + 1:
                raise ValueError(f"group_prices with {len(self.cuts)} cut(s) needs "
                                 f"{len(self.cuts) + 1} factors (one per bin)")
            if sorted(self.cuts) != list(self.cuts):
                raise ValueError(f"group_prices.cuts must be increasing, got {self.cuts}")
        factors = list(self.levels.values()) if self.levels else list(self.factors)
        if any(f < 0 for f in factors):
            raise ValueError(f"group_prices factors must be >= 0, got {factors}")
        return self

    def factors_for(self, values) -> "np.ndarray":
        """Price factor of each value."""
        import numpy as np
        import pandas as pd
        v = pd.Series(values)
        if self.levels is not None:
            return v.astype(str).map(self.levels).fillna(self.default).to_numpy(dtype=float)
        x = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
        out = np.asarray(self.factors, dtype=float)[np.searchsorted(self.cuts, x, side="right")]
        return np.where(np.isfinite(x), out, self.default)

    def labels_for(self, values) -> "pd.Series":
        """Group label of each value (``"[12, inf)"`` for bins, the value itself for levels)."""
        import numpy as np
        import pandas as pd
        v = pd.Series(values)
        if self.levels is not None:
            return v.astype(str).where(v.astype(str).isin(list(self.levels)), "other")
        edges = [-np.inf, *self.cuts, np.inf]
        names = [f"[{edges[k]:g}, {edges[k + 1]:g})" for k in range(len(edges) - 1)]
        x = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
        k = np.searchsorted(self.cuts, x, side="right")
        return pd.Series(np.where(np.isfinite(x), np.asarray(names, dtype=object)[k], "missing"))


class Stage(_Strict):
    """One stage of a staged per-participant payment."""

    name: str
    share: float = Field(gt=0)
    event: str
    repeatable: bool = Field(default=False, description="pay this event although another stage "
                             "pays it too")

    @field_validator("share")
    @classmethod
    def _sh(cls, v):
        return _share(v, "stage share")


class StagedPayment(_Strict):
    """Staged per-participant payments (REFINO 20/40/40).

    Each stage pays ``share x price`` in the month its event first happens; with ``sequential``
    a stage is paid no earlier than the stage before it, and not at all if that stage was not
    reached.  Job events use ``min_position_share`` (REFINO: a 50 % position).
    """

    type: Literal["staged"]
    price: float = Field(gt=0, description="full price per participant")
    stages: list[Stage] = Field(min_length=1)
    min_position_share: float = Field(default=0.0, ge=0)
    sequential: bool = True
    group_prices: Optional[GroupPrices] = None

    @field_validator("min_position_share")
    @classmethod
    def _mps(cls, v):
        return _share(v, "min_position_share")

    @model_validator(mode="after")
    def _sum_one(self):
        total = sum(s.share for s in self.stages)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"stage shares add up to {total:.4g}, not 1; fix payment.stages so the "
                             f"shares sum to 1 (e.g. 0.2, 0.4, 0.4)")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique; got {names}")
        return self

    def items(self) -> list[tuple[str, str, float]]:
        return [(s.name, s.event, s.share * self.price) for s in self.stages]


class RateCardItem(_Strict):
    outcome: str = Field(description="event name (built-in or declared under contract.events)")
    price: float = Field(gt=0)
    name: Optional[str] = None
    repeatable: bool = Field(default=False, description="pay this outcome although another item "
                             "pays it too")

    @property
    def label(self) -> str:
        return self.name or self.outcome


class RateCard(_Strict):
    """A price per outcome event, with a per-participant cap and a contract cap."""

    type: Literal["rate_card"]
    items: list[RateCardItem] = Field(min_length=1)
    participant_cap: Optional[float] = Field(default=None, gt=0)
    contract_cap: Optional[float] = Field(default=None, gt=0)
    min_position_share: float = Field(default=0.0, ge=0)
    group_prices: Optional[GroupPrices] = None

    @field_validator("min_position_share")
    @classmethod
    def _mps(cls, v):
        return _share(v, "min_position_share")

    @model_validator(mode="after")
    def _caps(self):
        labels = [i.label for i in self.items]
        if len(set(labels)) != len(labels):
            raise ValueError(f"rate-card items must be unique (give a 'name' to repeat an outcome); "
                             f"got {labels}")
        top = max(i.price for i in self.items)
        if self.participant_cap is not None and self.participant_cap < top:
            raise ValueError(f"participant_cap {self.participant_cap:g} is below one payment "
                             f"(the largest price is {top:g}); raise participant_cap to at least {top:g} "
                             f"or lower the price")
        if self.contract_cap is not None and self.contract_cap < top:
            raise ValueError(f"contract_cap {self.contract_cap:g} is below one payment "
                             f"(the largest price is {top:g}); raise contract_cap")
        if (self.contract_cap is not None and self.participant_cap is not None
                and self.contract_cap < self.participant_cap):
            raise ValueError(f"contract_cap {self.contract_cap:g} is below participant_cap "
                             f"{self.participant_cap:g}; raise contract_cap")
        return self

    def items_list(self) -> list[tuple[str, str, float]]:
        return [(i.label, i.outcome, i.price) for i in self.items]


class ThresholdPayment(_Strict):
    """Pay per outcome event avoided when the participants beat the counterfactual by a margin.

    ``outcome`` is counted per person over ``window_months`` from start (Peterborough: reconviction
    events in the 12 months after release).  Persons are grouped into cohorts of
    ``cohort_months`` start months.  A cohort whose relative improvement reaches ``cohort_margin``
    gets an early payment for its events avoided; at the end, if the pooled relative improvement
    reaches ``margin``, all events avoided are paid, less early payments.  ``count="ever"`` counts
    a person once if the outcome column is true in any month of the window (e.g. a job kept:
    ``outcome: job_kept_6m, direction: increase, margin: 0`` pays for every job kept beyond the
    counterfactual rate); ``margin: 0`` pays for any improvement.
    """

    type: Literal["threshold"]
    outcome: str = "reoffence_events"
    count: Literal["sum", "ever"] = "sum"
    direction: Literal["decrease", "increase"] = "decrease"
    margin: float = Field(ge=0, description="relative improvement required overall, e.g. 0.075")
    cohort_margin: Optional[float] = Field(default=None, gt=0)
    price_per_event: float = Field(gt=0)
    window_months: int = Field(default=12, ge=1)
    cohort_months: int = Field(default=12, ge=1)
    contract_cap: Optional[float] = Field(default=None, gt=0)
    payment_lag_months: int = Field(default=0, ge=0)

    @field_validator("outcome")
    @classmethod
    def _col(cls, v):
        return _panel_column(v, "threshold outcome")

    @field_validator("margin", "cohort_margin")
    @classmethod
    def _m(cls, v, info):
        return _share(v, info.field_name)

    @model_validator(mode="after")
    def _caps(self):
        if self.contract_cap is not None and self.contract_cap < self.price_per_event:
            raise ValueError(f"contract_cap {self.contract_cap:g} is below one payment "
                             f"(price_per_event {self.price_per_event:g}); raise contract_cap")
        return self


class SharedSavings(_Strict):
    """A fixed fee per completed training plus a share of benefit savings and tax gains (Koto-SIB).

    Savings and tax gains are counted month by month against the counterfactual; payments are
    ``savings_share x savings + tax_share x tax_rate x earnings gain`` on the cumulative total,
    never below zero (a month with negative gains is netted against later payments).
    """

    type: Literal["shared_savings"]
    fee_per_completion: float = Field(default=0.0, ge=0)
    completion_event: str = "qualification"
    savings_share: float = 0.5
    tax_share: float = 0.5
    tax_rate: float = 0.3
    benefit_column: str = "sa_amount"
    earnings_column: str = "earnings"
    contract_cap: Optional[float] = Field(default=None, gt=0)

    @field_validator("savings_share", "tax_share", "tax_rate")
    @classmethod
    def _sh(cls, v, info):
        return _share(v, info.field_name)

    @field_validator("benefit_column", "earnings_column")
    @classmethod
    def _col(cls, v, info):
        return _panel_column(v, info.field_name)

    @model_validator(mode="after")
    def _caps(self):
        if (self.contract_cap is not None and self.fee_per_completion > 0
                and self.contract_cap < self.fee_per_completion):
            raise ValueError(f"contract_cap {self.contract_cap:g} is below one payment "
                             f"(fee_per_completion {self.fee_per_completion:g}); raise contract_cap")
        return self


Payment = Annotated[Union[StagedPayment, RateCard, ThresholdPayment, SharedSavings],
                    Field(discriminator="type")]


# ------------------------------------------------------------------------------------------
# investor, public side, targets
# ------------------------------------------------------------------------------------------
class Drawdown(_Strict):
    month: int = Field(ge=0, description="months after the contract start (first start month)")
    amount: float = Field(gt=0)


class InvestorTerms(_Strict):
    """A social investor pre-finances the provider and is repaid out of outcome payments.

    ``capital`` is drawn as ``drawdown`` (or evenly over ``drawdown_months`` from the start).
    ``share_of_payments`` of each outcome payment goes to the investor until principal plus
    ``return_rate`` x principal is repaid.
    """

    name: str = "investor"
    capital: float = Field(gt=0)
    drawdown: Optional[list[Drawdown]] = None
    drawdown_months: int = Field(default=1, ge=1)
    return_rate: float = Field(default=0.0, ge=0, description="total return on principal, e.g. 0.1")
    share_of_payments: float = 1.0

    @field_validator("share_of_payments")
    @classmethod
    def _s(cls, v):
        return _share(v, "share_of_payments")

    @model_validator(mode="after")
    def _draws(self):
        if self.drawdown is not None:
            total = sum(d.amount for d in self.drawdown)
            if abs(total - self.capital) > 1e-6 * max(1.0, self.capital):
                raise ValueError(f"drawdown amounts add up to {total:g} but capital is "
                                 f"{self.capital:g}; make them equal")
        return self


class PublicSide(_Strict):
    """What the public side gains and spends besides outcome payments."""

    tax_rate: float = 0.3
    programme_cost_per_participant: float = Field(default=0.0, ge=0)
    fixed_cost: float = Field(default=0.0, ge=0)
    benefit_column: str = "sa_amount"
    earnings_column: str = "earnings"
    window_months: Optional[int] = Field(default=None, ge=1)
    value_per_unit: Optional[float] = Field(
        default=None, ge=0, description="public value of one unit of the primary outcome "
        "(e.g. cost of one reconviction), used for the public break-even effect")

    @field_validator("tax_rate")
    @classmethod
    def _t(cls, v):
        return _share(v, "tax_rate")

    @field_validator("benefit_column", "earnings_column")
    @classmethod
    def _col(cls, v, info):
        return _panel_column(v, info.field_name)


class Target(_Strict):
    """An activity or result target (Alna Aktiv): the share of ``denominator`` persons that reach
    ``numerator`` (an event name or a boolean panel column, ever within the window)."""

    name: str
    kind: Literal["activity", "result"] = "result"
    target: float
    numerator: str
    denominator: str = "all"

    @field_validator("target")
    @classmethod
    def _t(cls, v):
        return _share(v, "target")


class CaseloadGoal(_Strict):
    """Goal for the social-assistance caseload of the pilot (Alna Aktiv: 20 % fewer recipients
    than the counterfactual); the fields are the arguments of :func:`~evaluation.contracts.caseload`.
    """

    reduction: float = 0.2
    baseline_months: int = Field(default=3, ge=1)
    counterfactual: Literal["comparison", "trend"] = Field(
        default="comparison", description="comparison districts (never and not yet treated) or the "
        "pilot's own pre-start trend")
    pilot: Optional[list[str]] = Field(default=None, description="pilot office codes (default: the "
                                       "first adopting office(s))")
    horizon_months: Optional[int] = Field(default=None, ge=1, description="check the goal in month "
                                          "start + horizon_months - 1 (default: the last month)")

    @field_validator("reduction")
    @classmethod
    def _r(cls, v):
        return _share(v, "reduction")


# ------------------------------------------------------------------------------------------
# the contract
# ------------------------------------------------------------------------------------------
class ContractSpec(_Strict):
    """The ``contract:`` section of a params file.

    Examples
    --------
    >>> ContractSpec.model_validate({"payment": {"type": "staged", "price": 10000,
    ...     "min_position_share": 0.5, "stages": [
    ...         {"name": "mapping", "share": 0.2, "event": "mapping"},
    ...         {"name": "job", "share": 0.4, "event": "job_entry"},
    ...         {"name": "kept", "share": 0.4, "event": "job_kept"}]}}).payment.price
    10000.0
    """

    name: str = "outcome contract"
    currency: str = "NOK"
    payment: Payment
    participants: Literal["assigned", "participated"] = Field(
        default="assigned", description="who is a contract participant: everyone assigned to the "
        "programme arm, or those who took it up")
    window_months: int = Field(default=24, ge=1, description="months from start in which outcomes count")
    cohort_months: int = Field(default=12, ge=1)
    event_options: EventOptions = Field(default_factory=EventOptions)
    events: dict[str, EventSpec] = Field(default_factory=dict)
    investor: Optional[InvestorTerms] = None
    public: PublicSide = Field(default_factory=PublicSide)
    validation_method: Optional[str] = None
    targets: list[Target] = Field(default_factory=list)
    caseload_goal: Optional[CaseloadGoal] = None
    target_population: str = ""
    targeted_participants: Optional[int] = Field(default=None, ge=1)

    @field_validator("validation_method")
    @classmethod
    def _vm(cls, v):
        if v is not None and v not in VALIDATION_METHODS:
            raise ValueError(f"validation_method {v!r} unknown; use one of {list(VALIDATION_METHODS)}")
        return v

    @model_validator(mode="after")
    def _events_known(self):
        known = set(self.all_events()) | set(SPECIAL_EVENTS)
        for label, event in self.payment_events():
            if event not in known:
                raise ValueError(f"payment {label!r} refers to unknown event {event!r}; use one of "
                                 f"{sorted(known)} or declare it under contract.events")
        self._no_event_paid_twice()
        for t in self.targets:
            for ref in (t.numerator, t.denominator):
                if ref not in known and ref not in PANEL and ref != "all":
                    raise ValueError(f"target {t.name!r} refers to {ref!r}, which is neither an event "
                                     f"nor a panel column; use one of {sorted(known)}")
        return self

    def _no_event_paid_twice(self) -> None:
        """A rule pays one event once, unless the later stage/item says ``repeatable: true``."""
        p = self.payment
        parts = (p.stages if isinstance(p, StagedPayment) else p.items if isinstance(p, RateCard)
                 else [])
        seen: dict[str, str] = {}
        for part in parts:
            event = getattr(part, "event", None) or getattr(part, "outcome", None)
            label = getattr(part, "name", None) or event
            if event in seen and not part.repeatable:
                raise ValueError(f"event {event!r} is paid twice ({seen[event]!r} and {label!r}); "
                                 f"pay each event once, or set repeatable: true on {label!r} if the "
                                 "contract really pays it again")
            seen.setdefault(event, label)

    # -- helpers --------------------------------------------------------------------------
    def all_events(self) -> dict[str, EventSpec]:
        """Built-in events (with this contract's options) updated with ``events``."""
        o = self.event_options
        mps = getattr(self.payment, "min_position_share", 0.0)
        ev = builtin_events(min_position_share=mps, full_time_share=o.full_time_share,
                            qualification_months=o.qualification_months,
                            off_sa_months=o.off_sa_months, kept_months=o.kept_months)
        ev.update(self.events)
        return ev

    def payment_events(self) -> list[tuple[str, str]]:
        p = self.payment
        if isinstance(p, StagedPayment):
            return [(s.name, s.event) for s in p.stages]
        if isinstance(p, RateCard):
            return [(i.label, i.outcome) for i in p.items]
        if isinstance(p, SharedSavings):
            return [("completion", p.completion_event)]
        return []

    def required_columns(self) -> set[str]:
        """Panel columns the contract needs (beyond the panel keys)."""
        cols = {"person_id", "month", "event_time", "arm", "treated", "assigned_month"}
        evs = self.all_events()
        for _, e in self.payment_events():
            if e == "mapping":
                cols.add("mapping_month")
            else:
                spec = evs[e]
                cols.add(spec.column)
                if spec.min_position_share or spec.max_position_share:
                    cols.add("position_share")
                if spec.eligible == "on_sa_at_start":
                    cols.add("on_social_assistance")
        if isinstance(self.payment, ThresholdPayment):
            cols.add(self.payment.outcome)
        gp = getattr(self.payment, "group_prices", None)
        if gp is not None:
            cols.add(gp.column)
        if isinstance(self.payment, SharedSavings):
            cols |= {self.payment.benefit_column, self.payment.earnings_column}
        if self.participants == "participated":
            cols.add("participated")
        return cols

    def optional_columns(self) -> tuple[str, ...]:
        """Panel columns :func:`~evaluation.contracts.evaluate` uses when the panel has them
        (office, take-up, baseline social assistance, cohort, the public side's benefit and
        earnings columns, position share)."""
        return ("office", "participated", "sa_months_12", "on_social_assistance", "cohort",
                self.public.benefit_column, self.public.earnings_column, "position_share")

    def _event_columns(self, name: str) -> list[str]:
        """Panel columns event ``name`` is detected from (:func:`~evaluation.contracts.detect_events`)."""
        if name == "mapping":
            return ["mapping_month", "assigned_month"]
        ev = self.all_events()[name]
        cols = [ev.column]
        if ev.min_position_share is not None or ev.max_position_share is not None:
            cols.append("position_share")
        if ev.eligible == "on_sa_at_start":
            cols += ["on_social_assistance", "sa_months_12"]
        return cols

    def panel_columns(self, available: Optional[Iterable[str]] = None) -> list[str]:
        """The panel columns this contract's functions read: ask the panel for just these.

        :func:`~evaluation.contracts.evaluate` (:meth:`required_columns` and
        :meth:`optional_columns`: the payment rule's event and outcome columns, ``mapping_month``
        for a mapping payment, a group price's column, the public side's benefit and earnings),
        :func:`~evaluation.contracts.monitor_targets` (:data:`PERSON_FIELDS` and the columns of
        the targets' events and flags) and :func:`~evaluation.contracts.caseload`
        (:data:`CASELOAD_COLUMNS` and ``on_social_assistance``).

        Parameters
        ----------
        available : iterable of str, optional
            The panel's columns (:attr:`evaluation.panel.Panel.columns`): names not in it are left
            out (``mapping_month`` comes from the assignment extract; the contract functions name
            a needed column that is missing, with the fix).

        Returns
        -------
        list of str
            e.g. ``panel.person_period(spec.panel_columns(panel.columns))`` is a frame on which
            the contract functions give the same results as on the whole panel.
        """
        cols = ["person_id", "month", "event_time", *sorted(self.required_columns()),
                *self.optional_columns(), *PERSON_FIELDS]
        known = set(self.all_events()) | {"mapping"}
        for t in self.targets:
            for ref in (t.numerator, t.denominator):
                if ref in known:
                    cols += self._event_columns(ref)
                elif ref != "all":      # a person flag or a panel column
                    cols.append(ref)
        if self.caseload_goal is not None:
            cols += [*CASELOAD_COLUMNS, "on_social_assistance"]
        return keep_available(cols, available)

    def check_panel(self, columns) -> None:
        """Raise ``ValueError`` naming every column the contract needs and the panel lacks."""
        missing = sorted(self.required_columns() - set(columns))
        if missing:
            hint = ""
            if "mapping_month" in missing:
                hint = (" (mapping_month is in the assignment extract: pass assignment=<that "
                        "DataFrame> to evaluate(), or merge it into the panel)")
            raise ValueError(f"the panel has no column(s) {missing} that the contract needs{hint}; "
                             f"fix the contract's outcome names or build the panel with these outcomes")

    @property
    def primary_quantity(self) -> str:
        """The per-person quantity an effect estimate refers to in the normal approximation."""
        p = self.payment
        if isinstance(p, ThresholdPayment):
            return "outcome"
        if isinstance(p, SharedSavings):
            return "benefit"
        return "payable"

    @property
    def max_payment_per_participant(self) -> Optional[float]:
        p = self.payment
        if isinstance(p, StagedPayment):
            return p.price
        if isinstance(p, RateCard):
            tot = sum(i.price for i in p.items)
            return min(tot, p.participant_cap) if p.participant_cap else tot
        return None

    def max_potential_payment(self, n_participants: Optional[int] = None) -> Optional[float]:
        """Contract cap, or the per-participant maximum times the number of participants."""
        cap = getattr(self.payment, "contract_cap", None)
        per = self.max_payment_per_participant
        n = n_participants or self.targeted_participants
        if per is not None and n:
            tot = per * n
            return min(tot, cap) if cap else tot
        return cap
