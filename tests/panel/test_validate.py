"""Validation in the engine: partitioned parquet extracts are checked where they lie, counts and
example rows equal those of the same extracts checked as frames, and row numbers count across
parts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation import synthetic
from evaluation.panel import PanelValidationError, load_panel, read_extracts, validate_extracts
from evaluation.panel.sources import ParquetSource
from tests.catalogue._util import unchanged


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A REFINO sample written in three person blocks (of 1 000; the generator's smallest) (extracts as folders of parquet parts)."""
    folder = tmp_path_factory.mktemp("parts") / "refino"
    synthetic.generate_to(folder, "refino", n_persons=2100, seed=3, block_size=1000)
    return folder


def _write_parts(frame: pd.DataFrame, folder, n_parts: int = 3) -> None:
    folder.mkdir(parents=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), n_parts)):
        frame.iloc[chunk].to_parquet(folder / f"part-{i:05d}.parquet", index=False)


def _problems(rep):
    return [(p.extract, p.column, p.kind, p.count, p.examples, p.severity) for p in rep.problems]


def test_parts_are_read_by_the_engine_not_into_pandas(parts):
    ex = read_extracts(parts, lazy=True)
    assert (parts / "employment").is_dir()
    assert all(isinstance(v, ParquetSource) for v in ex.values())
    rep = validate_extracts(ex, window=("2018-01", "2023-12"))
    assert rep.ok and rep.rows["employment"] == len(ex["employment"]) > 0


def test_bad_rows_in_a_later_part_are_counted_and_numbered_across_parts(parts, tmp_path):
    """Negative earnings and a duplicate person-month in the third part: the counts and the
    example row numbers (1-based, across parts) equal those of the frame route."""
    emp = read_extracts(parts, names=["employment"])["employment"]
    bad = emp.copy()
    n = len(bad)
    rows = [n - 5, n - 2]                       # in the last part
    bad.loc[rows, "earnings"] = -100.0
    bad = pd.concat([bad, bad.iloc[[n - 1]]], ignore_index=True)   # a repeated person-month
    folder = tmp_path / "x"
    import shutil
    shutil.copytree(parts, folder)
    shutil.rmtree(folder / "employment")
    _write_parts(bad, folder / "employment")
    lazy = read_extracts(folder, lazy=True)
    assert isinstance(lazy["employment"], ParquetSource)
    with unchanged(folder):
        a = validate_extracts(lazy, window=("2018-01", "2023-12"), raise_errors=False)
    b = validate_extracts(read_extracts(folder), window=("2018-01", "2023-12"), raise_errors=False)
    assert _problems(a) == _problems(b)
    neg = next(p for p in a.problems if p.kind == "negative")
    assert neg.count == 2 and neg.examples[0].startswith(f"row {rows[0] + 1} (")
    dup = next(p for p in a.problems if p.kind == "duplicate")
    assert dup.count == 2 and dup.examples[-1].startswith(f"row {n + 1} (")
    with pytest.raises(PanelValidationError, match="negative earnings"):
        load_panel(folder, window=("2018-01", "2023-12"))


def test_engine_and_frame_routes_give_the_same_panel(parts):
    lazy = load_panel(parts)
    from evaluation.panel import build_panel
    from evaluation.panel.load import _window_from_meta
    import json
    meta = json.loads((parts / "meta.json").read_text())
    eager = build_panel(read_extracts(parts), window=_window_from_meta(meta), offices=meta.get("offices"))
    assert set(lazy.meta["panel"]["readers"].values()) == {"duckdb-parquet-view"}
    pd.testing.assert_frame_equal(lazy.data, eager.data)
    pd.testing.assert_frame_equal(lazy.flow, eager.flow)


def test_text_in_a_numeric_parquet_column_takes_the_frame_route(parts, tmp_path):
    """A parquet column of the wrong type is converted value by value (every bad value named)."""
    import shutil
    folder = tmp_path / "y"
    shutil.copytree(parts, folder)
    sa = read_extracts(parts, names=["social_assistance"])["social_assistance"]
    sa = sa.assign(amount=sa["amount"].astype(str))
    sa.loc[3, "amount"] = "12 000 kr"
    shutil.rmtree(folder / "social_assistance")
    _write_parts(sa, folder / "social_assistance")
    ex = read_extracts(folder, lazy=True)
    assert isinstance(ex["social_assistance"], pd.DataFrame)
    rep = validate_extracts(ex, raise_errors=False)
    p = next(p for p in rep.problems if p.kind == "type")
    assert (p.extract, p.column, p.count) == ("social_assistance", "amount", 1)
    assert p.examples == [f"row 4 (person_id {sa.loc[3, 'person_id']!r}, amount='12 000 kr')"]
