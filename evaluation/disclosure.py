"""The disclosure gate: everything a report publishes passes here.

Register data are published under output control (SSB and microdata.no, the UK Data Labs): no
person ids, no small cells, no statistic of a small group, nothing recoverable by subtraction.
This module is the one place where that control is decided; :mod:`evaluation.report` keeps the
presentation and re-exports what notebooks use.

What the gate does
------------------
* **Primary suppression**: every count ``1 .. threshold-1`` in a declared count column is shown
  as ``"<threshold"``; zeros reveal no person and are shown.
* **Statistics of small groups**: every statistic (mean, share, SD, effect, payment) tied to a
  count that is below the threshold or suppressed is hidden with it.
* **Minimum for analyses** (``min_analysis_n``, default 60 as the Justice Data Lab): estimates
  resting on fewer persons are withheld, with the reason shown in the cell and under the table.
* **Secondary suppression from declared structure**: a :class:`TableSpec` declares which cells
  add up to which (:class:`Sum`: totals, margins, sample-flow chains where steps subtract, and a
  ``partition`` whose total is published elsewhere).  Labels ("Total", "I alt", "Alle") are never
  read.  Complementary cells are hidden until a linear-programming audit (the minimum and maximum
  of every hidden cell subject to the published cells, the declared sums and non-negativity)
  leaves every hidden cell an interval at least ``threshold`` wide.
* **Amounts that are count x price** are rounded to a multiple of ``rounding_base x price`` (as
  SSB's SmallCountRounding rounds counts to a base), so the count behind an amount is known only
  to within ``rounding_base`` persons; the table says so.
* **Free text**: counts of persons inside notes and warnings ("3 persons dropped") become
  ``"<5 persons dropped"``.
* **Figures**: :func:`mask_points` drops points/lines resting on fewer than ``threshold`` persons
  and :func:`masked_histogram` leaves out bins with fewer than ``threshold`` persons.
* **HTML**: every string is escaped (:func:`escape_html`, :func:`escape_markdown`); the published
  table carries its declared structure in a ``data-disclosure`` attribute so an audit can solve
  for every hidden cell from the page alone.
* :func:`scan_report` checks every file of a report folder before it is published and fails
  closed.
"""
from __future__ import annotations

import html as _html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .i18n import Template

#: Column names that may identify a person and must never reach a report.
ID_COLUMNS = ("person_id", "fnr", "fodselsnummer", "id", "data_id")
#: Keys of JSON records that hold a person's id (dropped from anything published).
PERSON_ID_KEYS = ("person_id", "fnr", "fodselsnummer")
DEFAULT_THRESHOLD = 5
DEFAULT_MIN_ANALYSIS_N = 60

#: Columns holding an estimate (withheld when it rests on fewer than ``min_analysis_n`` persons).
ESTIMATE_COLUMNS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "band_low",
                    "band_high", "pvalue_holm", "pvalue_romano_wolf", "pvalue_ri", "t", "z",
                    "effect", "att", "itt", "mean_treated", "mean_control", "mean_diff",
                    "effect (95% CI)", "95 % CI", "true effect (synthetic)")


class DisclosureError(ValueError):
    """A table cannot be published as declared (unknown column, bad structure)."""


# ------------------------------------------------------------------------------------------
# options (the ``disclosure:`` section of a parameter file)
# ------------------------------------------------------------------------------------------
class DisclosureOptions(BaseModel):
    """Output control of one report (``disclosure:`` in params).

    threshold : smallest count published (counts ``1 .. threshold-1`` are suppressed); at least 3.
    rounding_base : amounts that are a count times a price are rounded to a multiple of
        ``rounding_base x price``; default: the threshold.
    min_analysis_n : smallest number of persons behind a published estimate (headline and
        subgroup effects); default 60, as the Justice Data Lab.
    """

    model_config = ConfigDict(extra="forbid")
    threshold: int = Field(default=DEFAULT_THRESHOLD, ge=3)
    rounding_base: Optional[int] = Field(default=None, ge=1)
    min_analysis_n: int = Field(default=DEFAULT_MIN_ANALYSIS_N, ge=1)

    @model_validator(mode="after")
    def _consistent(self):
        if self.rounding_base is not None and self.rounding_base < self.threshold:
            raise ValueError(f"rounding_base ({self.rounding_base}) must be at least the threshold "
                             f"({self.threshold}): a smaller base lets a count below the threshold "
                             "be read off a rounded amount")
        if self.min_analysis_n < self.threshold:
            raise ValueError(f"min_analysis_n ({self.min_analysis_n}) must be at least the "
                             f"threshold ({self.threshold})")
        return self

    @property
    def base(self) -> int:
        return self.rounding_base or self.threshold


def options(threshold: int | None = None, disclosure: Mapping | DisclosureOptions | None = None
            ) -> DisclosureOptions:
    """Options from a notebook's ``disclosure_threshold`` and ``disclosure`` parameters."""
    if isinstance(disclosure, DisclosureOptions):
        return disclosure
    d = dict(disclosure or {})
    if threshold is not None:
        d.setdefault("threshold", int(threshold))
    return DisclosureOptions.model_validate(d)


# ------------------------------------------------------------------------------------------
# declared structure
# ------------------------------------------------------------------------------------------
Ref = Union[int, str]


@dataclass(frozen=True)
class Sum:
    """Declared additive structure: a total cell equals the sum of part cells.

    axis="rows": ``total`` and ``parts`` are rows (positions, or labels in the spec's ``key``
    column); the sum holds in each of ``columns`` (default: every count column).  A sample-flow
    chain (total = excluded steps + kept) is ``Sum(total=0, parts=[1, 2, 3, 4])``.
    axis="columns": ``total`` and ``parts`` are count columns; the sum holds in each row (or in
    ``rows`` only).  ``parts=None`` means every other row / count column.
    """

    total: Ref
    parts: Optional[Sequence[Ref]] = None
    axis: str = "rows"
    columns: Optional[Sequence[str]] = None
    rows: Optional[Sequence[Ref]] = None


@dataclass(frozen=True)
class TableSpec:
    """What a published table holds and how its cells relate (declared, never guessed).

    Parameters
    ----------
    counts : count columns (numbers of persons, or person-months).
    stats : ``{count column: [statistic columns]}`` (or a list, tied to the first count column):
        statistics of the persons counted in that row; hidden when the count is.
    sums : declared additive structure (:class:`Sum`).
    partition : the rows partition a population whose size is published elsewhere (e.g. persons
        by office: the panel's size is in the sample flow), so the count columns' column sums are
        treated as published.
    amounts : ``{amount column: (count column or None, price[, rows])}``: the amount is (at most)
        a count times ``price`` (the largest unit price in it; a column name or a sequence for a
        price per row; a per-person amount has price / persons); rounded to ``rounding_base x price``, in
        ``rows`` only if given (positions or labels of ``key``).
    partition_by : with ``partition``, the rows partition the population within each value of
        this column (e.g. subgroup effects: the levels of each subgroup add up to the sample).
    chains : ``[(kept column, excluded column)]``: a step table where each row's kept count is
        the previous row's minus the persons this row excluded (a matching sample flow).
    derived : ``{new column: (total column, [part columns])}``: a count the table implies by
        subtraction (assigned - observed = lost) is computed, shown and protected as a count.
    cells : raw sums ``[((row, column), [(row, column), ...])]`` for structure the other
        fields cannot say.
    analysis_n : column with the number of persons behind the estimates of each row; estimates
        (``estimates``, default :data:`ESTIMATE_COLUMNS` present) are withheld below
        ``min_analysis_n``.
    group_n : smallest group behind the table's statistics when no count column says it (e.g. a
        balance table of means by arm): below the threshold every non-count cell is hidden.
    key : column whose values name rows in ``sums`` (default: positions).
    """

    counts: Sequence[str] = ()
    stats: Union[Mapping[str, Sequence[str]], Sequence[str]] = field(default_factory=dict)
    sums: Sequence[Sum] = ()
    partition: bool = False
    partition_by: Optional[str] = None
    chains: Sequence[tuple] = ()
    derived: Mapping[str, tuple] = field(default_factory=dict)
    cells: Sequence[tuple] = ()
    amounts: Mapping[str, tuple] = field(default_factory=dict)
    analysis_n: Optional[str] = None
    estimates: Optional[Sequence[str]] = None
    group_n: Optional[int] = None
    key: Optional[str] = None


def infer_spec(df: pd.DataFrame) -> TableSpec:
    """Count columns by name (``n``, ``persons``, ``n_*``, ``*_n``) for tables recorded without a
    declared spec; nothing else is inferred (secondary structure is never guessed)."""
    counts = [c for c in df.columns if is_count_name(str(c))]
    return TableSpec(counts=counts, analysis_n="n" if "n" in counts else None)


def is_count_name(h: str) -> bool:
    h = str(h).strip().lower()
    return (h in ("n", "count", "persons", "person_months", "participants", "units", "achieved",
                  "stock", "inflow", "outflow", "payments", "events")
            or h.startswith("n_") or h.endswith("_n") or h.startswith("n (") or h == "n_persons")


# ------------------------------------------------------------------------------------------
# published table
# ------------------------------------------------------------------------------------------
@dataclass
class Published:
    """A table after the gate: ``frame`` (hidden cells as text), which cells are hidden, the notes
    that must be shown with it and the structure written into the HTML."""

    frame: pd.DataFrame
    hidden: pd.DataFrame
    notes: list[str]
    structure: dict
    options: DisclosureOptions

    def to_html(self, caption: str | None = None, precision: int = 3) -> str:
        return table_html(self, caption=caption, precision=precision)


def drop_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` without person-identifying columns (index included)."""
    out = df.copy()
    names = [n for n in (out.index.names or []) if n]
    if any(str(n).lower() in ID_COLUMNS for n in names):
        out = out.reset_index(drop=True)
    elif names or not isinstance(out.index, pd.RangeIndex):
        out = out.reset_index() if names else out.reset_index(drop=True)
    drop = [c for c in out.columns if str(c).lower() in ID_COLUMNS]
    out = out.drop(columns=drop)
    out.columns = [str(c) for c in out.columns]
    return out


def _rows(ref_list, df, key) -> list[int]:
    out = []
    for r in ref_list:
        if isinstance(r, (int, np.integer)) and not isinstance(r, bool):
            i = int(r) if r >= 0 else len(df) + int(r)
            if not 0 <= i < len(df):
                raise DisclosureError(f"row {r} not in a table of {len(df)} rows")
            out.append(i)
        else:
            if key is None:
                raise DisclosureError(f"row {r!r} named by label but the spec has no key column")
            hit = np.flatnonzero(df[key].astype(str).to_numpy() == str(r))
            if len(hit) != 1:
                raise DisclosureError(f"row label {r!r} found {len(hit)} times in column {key!r}")
            out.append(int(hit[0]))
    return out


def _relations(df: pd.DataFrame, spec: TableSpec, counts: list[str], T: int) -> list[tuple]:
    """Declared sums as ``(total cell or ('value', v), [part cells])``; cells are (row, column)."""
    rels = []
    for s in spec.sums:
        if s.axis == "rows":
            cols = list(s.columns or counts)
            tot = _rows([s.total], df, spec.key)[0]
            parts = (_rows(s.parts, df, spec.key) if s.parts is not None
                     else [i for i in range(len(df)) if i != tot])
            for c in cols:
                if c not in counts:
                    raise DisclosureError(f"sum over column {c!r}, which is not a count column {counts}")
                rels.append(((tot, c), [(i, c) for i in parts]))
        elif s.axis == "columns":
            tot = str(s.total)
            parts = [str(p) for p in s.parts] if s.parts is not None else [c for c in counts if c != tot]
            for c in (tot, *parts):
                if c not in counts:
                    raise DisclosureError(f"column sum names {c!r}, which is not a count column {counts}")
            rows = _rows(s.rows, df, spec.key) if s.rows is not None else range(len(df))
            for i in rows:
                rels.append(((i, tot), [(i, p) for p in parts]))
        else:
            raise DisclosureError(f"Sum axis must be 'rows' or 'columns', got {s.axis!r}")
    if spec.partition:
        blocks = ([np.arange(len(df))] if spec.partition_by is None else
                  [np.flatnonzero(df[spec.partition_by].astype(str).to_numpy() == v)
                   for v in pd.unique(df[spec.partition_by].astype(str))])
        for c in counts:
            vals = pd.to_numeric(df[c], errors="coerce").fillna(0).to_numpy(dtype=float)
            for rows in blocks:
                total = float(vals[rows].sum())
                if total >= T:  # a total below the threshold is itself suppressed wherever shown
                    rels.append((("value", total), [(int(i), c) for i in rows]))
    for kept, excl in spec.chains:
        for c in (kept, excl):
            if c not in counts:
                raise DisclosureError(f"chain names {c!r}, which is not a count column {counts}")
        rels += [((i - 1, kept), [(i, kept), (i, excl)]) for i in range(1, len(df))]
    for tot, parts in spec.cells:
        for i, c in (tot, *parts):
            if c not in counts:
                raise DisclosureError(f"cell sum names column {c!r}, which is not a count column {counts}")
        rels.append(((int(tot[0]), tot[1]), [(int(i), c) for i, c in parts]))
    return rels


def suppress(df: pd.DataFrame, spec: TableSpec | None = None,
             opts: DisclosureOptions | None = None) -> Published:
    """Apply the gate to a table: ids dropped, small counts, their statistics, recoverable cells,
    amounts and estimates of too few persons hidden.  ``df`` is not modified."""
    opts = opts or DisclosureOptions()
    T = opts.threshold
    out = drop_ids(df)
    spec = spec or infer_spec(out)
    counts = [str(c) for c in spec.counts]
    if spec.derived:
        out, spec, counts = _with_derived(out, spec, counts)
    stats = (dict(spec.stats) if isinstance(spec.stats, Mapping)
             else ({counts[0]: list(spec.stats)} if counts else {}))
    named = set(counts) | {c for v in stats.values() for c in v} | set(spec.amounts)
    named |= {c for v in spec.amounts.values()
              for c in (v[0] if isinstance(v[0], (list, tuple)) else [v[0]]) if c}
    if spec.analysis_n:
        named.add(spec.analysis_n)
    missing = sorted(c for c in named if c not in out.columns)
    if missing:
        raise DisclosureError(f"column(s) {missing} not in the table; columns are {list(out.columns)}")
    notes: list[str] = []
    n_rows = len(out)
    vals = {c: pd.to_numeric(out[c], errors="coerce").to_numpy(dtype=float) for c in counts}
    hidden = {c: np.zeros(n_rows, bool) for c in out.columns}
    for c in counts:
        hidden[c] = np.isfinite(vals[c]) & (vals[c] > 0) & (vals[c] < T)
    rels = _relations(out, spec, counts, T)
    amounts = _amount_terms(out, spec, counts, rels, opts)
    if rels or amounts:
        _secondary(vals, hidden, rels, amounts, counts, T)
    n_primary = int(sum((np.isfinite(vals[c]) & (vals[c] > 0) & (vals[c] < T)).sum() for c in counts))
    n_hidden = int(sum(hidden[c].sum() for c in counts))
    label = f"<{T}"
    frame = out.copy()
    for c in counts:
        if hidden[c].any():
            frame[c] = frame[c].astype(object)
            frame.loc[hidden[c], c] = label
    # statistics of hidden or small groups
    for cnt, cols in stats.items():
        small = hidden[cnt] | (np.isfinite(vals[cnt]) & (vals[cnt] < T) & (vals[cnt] > 0))
        for c in cols:
            if c in frame.columns and small.any():
                frame[c] = frame[c].astype(object)
                frame.loc[small, c] = label
                hidden[c] = hidden[c] | small
    if spec.group_n is not None and 0 < spec.group_n < T:
        for c in frame.columns:
            if c not in counts and pd.api.types.is_numeric_dtype(out[c]):
                frame[c] = label
                hidden[c] = np.ones(n_rows, bool)
        notes.append(Template("Statistics not shown: they describe a group of fewer than {T} persons.", T=T))
    # amounts that are count x price: rounded, or hidden with their count
    for am in amounts:
        col = am["column"]
        frame[col] = frame[col].astype(object)
        j = frame.columns.get_loc(col)
        if _amount_hidden(am, hidden):
            frame.iat[am["row"], j] = label
            hidden[col][am["row"]] = True
        else:
            frame.iat[am["row"], j] = am["published"]
    for col in spec.amounts:
        steps = sorted({a["step"] for a in amounts if a["column"] == col})
        if steps:
            notes.append(Template("{col}: rounded to a multiple of {base} × the price ({prices}), so that it "
                                  "does not reveal how many persons were paid for.", col=col, base=opts.base,
                                  prices=", ".join(f"{s:,.0f}".replace(",", "\u202f") for s in steps)))
    # estimates resting on too few persons
    withheld = 0
    if spec.analysis_n:
        n = pd.to_numeric(out[spec.analysis_n], errors="coerce").to_numpy(dtype=float)
        few = np.isfinite(n) & (n < opts.min_analysis_n)
        cols = [c for c in (spec.estimates if spec.estimates is not None else ESTIMATE_COLUMNS)
                if c in frame.columns]
        if few.any() and cols:
            for c in cols:
                frame[c] = frame[c].astype(object)
                frame.loc[few, c] = f"n < {opts.min_analysis_n}"
                hidden[c] = hidden[c] | few
            withheld = int(few.sum())
            notes.append(Template("{k} estimate(s) withheld: fewer than {m} persons (disclosure.min_analysis_n; "
                                  "the Justice Data Lab publishes nothing for fewer than 60).",
                                  k=withheld, m=opts.min_analysis_n))
    if n_primary:
        notes.insert(0, Template("Counts below {T} are shown as {label}; {k} further cell(s) hidden so that "
                                 "they cannot be recovered from the totals.", T=T, label=label,
                                 k=n_hidden - n_primary) if n_hidden > n_primary else
                     Template("Counts below {T} are shown as {label}.", T=T, label=label))
    hidden_df = pd.DataFrame({c: hidden[c] for c in frame.columns}, index=frame.index)
    structure = {"threshold": T, "counts": counts, "relations": rels, "amounts": amounts,
                 "base": opts.base}
    return Published(frame, hidden_df, notes, structure, opts)


def _with_derived(out, spec, counts):
    """Add the counts a table implies by subtraction as shown, protected count columns."""
    from dataclasses import replace
    sums = list(spec.sums)
    for new, (tot, parts) in spec.derived.items():
        for c in (tot, *parts):
            if c not in out.columns:
                raise DisclosureError(f"derived count {new!r} needs column {c!r}; columns are {list(out.columns)}")
        v = pd.to_numeric(out[tot], errors="coerce")
        for c in parts:
            v = v - pd.to_numeric(out[c], errors="coerce")
        out.insert(list(out.columns).index(parts[-1]) + 1, new, v.astype("Int64"))
        counts = [*counts, new] if new not in counts else counts
        sums.append(Sum(tot, [*parts, new], axis="columns"))
    return out, replace(spec, sums=tuple(sums), counts=tuple(counts), derived={}), counts


def round_amount(value: float, step: float) -> float:
    """``value`` rounded to the nearest multiple of ``step`` (half away from zero)."""
    if not np.isfinite(value) or step <= 0:
        return value
    return float(math.copysign(math.floor(abs(value) / step + 0.5) * step, value))


def _amount_terms(df, spec, counts, rels, opts) -> list[dict]:
    """Amount cells as linear terms in count cells: ``amount = sum(price x count)``.

    In a row whose count is the total of a declared row sum, the amount is the sum over the
    parts' counts times their prices (the 84 000 = 8 x 6 000 + 3 x 12 000 case).  Published
    amounts are rounded to ``rounding_base x`` the largest price in them.
    """
    out = []
    for col, tie in spec.amounts.items():
        cnt, price = tie[:2]
        only = set(_rows(tie[2], df, spec.key)) if len(tie) > 2 else None
        a = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if only is not None:  # the amount is in these rows only (e.g. the payable row of means)
            a = np.where(np.isin(np.arange(len(df)), sorted(only)), a, np.nan)
        if isinstance(cnt, (list, tuple)):  # amount = sum of count columns x their prices, per row
            pairs = list(zip(cnt, price))
            for c, _ in pairs:
                if c not in counts:
                    raise DisclosureError(f"amount {col!r} is tied to {c!r}, not a count column {counts}")
            pmax = max(float(q) for _, q in pairs)
            for i in range(len(df)):
                if np.isfinite(a[i]):
                    step = opts.base * pmax
                    out.append({"row": i, "column": col, "terms": [((i, c), float(q)) for c, q in pairs],
                                "step": step, "own": None, "published": round_amount(a[i], step)})
            continue
        if isinstance(price, str):
            if price not in df.columns:
                raise DisclosureError(f"price column {price!r} of amount {col!r} not in the table")
            p = pd.to_numeric(df[price], errors="coerce").to_numpy(dtype=float)
        elif np.ndim(price) == 1:             # a price per row, not published
            p = np.asarray(price, dtype=float)
            if len(p) != len(df):
                raise DisclosureError(f"amount {col!r}: {len(p)} prices for {len(df)} rows")
        else:
            p = np.full(len(df), float(price))
        if cnt is not None and cnt not in counts:
            raise DisclosureError(f"amount {col!r} is tied to {cnt!r}, not a count column {counts}")
        totals = {t: parts for t, parts in rels if t[0] != "value" and t[1] == cnt}
        for i in range(len(df)):
            if not np.isfinite(a[i]):
                continue
            if cnt is None:
                terms = []
                pmax = p[i]
            elif (i, cnt) in totals:
                terms = [(x, p[x[0]]) for x in totals[(i, cnt)] if np.isfinite(p[x[0]])]
                pmax = max([q for _, q in terms] + [p[i] if np.isfinite(p[i]) else 0])
            else:
                terms = [((i, cnt), p[i])]
                pmax = p[i]
            if not np.isfinite(pmax) or pmax <= 0:
                pmax = float(np.nanmax(np.abs(p))) if np.isfinite(p).any() else 1.0
            step = opts.base * float(pmax)
            out.append({"row": i, "column": col, "terms": terms, "step": step,
                        "own": None if cnt is None or (i, cnt) in totals else (i, cnt),
                        "published": round_amount(a[i], step)})
    return out


def _amount_hidden(am, hidden) -> bool:
    own = am["own"]
    return own is not None and bool(hidden[own[1]][own[0]])


# ------------------------------------------------------------------------------------------
# secondary suppression: hide complementary cells until the LP audit finds nothing
# ------------------------------------------------------------------------------------------
def _secondary(vals, hidden, rels, amounts, counts, T, max_rounds: int = 500) -> None:
    rels = [(t, p) for t, p in rels
            if all(np.isfinite(vals[c][i]) for i, c in p)
            and (t[0] == "value" or np.isfinite(vals[t[1]][t[0]]))]

    def cells_of(rel):
        t, p = rel
        return ([] if t[0] == "value" else [t]) + list(p)

    def hide_partner(rel, cell):
        cands = [x for x in cells_of(rel) if x != cell and not hidden[x[1]][x[0]]]
        if not cands:
            return False
        nonzero = [x for x in cands if vals[x[1]][x[0]] > 0]
        pool = nonzero or cands
        x = min(pool, key=lambda x: (vals[x[1]][x[0]], str(x)))
        hidden[x[1]][x[0]] = True
        return True

    for _ in range(max_rounds):
        changed = False
        for rel in rels:  # a sum with exactly one hidden cell gives it away
            hid = [x for x in cells_of(rel) if hidden[x[1]][x[0]]]
            if len(hid) == 1:
                changed |= hide_partner(rel, hid[0])
        if changed:
            continue
        bad = audit(vals, hidden, rels, counts, T, _inequalities(amounts, hidden))
        if not bad:
            return
        for cell in bad:
            for rel in rels:
                if cell in cells_of(rel) and hide_partner(rel, cell):
                    changed = True
                    break
            if changed:
                break
        if not changed:  # rounded amounts pin it: hide those amounts
            for am in amounts:
                if any(x == cell for cell in bad for x, _ in am["terms"]) and am["own"] is None:
                    hidden[am["column"]][am["row"]] = True
                    changed = True
        if not changed:  # nothing left to hide in the cells' sums: hide the sums themselves
            for rel in rels:
                for i, c in cells_of(rel):
                    hidden[c][i] = True
            return


def _inequalities(amounts, hidden) -> list[tuple]:
    """Published rounded amounts as bounds on sums of count cells: (terms, low, high)."""
    out = []
    for am in amounts:
        if am["terms"] and not hidden[am["column"]][am["row"]] and not _amount_hidden(am, hidden):
            h = am["step"] / 2
            out.append((am["terms"], am["published"] - h, am["published"] + h))
    return out


def _narrow(lb: float, ub: float, T: int) -> bool:
    """A hidden cell known to lie in ``[lb, ub]`` is recovered when the interval is narrower than
    ``T`` -- unless it still holds every value ``1 .. T-1``: then it says no more than the
    ``"<T"`` printed in the cell (e.g. hidden cells whose known sum is itself below ``T``)."""
    eps = 1e-9
    return ub - lb < T - eps and not (lb <= 1 + eps and ub >= T - 1 - eps)


def audit(vals, hidden, rels, counts, T, inequalities=()) -> list[tuple]:
    """Hidden cells whose value the published cells, declared sums and rounded amounts pin to an
    interval narrower than ``T`` (min and max of each hidden cell by linear programming, cells
    non-negative)."""
    from scipy.optimize import linprog

    var = [(int(i), c) for c in counts for i in np.flatnonzero(hidden[c])]
    if not var:
        return []
    pos = {x: k for k, x in enumerate(var)}

    def linear(terms):
        row, const = np.zeros(len(var)), 0.0
        for x, coef in terms:
            if x in pos:
                row[pos[x]] += coef
            else:
                v = vals[x[1]][x[0]]
                if not np.isfinite(v):
                    return None, None
                const += coef * v
        return row, const

    A, b = [], []
    for t, parts in rels:
        terms = [(x, 1.0) for x in parts] + ([] if t[0] == "value" else [(t, -1.0)])
        row, const = linear(terms)
        if row is None or not row.any():
            continue
        A.append(row)
        b.append((t[1] if t[0] == "value" else 0.0) - const)
    Au, bu = [], []
    for terms, lo, hi in inequalities:
        row, const = linear(terms)
        if row is None or not row.any():
            continue
        Au += [row, -row]
        bu += [hi - const, -(lo - const)]
    if not A and not Au:
        return []
    kw = {"A_eq": np.array(A), "b_eq": np.array(b)} if A else {}
    if Au:
        kw.update(A_ub=np.array(Au), b_ub=np.array(bu))
    bad = []
    for k, x in enumerate(var):
        obj = np.zeros(len(var))
        obj[k] = 1
        lo = linprog(obj, bounds=(0, None), method="highs", **kw)
        hi = linprog(-obj, bounds=(0, None), method="highs", **kw)
        if lo.status == 0 and hi.status == 0 and _narrow(lo.fun, -hi.fun, T):
            bad.append(x)
    return bad


# ------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------
def escape_html(text: Any) -> str:
    """Text from data, safe inside HTML (elements and attributes)."""
    return _html.escape(str(text), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|>~])")


def escape_markdown(text: Any) -> str:
    """Text from data, shown literally in a Markdown cell (HTML escaped, Markdown punctuation
    backslash-escaped, so neither an element nor a link can be formed)."""
    return _MD_SPECIAL.sub(r"\\\1", _html.escape(str(text), quote=True))


def format_cell(v: Any, precision: int = 3) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}".replace(",", "\u202f")
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        if float(v).is_integer() and abs(v) >= 1e3:
            return f"{v:,.0f}".replace(",", "\u202f")
        return f"{v:,.{precision}f}".replace(",", "\u202f")
    return str(v)


def table_html(pub: Published, caption: str | None = None, precision: int = 3,
               formatter=None) -> str:
    """The published table as HTML: every string escaped, the declared structure (cells by their
    position in the body) in ``data-disclosure`` so an audit can solve for hidden cells.
    ``formatter(column, value) -> str`` presents a cell (default :func:`format_cell`); the
    presentation layer is :func:`evaluation.report.cell_formatter`."""
    frame = pub.frame
    fmt = formatter or (lambda _c, v: format_cell(v, precision))
    cols = list(frame.columns)
    cidx = {c: j for j, c in enumerate(cols)}
    st = pub.structure

    def cell(x):
        return [int(x[0]), cidx[x[1]]]

    meta = {
        "threshold": st["threshold"],
        "counts": [cidx[c] for c in st["counts"]],
        "relations": [{"total": ({"value": t[1]} if t[0] == "value" else cell(t)),
                       "parts": [cell(p) for p in parts]} for t, parts in st["relations"]],
        "amounts": [{"cell": [int(a["row"]), cidx[a["column"]]], "step": a["step"],
                     "terms": [[*cell(x), float(coef)] for x, coef in a["terms"]]}
                    for a in st["amounts"] if a["terms"]],
    }
    head = "".join(f"<th>{escape_html(c)}</th>" for c in cols)
    body = []
    for r in range(len(frame)):
        tds = "".join(f"<td>{escape_html(fmt(cols[j], frame.iat[r, j]))}</td>"
                      for j in range(len(cols)))
        body.append(f"<tr>{tds}</tr>")
    cap = f"<caption>{escape_html(caption)}</caption>" if caption else ""
    notes = "".join(f'<p class="disclosure-note"><small>{escape_html(n)}</small></p>'
                    for n in pub.notes)
    attr = escape_html(json.dumps(meta, separators=(",", ":")))
    return (f'<table class="dataframe disclosure" data-disclosure="{attr}">{cap}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{notes}")


# ------------------------------------------------------------------------------------------
# free text, values and JSON
# ------------------------------------------------------------------------------------------
PERSON_WORDS = (r"persons?|people|participants?|recipients?|individuals?|units?|observations?|"
                r"person-months?|person months?|cases?|members?|offenders?|job[- ]seekers?|"
                r"treated|controls?|comparisons?|users?|clients?|children|youths?|women|men|"
                r"pairs?|households?|personer|deltakere|deltaker|mottakere|mottaker|personmåneder|"
                r"saker|klienter|brukere|ungdommer|kvinner|menn|barn|par|husholdninger|"
                r"sammenligningspersoner|behandlede|enheter")
_COUNT_IN_TEXT = re.compile(
    r"(?<![\w.,\u202f])(\d{1,3}(?:[\u202f ,]\d{3})*|\d+)(?![\w.,]\d)"
    r"([ \t]+(?:[a-z-]+[ \t]+)?(?:" + PERSON_WORDS + r")\b)", re.IGNORECASE)
_N_EQUALS = re.compile(r"(\bn\s*=\s*)(\d+)(?![\d.])", re.IGNORECASE)


def gate_text(text: Any, threshold: int = DEFAULT_THRESHOLD) -> str:
    """Free text (notes, warnings) with small person counts replaced: "3 persons dropped" →
    "<5 persons dropped", "n = 2" → "n = <5"."""
    s = str(text)

    def small(num: str) -> bool:
        try:
            v = int(re.sub(r"[\u202f ,]", "", num))
        except ValueError:
            return False
        return 0 < v < threshold

    s = _COUNT_IN_TEXT.sub(lambda m: (f"<{threshold}" if small(m.group(1)) else m.group(1))
                           + m.group(2), s)
    s = _N_EQUALS.sub(lambda m: m.group(1) + (f"<{threshold}" if small(m.group(2)) else m.group(2)), s)
    return s


def small_counts_in_text(text: str, threshold: int) -> list[str]:
    """Person counts ``1 .. threshold-1`` written in free text (what :func:`gate_text` removes)."""
    hits = []
    for m in _COUNT_IN_TEXT.finditer(text):
        try:
            v = int(re.sub(r"[\u202f ,]", "", m.group(1)))
        except ValueError:
            continue
        if 0 < v < threshold:
            hits.append(m.group(0).strip())
    for m in _N_EQUALS.finditer(text):
        if 0 < int(m.group(2)) < threshold:
            hits.append(m.group(0).strip())
    return hits


def gate_count(n: Any, opts: DisclosureOptions | None = None) -> Any:
    """A single published count: ``"<T"`` when ``1 .. T-1``, else unchanged."""
    opts = opts or DisclosureOptions()
    try:
        v = float(n)
    except (TypeError, ValueError):
        return n
    return f"<{opts.threshold}" if np.isfinite(v) and 0 < v < opts.threshold else n


AMOUNT_KEYS = ("payment", "amount", "paid", "paid_total", "total_outcome_payments_made")


def gate_value(obj: Any, opts: DisclosureOptions | None = None, *,
               amounts: Mapping[str, float] | None = None, _path: str = "") -> Any:
    """A JSON-ready value after the gate: count-named keys ``1 .. T-1`` become ``"<T"``; a dict
    with an ``estimate`` and an ``n`` below ``min_analysis_n`` has its estimates withheld (with
    the reason); keys named in ``amounts`` (``{key: price}``) are rounded to
    ``rounding_base x price``; strings pass :func:`gate_text`; person-id keys are dropped."""
    opts = opts or DisclosureOptions()
    amounts = dict(amounts or {})
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            ks = str(k)
            if ks.lower() in PERSON_ID_KEYS:
                continue
            if ks in amounts and isinstance(v, (int, float)) and not isinstance(v, bool):
                out[ks] = round_amount(float(v), opts.base * float(amounts[ks]))
            elif is_count_name(ks) and not isinstance(v, (dict, list, bool)):
                out[ks] = gate_count(v, opts)
            else:
                out[ks] = gate_value(v, opts, amounts=amounts, _path=f"{_path}.{ks}")
        n = out.get("n")
        if ("estimate" in out and isinstance(n, (int, float)) and not isinstance(n, bool)
                and n < opts.min_analysis_n):
            for c in ESTIMATE_COLUMNS:
                if c in out:
                    out[c] = None
            out["withheld"] = (f"fewer than {opts.min_analysis_n} persons "
                               "(disclosure.min_analysis_n)")
        return out
    if isinstance(obj, list):
        return [gate_value(v, opts, amounts=amounts, _path=_path) for v in obj]
    if isinstance(obj, str):
        return gate_text(obj, opts.threshold)
    return obj


# ------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------
def mask_points(df: pd.DataFrame, n: str = "n", threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Rows of a figure's data resting on at least ``threshold`` persons (column ``n``); the
    number left out is in ``.attrs['suppressed_points']`` for the caption."""
    if n not in df.columns:
        raise DisclosureError(f"figure data has no count column {n!r}; columns are {list(df.columns)}")
    v = pd.to_numeric(df[n], errors="coerce")
    keep = ~(v < threshold)
    out = df.loc[keep].copy()
    out.attrs["suppressed_points"] = int((~keep).sum())
    return out


def masked_histogram(values, bins=40, *, threshold: int = DEFAULT_THRESHOLD, weights=None,
                     range=None, density: bool = True):
    """Histogram heights with every bin of fewer than ``threshold`` persons left out (NaN).

    Returns ``(edges, heights, n_hidden)``; ``weights`` (matching/weighting weights) scale the
    heights, but bins are judged on the number of persons in them.
    """
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    x = x[ok]
    w = None if weights is None else np.asarray(weights, dtype=float)[ok]
    edges = np.histogram_bin_edges(x, bins=bins, range=range)
    counts, _ = np.histogram(x, bins=edges)
    mass, _ = np.histogram(x, bins=edges, weights=w)
    heights = mass.astype(float)
    if density and mass.sum() > 0:
        heights = heights / (mass.sum() * np.diff(edges))
    small = (counts > 0) & (counts < threshold)
    heights[small] = np.nan
    return edges, heights, int(small.sum())


def note_hidden(ax, n_hidden: int, threshold: int, what: str = "point(s)") -> None:
    """Say on the figure how many points/bins were left out."""
    if n_hidden:
        ax.text(0.01, 0.01, f"{n_hidden} {what} with fewer than {threshold} persons not shown",
                transform=ax.transAxes, fontsize=7, color="grey")


# ------------------------------------------------------------------------------------------
# scan of a report folder (fails closed)
# ------------------------------------------------------------------------------------------
class ScanError(RuntimeError):
    """The scan could not check the report (it is never reported clean then)."""


def html_tables(text: str) -> list[dict]:
    """Every ``<table>`` in an HTML page: header, body rows (cell text) and the declared
    ``data-disclosure`` structure if the gate wrote one."""
    from html.parser import HTMLParser

    class _P(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.tables, self.stack = [], []
            self.row, self.cell, self.in_cell, self.in_head = None, [], False, False

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                meta = dict(attrs).get("data-disclosure")
                self.stack.append({"head": [], "rows": [], "meta": json.loads(meta) if meta else None,
                                   "thead_rows": []})
            elif not self.stack:
                return
            elif tag == "thead":
                self.in_head = True
            elif tag == "tr":
                self.row = []
            elif tag in ("td", "th") and self.row is not None:
                self.in_cell, self.cell = True, []

        def handle_endtag(self, tag):
            if not self.stack:
                return
            t = self.stack[-1]
            if tag in ("td", "th") and self.in_cell:
                self.row.append("".join(self.cell).strip())
                self.in_cell = False
            elif tag == "thead":
                self.in_head = False
            elif tag == "tr" and self.row is not None:
                (t["thead_rows"] if self.in_head else t["rows"]).append(self.row)
                self.row = None
            elif tag == "table":
                t = self.stack.pop()
                if t["thead_rows"]:
                    t["head"] = t["thead_rows"][-1]
                elif t["rows"]:
                    t["head"], t["rows"] = t["rows"][0], t["rows"][1:]
                self.tables.append(t)

        def handle_data(self, data):
            if self.in_cell:
                self.cell.append(data)

    p = _P()
    p.feed(text)
    return p.tables


def parse_number(s: str) -> Optional[float]:
    try:
        return float(str(s).replace("\u202f", "").replace(",", "").replace("\xa0", "").strip())
    except ValueError:
        return None


def _check_table(t: dict, threshold: int, where: str) -> list[str]:
    found = []
    meta = t["meta"]
    head, rows = t["head"], t["rows"]
    if meta is not None:
        T = max(threshold, int(meta.get("threshold", threshold)))
        for j in meta["counts"]:
            for r, row in enumerate(rows):
                v = parse_number(row[j]) if j < len(row) else None
                if v is not None and v.is_integer() and 0 < v < T:
                    found.append(f"{where}, column {head[j]!r}: count {row[j]} below {T}")
        for bad in recoverable(t):
            r, j = bad
            found.append(f"{where}, row {r + 1}, column {head[j]!r}: hidden cell recoverable from "
                         "the published totals")
        return found
    cols = [j for j, h in enumerate(head) if is_count_name(h)]
    for row in rows:
        offset = len(row) - len(head) if len(row) > len(head) else 0
        for j in cols:
            k = j + offset
            v = parse_number(row[k]) if k < len(row) else None
            if v is not None and v.is_integer() and 0 < v < threshold:
                found.append(f"{where}, column {head[j]!r}: count {row[k]} below {threshold}")
    return found


def recoverable(t: dict) -> list[tuple[int, int]]:
    """Hidden cells of a published table (``html_tables`` entry with structure) whose interval
    from the published cells and declared sums is narrower than the threshold."""
    meta, rows = t["meta"], t["rows"]
    T = int(meta["threshold"])
    count_cols = list(meta["counts"])
    vals, hidden = {}, {}
    for j in count_cols:
        col = [parse_number(r[j]) if j < len(r) else None for r in rows]
        hidden[j] = np.array([(c is None and j < len(r) and r[j].startswith("<"))
                              for c, r in zip(col, rows)], dtype=bool)
        vals[j] = np.array([np.nan if c is None else c for c in col], dtype=float)
        vals[j][hidden[j]] = 0.0
    rels = []
    for rel in meta["relations"]:
        t_ = rel["total"]
        tot = ("value", float(t_["value"])) if isinstance(t_, dict) else (t_[0], t_[1])
        rels.append((tot, [(p[0], p[1]) for p in rel["parts"]]))
    ineq = []
    for am in meta.get("amounts", []):
        r, j = am["cell"]
        a = parse_number(rows[r][j]) if r < len(rows) and j < len(rows[r]) else None
        if a is not None:
            h = am["step"] / 2
            ineq.append(([((x[0], x[1]), x[2]) for x in am["terms"]], a - h, a + h))
    return audit(vals, hidden, rels, count_cols, T, ineq)


_ID_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")


def _png_text(data: bytes) -> str:
    """Text chunks (tEXt, iTXt, zTXt keys and values) of a PNG file."""
    import struct
    import zlib
    out, pos = [], 8
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"tEXt":
            out.append(chunk.decode("latin-1", "replace"))
        elif kind == b"zTXt":
            k, _, rest = chunk.partition(b"\0")
            try:
                out.append(k.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1"))
            except zlib.error:
                out.append(k.decode("latin-1", "replace"))
        elif kind == b"iTXt":
            out.append(chunk.decode("utf-8", "replace"))
        pos += 12 + n
    return "\n".join(out)


def _json_findings(obj, threshold, min_n, where) -> list[str]:
    found = []

    def walk(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                if str(k).lower() in PERSON_ID_KEYS:
                    found.append(f"{where}: {path}.{k}: a person-id field")
                if is_count_name(str(k)) and isinstance(v, (int, float)) and not isinstance(v, bool) \
                        and float(v).is_integer() and 0 < v < threshold:
                    found.append(f"{where}: {path}.{k} = {v} below {threshold}")
                walk(v, f"{path}.{k}")
            n = o.get("n")
            if (min_n and o.get("estimate") is not None and isinstance(n, (int, float))
                    and not isinstance(n, bool) and n < min_n):
                found.append(f"{where}: {path}: estimate of n = {n} persons (< {min_n})")
        elif isinstance(o, list):
            for j, v in enumerate(o):
                walk(v, f"{path}[{j}]")
        elif isinstance(o, str):
            for h in small_counts_in_text(o, threshold):
                found.append(f"{where}: {path}: small count in text {h!r}")
    walk(obj, "")
    return found


def _html_findings(text: str, threshold: int, where: str) -> list[str]:
    found = []
    for i, t in enumerate(html_tables(text)):
        found += _check_table(t, threshold, f"{where}: table {i + 1}")
    prose = re.sub(r"(?is)<table.*?</table>|<script.*?</script>|<style.*?</style>", " ",
                   _DATA_URI.sub(" ", text))
    plain = re.sub(r"<[^>]+>", " ", prose)
    for h in small_counts_in_text(_html.unescape(plain), threshold):
        found.append(f"{where}: small count in text {h!r}")
    return found


def _ipynb_findings(nb: dict, threshold: int, min_n, where: str) -> list[str]:
    found = []
    for ci, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            w = f"{where} cell {ci}"
            if out.get("output_type") == "stream":
                txt = "".join(out.get("text", ""))
                found += [f"{w}: small count in text {h!r}" for h in small_counts_in_text(txt, threshold)]
            data = out.get("data", {})
            if "text/html" in data:
                found += _html_findings("".join(data["text/html"]), threshold, w)
            elif "text/plain" in data:
                txt = "".join(data["text/plain"])
                found += [f"{w}: small count in text {h!r}" for h in small_counts_in_text(txt, threshold)]
    return found


def scan_report(folder: str | Path, *, threshold: int = DEFAULT_THRESHOLD,
                person_ids: Iterable[Any] = (), min_analysis_n: int | None = None) -> list[str]:
    """Check every file of a report folder before it is published; findings (empty = clean).

    * any file: person ids (whole tokens; embedded images left out of the text search);
    * ``*.html`` and the HTML outputs of ``*.ipynb``: count cells ``1 .. threshold-1`` (tables
      written by the gate are checked by their declared count columns, and every hidden cell is
      solved for from the published cells and declared sums), small counts in free text;
    * ``*.json``: count-named keys, person-id keys, small counts in strings, estimates of fewer
      than ``min_analysis_n`` persons;
    * ``*.png``: text chunks (metadata).

    Raises :class:`ScanError` when the folder cannot be read: a scan that could not look is
    never "clean".
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ScanError(f"report folder {folder} does not exist")
    ids = {str(x) for x in person_ids}
    found: list[str] = []
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for f in files:
        rel = str(f.relative_to(folder))
        try:
            raw = f.read_bytes()
        except OSError as exc:
            raise ScanError(f"{f}: cannot read ({exc})") from exc
        if f.suffix.lower() == ".png":
            text = _png_text(raw)
        else:
            text = raw.decode("utf-8", errors="replace")
        if ids:
            hits = ids.intersection(_ID_TOKEN.findall(_DATA_URI.sub(" ", text)))
            if hits:
                # which ids is never printed: findings go to terminals and CI logs
                found.append(f"{rel}: {len(hits)} person id(s) found")
        suffix = f.suffix.lower()
        if suffix in (".html", ".htm"):
            found += _html_findings(text, threshold, rel)
        elif suffix in (".json", ".ipynb"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ScanError(f"{f}: not valid JSON ({exc}); cannot check it") from exc
            if suffix == ".ipynb":
                found += _ipynb_findings(obj, threshold, min_analysis_n, rel)
            else:
                found += _json_findings(obj, threshold, min_analysis_n, rel)
        elif suffix in (".txt", ".md", ".csv"):
            found += [f"{rel}: small count in text {h!r}" for h in small_counts_in_text(text, threshold)]
    return found
