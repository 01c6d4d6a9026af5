"""Figures for contract design (:mod:`evaluation.contracts.compare`, :mod:`.pricing`).

Every figure shows aggregates of at least ``threshold`` persons: groups below it are left out of
the incentive figure (and named in its note), as the disclosure gate requires.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _ax(ax, size=(8, 3.6)):
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_comparison(cmp, kind: str = "payments", ax=None):
    """``payments``: expected payment per rule, split into deadweight (paid with no effect) and the
    rest; ``curve``: probability of any payment against the size of the true effect; ``irr``: the
    investor's internal rate of return over the draws."""
    ax = _ax(ax)
    cur = cmp.currency
    if kind == "payments":
        t = cmp.table
        y = np.arange(len(t))
        dead = t["deadweight"].to_numpy() / 1e6
        rest = np.maximum(t["expected_payment"].to_numpy() / 1e6 - dead, 0)
        ax.barh(y, dead, color="0.55", hatch="//", edgecolor="0.2", label="paid with no true effect (deadweight)")
        ax.barh(y, rest, left=dead, color="0.85", edgecolor="0.2", label="paid for the estimated effect")
        ax.set_yticks(y, t["rule"])
        ax.set_xlabel(f"expected payment (million {cur})")
        ax.legend(loc="lower right", fontsize=8)
    elif kind == "curve":
        c = cmp.curves
        xcol = next((k for k in c.columns if k.startswith("true_effect_")), "multiple")
        for (name, g), ls in zip(c.groupby("rule", sort=False), ("-", "--", ":", "-.") * 4):
            ax.plot(g[xcol], g["p_payment"], ls, color="0.15", marker="o", ms=3, label=name)
        ax.set_xlabel(xcol.replace("_", " ") if xcol != "multiple" else "multiple of the stated true effect")
        ax.set_ylabel("P(any payment)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    elif kind == "irr":
        d = cmp.irr
        if d.empty:
            raise ValueError("no investor in the comparison: give design.investor for the IRR distribution")
        names = list(dict.fromkeys(d["rule"]))
        data = [d.loc[d["rule"] == n, "irr"].dropna().to_numpy() * 100 for n in names]
        ax.boxplot(data, orientation="horizontal", tick_labels=names, whis=(5, 95), showfliers=False)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_xlabel("investor's internal rate of return (% a year; 5-95 % whiskers)")
    else:
        raise ValueError(f"kind {kind!r} unknown; use 'payments', 'curve' or 'irr'")
    return ax


def plot_incentives(table: pd.DataFrame, *, threshold: int = 5, currency: str = "NOK", ax=None):
    """Payment per participant by baseline group, split into what would be paid anyway and what
    the effect earns, one panel row per rule (``table`` from :func:`incentives` with a ``rule``
    column, or one rule)."""
    ax = _ax(ax, (8, 0.5 + 0.35 * len(table)))
    t = table[table["n"] >= threshold].reset_index(drop=True)
    label = (t["rule"] + ": " if "rule" in t.columns else "") + t["group"].astype(str)
    y = np.arange(len(t))
    anyway = t["paid_anyway"].to_numpy()
    effect = t["effect"].to_numpy()
    ax.barh(y, anyway, color="0.55", hatch="//", edgecolor="0.2", label="paid anyway (no effect)")
    ax.barh(y, effect, left=anyway, color="0.85", edgecolor="0.2", label="paid for the effect")
    ax.set_yticks(y, label)
    ax.invert_yaxis()
    ax.set_xlabel(f"payment per participant ({currency})")
    ax.legend(loc="lower right", fontsize=8)
    return ax
