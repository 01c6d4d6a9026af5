"""The summary page of a programme's report and the index of all reports.

Each rendered programme opens with ``reports/<programme>/index.html``, written by the render from
``results.json`` (what the gate let through) and the executed notebooks:

1. the pre-specified headline as a sentence with its range (:func:`headline_sentence`), worded
   from the estimate, its interval and the outcome's type (percentage points for binary outcomes,
   NOK for money, events per 100 persons for counts) and "cannot rule out no effect" when the
   interval covers zero;
2. who was evaluated: the recorded sample flow as a bar chart (suppressed steps are not drawn);
3. the main figure: the effect with its interval (the headline notebook's first figure after a
   heading naming the headline); for a matched comparison the overlap of the propensity score
   follows as a diagnostic, linked to its section (:func:`secondary_figures`);
4. caveats from the plan (design, synthetic data, disclosure), the number of clusters when the
   headline rests on few (:func:`few_clusters_caveat`), and the notes the analysis recorded;
5. links to the detailed notebook pages; the provenance block.

``reports/index.html`` and ``reports/index.nb.html`` (written by :func:`evaluation.render.write_index`)
show a forest plot of every programme's headline (one row per arm of a multi-arm headline; one
panel per unit: percentage points, NOK, events per 100, other) and a sortable table.
Texts come from :mod:`evaluation.i18n`; every string from data or parameters is escaped.
"""
from __future__ import annotations

import base64
import html
import io
import re
from typing import Any

from . import i18n
from .results import FEW_CLUSTERS
from .schema import BINARY_OUTCOMES

#: The index page in each language (``reports/index.html``, ``reports/index.nb.html``).
INDEX_FILES = {"en": "index.html", "nb": "index.nb.html"}

MONEY_OUTCOMES = ("earnings", "sa_amount", "earnings_12", "sa_amount_12")
COUNT_OUTCOMES = ("reoffence_events",)

#: Readable names of outcomes in the headline sentence (column names otherwise).
OUTCOME_NAMES: dict[str, dict[str, str]] = {
    "employed": {"en": "employed", "nb": "i arbeid"},
    "employed_50": {"en": "employed in at least a 50 % position",
                    "nb": "i arbeid i minst 50 % stilling"},
    "job_kept_6m": {"en": "in a job kept 6 months", "nb": "i en jobb beholdt i 6 måneder"},
    "on_social_assistance": {"en": "receiving social assistance", "nb": "som mottar sosialhjelp"},
    "self_sufficient": {"en": "off all benefits", "nb": "selvforsørget"},
    "on_aap": {"en": "on work assessment allowance", "nb": "på arbeidsavklaringspenger"},
    "on_disability": {"en": "on disability pension", "nb": "på uføretrygd"},
    "on_aap_or_disability": {"en": "on AAP or disability pension", "nb": "på AAP eller uføretrygd"},
    "in_education": {"en": "in education", "nb": "i utdanning"},
    "reoffended": {"en": "reoffending", "nb": "som begår ny kriminalitet"},
    "earnings": {"en": "earnings", "nb": "inntekt"},
    "sa_amount": {"en": "social assistance paid", "nb": "utbetalt sosialhjelp"},
    "reoffence_events": {"en": "reoffences", "nb": "nye lovbrudd"},
}


def outcome_of(headline: dict) -> tuple[str, int | None]:
    """The outcome column and the month of a recorded headline (``"employed_50 at month 24"``,
    ``"employed at 12 months (ATT)"``, ``"on_social_assistance, overall ATT"``)."""
    label = str(headline.get("outcome") or headline.get("term") or "")
    m = re.match(r"\s*([a-z][a-z0-9_]*)", label)
    col = m.group(1) if m else label
    text = f"{label} {headline.get('term', '')}"
    mm = re.search(r"at month (\d+)|at (\d+) months", text)
    month = int(mm.group(1) or mm.group(2)) if mm else None
    return col, month


def outcome_kind(column: str) -> str:
    """``binary`` (a share: effects in percentage points), ``money`` (NOK), ``count`` (events
    per 100 persons) or ``other`` (the outcome's own unit)."""
    if column in BINARY_OUTCOMES:
        return "binary"
    if column in MONEY_OUTCOMES:
        return "money"
    if column in COUNT_OUTCOMES:
        return "count"
    return "other"


def scaled(kind: str, value: float) -> float:
    """An effect in the unit it is published in (× 100 for shares and per-100 counts)."""
    return 100 * value if kind in ("binary", "count") else value


def unit_label(kind: str, language: str) -> str:
    return {"binary": i18n.t("unit_pp", language), "money": "NOK",
            "count": i18n.t("unit_per100", language)}.get(kind, "")


def short_name(title: str) -> str:
    """The programme's name for the sentence: the title before its first colon or dash."""
    return re.split(r"\s*[:—–]\s+", title, maxsplit=1)[0].strip() or title


def outcome_name(col: str, language: str = "en") -> str:
    """An outcome column in words (:data:`OUTCOME_NAMES`); one without a name keeps its column
    name, underscores as spaces."""
    return OUTCOME_NAMES.get(col, {}).get(language, col.replace("_", " "))


def outcome_label(headline: dict, language: str = "en") -> str:
    """What a recorded estimate measures, in words: ``"employed_50 at month 24"`` →
    ``"employed in at least a 50 % position at 24 months"`` (``nb``: ``"i arbeid i minst 50 %
    stilling etter 24 måneder"``); an outcome without a name keeps its column name."""
    col, month = outcome_of(headline)
    return outcome_name(col, language) + (" " + i18n.t("at_month", language, month=month) if month is not None else "")


def headline_sentence(headline: dict | None, *, title: str, language: str = "en",
                      trial: bool = False) -> str:
    """The headline as a plain-language sentence with its range (text, not yet escaped).

    >>> headline_sentence({"estimate": 0.016, "ci_low": -0.013, "ci_high": 0.044,
    ...                    "outcome": "employed_50 at month 24"}, title="REFINO: x", trial=True)
    'REFINO raised the share employed in at least a 50 % position at 24 months by 1.6 percentage points (95 % CI −1.3 to 4.4); the trial cannot rule out no effect.'
    """
    if not headline:
        return i18n.t("no_headline", language)
    arms = headline.get("arms")
    if isinstance(arms, list) and len(arms) > 1:      # multi-arm trial: one sentence per arm
        base = {k: v for k, v in headline.items() if k != "arms"}
        return " ".join(headline_sentence({**base, **arm, "arms": None},
                                          title=f"{short_name(title)} ({arm.get('term')})",
                                          language=language, trial=trial) for arm in arms)
    if headline.get("estimate") is None:
        reason = headline.get("reason") or headline.get("withheld") or "—"
        return i18n.t("withheld", language, reason=i18n.description(reason, language))
    col, month = outcome_of(headline)
    kind = outcome_kind(col)
    name = outcome_name(col, language)
    what = i18n.t("share_of" if kind == "binary" else "mean_of", language, outcome=name)
    if kind == "count":
        what = name
    if month is not None:
        what += " " + i18n.t("at_month", language, month=month)
    est = scaled(kind, float(headline["estimate"]))
    lo, hi = headline.get("ci_low"), headline.get("ci_high")
    digits = 0 if kind == "money" else 1

    def num(x):
        return i18n.format_number(x, language, digits, minus="\u2212")

    unit = unit_label(kind, language)
    size = num(abs(est)) + (f" {unit}" if unit else "")
    verb = i18n.t("raised" if est > 0 else "lowered" if est < 0 else "unchanged", language)
    if lo is None or hi is None:
        return f"{short_name(title)} {verb} {what} {size}."
    lo, hi = scaled(kind, float(lo)), scaled(kind, float(hi))
    covers = lo <= 0 <= hi
    tail = i18n.t(("tail_null_trial" if trial else "tail_null") if covers else "tail_sig", language)
    level = int(round(100 * float(headline.get("level", 0.95))))
    return i18n.t("sentence", language, who=short_name(title), verb=verb, what=what, size=size,
                  level=level, lo=num(lo), hi=num(hi), tail=tail)


# ------------------------------------------------------------------------------------------
# figures (PNG data URIs with alt text)
# ------------------------------------------------------------------------------------------
def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt, quote=True)}" style="max-width:100%">'


def _count(v) -> float | None:
    if isinstance(v, bool):
        return None
    return float(v) if isinstance(v, (int, float)) else None


def flow_figure(flow: list[dict], *, language: str = "en") -> str | None:
    """The recorded sample flow as horizontal bars (one per step; groups hatched); a step whose
    count the gate suppressed is labelled, not drawn.  Returns an ``<img>`` or None."""
    if not flow or not isinstance(flow, list) or not isinstance(flow[0], dict):
        return None
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .report import HATCHES, figure_style
    figure_style()
    rows = [r for r in flow if r.get("stage", "persons") == "persons"] or flow
    series = (["persons"] if "persons" in rows[0] else
              [c for c in ("treated", "control") if c in rows[0]])
    if not series:
        return None
    labels = [i18n.figure_text(str(r.get("reason") or r.get("step") or i), language)
              for i, r in enumerate(rows)]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) * len(series) + 1))
    h = 0.8 / len(series)
    for j, s in enumerate(series):
        for i, r in enumerate(rows):
            v, y = r.get(s), i + j * h
            c = _count(v)
            if c is not None:
                ax.barh(y, c, height=h, hatch=HATCHES[j % len(HATCHES)], edgecolor="black",
                        color=f"C{j}", label=i18n.figure_text(s, language) if i == 0 else None)
                ax.text(c, y, " " + i18n.format_number(c, language), va="center", fontsize=8)
            else:
                ax.text(0, y, f" {v}", va="center", fontsize=8)
    ax.set_yticks([i + (len(series) - 1) * h / 2 for i in range(len(rows))], labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(i18n.t("persons", language))
    if len(series) > 1:
        ax.legend(loc="lower right")
    alt = i18n.t("flow_alt", language) + ": " + "; ".join(
        f"{lab}: " + ", ".join(f"{i18n.figure_text(s, language)} {r.get(s)}" for s in series)
        for lab, r in zip(labels, rows))
    return _img(_png(fig), alt)


def find_flow(results: dict) -> list[dict] | None:
    """The sample flow recorded by the panel overview (else by any notebook)."""
    nbs = results.get("notebooks", {})
    order = ["01_panel_overview", *[n for n in nbs if n != "01_panel_overview"]]
    for nb in order:
        flow = nbs.get(nb, {}).get("sample_flow")
        if isinstance(flow, list) and flow:
            return flow
    return None


#: The section of each headline notebook whose first figure is the summary page's main figure:
#: the effect with its interval -- by month since randomisation, by event time (with the uniform
#: band), by months after entry.  Diagnostics (overlap, balance, raw trends) are never the main
#: figure.
MAIN_SECTIONS = {"02_rct_analysis": "Effects month by month",
                 "03_did_rollout": "Event study with uniform confidence bands",
                 "04_matched_comparison": "Effects at horizons (headline)"}


def main_figure(nb, name: str | None = None, language: str = "en") -> str | None:
    """The main figure of headline notebook ``name`` (:data:`MAIN_SECTIONS`), else the first
    figure after a heading naming the headline, else its first figure, as an ``<img>`` with the
    figure's alt text."""
    if name in MAIN_SECTIONS:
        head = i18n.heading(MAIN_SECTIONS[name], language)
        fig = section_figure(nb, rf"^#+\s+{re.escape(head)}\s*$")
        if fig:
            return fig
    return section_figure(nb, r"^#+ .*(headline|hovedresultat)", fallback=True)


def heading_id(text: str) -> str:
    """The id nbconvert gives a heading (``nbconvert.filters.strings.add_anchor``): spaces to
    '-', percent-encoded except ``?/:@!$&'()*+,;=``.  A Markdown link would re-encode the ``'``
    of "Sant'Anna" and miss it in a browser, so the table of contents links by this id."""
    from urllib.parse import quote
    return quote(text.strip().replace(" ", "-"), safe="?/:@!$&'()*+,;=")


def section_figure(nb, heading: str, *, fallback: bool = False) -> str | None:
    """The first figure after the first markdown heading matching the regular expression
    ``heading`` (case-insensitive); with ``fallback``, the notebook's first figure if none."""
    if nb is None:
        return None
    images, after = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.search(heading, cell.source, re.M | re.I):
            after = True
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                alt = out.get("metadata", {}).get("image/png", {}).get("alt", "Figure")
                images.append((after, f"data:image/png;base64,{data['image/png'].strip()}", alt))
    pick = next((im for im in images if im[0]), images[0] if images and fallback else None)
    return _img(pick[1], pick[2]) if pick else None


def secondary_figures(params, executed: dict, language: str = "en") -> str:
    """Diagnostics shown below the main figure, each with a link to its section: for a matched
    comparison, the overlap of the propensity score (before and after matching)."""
    out = []
    nb_name = "04_matched_comparison"
    if params.headline is not None and params.headline.notebook == nb_name:
        head = i18n.heading("Overlap", language)
        fig = section_figure(executed.get(nb_name), rf"^#+\s+{re.escape(head)}\s*$")
        if fig:
            link = f"{nb_name}.html#{heading_id(head)}"
            out.append(f'<h3>{html.escape(i18n.t("overlap_title", language))}</h3>'
                       f'<p><small>{html.escape(i18n.t("overlap_text", language))} '
                       f'<a href="{html.escape(link, quote=True)}">{html.escape(head)}</a></small></p>'
                       f'<div style="max-width:60%">{fig}</div>')
    return "".join(out)


# ------------------------------------------------------------------------------------------
# caveats
# ------------------------------------------------------------------------------------------
CLUSTER_UNITS = {"office": "unit_offices", "district": "unit_districts", "bydel": "unit_districts",
                 "area": "unit_areas", "county": "unit_counties", "municipality": "unit_municipalities"}


def few_clusters_caveat(params, results: dict, language: str = "en") -> str | None:
    """"6 districts (NAV offices): standard errors from so few clusters are unreliable; the
    headline's interval is from randomisation inference." -- worded from the number of clusters
    the headline notebook recorded (``clusters``), and only when it is below
    :data:`evaluation.results.FEW_CLUSTERS`."""
    nb = params.headline.notebook if params.headline is not None else None
    rec = results.get("notebooks", {}).get(nb, {}).get("clusters") if nb else None
    if not isinstance(rec, dict) or not isinstance(rec.get("clusters"), int):
        return None
    g = rec["clusters"]
    if g >= FEW_CLUSTERS:
        return None
    unit = rec.get("cluster", "")
    units = (i18n.t(CLUSTER_UNITS[unit], language) if unit in CLUSTER_UNITS
             else i18n.t("unit_clusters", language, column=unit))
    how = i18n.t(f"inference_{rec.get('headline_inference', 'cluster')}", language)
    return i18n.t("cav_few_clusters", language, n=g, units=units, how=how)


def caveats(params, results: dict, language: str = "en") -> list[str]:
    """Caveats from the design, the data and the recorded notes (text, not yet escaped)."""
    names = [nb.name for nb in params.notebooks]
    out = []
    if params.data.source == "synthetic":
        out.append(i18n.t("cav_synthetic", language, scenario=params.data.scenario or params.programme))
    if "02_rct_analysis" in names:
        out.append(i18n.t("cav_rct", language))
    if "03_did_rollout" in names:
        out.append(i18n.t("cav_did", language))
    few = few_clusters_caveat(params, results, language)
    if few:
        out.append(few)
    if "04_matched_comparison" in names:
        out.append(i18n.t("cav_matched", language))
    d = params.disclosure
    out.append(i18n.t("cav_disclosure", language, threshold=d.threshold,
                      min_n=getattr(d, "min_analysis_n", 60)))
    notes = []
    for entries in results.get("notebooks", {}).values():
        for key, val in entries.items():
            if "note" in key and isinstance(val, str):
                notes.append(val)
            elif "note" in key and isinstance(val, list):
                notes += [v for v in val if isinstance(v, str)]
    if notes:
        out.append(i18n.t("cav_notes", language) + " " + " ".join(notes))
    return out


# ------------------------------------------------------------------------------------------
# pages
# ------------------------------------------------------------------------------------------
CSS = ("body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;"
       "line-height:1.45;color:#111}h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;"
       "border-bottom:1px solid #ccc}.headline{font-size:1.15em;border-left:4px solid #333;"
       "padding:.4em .8em;background:#f4f4f4}table{border-collapse:collapse;font-size:90%}"
       "td,th{border:1px solid #bbb;padding:3px 6px;text-align:left}th{cursor:pointer}"
       "small{color:#444}")


def _page(title: str, body: str, language: str) -> str:
    return (f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>")


def provenance_html(prov: dict, language: str = "en") -> str:
    data = "<br>".join(f"{html.escape(k)} <code>{html.escape(v[:16])}…</code>"
                       for k, v in prov.get("data_sha256", {}).items()) or "–"
    rows = [(i18n.t("prov_params", language), f"<code>{html.escape(prov.get('params_file', ''))}</code> (sha256 "
                               f"<code>{html.escape(prov.get('params_sha256', '')[:16])}…</code>)"),
            (i18n.t("prov_data", language), f"<code>{html.escape(prov.get('data_folder', ''))}</code><br>{data}"),
            (i18n.t("prov_package", language), f"evaluation {html.escape(str(prov.get('package_version', '')))}, "
                        f"Python {html.escape(str(prov.get('python', '')))}"),
            (i18n.t("prov_commit", language), f"<code>{html.escape(prov.get('git_commit', ''))}</code>"),
            (i18n.t("prov_rendered", language), html.escape(prov.get("rendered_at", "")))]
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return (f"<details><summary><b>{i18n.t('provenance', language)}</b></summary>"
            f"<table>{body}</table></details>")


def summary_page(params, results: dict, executed: dict, headline: dict | None) -> str:
    """HTML of ``reports/<programme>/index.html`` (see the module docstring)."""
    lang = params.language
    names = [nb.name for nb in params.notebooks]
    trial = params.headline is not None and params.headline.notebook == "02_rct_analysis"
    sentence = headline_sentence(headline, title=params.title, language=lang, trial=trial)
    sections = [("headline", i18n.t("headline", lang)), ("who", i18n.t("who", lang)),
                ("figure", i18n.t("main_figure", lang)), ("caveats", i18n.t("caveats", lang)),
                ("details", i18n.t("details", lang))]
    toc = "".join(f'<li><a href="#{sid}">{html.escape(txt)}</a></li>' for sid, txt in sections)
    n = headline.get("n") if headline else None
    n_txt = (f"<p>{html.escape(i18n.t('n_persons', lang, n=i18n.format_number(n, lang)))}</p>"
             if isinstance(n, int) and not isinstance(n, bool) else "")
    flow = find_flow(results)
    flow_html = flow_figure(flow, language=lang) if flow else None
    head_nb = executed.get(params.headline.notebook) if params.headline else None
    fig = main_figure(head_nb, params.headline.notebook if params.headline else None, lang)
    cav = "".join(f"<li>{html.escape(c)}</li>" for c in caveats(params, results, lang))
    links = "".join(f'<li><a href="{html.escape(nb)}.html">{html.escape(_nb_title(executed.get(nb), nb, lang))}'
                    f"</a> <small>({html.escape(nb)})</small></li>" for nb in names)
    body = (f"<h1>{html.escape(params.title)}</h1>"
            f"<p>{html.escape(params.description.strip())}</p>"
            f"<nav><b>{i18n.t('contents', lang)}</b><ul>{toc}</ul></nav>"
            f'<h2 id="headline">{html.escape(sections[0][1])}</h2>'
            f'<p class="headline" id="headline-sentence">{html.escape(sentence)}</p>{n_txt}'
            f'<h2 id="who">{html.escape(sections[1][1])}</h2>'
            f"{flow_html or '<p>' + html.escape(i18n.t('flow_none', lang)) + '</p>'}"
            f'<h2 id="figure">{html.escape(sections[2][1])}</h2>'
            f"{fig or '<p>' + html.escape(i18n.t('figure_none', lang)) + '</p>'}"
            f"{secondary_figures(params, executed, lang)}"
            f'<h2 id="caveats">{html.escape(sections[3][1])}</h2><ul>{cav}</ul>'
            f'<h2 id="details">{html.escape(sections[4][1])}</h2><ul>{links}</ul>'
            f"{provenance_html(results.get('provenance', {}), lang)}")
    return _page(params.title, body, lang)


def _nb_title(nb, name: str, language: str) -> str:
    """A notebook's first heading (already in the report's language), else its name."""
    if nb is not None:
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                m = re.search(r"^#+\s+(.+)$", cell.source, re.M)
                if m:
                    return m.group(1).strip()
    return name


# ------------------------------------------------------------------------------------------
# index of all reports
# ------------------------------------------------------------------------------------------
SORT_JS = """<script>
document.querySelectorAll('table.sortable').forEach(function (t) {
  t.querySelectorAll('th').forEach(function (th, j) {
    th.addEventListener('click', function () {
      var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-asc') !== '1';
      th.setAttribute('data-asc', asc ? '1' : '0');
      function key(r) { var c = r.cells[j]; var v = c.getAttribute('data-v');
        return v !== null ? parseFloat(v) : c.textContent.trim(); }
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (typeof x === 'number' && typeof y === 'number') return asc ? x - y : y - x;
        return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x)); });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
</script>"""


def forest_figure(rows: list[dict], language: str = "en") -> str | None:
    """Forest plot of every programme's headline with its interval (one row per arm of a
    multi-arm headline), one panel per unit (shares in percentage points, money in NOK, counts
    per 100 persons, other in own units)."""
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .report import MARKERS, figure_style
    figure_style()
    kinds = [k for k in ("binary", "money", "count", "other") if any(r["kind"] == k for r in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds) + 2, 0.5 * len(rows) + 1.4),
                             squeeze=False, sharey=True)
    labels = [r["label"] for r in rows]
    for ax, kind in zip(axes[0], kinds):
        for i, r in enumerate(rows):
            if r["kind"] != kind:
                continue
            ax.errorbar(r["est"], i, xerr=[[r["est"] - r["lo"]], [r["hi"] - r["est"]]], fmt=MARKERS[0],
                        color="black", capsize=3, linestyle="none")
        ax.axvline(0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(unit_label(kind, language) or i18n.t("own_unit", language))
    axes[0][0].set_yticks(range(len(rows)), labels)
    axes[0][0].invert_yaxis()

    def num(x):
        return i18n.significant(x, 3, language, minus="\u2212")
    alt = i18n.t("forest_alt", language) + ": " + "; ".join(
        f"{r['label']}: {num(r['est'])} ({num(r['lo'])} {i18n.t('to', language)} {num(r['hi'])}) "
        f"{unit_label(r['kind'], language)}".rstrip() for r in rows)
    return _img(_png(fig), alt)


def index_rows(results_list: list[dict], language: str = "en") -> list[dict]:
    """The forest plot's rows: each programme's published headline in its published unit; a
    multi-arm headline gives one row per arm against control ("Unge på vei (provider_A): ...")."""
    rows = []
    for data in results_list:
        h = data.get("headline_result") or {}
        arms = h.get("arms") if isinstance(h.get("arms"), list) and len(h["arms"]) > 1 else [None]
        col, _ = outcome_of(h)
        kind = outcome_kind(col)
        what = outcome_label(h, language) if h else ""
        for arm in arms:
            part = h if arm is None else arm
            if any(part.get(k) is None for k in ("estimate", "ci_low", "ci_high")):
                continue
            who = short_name(data.get("title", "")) + (f" ({arm.get('term')})" if arm is not None else "")
            rows.append({"programme": data.get("programme", ""), "arm": None if arm is None else arm.get("term"),
                         "label": f"{who}: {what}", "kind": kind, "est": scaled(kind, part["estimate"]),
                         "lo": scaled(kind, part["ci_low"]), "hi": scaled(kind, part["ci_high"])})
    return rows


def sortable_table(df, language: str = "en", numeric: dict[str, Any] | None = None) -> str:
    """An escaped HTML table sorted by a click on a header (``numeric``: {column: values} sort
    keys for columns whose text is not a plain number)."""
    numeric = numeric or {}
    head = "".join(f"<th>{html.escape(i18n.column(str(c), language))}</th>" for c in df.columns)
    body = []
    for i in range(len(df)):
        tds = []
        for c in df.columns:
            v = df[c].iloc[i]
            key = numeric.get(c)
            kv = key[i] if key is not None else None
            attr = f' data-v="{float(kv)}"' if isinstance(kv, (int, float)) and kv == kv else ""
            tds.append(f"<td{attr}>{html.escape('–' if v is None or v != v else str(v))}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (f'<table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


# ------------------------------------------------------------------------------------------
# a check in a real browser (used by the test suite)
# ------------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
_PROBE_HEAD = """<script>window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push('error: ' + (e.message || e.type)); });
(function () { var ce = console.error; console.error = function () {
  window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
  return ce.apply(console, arguments); }; })();</script>"""
_PROBE_TAIL = """<script>window.addEventListener('load', function () {
  var bad = [], n = 0;
  document.querySelectorAll('a[href^="#"]').forEach(function (a) {
    var raw = a.getAttribute('href').slice(1), id = decodeURIComponent(raw); n += 1;
    /* a browser scrolls to the element whose id is the fragment as written, percent-encoded
       (a.hash) or decoded */
    var enc = a.hash.slice(1);
    if (id && !document.getElementById(raw) && !document.getElementById(id)
        && !document.getElementById(enc)) bad.push(id); });
  var out = document.createElement('pre'); out.id = '__probe';
  out.textContent = JSON.stringify({errors: window.__errors, toc_links: n, unresolved: bad,
                                    text: document.body.innerText});
  document.body.appendChild(out); });</script>"""


def browser_probe(page: str | "os.PathLike", *, chromium: str = CHROMIUM, timeout: int = 120) -> dict:
    """Open ``page`` in headless Chromium and report what a reader's browser sees.

    A copy of the page with a small probe script (the page itself is not changed) is loaded with
    ``--dump-dom``; the probe records script errors and ``console.error`` calls, checks that
    every in-page link (``href="#..."``, the table of contents) resolves to an element id, and
    returns the rendered text.  Returns ``{"errors", "toc_links", "unresolved", "text"}``.
    """
    import json as _json
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        raise FileNotFoundError(f"{chromium} not found: install Chromium (Debian: apt-get install "
                                "chromium; `make setup` does this when run as root)")
    src = Path(page).read_text(encoding="utf-8")
    src = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + _PROBE_HEAD, src, count=1)
    src = src.replace("</body>", _PROBE_TAIL + "</body>") if "</body>" in src else src + _PROBE_TAIL
    tmp = Path(tempfile.mkdtemp(prefix="probe-"))
    try:
        probe = tmp / Path(page).name
        probe.write_text(src, encoding="utf-8")
        for sib in Path(page).parent.glob("*.html"):   # relative links keep working
            if sib.name != probe.name:
                shutil.copy(sib, tmp / sib.name)
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'profile'}",
               "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        m = re.search(r'<pre id="__probe">(.*?)</pre>', run.stdout, re.S)
        if not m:
            raise RuntimeError(f"Chromium did not run the probe (exit {run.returncode}): "
                               f"{run.stderr[-1500:]}")
        return _json.loads(html.unescape(m.group(1)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
