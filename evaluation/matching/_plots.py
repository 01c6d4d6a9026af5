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


def overlap_plot(score: np.ndarray, treat: np.ndarray, weights: np.ndarray | None = None, ax=None):
    import matplotlib.pyplot as plt
    import seaborn as sns
    df = pd.DataFrame({"score": score, "group": np.where(treat == 1, "participants", "comparison")})
    if weights is None:
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        sns.histplot(df, x="score", hue="group", stat="density", common_norm=False, element="step",
                     bins=40, ax=ax)
        ax.set_xlabel("propensity score")
        return ax
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    sns.histplot(df, x="score", hue="group", stat="density", common_norm=False, element="step",
                 bins=40, ax=ax[0])
    ax[0].set_title("before")
    keep = weights > 0
    sns.histplot(df.loc[keep], x="score", hue="group", weights=weights[keep], stat="density",
                 common_norm=False, element="step", bins=40, ax=ax[1])
    ax[1].set_title("after matching/weighting")
    for a in ax:
        a.set_xlabel("propensity score")
    return ax
