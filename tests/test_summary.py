"""Summary page, index and a browser check (evaluation.summary; issue 14, Reports).

One tiny render in bokmål (REFINO, 400 persons, overview + trial notebooks, no randomisation
inference) is shared by the module; the browser check loads its pages in headless Chromium.
The browser check fails (never skips) when Chromium is missing: `make setup` installs it.
"""
import json
import re

import pandas as pd
import pytest
import yaml

from evaluation import render, summary
from evaluation.params import ROOT
from evaluation.report import TableSpec, column_kinds, format_value, published_html
from evaluation import disclosure as dc

REFINO = {"estimate": 0.016, "ci_low": -0.013, "ci_high": 0.044, "level": 0.95,
          "outcome": "employed_50 at month 24", "n": 3540}


# ------------------------------------------------------------------------------------------
# the headline sentence
# ------------------------------------------------------------------------------------------
def test_headline_sentence_binary_trial_covers_zero():
    s = summary.headline_sentence(REFINO, title="REFINO: results-based financing", trial=True)
    assert s == ("REFINO raised the share employed in at least a 50 % position at 24 months by "
                 "1.6 percentage points (95 % CI \u22121.3 to 4.4); the trial cannot rule out no effect.")


def test_headline_sentence_bokmaal():
    s = summary.headline_sentence(REFINO, title="REFINO: x", language="nb", trial=True)
    assert s.startswith("REFINO økte andelen i arbeid i minst 50 % stilling etter 24 måneder med "
                        "1,6 prosentpoeng (95 % KI \u22121,3 til 4,4)")
    assert "kan ikke utelukke" in s


def test_headline_sentence_money_count_and_significant_decrease():
    money = {"estimate": 12345.6, "ci_low": 2000.0, "ci_high": 22000.0, "outcome": "earnings at month 12"}
    s = summary.headline_sentence(money, title="Unge på vei: x")
    assert "raised mean earnings at 12 months by 12\u202f346 NOK (95 % CI 2\u202f000 to 22\u202f000)" in s
    assert s.endswith("the interval rules out no effect.")
    count = {"estimate": -0.21, "ci_low": -0.35, "ci_high": -0.07, "outcome": "reoffence_events at 12 months"}
    s = summary.headline_sentence(count, title="Back in the Ring")
    assert "lowered reoffences at 12 months by 21.0 events per 100 persons" in s
    did = {"estimate": -0.124, "ci_low": -0.184, "ci_high": -0.064,
           "outcome": "on_social_assistance, overall ATT"}
    assert "lowered the share receiving social assistance by 12.4 percentage points" in \
        summary.headline_sentence(did, title="Alna Aktiv: pilot")


def test_headline_withheld_and_absent():
    assert "not published: fewer than 60" in summary.headline_sentence(
        {"estimate": None, "reason": "fewer than 60 persons"}, title="X")
    assert "No pre-specified headline" in summary.headline_sentence(None, title="X")
    # the reason the gate writes (evaluation.disclosure.gate_value) in the report's language
    reason = "fewer than 60 persons (disclosure.min_analysis_n)"
    assert summary.headline_sentence({"estimate": None, "withheld": reason}, title="X") == \
        "The headline estimate is not published: " + reason
    assert summary.headline_sentence({"estimate": None, "withheld": reason}, title="X", language="nb") == \
        "Hovedestimatet publiseres ikke: færre enn 60 personer (disclosure.min_analysis_n)"


# ------------------------------------------------------------------------------------------
# the formatting layer (evaluation.report)
# ------------------------------------------------------------------------------------------
def test_cells_typed_by_column():
    df = pd.DataFrame({"step": ["all", "kept"], "persons": [1798.0, 326.0], "price": [15000.0, 6000.0],
                       "share": [0.1234, 0.5], "eligible": [False, True], "estimate": [0.015234, 1.2345],
                       "month": [12.0, 24.0]})
    kinds = column_kinds(df, counts=["persons"])
    assert kinds == {"step": "text", "persons": "count", "price": "money", "share": "share",
                     "eligible": "flag", "estimate": "estimate", "month": "integer"}
    pub = dc.suppress(df, TableSpec(counts=["persons"]), dc.options(5, None))
    html, shown = published_html(pub)
    assert "<td>1\u202f798</td>" in html and "<td>15\u202f000</td>" in html and "price (NOK)" in html
    assert "<td>12.3\u00a0%</td>" in html and "<td>no</td>" in html and "<td>0.0152</td>" in html
    assert ".000" not in html and "False" not in html
    html_nb, _ = published_html(pub, language="nb")
    assert "<th>personer</th>" in html_nb and "<td>12,3\u00a0%</td>" in html_nb and "<td>nei</td>" in html_nb
    assert "pris (NOK)" in html_nb and "<td>0,0152</td>" in html_nb


def test_declared_kind_and_bad_kind():
    assert format_value(0.25, "share", language="nb") == "25,0\u00a0%"
    assert format_value("<5", "count") == "<5"
    with pytest.raises(ValueError, match="kind 'percent' is not one of"):
        column_kinds(pd.DataFrame({"x": [1]}), kinds={"x": "percent"})


# ------------------------------------------------------------------------------------------
# one tiny render in bokmål, its summary page, the index, and a browser
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered_nb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("summary")
    d = yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())
    d["programme"] = "refino_nb"
    d["language"] = "nb"
    d["title"] = {"en": "REFINO: results-based financing", "nb": "REFINO: resultatbasert finansiering"}
    d["data"].update({"n_persons": 400, "folder": str(tmp / "data")})
    d["notebooks"] = d["notebooks"][:2]
    d["notebooks"][1]["options"].update({"ri_draws": 0, "months": 30,
                                         "subgroups": ["immigrant"]})
    d.pop("contract")
    d.pop("design")
    f = tmp / "refino_nb.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False, allow_unicode=True))
    out = tmp / "reports"
    render.render([f], out_root=out, progress=False)
    return out


def test_summary_page_in_bokmaal(rendered_nb):
    page = (rendered_nb / "refino_nb" / "index.html").read_text()
    res = json.loads((rendered_nb / "refino_nb" / "results.json").read_text())
    assert '<html lang="nb">' in page and "REFINO: resultatbasert finansiering" in page
    sentence = re.search(r'id="headline-sentence">(.*?)</p>', page).group(1)
    assert sentence.startswith("REFINO ") and "prosentpoeng (95 % KI" in sentence
    assert sentence == summary.headline_sentence(res["headline_result"], title="REFINO: x",
                                                 language="nb", trial=True)
    for section in ("Hvem som ble evaluert", "Hovedfigur", "Forbehold", "Detaljerte rapporter"):
        assert section in page
    assert "Dataene er syntetiske" in page                      # caveat: synthetic data
    assert page.count("data:image/png;base64") == 2             # sample flow + main figure
    assert 'alt=""' not in page and 'href="02_rct_analysis.html"' in page
    assert "Opphav" in page and res["provenance"]["params_sha256"][:16] in page


def test_notebook_pages_in_bokmaal_with_alt_text(rendered_nb):
    page = (rendered_nb / "refino_nb" / "02_rct_analysis.html").read_text()
    assert "Randomisert forsøk: analyse etter intensjon om behandling" in page
    assert "Ble trekningen gjort som planlagt?" in page and "Undergrupper" in page
    assert "No description has been provided" not in page
    assert re.search(r'<img alt="Figur: [^"]+"', page)
    assert "måneder siden trekningen" in page            # a figure's axis label drawn by the package
    assert "<th>estimat</th>" in page or "<th>n</th>" in page


def test_index_forest_plot_and_sortable_table(rendered_nb):
    page = (rendered_nb / "index.html").read_text()
    assert 'alt="Forest plot: REFINO' in page and "percentage points" in page
    assert '<table class="sortable">' in page and "addEventListener('click'" in page
    assert 'href="refino_nb/index.html"' in page
    assert "<script src" not in page and "http" not in page.split("<body>")[1]   # no external assets


def test_browser_opens_the_pages_without_errors(rendered_nb):
    """Headless Chromium: no script errors, every table-of-contents link resolves, headline there."""
    rep = rendered_nb / "refino_nb"
    res = json.loads((rep / "results.json").read_text())
    sentence = summary.headline_sentence(res["headline_result"], title="REFINO: x", language="nb",
                                         trial=True)
    home = summary.browser_probe(rep / "index.html")
    assert home["errors"] == [] and home["unresolved"] == [] and home["toc_links"] >= 5
    assert sentence in home["text"]
    nbpage = summary.browser_probe(rep / "02_rct_analysis.html")
    assert nbpage["errors"] == [] and nbpage["unresolved"] == [] and nbpage["toc_links"] > 10
    index = summary.browser_probe(rendered_nb / "index.html")
    assert index["errors"] == []


def test_headline_sentence_multi_arm_one_per_arm():
    h = {"outcome": "employed at month 12", "estimate": 0.03, "ci_low": -0.01, "ci_high": 0.07,
         "arms": [{"term": "provider_A", "estimate": 0.03, "ci_low": -0.01, "ci_high": 0.07},
                  {"term": "provider_C", "estimate": 0.19, "ci_low": 0.13, "ci_high": 0.24}]}
    s = summary.headline_sentence(h, title="Unge på vei til jobb: x", trial=True)
    assert s.startswith("Unge på vei til jobb (provider_A) raised the share employed at 12 months by 3.0")
    assert "Unge på vei til jobb (provider_C) raised the share employed at 12 months by 19.0 " \
           "percentage points (95 % CI 13.0 to 24.0); the interval rules out no effect." in s


def test_table_of_contents_links_resolve_in_a_browser_for_any_heading(tmp_path):
    """Headings with an apostrophe, a dash and non-ASCII letters (nbconvert percent-encodes some
    characters of the id and not others): every contents link still lands on its heading."""
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(h) for h in (
        "## Callaway–Sant'Anna gruppe-tid-effekter (hovedresultat)", "## Følsomhet i oppgjøret",
        "### TWFE vs Sun–Abraham: 20/40/40?")])
    prov = {"data_sha256": {}, "params_file": "p.yaml", "params_sha256": "0" * 64,
            "data_folder": "d", "package_version": "0", "python": "3", "git_commit": "x",
            "rendered_at": "now"}
    page = render.export_html(nb, tmp_path / "p.html", prov=prov, title="T")
    probe = summary.browser_probe(page)
    assert probe["toc_links"] >= 3 and probe["unresolved"] == [] and probe["errors"] == []


# ------------------------------------------------------------------------------------------
# bokmål everywhere a reader looks (issue 14: headings, prose, captions, headline line, index)
# ------------------------------------------------------------------------------------------
def _reader_text(page: str) -> str:
    """Text of the headings, paragraphs, table captions, list items and notes of a page (not
    table cells: data such as method names and column values stay as recorded)."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.depth, self.skip, self.out = 0, 0, []

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style", "td", "th", "code"):
                self.skip += 1
            elif tag in ("h1", "h2", "h3", "h4", "p", "caption", "li", "summary", "pre", "b", "small"):
                self.depth += 1

        def handle_endtag(self, tag):
            if tag in ("script", "style", "td", "th", "code"):
                self.skip = max(0, self.skip - 1)
            elif tag in ("h1", "h2", "h3", "h4", "p", "caption", "li", "summary", "pre", "b", "small"):
                self.depth = max(0, self.depth - 1)

        def handle_data(self, data):
            if self.depth and not self.skip:
                self.out.append(data)

    p = P()
    p.feed(page)
    return " ".join(" ".join(p.out).split())


def _english_left(text: str) -> list[str]:
    """Catalogue texts whose English differs from their bokmål and that appear in ``text``."""
    from evaluation import i18n
    import string
    cands = [(en, nb) for en, nb in i18n.HEADINGS.items()]
    cands += [(i18n._norm(en), nb) for en, nb in i18n._PROSE.items()]
    cands += [(e["en"], e["nb"]) for e in i18n.MESSAGES.values()]
    for en, nb in i18n.TEXTS.items():        # the longest literal part of a template
        parts = [lit for lit, *_ in string.Formatter().parse(en) if lit]
        cands.append((max(parts, key=len).strip() if parts else "", nb))
    found = []
    for en, nb in cands:
        literal = en.split("{")[0].strip() if "{" in en else en
        if len(literal) < 8 or literal in nb or literal in ("Callaway–Sant'Anna",):
            continue
        if re.search(r"(?<!\w)" + re.escape(literal) + r"(?!\w)", text):
            found.append(literal)
    return found


def test_bokmaal_report_has_no_english_from_the_catalogue(rendered_nb):
    """Headings, prose, captions, notes, the headline line and the provenance labels of every
    page of an nb report are bokmål: no English text of the catalogue is left where its
    bokmål differs."""
    rep = rendered_nb / "refino_nb"
    for name in ("index.html", "01_panel_overview.html", "02_rct_analysis.html"):
        text = _reader_text((rep / name).read_text())
        assert _english_left(text) == [], name
    page = (rep / "02_rct_analysis.html").read_text()
    assert "Hovedresultat (forhåndsbestemt)" in page and "Headline (pre-specified)" not in page
    assert page.index("Hovedresultat (forhåndsbestemt)") < page.index("Opphav")
    assert "parameterfil" in page and "Personene ble trukket enkeltvis" in page
    assert "Tildeling etter gruppe" in page and "Assignment by arm" not in page   # a table caption
    assert "Hovedresultat: employed_50 i måned" in page                          # a caption with fields


def test_index_pages_in_both_languages(rendered_nb):
    en = (rendered_nb / "index.html").read_text()
    nb = (rendered_nb / "index.nb.html").read_text()
    assert '<html lang="en">' in en and '<html lang="nb">' in nb
    assert 'href="index.nb.html"' in en and 'href="index.html"' in nb
    assert "Evalueringsrapporter" in nb and "Skogplott: REFINO" in nb and "prosentpoeng" in nb
    assert "<b>REFINO: resultatbasert finansiering</b>" in nb        # the programme's own title
    assert '<b><span lang="nb">REFINO: resultatbasert finansiering</span></b>' in en
    assert _english_left(_reader_text(nb)) == []
    assert re.search(r"<td[^>]*>-?\d+,\d+ \(-?\d+,\d+ til -?\d+,\d+\)</td>", nb)   # decimal comma


# ------------------------------------------------------------------------------------------
# the index: one row per arm; the few-clusters caveat; the matched design's main figure
# ------------------------------------------------------------------------------------------
def test_index_rows_one_per_arm_of_a_multi_arm_headline():
    arms = [{"term": "provider_A", "estimate": 0.03, "ci_low": -0.01, "ci_high": 0.07},
            {"term": "provider_C", "estimate": 0.19, "ci_low": 0.13, "ci_high": 0.24}]
    data = [{"programme": "unge", "title": "Unge på vei til jobb: x",
             "headline_result": {"outcome": "employed at month 12", "estimate": 0.03, "ci_low": -0.01,
                                 "ci_high": 0.07, "arms": arms}},
            {"programme": "refino", "title": "REFINO: x", "headline_result": REFINO}]
    rows = summary.index_rows(data)
    assert [r["label"] for r in rows] == [
        "Unge på vei til jobb (provider_A): employed at 12 months",
        "Unge på vei til jobb (provider_C): employed at 12 months",
        "REFINO: employed in at least a 50 % position at 24 months"]
    assert [round(r["est"], 6) for r in rows] == [3.0, 19.0, 1.6] and rows[1]["lo"] == pytest.approx(13.0)
    assert summary.index_rows(data, "nb")[1]["label"] == "Unge på vei til jobb (provider_C): i arbeid etter 12 måneder"
    fig = summary.forest_figure(rows)
    assert "provider_A" in fig and "provider_C" in fig


class _Plan:
    def __init__(self, notebook, names=("03_did_rollout",), language="en"):
        from types import SimpleNamespace as NS
        self.headline = NS(notebook=notebook, key="headline")
        self.notebooks = [NS(name=n) for n in names]
        self.data = NS(source="synthetic", scenario="x")
        self.programme = "x"
        self.disclosure = NS(threshold=5, min_analysis_n=60)
        self.language = language


def test_few_clusters_caveat_from_the_recorded_count():
    from evaluation.results import FEW_CLUSTERS
    res = {"notebooks": {"03_did_rollout": {"clusters": {"clusters": 6, "cluster": "office",
                                                         "headline_inference": "randomization"}}}}
    cav = summary.few_clusters_caveat(_Plan("03_did_rollout"), res)
    assert cav == ("6 districts (NAV offices): standard errors from so few clusters are unreliable; the "
                   "headline's interval is from randomisation inference over the adoption dates.")
    assert cav in summary.caveats(_Plan("03_did_rollout"), res)
    nb = summary.few_clusters_caveat(_Plan("03_did_rollout"), res, "nb")
    assert nb.startswith("6 bydeler (NAV-kontorer): standardfeil fra så få klynger er upålitelige")
    many = {"notebooks": {"03_did_rollout": {"clusters": {"clusters": FEW_CLUSTERS, "cluster": "office"}}}}
    assert summary.few_clusters_caveat(_Plan("03_did_rollout"), many) is None
    assert not any("clusters" in c for c in summary.caveats(_Plan("03_did_rollout"), many))
    assert summary.few_clusters_caveat(_Plan("03_did_rollout"), {"notebooks": {}}) is None


def _png_cell(alt):
    import nbformat
    c = nbformat.v4.new_code_cell("plot()")
    c.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="},
                                        metadata={"image/png": {"alt": alt}})]
    return c


def test_matched_main_figure_is_the_effect_and_overlap_is_secondary():
    import nbformat
    cells = [nbformat.v4.new_markdown_cell("## Overlap\ntext"), _png_cell("Figure: propensity overlap"),
             nbformat.v4.new_markdown_cell("## Effects at horizons (headline)\ntext"),
             _png_cell("Figure: effect by months after start")]
    nb = nbformat.v4.new_notebook(cells=cells)
    assert 'alt="Figure: effect by months after start"' in summary.main_figure(nb)
    assert 'alt="Figure: effect by months after start"' in summary.main_figure(nb, "04_matched_comparison")
    did = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Callaway–Sant'Anna group-time effects (headline)"),
        nbformat.v4.new_markdown_cell("## TWFE vs Callaway–Sant'Anna vs Sun–Abraham"), _png_cell("three methods"),
        nbformat.v4.new_markdown_cell("## Hendelsesstudie med uniforme konfidensbånd"), _png_cell("event study")])
    assert 'alt="event study"' in summary.main_figure(did, "03_did_rollout", "nb")
    plan = _Plan("04_matched_comparison", names=("04_matched_comparison",))
    sec = summary.secondary_figures(plan, {"04_matched_comparison": nb})
    assert 'alt="Figure: propensity overlap"' in sec and 'href="04_matched_comparison.html#Overlap"' in sec
    assert summary.secondary_figures(_Plan("02_rct_analysis"), {"04_matched_comparison": nb}) == ""
