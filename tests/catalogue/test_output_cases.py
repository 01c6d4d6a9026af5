"""Catalogue: output safety (issue on trust, sections 2 and 6).

Staged renders (a failed, refused, interrupted or concurrent render leaves the previous complete
report untouched and says what failed and where), files of notebooks no longer in the plan
removed, the lock, notebook names, escaping in the index and the front matter, provenance of the
extracts only, and input files unchanged.  One tiny render (300 persons, one notebook) is shared
by the module; most cases replace the notebook run by a cheap stand-in so that only the staging,
gate and swap logic runs.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from evaluation import render
from evaluation.params import ROOT, ParamsError, load_params, notebook_source
from evaluation.render import RenderError, RenderInterrupted
from tests.catalogue._util import tree_hashes, unchanged


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """A tiny REFINO plan (overview notebook only) rendered once: the 'previous report'."""
    tmp = tmp_path_factory.mktemp("output_cases")
    d = yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())
    d["programme"] = "tiny"
    d["data"].update({"n_persons": 300, "folder": str(tmp / "data")})
    d["notebooks"] = [d["notebooks"][0]]
    d.pop("headline")
    d.pop("contract")
    d.pop("design", None)
    f = tmp / "tiny.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    out = tmp / "reports"
    render.render([f], out_root=out, progress=False)
    return {"file": f, "out": out, "report": out / "tiny", "data": tmp / "data", "dict": d,
            "tmp": tmp}


def _variant(plan, tmp_path, **changes) -> Path:
    d = json.loads(json.dumps(plan["dict"]))
    for k, v in changes.items():
        d[k] = v
    f = tmp_path / "tiny.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    return f


def _fake_render(pages: dict[str, str]):
    """Stand-in for the notebook run: writes the given pages and a results.json into staging."""
    def fake(stage, params_path, params, *, show_code, progress=None):
        for name, text in pages.items():
            (stage / name).write_text(text)
        (stage / "results.json").write_text(json.dumps({"programme": params.programme,
                                                        "provenance": {}, "notebooks": {}}))
        return render.RenderResult(str(params_path), params.programme, str(stage),
                                   notebooks=[n.removesuffix(".html") for n in pages])
    return fake


def _no_staging_left(out: Path):
    staging = out / render.STAGING
    assert not staging.exists() or not any(staging.iterdir()), list(staging.iterdir())


# -- staged renders -----------------------------------------------------------------------------
def test_complete_render_is_published_and_staging_removed(plan):
    rep = plan["report"]
    assert {p.name for p in rep.iterdir()} == {"01_panel_overview.ipynb", "01_panel_overview.html",
                                               "results.json", "index.html"}   # index = summary page
    _no_staging_left(plan["out"])
    assert ".staging" not in (rep / "01_panel_overview.html").read_text()
    assert "tiny/01_panel_overview.html" in (plan["out"] / "index.html").read_text()


def test_failing_notebook_leaves_the_previous_report_untouched(plan, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "FAILED_ROOT", tmp_path / "failed")
    opts = {"group": "arm", "outcomes": ["person_id"]}       # a panel column, but not an outcome
    f = _variant(plan, tmp_path, notebooks=[{"name": "01_panel_overview", "options": opts}])
    with unchanged(plan["report"], plan["data"], f), pytest.raises(RenderError) as e:
        render.render_one(f, out_root=plan["out"])
    msg = str(e.value)
    assert "01_panel_overview" in msg and "outcome_means" in msg and "untouched" in msg
    kept = list((tmp_path / "failed").glob("tiny-*/01_panel_overview.failed.ipynb"))
    assert len(kept) == 1 and str(kept[0]) in msg and "private" in msg
    assert (kept[0].parent.stat().st_mode & 0o077) == 0            # private folder
    assert not list(plan["out"].rglob("*.failed.ipynb"))           # nothing failed in the reports
    _no_staging_left(plan["out"])


def test_files_of_notebooks_no_longer_in_the_plan_are_removed(plan, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    (out / "tiny").mkdir(parents=True)
    (out / "tiny" / "02_rct_analysis.html").write_text("old page")
    monkeypatch.setattr(render, "_render_into", _fake_render({"01_panel_overview.html": "<p>new</p>"}))
    with unchanged(plan["file"], plan["data"]):
        render.render_one(plan["file"], out_root=out)
    assert sorted(p.name for p in (out / "tiny").iterdir()) == ["01_panel_overview.html", "results.json"]
    _no_staging_left(out)


def test_gate_finding_refuses_the_report(plan, tmp_path, monkeypatch):
    import pandas as pd
    monkeypatch.setattr(render, "FAILED_ROOT", tmp_path / "failed")
    pid = str(pd.read_parquet(plan["data"] / "persons.parquet")["person_id"].iloc[0])
    monkeypatch.setattr(render, "_render_into", _fake_render({"01_panel_overview.html": f"<p>{pid}</p>"}))
    with unchanged(plan["report"], plan["data"], plan["file"]), pytest.raises(RenderError) as e:
        render.render_one(plan["file"], out_root=plan["out"])
    assert "disclosure scan refused" in str(e.value) and "person id" in str(e.value)
    assert pid not in str(e.value)                         # the message never quotes the ids
    kept = next((tmp_path / "failed").glob("tiny-*/refused-report"))
    assert str(kept) in str(e.value) and (kept.parent.stat().st_mode & 0o077) == 0
    _no_staging_left(plan["out"])


def test_gate_fails_closed_when_it_cannot_check(plan, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()                                  # extracts without persons: ids unknown
    f = _variant(plan, tmp_path, data={**plan["dict"]["data"], "source": "extracts",
                                       "folder": str(data)})
    monkeypatch.setattr(render, "_render_into", _fake_render({"01_panel_overview.html": "<p>ok</p>"}))
    with unchanged(plan["report"], data, f), pytest.raises(RenderError, match="cannot check the report"):
        render.render_one(f, out_root=plan["out"])
    _no_staging_left(plan["out"])


def test_failed_swap_keeps_the_previous_report(plan, monkeypatch):
    monkeypatch.setattr(render, "_render_into", _fake_render({"01_panel_overview.html": "<p>x</p>"}))

    def broken(stage, out_dir):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(render, "_swap", broken)
    with unchanged(plan["report"], plan["data"]), pytest.raises(OSError):
        render.render_one(plan["file"], out_root=plan["out"])
    _no_staging_left(plan["out"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_render_keeps_the_previous_report(plan, monkeypatch, sig):
    def interrupted(stage, *a, **k):
        (stage / "01_panel_overview.html").write_text("half")
        os.kill(os.getpid(), sig)
        time.sleep(5)                             # the handler raises before this ends
        raise AssertionError("signal not turned into an interruption")
    monkeypatch.setattr(render, "_render_into", interrupted)
    with unchanged(plan["report"], plan["data"]), pytest.raises(RenderInterrupted) as e:
        render.render_one(plan["file"], out_root=plan["out"])
    assert sig.name in str(e.value) and "untouched" in str(e.value)
    _no_staging_left(plan["out"])
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or sig == signal.SIGINT


def _kernels_marked(mark: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if mark.encode() in (p / "environ").read_bytes():
                    pids.append(int(p.name))
            except OSError:
                continue
    return pids


def test_sigterm_of_a_real_render_leaves_report_and_no_kernel(plan, tmp_path):
    mark = f"EVAL_TEST_MARK={uuid.uuid4().hex}"
    env = {**os.environ, mark.split("=")[0]: mark.split("=")[1]}
    before = tree_hashes(plan["report"], plan["data"])
    proc = subprocess.Popen([sys.executable, "-m", "evaluation", "render", str(plan["file"]),
                             "--out", str(plan["out"]), "--no-progress"], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not any(
            pid != proc.pid for pid in _kernels_marked(mark.split("=")[1])):
        time.sleep(0.1)                           # wait until a kernel runs
    time.sleep(0.3)                               # mid-render: the kernel is starting or executing
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "SIGTERM" in err and "untouched" in err
    assert tree_hashes(plan["report"], plan["data"]) == before
    time.sleep(0.5)
    assert _kernels_marked(mark.split("=")[1]) == [], "a kernel survived the interrupted render"
    _no_staging_left(plan["out"])


def test_concurrent_render_of_the_same_programme_is_refused(plan):
    code = ("import sys, time; from pathlib import Path; from evaluation import render\n"
            "with render.programme_lock(Path(sys.argv[1]), 'tiny'):\n"
            "    print('locked', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(plan["out"])], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with unchanged(plan["report"], plan["data"]), pytest.raises(RenderError) as e:
            render.render_one(plan["file"], out_root=plan["out"])
        assert "another render of 'tiny'" in str(e.value) and f"pid {holder.pid}" in str(e.value)
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_released_after_a_failed_render(plan, monkeypatch):
    monkeypatch.setattr(render, "_render_into", _fake_render({"x.html": "<p>ok</p>"}))
    monkeypatch.setattr(render, "_swap", lambda s, o: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        render.render_one(plan["file"], out_root=plan["out"])
    with render.programme_lock(plan["out"], "tiny"):    # free again
        pass


def test_leftover_staging_of_a_killed_render_is_cleared(plan, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    stale = out / render.STAGING / "tiny-killed"
    stale.mkdir(parents=True)
    (stale / "01_panel_overview.html").write_text("half-written")
    monkeypatch.setattr(render, "_render_into", _fake_render({"01_panel_overview.html": "<p>new</p>"}))
    render.render_one(plan["file"], out_root=out)
    assert not stale.exists() and (out / "tiny" / "01_panel_overview.html").read_text() == "<p>new</p>"


def test_half_swapped_report_is_restored(plan, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    prev = out / render.STAGING / "tiny.previous"          # a crash between the two renames
    prev.mkdir(parents=True)
    (prev / "results.json").write_text("{}")
    monkeypatch.setattr(render, "_render_into", lambda *a, **k: (_ for _ in ()).throw(
        RenderError("notebook failed")))
    with pytest.raises(RenderError):
        render.render_one(plan["file"], out_root=out)
    assert (out / "tiny" / "results.json").read_text() == "{}"


def test_index_ignores_staging_folders(plan, tmp_path):
    out = tmp_path / "reports"
    for folder in ("real", ".staging/real-x"):
        (out / folder).mkdir(parents=True)
        (out / folder / "results.json").write_text(json.dumps({"programme": folder.split("/")[-1],
                                                               "title": folder, "notebooks": {}}))
    page = render.write_index(out).read_text()
    assert "real-x" not in page and "<b>real</b>" in page
    assert [p.parent.name for p in render.report_results(out)] == ["real"]


# -- escaping ------------------------------------------------------------------------------------
HOSTILE = "<img src=x onerror=alert(1)>"


def test_index_escapes_titles_and_labels(tmp_path):
    rep = tmp_path / "evil"
    rep.mkdir()
    est = {"estimate": 1.0, "ci_low": 0.0, "ci_high": 2.0, "n": 100, "outcome": HOSTILE}
    (rep / "results.json").write_text(json.dumps({
        "programme": "evil", "title": HOSTILE, "provenance": {"rendered_at": HOSTILE},
        "notebooks": {"01_x": {"k": est}}}))
    page = render.write_index(tmp_path).read_text()
    assert "<img" not in page and "&lt;img" in page


def test_front_matter_escapes_title_description_and_headline(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Section")])
    prov = {"params_file": "p.yaml", "params_sha256": "0" * 64, "data_folder": "d",
            "data_sha256": {"persons.parquet": "1" * 64}, "package_version": "0",
            "python": "3", "git_commit": "abc", "rendered_at": "now"}
    head = {"notebook": "02_x", "key": "headline", "estimate": 1.0, "ci_low": 0.0, "ci_high": 2.0,
            "outcome": HOSTILE, "method": "[click](javascript:alert(1))"}
    out = render.export_html(nb, tmp_path / "p.html", prov=prov, title=HOSTILE,
                             description="<script>alert(1)</script> **x**", headline=head)
    page = out.read_text()
    assert "<img src=x" not in page and "<script>alert(1)" not in page
    assert 'href="javascript:' not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


# -- inputs, names, provenance ---------------------------------------------------------------
def test_provenance_hashes_only_the_extracts(plan, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("persons.parquet", "employment.csv", "notes.txt", "truth.parquet", ".marker",
                 "secret.parquet"):
        (data / name).write_text(name)
    (data / "benefits").mkdir()                      # an extract as a folder of parquet parts
    (data / "benefits" / "part-00000.parquet").write_text("part")
    (data / "benefits" / "notes.txt").write_text("not a part")
    (data / "private").mkdir()
    (data / "private" / "x.parquet").write_text("not an extract")
    with unchanged(data):
        hashes = render.data_hashes(data)
    assert sorted(hashes) == ["benefits/part-00000.parquet", "employment.csv", "persons.parquet"]


def test_extracts_source_never_generates(plan, tmp_path):
    data = tmp_path / "user_extracts"
    data.mkdir()
    (data / "README.txt").write_text("my own folder")
    f = _variant(plan, tmp_path, data={"source": "extracts", "folder": str(data)})
    with unchanged(data, f):
        assert render.ensure_data(load_params(f), force=True) == data
    missing = _variant(plan, tmp_path, data={"source": "extracts", "folder": str(tmp_path / "nope")})
    with pytest.raises(RenderError, match="does not exist"):
        render.ensure_data(load_params(missing))
    assert not (tmp_path / "nope").exists()


def test_generator_refusal_becomes_a_clear_render_error(plan, tmp_path, monkeypatch):
    import evaluation.synthetic as synthetic
    folder = tmp_path / "someone_elses"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n")

    def refuse(*a, **k):
        raise ValueError(f"{folder} was not created by the generator; refusing to write there")
    monkeypatch.setattr(synthetic, "ensure", refuse)
    f = _variant(plan, tmp_path, data={**plan["dict"]["data"], "folder": str(folder)})
    with unchanged(folder, f), pytest.raises(RenderError, match="cannot write the synthetic extracts"):
        render.ensure_data(load_params(f), force=True)


@pytest.mark.parametrize("name", ["../../somewhere/evil", "../params/refino"])
def test_notebook_outside_notebooks_is_never_loaded(name):
    with pytest.raises(ValueError, match="not a plain name"):
        notebook_source(name)
    with pytest.raises(ValueError, match="not a plain name"):
        render.load_notebook(name)


def test_render_refuses_a_bad_plan_before_touching_anything(plan, tmp_path):
    d = dict(plan["dict"], notebooks=[{"name": "01_panel_overview",
                                       "options": {"outcomes": ["employd"]}}])
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(d))
    with unchanged(plan["report"], plan["data"], f), pytest.raises((ParamsError, RenderError)):
        render.render([f], out_root=plan["out"], progress=False)


def test_report_path_that_is_a_file_is_refused(plan, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "tiny").write_text("someone's file")
    monkeypatch.setattr(render, "_render_into", _fake_render({"01_panel_overview.html": "<p>x</p>"}))
    with unchanged(out / "tiny", plan["data"]), pytest.raises(RenderError, match="is not a folder"):
        render.render_one(plan["file"], out_root=out)
    _no_staging_left(out)


def test_check_of_a_folder_that_is_not_a_report(tmp_path):
    folder = tmp_path / "not_a_report"
    folder.mkdir()
    (folder / "page.html").write_text("<p>1</p>")
    with unchanged(folder), pytest.raises(RenderError, match="not a rendered report"):
        render.check(folder)


def test_check_with_a_missing_parameter_file_says_so(plan, tmp_path):
    import shutil
    rep = tmp_path / "tiny"
    shutil.copytree(plan["report"], rep)
    with unchanged(rep), pytest.raises(ParamsError, match="does not exist"):
        render.check(rep, params_path=tmp_path / "gone.yaml")
