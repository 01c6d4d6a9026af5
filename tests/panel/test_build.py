"""The person-months built in buckets of persons (DuckDB) and stored without repeating person columns.

A build whose person-months exceed ``memory_limit / BUCKET_ROW_BYTES`` cuts the persons into
buckets, each one query writing its own sorted part file; the panel must be the same, row for
row, as the one-query build.  The panel files hold the person-month columns only; the person
columns of the layout are joined from the person table when frames are read.
"""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest

from evaluation import synthetic
from evaluation.panel import build as _build
from evaluation.panel import build_panel
from evaluation.panel.load import _window_from_meta


@pytest.fixture(scope="module")
def sample():
    s = synthetic.generate("back_in_the_ring", n_persons=300, seed=5)
    return s.extracts, _window_from_meta(s.meta)


def _build_in(sample, monkeypatch, row_bytes, **kw):
    ex, w = sample
    monkeypatch.setattr(_build, "BUCKET_ROW_BYTES", row_bytes)
    seen = []
    p = build_panel(ex, window=w, outside_window="exclude", memory_limit="4GB",
                    progress=lambda stage, rows=None: seen.append((stage, rows)), **kw)
    return p, [stage for stage, _ in seen], dict(seen)


def test_buckets_give_the_same_panel_as_one_query(sample, monkeypatch):
    one, _, _ = _build_in(sample, monkeypatch, 400)
    total = one.n_person_months
    many, said, rows = _build_in(sample, monkeypatch, 4_000_000_000 * 5 // total)
    parts = sorted(many.store.panel_dir.glob("part-*.parquet"))
    assert len(list(one.store.panel_dir.glob("part-*.parquet"))) == 1 and 4 <= len(parts) <= 7
    n = len(parts)
    assert any(s.startswith(f"person-months in {n} buckets") for s in said)
    assert [s for s in said if s.startswith("bucket ")] == [f"bucket {i}/{n} written" for i in range(1, n + 1)]
    assert rows[f"bucket {n}/{n} written"] == total and rows[f"bucket 1/{n} written"] < total
    assert not (many.store.folder / "_buckets").exists()
    pd.testing.assert_frame_equal(one.data, many.data)
    pd.testing.assert_frame_equal(one.flow, many.flow)
    pd.testing.assert_frame_equal(one.persons(), many.persons())
    # each part sorted, and the parts in name order continue each other (global order person, month)
    keys = [pq.read_table(f, columns=["person_id", "month"]).to_pandas() for f in parts]
    assert all(k.equals(k.sort_values(["person_id", "month"], ignore_index=True)) for k in keys)
    assert all(a["person_id"].iloc[-1] < b["person_id"].iloc[0] for a, b in zip(keys, keys[1:]))


def test_buckets_without_some_records(sample, monkeypatch):
    """A bucket with no records of an extract (here: no education) still builds."""
    ex, w = sample
    ex = {**ex, "education": ex["education"].iloc[:0]}
    one, _, _ = _build_in((ex, w), monkeypatch, 400)
    many, _, _ = _build_in((ex, w), monkeypatch, 4_000_000_000 * 3 // one.n_person_months)
    pd.testing.assert_frame_equal(one.data, many.data)
    assert not one.data["in_education"].any()


def test_person_columns_stored_once_and_joined_on_reading(sample, monkeypatch):
    p, _, _ = _build_in(sample, monkeypatch, 400)
    on_disk = pq.read_schema(next(p.store.panel_dir.glob("part-*.parquet"))).names
    assert "arm" not in on_disk and "age" not in on_disk and "person_id" in on_disk
    d = p.data
    pers = p.persons().set_index("person_id")
    assert (d["age"].to_numpy() == pers.loc[d["person_id"].astype(str), "age"].to_numpy()).all()
    f = p.person_frame(6, columns=["arm", "age", "employed"])
    exp = d.loc[d["event_time"] == 6, ["person_id", "event_time", "arm", "age", "employed"]]
    pd.testing.assert_frame_equal(f, exp.reset_index(drop=True))
    agg = p.aggregate(["arm", "period"], outcomes=["employed"])
    g = d.groupby(["arm", "period"], observed=True)
    assert agg["n"].tolist() == g.size().tolist()
    narrow = build_panel(sample[0], window=sample[1], outside_window="exclude",
                         include_person_columns=False)
    assert "age" not in narrow.data.columns and "arm" in narrow.data.columns
    pd.testing.assert_frame_equal(narrow.data, d[narrow.data.columns])


def test_population_from_validations_ids_equals_reading_every_extract(sample, monkeypatch):
    """The build takes its persons from validation's id table (``report.ids``); without it
    (``presence``: every extract's ids read again) the panel, the flow and the persons are the same."""
    from evaluation.panel import narrow
    ex, w = sample
    ex = {**ex, "persons": ex["persons"].iloc[5:], "coverage": ex["coverage"].iloc[:-7]}   # exclusions
    used = build_panel(ex, window=w, outside_window="exclude")
    assert narrow.presence_table(used.report) is not None
    monkeypatch.setattr(narrow, "presence_table", lambda report: None)
    again = build_panel(ex, window=w, outside_window="exclude")
    pd.testing.assert_frame_equal(used.flow, again.flow)
    pd.testing.assert_frame_equal(used.data, again.data)
    pd.testing.assert_frame_equal(used.persons(), again.persons())
    assert (used.flow["reason"].str.contains("no covariates|no coverage")).sum() == 2


def test_filtered_frame_keeps_rows_whose_person_row_is_missing(sample):
    """The filtered read joins the person columns with a left join: a person-month whose person
    is missing from the person table keeps its row (person columns missing), as the unfiltered
    read does, instead of being dropped."""
    ex, w = sample
    p = build_panel(ex, window=w, outside_window="exclude")
    full = p.person_frame(6, columns=["arm", "employed"])
    gone = full["person_id"].iloc[0]
    pers = pq.read_table(p.store.persons_path)
    pq.write_table(pers.filter(pa.compute.not_equal(pers["person_id"], gone)), p.store.persons_path)
    f = p.person_frame(6, columns=["arm", "employed"])
    assert len(f) == len(full) and f["arm"].isna().sum() == 1
    assert f.loc[f["person_id"] == gone, "employed"].tolist() == full.loc[full["person_id"] == gone, "employed"].tolist()
