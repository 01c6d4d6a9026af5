"""Love plot and propensity-score overlap plot (seaborn)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def love_plot(balance: pd.DataFrame, ax=None, *, abs_smd: bool = True, thresholds=(0.1, 0.25)):
    import matplotlib.pyplot as plt
    import seaborn as sns
    cols = [c for c in ("smd_before", "smd_after") if c in balance.columns]
    long = (balance[cols].rename(columns={"smd_before": "before", "smd_after": "after"})
            .rename_axis("covariate").reset_index()
            .melt(id_vars="covariate", var_name="sample", value_name="smd"))
    if abs_smd:
        long["smd"] = long["smd"].abs()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.3 * len(balance) + 1.5))
    sns.scatterplot(data=long, x="smd", y="covariate", hue="sample", style="sample", ax=ax,
                    s=50, palette={"before": "#d95f02", "after": "#1b9e77"})
    for th in thresholds:
        ax.axvline(th, ls="--", lw=0.8, color="grey")
        if not abs_smd:
            ax.axvline(-th, ls="--", lw=0.8, color="grey")
    ax.axvline(0, lw=0.8, color="black")
    ax.set_xlabel("|standardised mean difference|" if abs_smd else "standardised mean difference")
    ax.set_ylabel("")
    ax.set_title("Covariate balance")
    return ax


def _stairs(ax, score, groups, weights, threshold, bins=40):
    """Density of ``score`` by group as steps; bins with fewer than ``threshold`` persons of a
    group are left out (disclosure gate), and the figure says how many."""
    from ..disclosure import masked_histogram, note_hidden
    edges = np.histogram_bin_edges(score[np.isfinite(score)], bins=bins)
    hidden = 0
    for name, colour in (("participants", "#1b9e77"), ("comparison", "#d95f02")):
        sel = groups == name
        w = None if weights is None else weights[sel]
        e, h, k = masked_histogram(score[sel], edges, threshold=threshold, weights=w)
        hidden += k
        ax.stairs(h, e, label=name, color=colour)
    ax.legend(title="group")
    ax.set_ylabel("density")
    note_hidden(ax, hidden, threshold, "bin(s)")


def overlap_plot(score: np.ndarray, treat: np.ndarray, weights: np.ndarray | None = None, ax=None,
                 *, threshold: int = 5):
    """Propensity-score densities of participants and comparison pool, before (and after)
    matching/weighting; no bin of fewer than ``threshold`` persons is drawn."""
    import matplotlib.pyplot as plt
    score = np.asarray(score, dtype=float)
    groups = np.where(np.asarray(treat) == 1, "participants", "comparison")
    if weights is None:
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        _stairs(ax, score, groups, None, threshold)
        ax.set_xlabel("propensity score")
        return ax
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    _stairs(ax[0], score, groups, None, threshold)
    ax[0].set_title("before")
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    _stairs(ax[1], score[keep], groups[keep], w[keep], threshold)
    ax[1].set_title("after matching/weighting")
    for a in ax:
        a.set_xlabel("propensity score")
    return ax
