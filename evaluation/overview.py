"""Descriptive panel overview used by the first notebook of every report.

Functions here compute publishable summaries of a person-month panel: person-level descriptive
statistics by a grouping column (arm, district), and outcome trajectories over calendar time or
event time with the number of persons behind each point, so small cells can be suppressed.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .disclosure import DEFAULT_THRESHOLD, mask_points, note_hidden

#: Person-level characteristics described in the overview (those present are used).
DESCRIBE_COLUMNS = ("age", "female", "immigrant", "under_30", "years_in_norway",
                    "sa_months_12", "sa_months_24", "emp_months_12", "emp_months_24",
                    "earnings_12")


def person_table(data: pd.DataFrame) -> pd.DataFrame:
    """One row per person: the first observed row of each person (time-invariant columns)."""
    if "person_id" not in data.columns:
        raise KeyError("column 'person_id' missing from the panel; build it with "
                       "evaluation.panel.build_panel")
    return data.drop_duplicates("person_id", keep="first")


def describe_by(data: pd.DataFrame, by: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Means of person characteristics by ``by`` (one column per group) with a count row ``n``.

    Binary columns are shown as shares, others as means; a persons table or a person-month
    panel can be passed (the panel is reduced to one row per person first).
    """
    if by not in data.columns:
        raise KeyError(f"grouping column {by!r} not in the data; columns are {list(data.columns)}")
    persons = person_table(data) if data.duplicated("person_id").any() else data
    cols = [c for c in (columns or DESCRIBE_COLUMNS) if c in persons.columns]
    num = persons[cols].apply(pd.to_numeric, errors="coerce").astype(float)
    num[by] = persons[by].astype(str).to_numpy()
    means = num.groupby(by, observed=True)[cols].mean().T
    counts = persons.groupby(persons[by].astype(str), observed=True).size()
    means.loc["n"] = counts
    means.index.name = "characteristic"
    return means


def flow_spec(flow: pd.DataFrame):
    """:class:`~evaluation.disclosure.TableSpec` of the panel's sample flow (columns ``stage``,
    ``kind``, ``persons``, ``person_months``, as :func:`evaluation.panel.build_panel` writes it).

    Declared from the flow's structure codes (``kind``: total / excluded / kept), never from its
    wording: in each stage the total row equals its excluded rows plus its kept row (persons add
    up in the persons stage, person-months in every stage), and the persons kept by the first
    stage are the persons the next stage starts from.
    """
    from .disclosure import Sum, TableSpec
    stage, kind = flow["stage"].to_numpy(), flow["kind"].to_numpy()
    sums, firsts = [], []
    for i, st in enumerate(pd.unique(stage)):
        rows = np.flatnonzero(stage == st)
        tot, parts = rows[kind[rows] == "total"], rows[kind[rows] != "total"]
        kept = rows[kind[rows] == "kept"]
        if len(tot) == 1 and len(parts):
            cols = ["persons", "person_months"] if i == 0 else ["person_months"]
            sums.append(Sum(int(tot[0]), [int(r) for r in parts], columns=cols))
        firsts.append((tot[0] if len(tot) == 1 else None, kept[0] if len(kept) == 1 else None))
    for (_, kept_a), (tot_b, _) in zip(firsts, firsts[1:]):
        if kept_a is not None and tot_b is not None:
            sums.append(Sum(int(tot_b), [int(kept_a)], columns=["persons"]))
    return TableSpec(counts=["persons", "person_months"], sums=sums)


def by_group(desc: pd.DataFrame):
    """:func:`describe_by`'s table for publishing: one row per group (``n`` and the group's
    means and shares), with its :class:`~evaluation.disclosure.TableSpec`: ``n`` is a count,
    every other column a statistic of the group's persons, and the groups partition the panel
    (whose size the sample flow publishes)."""
    from .disclosure import TableSpec
    wide = desc.T
    by = wide.index.name or "group"
    wide = wide.rename_axis(by).reset_index()
    wide.columns = [str(c) for c in wide.columns]
    wide["n"] = pd.to_numeric(wide["n"]).astype("Int64")
    stats = [c for c in wide.columns if c not in (by, "n")]
    wide = wide[[by, "n", *stats]]
    return wide, TableSpec(counts=["n"], stats={"n": stats}, partition=True)


def means_spec(means: pd.DataFrame, outcomes: Sequence[str]):
    """:class:`~evaluation.disclosure.TableSpec` of :func:`outcome_means`: ``n`` a count of the
    group's persons, the outcome means its statistics, groups partitioning the panel."""
    from .disclosure import TableSpec
    return TableSpec(counts=["n"], stats={"n": list(outcomes)}, partition=True)


def _is_panel(data) -> bool:
    """A built :class:`~evaluation.panel.Panel` (its frames come from disk), not a frame."""
    return not isinstance(data, pd.DataFrame) and hasattr(data, "aggregate") and hasattr(data, "persons")


def trajectories(data, outcome: str, *, by: str, time: str = "month") -> pd.DataFrame:
    """Mean of ``outcome`` by ``by`` and ``time`` with the number of persons (``n``) in each cell.

    ``data`` is a person-month frame or a :class:`~evaluation.panel.Panel`, whose (group, time)
    aggregates are computed by the engine over the panel files (only they come into memory)."""
    if _is_panel(data):
        a = data.aggregate([by, time], outcomes=[outcome])
        a = a[a[time].notna()]
        out = pd.DataFrame({by: a[by], time: a[time], "mean": a[f"{outcome}_mean"], "n": a["n"]})
        out["outcome"] = outcome
        return out.reset_index(drop=True)
    for c in (outcome, by, time):
        if c not in data.columns:
            raise KeyError(f"column {c!r} not in the panel; columns are {list(data.columns)}")
    d = data[[by, time, outcome]].dropna(subset=[time])
    g = d.groupby([by, time], observed=True)[outcome]
    out = g.agg(mean="mean", n="count").reset_index()
    out["outcome"] = outcome
    return out


def outcome_means(data, outcomes: Sequence[str], *, by: str) -> pd.DataFrame:
    """Mean of each outcome over all observed person-months by ``by``, with persons ``n``
    (``data``: a person-month frame, or a Panel whose aggregates the engine computes)."""
    if _is_panel(data):
        a = data.aggregate([by], outcomes=list(outcomes))
        means = pd.DataFrame({o: a[f"{o}_mean"].to_numpy(float) for o in outcomes},
                             index=pd.Index(a[by].astype(str), name=by))
        means["n"] = data.persons()[by].astype(str).value_counts()
        return means.sort_index().reset_index()
    missing = [c for c in (*outcomes, by) if c not in data.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not in the panel; columns are {list(data.columns)}")
    key = data[by].astype(str)
    means = data[list(outcomes)].astype(float).groupby(key, observed=True).mean()
    means["n"] = data.groupby(key, observed=True)["person_id"].nunique()
    means.index.name = by
    return means.reset_index()


def suppress_points(traj: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Drop trajectory points that rest on fewer than ``threshold`` persons (for figures).

    Returns a copy; the number of points removed is in ``.attrs['suppressed_points']`` so the
    figure caption can say so.
    """
    return mask_points(traj, "n", threshold)


def plot_trajectories(traj: pd.DataFrame, *, by: str, time: str = "month", ax=None,
                      title: str | None = None, threshold: int = DEFAULT_THRESHOLD):
    """Line plot of mean outcome over ``time`` by ``by`` (seaborn), small cells left out."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    pts = suppress_points(traj, threshold)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    sns.lineplot(data=pts, x=time, y="mean", hue=by, ax=ax)
    if time == "event_time":
        ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel(traj["outcome"].iloc[0] if len(traj) else "")
    ax.set_title(title or "")
    note_hidden(ax, pts.attrs.get("suppressed_points", 0), threshold)
    return ax
