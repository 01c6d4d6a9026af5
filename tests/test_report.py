"""Disclosure control, atomic writes and results.json recording (evaluation.report)."""
import json

import numpy as np
import pandas as pd
import pytest

from evaluation import report
from evaluation.results import Result


def test_primary_suppression_hides_small_counts_only():
    df = pd.DataFrame({"group": ["a", "b", "c"], "n": [3, 0, 120]})
    out = report.suppress_counts(df, ["n"], threshold=5)
    assert list(out["n"]) == ["<5", 0, 120]
    assert df["n"].tolist() == [3, 0, 120]  # input untouched


def test_secondary_suppression_protects_totals():
    # row a has one small cell: the smallest other cell of that row must be hidden too,
    # otherwise the row total would reveal it; then column x has one hidden cell -> hide another.
    df = pd.DataFrame({"x": [2, 40, 50], "y": [30, 60, 70]}, index=["a", "b", "c"])
    mask = report.suppression_mask(df, threshold=5)
    assert mask.to_numpy().sum() >= 2
    assert mask.loc["a", "x"] and mask.loc["a", "y"]
    # every row and column has zero or at least two hidden cells
    assert set(mask.sum(axis=0)) <= {0, 2, 3} and set(mask.sum(axis=1)) <= {0, 2}


def test_secondary_follows_the_declared_total_not_its_label():
    for label in ("total", "I alt", "Alle", "xyz"):
        df = pd.DataFrame({"arm": ["treatment", "control", label], "n": [3, 60, 63]})
        out = report.suppress_counts(df, spec=report.TableSpec(counts=["n"], sums=[report.Sum(-1)]))
        assert out["n"].tolist().count("<5") >= 2, label  # the total or the other cell too
        # a total row that is not declared is not guessed from its label
        undeclared = report.suppress_counts(df, ["n"], threshold=5)
        assert undeclared["n"].tolist() == ["<5", 60, 63]


def test_dependent_columns_hidden_with_their_count():
    df = pd.DataFrame({"arm": ["t", "c"], "n": [4, 50], "mean_earnings": [1.0, 2.0]})
    out = report.suppress_counts(df, ["n"], threshold=5, secondary=False,
                                 dependent_columns={"n": ["mean_earnings"]})
    assert out.loc[0, "mean_earnings"] == "<5" and out.loc[1, "mean_earnings"] == 2.0


def test_ids_never_published():
    df = pd.DataFrame({"person_id": ["P1", "P2"], "n": [10, 20]}).set_index("person_id")
    out = report.suppress_counts(df, ["n"])
    assert "person_id" not in out.columns and out.index.name is None
    assert not out.astype(str).apply(lambda c: c.str.contains("P1")).any().any()


def test_unknown_count_column_is_named():
    with pytest.raises(KeyError, match="nope"):
        report.suppress_counts(pd.DataFrame({"n": [1]}), ["nope"])


def test_recorder_merges_notebooks_atomically(tmp_path):
    r1 = report.Recorder(tmp_path, notebook="a")
    r1.add("itt", Result(1.5, 0.5, n=100, term="treat"), headline=True)
    r1.add("table", pd.DataFrame({"g": ["x", "y"], "n": [2, 30]}))
    r1.save()
    r2 = report.Recorder(tmp_path, notebook="b")
    r2.add("x", {"value": np.float64(2.0), "nan": float("nan")})
    r2.save()
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["notebooks"]["a"]["itt"]["estimate"] == 1.5
    assert data["notebooks"]["a"]["table"][0]["n"] == "<5"
    assert data["notebooks"]["b"]["x"] == {"value": 2.0, "nan": None}
    assert data["headline"]["a"]["key"] == "itt"
    assert not list(tmp_path.glob(".*tmp"))


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "out.txt"
    report.atomic_write_text(p, "old")

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(report.os, "replace", boom)
    with pytest.raises(OSError):
        report.atomic_write_text(p, "new")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["out.txt"]


def test_format_ci():
    assert report.format_ci(0.1234, 0.05, 0.2, digits=2, unit="pp") == "0.12 pp (0.05 to 0.20)"


def test_scan_report_finds_ids_and_small_counts(tmp_path):
    (tmp_path / "a.html").write_text(
        "<table><tr><th></th><th>arm</th><th>n</th></tr>"
        "<tr><th>0</th><td>t</td><td>3</td></tr><tr><th>1</th><td>c</td><td>&lt;5</td></tr></table>"
        "<p>P0000042 was here</p>")
    (tmp_path / "results.json").write_text(json.dumps({"x": {"persons": 2, "n": 50, "se": 1.0}}))
    found = report.scan_report(tmp_path, threshold=5, person_ids=["P0000042", "P0000043"])
    text = "\n".join(found)
    assert "1 person id(s)" in text and "P0000042" not in text
    assert "column 'n': count 3" in text
    assert ".x.persons = 2" in text
    assert len(found) == 3


def test_scan_report_clean_after_suppression(tmp_path):
    df = report.suppress_counts(pd.DataFrame({"arm": ["t", "c"], "n": [3, 50]}), ["n"])
    (tmp_path / "a.html").write_text(df.to_html())
    assert report.scan_report(tmp_path) == []


def test_publish_frame_joins_intervals_and_adds_units():
    df = pd.DataFrame({"term": ["a"], "estimate": [0.5], "ci_low": [0.1], "ci_high": [0.9],
                       "earnings": [1200.0]})
    out = report.publish_frame(df)
    assert list(out.columns) == ["term", "estimate", "95 % CI", "earnings (NOK)"]
    assert out["95 % CI"].iloc[0] == "0.100 to 0.900"   # consistent significant digits
