"""Built panels are reused from the cache (outside the data folder) until an extract changes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from evaluation.panel import load_panel
from tests.catalogue._util import unchanged

DATA = Path(__file__).resolve().parent.parent / "data" / "panel"
WINDOW = ("2020-01", "2020-12")


def test_second_load_comes_from_the_cache_and_a_changed_file_rebuilds(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALUATION_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "extracts"
    shutil.copytree(DATA, folder)
    with unchanged(folder):
        a = load_panel(folder, window=WINDOW)
        b = load_panel(folder, window=WINDOW)
    assert a.store.folder == b.store.folder
    assert str(a.store.folder).startswith(str(tmp_path / "cache"))
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.flow, b.flow)
    assert [str(p) for p in a.report.warnings] == [str(p) for p in b.report.warnings]
    with open(folder / "education.csv", "a") as fh:
        fh.write("P1,2020-05-01\n")
    c = load_panel(folder, window=WINDOW)
    assert c.store.folder != a.store.folder
    assert c.data.loc[(c.data["person_id"] == "P1") & (c.data["month"] == "2020-05-01"), "in_education"].all()


def test_cache_off_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALUATION_CACHE", "off")
    monkeypatch.setenv("EVALUATION_WORK", str(tmp_path / "work"))
    p = load_panel(DATA, window=WINDOW)
    folder = p.store.folder
    assert folder.parent == tmp_path / "work" and folder.exists()
    del p
    import gc
    gc.collect()
    assert not folder.exists()
