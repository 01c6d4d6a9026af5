"""Catalogue: generating synthetic data never touches a user's folder (issue 10 §4).

Generated data go only into a folder the generator created (marker ``.evaluation-synthetic``) or
a new/empty one; a folder holding anything else is refused before anything is written, with or
without ``--force``; ``source: extracts`` never generates.  Each case asserts the clear error
(naming the folder and the fix) and that every user file is byte-identical afterwards.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from evaluation import cli, synthetic
from evaluation.params import ROOT, load_params
from evaluation.render import RenderError, ensure_data
from tests.catalogue._util import unchanged

PANEL_DATA = Path(__file__).resolve().parent.parent / "data" / "panel"
SMALL = {"n_persons": 60, "n_months": 12}


@pytest.fixture
def user_folder(tmp_path):
    """A user's folder of register extracts (csv), as an evaluator would have it."""
    f = tmp_path / "extracts"
    shutil.copytree(PANEL_DATA, f)
    return f


def _params(tmp_path: Path, **data) -> Path:
    d = yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())
    d["programme"] = "refino_case"
    d["data"].update(data)
    f = tmp_path / "refino_case.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    return f


def _refused(exc, folder: Path):
    msg = str(exc.value)
    assert str(folder) in msg and "Fix:" in msg and "new folder" in msg, msg
    return msg


# ------------------------------------------------------------------ the Python API ------
def test_generate_to_refuses_a_folder_of_extracts(user_folder):
    with unchanged(user_folder):
        with pytest.raises(synthetic.UnsafeFolderError) as exc:
            synthetic.generate_to(user_folder, "refino", **SMALL)
    msg = _refused(exc, user_folder)
    assert "assignment.csv" in msg and "3 more" in msg   # names what is there


def test_overwrite_does_not_make_a_user_folder_writable(user_folder):
    with unchanged(user_folder):
        with pytest.raises(synthetic.UnsafeFolderError) as exc:
            synthetic.generate_to(user_folder, "refino", overwrite=True, **SMALL)
    _refused(exc, user_folder)


def test_write_of_generated_data_refuses_a_user_folder(user_folder):
    data = synthetic.generate("refino", **SMALL)
    with unchanged(user_folder):
        with pytest.raises(synthetic.UnsafeFolderError) as exc:
            data.write(user_folder, overwrite=True)
    _refused(exc, user_folder)


def test_ensure_with_force_refuses_a_user_folder(user_folder):
    with unchanged(user_folder):
        with pytest.raises(synthetic.UnsafeFolderError) as exc:
            synthetic.ensure(user_folder, "refino", force=True, **SMALL)
    _refused(exc, user_folder)


def test_a_single_hidden_file_is_another_file(tmp_path):
    f = tmp_path / "looks_empty"
    f.mkdir()
    (f / ".notes").write_text("my notes\n")
    with unchanged(f):
        with pytest.raises(synthetic.UnsafeFolderError) as exc:
            synthetic.generate_to(f, "refino", **SMALL)
    assert ".notes" in _refused(exc, f)


def test_generated_looking_folder_with_a_user_file_is_refused(tmp_path):
    """A folder written by an old generator version, to which a user added a file."""
    f = tmp_path / "old"
    synthetic.generate("refino", **SMALL).write(f)
    (f / synthetic.MARKER).unlink()                     # as the generator wrote it before markers
    (f / "analysis_notes.txt").write_text("do not delete\n")
    with unchanged(f):
        with pytest.raises(synthetic.UnsafeFolderError) as exc:
            synthetic.ensure(f, "refino", force=True, **SMALL)
    assert "analysis_notes.txt" in _refused(exc, f)


def test_folder_path_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "extracts.parquet"
    f.write_bytes(b"PAR1 user data")
    with unchanged(f):
        with pytest.raises(synthetic.UnsafeFolderError, match="is a file, not a folder") as exc:
            synthetic.generate_to(f, "refino", **SMALL)
    assert "Fix:" in str(exc.value)


def test_new_subfolder_leaves_the_parents_files_alone(user_folder):
    """Creating a new folder inside a user's folder is allowed; their files stay as they were."""
    files = sorted(p for p in user_folder.iterdir() if p.is_file())
    with unchanged(*files):
        out = synthetic.generate_to(user_folder / "synthetic", "refino", **SMALL)
    assert (out / synthetic.MARKER).is_file()
    assert sorted(p.name for p in user_folder.iterdir()) == sorted([p.name for p in files] + ["synthetic"])


def test_interrupted_generation_keeps_the_previous_data(tmp_path, monkeypatch):
    f = synthetic.generate_to(tmp_path / "syn", "refino", **SMALL)
    import evaluation.synthetic._generate as gen

    def boom(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(gen, "block_extracts", boom)
    with unchanged(f):
        with pytest.raises(KeyboardInterrupt):
            synthetic.generate_to(f, "refino", overwrite=True, seed=9, **SMALL)
    assert not list(f.glob(".staging-*"))


# ------------------------------------------------------------ parameter files and CLI ------
def test_source_extracts_never_generates_even_with_force(tmp_path, user_folder):
    p = load_params(_params(tmp_path, source="extracts", folder=str(user_folder)))
    with unchanged(user_folder):
        assert ensure_data(p, force=True) == user_folder
    assert not (user_folder / synthetic.MARKER).exists()


def test_source_synthetic_pointing_at_a_user_folder_is_a_render_error(tmp_path, user_folder):
    p = load_params(_params(tmp_path, source="synthetic", scenario="refino", folder=str(user_folder)))
    for force in (False, True):
        with unchanged(user_folder):
            with pytest.raises(RenderError) as exc:
                ensure_data(p, force=force)
        assert str(user_folder) in str(exc.value) and "data.source: extracts" in str(exc.value)


def test_cli_generate_force_refuses_a_user_folder(tmp_path, user_folder, capsys):
    f = _params(tmp_path, source="synthetic", scenario="refino", folder=str(user_folder), n_persons=60)
    with unchanged(user_folder, f):
        assert cli.main(["generate", str(f), "--force"]) == 2
    err = capsys.readouterr().err
    assert str(user_folder) in err and "Fix:" in err and "Traceback" not in err


def test_cli_generate_with_source_extracts_writes_nothing(tmp_path, user_folder, capsys):
    f = _params(tmp_path, source="extracts", folder=str(user_folder))
    with unchanged(user_folder, f):
        assert cli.main(["generate", str(f), "--force"]) == 0
    assert str(user_folder) in capsys.readouterr().out


def test_marker_records_what_was_generated(tmp_path):
    f = synthetic.generate_to(tmp_path / "syn", "refino", seed=4, **SMALL)
    mk = json.loads((f / synthetic.MARKER).read_text())
    assert mk["complete"] is True and mk["generator"] == "evaluation.synthetic"
    assert {k: mk[k] for k in ("scenario", "seed", "n_persons", "n_months")} == {
        "scenario": "refino", "seed": 4, "n_persons": 60, "n_months": 12}
