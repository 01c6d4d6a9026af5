"""Outcome events per participant from the person-month panel (vectorised, no loops over persons)."""
from __future__ import annotations

from typing import Iterable, Mapping, Optional

import numpy as np
import pandas as pd

from .spec import PERSON_FIELDS, ContractSpec, EventSpec, keep_available

EVENT_COLUMNS = ["person_id", "event", "month", "event_time"]


def month_index(s: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Months since year 0 (``year * 12 + month - 1``) as float, NaN for NaT."""
    s = pd.to_datetime(pd.Series(s))
    out = (s.dt.year * 12 + s.dt.month - 1).astype("float64")
    return out.to_numpy()


def index_to_month(idx) -> pd.Series:
    idx = np.asarray(idx, dtype="float64")
    ok = np.isfinite(idx)
    years = np.where(ok, idx // 12, 2000).astype(int)
    months = np.where(ok, idx % 12 + 1, 1).astype(int)
    out = pd.to_datetime(pd.DataFrame({"year": years, "month": months, "day": 1}))
    out[~ok] = pd.NaT
    return out


def panel_frame(panel, columns: Iterable[str]) -> pd.DataFrame:
    """``panel`` itself when it is a DataFrame; from a :class:`evaluation.panel.Panel`, the
    person x period frame of those ``columns`` the panel has (only they come into memory; a
    missing one is named by the function that needs it)."""
    if isinstance(panel, pd.DataFrame):
        return panel
    if hasattr(panel, "person_period") and hasattr(panel, "columns"):
        return panel.person_period(keep_available(columns, panel.columns))
    data = getattr(panel, "data", None)
    if isinstance(data, pd.DataFrame):
        return data
    raise TypeError(f"panel must be a pandas DataFrame or an evaluation.panel.Panel, got "
                    f"{type(panel).__name__}")


def prepare_panel(panel: pd.DataFrame, spec: ContractSpec, *,
                  assignment: Optional[pd.DataFrame] = None,
                  extra_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Check the panel against the contract, add ``mapping_month`` from ``assignment`` if needed,
    and return the needed columns sorted by person and month.  From a
    :class:`evaluation.panel.Panel` only :meth:`ContractSpec.panel_columns` are read."""
    df = panel_frame(panel, [*spec.panel_columns(), *extra_columns])
    needed = spec.required_columns() | set(extra_columns)
    if "mapping_month" in needed and "mapping_month" not in df.columns and assignment is not None:
        if not {"person_id", "mapping_month"} <= set(assignment.columns):
            raise ValueError("assignment must have columns 'person_id' and 'mapping_month' "
                             "(the assignment extract)")
        mm = assignment[["person_id", "mapping_month"]].drop_duplicates("person_id")
        df = df.merge(mm, on="person_id", how="left", validate="many_to_one")
    spec.check_panel(df.columns)
    missing_extra = sorted(set(extra_columns) - set(df.columns))
    if missing_extra:
        raise ValueError(f"the panel has no column(s) {missing_extra}")
    cols = [c for c in dict.fromkeys(["person_id", "month", "event_time", *sorted(needed)])
            if c in df.columns]
    for c in spec.optional_columns():
        if c in df.columns and c not in cols:
            cols.append(c)
    out = df[cols].sort_values(["person_id", "month"], kind="mergesort").reset_index(drop=True)
    # persons without a start month (never-treated districts) have no event time: never in a window
    et = pd.to_numeric(out["event_time"], errors="coerce").astype("float64")
    out["event_time"] = et.fillna(-10 ** 6).astype("int64")
    if isinstance(out["person_id"].dtype, pd.CategoricalDtype):
        out["person_id"] = out["person_id"].astype(str)
    if out.duplicated(["person_id", "month"]).any():
        n = int(out.duplicated(["person_id", "month"]).sum())
        raise ValueError(f"the panel has {n} duplicate person-months; build it with "
                         "evaluation.panel.build_panel, which refuses duplicates")
    return out


def _condition(df: pd.DataFrame, ev: EventSpec) -> np.ndarray:
    col = df[ev.column].to_numpy()
    if col.dtype == bool:
        c = col.copy()
    else:
        c = np.nan_to_num(col.astype("float64")) > 0
    if ev.negate:
        c = ~c
    if ev.min_position_share is not None or ev.max_position_share is not None:
        ps = np.nan_to_num(df["position_share"].to_numpy(dtype="float64"))
        if ev.min_position_share is not None:
            c &= ps >= ev.min_position_share - 1e-12
        if ev.max_position_share is not None:
            c &= ps < ev.max_position_share - 1e-12
    return c


def _on_sa_at_start(df: pd.DataFrame) -> np.ndarray:
    """Row mask: the row's person was on social assistance in the 12 months up to start."""
    et = df["event_time"].to_numpy()
    on = df["on_social_assistance"].to_numpy().astype(bool) & (et <= 0) & (et >= -12)
    person = pd.Series(on).groupby(df["person_id"].to_numpy(), sort=False).transform("max").to_numpy().copy()
    if "sa_months_12" in df.columns:
        person |= np.nan_to_num(df["sa_months_12"].to_numpy(dtype="float64")) > 0
    return person


def detect_event(df: pd.DataFrame, ev: EventSpec, window_months: int) -> pd.DataFrame:
    """First month each person reaches the event (``df`` sorted by person and month)."""
    pid = df["person_id"].to_numpy()
    et = df["event_time"].to_numpy(dtype="int64")
    n = len(df)
    inwin = (et >= 0) & (et < window_months)
    c = _condition(df, ev) & inwin
    if ev.eligible == "on_sa_at_start":
        c &= _on_sa_at_start(df)
    new_person = np.ones(n, dtype=bool)
    new_person[1:] = pid[1:] != pid[:-1]
    gap = new_person.copy()
    gap[1:] |= et[1:] != et[:-1] + 1
    brk = (~c) | gap
    run_id = np.cumsum(brk)
    run_len = pd.Series(c.astype(np.int64)).groupby(run_id).cumsum().to_numpy()
    k = ev.consecutive_months
    if ev.kind == "reached":
        hit = c & (run_len == k)
    else:  # completed: this row ends a run of >= k months (condition false, contiguous, same person)
        prev = np.zeros(n, dtype=np.int64)
        prev[1:] = run_len[:-1]
        hit = (~c) & (~gap) & (prev >= k) & inwin
    rows = df.loc[hit, ["person_id", "month", "event_time"]]
    first = rows.drop_duplicates("person_id", keep="first")
    return first


def person_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per person with assignment fields (first row of each person)."""
    keep = [c for c in PERSON_FIELDS if c in df.columns]
    return df[keep].drop_duplicates("person_id", keep="first").reset_index(drop=True)


def detect_events(df: pd.DataFrame, spec: ContractSpec, names: Optional[Iterable[str]] = None,
                  window_months: Optional[int] = None) -> pd.DataFrame:
    """Outcome events per person: ``person_id, event, month, event_time`` (first occurrence).

    ``names`` defaults to the events the payment rule uses.  ``mapping`` comes from the
    ``mapping_month`` column (the assignment extract).
    """
    W = window_months or spec.window_months
    evs = spec.all_events()
    if names is None:
        names = [e for _, e in spec.payment_events()]
    names = list(dict.fromkeys(names))
    out = []
    for name in names:
        if name == "mapping":
            persons = person_table(df)
            if "mapping_month" not in persons.columns:
                raise ValueError("event 'mapping' needs the mapping_month column (assignment extract)")
            mm = month_index(persons["mapping_month"])
            am = month_index(persons["assigned_month"])
            et = mm - am
            ok = np.isfinite(mm) & (et >= 0) & (et < W)
            e = pd.DataFrame({"person_id": persons["person_id"].to_numpy()[ok],
                              "month": pd.to_datetime(persons["mapping_month"]).to_numpy()[ok],
                              "event_time": et[ok].astype(int)})
        else:
            if name not in evs:
                raise ValueError(f"unknown event {name!r}; known: {sorted(evs) + ['mapping']}")
            e = detect_event(df, evs[name], W)
        e = e.assign(event=name)
        out.append(e[EVENT_COLUMNS])
    if not out:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    return pd.concat(out, ignore_index=True)


def ever_true(df: pd.DataFrame, column: str, window_months: int) -> pd.Series:
    """Per person: was the boolean ``column`` ever true within the window (from start)?"""
    et = df["event_time"].to_numpy()
    inwin = (et >= 0) & (et < window_months)
    v = df[column].to_numpy()
    v = v.astype(bool) if v.dtype == bool else np.nan_to_num(v.astype(float)) > 0
    return pd.Series(v & inwin).groupby(df["person_id"].to_numpy(), sort=False).max()


def window_sums(df: pd.DataFrame, columns: Mapping[str, str], window_months: int) -> pd.DataFrame:
    """Per person sums of panel columns over months ``0 .. window_months-1`` after start."""
    et = df["event_time"].to_numpy()
    inwin = (et >= 0) & (et < window_months)
    data = {}
    for name, col in columns.items():
        v = np.nan_to_num(df[col].to_numpy(dtype="float64"))
        data[name] = np.where(inwin, v, 0.0)
    if not data:
        return pd.DataFrame(index=pd.unique(df["person_id"].to_numpy()))
    return pd.DataFrame(data).groupby(df["person_id"].to_numpy(), sort=False).sum()
