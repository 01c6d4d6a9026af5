"""Render every params/*.yaml from the checkout: reports, index, disclosure scan, parallel = serial.

This is the suite's end-to-end check (issue 2 and 7): the same command ``make report`` runs.
"""
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from evaluation import i18n, render
from evaluation.params import ROOT, load_params
from evaluation.report import scan_report

PARAMS = sorted((ROOT / "params").glob("*.yaml"))


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    out = tmp_path_factory.mktemp("parallel")
    render.render([ROOT / "params"], out_root=out, jobs=2, progress=False)
    return out


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    render.render([ROOT / "params"], out_root=out, jobs=1, progress=False)
    return out


def test_every_programme_has_a_report_and_the_index_links_it(parallel):
    index = (parallel / "index.html").read_text()
    for f in PARAMS:
        p = load_params(f)
        rep = parallel / p.programme
        for nb in p.notebooks:
            assert (rep / f"{nb.name}.html").exists(), f"{p.programme}/{nb.name}.html missing"
            page = (rep / f"{nb.name}.html").read_text()
            # every page opens with the pre-specified headline, then provenance, in its language
            head, prov = (i18n.t("headline_pre", p.language), i18n.t("provenance", p.language))
            assert page.index(head) < page.index(prov), f"{p.programme}/{nb.name}.html ({p.language})"
            if p.language != "en":
                assert "Headline (pre-specified)" not in page and ">Provenance<" not in page
            assert f'href="{p.programme}/{nb.name}.html"' in index
        res = json.loads((rep / "results.json").read_text())
        assert res["headline_result"]["estimate"] is not None
    table = render.collect_results(parallel)
    assert set(table.loc[table.headline, "programme"]) == {f.stem for f in PARAMS}
    nb_index = (parallel / "index.nb.html").read_text()
    assert "Evalueringsrapporter" in nb_index and 'href="index.html"' in nb_index


def test_bokmaal_programmes_render_their_summary_page_in_bokmaal(parallel):
    """alna_aktiv and bjerke_effektkontrakt (language: nb): the summary sentence, sections and
    caveats in bokmål; the matched design's main figure is the effect, overlap is secondary."""
    for f in PARAMS:
        p = load_params(f)
        page = (parallel / p.programme / "index.html").read_text()
        assert f'<html lang="{p.language}">' in page
        if p.language == "nb":
            assert "KI" in page and "Forbehold" in page and "Pre-specified headline result" not in page
        if p.headline.notebook == "03_did_rollout":        # few districts: said, with their number
            assert re.search(r"\d+ (bydeler \(NAV-kontorer\): standardfeil|districts \(NAV offices\): "
                             r"standard errors)", page)
        if p.headline.notebook == "04_matched_comparison":
            assert "Overlap" in page and "04_matched_comparison.html#" in page


def test_no_person_ids_or_small_counts_in_any_report(parallel):
    for f in PARAMS:
        p = load_params(f)
        ids = pd.read_parquet(p.data_folder / "persons.parquet", columns=["person_id"])["person_id"]
        found = scan_report(parallel / p.programme, threshold=p.disclosure_threshold,
                            person_ids=ids.astype(str))
        assert found == [], "\n".join(found[:20])


def test_no_suppressed_cell_recoverable_in_any_table(parallel):
    """Every table the gate published in every report: no hidden cell can be solved for from the
    published cells and the declared structure (LP bounds, tests/disclosure_audit.py)."""
    from disclosure_audit import audit_folder
    n, found = audit_folder(parallel)
    print(f"recovery audit: {n} published tables")
    assert n >= 50, f"only {n} gate tables found in the rendered reports"
    assert found == [], "\n".join(found[:20])


def _numbers(path):
    data = json.loads(path.read_text())
    return render._numbers({k: data.get(k) for k in ("notebooks", "headline_result")})


def test_parallel_render_gives_the_same_results_as_serial(parallel, serial):
    for f in PARAMS:
        name = load_params(f).programme
        a, b = _numbers(parallel / name / "results.json"), _numbers(serial / name / "results.json")
        assert a.keys() == b.keys()
        diff = [k for k in a if abs(a[k] - b[k]) > 1e-9 + 1e-9 * abs(a[k])]
        assert not diff, f"{name}: {diff[:10]}"
