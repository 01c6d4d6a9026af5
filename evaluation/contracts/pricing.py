"""Prices from counterfactual rates, and who a rule pays for.

:func:`break_even_prices`
    The price per outcome at which the public side breaks even for a target effect, capped by a
    budget, and how it moves with the uncertainty of the counterfactual rate.
:func:`incentives`
    By baseline group: what a rule pays per participant, what it would have paid anyway (the
    counterfactual), and the effect per participant.  A rule paying most where outcomes happen
    anyway invites cream-skimming; one paying nothing for the hardest group invites parking.
:func:`even_group_prices`
    Group-specific prices (as UK rate cards weight harder groups) that make the payment expected
    without any effect the same per participant in every group.

Pricing (per participant, a price ``P`` paid for each participant reaching the outcome): with
counterfactual rate ``c``, target effect ``δ`` (in rate points) and public value ``V`` of one
additional outcome, the expected payment is ``P (c + δ)`` and the public gain ``δ V``, so the
public side breaks even at ``P* = δ V / (c + δ)``; a budget ``B`` for ``n`` participants caps the
price at ``B / (n (c + δ))``.  A rule that pays only for outcomes beyond the counterfactual rate
(a threshold rule with margin 0) breaks even at ``P* = V`` whatever ``c`` is: it carries no
deadweight by construction, which is why it is compared in :mod:`evaluation.contracts.compare`.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .engine import _Q, ContractResult
from .events import panel_frame
from .spec import GroupPrices, RateCard, StagedPayment, ThresholdPayment


def event_rate(res: ContractResult, event: str) -> tuple[float, float, float]:
    """Counterfactual rate of a payment ``event``, its standard error and the effective number of
    comparison persons, from an evaluated contract with a comparison group."""
    ev = res.events
    row = ev[(ev["event"] == event) & (ev["group"] == "comparison")]
    if res.n_comparison is None:
        raise ValueError("the counterfactual rate needs a comparison group (rct_control or matched)")
    n = float(res.n_comparison)
    c = float(row["rate"].iloc[0]) if len(row) else 0.0
    if event not in set(ev["event"]) and event not in {e for _, e in res.spec.payment_events()}:
        raise ValueError(f"event {event!r} is not paid by this rule; evaluate a rule that pays on it")
    return c, float(np.sqrt(max(c * (1 - c), 0.0) / n)), n


def break_even_prices(counterfactual_rate: float, se: float, *, target_effect: float,
                      value_per_outcome: float, budget: Optional[float] = None,
                      n_participants: Optional[int] = None, level: float = 0.95) -> pd.DataFrame:
    """Break-even price per outcome at the counterfactual rate and at the ends of its interval.

    Returns one row per counterfactual rate (``low``, ``estimate``, ``high``) with the public
    break-even price ``δ V / (c + δ)``, the budget price ``B / (n (c + δ))`` and the price to
    offer (the smaller), plus the expected payment per participant at that price.
    """
    if target_effect <= 0:
        raise ValueError(f"target_effect must be positive (an increase in the outcome rate), got {target_effect}")
    if value_per_outcome <= 0:
        raise ValueError("value_per_outcome must be positive: the public value of one additional outcome")
    if budget is not None and not n_participants:
        raise ValueError("a budget needs n_participants to turn it into a price")
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for label, c in (("low", counterfactual_rate - z * se), ("estimate", counterfactual_rate),
                     ("high", counterfactual_rate + z * se)):
        c = float(np.clip(c, 0.0, 1.0))
        p_pub = target_effect * value_per_outcome / (c + target_effect)
        p_bud = budget / (n_participants * (c + target_effect)) if budget is not None else np.nan
        price = min(p_pub, p_bud) if budget is not None else p_pub
        rows.append({"counterfactual": label, "counterfactual_rate": c,
                     "break_even_price": p_pub, "budget_price": p_bud, "price": price,
                     "payment_per_participant": price * (c + target_effect),
                     "deadweight_share": c / (c + target_effect)})
    return pd.DataFrame(rows)


def _group_labels(persons: pd.DataFrame, column: str, cuts: Optional[Sequence[float]]) -> pd.Series:
    if column not in persons.columns:
        raise ValueError(f"group column {column!r} is not in the panel; use a baseline column such as "
                         "sa_months_24, education_level or norwegian_level")
    if cuts is None:
        return persons[column].astype(str)
    gp = GroupPrices(column=column, cuts=list(cuts), factors=[1.0] * (len(cuts) + 1))
    return gp.labels_for(persons[column]).set_axis(persons.index)


def incentives(res: ContractResult, panel, by: str, *, cuts: Optional[Sequence[float]] = None) -> pd.DataFrame:
    """Payment, counterfactual payment and effect per participant by baseline group.

    For staged and rate-card rules the quantity is the payment due per person; for threshold rules
    the events (outcome) per person times the price per event.  ``paid_anyway`` is the
    counterfactual group's mean (what the rule would pay per participant with no effect);
    ``effect`` the difference; ``share_paid_anyway = paid_anyway / payment``.  Groups are the
    persons' values of ``by`` (binned at ``cuts`` for a numeric column, bins ``[a, b)``).
    """
    p = res.spec.payment
    it = res.internals
    if isinstance(p, (StagedPayment, RateCard)):
        x = it["X"][:, _Q["payable"]]
    elif isinstance(p, ThresholdPayment):
        x = it["X"][:, _Q["outcome"]]
    else:
        raise ValueError(f"incentives are defined for staged, rate-card and threshold rules, not {p.type!r}")
    df = panel_frame(panel, ["person_id", by])
    persons = df.drop_duplicates("person_id").set_index("person_id")
    persons = persons.reindex(pd.Index(it["person_id"]).astype(persons.index.dtype))
    g = _group_labels(persons.reset_index(), by, cuts).to_numpy()
    part, w = it["part"], it["weights"]
    rows = []
    for level in pd.unique(g[part | (w > 0)]):
        tp, cp = part & (g == level), (w > 0) & (g == level)
        rows.append({"group": str(level), "n": int(tp.sum()), "n_comparison": int(cp.sum()),
                     "payment": float(x[tp].mean()) if tp.any() else np.nan,
                     "paid_anyway": float(np.average(x[cp], weights=w[cp])) if cp.any() else np.nan})
    out = pd.DataFrame(rows)
    if isinstance(p, ThresholdPayment):
        # a threshold rule pays per event avoided (or gained): price x (C - T) per participant
        sign = 1.0 if p.direction == "decrease" else -1.0
        out["payment"] = p.price_per_event * sign * (out["paid_anyway"] - out["payment"])
        out["paid_anyway"] = 0.0
    out["effect"] = out["payment"] - out["paid_anyway"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share_paid_anyway"] = np.where(out["payment"] > 0, out["paid_anyway"] / out["payment"], np.nan)
    out.insert(0, "by", by)
    return out.sort_values("group", kind="mergesort").reset_index(drop=True)


def even_group_prices(table: pd.DataFrame, payment: Mapping, *, column: str,
                      cuts: Optional[Sequence[float]] = None, bounds: tuple[float, float] = (0.2, 5.0)) -> dict:
    """A copy of the ``payment`` section with ``group_prices`` that even out the payment expected
    without any effect.

    Factor ``f_g = c̄ / c_g`` where ``c_g`` is ``paid_anyway`` of group ``g`` in ``table`` (from
    :func:`incentives`) and ``c̄`` its participant-weighted mean, so ``Σ n_g f_g c_g = n c̄``: the same
    total with no effect, paid evenly per participant whatever the group's chances (no reason to
    cream-skim or to park).  Factors are clipped to ``bounds`` (a group that never reaches the
    outcome would otherwise get an unbounded price).
    """
    t = table[table["n"] > 0]
    c = t["paid_anyway"].to_numpy(dtype=float)
    cbar = float(np.average(c, weights=t["n"]))
    f = np.clip(np.divide(cbar, c, out=np.full_like(c, bounds[1]), where=c > 0), *bounds)
    gp: dict = {"column": column}
    if cuts is None:
        gp["levels"] = {str(k): round(float(v), 4) for k, v in zip(t["group"], f)}
    else:
        edges = [-np.inf, *cuts, np.inf]
        names = [f"[{edges[k]:g}, {edges[k + 1]:g})" for k in range(len(edges) - 1)]
        lookup = dict(zip(t["group"], f))
        gp.update(cuts=list(cuts), factors=[round(float(lookup.get(nm, 1.0)), 4) for nm in names])
    return {**dict(payment), "group_prices": gp}


def incentive_tables(results: Mapping[str, ContractResult], panel, groups) -> pd.DataFrame:
    """:func:`incentives` of every staged, rate-card and threshold rule in ``results`` for each
    group in ``groups`` (objects or dicts with ``column`` and optional ``cuts``), stacked with a
    ``rule`` column."""
    tables = []
    for g in groups:
        column, cuts = (g["column"], g.get("cuts")) if isinstance(g, Mapping) else (g.column, g.cuts)
        for name, res in results.items():
            if res.spec.payment.type in ("staged", "rate_card", "threshold"):
                tables.append(incentives(res, panel, column, cuts=cuts).assign(rule=name))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
