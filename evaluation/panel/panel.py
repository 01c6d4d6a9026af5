"""The :class:`Panel` object: the person-month panel, its sample flow, persons and descriptions."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ._constants import OUTCOMES
from .problems import ValidationReport

#: Largest panel (person-months) that :attr:`Panel.data` brings into pandas by default (about
#: 2 GB with person columns); above it ask for frames (:meth:`Panel.person_frame`,
#: :meth:`Panel.person_period`, :meth:`Panel.aggregate`).  Overridden by ``EVALUATION_DATA_ROW_LIMIT``.
DATA_ROW_LIMIT = 20_000_000

_DESCRIBE_COVARIATES = ("age", "female", "under_30", "immigrant", "years_in_norway", "participated")


#: The group of persons without a value of ``describe_by``'s grouping column (e.g. no provider).
MISSING_GROUP = "(missing)"


def _missing_as_group(s: pd.Series) -> pd.Series:
    """``s`` with missing values as the group :data:`MISSING_GROUP` (text and categorical
    columns; others unchanged: a flag or number has no missing value in the panel)."""
    if not s.isna().any():
        return s
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.add_categories([MISSING_GROUP]).fillna(MISSING_GROUP)
    return s.astype(object).where(s.notna(), MISSING_GROUP)


class Panel:
    """A person-month panel with its sample flow.

    Attributes
    ----------
    data : DataFrame
        One row per person and observed month, columns as :data:`evaluation.schema.PANEL` (see the
        module docstring for definitions).  String columns are categoricals, flags ``bool``,
        counts small integers; ``event_time`` and ``cohort`` are nullable ``Int16``.  The panel
        lives on disk (:attr:`store`); ``data`` reads it whole into pandas on first use, up to
        ``data_row_limit`` person-months; beyond that it is an error pointing to the frames.
    flow : DataFrame
        Sample-flow table with columns ``step, stage, kind, reason, persons, person_months``.
        ``stage`` is ``"persons"`` (who enters the panel), ``"person-months"`` (which months of
        the kept persons are rows) or ``"records"`` (register records not used for monthly
        outcomes); ``kind`` is ``"total"``, ``"excluded"``, ``"kept"`` or ``"info"``.  Within the
        ``persons`` stage, ``total`` persons = sum of ``excluded`` persons + ``kept`` persons;
        within the ``person-months`` stage, ``total`` person-months (kept persons x window months)
        = sum of ``excluded`` + ``kept`` person-months (= ``len(data)``).
    meta : dict
        Contents of ``meta.json`` (when loaded with :func:`load_panel`) plus ``meta["panel"]``:
        window, counts, data start, baseline months, extracts used and missing.
    truth : DataFrame or None
        ``truth.parquet`` of a synthetic scenario, when loaded with :func:`load_panel`.
    report : ValidationReport or None
        Validation warnings (exclusions) behind the flow.
    """

    def __init__(self, data: pd.DataFrame | None, flow: pd.DataFrame, meta: dict | None = None,
                 persons: pd.DataFrame | None = None, truth: pd.DataFrame | None = None,
                 report: ValidationReport | None = None, store=None,
                 data_row_limit: int | None = None):
        self._data = data
        self.flow = flow
        self.meta = meta if meta is not None else {}
        self._persons = persons
        self.truth = truth
        self.report = report
        self.store = store
        self.data_row_limit = data_row_limit

    @classmethod
    def from_store(cls, store, flow, meta, *, report=None, data_row_limit=None) -> "Panel":
        """A panel whose rows are in the parquet files of ``store`` (:mod:`.store`)."""
        return cls(None, flow, meta, report=report, store=store, data_row_limit=data_row_limit)

    @property
    def n_person_months(self) -> int:
        if self._data is not None:
            return len(self._data)
        return int(self.meta.get("panel", {}).get("n_person_months", 0))

    @property
    def columns(self) -> list[str]:
        """The panel's columns (:data:`evaluation.schema.PANEL` order), from the store's layout
        without reading any rows: check a column here, then ask for a frame with it."""
        if self.store is not None:
            return list(self.store.columns)
        return list(self.data.columns)

    @property
    def data(self) -> pd.DataFrame:
        if self._data is None:
            import os
            limit = self.data_row_limit or int(os.environ.get("EVALUATION_DATA_ROW_LIMIT", DATA_ROW_LIMIT))
            n = self.n_person_months
            if n > limit:
                raise MemoryError(
                    f"the panel has {n:,} person-months, more than data_row_limit={limit:,} that "
                    "Panel.data brings into pandas. Fix: ask for an analysis frame instead -- "
                    "panel.person_frame(event_times=[...]) (one row per person at event times), "
                    "panel.person_period(columns=[...]) (person x period for DiD) or "
                    "panel.aggregate(by=[...]) ((group, period) counts and means) -- or raise the "
                    "limit (data_row_limit=, EVALUATION_DATA_ROW_LIMIT) if memory allows")
            self._data = self.store.read()
        return self._data

    @data.setter
    def data(self, value: pd.DataFrame) -> None:
        self._data = value

    # ------------------------------------------------------------------
    def persons(self) -> pd.DataFrame:
        """One row per person in the panel: assignment, covariates, baseline histories.

        Besides the person-level panel columns it has ``mapping_month`` (from ``assignment``),
        ``first_month``/``last_month`` (first and
        last panel month), ``n_months`` (panel rows) and ``baseline_observed_k`` (observed months
        in each baseline window).
        """
        if self._persons is None and self.store is not None:
            self._persons = self.store.read_persons()
        if self._persons is None:  # pragma: no cover - panels built by build_panel have it
            raise ValueError("this Panel has no person table")
        return self._persons.copy()

    @property
    def window(self) -> tuple[str, str] | None:
        w = self.meta.get("panel", {}).get("window")
        return tuple(w) if w else None

    def summary(self) -> str:
        """Printable overview: window, persons and person-months, arms, sample flow, outcome means."""
        pm = self.meta.get("panel", {})
        lines = [f"Person-month panel: {pm.get('n_persons', '?')} persons, {self.n_person_months} person-months, "
                 f"window {pm.get('window', ['?', '?'])[0]}..{pm.get('window', ['?', '?'])[1]}"]
        if "scenario" in self.meta:
            lines[0] += f", scenario {self.meta['scenario']}"
        pers = self.persons() if (self._persons is not None or self.store is not None) else None
        if pers is not None and "arm" in pers:
            arms = pers["arm"].value_counts(dropna=False).sort_index()
            lines.append("Persons by arm: " + ", ".join(f"{k}: {v}" for k, v in arms.items()))
        lines.append("Sample flow:")
        lines.append(self.flow.to_string(index=False))
        outs = [c for c in OUTCOMES if c in self.columns]
        if outs and self.n_person_months:
            agg = self.aggregate([], outcomes=outs).iloc[0]
            means = pd.Series({o: agg[f"{o}_mean"] for o in outs})
            lines.append("Outcome means over person-months:")
            lines.append(means.to_string(float_format=lambda x: f"{x:.4g}"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        pm = self.meta.get("panel", {})
        return (f"<Panel: {pm.get('n_persons', '?')} persons x {self.n_person_months} person-months, "
                f"window {pm.get('window')}>")

    def _repr_html_(self) -> str:
        pm = self.meta.get("panel", {})
        head = (f"<p><b>Person-month panel</b>: {pm.get('n_persons', '?')} persons, {self.n_person_months} "
                f"person-months, window {pm.get('window')}</p>")
        first = self.store.head(5) if self.store is not None and self._data is None else self.data.head(5)
        return (head + "<p><b>Sample flow</b></p>" + self.flow.to_html(index=False)
                + "<p><b>First rows</b></p>" + first.to_html(index=False))

    # ------------------------------------------------------------------ analysis frames
    def _read(self, columns: Sequence[str] | None, filter=None) -> pd.DataFrame:
        """Rows of the panel with some columns (from disk; from ``data`` for hand-made panels)."""
        if self.store is None or self._data is not None and self.store is None:
            d = self.data if columns is None else self.data[list(columns)]
            if filter is not None:
                col, op, vals = filter[0]
                d = d[d[col].isin(vals)]
            return d.reset_index(drop=True)
        return self.store.read(columns, filter=filter)

    def _check_columns(self, cols, what: str) -> list[str]:
        from .. import schema
        have = self.columns
        bad = [c for c in cols if c not in have]
        if bad:
            raise ValueError(f"{what}: column(s) {bad} not in the panel; columns are {have}"
                             + ("" if all(c in schema.PANEL for c in bad) else
                                " (see evaluation.schema.PANEL)"))
        return list(cols)

    def person_frame(self, event_times, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per person and chosen event time (months since ``assigned_month``).

        Parameters
        ----------
        event_times : int or sequence of int
            e.g. ``12`` (the headline horizon) or ``[6, 12, 24]``.
        columns : sequence of str, optional
            Panel columns to include (default: all).  ``person_id`` and ``event_time`` are
            always included.

        Returns
        -------
        DataFrame
            Rows of the panel with ``event_time`` in ``event_times`` (persons not observed at an
            event time have no row there: attrition), sorted by person and event time.
        """
        ets = [int(event_times)] if np.ndim(event_times) == 0 else [int(e) for e in event_times]
        cols = None if columns is None else self._check_columns(
            ["person_id", "event_time", *[c for c in columns if c not in ("person_id", "event_time")]],
            "person_frame")
        return self._read(cols, filter=[("event_time", "in", ets)])

    def person_period(self, columns: Sequence[str] | None = None, *,
                      periods: Sequence[int] | None = None) -> pd.DataFrame:
        """Person x period frame for difference-in-differences: the panel rows with some columns.

        Parameters
        ----------
        columns : sequence of str, optional
            Panel columns (default: all); ``person_id`` and ``period`` are always included.
        periods : sequence of int, optional
            Keep these periods only.
        """
        cols = None if columns is None else self._check_columns(
            ["person_id", "period", *[c for c in columns if c not in ("person_id", "period")]],
            "person_period")
        return self._read(cols, filter=None if periods is None else
                          [("period", "in", [int(p) for p in periods])])

    def aggregate(self, by: Sequence[str] = ("office", "period"), *,
                  outcomes: Sequence[str] | None = None, sd: bool = False) -> pd.DataFrame:
        """(group, period) aggregates computed in the engine: rows, persons, sums and means.

        Parameters
        ----------
        by : sequence of str, default ("office", "period")
            Grouping columns, e.g. ``["office", "month"]``, ``["cohort", "period"]``.
        outcomes : sequence of str, optional
            Outcome columns (default: every outcome in the panel).
        sd : bool, default False
            Also ``<outcome>_sd``, the sample standard deviation (``n - 1`` denominator).

        Returns
        -------
        DataFrame
            One row per group: ``by`` columns, ``n`` (person-months = persons, one row per person
            and period), and ``<outcome>_sum`` and ``<outcome>_mean`` for each outcome; sorted by
            ``by``.  ``by=[]``: one row over all person-months.  Only these aggregates come into
            pandas, whatever the panel's size.
        """
        by = self._check_columns(list(by), "aggregate")
        outs = [o for o in OUTCOMES if o in self.columns] if outcomes is None else \
            self._check_columns(list(outcomes), "aggregate")
        if self.store is None:
            d = self.data.assign(_all=0)
            g = d.groupby(by or ["_all"], observed=True, dropna=False)
            out = g.size().rename("n").to_frame()
            for o in outs:
                v = g[o]
                out[f"{o}_sum"] = v.sum().astype(float)
                out[f"{o}_mean"] = v.mean().astype(float)
                if sd:
                    out[f"{o}_sd"] = v.std().astype(float)
            return out.reset_index(drop=not by)
        return self.store.aggregate(by, outs, sd=sd)

    def describe_by(self, by: str = "arm", *, covariates: Sequence[str] | None = None,
                    outcomes: Sequence[str] | None = None) -> pd.DataFrame:
        """Descriptive statistics by group (arm, office/district, provider, ...).

        Parameters
        ----------
        by : str, default "arm"
            A person-level column (``arm``, ``office``, ``provider``, ``treated``, ``sex``, ...).
        covariates : sequence of str, optional
            Person-level variables, summarised over persons (default: age, female, under_30,
            immigrant, years_in_norway, participated and the baseline histories).
        outcomes : sequence of str, optional
            Panel outcomes, summarised over person-months (default: all outcome columns).

        Returns
        -------
        DataFrame
            Index ``(level, variable)`` with ``level`` ``"person"`` or ``"person-month"``;
            columns ``(group, stat)`` (persons without a value of ``by`` are the group
            :data:`MISSING_GROUP`) with stats ``n`` (non-missing observations), ``mean``,
            ``sd``.  The first row ``("person", "persons")`` gives the number of persons.
        """
        pers = self.persons()
        if by not in pers.columns:
            raise ValueError(f"describe_by: {by!r} is not a person-level column; use one of "
                             f"{[c for c in pers.columns if pers[c].nunique() <= 50]}")
        pers[by] = _missing_as_group(pers[by])   # persons without a value (e.g. no provider): a group
        if covariates is None:
            covariates = [c for c in _DESCRIBE_COVARIATES if c in pers.columns]
            covariates += [c for c in pers.columns if c.startswith(("sa_months_", "emp_months_",
                                                                   "earnings_", "sa_amount_"))]
        if outcomes is None:
            outcomes = [c for c in OUTCOMES if c in self.columns]
        blocks = []

        def stats(frame, cols, level):
            if not cols:
                return
            num = pd.DataFrame({c: frame[c].to_numpy(dtype=float, na_value=np.nan) for c in cols})
            num[by] = frame[by].to_numpy()
            g = num.groupby(by, observed=True, dropna=False)
            st = pd.concat({"n": g.count(), "mean": g.mean(), "sd": g.std()}, axis=0)  # (stat, group) x var
            st = st.T.astype(float)
            st.columns = st.columns.swaplevel(0, 1)
            st.index = pd.MultiIndex.from_product([[level], st.index], names=["level", "variable"])
            blocks.append(st)

        counts = pers.groupby(by, observed=True, dropna=False).size()
        head = pd.DataFrame({(g, "n"): [float(v)] for g, v in counts.items()},
                            index=pd.MultiIndex.from_tuples([("person", "persons")], names=["level", "variable"]))
        blocks.append(head)
        stats(pers, covariates, "person")
        if outcomes:
            blocks.append(self._outcome_block(by, list(outcomes)))
        out = pd.concat(blocks, axis=0)
        groups = list(counts.index)
        cols = [(g, s) for g in groups for s in ("n", "mean", "sd") if (g, s) in out.columns]
        return out[cols]

    def _outcome_block(self, by: str, outcomes: list) -> pd.DataFrame:
        """describe_by's person-month rows (``n``, ``mean``, ``sd`` of each outcome by group),
        computed by the engine (:meth:`aggregate`): outcomes are never missing in the panel, so
        ``n`` is the group's person-months."""
        if by in self.columns or self.store is None:
            agg = self.aggregate([by], outcomes=outcomes, sd=True)
        else:      # a person column kept only in the person table (include_person_columns=False)
            agg = self.store.aggregate([by], outcomes, sd=True)
        agg[by] = _missing_as_group(agg[by])
        cols = {}
        for _, r in agg.iterrows():
            cols[(r[by], "n")] = [float(r["n"])] * len(outcomes)
            cols[(r[by], "mean")] = [float(r[f"{o}_mean"]) for o in outcomes]
            cols[(r[by], "sd")] = [float(r[f"{o}_sd"]) for o in outcomes]
        return pd.DataFrame(cols, index=pd.MultiIndex.from_product([["person-month"], outcomes],
                                                                    names=["level", "variable"]))

