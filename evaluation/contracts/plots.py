"""Seaborn figures for outcome contracts: cumulative payments, cash-flow curves, payment distribution.

Payments are counts of persons times prices, so every amount drawn from the settlement
(cumulative payments, cash flows) passes the disclosure gate first: it is rounded to a multiple
of ``rounding_base x`` the largest unit price of the rule, as in the tables and the INDIGO export.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..disclosure import options, round_amount  # noqa: E402
from .indigo import largest_unit_price  # noqa: E402


def _rounder(res, disclosure):
    opts = options(None, disclosure)
    step = opts.base * (largest_unit_price(res) if res.spec is not None else 1.0)
    return (lambda s: s.apply(lambda v: round_amount(float(v), step))), step


def plot_contract(res, kind: str = "cumulative", ax=None, *, disclosure=None):
    """Draw one figure of a :class:`ContractResult`; returns the matplotlib Axes.

    ``disclosure`` (:class:`evaluation.disclosure.DisclosureOptions` or its dict) sets the
    rounding of the amounts drawn (default: threshold 5, base 5).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    cur = res.spec.currency if res.spec is not None else ""
    rnd, step = _rounder(res, disclosure)
    if kind == "cumulative":
        sch = res.schedule.copy()
        if sch.empty or sch["amount"].abs().sum() == 0:
            cf = res.cashflows[["month", "cum_outcome_payment"]].copy()
            cf["cum_outcome_payment"] = rnd(cf["cum_outcome_payment"])
            sns.lineplot(data=cf, x="month", y="cum_outcome_payment", ax=ax, drawstyle="steps-post")
        else:
            g = sch.groupby(["month", "item"], as_index=False)["amount"].sum()
            g = g.pivot_table(index="month", columns="item", values="amount", fill_value=0).cumsum()
            g = g.apply(rnd)
            long = g.reset_index().melt(id_vars="month", var_name="item", value_name="cumulative")
            sns.lineplot(data=long, x="month", y="cumulative", hue="item", ax=ax, drawstyle="steps-post")
            tot = rnd(g.sum(axis=1))
            ax.plot(tot.index, tot.to_numpy(), color="black", lw=2, drawstyle="steps-post", label="total")
            ax.legend()
        mx = res.totals.get("max_potential_payment")
        if mx:
            ax.axhline(mx, ls="--", color="grey", lw=1)
            ax.annotate("maximum potential payment", (ax.get_xlim()[0], mx), va="bottom", fontsize=8)
        ax.set_ylabel(f"cumulative outcome payments ({cur}, rounded to {step:,.0f})")
        ax.set_title("Cumulative outcome payments")
    elif kind == "cashflow":
        cf = res.cashflows
        cols = {"cum_outcome_payment": "outcome payments (cumulative)",
                "public_net_cum": "public side net (cumulative)"}
        if "investor_net_cum" in cf.columns:
            cols["investor_net_cum"] = "investor net (cumulative)"
        long = cf[["month", *cols]].rename(columns=cols).melt(id_vars="month", var_name="flow",
                                                              value_name="amount")
        long["amount"] = rnd(long["amount"])
        sns.lineplot(data=long, x="month", y="amount", hue="flow", ax=ax, drawstyle="steps-post")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel(f"{cur} (rounded to {step:,.0f})")
        ax.set_title("Cash flows by month")
    elif kind == "distribution":
        if res.draws.empty:
            raise ValueError("no draws: evaluate with uncertainty='bootstrap' or 'normal'")
        long = pd.concat([
            pd.DataFrame({"payment": res.draws["payment"], "scenario": "estimated effect"}),
            pd.DataFrame({"payment": res.draws["payment_zero"], "scenario": "zero true effect (deadweight)"}),
        ])
        sns.histplot(data=long, x="payment", hue="scenario", ax=ax, stat="probability",
                     common_norm=False, element="step", bins=40)
        ax.axvline(res.totals["payment"], color="black", ls="--", lw=1)
        if res.spec is not None and res.spec.investor is not None:
            ax.axvline(res.spec.investor.capital / res.spec.investor.share_of_payments, color="red",
                       ls=":", lw=1)
            ax.annotate("investor principal", (res.spec.investor.capital, ax.get_ylim()[1] * 0.9),
                        color="red", fontsize=8)
        ax.set_xlabel(f"total outcome payment ({cur})")
        ax.set_title(f"Distribution of payments ({res.uncertainty})")
    else:
        raise ValueError("kind must be 'cumulative', 'cashflow' or 'distribution'")
    return ax
