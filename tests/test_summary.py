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
    assert re.search(r'<img alt="Figure: [^"]+"', page)
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
