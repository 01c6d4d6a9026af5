"""Stage 1b: check register extracts against the schema and against each other, in the engine.

:func:`validate_extracts` registers every extract as an engine table (:mod:`.sources`: a view
over parquet files, or a converted frame) and runs named steps in order (required extracts and
columns, types, missing values, duplicates, values and plausible ranges, id types, study
window, linkage, link rates).  Each step declares its checks on one :class:`_Checks`
collector; every count is then computed by the engine in one query (a predicate summed over an
extract, a screened duplicate key (month masks per person, or a key hash), a set difference
of person ids), and example rows and exact duplicate counts are fetched only for the checks
that fail or are suspected (the first rows by row number; see :func:`_dup_screen`).  So validation
never loads an extract into pandas, and the counts are the same whatever the data size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from .. import schema
from ._constants import (BENEFIT_VALUES, MONTHLY_KEYS, OPTIONAL_COLUMNS, PERSON_EXTRACTS, SEX_VALUES,
                         _N_EXAMPLES)
from ._convert import _coerce, _examples, _fmt, _month_str, _parse_window
from .problems import Problem, ValidationReport
from .sources import ParquetSource, register_frame, register_parquet

#: Months since 1970-01 of a timestamp column (the build's month index).
_EPOCH = 1970 * 12


def month_index(col):
    """Month index (months since 1970-01) of a timestamp expression."""
    return col.year().cast("int64") * 12 + col.month().cast("int64") - 1 - _EPOCH


def _first_day(mi: int):
    """The first day of month index ``mi`` as a timestamp literal."""
    return ibis.timestamp(1970 + mi // 12, mi % 12 + 1, 1, 0, 0, 0)


@dataclass
class _Pending:
    """A check whose counts the engine computes; ``resolve`` turns them into a problem."""

    labels: tuple
    resolve: Callable


class _Checks:
    """Findings so far (problems, and checks waiting for the engine's counts), the engine tables
    and their usable (present, typed) columns."""

    def __init__(self, con):
        self.con = con
        self.items: list = []
        self.tables: dict[str, ibis.Table] = {}
        self.usable: dict[str, set] = {}
        self.rows: dict[str, int] = {}
        self.id_kinds: dict[str, str | None] = {}
        self._row_preds: dict[str, dict] = {}
        self._tables: dict[str, ibis.Table] = {}
        self.extra: dict[str, ibis.Table] = {}     # derived tables that row predicates refer to
        self.screens: dict[tuple, str] = {}       # duplicate screens by (extract, key)
        self.id_bits: dict[str, int] = {}         # extract bits of the _ids table
        self.shape = None                          # key of the compiled SQL (set before counting)
        self.span = None                           # (first, last) month index of window and look-back

    def add(self, p: Problem) -> None:
        self.items.append(p)

    def has(self, name, *cs) -> bool:
        return name in self.tables and all(c in self.usable[name] for c in cs)

    def label(self) -> str:
        return f"c{len(self._tables) + sum(len(v) for v in self._row_preds.values())}"

    def count_rows(self, name: str, pred) -> str:
        """Declare a per-row predicate of extract ``name``; its count is column ``label``."""
        lab = self.label()
        self._row_preds.setdefault(name, {})[lab] = pred
        return lab

    def count_table(self, table: ibis.Table) -> tuple:
        """Declare a one-row table of counts; its columns are renamed to fresh labels."""
        labs = []
        for c in table.columns:
            labs.append(self.label() + "_" + c)
            self._tables[labs[-1]] = table.select(**{labs[-1]: table[c]})
        return tuple(labs)

    def check(self, name, col, pred, kind, message, fix, show=None, severity="error") -> None:
        """A problem for every row of ``name`` where ``pred`` holds (examples: first rows)."""
        lab = self.count_rows(name, pred)
        show = show or ([col] if col else [])

        def resolve(n):
            return Problem(name, col, kind, message, fix, n[lab],
                           self.examples(name, self.tables[name].filter(pred), show, lab), severity) \
                if n[lab] else None
        self.items.append(_Pending((lab,), resolve))

    def fetch(self, key, build: Callable) -> pd.DataFrame:
        """Run a small query (examples); its SQL is kept by (shape, key) like the counts'."""
        k = (self.shape, key) if self.shape is not None else None
        sql = _SQL.get(k) if k is not None else None
        if sql is None:
            sql = str(self.con.compile(build()))
            if k is not None:
                _SQL[k] = sql
        return self.con.con.sql(sql).df()

    def examples(self, name: str, rows: ibis.Table, show: Sequence[str], lab: str) -> list[str]:
        """``row N (person_id 'X', col=value)`` for the first of ``rows`` (of extract ``name``)."""
        cols = [c for c in dict.fromkeys(["person_id", *show]) if c in rows.columns]
        df = self.fetch(("examples", lab), lambda: rows.order_by("_row").limit(_N_EXAMPLES).select("_row", *cols))
        return [_example_row(r, cols, name) for r in df.to_dict("records")]

    def problems(self, shape=None) -> list[Problem]:
        """Run the counts in the engine (one query) and resolve every check in order.

        The query's SQL is kept by ``shape`` (extracts, usable columns, options): Ibis compiles
        a validation in about half a second, longer than DuckDB runs it on small data."""
        counts = {}
        sql = _SQL.get(shape) if shape is not None else None
        if sql is None and (self._row_preds or self._tables):
            parts = [t.aggregate(**{lab: p.sum().fill_null(0).cast("int64") for lab, p in preds.items()})
                     for name, preds in self._row_preds.items()
                     for t in [self.tables[name] if name in self.tables else self.extra[name]]]
            parts += list(self._tables.values())
            q = parts[0]
            for p in parts[1:]:
                q = q.cross_join(p)
            sql = str(self.con.compile(q))
            if shape is not None:
                _SQL[shape] = sql
        if sql is not None:
            row = self.con.con.sql(sql).df().iloc[0]
            counts = {k: (0 if pd.isna(v) else int(v)) for k, v in row.items()}
        out = []
        for it in self.items:
            p = it.resolve(counts) if isinstance(it, _Pending) else it
            if p is not None:
                out.append(p)
        return out


#: Compiled count queries by validation shape (see :meth:`_Checks.problems`).
_SQL: dict = {}


def _example_row(r, cols, name) -> str:
    parts = [f"{'person_id ' if c == 'person_id' else c + '='}{_fmt_value(r[c], schema.EXTRACTS[name].get(c))}"
             for c in cols]
    return f"row {int(r['_row'])} (" + ", ".join(parts) + ")"


def _fmt_value(v, typ) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return {"float": "nan", "month": "NaT", "date": "NaT"}.get(typ, "<NA>")
    if typ == "int" and isinstance(v, (int, float, np.integer, np.floating)):
        return str(int(v))
    if isinstance(v, np.generic):
        v = v.item()
    return _fmt(v)


def validate_extracts(extracts: Mapping, *, window=None,
                      offices: Sequence[str] | None = None, lookback_months: int = 24,
                      outside_window: str = "error", linkage: str = "exclude",
                      raise_errors: bool = True, ranges: Mapping | None = None,
                      min_link_rate: float | None = None, con=None, progress=None) -> ValidationReport:
    """Check register extracts against the schema and each other.

    Hard errors (always): a required extract or column missing; a value that is not of the
    column's type (text in a numeric column, an unreadable date); missing person ids, months,
    ``arm``, ``birth_year`` or coverage months; ``sex`` other than ``"F"``/``"M"``; duplicate
    person-months (person, month[, benefit]) in monthly extracts; duplicate persons in
    ``persons``/``coverage``; a person with two different arms (assignment changing within a
    person) or a repeated assignment row; negative amounts, earnings, events or years in Norway;
    ``position_share`` outside [0, 1]; a ``benefit`` other than ``"AAP"``/``"disability"``;
    ``last_month`` before ``first_month`` or ``spell_end`` before ``spell_start``; office codes not
    in ``offices`` (when given).

    Dates outside the study window (monthly records and assignment months outside
    ``[window start - lookback_months, window end]``) are errors with
    ``outside_window="error"`` and warnings (records excluded and counted in the flow) with
    ``"exclude"``.  Linkage problems -- persons present in one extract and absent from another
    (no assignment, no covariates, no coverage, outcome records for persons not in ``persons``)
    -- are warnings that become exclusions in the sample flow with ``linkage="exclude"``, errors
    with ``"error"``.

    Parameters
    ----------
    extracts : dict of str to DataFrame or ParquetSource
        Extracts as returned by :func:`read_extracts` / :func:`evaluation.panel.read.open_extracts`
        (or the synthetic generator).  Not modified.
    window : (start, end), optional
        Study window, inclusive months, e.g. ``("2018-01", "2022-12")``.
    offices : sequence of str, optional
        Allowed office codes for ``persons.office`` and ``assignment.office``.
    lookback_months : int, default 24
        Months before the window start that records may have (baseline history).
    outside_window : {"error", "exclude"}
    linkage : {"exclude", "error"}
    ranges : dict, optional
        Plausible ranges ``{extract: {column: (low, high)}}``; default :data:`schema.RANGES`.
        Values outside, and non-finite numbers (``inf``), are errors.
    min_link_rate : float, optional
        Smallest share of an extract's records that must link to a person in ``assignment``
        (default :data:`schema.MIN_LINK_RATE`); below it the extract is an error (it is probably
        keyed by another id).  Also an error: ``person_id`` stored as integers in some extracts
        and as text in others.
    raise_errors : bool, default True
        Raise :class:`PanelValidationError` (listing all errors) when there are errors.
    con : Ibis DuckDB backend, optional
        The engine connection to register the extracts in (default: a new embedded DuckDB);
        the panel build passes its own so that the extracts are read once.
    progress : callable, optional
        Called with ``(stage, rows)``.

    Returns
    -------
    ValidationReport
        Problems (warnings, and errors when ``raise_errors=False``), the engine tables of the
        extracts (``tables``: schema columns with the schema types and ``_row``) and row counts.

    Notes
    -----
    Every count is computed by the engine (DuckDB) over the registered tables; examples are the
    first offending rows by row number (``row N`` is the row's position in the file, 1-based,
    counting across the parts of a partitioned extract).
    """
    if outside_window not in ("error", "exclude"):
        raise ValueError(f"outside_window must be 'error' or 'exclude', got {outside_window!r}")
    if linkage not in ("error", "exclude"):
        raise ValueError(f"linkage must be 'exclude' or 'error', got {linkage!r}")
    win = _parse_window(window)
    if con is None:
        from .engine import connect
        con = connect("duckdb")
    say = progress or (lambda stage, rows=None: None)
    ck = _Checks(con)
    if win is not None:
        ck.span = (win[0] - lookback_months, win[1])
    _check_extracts_present(ck, extracts)
    _check_columns_and_types(ck, extracts)
    say("validating extracts in the engine", sum(ck.rows.values()))
    _check_missing_values(ck)
    _check_duplicates(ck)
    _check_values(ck, offices)
    _check_plausible(ck, schema.RANGES if ranges is None else ranges)
    _check_id_types(ck)
    if win is not None:
        _check_window(ck, win, lookback_months, outside_window)
    _check_linkage(ck, linkage)
    _check_link_rates(ck, schema.MIN_LINK_RATE if min_link_rate is None else min_link_rate)
    shape = repr((sorted((k, sorted(v)) for k, v in ck.usable.items()), sorted(ck.id_kinds.items()),
                  sorted(k for k, n in ck.rows.items() if n), win, lookback_months, outside_window, linkage,
                  None if offices is None else list(offices), ranges, min_link_rate, ibis.__version__))
    ck.shape = shape
    rep = ValidationReport(ck.problems(shape), ck.tables, win)
    rep.con, rep.rows, rep.usable = con, dict(ck.rows), dict(ck.usable)
    rep.ids, rep.id_bits = ck.extra.get("_ids"), dict(ck.id_bits)
    if raise_errors:
        rep.raise_for_errors()
    return rep


def _check_extracts_present(ck: _Checks, extracts) -> None:
    """Required extracts present; unknown extract names are warnings."""
    for name in schema.REQUIRED_EXTRACTS:
        if name not in extracts or extracts[name] is None:
            cols = ", ".join(schema.EXTRACTS[name])
            ck.add(Problem(name, None, "missing extract", f"required extract '{name}' is missing",
                           f"provide {name}.parquet or {name}.csv with columns {cols}", 1))
    for name in extracts:
        if name not in schema.EXTRACTS:
            ck.add(Problem(name, None, "unknown extract", f"extract '{name}' is not in the schema and is ignored",
                           f"rename it to one of {list(schema.EXTRACTS)} or leave it out", 1, severity="warning"))


def _check_columns_and_types(ck: _Checks, extracts) -> None:
    """Required and optional columns present; values convertible to the schema types (frames are
    converted value by value; parquet views have compatible types by construction).  Registers
    every extract as engine table ``_x_<name>``."""
    for name, df in extracts.items():
        if name not in schema.EXTRACTS or df is None:
            continue
        cols = schema.EXTRACTS[name]
        if not isinstance(df, (pd.DataFrame, ParquetSource)):
            raise TypeError(f"extract '{name}' must be a pandas DataFrame, got {type(df).__name__}")
        _missing_columns(ck, name, list(df.columns), len(df))
        view = f"_x_{name}"
        if isinstance(df, ParquetSource):
            register_parquet(ck.con, view, df)
            usable = {c for c in cols if c in df.types}
            ck.id_kinds[name] = df.id_kind() if "person_id" in df.types else None
        else:
            cdf, bad = _coerce(df, name)
            for c, mask in bad.items():
                ck.add(Problem(name, c, "type", f"values that are not {_WHAT[cols[c]]} (column type {cols[c]})",
                               f"correct or blank the offending values in '{c}' (missing values are allowed "
                               "where the column may be missing)", int(mask.sum()), _examples(df, mask, [c])))
            usable = {c for c in cols if c in df.columns and c not in bad}
            register_frame(ck.con, view, name, cdf, [c for c in cols if c in usable])
            ck.id_kinds[name] = _id_kind(df) if "person_id" in df.columns else None
        ck.tables[name] = ck.con.table(view)
        ck.usable[name] = usable
        ck.rows[name] = len(df)


_WHAT = {"int": "an integer", "float": "a number", "bool": "0/1 or true/false",
         "month": "a month such as 2020-01 or 2020-01-01", "date": "a date such as 2020-01-15",
         "str": "text"}


def _missing_columns(ck: _Checks, name: str, present: list, n: int) -> None:
    optional = OPTIONAL_COLUMNS.get(name, ())
    for c, typ in schema.EXTRACTS[name].items():
        if c in present:
            continue
        if c in optional:
            ck.add(Problem(name, c, "missing column", f"optional column '{c}' is missing; it is "
                           "filled with missing values", f"add column '{c}' ({typ}) if the register has it",
                           n, severity="warning"))
        else:
            ck.add(Problem(name, c, "missing column", f"required column '{c}' ({typ}) is missing; "
                           f"the extract has columns {present}",
                           f"add column '{c}' of type {typ} (or rename the column that holds it)", 1))


def _check_missing_values(ck: _Checks) -> None:
    """Keys and values that must be present."""
    must = {"person_id": "person id", "month": "month", "first_month": "coverage start",
            "last_month": "coverage end", "spell_start": "spell start", "arm": "arm",
            "birth_year": "birth year", "amount": "amount", "position_share": "position share",
            "earnings": "earnings", "benefit": "benefit", "events": "number of events"}
    for name, t in ck.tables.items():
        for c, what in must.items():
            if c in schema.EXTRACTS[name] and ck.has(name, c):
                ck.check(name, c, t[c].isnull(), "missing value", f"missing {what}",
                         f"fill in '{c}' or remove these rows from the extract")


@ibis.udf.scalar.builtin(name="hash")
def _hash(x) -> dt.uint64:
    """DuckDB's ``hash(x)``, a 64-bit hash (UBIGINT).  Ibis's own ``x.hash()`` compiles to
    ``CAST(CAST(HASH(x) AS BIT) AS BIGINT)``, and the BIT casts cost more than the hash."""


def _key_hash(t: ibis.Table, key: Sequence[str]):
    """One 64-bit hash of the ``key`` columns of ``t``: the columns' hashes combined by xor."""
    h = _hash(t[key[0]])
    for k in key[1:]:
        h = h ^ _hash(t[k])
    return h


def _dup_screen(ck: _Checks, name: str, key: Sequence[str]) -> str:
    """Label of the duplicate screen of ``key`` in extract ``name``: rows in groups of more than
    one row by :func:`_key_hash` (declared once per extract and key, shared by its checks), or,
    for a monthly extract when the window is known, repeats counted per person with month
    masks (:func:`_month_screen`).

    Equal keys have equal hashes, so the screen never misses a duplicate; different keys can
    collide (probability about n^2 / 2^65 for n rows, 0.2 % at 300M), so a nonzero screen is a
    suspicion that :func:`_dup_check` confirms with the exact count.

    Measured at 1M persons (30M records, /work/bench/refino_1000000, DuckDB, shared 2-core
    machine): grouping employment's 10.7M rows by one UBIGINT instead of (text, timestamp) took
    0.9-1.0 s instead of 1.0-1.2 s single-threaded (the hash table of 10M groups, not the key
    width, is most of the cost); the whole validation, with the id-type regex over distinct ids,
    9.2 s -> 8.0 s wall and 17.2 -> 14.0 s CPU (medians of 6 runs)."""
    k = (name, tuple(key))
    if k not in ck.screens:
        t = ck.tables[name]
        if ck.span is not None and tuple(key[:2]) == ("person_id", "month"):
            (ck.screens[k],) = ck.count_table(_month_screen(t, key, *ck.span))
        else:
            (ck.screens[k],) = ck.count_table(_hash_screen(t, key))
    return ck.screens[k]


def _hash_screen(t: ibis.Table, key: Sequence[str]) -> ibis.Table:
    """Rows of ``t`` in groups of more than one row by :func:`_key_hash` (a one-row table ``n``)."""
    g = t.group_by(_h=_key_hash(t, key)).aggregate(_c=t.count())
    g = g.filter(g._c > 1)
    return g.aggregate(n=g._c.sum().fill_null(0).cast("int64"))


@ibis.udf.scalar.builtin(name="bit_count")
def _bit_count(x: dt.int64) -> dt.int8:
    """DuckDB's ``bit_count``: the bits set in a BIGINT."""


#: Months (slots) per BIGINT mask of :func:`_month_screen` (bits 0..61).
_SLOTS = 62


def _month_screen(t: ibis.Table, key: Sequence[str], lo: int, hi: int) -> ibis.Table:
    """Duplicate screen of a monthly extract keyed by person and month (and benefit): rows that
    repeat a key, counted per person with month bit masks (a one-row table ``n``).

    The records in the window and look-back (month indices ``lo .. hi``) are grouped by
    person, not by key: each record sets the bit of its month (benefits: of its month and
    benefit, ``AAP`` or any other) in one of a few BIGINT masks, and a person has
    ``count - bits set`` records that repeat another's key.  Every duplicate is counted (a
    repeated key sets a bit already set), so like the hash screen this never misses one; a
    benefit other than the two (itself an error) can share a bit with ``disability`` and make
    a suspicion that the exact count clears.  The few records outside the months (and those
    without person or month) get the hash screen (:func:`_hash_screen`).

    Measured on the bench's 10M persons (DuckDB, 2 cores): employment's 107M records grouped by
    person (10M groups) rather than by key hash (107M groups) took 4.1 CPU s instead of 19.7,
    social assistance's 77M 2.6 instead of 15.3; with the link rates below, validation's count
    query went from 90 to 58 CPU s (46 to 30 s wall) and no longer spilled.
    """
    m = month_index(t.month)
    inside = t.person_id.notnull() & t.month.notnull() & (m >= lo) & (m <= hi)
    width = 2 if "benefit" in key else 1
    slot = (m - lo) * width
    if width == 2:
        slot = slot + (t.benefit != "AAP").fill_null(True).cast("int64")
    r = t.filter(inside).select("person_id", _s=slot)
    one = ibis.literal(1, "int64").cast("uint64").cast("int64")   # a BIGINT 1 (a bare 1 is INTEGER)
    blocks = -(-(hi - lo + 1) * width // _SLOTS)
    g = r.group_by("person_id").aggregate(_c=r.count(), **{
        f"_b{j}": ibis.cases(((r._s // _SLOTS) == j, one << (r._s % _SLOTS)), else_=0 * one).bit_or()
        for j in range(blocks)})
    repeats = g._c
    for j in range(blocks):
        repeats = repeats - _bit_count(g[f"_b{j}"]).cast("int64")
    a = g.aggregate(_a=repeats.sum())
    b = _hash_screen(t.filter(~inside.fill_null(False)), key)
    return a.cross_join(b).select(n=(a._a.fill_null(0) + b.n.fill_null(0)).cast("int64"))


def _dup_check(ck: _Checks, name, key, col, kind, message, fix, show, where=None) -> None:
    """Rows whose ``key`` repeats another row's (all copies), among groups where ``where(g)``.

    Two phases: the one count query runs only the hash screen (:func:`_dup_screen`); when the
    screen is nonzero, the exact count (group by the key columns, rows in groups of more than
    one row that satisfy ``where``) runs as its own query, and 0 there (a hash collision) is no
    problem.  Examples are the first rows of the exact groups."""
    t = ck.tables[name]
    screen = _dup_screen(ck, name, key)
    g = t.group_by(list(key)).aggregate(_c=t.count(), **(
        {"_na": t.arm.nunique()} if where is not None else {}))
    g = g.filter(g._c > 1)
    if where is not None:
        g = g.filter(where(g))
    lab = screen + "_" + col + "_" + kind.replace(" ", "_")

    def resolve(n):
        if not n[screen]:
            return None
        exact = int(ck.fetch(("duplicates", lab), lambda: g.aggregate(
            n=g._c.sum().fill_null(0).cast("int64")))["n"].iloc[0])
        if not exact:
            return None
        rows = t.semi_join(g, [t[k].identical_to(g[k]) for k in key])
        return Problem(name, col, kind, message, fix, exact, ck.examples(name, rows, show, lab))
    ck.items.append(_Pending((screen,), resolve))


def _check_duplicates(ck: _Checks) -> None:
    """One row per person in person extracts, one per key in monthly extracts."""
    for name in PERSON_EXTRACTS:
        if not ck.has(name, "person_id"):
            continue
        if name == "assignment" and ck.has(name, "arm"):
            _dup_check(ck, name, ("person_id",), "arm", "assignment changes",
                       "assignment changes within a person: two or more different arms for one person",
                       "keep one assignment row per person (the randomised arm); the arm cannot change",
                       ["arm", "assigned_month"], where=lambda g: g._na > 1)
            _dup_check(ck, name, ("person_id",), "person_id", "duplicate",
                       "duplicate persons (one row per person expected)", "keep one row per person_id",
                       ["person_id"], where=lambda g: g._na <= 1)
            continue
        _dup_check(ck, name, ("person_id",), "person_id", "duplicate",
                   "duplicate persons (one row per person expected)", "keep one row per person_id",
                   ["person_id"])
    for name, key in MONTHLY_KEYS.items():
        if key is None or not ck.has(name, *key):
            continue
        _dup_check(ck, name, key, "month", "duplicate",
                   "duplicate person-months (" + ", ".join(key) + " repeated)",
                   "aggregate to one row per " + ", ".join(key) + " (e.g. sum the amounts) or drop repeated rows",
                   list(key[1:]) + [c for c in schema.EXTRACTS[name] if c not in key])


def _check_values(ck: _Checks, offices) -> None:
    """Signs, ranges, codes and order of dates."""
    T = ck.tables
    for name, col in (("social_assistance", "amount"), ("employment", "earnings"),
                      ("reoffending", "events"), ("persons", "years_in_norway")):
        if ck.has(name, col):
            ck.check(name, col, T[name][col] < 0, "negative", f"negative {col}",
                     f"{col} must be >= 0; correct the rows or drop reversals/corrections from the extract",
                     ["month", col])
    if ck.has("employment", "position_share"):
        v = T["employment"].position_share
        ck.check("employment", "position_share", (v < 0) | (v > 1), "range", "position_share outside [0, 1]",
                 "position_share is a fraction of a full-time position (0.5 = 50 %); divide percentages by 100",
                 ["month", "position_share"])
    if ck.has("benefits", "benefit"):
        b = T["benefits"].benefit
        ck.check("benefits", "benefit", b.isnull() | b.notin(list(BENEFIT_VALUES)), "value",
                 f"unknown benefit (allowed: {list(BENEFIT_VALUES)})",
                 "recode the benefit to 'AAP' or 'disability' or drop other benefits from the extract",
                 ["month", "benefit"])
    if ck.has("persons", "sex"):
        s = T["persons"].sex
        ck.check("persons", "sex", s.isnull() | s.notin(list(SEX_VALUES)), "value",
                 "sex must be 'F' or 'M'", "recode sex to 'F'/'M'", ["sex"])
    if ck.has("coverage", "first_month", "last_month"):
        c = T["coverage"]
        ck.check("coverage", "last_month", c.last_month < c.first_month, "range",
                 "last_month before first_month", "swap or correct the coverage months",
                 ["first_month", "last_month"])
    if ck.has("jobseeker_spells", "spell_start", "spell_end"):
        s = T["jobseeker_spells"]
        ck.check("jobseeker_spells", "spell_end", s.spell_end < s.spell_start, "range",
                 "spell_end before spell_start", "correct the spell dates (leave spell_end empty for ongoing spells)",
                 ["spell_start", "spell_end"])
    if offices is not None:
        allowed = list(offices)
        for name in ("persons", "assignment"):
            if ck.has(name, "office"):
                o = T[name].office
                ck.check(name, "office", o.notnull() & o.notin(allowed), "unknown office",
                         f"unknown office codes (allowed: {allowed})",
                         "recode the office to one of the allowed codes or add it to offices=", ["office"])


def _check_window(ck: _Checks, win, lookback_months, outside_window) -> None:
    """Dates outside the study window plus look-back."""
    lo, hi = win[0] - lookback_months, win[1]
    sev = "error" if outside_window == "error" else "warning"
    fix = (f"filter the extract to {_month_str(lo)}..{_month_str(hi)} (window plus {lookback_months} "
           "months of baseline history), widen window=, or pass outside_window='exclude'")
    for name, col in ([(n, "month") for n in MONTHLY_KEYS]
                      + [("assignment", "assigned_month"), ("assignment", "mapping_month")]):
        if ck.has(name, col):
            m = ck.tables[name][col]   # months are first days: compare with the first days of lo, hi
            ck.check(name, col, m.notnull() & ((m < _first_day(lo)) | (m > _first_day(hi))), "window",
                     f"dates outside the study window {_month_str(win[0])}..{_month_str(win[1])} "
                     f"(baseline history from {_month_str(lo)} allowed)", fix, [col], sev)


def _id_presence(ck: _Checks) -> tuple[ibis.Table, dict]:
    """One row per person id in any extract with ``person_id`` (engine table ``_ids``, built once
    and shared by the id-type and linkage checks): a bit mask ``_m`` of the extracts it is in
    (one group-by over all ids, instead of a set difference per pair of extracts) and ``_t``,
    whether the id is text that is not a plain integer."""
    if "_ids" in ck.extra:
        return ck.extra["_ids"], ck.id_bits
    names = [n for n in ck.tables if ck.has(n, "person_id")]
    bits = {n: 1 << i for i, n in enumerate(names)}
    u = ibis.union(*[ck.tables[n].select("person_id", _f=ibis.literal(bits[n], "int64")) for n in names],
                   distinct=False)
    u = u.filter(u.person_id.notnull())
    g = u.group_by("person_id").aggregate(_m=u._f.bit_or())
    ids = g.mutate(_t=~g.person_id.re_search(r"^(?:[1-9][0-9]*|0)$").fill_null(False))
    # kept as a table: the build takes its persons from it (.narrow.presence_table) instead of
    # reading every record's id again
    ck.con.con.execute(f'CREATE OR REPLACE TEMP TABLE "_ev_ids" AS {ck.con.compile(ids)}')
    ids = ck.con.table("_ev_ids")
    ck.extra["_ids"], ck.id_bits = ids, bits
    return ids, bits


def _id_difference(ck: _Checks, name, ids, left: int, right: int, message, fix, severity) -> None:
    """Persons in extract bit ``left`` but not in ``right``: count, first ids in sort order."""
    pred = ((ids._m & left) != 0) & ((ids._m & right) == 0)
    lab = ck.count_rows("_ids", pred)

    def resolve(n):
        if not n[lab]:
            return None
        ex = ck.fetch(("ids", lab), lambda: ids.filter(pred).order_by("person_id").limit(_N_EXAMPLES))["person_id"]
        return Problem(name, "person_id", "linkage", message, fix, n[lab],
                       [f"person_id {_fmt_value(x, 'str')}" for x in ex], severity)
    ck.items.append(_Pending((lab,), resolve))


def _check_linkage(ck: _Checks, linkage) -> None:
    """Persons present in one extract and absent from another."""
    if not ck.has("assignment", "person_id"):
        return
    sev = "error" if linkage == "error" else "warning"
    ids, bit = _id_presence(ck)
    names = list(bit)
    for name, what in (("persons", "no covariates"), ("coverage", "no coverage record")):
        if ck.has(name, "person_id"):
            _id_difference(ck, name, ids, bit["assignment"], bit[name],
                           f"persons in assignment but absent from {name} ({what}); they are excluded "
                           "from the panel", f"add these persons to {name}, or accept the exclusion "
                           "shown in the sample flow", sev)
    for name in names:
        if name == "assignment":
            continue
        _id_difference(ck, name, ids, bit[name], bit["assignment"],
                       f"persons present in {name} but absent from assignment (not in the study "
                       "population); their rows are excluded", "add their assignment rows if they "
                       "belong to the study, or accept the exclusion shown in the sample flow", sev)
        if "persons" in bit and name != "persons":
            _id_difference(ck, name, ids, bit[name], bit["persons"],
                           f"persons present in {name} but absent from persons (no covariates); "
                           "their rows are excluded", "add the persons to the persons extract, or "
                           "accept the exclusion shown in the sample flow", sev)


#: Columns whose negative values already have their own message in :func:`_check_values`.
_SIGN_CHECKED = {("social_assistance", "amount"), ("employment", "earnings"), ("reoffending", "events"),
                 ("persons", "years_in_norway"), ("employment", "position_share")}


def _check_plausible(ck: _Checks, ranges: Mapping) -> None:
    """Non-finite numbers in every numeric column; values outside the declared plausible ranges."""
    for name, t in ck.tables.items():
        for c, typ in schema.EXTRACTS[name].items():
            if typ not in ("int", "float") or not ck.has(name, c):
                continue
            v = t[c]
            finite = v.notnull()
            if typ == "float":
                ck.check(name, c, v.isinf(), "non-finite", f"non-finite values (inf) in {c}",
                         f"replace the infinite values in '{c}' by the true value or blank them; they "
                         "usually come from a division by zero in the export", ["month", c])
                finite = finite & ~v.isinf()
            lo, hi = ranges.get(name, {}).get(c, (-np.inf, np.inf))
            if (name, c) == ("employment", "position_share") or (np.isinf(lo) and np.isinf(hi)):
                continue   # position_share's range has its own message
            low = (v < lo) & (v >= 0) if ((name, c) in _SIGN_CHECKED and lo >= 0) else v < lo
            out = (low | (v > hi)) if not np.isinf(hi) else low
            ck.check(name, c, finite & out, "range",
                     f"{c} outside the plausible range [{lo:g}, {hi:g}]",
                     f"correct the values (wrong unit, e.g. ore instead of NOK, or a typo), or declare "
                     f"a wider range with ranges={{'{name}': {{'{c}': (low, high)}}}}", ["month", c])


def _id_kind(df: pd.DataFrame) -> str | None:
    """``"integer"`` or ``"text"``: how an extract (a frame) stores ``person_id``.

    Text ids that are all plain integers (no leading zeros) count as integers: they link to
    integer ids after conversion.  Text such as ``'00123'`` or ``'P1'`` does not."""
    s = df["person_id"]
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "integer"
    v = s.dropna().astype(str)   # text (CSV is all text): judge by the values
    return "integer" if len(v) and v.str.fullmatch(r"[1-9][0-9]*|0").all() else "text"


def _check_id_types(ck: _Checks) -> None:
    """person_id stored as integers in some extracts and as text in others cannot link (text ids
    of parquet views are judged in the engine: all plain integers, or not).

    The regex runs over the distinct ids of :func:`_id_presence` (1M at 1M persons) rather than
    over every record (30M): an extract has non-null ids, and ids that are not plain integers,
    exactly when its distinct ids do."""
    labs = {}
    pending = [name for name, kind in ck.id_kinds.items() if kind is None and ck.has(name, "person_id")]
    if pending:
        ids, bits = _id_presence(ck)
        for name in pending:
            present = (ids._m & bits[name]) != 0
            labs[name] = (ck.count_rows("_ids", present), ck.count_rows("_ids", present & ids._t))

    def resolve(n):
        kinds = {k: v for k, v in ck.id_kinds.items() if v is not None or k in labs}
        for name, (nn, bad) in labs.items():
            kinds[name] = "integer" if n[nn] and not n[bad] else "text"
        if len(set(kinds.values()) - {None}) <= 1:
            return None
        by = {k: sorted(nm for nm, v in kinds.items() if v == k) for k in sorted(set(kinds.values()))}
        return Problem("/".join(sorted(kinds)), "person_id", "id type",
                       "person_id has different types across extracts: " + "; ".join(
                           f"{k} in {v}" for k, v in by.items()) + " (integer ids and text ids such as "
                       "'00123' do not link)",
                       "export person_id with one type in every extract (text is safest: keep leading "
                       "zeros), e.g. cast it to string in the export", sum(len(v) for v in by.values()))
    ck.items.append(_Pending(tuple(x for v in labs.values() for x in v), resolve))


def _check_link_rates(ck: _Checks, min_rate: float) -> None:
    """Share of each extract's records whose person links to ``assignment``; too low is an error.

    A record links unless its id is among the ids absent from assignment (from
    :func:`_id_presence`): usually a few, so each record is looked up in a small hash table
    rather than in the table of every assigned person (at 10M persons and 300M records: 14
    CPU s of lookups before, under 0.3 after)."""
    if not ck.has("assignment", "person_id"):
        return
    ids, bits = _id_presence(ck)
    absent = ids.filter((ids._m & bits["assignment"]) == 0).select("person_id")
    for name, t in ck.tables.items():
        if name == "assignment" or not ck.has(name, "person_id") or not ck.rows[name]:
            continue
        linked = t.person_id.notnull() & ~t.person_id.isin(absent.person_id).fill_null(False)
        lab = ck.count_rows(name, linked)

        def resolve(n, name=name, lab=lab, linked=linked, t=t):
            total = ck.rows[name]
            rate = n[lab] / total
            if rate >= min_rate:
                return None
            return Problem(name, "person_id", "link rate",
                           f"only {rate:.1%} of the {total} records link to a person in assignment "
                           f"(minimum {min_rate:.0%}); {total - n[lab]} records do not link",
                           "check that the extract uses the same person id (pseudonymisation key) as "
                           "assignment and covers the study population; pass min_link_rate= to accept "
                           "a lower rate", total - n[lab], ck.examples(name, t.filter(~linked), ["person_id"], lab))
        ck.items.append(_Pending((lab,), resolve))
