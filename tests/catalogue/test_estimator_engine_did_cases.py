"""Catalogue: engine CS-DiD (``did.att_gt_engine``) on parquet files whose columns do not fit.

Each case writes a small staggered-adoption panel as parquet in a temporary folder, spoils one
column or option, and asserts the clear error (naming the column, the unit or the option and the
fix) -- and that the input folder is unchanged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.did import att_gt_engine, simulate_staggered
from tests.catalogue._util import unchanged

COLS = dict(outcome="y", unit="unit", time="period", group="group")


def _write(tmp_path, spoil):
    data, _ = simulate_staggered(60, 5, cohorts=(3, 4), seed=2)
    spoil(data)
    folder = tmp_path / "extract"
    folder.mkdir()
    data.to_parquet(folder / "part-0.parquet")
    return folder


def _fails(tmp_path, spoil, kw, *words, exc=ValueError):
    folder = _write(tmp_path, spoil)
    with unchanged(folder):
        with pytest.raises(exc) as e:
            att_gt_engine(folder, **{**COLS, **kw})
    msg = str(e.value)
    for w in words:
        assert w in msg, f"{w!r} not in message:\n{msg}"


def test_missing_outcome_column(tmp_path):
    _fails(tmp_path, lambda d: None, {"outcome": "lemp"}, "'lemp'", "outcome", "available columns")


def test_duplicate_unit_period(tmp_path):
    data, _ = simulate_staggered(60, 5, cohorts=(3, 4), seed=2)
    data = pd.concat([data, data[(data["unit"] == 7) & (data["period"] == 2)]])
    folder = tmp_path / "extract"
    folder.mkdir()
    data.to_parquet(folder / "part-0.parquet")
    with unchanged(folder):
        with pytest.raises(ValueError, match=r"unit 7 appears 2 times in period 2.*de-duplicate"):
            att_gt_engine(folder, **COLS)


def test_group_varies_within_unit(tmp_path):
    def spoil(d):
        d.loc[(d["unit"] == d.loc[d["group"] > 0, "unit"].iloc[0]) & (d["period"] == 5), "group"] = 0
    _fails(tmp_path, spoil, {}, "'group' varies over time within a unit", "first_treatment_period")


def test_text_outcome(tmp_path):
    def spoil(d):
        d["y"] = np.where(d["y"] > 0, "high", "low")
    _fails(tmp_path, spoil, {}, "outcome 'y' must be numeric or boolean")


def test_non_integer_time(tmp_path):
    def spoil(d):
        d["period"] = d["period"] + 0.5
    _fails(tmp_path, spoil, {}, "time column 'period' must be integer-like", "5.5")


def test_no_never_treated_with_never_controls(tmp_path):
    def spoil(d):
        d.drop(d.index[d["group"] == 0], inplace=True)
    _fails(tmp_path, spoil, {}, "no never-treated units", "control_group='notyet'")


def test_path_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        att_gt_engine(tmp_path / "nowhere", **COLS)


def test_misspelt_control_group(tmp_path):
    _fails(tmp_path, lambda d: None, {"control_group": "not_yet"}, "control_group must be 'never' or 'notyet'")
