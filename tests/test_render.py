"""Rendering parameter files into reports (evaluation.render, python -m evaluation)."""
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from evaluation import render
from evaluation.params import ROOT


@pytest.fixture(scope="module")
def small_params(tmp_path_factory):
    """A small REFINO parameter file rendering only the overview notebook."""
    tmp = tmp_path_factory.mktemp("render")
    d = yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())
    d["programme"] = "refino_small"
    d["data"].update({"n_persons": 400, "folder": str(tmp / "data")})
    d["notebooks"] = [d["notebooks"][0]]
    d.pop("headline", None)
    d.pop("contract", None)
    d.pop("design", None)
    f = tmp / "refino_small.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    return f


@pytest.fixture(scope="module")
def rendered(small_params, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    render.render([small_params], out_root=out, progress=False)
    return out


def test_render_writes_notebook_html_results_and_index(rendered):
    rep = rendered / "refino_small"
    assert (rep / "01_panel_overview.ipynb").exists()
    html = (rep / "01_panel_overview.html").read_text()
    assert "Provenance" in html and "sha256" in html
    assert "import evaluation" not in html          # code hidden by default
    assert "data:image/png;base64" in html          # figures embedded
    res = json.loads((rep / "results.json").read_text())
    assert res["provenance"]["params_sha256"]
    assert res["notebooks"]["01_panel_overview"]["panel_size"]["persons"] == 400
    assert (rendered / "index.html").exists()


def test_no_person_ids_in_report(rendered):
    rep = rendered / "refino_small"
    for f in [*rep.glob("*.html"), rep / "results.json"]:
        text = f.read_text()
        assert "person_id" not in text or f.suffix == ".json" and '"person_id"' not in text
        import re
        assert not re.search(r"\bP\d{5,}\b", text), f"person id in {f.name}"


def test_failing_notebook_names_cell_and_error(small_params, tmp_path):
    d = yaml.safe_load(small_params.read_text())
    d["notebooks"][0]["options"]["outcomes"] = ["person_id"]   # a column, but not an outcome
    f = tmp_path / "broken.yaml"
    f.write_text(yaml.safe_dump(d))
    with pytest.raises(render.RenderError) as e:
        render.render([f], out_root=tmp_path / "out", progress=False, index=False)
    msg = str(e.value)
    assert "01_panel_overview" in msg and "Error" in msg
    assert "cell" in msg and "outcome_means" in msg  # the failing cell's source is shown
    assert "private" in msg and not (tmp_path / "out" / "refino_small").exists()


def test_unknown_key_refused_before_anything_runs(small_params, tmp_path):
    d = yaml.safe_load(small_params.read_text())
    d["notebook"] = []
    f = tmp_path / "typo.yaml"
    f.write_text(yaml.safe_dump(d))
    with pytest.raises(render.RenderError, match="unknown key 'notebook'"):
        render.render([f], out_root=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_check_passes_untouched_and_names_changes(rendered, small_params, tmp_path):
    rep = rendered / "refino_small"
    ok = render.check(rep, params_path=small_params)
    assert ok.ok, str(ok)
    # change a data file: check fails and names it
    data = Path(yaml.safe_load(small_params.read_text())["data"]["folder"])
    backup = tmp_path / "employment.parquet"
    shutil.copyfile(data / "employment.parquet", backup)
    try:
        import pandas as pd
        emp = pd.read_parquet(backup)
        emp = emp.iloc[: len(emp) // 2]
        emp.to_parquet(data / "employment.parquet")
        bad = render.check(rep, params_path=small_params)
        assert not bad.ok
        text = str(bad)
        assert "employment.parquet" in text and "differ" in text
    finally:
        shutil.copyfile(backup, data / "employment.parquet")


def test_cli_render_and_errors(small_params, tmp_path, capsys):
    from evaluation.cli import main
    assert main(["render", str(tmp_path / "missing.yaml")]) == 2
    assert "no such parameter file" in capsys.readouterr().err


def test_check_names_a_changed_parameter_and_the_numbers(rendered, small_params, tmp_path):
    d = yaml.safe_load(small_params.read_text())
    d["notebooks"][0]["options"]["outcomes"] = ["employed", "in_education"]
    changed = tmp_path / "refino_small.yaml"
    changed.write_text(yaml.safe_dump(d, sort_keys=False))
    res = render.check(rendered / "refino_small", params_path=changed)
    text = str(res)
    assert not res.ok
    assert "parameter file" in text and "changed" in text
    assert "outcome_means" in text          # the differing numbers are named by their path


def test_index_table_has_one_row_per_arm_and_marks_the_headline(tmp_path):
    rep = tmp_path / "trial"
    rep.mkdir()
    arms = [{"term": a, "estimate": e, "ci_low": e - 1, "ci_high": e + 1, "n": 40}
            for a, e in (("provider_A", 0.5), ("provider_B", 2.0))]
    head = {"estimate": 0.5, "ci_low": -0.5, "ci_high": 1.5, "n": 40, "arms": arms,
            "outcome": "employed at month 12"}
    (rep / "results.json").write_text(json.dumps({
        "programme": "trial", "title": "T", "provenance": {},
        "notebooks": {"02_rct_analysis": {"headline": head, "other": {"estimate": 1.0, "ci_low": 0,
                                                                      "ci_high": 2, "n": 3},
                                          "no_n": {"estimate": 1.0, "ci_low": 0, "ci_high": 2}}},
        "headline_result": {"notebook": "02_rct_analysis", "key": "headline", **head}}))
    t = render.collect_results(tmp_path)
    assert t["outcome"].tolist()[:2] == ["employed at month 12: provider_A",
                                         "employed at month 12: provider_B"]
    assert t["headline"].tolist() == [True, True, False, False]
    page = render.write_index(tmp_path).read_text()
    assert "★" in page and "provider_B" in page
    assert ">3<" not in page          # n = 3 is below the disclosure threshold: suppressed
    assert "&lt;5" in page and ">nan<" not in page and "<td>–</td>" in page   # no n recorded: a dash
    text = render.headline_text({"notebook": "02_rct_analysis", "key": "headline", **head})
    assert "provider_A" in text and "provider_B" in text


def test_warnings_become_notes_without_kernel_paths():
    text = ("/tmp/ipykernel_41/3361.py:2: MissingDataWarning: 64 persons excluded\n"
            "  cum = rct.cumulative_effects(data)\nplain line\n")
    out = render.tidy_stderr(text)
    assert out == "Note (MissingDataWarning): 64 persons excluded\nplain line\n"


def test_compare_pages_names_page_section_table_and_row():
    page = ("<h2>Balance</h2><table><caption>Balance of covariates</caption>"
            "<tr><th>covariate</th><th>smd</th></tr><tr><th>age</th><td>{}</td></tr></table>"
            "<p>Headline: {}</p><img src='data:image/png;base64,AA'>")
    same = render.compare_pages(page.format("0.0123", "employed"), page.format("0.0123", "employed"),
                                page="p.html")
    assert same == []
    diff = render.compare_pages(page.format("0.0123", "employed"), page.format("0.0124", "employed_50"),
                                page="p.html")
    assert any("section 'Balance'" in d and "table 'Balance of covariates'" in d and "row 'age'" in d
               and "'0.0123'" in d and "'0.0124'" in d for d in diff), diff
    assert any("'Headline: employed'" in d for d in diff), diff


def test_check_names_a_tampered_page_number_label_and_provenance(rendered, small_params, tmp_path):
    rep = tmp_path / "refino_small"
    shutil.copytree(rendered / "refino_small", rep)
    page = rep / "01_panel_overview.html"
    text = page.read_text()
    shown = [t for w, t in render._PageText(text).pieces if t.isdigit() and len(t) >= 3]
    text = text.replace(f">{shown[0]}<", f">{int(shown[0]) + 1}<", 1)
    res = json.loads((rep / "results.json").read_text())
    commit = res["provenance"]["git_commit"]
    page.write_text(text.replace(commit, "f" * 12))
    labels = [(k, v) for k, v in render._leaves(res["notebooks"]).items() if isinstance(v, str)]
    key = labels[0][0]
    node = res["notebooks"]
    parts = re.split(r"\.(?![^\[]*\])|\[(\d+)\]", key)
    path = [p for p in parts if p]
    for p in path[:-1]:
        node = node[int(p)] if p.isdigit() and isinstance(node, list) else node[p]
    last = path[-1]
    node[int(last) if isinstance(node, list) else last] = "tampered label"
    (rep / "results.json").write_text(json.dumps(res))
    out = render.check(rep, params_path=small_params)
    text = str(out)
    assert not out.ok
    assert f"shown '{shown[0]}', re-run gives" in text or f"'{shown[0]}'" in text, text
    assert "tampered label" in text and key in text, text
    assert "provenance block does not state" in text and "git commit" in text, text
