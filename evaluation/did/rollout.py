"""Descriptive views of a staggered rollout: who adopted when, and raw outcome trends by cohort.

These feed the first sections of the DiD notebook (the rollout picture and raw trends), so the
notebook only calls and shows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def rollout_table(data: pd.DataFrame, *, unit: str, group: str, district: str) -> pd.DataFrame:
    """Districts with their adoption period and number of units, in adoption order.

    Returns columns ``district``, ``first_treated`` (nullable; empty = never treated) and
    ``units``.  Never-treated is coded ``0`` or missing in ``group``.
    """
    for c in (unit, group, district):
        if c not in data.columns:
            raise KeyError(f"column {c!r} not in the data; columns are {list(data.columns)}")
    units = data.drop_duplicates(unit)[[district, group]]
    g = pd.to_numeric(units[group], errors="coerce").fillna(0)
    tab = (pd.DataFrame({"district": units[district].astype(str).to_numpy(), "g": g.to_numpy()})
           .groupby(["district", "g"]).size().rename("units").reset_index())
    tab = tab.sort_values("g", key=lambda s: s.replace(0, np.inf), kind="stable")
    tab["first_treated"] = tab["g"].astype("Int64").replace(0, pd.NA)
    return tab[["district", "first_treated", "units"]].reset_index(drop=True)


def rollout_status(table: pd.DataFrame, periods) -> pd.DataFrame:
    """District × period matrix of treatment status (1 from the adoption period on)."""
    periods = np.sort(np.asarray(periods))
    first = table["first_treated"].astype("Float64").fillna(np.inf).to_numpy(dtype=float)
    status = (periods[None, :] >= first[:, None]).astype(int)
    return pd.DataFrame(status, index=table["district"].to_numpy(), columns=periods)


def plot_rollout(status: pd.DataFrame, ax=None):
    """Heatmap of :func:`rollout_status` (red = programme running)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.5 * len(status) + 1.2))
    sns.heatmap(status, cmap=["#e8e8e8", "#c0392b"], cbar=False, linewidths=0.2, ax=ax)
    ax.set_title("Treatment status by district and period (red = programme running)")
    ax.set_xlabel("period")
    return ax


def cohort_trends(data: pd.DataFrame, *, outcome: str, group: str, time: str) -> pd.DataFrame:
    """Mean outcome and number of observations by adoption cohort and period."""
    g = pd.to_numeric(data[group], errors="coerce").fillna(0)
    out = (data.assign(_g=g).groupby(["_g", time], observed=True)[outcome]
           .agg(mean="mean", n="size").reset_index().rename(columns={"_g": group}))
    out["cohort_label"] = np.where(out[group] == 0, "never", "g=" + out[group].astype(int).astype(str))
    return out


def plot_cohort_trends(trends: pd.DataFrame, *, group: str, time: str, outcome: str, ax=None):
    """Raw trends by cohort; dashed lines mark each cohort's first treated period."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    sns.lineplot(data=trends, x=time, y="mean", hue="cohort_label", ax=ax)
    for c in sorted(trends.loc[trends[group] > 0, group].astype(int).unique()):
        ax.axvline(c, ls="--", lw=0.8, color="0.5")
    ax.set_ylabel(f"mean {outcome}")
    return ax
