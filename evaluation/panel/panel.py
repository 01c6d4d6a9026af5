"""The :class:`Panel` object: the person-month panel, its sample flow, persons and descriptions."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ._constants import OUTCOMES
from .problems import ValidationReport

_DESCRIBE_COVARIATES = ("age", "female", "under_30", "immigrant", "years_in_norway", "participated")


class Panel:
    """A person-month panel with its sample flow.

    Attributes
    ----------
    data : DataFrame
        One row per person and observed month, columns as :data:`evaluation.schema.PANEL` (see the
        module docstring for definitions).  String columns are categoricals, flags ``bool``,
        counts small integers; ``event_time`` and ``cohort`` are nullable ``Int16``.
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

    def __init__(self, data: pd.DataFrame, flow: pd.DataFrame, meta: dict | None = None,
                 persons: pd.DataFrame | None = None, truth: pd.DataFrame | None = None,
                 report: ValidationReport | None = None):
        self.data = data
        self.flow = flow
        self.meta = meta if meta is not None else {}
        self._persons = persons
        self.truth = truth
        self.report = report

    # ------------------------------------------------------------------
    def persons(self) -> pd.DataFrame:
        """One row per person in the panel: assignment, covariates, baseline histories.

        Besides the person-level panel columns it has ``mapping_month`` (from ``assignment``),
        ``first_month``/``last_month`` (first and
        last panel month), ``n_months`` (panel rows) and ``baseline_observed_k`` (observed months
        in each baseline window).
        """
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
        lines = [f"Person-month panel: {pm.get('n_persons', '?')} persons, {len(self.data)} person-months, "
                 f"window {pm.get('window', ['?', '?'])[0]}..{pm.get('window', ['?', '?'])[1]}"]
        if "scenario" in self.meta:
            lines[0] += f", scenario {self.meta['scenario']}"
        if self._persons is not None and "arm" in self._persons:
            arms = self._persons["arm"].value_counts(dropna=False).sort_index()
            lines.append("Persons by arm: " + ", ".join(f"{k}: {v}" for k, v in arms.items()))
        lines.append("Sample flow:")
        lines.append(self.flow.to_string(index=False))
        outs = [c for c in OUTCOMES if c in self.data.columns]
        if outs and len(self.data):
            means = self.data[outs].astype(float).mean()
            lines.append("Outcome means over person-months:")
            lines.append(means.to_string(float_format=lambda x: f"{x:.4g}"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        pm = self.meta.get("panel", {})
        return (f"<Panel: {pm.get('n_persons', '?')} persons x {len(self.data)} person-months, "
                f"window {pm.get('window')}>")

    def _repr_html_(self) -> str:
        pm = self.meta.get("panel", {})
        head = (f"<p><b>Person-month panel</b>: {pm.get('n_persons', '?')} persons, {len(self.data)} "
                f"person-months, window {pm.get('window')}</p>")
        return (head + "<p><b>Sample flow</b></p>" + self.flow.to_html(index=False)
                + "<p><b>First rows</b></p>" + self.data.head(5).to_html(index=False))

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
            columns ``(group, stat)`` with stats ``n`` (non-missing observations), ``mean``,
            ``sd``.  The first row ``("person", "persons")`` gives the number of persons.
        """
        pers = self.persons()
        if by not in pers.columns:
            raise ValueError(f"describe_by: {by!r} is not a person-level column; use one of "
                             f"{[c for c in pers.columns if pers[c].nunique() <= 50]}")
        if covariates is None:
            covariates = [c for c in _DESCRIBE_COVARIATES if c in pers.columns]
            covariates += [c for c in pers.columns if c.startswith(("sa_months_", "emp_months_",
                                                                   "earnings_", "sa_amount_"))]
        if outcomes is None:
            outcomes = [c for c in OUTCOMES if c in self.data.columns]
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
        if by in self.data.columns:
            stats(self.data, outcomes, "person-month")
        else:
            d = self.data[list(outcomes)].copy()
            d[by] = self.data["person_id"].map(pers.set_index("person_id")[by]).to_numpy()
            stats(d, outcomes, "person-month")
        out = pd.concat(blocks, axis=0)
        groups = list(counts.index)
        cols = [(g, s) for g in groups for s in ("n", "mean", "sd") if (g, s) in out.columns]
        return out[cols]

