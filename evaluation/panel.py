"""Link register extracts by person id into a validated person-month panel.

The register extracts declared in :data:`evaluation.schema.EXTRACTS` (person covariates,
programme assignment, job-seeker spells, monthly social-assistance payments, monthly employment,
other benefits, education, reoffending and the observation window per person) are read
(:func:`read_extracts`), checked (:func:`validate_extracts`) and linked by ``person_id`` into one
row per person and observed month (:func:`build_panel`) with the :data:`evaluation.schema.PANEL`
columns.  :func:`load_panel` does all three for a folder and also loads the synthetic generator's
``truth.parquet`` and ``meta.json`` when present.

Nothing is dropped silently: every person and person-month that does not reach the panel is
counted, with its reason, in the sample-flow table :attr:`Panel.flow`.

Definitions
-----------
Study window
    ``window=(start, end)``, inclusive calendar months.  The panel holds months in the window only;
    ``period`` is the 1-based month index in the window (``period = 1`` is ``start``).  Without a
    window, it runs from the earliest ``coverage.first_month`` to the latest
    ``coverage.last_month``.
Coverage and attrition
    A person is observed from ``coverage.first_month`` to ``coverage.last_month`` (inclusive),
    clipped to the window.  The panel has exactly one row per person and month in that range and
    no rows outside it: months after ``last_month`` are *attrition* (the person left the
    registers: emigrated, died, ...), months before ``first_month`` are *late entry*.  Both are
    counted in the sample flow.  Register records in months outside the person's coverage are
    not used for monthly outcomes (they are counted in the flow); they are used for baseline
    histories and for ``job_kept_6m`` (see below).
Study population
    Persons with a row in ``assignment``, a row in ``persons`` (covariates) and a ``coverage`` row
    overlapping the window.  Persons seen in any extract but failing one of these are excluded,
    step by step, and counted in the flow.
Monthly outcomes
    A month without a register record means "none": ``position_share``, ``earnings``,
    ``sa_amount`` and ``reoffence_events`` are 0 and the flags are ``False``.

    * ``employed``: ``position_share > 0`` in the employment register.
    * ``employed_50``: ``position_share >= 0.5`` (a position of at least 50 %).
    * ``job_kept_6m``: employed (``position_share > 0``) in the month **and** in each of the 5
      calendar months before it, i.e. the month is the 6th or later month of an unbroken run of
      employed months.  Runs are counted on the employment register itself, so months before the
      window (or before ``first_month``) count when the register has them.
    * ``on_social_assistance``: a social-assistance payment with ``amount > 0`` in the month;
      ``sa_amount`` is the amount paid (0 without payment).
    * ``on_aap``, ``on_disability``: a ``benefits`` record with ``benefit`` ``"AAP"`` or
      ``"disability"`` in the month; ``on_aap_or_disability`` is their union.
    * ``self_sufficient``: ``employed`` and not ``on_social_assistance`` and not
      ``on_aap_or_disability`` (in work and off all benefits the suite observes).
    * ``in_education``: an ``education`` record in the month.
    * ``in_measure``: a job-seeker spell with a non-missing ``measure`` overlaps the month
      (``spell_start <= last day of month`` and ``spell_end`` missing or ``>= first day``).
    * ``reoffended``: ``reoffence_events > 0``; ``reoffence_events`` is the sum of ``events`` in
      the month (several rows per person-month are allowed in ``reoffending`` and are added up).
Assignment and time
    ``treated`` is ``arm`` not in ``("control", "comparison")``.  ``event_time`` is the number of
    months since ``assigned_month`` (0 in the start month, negative before; missing for persons
    without ``assigned_month``, e.g. never-treated districts).  ``cohort`` is the ``period`` of
    ``assigned_month`` for treated persons and 0 for the others (R ``did`` convention: 0 = never
    treated); it is missing (``<NA>``) for treated persons assigned before the window opened or
    without ``assigned_month`` (R ``did`` drops such units) and these are counted in the flow.
    ``office`` comes from ``assignment`` and falls back to ``persons.office`` where missing.
Covariates
    ``age`` is the calendar year of ``assigned_month`` (of the window start for persons without
    one) minus ``birth_year``; ``under_30`` is ``age < 30``; ``female`` is ``sex == "F"``.
Baseline histories
    The *reference month* is ``assigned_month`` (window start for persons without one).  For each
    ``k`` in ``baseline_months`` the baseline window is the ``k`` calendar months before the
    reference month (``ref - k`` .. ``ref - 1``).  ``sa_months_k`` counts months in it with a
    social-assistance payment (``amount > 0``), ``emp_months_k`` months with
    ``position_share > 0``; ``earnings_k`` and ``sa_amount_k`` (for the smallest ``k`` only) add
    up earnings and payments.  Only months that are observed count: months before the first month
    present in the monthly registers (the data start, ``Panel.meta["data_start"]``) are unknown and
    add nothing; :meth:`Panel.persons` reports ``baseline_observed_k``, the number of baseline
    months that are observed.  Coverage does not restrict baseline counts (register history
    before a person's ``first_month`` is used when present).

Sample flow
    :attr:`Panel.flow` has columns ``step, stage, kind, reason, persons, person_months``.
    Stage ``"persons"``: ``total`` (persons in any extract), then ``excluded`` steps in order --
    no assignment record, no covariates (not in ``persons``), no coverage record, coverage not
    overlapping the window -- and ``kept`` (persons in the panel); total = excluded + kept, for
    persons and for ``person_months`` (coverage months inside the window).  An ``info`` row counts
    treated persons whose ``cohort`` is missing.  Stage ``"person-months"``: ``total`` (kept
    persons x window months) = months before ``first_month`` (late entry) + months after
    ``last_month`` (attrition) + ``kept`` (panel rows).  Stage ``"records"``: register records not
    used for monthly outcomes, per extract (records of persons not in the panel, after the window,
    outside the person's coverage; ``info``: records before the window, used as baseline history
    only; coverage months outside the window); here ``person_months`` counts records.
Size
    String columns are categoricals, flags ``bool``, counts ``int16``: about 105 bytes per
    person-month with person columns, about 70 without (``include_person_columns=False``), so
    1M persons x 36 months is about 3.8 GB (2.4 GB).

Row numbers in validation messages are 1-based data rows of the extract (for a CSV file, line
number minus one for the header).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import schema

__all__ = [
    "Panel", "PanelValidationError", "Problem", "ValidationReport", "build_panel", "load_panel",
    "read_extracts", "validate_extracts", "OUTCOMES", "CONTROL_ARMS",
]

#: Arms that count as untreated (``treated = False``).
CONTROL_ARMS = ("control", "comparison")

#: Outcome columns of the panel, in :data:`schema.PANEL` order.
OUTCOMES = ("employed", "employed_50", "job_kept_6m", "earnings", "position_share",
            "on_social_assistance", "sa_amount", "self_sufficient", "on_aap", "on_disability",
            "on_aap_or_disability", "in_education", "in_measure", "reoffended", "reoffence_events")

#: Monthly extracts and the columns that identify a record (duplicates are errors);
#: ``reoffending`` has no key: several events in a month are added up.
MONTHLY_KEYS = {
    "social_assistance": ("person_id", "month"),
    "employment": ("person_id", "month"),
    "benefits": ("person_id", "month", "benefit"),
    "education": ("person_id", "month"),
    "reoffending": None,
}
#: Extracts with one row per person.
PERSON_EXTRACTS = ("persons", "assignment", "coverage")

#: Columns that may be absent from an extract (filled with missing values, noted as a warning).
OPTIONAL_COLUMNS = {
    "persons": ("immigrant", "country_group", "years_in_norway", "education_level",
                "norwegian_level", "office"),
    "assignment": ("provider", "office", "participated", "mapping_month", "stratum"),
    "jobseeker_spells": ("measure",),
}

BENEFIT_VALUES = ("AAP", "disability")
SEX_VALUES = ("F", "M")
_PERSON_STR = ("sex", "country_group", "education_level", "norwegian_level")
_N_EXAMPLES = 5
_NAT = np.iinfo(np.int64).min


# ---------------------------------------------------------------------------------------------
# problems, report, error
# ---------------------------------------------------------------------------------------------
@dataclass
class Problem:
    """One finding of :func:`validate_extracts`.

    Attributes
    ----------
    extract, column : str
        Where the problem is (``column`` is ``None`` for extract-level problems).
    kind : str
        Short category, e.g. ``"missing column"``, ``"type"``, ``"duplicate"``, ``"window"``,
        ``"linkage"``.
    message : str
        What is wrong.
    fix : str
        How to fix it.
    count : int
        Number of offending rows (or persons for linkage problems).
    examples : list of str
        The first few offending rows, e.g. ``"row 3 (person_id 'P3', amount=-5.0)"``.
    severity : {"error", "warning"}
        Errors stop :func:`build_panel`; warnings become explicit exclusions in the sample flow.
    """

    extract: str
    column: str | None
    kind: str
    message: str
    fix: str
    count: int = 0
    examples: list = field(default_factory=list)
    severity: str = "error"

    def __str__(self) -> str:
        loc = self.extract + (f", column '{self.column}'" if self.column else "")
        ex = f"; e.g. {'; '.join(self.examples)}" if self.examples else ""
        return f"[{self.severity}] {loc}: {self.message} ({self.count} in all{ex}). Fix: {self.fix}"

    def to_dict(self) -> dict:
        return {"severity": self.severity, "extract": self.extract, "column": self.column,
                "kind": self.kind, "message": self.message, "count": self.count,
                "examples": "; ".join(self.examples), "fix": self.fix}


class PanelValidationError(ValueError):
    """Raised when register extracts fail validation.

    Attributes
    ----------
    problems : list of Problem
        Every hard error found (not only the first), each naming extract, column, example rows
        and the fix.
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) in the register extracts:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclass
class ValidationReport:
    """Result of :func:`validate_extracts`.

    Attributes
    ----------
    problems : list of Problem
        Errors and warnings.
    extracts : dict of DataFrame
        The extracts with columns converted to the schema types (input frames are not modified).
    window : tuple of int or None
        The study window as month indices (months since 1970-01), if given.
    """

    problems: list = field(default_factory=list)
    extracts: dict = field(default_factory=dict, repr=False)
    window: tuple | None = None

    @property
    def errors(self) -> list:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """``True`` when there are no errors (warnings allowed)."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`PanelValidationError` listing every error, if there is any."""
        if self.errors:
            raise PanelValidationError(self.errors)

    def to_frame(self) -> pd.DataFrame:
        cols = ["severity", "extract", "column", "kind", "message", "count", "examples", "fix"]
        return pd.DataFrame([p.to_dict() for p in self.problems], columns=cols)

    def summary(self) -> str:
        if not self.problems:
            return "Validation: no problems."
        return (f"Validation: {len(self.errors)} error(s), {len(self.warnings)} warning(s)\n"
                + "\n".join(f"  - {p}" for p in self.problems))

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.summary()

    def _repr_html_(self) -> str:
        return (f"<p><b>Validation</b>: {len(self.errors)} error(s), {len(self.warnings)} "
                f"warning(s)</p>" + self.to_frame().to_html(index=False))


# ---------------------------------------------------------------------------------------------
# helpers: months, type conversion, examples
# ---------------------------------------------------------------------------------------------
def _month_of(x) -> int:
    """Month index (months since 1970-01) of a date-like scalar ("2020-03", Timestamp, Period)."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        raise TypeError(f"window months must be dates such as '2020-01', got the integer {x!r}")
    ts = x.to_timestamp() if isinstance(x, pd.Period) else pd.Timestamp(x)
    return (ts.year - 1970) * 12 + ts.month - 1


def _parse_window(window) -> tuple[int, int] | None:
    if window is None:
        return None
    if isinstance(window, Mapping):
        window = (window["start"], window["end"])
    if len(window) != 2:
        raise ValueError(f"window must be (start, end), e.g. ('2018-01', '2022-12'); got {window!r}")
    ws, we = _month_of(window[0]), _month_of(window[1])
    if we < ws:
        raise ValueError(f"window end {window[1]!r} is before window start {window[0]!r}")
    return ws, we


def _month_str(m: int) -> str:
    return f"{1970 + m // 12:04d}-{m % 12 + 1:02d}"


def _midx(s: pd.Series) -> np.ndarray:
    """Month index (int64, months since 1970-01) of a datetime series; NaT -> ``_NAT``."""
    v = s.to_numpy()
    if not np.issubdtype(v.dtype, np.datetime64):
        v = pd.to_datetime(s).to_numpy()
    if len(v) > 100_000:  # few distinct months: convert the distinct values only
        codes, uniq = pd.factorize(v, use_na_sentinel=True)
        m = np.asarray(uniq).astype("datetime64[M]").astype(np.int64)
        return np.append(m, _NAT)[codes]
    return v.astype("datetime64[M]").astype(np.int64)


def _month_ts(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.int64)
    return m.astype("datetime64[M]").astype("datetime64[ns]")


def _convert(s: pd.Series, typ: str) -> tuple[pd.Series, np.ndarray]:
    """Convert ``s`` to schema type ``typ``.

    Returns the converted series and a boolean mask of values that are present but could not be
    converted (the series is returned unconverted when the mask has any ``True``).
    """
    n = len(s)
    none = np.zeros(n, dtype=bool)
    if typ == "str":
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if pd.api.types.is_float_dtype(s.dtype):
            f = s.to_numpy(dtype=float, na_value=np.nan)
            if np.all(np.isnan(f) | (f == np.round(f))):
                s = s.astype("Int64")
        if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
            return s, none
        return s.astype("string"), none
    if typ in ("int", "float"):
        if pd.api.types.is_bool_dtype(s.dtype):
            conv = s.astype("Int64" if s.hasnans else "int64")
        elif pd.api.types.is_numeric_dtype(s.dtype):
            conv = s
        else:
            st = s.astype("string").str.strip()
            st = st.mask(st == "")
            conv = pd.to_numeric(st, errors="coerce")
            bad = (st.notna() & conv.isna()).to_numpy(dtype=bool, na_value=False)
            if bad.any():
                return s, bad
        if typ == "int" and pd.api.types.is_float_dtype(conv.dtype):
            f = conv.to_numpy(dtype=float, na_value=np.nan)
            bad = ~np.isnan(f) & (f != np.round(f))
            if bad.any():
                return s, bad
            conv = conv.astype("Int64") if np.isnan(f).any() else conv.astype("int64")
        elif typ == "float" and (not pd.api.types.is_float_dtype(conv.dtype)
                                 or isinstance(conv.dtype, pd.api.extensions.ExtensionDtype)):
            conv = pd.Series(conv.to_numpy(dtype="float64", na_value=np.nan), index=s.index, name=s.name)
        return conv, none
    if typ == "bool":
        if pd.api.types.is_bool_dtype(s.dtype):
            return s, none
        if pd.api.types.is_numeric_dtype(s.dtype):
            f = s.to_numpy(dtype=float, na_value=np.nan)
            bad = ~np.isnan(f) & (f != 0) & (f != 1)
            if bad.any():
                return s, bad
            out = pd.array(np.where(np.isnan(f), pd.NA, f == 1).tolist(), dtype="boolean") \
                if np.isnan(f).any() else pd.array(f == 1, dtype="boolean")
            return pd.Series(out, index=s.index, name=s.name), none
        st = s.astype("string").str.strip().str.lower()
        st = st.mask(st == "")
        mapping = {"1": True, "0": False, "true": True, "false": False, "t": True, "f": False,
                   "yes": True, "no": False, "y": True, "n": False, "1.0": True, "0.0": False}
        conv = st.map(mapping)
        bad = (st.notna() & conv.isna()).to_numpy(dtype=bool, na_value=False)
        if bad.any():
            return s, bad
        return conv.astype("boolean"), none
    if typ in ("month", "date"):
        if isinstance(s.dtype, pd.PeriodDtype):
            conv = s.dt.to_timestamp()
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            conv = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        else:
            if pd.api.types.is_string_dtype(s.dtype):
                st = s.astype("string").str.strip()
                st = st.mask(st == "")
                conv = pd.to_datetime(st, errors="coerce", format="ISO8601")
                present = st.notna()
            else:
                conv = pd.to_datetime(s, errors="coerce")
                present = s.notna()
            bad = (present & conv.isna()).to_numpy(dtype=bool, na_value=False)
            if bad.any():
                return s, bad
        if typ == "month":  # normalise to the first day of the month
            conv = pd.Series(conv.to_numpy().astype("datetime64[M]").astype("datetime64[ns]"),
                             index=s.index, name=s.name)
        elif conv.dtype != "datetime64[ns]":
            conv = conv.astype("datetime64[ns]")
        return conv, none
    raise ValueError(f"unknown schema type {typ!r}")  # pragma: no cover


def _coerce(df: pd.DataFrame, name: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Convert the schema columns of extract ``name``; returns (frame, {column: bad-value mask})."""
    out = df.copy(deep=False)
    bad: dict[str, np.ndarray] = {}
    for col, typ in schema.EXTRACTS.get(name, {}).items():
        if col not in out.columns:
            continue
        conv, mask = _convert(out[col], typ)
        if mask.any():
            bad[col] = mask
        else:
            out[col] = conv
    return out, bad


def _fmt(v) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(v).date())
    return repr(v) if not isinstance(v, (float, np.floating)) else f"{float(v):g}"


def _examples(df: pd.DataFrame, mask, cols: Sequence[str] = ()) -> list[str]:
    """Describe the first offending rows: ``row N (person_id 'X', col=value)``."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))[:_N_EXAMPLES]
    out = []
    for i in idx:
        parts = []
        if "person_id" in df.columns:
            parts.append(f"person_id {_fmt(df['person_id'].iloc[i])}")
        for c in cols:
            if c != "person_id" and c in df.columns:
                parts.append(f"{c}={_fmt(df[c].iloc[i])}")
        out.append(f"row {i + 1} (" + ", ".join(parts) + ")")
    return out


def _ids_examples(ids: Iterable, n: int = _N_EXAMPLES) -> list[str]:
    return [f"person_id {_fmt(x)}" for x in list(ids)[:n]]


def _codes(s: pd.Series, index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the values of ``s`` in ``index`` (-1 if absent) and factorize codes of ``s``.

    Factorizing first makes the lookup of millions of string ids cost one hash pass.
    """
    fc, uniq = pd.factorize(s, use_na_sentinel=True)
    pos = index.get_indexer(np.asarray(uniq, dtype=object))
    return np.append(pos, -1)[fc], fc


def _dup_mask(df: pd.DataFrame, key: Sequence[str]) -> np.ndarray:
    """Rows whose ``key`` columns repeat another row's (all copies marked)."""
    comb = np.zeros(len(df), dtype=np.int64)
    for col in key:
        fc, uniq = pd.factorize(df[col], use_na_sentinel=True)
        comb = comb * (len(uniq) + 1) + (fc + 1)
    return pd.Series(comb).duplicated(keep=False).to_numpy()


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def read_extracts(folder, *, names: Sequence[str] | None = None, large_file_mb: float = 200.0,
                  ) -> dict[str, pd.DataFrame]:
    """Read register extracts from a folder.

    Each extract ``name`` is read from ``<folder>/<name>.parquet`` or, if absent,
    ``<folder>/<name>.csv`` (``.csv.gz`` also works).  Only the columns declared in
    :data:`evaluation.schema.EXTRACTS` are kept.  CSV files are parsed as text and converted to
    the schema types; a column that cannot be converted (e.g. text in a numeric column) is left
    as text so that :func:`validate_extracts` can report the offending rows.  Parquet files larger
    than ``large_file_mb`` are read through DuckDB, selecting only the schema columns.  Input
    files are opened read-only and never modified.

    Parameters
    ----------
    folder : str or Path
        Folder holding the extract files.
    names : sequence of str, optional
        Extracts to read.  By default every schema extract found in the folder.  A name given
        here without a file raises ``FileNotFoundError``.
    large_file_mb : float, default 200
        Parquet files above this size (MB) are read with DuckDB.

    Returns
    -------
    dict of str to DataFrame
        Extract name to frame.  The frames' ``attrs`` record ``source`` (file path),
        ``reader`` (``"pandas-csv"``, ``"pandas-parquet"`` or ``"duckdb"``) and
        ``ignored_columns`` (columns in the file that are not in the schema).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"extract folder {str(folder)!r} does not exist")
    wanted = list(names) if names is not None else list(schema.EXTRACTS)
    unknown = [n for n in wanted if n not in schema.EXTRACTS]
    if unknown:
        raise ValueError(f"unknown extract name(s) {unknown}; expected some of {list(schema.EXTRACTS)}")
    out: dict[str, pd.DataFrame] = {}
    for name in wanted:
        cols = schema.EXTRACTS[name]
        path = next((folder / f"{name}{ext}" for ext in (".parquet", ".csv", ".csv.gz")
                     if (folder / f"{name}{ext}").is_file()), None)
        if path is None:
            if names is not None:
                present = sorted(p.name for p in folder.iterdir() if p.is_file())
                raise FileNotFoundError(f"extract {name!r} not found: expected {name}.parquet or "
                                        f"{name}.csv in {str(folder)!r}; files there: {present}")
            continue
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq
            file_cols = pq.read_schema(path).names
            use = [c for c in cols if c in file_cols]
            if path.stat().st_size > large_file_mb * 1e6:
                import duckdb
                sel = ", ".join('"' + c.replace('"', '""') + '"' for c in use)
                con = duckdb.connect()
                try:
                    df = con.execute(f"SELECT {sel} FROM read_parquet(?)", [str(path)]).df()
                finally:
                    con.close()
                reader = "duckdb"
            else:
                df = pd.read_parquet(path, columns=use)
                reader = "pandas-parquet"
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=True)
            file_cols = list(df.columns)
            use = [c for c in cols if c in file_cols]
            df = df[use]
            reader = "pandas-csv"
        df, _ = _coerce(df, name)
        df.attrs.update(source=str(path), reader=reader,
                        ignored_columns=[c for c in file_cols if c not in cols])
        out[name] = df
    if not out:
        raise FileNotFoundError(f"no extracts found in {str(folder)!r}; expected files such as "
                                f"persons.parquet / persons.csv, assignment.parquet, ...")
    return out


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def validate_extracts(extracts: Mapping[str, pd.DataFrame], *, window=None,
                      offices: Sequence[str] | None = None, lookback_months: int = 24,
                      outside_window: str = "error", linkage: str = "exclude",
                      raise_errors: bool = True) -> ValidationReport:
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
    extracts : dict of str to DataFrame
        Extracts as returned by :func:`read_extracts` (or the synthetic generator).  Not modified.
    window : (start, end), optional
        Study window, inclusive months, e.g. ``("2018-01", "2022-12")``.
    offices : sequence of str, optional
        Allowed office codes for ``persons.office`` and ``assignment.office``.
    lookback_months : int, default 24
        Months before the window start that records may have (baseline history).
    outside_window : {"error", "exclude"}
    linkage : {"exclude", "error"}
    raise_errors : bool, default True
        Raise :class:`PanelValidationError` (listing all errors) when there are errors.

    Returns
    -------
    ValidationReport
        Problems (warnings, and errors when ``raise_errors=False``) and the type-converted extracts.
    """
    if outside_window not in ("error", "exclude"):
        raise ValueError(f"outside_window must be 'error' or 'exclude', got {outside_window!r}")
    if linkage not in ("error", "exclude"):
        raise ValueError(f"linkage must be 'exclude' or 'error', got {linkage!r}")
    win = _parse_window(window)
    probs: list[Problem] = []
    add = probs.append

    for name in schema.REQUIRED_EXTRACTS:
        if name not in extracts or extracts[name] is None:
            cols = ", ".join(schema.EXTRACTS[name])
            add(Problem(name, None, "missing extract", f"required extract '{name}' is missing",
                        f"provide {name}.parquet or {name}.csv with columns {cols}", 1))
    for name in extracts:
        if name not in schema.EXTRACTS:
            add(Problem(name, None, "unknown extract", f"extract '{name}' is not in the schema and is ignored",
                        f"rename it to one of {list(schema.EXTRACTS)} or leave it out", 1, severity="warning"))

    conv: dict[str, pd.DataFrame] = {}
    usable: dict[str, set] = {}   # extract -> columns present and correctly typed
    for name, df in extracts.items():
        if name not in schema.EXTRACTS or df is None:
            continue
        cols = schema.EXTRACTS[name]
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"extract '{name}' must be a pandas DataFrame, got {type(df).__name__}")
        optional = OPTIONAL_COLUMNS.get(name, ())
        for c, typ in cols.items():
            if c in df.columns:
                continue
            if c in optional:
                add(Problem(name, c, "missing column", f"optional column '{c}' is missing; it is "
                            "filled with missing values", f"add column '{c}' ({typ}) if the register has it",
                            len(df), severity="warning"))
            else:
                add(Problem(name, c, "missing column", f"required column '{c}' ({typ}) is missing; "
                            f"the extract has columns {list(df.columns)}",
                            f"add column '{c}' of type {typ} (or rename the column that holds it)", 1))
        cdf, bad = _coerce(df, name)
        for c, mask in bad.items():
            typ = cols[c]
            what = {"int": "an integer", "float": "a number", "bool": "0/1 or true/false",
                    "month": "a month such as 2020-01 or 2020-01-01", "date": "a date such as 2020-01-15",
                    "str": "text"}[typ]
            add(Problem(name, c, "type", f"values that are not {what} (column type {typ})",
                        f"correct or blank the offending values in '{c}' (missing values are allowed "
                        "where the column may be missing)", int(mask.sum()), _examples(df, mask, [c])))
        conv[name] = cdf
        usable[name] = {c for c in cols if c in df.columns and c not in bad}

    def has(name, *cs):
        return name in conv and all(c in usable[name] for c in cs)

    def check(name, col, mask, kind, message, fix, show=None, severity="error"):
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            add(Problem(name, col, kind, message, fix, int(mask.sum()),
                        _examples(conv[name], mask, show or ([col] if col else [])), severity))

    # missing keys / values that must be present
    must = {"person_id": "person id", "month": "month", "first_month": "coverage start",
            "last_month": "coverage end", "spell_start": "spell start", "arm": "arm",
            "birth_year": "birth year", "amount": "amount", "position_share": "position share",
            "earnings": "earnings", "benefit": "benefit", "events": "number of events"}
    for name, df in conv.items():
        for c, what in must.items():
            if c in schema.EXTRACTS[name] and has(name, c):
                check(name, c, df[c].isna().to_numpy(), "missing value", f"missing {what}",
                      f"fill in '{c}' or remove these rows from the extract")

    # duplicates
    for name in PERSON_EXTRACTS:
        if not has(name, "person_id"):
            continue
        df = conv[name]
        dup = df["person_id"].duplicated(keep=False).to_numpy()
        if not dup.any():
            continue
        if name == "assignment" and has(name, "arm"):
            n_arms = df.groupby("person_id", sort=False, observed=True)["arm"].transform("nunique")
            changing = dup & (n_arms.to_numpy() > 1)
            check(name, "arm", changing, "assignment changes",
                  "assignment changes within a person: two or more different arms for one person",
                  "keep one assignment row per person (the randomised arm); the arm cannot change",
                  ["arm", "assigned_month"])
            dup = dup & ~changing
        check(name, "person_id", dup, "duplicate", "duplicate persons (one row per person expected)",
              "keep one row per person_id", ["person_id"])
    for name, key in MONTHLY_KEYS.items():
        if key is None or not has(name, *key):
            continue
        df = conv[name]
        dup = _dup_mask(df, key)
        check(name, "month", dup, "duplicate",
              "duplicate person-months (" + ", ".join(key) + " repeated)",
              "aggregate to one row per " + ", ".join(key) + " (e.g. sum the amounts) or drop repeated rows",
              list(key[1:]) + [c for c in schema.EXTRACTS[name] if c not in key])

    # values
    def nonneg(name, col):
        if has(name, col):
            v = conv[name][col].to_numpy(dtype=float, na_value=np.nan)
            check(name, col, v < 0, "negative", f"negative {col}",
                  f"{col} must be >= 0; correct the rows or drop reversals/corrections from the extract",
                  ["month", col])
    nonneg("social_assistance", "amount")
    nonneg("employment", "earnings")
    nonneg("reoffending", "events")
    nonneg("persons", "years_in_norway")
    if has("employment", "position_share"):
        v = conv["employment"]["position_share"].to_numpy(dtype=float, na_value=np.nan)
        check("employment", "position_share", (v < 0) | (v > 1), "range", "position_share outside [0, 1]",
              "position_share is a fraction of a full-time position (0.5 = 50 %); divide percentages by 100",
              ["month", "position_share"])
    if has("benefits", "benefit"):
        b = conv["benefits"]["benefit"]
        check("benefits", "benefit", ~b.isin(BENEFIT_VALUES).to_numpy(dtype=bool), "value",
              f"unknown benefit (allowed: {list(BENEFIT_VALUES)})",
              "recode the benefit to 'AAP' or 'disability' or drop other benefits from the extract",
              ["month", "benefit"])
    if has("persons", "sex"):
        s = conv["persons"]["sex"]
        check("persons", "sex", ~s.isin(SEX_VALUES).to_numpy(dtype=bool), "value",
              "sex must be 'F' or 'M'", "recode sex to 'F'/'M'", ["sex"])
    if has("coverage", "first_month", "last_month"):
        df = conv["coverage"]
        check("coverage", "last_month", (df["last_month"] < df["first_month"]).to_numpy(dtype=bool),
              "range", "last_month before first_month", "swap or correct the coverage months",
              ["first_month", "last_month"])
    if has("jobseeker_spells", "spell_start", "spell_end"):
        df = conv["jobseeker_spells"]
        check("jobseeker_spells", "spell_end",
              (df["spell_end"] < df["spell_start"]).to_numpy(dtype=bool), "range",
              "spell_end before spell_start", "correct the spell dates (leave spell_end empty for ongoing spells)",
              ["spell_start", "spell_end"])
    if offices is not None:
        allowed = list(offices)
        for name in ("persons", "assignment"):
            if has(name, "office"):
                o = conv[name]["office"]
                check(name, "office", (o.notna() & ~o.isin(allowed)).to_numpy(dtype=bool), "unknown office",
                      f"unknown office codes (allowed: {allowed})",
                      "recode the office to one of the allowed codes or add it to offices=", ["office"])

    # window
    if win is not None:
        lo, hi = win[0] - lookback_months, win[1]
        sev = "error" if outside_window == "error" else "warning"
        fix = (f"filter the extract to {_month_str(lo)}..{_month_str(hi)} (window plus {lookback_months} "
               "months of baseline history), widen window=, or pass outside_window='exclude'")
        for name, col in ([(n, "month") for n in MONTHLY_KEYS]
                          + [("assignment", "assigned_month"), ("assignment", "mapping_month")]):
            if has(name, col):
                m = _midx(conv[name][col])
                check(name, col, (m != _NAT) & ((m < lo) | (m > hi)), "window",
                      f"dates outside the study window {_month_str(win[0])}..{_month_str(win[1])} "
                      f"(baseline history from {_month_str(lo)} allowed)", fix, [col], sev)

    # linkage
    if has("assignment", "person_id"):
        sev = "error" if linkage == "error" else "warning"
        a_ids = pd.Index(conv["assignment"]["person_id"].dropna().unique())
        p_ids = pd.Index(conv["persons"]["person_id"].dropna().unique()) if has("persons", "person_id") else None
        for name, what in (("persons", "no covariates"), ("coverage", "no coverage record")):
            if has(name, "person_id"):
                ids = pd.Index(conv[name]["person_id"].dropna().unique())
                miss = a_ids.difference(ids)
                if len(miss):
                    add(Problem(name, "person_id", "linkage",
                                f"persons in assignment but absent from {name} ({what}); they are excluded "
                                "from the panel", f"add these persons to {name}, or accept the exclusion "
                                "shown in the sample flow", len(miss), _ids_examples(miss), sev))
        for name in conv:
            if name == "assignment" or not has(name, "person_id"):
                continue
            ids = pd.Index(conv[name]["person_id"].dropna().unique())
            miss = ids.difference(a_ids)
            if len(miss):
                add(Problem(name, "person_id", "linkage",
                            f"persons present in {name} but absent from assignment (not in the study "
                            "population); their rows are excluded", "add their assignment rows if they "
                            "belong to the study, or accept the exclusion shown in the sample flow",
                            len(miss), _ids_examples(miss), sev))
            if p_ids is not None and name != "persons":
                miss = ids.difference(p_ids)
                if len(miss):
                    add(Problem(name, "person_id", "linkage",
                                f"persons present in {name} but absent from persons (no covariates); "
                                "their rows are excluded", "add the persons to the persons extract, or "
                                "accept the exclusion shown in the sample flow", len(miss),
                                _ids_examples(miss), sev))

    rep = ValidationReport(probs, conv, win)
    if raise_errors:
        rep.raise_for_errors()
    return rep


# ---------------------------------------------------------------------------------------------
# the panel object
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def _cat_take(values, codes: np.ndarray) -> pd.Categorical:
    cat = pd.Categorical(values)
    return pd.Categorical.from_codes(cat.codes[codes], categories=cat.categories)


def _bool_person(s: pd.Series):
    """Person-level boolean column: numpy bool when complete, pandas 'boolean' with missing."""
    b = s.astype("boolean")
    return b.to_numpy(dtype=bool) if not b.isna().any() else b.array


def build_panel(extracts: Mapping[str, pd.DataFrame], *, window=None,
                outcomes: Sequence[str] | None = None, baseline_months: Sequence[int] = (12, 24),
                offices: Sequence[str] | None = None, lookback_months: int | None = None,
                outside_window: str = "error", linkage: str = "exclude",
                include_person_columns: bool = True, job_kept_min_share: float | None = None,
                report: ValidationReport | None = None) -> Panel:
    """Link register extracts by person id into a person-month panel.

    Parameters
    ----------
    extracts : dict of str to DataFrame
        Register extracts (:func:`read_extracts`, or the synthetic generator's ``.extracts``).
        Not modified.
    window : (start, end), optional
        Study window, inclusive months, e.g. ``("2018-01", "2022-12")``.  Default: earliest
        ``coverage.first_month`` to latest ``coverage.last_month``.
    outcomes : sequence of str, optional
        Outcome columns to include (default: all of :data:`OUTCOMES`).
    baseline_months : sequence of int, default (12, 24)
        Baseline windows ``k``: columns ``sa_months_k`` and ``emp_months_k`` for each ``k``, and
        ``earnings_k`` and ``sa_amount_k`` for the smallest ``k``.
    offices : sequence of str, optional
        Allowed office codes (validation).
    lookback_months : int, optional
        Months of history before the window that records may have (default
        ``max(baseline_months)``).
    outside_window : {"error", "exclude"}
        Whether records dated outside the window (plus look-back) are errors or counted
        exclusions.
    linkage : {"exclude", "error"}
        Whether persons missing from an extract are counted exclusions or errors.
    include_person_columns : bool, default True
        Repeat covariates and baseline histories on every row (the :data:`schema.PANEL` layout).
        ``False`` keeps only identifiers, time, assignment and outcomes in ``data`` (the rest is in
        :meth:`Panel.persons`), which saves memory for millions of persons.
    job_kept_min_share : float, optional
        Position share a month needs to count towards ``job_kept_6m``.  Default ``None``: any
        employment (``position_share > 0``); e.g. ``0.5`` counts only months in at least a 50 %
        position (the REFINO payment condition), making ``job_kept_6m`` "in a >= 50 % position
        this month and each of the previous 5 months".
    report : ValidationReport, optional
        A report from :func:`validate_extracts` to reuse (otherwise validation runs here).

    Returns
    -------
    Panel

    Raises
    ------
    PanelValidationError
        If the extracts fail validation (every error is listed).

    Notes
    -----
    Definitions of every column are in the module docstring.  The construction is vectorised:
    each person gets a contiguous block of rows (coverage months clipped to the window); a
    register record of person ``i`` in month ``m`` lands on row ``offset[i] + m - first[i]``.
    """
    ks = sorted({int(k) for k in baseline_months})
    if not ks or ks[0] < 1:
        raise ValueError(f"baseline_months must be positive integers, got {baseline_months!r}")
    if outcomes is None:
        outs = list(OUTCOMES)
    else:
        outs = list(outcomes)
        unknown = [o for o in outs if o not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}; available: {list(OUTCOMES)}")
    lookback = ks[-1] if lookback_months is None else int(lookback_months)
    if report is None:
        report = validate_extracts(extracts, window=window, offices=offices, lookback_months=lookback,
                                   outside_window=outside_window, linkage=linkage, raise_errors=True)
    else:
        report.raise_for_errors()
    ex = {k: v for k, v in report.extracts.items() if k in schema.EXTRACTS}
    win = _parse_window(window) if window is not None else report.window
    cov = ex["coverage"]
    cf, cl = _midx(cov["first_month"]), _midx(cov["last_month"])
    if win is None:
        win = (int(cf.min()), int(cl.max()))
    ws, we = win
    T = we - ws + 1

    # ---- persons: who enters the panel --------------------------------------------------------
    flow: list[tuple] = []

    def fl(stage, kind, reason, persons, pm):
        flow.append((stage, kind, reason, int(persons), None if pm is None else int(pm)))

    all_ids = pd.Index(pd.concat([pd.Series(df["person_id"].dropna().unique()).astype(object)
                                  for df in ex.values()], ignore_index=True).unique())
    cov_in = pd.Series(np.maximum(0, np.minimum(cl, we) - np.maximum(cf, ws) + 1),
                       index=cov["person_id"].astype(object).to_numpy())
    cov_in = cov_in[~cov_in.index.duplicated()]

    def in_win_months(ids):
        return cov_in.reindex(ids).fillna(0).sum()

    fl("persons", "total", "persons in any extract", len(all_ids), in_win_months(all_ids))
    remaining = all_ids
    for reason, name in (("no assignment record", "assignment"),
                         ("no covariates (not in persons)", "persons"),
                         ("no coverage record", "coverage")):
        ok = pd.Index(ex[name]["person_id"].dropna().astype(object).unique())
        excl = remaining.difference(ok)
        remaining = remaining.intersection(ok)
        fl("persons", "excluded", reason, len(excl), in_win_months(excl))
    n_in = cov_in.reindex(remaining).to_numpy()
    fl("persons", "excluded", "coverage does not overlap the study window", (n_in <= 0).sum(), 0)
    kidx = pd.Index(np.sort(remaining[n_in > 0].to_numpy(dtype=object)), dtype=object, name="person_id")
    K = len(kidx)

    def per_person(df):
        d = df.copy(deep=False)
        d.index = pd.Index(d["person_id"].astype(object).to_numpy())
        return d.reindex(kidx)

    A, P, C = per_person(ex["assignment"]), per_person(ex["persons"]), per_person(cov)
    for frame, name in ((A, "assignment"), (P, "persons")):
        for c in schema.EXTRACTS[name]:
            if c not in frame.columns:
                frame[c] = pd.NA if schema.EXTRACTS[name][c] != "month" else pd.NaT
    fl("persons", "kept", "persons in the panel", K, None)

    first = np.maximum(_midx(C["first_month"]), ws)
    last = np.minimum(_midx(C["last_month"]), we)
    n = (last - first + 1).astype(np.int64)
    offs = np.cumsum(n) - n
    total = int(n.sum())
    code = np.repeat(np.arange(K, dtype=np.int32), n)
    mi = np.arange(total, dtype=np.int64) - np.repeat(offs - first, n)
    flow[-1] = flow[-1][:4] + (total,)

    # ---- person-months ------------------------------------------------------------------------
    raw_first, raw_last = _midx(C["first_month"]), _midx(C["last_month"])
    late = np.clip(np.minimum(raw_first, we + 1) - ws, 0, None)
    attr = np.clip(we - np.maximum(raw_last, ws - 1), 0, None)
    fl("person-months", "total", "kept persons x window months", K, K * T)
    fl("person-months", "excluded", "months before first_month (late entry, not observed)",
       (late > 0).sum(), late.sum())
    fl("person-months", "excluded", "months after last_month (attrition, not observed)",
       (attr > 0).sum(), attr.sum())
    fl("person-months", "kept", "person-months in the panel", K, total)
    outside = np.clip(ws - raw_first, 0, None) + np.clip(raw_last - we, 0, None)
    if outside.sum():
        fl("records", "info", "coverage months of kept persons outside the study window (not in panel)",
           (outside > 0).sum(), outside.sum())

    # ---- locate register records on panel rows ------------------------------------------------
    def locate(name, col="month"):
        df = ex[name]
        c, fc = _codes(df["person_id"], kidx)
        m = _midx(df[col])
        inp = c >= 0
        cc = np.where(inp, c, 0)
        incov = inp & (m >= first[cc]) & (m <= last[cc])
        rows = offs[cc] + (m - first[cc])

        def rec(kind, reason, mask):
            if mask.any():
                fl("records", kind, f"{name}: {reason}", np.unique(fc[mask]).size, mask.sum())
        rec("excluded", "records of persons not in the panel", ~inp)
        rec("info", "records before the window (baseline history only)", inp & (m < ws))
        rec("excluded", "records after the window end", inp & (m > we))
        rec("excluded", "records in months outside the person's coverage",
            inp & (m >= ws) & (m <= we) & ~incov)
        return c, m, inp, incov, rows

    missing_extracts = [n_ for n_ in schema.EXTRACTS if n_ not in ex]
    cols: dict[str, Any] = {}
    ref = _midx(A["assigned_month"])
    has_a = ref != _NAT
    ref = np.where(has_a, ref, ws)
    data_start = min((int(_midx(ex[nm]["month"]).min()) for nm in MONTHLY_KEYS
                      if nm in ex and len(ex[nm])), default=ws)

    # employment
    ps = np.zeros(total, dtype=np.float64)
    earn = np.zeros(total, dtype=np.float64)
    jk = np.zeros(total, dtype=bool)
    e = ex["employment"]
    c, m, inp, incov, rows = locate("employment")
    eps = e["position_share"].to_numpy(dtype=float, na_value=0.0)
    eearn = e["earnings"].to_numpy(dtype=float, na_value=0.0)
    ps[rows[incov]] = eps[incov]
    earn[rows[incov]] = eearn[incov]
    sel = inp & ((eps > 0) if job_kept_min_share is None else (eps >= job_kept_min_share))
    c2, m2 = c[sel], m[sel]
    order = np.lexsort((m2, c2))
    c2, m2 = c2[order], m2[order]
    if len(c2):
        new = np.ones(len(c2), dtype=bool)
        new[1:] = (c2[1:] != c2[:-1]) | (m2[1:] != m2[:-1] + 1)
        pos = np.arange(len(c2))
        runpos = pos - np.maximum.accumulate(np.where(new, pos, 0)) + 1
        ok = (runpos >= 6) & (m2 >= first[c2]) & (m2 <= last[c2])
        jk[offs[c2[ok]] + m2[ok] - first[c2[ok]]] = True
    base: dict[str, np.ndarray] = {}
    d = ref[np.where(inp, c, 0)] - m
    for k in ks:
        w = inp & (d >= 1) & (d <= k)
        base[f"emp_months_{k}"] = np.bincount(c[w & (eps > 0)], minlength=K)
        if k == ks[0]:
            base[f"earnings_{k}"] = np.bincount(c[w], weights=eearn[w], minlength=K)

    # social assistance
    s = ex["social_assistance"]
    c, m, inp, incov, rows = locate("social_assistance")
    amt = s["amount"].to_numpy(dtype=float, na_value=0.0)
    sa_amount = np.zeros(total, dtype=np.float64)
    sa_amount[rows[incov]] = amt[incov]
    d = ref[np.where(inp, c, 0)] - m
    for k in ks:
        w = inp & (d >= 1) & (d <= k)
        base[f"sa_months_{k}"] = np.bincount(c[w & (amt > 0)], minlength=K)
        if k == ks[0]:
            base[f"sa_amount_{k}"] = np.bincount(c[w], weights=amt[w], minlength=K)

    on_aap = np.zeros(total, dtype=bool)
    on_dis = np.zeros(total, dtype=bool)
    if "benefits" in ex:
        b = ex["benefits"]["benefit"].to_numpy(dtype=object)
        c, m, inp, incov, rows = locate("benefits")
        on_aap[rows[incov & (b == "AAP")]] = True
        on_dis[rows[incov & (b == "disability")]] = True
    in_edu = np.zeros(total, dtype=bool)
    if "education" in ex:
        c, m, inp, incov, rows = locate("education")
        in_edu[rows[incov]] = True
    events = np.zeros(total, dtype=np.int64)
    if "reoffending" in ex:
        r = ex["reoffending"]
        c, m, inp, incov, rows = locate("reoffending")
        ev = r["events"].to_numpy(dtype=float, na_value=0.0)
        events += np.bincount(rows[incov], weights=ev[incov], minlength=total).astype(np.int64)
    in_meas = np.zeros(total, dtype=bool)
    if "jobseeker_spells" in ex:
        sp = ex["jobseeker_spells"]
        c, fc = _codes(sp["person_id"], kidx)
        st_ = _midx(sp["spell_start"])
        en_ = _midx(sp["spell_end"])
        en_ = np.where(en_ == _NAT, we, en_)
        meas = sp["measure"].notna().to_numpy() if "measure" in sp else np.ones(len(sp), dtype=bool)
        v = (c >= 0) & meas
        if (c < 0).any():
            fl("records", "excluded", "jobseeker_spells: spells of persons not in the panel",
               np.unique(fc[c < 0]).size, (c < 0).sum())
        cc, s0, e0 = c[v], st_[v], en_[v]
        s0 = np.maximum(s0, first[cc])
        e0 = np.minimum(e0, last[cc])
        L = np.clip(e0 - s0 + 1, 0, None)
        starts = offs[cc] + s0 - first[cc]
        in_meas[np.repeat(starts - (np.cumsum(L) - L), L) + np.arange(L.sum())] = True

    # ---- person-level columns -----------------------------------------------------------------
    arm = A["arm"].astype(object).to_numpy()
    treated = ~pd.Series(arm).isin(CONTROL_ARMS).to_numpy()
    a_idx = _midx(A["assigned_month"])
    coh = np.where(treated, a_idx - ws + 1, 0)
    coh_na = treated & ((a_idx == _NAT) | (a_idx < ws))
    if coh_na.any():
        fl("persons", "info", "treated persons assigned before the window or without assigned_month "
           "(cohort missing)", coh_na.sum(), n[coh_na].sum())
    cohort = pd.array(np.where(coh_na, 0, coh).astype(np.int16), dtype="Int16")
    cohort[coh_na] = pd.NA
    birth = P["birth_year"].to_numpy(dtype=np.int64)
    age = (ref // 12 + 1970 - birth).astype(np.int16)
    office = A["office"].astype(object).where(A["office"].notna(), P["office"].astype(object))

    pers = pd.DataFrame({
        "person_id": kidx.to_numpy(),
        "arm": pd.Categorical(arm), "treated": treated,
        "participated": _bool_person(A["participated"]),
        "provider": pd.Categorical(A["provider"].astype(object)),
        "office": pd.Categorical(office), "stratum": pd.Categorical(A["stratum"].astype(object)),
        "assigned_month": A["assigned_month"].to_numpy(dtype="datetime64[ns]"),
        "cohort": cohort,
        "birth_year": birth.astype(np.int16), "age": age,
        "sex": pd.Categorical(P["sex"].astype(object)),
        "female": (P["sex"].astype(object) == "F").to_numpy(dtype=bool),
        "immigrant": _bool_person(P["immigrant"]),
        "country_group": pd.Categorical(P["country_group"].astype(object)),
        "years_in_norway": P["years_in_norway"].to_numpy(dtype=np.float32, na_value=np.nan),
        "education_level": pd.Categorical(P["education_level"].astype(object)),
        "norwegian_level": pd.Categorical(P["norwegian_level"].astype(object)),
        "under_30": age < 30,
    })
    for k in ks:
        pers[f"sa_months_{k}"] = base[f"sa_months_{k}"].astype(np.int16)
    for k in ks:
        pers[f"emp_months_{k}"] = base[f"emp_months_{k}"].astype(np.int16)
    pers[f"earnings_{ks[0]}"] = base[f"earnings_{ks[0]}"]
    pers[f"sa_amount_{ks[0]}"] = base[f"sa_amount_{ks[0]}"]
    person_cols = [c_ for c_ in pers.columns if c_ != "person_id"]
    pers["mapping_month"] = A["mapping_month"].to_numpy(dtype="datetime64[ns]")
    pers["first_month"] = _month_ts(first)
    pers["last_month"] = _month_ts(last)
    pers["n_months"] = n.astype(np.int32)
    for k in ks:
        pers[f"baseline_observed_{k}"] = np.clip(ref - data_start, 0, k).astype(np.int16)

    # ---- assemble -------------------------------------------------------------------------------
    et_vals = (mi - a_idx[code])
    et_mask = ~has_a[code]
    cols["person_id"] = pd.Categorical.from_codes(code, categories=pd.Index(kidx.to_numpy()))
    cols["month"] = _month_ts(np.arange(ws, we + 1))[mi - ws]
    cols["period"] = (mi - ws + 1).astype(np.int16)
    cols["event_time"] = pd.arrays.IntegerArray(np.where(et_mask, 0, et_vals).astype(np.int16), et_mask)
    keep_always = {"arm", "treated", "participated", "provider", "office", "stratum",
                   "assigned_month", "cohort"}
    for c_ in person_cols:
        if not include_person_columns and c_ not in keep_always:
            continue
        v = pers[c_]
        if isinstance(v.dtype, pd.CategoricalDtype):
            cols[c_] = pd.Categorical.from_codes(v.cat.codes.to_numpy()[code], categories=v.cat.categories)
        else:
            cols[c_] = v.array.take(code) if isinstance(v.array, pd.api.extensions.ExtensionArray) \
                and not isinstance(v.array, pd.arrays.NumpyExtensionArray) else v.to_numpy()[code]
    employed = ps > 0
    on_sa = sa_amount > 0
    derived = {
        "employed": employed, "employed_50": ps >= 0.5, "job_kept_6m": jk, "earnings": earn,
        "position_share": ps.astype(np.float32),
        "on_social_assistance": on_sa, "sa_amount": sa_amount,
        "self_sufficient": employed & ~on_sa & ~(on_aap | on_dis),
        "on_aap": on_aap, "on_disability": on_dis, "on_aap_or_disability": on_aap | on_dis,
        "in_education": in_edu, "in_measure": in_meas,
        "reoffended": events > 0, "reoffence_events": events.astype(np.int16),
    }
    for o in OUTCOMES:
        if o in outs:
            cols[o] = derived[o]
    data = pd.DataFrame(cols, copy=False)  # no block consolidation: avoids copying every column

    flow_df = pd.DataFrame(flow, columns=["stage", "kind", "reason", "persons", "person_months"])
    flow_df["person_months"] = flow_df["person_months"].astype("Int64")
    flow_df.insert(0, "step", np.arange(1, len(flow_df) + 1))
    meta = {"panel": {
        "window": [_month_str(ws), _month_str(we)], "n_periods": T,
        "n_persons": K, "n_person_months": total,
        "data_start": _month_str(data_start), "baseline_months": ks,
        "lookback_months": lookback, "outcomes": outs, "job_kept_min_share": job_kept_min_share,
        "extracts": {k: {"rows": len(v), "source": extracts[k].attrs.get("source") if k in extracts else None}
                     for k, v in ex.items()},
        "missing_extracts": missing_extracts,
        "control_arms": list(CONTROL_ARMS),
        "warnings": [str(p) for p in report.warnings],
    }}
    return Panel(data, flow_df, meta, pers, report=report)


def _window_from_meta(meta: dict):
    for a, b in (("window_start", "window_end"), ("start_month", "end_month"),
                 ("study_start", "study_end"), ("start", "end")):
        if a in meta and b in meta:
            return (meta[a], meta[b])
    w = meta.get("window")
    if isinstance(w, (list, tuple)) and len(w) == 2:
        return tuple(w)
    if isinstance(w, dict) and "start" in w and "end" in w:
        return (w["start"], w["end"])
    return None


def load_panel(folder, *, window=None, names: Sequence[str] | None = None,
               large_file_mb: float = 200.0, offices: Sequence[str] | None = None, **kw) -> Panel:
    """Read, validate and link the extracts in a folder into a :class:`Panel`.

    Also loads ``truth.parquet`` (:attr:`Panel.truth`) and ``meta.json`` (merged into
    :attr:`Panel.meta`) when present.  Without ``window``, the window is taken from ``meta.json``
    (keys ``window_start``/``window_end``, ``start_month``/``end_month`` or ``window``) or else
    from the coverage extract; without ``offices``, a list under ``meta.json["offices"]`` is used.

    Parameters
    ----------
    folder : str or Path
        e.g. ``data/synthetic/refino``.
    window, offices, **kw
        Passed to :func:`build_panel`.
    names, large_file_mb
        Passed to :func:`read_extracts`.

    Returns
    -------
    Panel
    """
    folder = Path(folder)
    meta: dict = {}
    if (folder / "meta.json").is_file():
        with open(folder / "meta.json", encoding="utf-8") as fh:
            meta = json.load(fh)
    truth = pd.read_parquet(folder / "truth.parquet") if (folder / "truth.parquet").is_file() else None
    if window is None:
        window = _window_from_meta(meta)
    if offices is None and isinstance(meta.get("offices"), list):
        offices = meta["offices"]
    extracts = read_extracts(folder, names=names, large_file_mb=large_file_mb)
    panel = build_panel(extracts, window=window, offices=offices, **kw)
    panel.meta = {**meta, "panel": {**panel.meta["panel"], "folder": str(folder),
                                    "readers": {k: v.attrs.get("reader") for k, v in extracts.items()}}}
    panel.truth = truth
    return panel
