"""Tables, figures and results.json for published reports, through the disclosure gate.

The decisions about what may be published are taken in :mod:`evaluation.disclosure` (the gate);
this module presents what the gate lets through and re-exports what notebooks use:

* :class:`Gate` bundles a report's disclosure options: ``gate.table(df, spec)`` shows a table,
  ``gate.result(res)`` an estimate, ``gate.say(text)`` a note, ``gate.noted(func, ...)`` turns
  warnings into notes, ``gate.recorder(...)`` records results.json -- all through the gate.
* :func:`show_table` / :func:`suppress_counts` are the function forms (a count-column list and
  ``dependent_columns`` are a :class:`~evaluation.disclosure.TableSpec` without declared sums).
* :class:`Recorder` collects the headline numbers of a notebook into ``results.json``
  (through :func:`evaluation.disclosure.gate_value`, written atomically).
* :func:`atomic_write_text` / :func:`atomic_write_bytes` write outputs so that a reader never
  sees a half-written file.

The disclosure threshold defaults to 5 (counts 1-4 suppressed), as is common in Nordic register
statistics; zero counts are shown because they reveal no person.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from . import disclosure as dc
from ._io import ROOT, atomic_write_bytes, atomic_write_text, to_jsonable  # noqa: F401 (re-exported)
from .disclosure import (ID_COLUMNS, DEFAULT_THRESHOLD, DisclosureOptions, Sum, TableSpec,  # noqa: F401
                         drop_ids, escape_html, escape_markdown, gate_text, html_tables,
                         mask_points, masked_histogram, scan_report)



# ------------------------------------------------------------------------------------------
# disclosure control (function forms; the decisions are in evaluation.disclosure)
# ------------------------------------------------------------------------------------------
def _spec(count_columns, dependent_columns, secondary, df) -> TableSpec | None:
    if count_columns is None and not dependent_columns:
        base = dc.infer_spec(drop_ids(df))
        return TableSpec(counts=base.counts, analysis_n=base.analysis_n, partition=bool(secondary))
    counts = list(count_columns or [])
    return TableSpec(counts=counts, stats=dict(dependent_columns or {}), partition=bool(secondary),
                     analysis_n="n" if "n" in counts else None)


def suppression_mask(counts: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD,
                     secondary: bool = True) -> pd.DataFrame:
    """Cells to hide in a grid of counts whose row and column totals are published.

    Primary suppression hides every count ``0 < c < threshold``; with ``secondary`` the row and
    column sums are treated as published and complementary cells are hidden until no hidden cell
    can be narrowed to an interval shorter than ``threshold`` (see :mod:`evaluation.disclosure`).
    """
    grid = counts.reset_index(drop=True)
    cols = [str(c) for c in grid.columns]
    grid.columns = cols
    vals = {c: pd.to_numeric(grid[c], errors="coerce").to_numpy(dtype=float) for c in cols}
    hidden = {c: np.isfinite(vals[c]) & (vals[c] > 0) & (vals[c] < threshold) for c in cols}
    if secondary and any(h.any() for h in hidden.values()):
        rels = [(("value", float(np.nansum(vals[c]))), [(i, c) for i in range(len(grid))])
                for c in cols]
        if len(cols) > 1:
            rels += [(("value", float(sum(np.nan_to_num(vals[c][i]) for c in cols))),
                      [(i, c) for c in cols]) for i in range(len(grid))]
        dc._secondary(vals, hidden, rels, [], cols, threshold)
    return pd.DataFrame({c: hidden[c] for c in cols}, index=counts.index).set_axis(counts.columns, axis=1)


def suppress_counts(df: pd.DataFrame, count_columns: Sequence[str] | None = None, *,
                    threshold: int = DEFAULT_THRESHOLD, secondary: bool | None = None,
                    dependent_columns: dict[str, Sequence[str]] | None = None,
                    spec: TableSpec | None = None,
                    disclosure: DisclosureOptions | dict | None = None) -> pd.DataFrame:
    """Return a copy of ``df`` after the gate (small counts as ``"<threshold"``).

    Parameters
    ----------
    df : DataFrame
        Table to publish.  Not modified.
    count_columns : sequence of str, optional
        Columns holding person counts.  Defaults to columns named ``n``, ``count``, ``persons`` or
        starting with ``n_`` / ending in ``_n``.
    threshold : int
        Counts ``1 .. threshold-1`` are suppressed.
    secondary : bool, optional
        The count columns' totals are published elsewhere (the rows partition a known
        population): complementary cells are hidden.  Structure is never guessed from labels;
        declare totals and chains with ``spec`` (:class:`~evaluation.disclosure.TableSpec`).
    dependent_columns : dict, optional
        ``{count_column: [columns]}``: statistics of the counted persons, hidden with the count.
    spec : TableSpec, optional
        The table's declared structure (overrides the three arguments above).
    """
    opts = dc.options(threshold, disclosure)
    if spec is None:
        spec = _spec(count_columns, dependent_columns, secondary, df)
    try:
        return dc.suppress(df, spec, opts).frame
    except dc.DisclosureError as exc:
        raise KeyError(str(exc)) from None


#: Units shown in published column headers (money in Norwegian kroner).
UNITS = {"earnings": "NOK", "sa_amount": "NOK", "earnings_12": "NOK", "sa_amount_12": "NOK",
         "amount": "NOK", "payment": "NOK", "price": "NOK", "paid": "NOK", "cost": "NOK"}


def publish_frame(df: pd.DataFrame, *, units: dict[str, str] | None = None,
                  combine_ci: bool = True, digits: int = 3, language: str = "en") -> pd.DataFrame:
    """Presentation copy of a table: interval columns joined, units in headers.

    ``ci_low``/``ci_high`` (and ``band_low``/``band_high``) become one column
    ``"95 % CI"`` reading ``"lo to hi"``; columns named in ``units`` (default :data:`UNITS`)
    get the unit in their header, e.g. ``earnings (NOK)``.
    """
    from . import i18n
    out = df.copy()
    if combine_ci:
        for lo, hi, name in (("ci_low", "ci_high", "95 % CI"), ("band_low", "band_high", "95 % band")):
            if lo in out.columns and hi in out.columns:
                a = pd.to_numeric(out[lo], errors="coerce")
                b = pd.to_numeric(out[hi], errors="coerce")
                to = " til " if language == "nb" else " to "
                txt = [("–" if (pd.isna(x) or pd.isna(y)) else
                        i18n.significant(x, digits, language) + to + i18n.significant(y, digits, language))
                       for x, y in zip(a, b)]
                pos = list(out.columns).index(lo)
                out = out.drop(columns=[lo, hi])
                out.insert(pos, name, txt)
    u = {**UNITS, **(units or {})}
    return out.rename(columns={c: f"{c} ({u[c]})" for c in out.columns if c in u})


# ------------------------------------------------------------------------------------------
# presentation: one formatting layer, typed by column
# ------------------------------------------------------------------------------------------
#: Kinds of table column and how their cells read (see :func:`format_value`).
KINDS = ("count", "money", "share", "estimate", "flag", "integer", "text")
_SHARE_NAME = re.compile(r"(^|_)(share|rate|prop|proportion|pct|fraction)(_|$)", re.I)


def _flag_values(s: pd.Series) -> bool:
    vals = set(s.dropna().map(lambda v: v if isinstance(v, (bool, np.bool_)) else str(v)).unique())
    return bool(vals) and vals <= {True, False, "True", "False"}


def column_kinds(df: pd.DataFrame, *, counts: Sequence[str] = (), units: dict[str, str] | None = None,
                 kinds: dict[str, str] | None = None) -> dict[str, str]:
    """The kind of every column of ``df``: declared in ``kinds``, else inferred.

    count = the gate's count columns; money = a column with a currency in :data:`UNITS` (or
    ``units``); flag = booleans; share = a column named ``share``/``rate``/``prop``... holding
    values in [0, 1]; integer = whole numbers; estimate = other numbers; text = the rest.
    """
    u = {**UNITS, **(units or {})}
    out = {}
    for c in df.columns:
        col = df[c]
        num = pd.to_numeric(col, errors="coerce")
        finite = num[np.isfinite(num.astype(float))] if len(num) else num
        if kinds and c in kinds:
            k = kinds[c]
            if k not in KINDS:
                raise ValueError(f"column {c!r}: kind {k!r} is not one of {', '.join(KINDS)}")
        elif c in counts:
            k = "count"
        elif col.dtype == bool or _flag_values(col):
            k = "flag"
        elif c in u and u[c] in ("NOK", "EUR", "GBP", "SEK", "DKK", "USD"):
            k = "money"
        elif finite.notna().sum() == 0:
            k = "text"
        elif _SHARE_NAME.search(str(c)) and finite.between(0, 1).all():
            k = "share"
        elif (finite == finite.round()).all() and (col.dtype.kind in "iu" or finite.abs().max() >= 10):
            k = "integer"
        else:
            k = "estimate"
        out[c] = k
    return out


def format_value(v: Any, kind: str, *, language: str = "en", digits: int = 3,
                 share_decimals: int = 1) -> str:
    """One cell as text: counts and integers without decimals (``1 798``), money without
    decimals (the currency is in the header), shares as percentages with ``share_decimals``
    decimals (``12.3 %``), estimates to ``digits`` significant digits, flags as yes/no (ja/nei);
    decimal comma in ``nb``; suppressed cells (``"<5"``) and other text as they are."""
    from . import i18n
    if v is None or v is pd.NA or v is pd.NaT:
        return "–"
    if isinstance(v, (bool, np.bool_)) or (kind == "flag" and str(v) in ("True", "False")):
        return i18n.t("yes" if v in (True, "True") else "no", language)
    if isinstance(v, str) or not isinstance(v, (int, float, np.integer, np.floating)):
        return str(v)
    if not np.isfinite(float(v)):
        return "–"
    if kind in ("count", "money", "integer"):
        return i18n.format_number(round(float(v)), language, 0)
    if kind == "share":
        return i18n.format_number(100 * float(v), language, share_decimals) + "\u00a0%"
    return i18n.significant(v, digits, language)


def cell_formatter(df: pd.DataFrame, *, counts: Sequence[str] = (), units=None, kinds=None,
                   language: str = "en", digits: int = 3):
    """``formatter(column, value)`` for :func:`evaluation.disclosure.table_html`."""
    k = column_kinds(df, counts=counts, units=units, kinds=kinds)
    return lambda c, v: format_value(v, k.get(c, "estimate"), language=language, digits=digits)


def _display_html(html: str, plain: str) -> None:
    try:
        from IPython.display import display as _display
        _display({"text/html": html, "text/plain": plain}, raw=True)
    except ImportError:  # pragma: no cover
        print(plain)


def published_html(pub: "dc.Published", *, caption: str | None = None, precision: int = 3,
                   units: dict[str, str] | None = None, language: str = "en",
                   kinds: dict[str, str] | None = None) -> tuple[str, pd.DataFrame]:
    """HTML of a gated table after presentation (intervals joined, units in headers, cells
    formatted by column kind (:func:`column_kinds`), headers in ``language``)."""
    from . import i18n
    u = {**UNITS, **(units or {})}
    kinds_by_src = column_kinds(pub.frame, counts=pub.structure["counts"], units=units, kinds=kinds)
    shown = publish_frame(pub.frame, units=units, language=language)
    rename = {c: i18n.column(f"{c} ({u[c]})" if c in u else c, language) for c in pub.frame.columns}
    if len(set(rename.values())) < len(rename):   # two headers translate alike: keep the names
        rename = {c: f"{c} ({u[c]})" if c in u else c for c in pub.frame.columns}
    shown = shown.rename(columns={f"{c} ({u[c]})" if c in u else c: v for c, v in rename.items()})
    ci = i18n.column("95 % CI", language)
    shown = shown.rename(columns={"95 % CI": ci, "95 % band": i18n.column("95 % band", language)})
    kinds_shown = {rename.get(c, c): k for c, k in kinds_by_src.items()}
    hidden = pub.hidden.rename(columns=rename).reindex(columns=shown.columns, fill_value=False)
    st = dict(pub.structure)
    ren = lambda c: rename.get(c, c)  # noqa: E731
    st["counts"] = [ren(c) for c in st["counts"]]
    st["relations"] = [((t if t[0] == "value" else (t[0], ren(t[1]))), [(i, ren(c)) for i, c in p])
                       for t, p in st["relations"]]
    st["amounts"] = [{**a, "column": ren(a["column"]),
                      "terms": [((x[0], ren(x[1])), q) for x, q in a["terms"]]} for a in st["amounts"]]
    notes = [i18n.localize(n, language) for n in pub.notes]    # the gate's notes in the language
    view = dc.Published(shown, hidden, notes, st, pub.options)
    fmt = lambda c, v: format_value(v, kinds_shown.get(c, "estimate"), language=language,  # noqa: E731
                                    digits=precision)
    html = dc.table_html(view, caption=caption, precision=precision, formatter=fmt)
    text = pd.DataFrame({c: [fmt(c, v) for v in shown[c]] for c in shown.columns}, columns=shown.columns)
    return html, text


def show_table(df: pd.DataFrame, count_columns: Sequence[str] | None = None, *,
               threshold: int = DEFAULT_THRESHOLD, caption: str | None = None,
               secondary: bool | None = None,
               dependent_columns: dict[str, Sequence[str]] | None = None,
               precision: int = 3, units: dict[str, str] | None = None,
               display: bool = True, spec: TableSpec | None = None,
               disclosure: DisclosureOptions | dict | None = None,
               language: str = "en", kinds: dict[str, str] | None = None):
    """Display a table in a notebook after the disclosure gate.

    Cells are presented by column kind (:func:`column_kinds`: counts and integers without
    decimals, money without decimals and its currency in the header, shares as percentages,
    estimates to ``precision`` significant digits, flags as yes/no), headers and numbers in
    ``language`` (``"en"`` or ``"nb"``); ``kinds`` declares kinds the inference would miss.

    Small counts, their statistics and recoverable cells are hidden (:func:`suppress_counts`,
    :mod:`evaluation.disclosure`), person-id columns removed, interval columns joined and units
    added to headers (:func:`publish_frame`), every string HTML-escaped, and the gate's notes
    shown under the table.  Returns the published DataFrame (before presentation changes).
    """
    opts = dc.options(threshold, disclosure)
    if spec is None:
        spec = _spec(count_columns, dependent_columns, secondary, df)
    try:
        pub = dc.suppress(df, spec, opts)
    except dc.DisclosureError as exc:
        raise KeyError(str(exc)) from None
    if display:
        html, shown = published_html(pub, caption=caption, precision=precision, units=units,
                                     language=language, kinds=kinds)
        plain = ((caption + "\n") if caption else "") + shown.to_string(index=False)
        _display_html(html, gate_text(plain, opts.threshold))
    return pub.frame


def format_ci(estimate: float, lo: float, hi: float, digits: int = 3, unit: str = "",
              language: str = "en") -> str:
    """``"0.123 (0.050 to 0.196)"`` with an optional unit, as the Data Lab reports print ranges
    (``nb``: ``"0,123 (0,050 til 0,196)"``)."""
    from . import i18n
    u = f" {unit}" if unit else ""
    if language == "en":
        return f"{estimate:.{digits}f}{u} ({lo:.{digits}f} to {hi:.{digits}f})"
    def f(x):
        return i18n.number(x, f".{digits}f", language)
    return f"{f(estimate)}{u} ({f(lo)} {i18n.t('to', language)} {f(hi)})"


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
                 threshold: int = DEFAULT_THRESHOLD,
                 disclosure: DisclosureOptions | dict | None = None):
        self.path = Path(output_dir) / "results.json"
        self.notebook = notebook
        self.options = dc.options(threshold, disclosure)
        self.threshold = self.options.threshold
        self.entries: dict[str, Any] = {}
        self.headline: dict[str, Any] | None = None

    def add(self, key: str, value: Any, *, headline: bool = False,
            outcome: str | None = None, spec: TableSpec | None = None,
            amounts: dict[str, float] | None = None) -> None:
        """Record ``value`` under ``key`` through the gate (returns nothing, so a notebook cell
        ending in ``rec.add(...)`` does not display the value a second time).

        Tables pass :func:`evaluation.disclosure.suppress` (with ``spec``, else the count columns
        named as counts); every value then passes :func:`evaluation.disclosure.gate_value`: small
        counts, estimates of fewer than ``min_analysis_n`` persons (withheld with the reason),
        amounts ``{key: price}`` rounded, counts in text.  ``outcome`` labels an estimate with
        what it measures (e.g. "employed_50 at month 24"), shown in the report's headline line
        and the comparison table of reports/index.html.
        """
        if isinstance(value, pd.DataFrame):
            value = dc.suppress(value, spec, self.options).frame
        self.entries[key] = dc.gate_value(to_jsonable(value), self.options, amounts=amounts)
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
        data["disclosure"] = self.options.model_dump()
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
    if os.getcwd() != str(ROOT):
        os.chdir(ROOT)
    figure_style(style)


#: Line styles and markers cycled with the colours, so that series stay apart in grey-scale.
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))
MARKERS = ("o", "s", "^", "D", "v", "P")
HATCHES = ("", "//", "..", "xx", "\\\\", "--")


def figure_style(style: str = "whitegrid") -> None:
    """The suite's one figure style: seaborn ``whitegrid``, a colour-blind palette cycled
    together with line styles and markers (readable printed in grey-scale), readable font sizes
    and figures embedded at 110 dpi.  :func:`notebook_setup` calls it; the summary and index
    pages use it too.  Bars are told apart by :data:`HATCHES` where a figure has groups."""
    import matplotlib as mpl
    from cycler import cycler
    try:
        import seaborn as sns
        sns.set_theme(style=style, context="notebook", palette="colorblind")
        colours = sns.color_palette("colorblind", len(LINESTYLES))
    except ImportError:  # pragma: no cover
        colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"][:len(LINESTYLES)]
    mpl.rcParams["axes.prop_cycle"] = (cycler(color=list(colours)) + cycler(linestyle=list(LINESTYLES))
                                       + cycler(marker=list(MARKERS)))
    mpl.rcParams.update({"lines.markersize": 4, "figure.dpi": 110,
                         "savefig.dpi": 110, "axes.titlesize": "medium", "legend.frameon": False})
    _alt_text_formatter()


#: The language figures are displayed in (set by :class:`Gate` for the notebook it serves).
FIGURE_LANGUAGE = "en"


def _decimal_comma():
    """A matplotlib tick formatter writing a decimal comma (bokmål); matplotlib is imported only
    when a figure is drawn."""
    from matplotlib.ticker import ScalarFormatter

    class DecimalComma(ScalarFormatter):
        def __call__(self, x, pos=None):
            return super().__call__(x, pos).replace(".", ",")

        def get_offset(self):
            return super().get_offset().replace(".", ",")
    return DecimalComma()


def translate_figure(fig, language: str) -> None:
    """Titles, axis labels and legend entries the package drew, in ``language``
    (``evaluation.i18n.FIGURE``; data labels and numbers stay as drawn)."""
    from . import i18n
    if language == "en":
        return
    texts = [t for t in [getattr(fig, "_suptitle", None), *fig.texts] if t is not None]
    for ax in fig.get_axes():
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        leg = ax.get_legend()
        if leg is not None:
            texts += [leg.get_title(), *leg.get_texts()]
    for leg in getattr(fig, "legends", []):
        texts += [leg.get_title(), *leg.get_texts()]
    for ax in fig.get_axes():
        texts += list(ax.texts)
        for axis in (ax.xaxis, ax.yaxis):      # decimal comma on plain numeric axes
            if type(axis.get_major_formatter()).__name__ == "ScalarFormatter":
                axis.set_major_formatter(_decimal_comma())
    for t in texts:
        new = i18n.figure_text(t.get_text(), language)
        if new != t.get_text():
            t.set_text(new)


def figure_alt(fig, language: str = "en") -> str:
    """Alt text of a matplotlib figure from its titles and axis labels (what a screen reader
    says in place of the picture): ``"Figure: <title>; x: <label>; y: <label>"`` per panel."""
    from . import i18n
    parts = []
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text():
        parts.append(sup.get_text())
    for ax in fig.get_axes():
        bits = [ax.get_title()] if ax.get_title() else []
        if ax.get_xlabel():
            bits.append(f"x: {ax.get_xlabel()}")
        if ax.get_ylabel():
            bits.append(f"y: {ax.get_ylabel()}")
        if bits:
            parts.append(", ".join(bits))
    return (i18n.t("figure_alt", language) + ": "
            + ("; ".join(parts) if parts else i18n.t("figure_untitled", language)))


def _alt_text_formatter() -> None:
    """In a kernel, display figures as PNG with their alt text in the output's metadata
    (nbconvert writes it into the ``alt`` attribute of the embedded image)."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
        from IPython.core.pylabtools import print_figure
    except ImportError:  # pragma: no cover
        return
    ip = get_ipython()
    if ip is None:
        return
    try:   # resolve the inline backend now: it registers its own PNG formatter when resolved
        import matplotlib.pyplot as plt
        plt._get_backend_mod()
    except Exception:  # pragma: no cover
        pass

    def png(fig):
        translate_figure(fig, FIGURE_LANGUAGE)
        data = print_figure(fig, "png", bbox_inches="tight")
        return (data, {"alt": figure_alt(fig, FIGURE_LANGUAGE)}) if data else None

    ip.display_formatter.formatters["image/png"].for_type(Figure, png)


def contract_unit_price(res) -> float:
    """:func:`evaluation.contracts.indigo.largest_unit_price`: the largest price the contract of a
    settlement pays for one person's outcome (amounts are rounded to ``rounding_base`` times it)."""
    from .contracts.indigo import largest_unit_price as _price  # lazy: contracts; no circle
    return _price(res)


def plot_contract(res, kind: str = "cumulative", ax=None, *, disclosure=None):
    """:func:`evaluation.contracts.plots.plot_contract` (amounts rounded by the gate)."""
    from .contracts.plots import plot_contract as _plot  # lazy: matplotlib; no circle
    return _plot(res, kind, ax, disclosure=disclosure)


def noted(func, *args, _threshold: int = DEFAULT_THRESHOLD, _language: str = "en", **kwargs):
    """Call ``func(*args, **kwargs)`` and print the warnings it raised as ``Note:`` lines,
    through the gate (counts of persons inside them below the threshold are suppressed).

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
            from . import i18n
            print(i18n.t("note", _language) + ":", gate_text(i18n.note_text(msg, _language), _threshold))
    return out


# ------------------------------------------------------------------------------------------
# the gate as notebooks use it
# ------------------------------------------------------------------------------------------
class PublishedFrame(pd.DataFrame):
    """The published copy of a table (what the gate let through), returned by :meth:`Gate.table`
    for recording; it has already been shown, so Jupyter does not display it a second time."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def _ipython_display_(self):
        return None


class Gate:
    """A report's disclosure options and every way a notebook publishes through them.

    >>> gate = Gate(disclosure_threshold, disclosure)                    # doctest: +SKIP
    >>> gate.table(panel.flow, TableSpec(counts=["persons"], sums=[Sum(0, [1, 2, 3, 4, 5])]))
    ...                                                                  # doctest: +SKIP
    """

    def __init__(self, threshold: int | None = None, disclosure: DisclosureOptions | dict | None = None,
                 language: str = "en"):
        from .i18n import check_language
        global FIGURE_LANGUAGE
        self.options = dc.options(threshold, disclosure)
        self.language = FIGURE_LANGUAGE = check_language(language)

    @property
    def threshold(self) -> int:
        return self.options.threshold

    def table(self, df: pd.DataFrame, spec: TableSpec | Sequence[str] | None = None, *,
              caption: str | None = None, precision: int = 3, units: dict[str, str] | None = None,
              display: bool = True, kinds: dict[str, str] | None = None) -> pd.DataFrame:
        """Show ``df`` through the gate (``spec``: a TableSpec or a list of count columns)."""
        caption = self._text(caption)
        if spec is not None and not isinstance(spec, TableSpec):
            counts = list(spec)
            spec = TableSpec(counts=counts, analysis_n="n" if "n" in counts else None)
        return PublishedFrame(show_table(
            df, spec=spec if spec is not None else dc.infer_spec(drop_ids(df)), caption=caption,
            precision=precision, units=units, display=display, disclosure=self.options,
            language=self.language, kinds=kinds))

    def result(self, res, *, caption: str | None = None, precision: int = 4) -> pd.DataFrame:
        """Show an estimate (anything with ``tidy()``) through the gate: its ``n`` is a count,
        and estimates of fewer than ``min_analysis_n`` persons are withheld."""
        tidy = res.tidy() if hasattr(res, "tidy") else pd.DataFrame([res])
        counts = [c for c in tidy.columns if c == "n"]
        cap = caption or getattr(res, "method", None) or None
        return self.table(tidy, TableSpec(counts=counts, analysis_n="n" if counts else None),
                          caption=cap, precision=precision)

    def say(self, *parts: Any) -> None:
        """Print a note (counts of persons in it below the threshold are suppressed); a part the
        catalogue knows is printed in the report's language."""
        print(gate_text(" ".join(str(self._text(p)) for p in parts), self.threshold))

    # -- the report's language (texts in evaluation/i18n.py) --------------------------------
    def tr(self, template: str, **fields: Any) -> str:
        """A caption, note or figure title in the report's language: ``template`` is the English
        text (the key of ``evaluation.i18n.TEXTS``), ``fields`` fill its ``{placeholders}``
        (numbers in the language's format; a method description among them in the language too,
        ``evaluation.i18n.description``)::

            gate.table(t, spec, caption=gate.tr("Outcome means by {group}", group=group))
        """
        from . import i18n
        fields = {k: i18n.description(v, self.language) for k, v in fields.items()}  # method texts
        return i18n.text(template, self.language, **fields)

    def ci(self, estimate: float, lo: float, hi: float, digits: int = 3, unit: str = "") -> str:
        """:func:`format_ci` in the report's language."""
        return format_ci(estimate, lo, hi, digits, unit, language=self.language)

    def num(self, x: Any, spec: str = "") -> str:
        """A number formatted by ``spec`` (``"+g"``, ``".1%"``) in the report's language."""
        from . import i18n
        return i18n.number(x, spec, self.language)

    def _text(self, value: Any) -> Any:
        from . import i18n
        return i18n.lookup(value, self.language)

    def count(self, n: Any) -> str:
        """A count as published text: ``"<5"`` below the threshold, else ``"1 234"``."""
        v = dc.gate_count(n, self.options)
        return v if isinstance(v, str) else dc.format_cell(int(v))

    def note(self, message: Any) -> None:
        """Print ``message`` (an estimator's warning) as a note in the report's language."""
        from . import i18n
        self.say(i18n.t("note", self.language) + ":", i18n.note_text(str(message), self.language))

    def noted(self, func, *args, **kwargs):
        """:func:`noted` with this report's threshold."""
        return noted(func, *args, _threshold=self.threshold, _language=self.language, **kwargs)

    def mask(self, df: pd.DataFrame, n: str = "n") -> pd.DataFrame:
        """Figure data without points resting on fewer than ``threshold`` persons."""
        return mask_points(df, n, self.threshold)

    def recorder(self, output_dir: str | os.PathLike, *, notebook: str) -> "Recorder":
        return Recorder(output_dir, notebook=notebook, disclosure=self.options)
