"""Tables, figures and statistical disclosure control for published reports.

Everything a notebook publishes goes through this module:

* :func:`suppress_counts` applies primary suppression (counts in ``1 .. threshold-1`` are hidden)
  and secondary suppression (where a row or column total would let a reader recover a hidden
  cell, the next smallest cell in that row/column is hidden too).
* :func:`show_table` displays a DataFrame with suppression applied and person ids removed.
* :class:`Recorder` collects the headline numbers of a notebook into ``results.json``
  (written atomically).
* :func:`atomic_write_text` / :func:`atomic_write_bytes` write outputs so that a reader never
  sees a half-written file.

The disclosure threshold defaults to 5 (counts 1-4 suppressed), as is common in Nordic register
statistics; zero counts are shown because they reveal no person.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

#: Column names that may identify a person and must never reach a report.
ID_COLUMNS = ("person_id", "fnr", "fodselsnummer", "id", "data_id")
SUPPRESSED = "<5"  # replaced with f"<{threshold}" at run time
DEFAULT_THRESHOLD = 5


# ------------------------------------------------------------------------------------------
# atomic output
# ------------------------------------------------------------------------------------------
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; published files are world-readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert results, numpy scalars, DataFrames and NaN into JSON-compatible values."""
    if hasattr(obj, "to_dict") and not isinstance(obj, (pd.DataFrame, pd.Series, dict)):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, pd.DataFrame):
        return to_jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp, pd.Period)):
        return str(obj)
    return obj


# ------------------------------------------------------------------------------------------
# disclosure control
# ------------------------------------------------------------------------------------------
def _is_small(values: np.ndarray, threshold: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.isfinite(v) & (v > 0) & (v < threshold)


def suppression_mask(counts: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD,
                     secondary: bool = True) -> pd.DataFrame:
    """Cells to hide in a table of counts.

    Primary suppression hides every count ``0 < c < threshold``.  Secondary suppression: in any
    row or column (of the count columns) with exactly one hidden cell, the smallest other
    non-zero cell is hidden too, so that a published margin total cannot reveal the hidden
    count by subtraction.  Repeated until no row or column has a single hidden cell.

    Parameters
    ----------
    counts : DataFrame
        Only count columns.
    threshold : int
        Smallest count that may be published.
    secondary : bool
        Apply secondary suppression across rows and columns (when there is more than one).
    """
    vals = counts.to_numpy(dtype=float)
    mask = _is_small(vals, threshold)
    if secondary and mask.any():
        changed = True
        while changed:
            changed = False
            for axis in (1, 0):
                if vals.shape[axis] < 2:
                    continue
                n_hidden = mask.sum(axis=axis)
                lines = np.flatnonzero(n_hidden == 1)
                for i in lines:
                    line_vals = vals[i, :] if axis == 1 else vals[:, i]
                    line_mask = mask[i, :] if axis == 1 else mask[:, i]
                    cand = np.where(~line_mask & np.isfinite(line_vals) & (line_vals > 0),
                                    line_vals, np.inf)
                    if np.isfinite(cand).any():
                        j = int(np.argmin(cand))
                        if axis == 1:
                            mask[i, j] = True
                        else:
                            mask[j, i] = True
                        changed = True
    return pd.DataFrame(mask, index=counts.index, columns=counts.columns)


def _has_totals(df: pd.DataFrame) -> bool:
    labels = [str(x).lower() for x in df.columns]
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            labels += [str(x).lower() for x in df[c].unique()[:200]]
    labels += [str(x).lower() for x in df.index[:200]]
    return any(lab in ("total", "all", "totalt", "sum") or lab.startswith("total") for lab in labels)


def suppress_counts(df: pd.DataFrame, count_columns: Sequence[str] | None = None, *,
                    threshold: int = DEFAULT_THRESHOLD, secondary: bool | None = None,
                    dependent_columns: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Return a copy of ``df`` with small counts replaced by ``"<threshold"``.

    Parameters
    ----------
    df : DataFrame
        Table to publish.  Not modified.
    count_columns : sequence of str, optional
        Columns holding person counts.  Defaults to columns named ``n``, ``count`` or starting
        with ``n_`` / ending in ``_n``.
    threshold : int
        Counts ``1 .. threshold-1`` are suppressed.
    secondary : bool, optional
        Apply secondary suppression across the count columns and rows.  By default it is applied
        when the table publishes a total (a row or column labelled ``total``/``all``/``sum``),
        since only a published margin lets a reader recover a hidden cell by subtraction.
    dependent_columns : dict, optional
        ``{count_column: [columns]}``: statistics computed from the suppressed cell's persons
        (e.g. a mean or a share), hidden together with their count.
    """
    if threshold < 1:
        raise ValueError(f"disclosure threshold must be >= 1, got {threshold}")
    out = drop_ids(df)
    if count_columns is None:
        count_columns = [c for c in out.columns
                         if c in ("n", "count", "persons") or str(c).startswith("n_")
                         or str(c).endswith("_n")]
    missing = [c for c in count_columns if c not in out.columns]
    if missing:
        raise KeyError(f"count column(s) {missing} not in table; columns are {list(out.columns)}")
    if not count_columns:
        return out
    if secondary is None:
        secondary = _has_totals(out)
    mask = suppression_mask(out[list(count_columns)].apply(pd.to_numeric, errors="coerce"),
                            threshold, secondary)
    label = f"<{threshold}"
    for c in count_columns:
        m = mask[c].to_numpy()
        if m.any():
            out[c] = out[c].astype(object)
            out.loc[m, c] = label
            for dep in (dependent_columns or {}).get(c, ()):
                out[dep] = out[dep].astype(object)
                out.loc[m, dep] = label
    return out


def drop_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` without person-identifying columns (index included)."""
    out = df.copy()
    if out.index.name in ID_COLUMNS or any(n in ID_COLUMNS for n in (out.index.names or []) if n):
        out = out.reset_index(drop=True)
    drop = [c for c in out.columns if str(c).lower() in ID_COLUMNS]
    return out.drop(columns=drop)


#: Units shown in published column headers (money in Norwegian kroner).
UNITS = {"earnings": "NOK", "sa_amount": "NOK", "earnings_12": "NOK", "sa_amount_12": "NOK",
         "amount": "NOK", "payment": "NOK", "price": "NOK", "paid": "NOK", "cost": "NOK"}


def publish_frame(df: pd.DataFrame, *, units: dict[str, str] | None = None,
                  combine_ci: bool = True, digits: int = 3) -> pd.DataFrame:
    """Presentation copy of a table: interval columns joined, units in headers.

    ``ci_low``/``ci_high`` (and ``band_low``/``band_high``) become one column
    ``"95 % CI"`` reading ``"lo to hi"``; columns named in ``units`` (default :data:`UNITS`)
    get the unit in their header, e.g. ``earnings (NOK)``.
    """
    out = df.copy()
    if combine_ci:
        for lo, hi, name in (("ci_low", "ci_high", "95 % CI"), ("band_low", "band_high", "95 % band")):
            if lo in out.columns and hi in out.columns:
                a = pd.to_numeric(out[lo], errors="coerce")
                b = pd.to_numeric(out[hi], errors="coerce")
                txt = [("–" if (pd.isna(x) or pd.isna(y)) else f"{x:.{digits}g} to {y:.{digits}g}")
                       for x, y in zip(a, b)]
                pos = list(out.columns).index(lo)
                out = out.drop(columns=[lo, hi])
                out.insert(pos, name, txt)
    u = {**UNITS, **(units or {})}
    return out.rename(columns={c: f"{c} ({u[c]})" for c in out.columns if c in u})


def show_table(df: pd.DataFrame, count_columns: Sequence[str] | None = None, *,
               threshold: int = DEFAULT_THRESHOLD, caption: str | None = None,
               secondary: bool | None = None,
               dependent_columns: dict[str, Sequence[str]] | None = None,
               precision: int = 3, units: dict[str, str] | None = None,
               display: bool = True):
    """Display a table in a notebook after disclosure control.

    Small counts are suppressed (:func:`suppress_counts`), person-id columns removed, interval
    columns joined and units added to headers (:func:`publish_frame`), floats rounded to
    ``precision`` decimals.  Returns the published DataFrame (before presentation changes).
    """
    pub = suppress_counts(df, count_columns, threshold=threshold, secondary=secondary,
                          dependent_columns=dependent_columns)
    if display:
        try:
            from IPython.display import display as _display
            shown = publish_frame(pub, units=units)
            sty = shown.style.format(precision=precision, na_rep="–", thousands="\u202f")
            try:
                sty = sty.hide(axis="index")
            except Exception:  # pragma: no cover - old pandas
                pass
            if caption:
                sty = sty.set_caption(caption)
            _display(sty)
        except ImportError:  # pragma: no cover
            print(pub.to_string(index=False))
    return pub


def format_ci(estimate: float, lo: float, hi: float, digits: int = 3, unit: str = "") -> str:
    """``"0.123 (0.050 to 0.196)"`` with an optional unit, as the Data Lab reports print ranges."""
    u = f" {unit}" if unit else ""
    return f"{estimate:.{digits}f}{u} ({lo:.{digits}f} to {hi:.{digits}f})"


# ------------------------------------------------------------------------------------------
# results.json
# ------------------------------------------------------------------------------------------
class Recorder:
    """Collect the headline numbers of one notebook into ``<output_dir>/results.json``.

    Several notebooks of one report share the file: each writes its own section
    ``{"notebooks": {notebook: {key: value}}}``; :meth:`save` merges and writes atomically.
    Values may be result objects (anything with ``to_dict()``), DataFrames, dicts or scalars.
    Counts in recorded tables are suppressed with the same threshold as the report.

    Examples
    --------
    >>> rec = Recorder("reports/refino", notebook="02_rct_analysis")   # doctest: +SKIP
    >>> rec.add("itt_employed_24", result)                              # doctest: +SKIP
    >>> rec.save()                                                      # doctest: +SKIP
    """

    def __init__(self, output_dir: str | os.PathLike, *, notebook: str,
                 threshold: int = DEFAULT_THRESHOLD):
        self.path = Path(output_dir) / "results.json"
        self.notebook = notebook
        self.threshold = threshold
        self.entries: dict[str, Any] = {}
        self.headline: dict[str, Any] | None = None

    def add(self, key: str, value: Any, *, headline: bool = False,
            outcome: str | None = None) -> None:
        """Record ``value`` under ``key`` (returns nothing, so a notebook cell ending in
        ``rec.add(...)`` does not display the value a second time).

        ``outcome`` labels an estimate with what it measures (e.g. "employed_50 at month 24"),
        shown in the report's headline line and the comparison table of reports/index.html.
        """
        if isinstance(value, pd.DataFrame):
            value = suppress_counts(value, threshold=self.threshold)
        self.entries[key] = to_jsonable(value)
        if outcome is not None and isinstance(self.entries[key], dict):
            self.entries[key]["outcome"] = outcome
        if headline:
            self.headline = {"key": key, **(self.entries[key] if isinstance(self.entries[key], dict)
                                           else {"value": self.entries[key]})}

    def key_results(self, digits: int = 4) -> str:
        """Recorded estimates as text rounded to ``digits`` significant digits, one per line.

        Notebooks print this in their last cell, which nbval output-checks, so a reviewer's
        re-run is compared with the stored numbers and not only checked for errors.
        """
        lines = []
        for key, val in self.entries.items():
            if isinstance(val, dict) and "estimate" in val and val.get("estimate") is not None:
                se = val.get("se")
                se_txt = f" (SE {se:.{digits}g})" if isinstance(se, (int, float)) else ""
                lines.append(f"{key}: {val['estimate']:.{digits}g}{se_txt}")
            elif isinstance(val, (int, float)) and not isinstance(val, bool):
                lines.append(f"{key}: {val:.{digits}g}")
        return "\n".join(lines)

    def save(self) -> Path:
        data: dict[str, Any] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                data = {}
        data.setdefault("notebooks", {})[self.notebook] = self.entries
        if self.headline is not None:
            data.setdefault("headline", {})[self.notebook] = self.headline
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False))
        return self.path


def notebook_setup(style: str = "whitegrid") -> None:
    """Common first step of every notebook: run from the repository root, one figure style.

    papermill starts kernels in the repository root; nbval and JupyterLab start them in
    ``notebooks/``.  Moving to the root makes ``data/...`` and ``reports/...`` parameters mean
    the same thing everywhere.
    """
    import os

    from .params import ROOT

    if os.getcwd() != str(ROOT):
        os.chdir(ROOT)
    try:
        import seaborn as sns
        sns.set_theme(style=style, context="notebook")
    except ImportError:  # pragma: no cover
        pass


# ------------------------------------------------------------------------------------------
# disclosure scan of rendered reports
# ------------------------------------------------------------------------------------------
COUNT_HEADERS = ("n", "count", "persons", "person_months", "participants", "n_treated",
                 "n_control", "n_persons")


def _is_count_header(h: str) -> bool:
    h = h.strip().lower()
    return h in COUNT_HEADERS or h.startswith("n_") or h.endswith("_n") or h.startswith("n (")


def html_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Headers and body rows of every ``<table>`` in an HTML page (stdlib parser)."""
    from html.parser import HTMLParser

    class _P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.cur, self.row, self.cell, self.in_cell = [], None, None, [], False

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.cur = {"head": [], "rows": []}
            elif tag == "tr" and self.cur is not None:
                self.row = []
            elif tag in ("td", "th") and self.row is not None:
                self.in_cell, self.cell = True, []

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.in_cell:
                self.row.append("".join(self.cell).strip())
                self.in_cell = False
            elif tag == "tr" and self.cur is not None and self.row is not None:
                (self.cur["rows"]).append(self.row)
                self.row = None
            elif tag == "table" and self.cur is not None:
                rows = self.cur["rows"]
                head = rows[0] if rows else []
                self.tables.append((head, rows[1:]))
                self.cur = None

        def handle_data(self, data):
            if self.in_cell:
                self.cell.append(data)

    p = _P()
    p.feed(text)
    return p.tables


def _small_number(v, threshold: int) -> bool:
    try:
        x = float(str(v).replace(",", "").replace("\u202f", "").strip())
    except ValueError:
        return False
    return x.is_integer() and 0 < x < threshold


def scan_report(report_dir: str | os.PathLike, *, threshold: int = DEFAULT_THRESHOLD,
                person_ids: Iterable[str] = ()) -> list[str]:
    """Find person ids and unsuppressed small counts in a rendered report.

    Looks at every ``*.html`` (tables: columns whose header names a count) and ``results.json``
    (values under count-like keys).  Returns a list of findings (empty = clean).
    """
    import re

    report_dir = Path(report_dir)
    ids = set(map(str, person_ids))
    findings: list[str] = []
    token = re.compile(r"[A-Za-z_]*\d+")
    files = sorted(report_dir.glob("*.html")) + sorted(report_dir.glob("results.json"))
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        if ids:
            hits = ids.intersection(token.findall(text))
            if hits:
                findings.append(f"{f.name}: {len(hits)} person id(s), e.g. {sorted(hits)[:3]}")
        if f.suffix == ".html":
            for i, (head, rows) in enumerate(html_tables(text)):
                cols = [j for j, h in enumerate(head) if _is_count_header(h)]
                for r in rows:
                    # pandas tables: the first cells of a row may be index headers (<th>)
                    offset = len(r) - len(head) if len(r) > len(head) else 0
                    for j in cols:
                        k = j + offset
                        if k < len(r) and _small_number(r[k], threshold):
                            findings.append(f"{f.name}: table {i + 1}, column {head[j]!r}: "
                                            f"count {r[k]} below {threshold}")
        else:
            def walk(obj, path):
                if isinstance(obj, dict):
                    for k, v in obj.items():
                        if _is_count_header(str(k)) and not isinstance(v, (dict, list)) \
                                and not isinstance(v, bool) and _small_number(v, threshold):
                            findings.append(f"{f.name}: {path}.{k} = {v} below {threshold}")
                        walk(v, f"{path}.{k}")
                elif isinstance(obj, list):
                    for j, v in enumerate(obj):
                        walk(v, f"{path}[{j}]")
            walk(json.loads(text), "")
    return findings


def noted(func, *args, **kwargs):
    """Call ``func(*args, **kwargs)`` and print the warnings it raised as ``Note:`` lines.

    Estimators warn when they drop or adjust data (units treated in the first period, rows with
    missing values, few clusters); in a report these belong in the text, not in stderr.
    """
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = func(*args, **kwargs)
    seen = set()
    for w in caught:
        msg = str(w.message)
        if issubclass(w.category, (UserWarning, RuntimeWarning)) and msg not in seen:
            seen.add(msg)
            print("Note:", msg)
    return out
