"""The panel on disk: parquet files in a work folder, read into pandas only as analysis frames.

A build writes ``<work>/panel/`` (one row per person-month, sorted by person and month, in one
or more ``part-*.parquet`` files: ``person_id``, time columns and outcomes),
``<work>/persons.parquet`` (one row per person, sorted by ``person_id``) and
``<work>/layout.json`` (the panel's columns in :data:`evaluation.schema.PANEL` order and which
of them are person columns).  The person columns are stored once per person, not repeated on
every person-month: frames are read with pyarrow (column selection and row filters pushed down
to the files) and the person columns they ask for are joined from the person table by
``person_id``; aggregates are computed by DuckDB over the files (joined the same way), so only
the frame comes into memory and the panel looks as if every row carried its person columns.  pandas types follow the
:data:`evaluation.schema.PANEL` contract: text as categoricals (sorted categories), flags
``bool`` (pandas ``boolean`` where missing), counts small integers, ``event_time`` and ``cohort``
nullable ``Int16``, months ``datetime64[ns]``.
"""
from __future__ import annotations

import shutil
import weakref
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import schema

_INT16 = ("period", "birth_year", "age", "reoffence_events")
_INT16_PREFIX = ("sa_months_", "emp_months_", "baseline_observed_")
_FLOAT32 = ("position_share", "years_in_norway")
_NULLABLE_INT16 = ("event_time", "cohort")
_DATES = ("month", "assigned_month", "mapping_month", "first_month", "last_month")
_MAYBE_NA_BOOL = ("participated", "immigrant")


def pandas_types(df: pd.DataFrame, *, person_level: bool = False) -> pd.DataFrame:
    """Convert a frame read from the panel files to the panel's pandas types (in place)."""
    for c in df.columns:
        s = df[c]
        typ = schema.PANEL.get(c)
        if c in _DATES:
            df[c] = pd.to_datetime(s).astype("datetime64[ns]") if len(s) else s.astype("datetime64[ns]")
        elif c in _NULLABLE_INT16:
            df[c] = s.astype("Int16")
        elif c in _INT16 or c.startswith(_INT16_PREFIX):
            df[c] = s.astype(np.int16)
        elif c == "n_months":
            df[c] = s.astype(np.int32)
        elif c in _FLOAT32:
            df[c] = s.astype(np.float32)
        elif typ == "bool":
            b = s.astype("boolean")
            df[c] = b.to_numpy(dtype=bool) if (c not in _MAYBE_NA_BOOL or not b.isna().any()) else b
        elif typ == "str":
            if c == "person_id" and person_level:
                df[c] = s.astype(str)
                continue
            cat = s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype("category")
            if cat.cat.categories.is_monotonic_increasing and not cat.cat.ordered:
                df[c] = cat    # already sorted (a sorted file's dictionary): nothing to remap
                continue
            cats = pd.Index(sorted(cat.cat.categories))
            df[c] = pd.Categorical.from_codes(
                cats.get_indexer(cat.cat.categories)[cat.cat.codes.to_numpy()]
                if len(cat) else np.array([], dtype=np.int8), categories=cats) \
                if not cat.hasnans else cat.astype(pd.CategoricalDtype(cats))
        elif typ == "float":
            df[c] = s.astype(np.float64)
    return df


class PanelStore:
    """The parquet files of one built panel (removed when the last Panel using them is gone,
    unless ``keep=True``)."""

    def __init__(self, folder: Path, *, keep: bool = False):
        self.folder = Path(folder)
        self.panel_dir = self.folder / "panel"
        self.persons_path = self.folder / "persons.parquet"
        self.layout_path = self.folder / "layout.json"
        self._layout = None
        if not keep:
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.folder), True)

    # ------------------------------------------------------------------ layout
    def write_layout(self, columns: Sequence[str], person_columns: Sequence[str]) -> None:
        """Record the panel's columns and which of them come from the person table."""
        import json
        self.folder.mkdir(parents=True, exist_ok=True)
        self.layout_path.write_text(json.dumps({"columns": list(columns),
                                                "person_columns": list(person_columns)}))
        self._layout = None

    def layout(self) -> dict:
        if self._layout is None:
            import json
            if self.layout_path.is_file():
                self._layout = json.loads(self.layout_path.read_text())
            else:       # files written with every column on every row
                self._layout = {"columns": list(self._dataset().schema.names), "person_columns": []}
        return self._layout

    @property
    def columns(self) -> list[str]:
        return list(self.layout()["columns"])

    @property
    def person_columns(self) -> list[str]:
        return list(self.layout()["person_columns"])

    # ------------------------------------------------------------------ reading
    def _dataset(self):
        import pyarrow.dataset as ds
        return ds.dataset(str(self.panel_dir), format="parquet")

    def read(self, columns: Sequence[str] | None = None, filter=None) -> pd.DataFrame:
        """Person-month rows (optionally some columns, and rows matching a pyarrow filter on
        the person-month columns), with the person columns asked for joined by ``person_id``."""
        import pyarrow.parquet as pq
        cols = self.columns if columns is None else list(columns)
        pcols = [c for c in cols if c in self.person_columns]
        own = [c for c in cols if c not in pcols]
        read = own if not pcols or "person_id" in own else ["person_id", *own]
        if filter is not None:
            tab = self._read_filtered(read, pcols, filter)
        else:
            tab = pq.read_table(str(self.panel_dir), columns=read,
                                read_dictionary=[c for c in read if schema.PANEL.get(c) == "str"])
            if pcols:
                tab = self._join_persons(tab, pcols)
        return pandas_types(tab.select(cols).to_pandas(date_as_object=False))

    def _read_filtered(self, own: Sequence[str], pcols: Sequence[str], filter):
        """The rows matching ``filter`` (pyarrow's list of ``(column, "in", values)`` on
        person-month columns) with the person-month columns ``own`` and the person columns
        ``pcols`` (joined by ``person_id``), sorted by person and month, read by DuckDB.

        DuckDB decodes the other columns only for the rows that pass the filter and joins on
        the filtered rows; pyarrow decoded every row group whole (``person_id`` of every
        person-month) and filtered after.  One event time of 1M persons (36M person-months; the
        bench's ITT frame, 10 columns): pyarrow read and join 2.5-3.5 s, DuckDB 0.6 s.
        """
        import duckdb
        import pyarrow as pa
        import pyarrow.compute as pc
        where, params = [], []
        for col, op, vals in filter:
            if op != "in":
                raise ValueError(f"panel row filter {op!r} on {col!r}: only 'in' is supported")
            vals = [int(v) for v in vals]
            where.append(f'f."{col}" IN ({", ".join("?" * len(vals))})' if vals else "FALSE")
            params += vals
        files = sorted(str(f) for f in self.panel_dir.glob("*.parquet"))
        sel = [f'f."{c}"' for c in own] + [f'p."{c}"' for c in pcols]
        # the person's row in a one-file person table (sorted by person_id) is the code of
        # person_id in the panel's dictionary of persons: no text hashed again (see below)
        pos = bool(pcols) and "person_id" in own and self.persons_path.is_file()
        sql = f"SELECT {', '.join(sel + (['p.file_row_number AS __pos'] if pos else []))} FROM read_parquet(?) AS f"
        if pcols:
            pfiles = [str(self.persons_path)] if self.persons_path.is_file() else \
                sorted(str(f) for f in self.persons_path.glob("*.parquet"))
            sql += " LEFT JOIN read_parquet(?, file_row_number = true) AS p ON f.person_id = p.person_id"
            params = [pfiles, *params]
        sql += f" WHERE {' AND '.join(where)}" + (" ORDER BY f.person_id, f.month" if pcols else "")
        con = duckdb.connect()
        try:
            tab = con.sql(sql, params=[files, *params]).to_arrow_table()
        finally:
            con.close()
        if not pos:
            return self._as_panel_dictionaries(tab)
        codes = tab.column("__pos")
        return self._as_panel_dictionaries(tab.drop_columns(["__pos"]), person_codes=codes)

    def _as_panel_dictionaries(self, tab, person_codes=None):
        """Text columns as dictionaries of all the panel's values (the person table's), as an
        unfiltered read gives them, so a frame's categories do not depend on its rows.

        ``person_codes``: each row's position in the one-file person table (sorted by
        ``person_id``, one row per person), which is the row's code in the dictionary of all
        persons.  Without it ``person_id`` is hashed and sorted like the other columns; at 10M
        persons that took 15 of the 40 s of the bench's ITT frame."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        strs = [c for c in tab.column_names if schema.PANEL.get(c) == "str"]
        if not strs:
            return tab
        pers = pq.read_table(str(self.persons_path), columns=strs)
        for c in strs:
            if c == "person_id" and person_codes is not None and person_codes.null_count == 0:
                values = pers.column(c).combine_chunks().cast(pa.string())
                codes = person_codes.combine_chunks().cast(pa.int32())
                tab = tab.set_column(tab.schema.get_field_index(c), c, pa.DictionaryArray.from_arrays(codes, values))
                continue
            # the rows' own dictionary (a hash pass over the rows), then its few values looked
            # up among the panel's: index_in over every row cost 1 s per column at 1M rows
            col = tab.column(c).cast(pa.string()).combine_chunks().dictionary_encode()
            values = pc.unique(pers.column(c).drop_null()).cast(pa.string())
            values = pc.unique(pa.concat_arrays([values, col.dictionary]))   # keep values the
            values = values.take(pc.sort_indices(values))                    # person table lacks
            codes = pc.take(pc.index_in(col.dictionary, value_set=values), col.indices).cast(pa.int32())
            tab = tab.set_column(tab.schema.get_field_index(c), c, pa.DictionaryArray.from_arrays(codes, values))
        return tab

    def _join_persons(self, tab, pcols: Sequence[str], *, only_these: bool = False):
        """``tab`` with the person columns ``pcols`` of each row's person (by ``person_id``);
        ``only_these``: read just the persons of ``tab`` from the person table (a few rows),
        not all of it."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        strs = [c for c in pcols if schema.PANEL.get(c) == "str"]
        which = [("person_id", "in", pc.unique(tab.column("person_id").cast(pa.string())).to_pylist())] \
            if only_these else None
        pers = pq.read_table(str(self.persons_path), columns=["person_id", *pcols], read_dictionary=strs,
                             filters=which)
        ids = pers.column("person_id").combine_chunks()
        col = tab.column("person_id")
        if pa.types.is_dictionary(col.type) and col.num_chunks:
            # one dictionary for all chunks, looked up once (index_in builds a hash set of every
            # person id per call: per row group that cost a minute at a million persons)
            col = col.unify_dictionaries()
            pos = pc.index_in(col.chunk(0).dictionary, value_set=ids)
            parts = [pc.take(pos, ch.indices) for ch in col.chunks]
        else:
            parts = [pc.index_in(col.combine_chunks(), value_set=ids)] if len(col) else []
        rows = pers.select(list(pcols)).take(pa.chunked_array(parts, type=pa.int32()))
        for c in pcols:
            tab = tab.append_column(c, rows.column(c))
        return tab

    def read_persons(self) -> pd.DataFrame:
        import pyarrow.parquet as pq
        import pyarrow.dataset as ds
        names = ds.dataset(str(self.persons_path), format="parquet").schema.names
        strs = [c for c in names if schema.PANEL.get(c) == "str"]
        tab = pq.read_table(str(self.persons_path), read_dictionary=strs)
        return pandas_types(tab.to_pandas(date_as_object=False), person_level=True)

    def head(self, n: int = 5) -> pd.DataFrame:
        """The first ``n`` person-months (all columns), reading one row group."""
        import pyarrow.dataset as ds
        tab = ds.dataset(str(self.panel_dir), format="parquet").head(n)
        pcols = [c for c in self.columns if c in self.person_columns]
        if pcols:
            tab = self._join_persons(tab, pcols, only_these=True)
        return pandas_types(tab.select(self.columns).to_pandas(date_as_object=False))

    def aggregate(self, by: Sequence[str], outcomes: Sequence[str], *, sd: bool = False) -> pd.DataFrame:
        """Group-by counts, sums and means (and sample standard deviations with ``sd``) over the
        person-month files (DuckDB via Ibis), the person columns among ``by`` / ``outcomes``
        joined from the person table; ``by=()`` aggregates over all person-months."""
        from .engine import connect
        con = connect("duckdb")
        try:
            t = con.read_parquet(str(self.panel_dir / "*.parquet"))
            pcols = [c for c in [*by, *outcomes] if c in self.person_columns or c not in t.columns]
            if pcols:
                path = self.persons_path if self.persons_path.is_file() else self.persons_path / "*.parquet"
                p = con.read_parquet(str(path)).select("person_id", *dict.fromkeys(pcols))
                t = t.join(p, "person_id")
            aggs = {"n": t.count()}
            for o in outcomes:
                v = t[o].cast("float64")
                aggs[f"{o}_sum"] = v.sum()
                aggs[f"{o}_mean"] = v.mean()
                if sd:
                    aggs[f"{o}_sd"] = v.std(how="sample")
            q = t.group_by(list(by)).aggregate(**aggs).order_by(list(by)) if by else t.aggregate(**aggs)
            out = q.to_pandas()
        finally:
            con.disconnect()
        out["n"] = out["n"].astype(np.int64)
        return pandas_types(out)
