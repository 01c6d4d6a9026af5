"""Notebooks are reviewable: paired .py/.ipynb in sync, thin, key cells output-checked by nbval."""
import json
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _code(nb):
    return [c.source.strip() for c in nb.cells if c.cell_type == "code"
            and "injected-parameters" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_paired_ipynb_matches_source(src):
    ipynb = src.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} missing: run `python -m evaluation notebooks {src.stem}`"
    assert _code(jupytext.read(src)) == _code(jupytext.read(ipynb)), (
        f"{ipynb.name} is out of date with {src.name}: run `python -m evaluation notebooks {src.stem}`")


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_notebook_has_parameters_and_checked_key_results(src):
    nb = jupytext.read(src)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line}
    assert names == {"programme", "data_dir", "output_dir", "disclosure_threshold", "disclosure", "language",
                     "seed", "options"}
    checked = [c for c in nb.cells if "NBVAL_CHECK_OUTPUT" in c.source]
    assert checked, "no key-result cell marked # NBVAL_CHECK_OUTPUT"
    stored = jupytext.read(src.with_suffix(".ipynb"))
    outs = [c for c in stored.cells if "NBVAL_CHECK_OUTPUT" in c.source]
    assert all(c.outputs for c in outs), "checked cell has no stored output to compare against"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_notebooks_are_thin(src):
    """No estimator logic in notebooks: no function or class definitions, short code cells
    (at most 25 statements besides imports and comments)."""
    for cell in jupytext.read(src).cells:
        if cell.cell_type != "code":
            continue
        assert "def " not in cell.source and "class " not in cell.source, cell.source[:200]
        body = [line for line in cell.source.splitlines()
                if line.strip() and not line.startswith(("import ", "from ", "#"))]
        assert len(body) <= 25, f"long cell in {src.name}: {cell.source[:120]}"


def test_nbval_fails_when_a_key_number_changes(tmp_path):
    """The output check is real: a tampered stored number makes nbval fail."""
    src = ROOT / "notebooks" / "01_panel_overview.ipynb"
    nb = json.loads(src.read_text())
    for cell in nb["cells"]:
        if "NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            text = "".join(cell["outputs"][0]["text"])
            cell["outputs"][0]["text"] = text.replace("persons: ", "persons: 9", 1)
    bad = tmp_path / "tampered.ipynb"
    bad.write_text(json.dumps(nb))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), str(bad)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0, r.stdout[-2000:]
    assert "persons: 9" in r.stdout or "mismatch" in r.stdout.lower()


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_notebooks_ask_for_analysis_frames_not_the_whole_panel(src):
    """The panel stays on disk: a notebook asks for the frame it needs (panel.person_frame,
    person_period, aggregate, persons) and checks columns with panel.columns, never
    panel.data (the whole person-month panel in pandas, refused above DATA_ROW_LIMIT)."""
    import re
    uses = [line.strip() for line in src.read_text(encoding="utf-8").splitlines()
            if re.search(r"\bpanel\.data\b", line)]
    assert not uses, f"{src.name} reads the whole panel: {uses}"
