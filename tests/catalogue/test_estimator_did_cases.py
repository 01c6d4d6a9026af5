"""Catalogue: DiD estimator calls whose options do not fit the data (issue 13, items 6 and 10).

Each case reads a small staggered-adoption extract from a CSV in a temporary folder, calls the
estimator with one bad option or one spoiled column, and asserts the clear error (naming the
column, the rows or the option, and the fix) -- and that the input file and the data frame
passed in are unchanged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.did import att_gt, simulate_staggered, sun_abraham
from tests.catalogue._util import unchanged

COLS = dict(outcome="y", time="period", group="group")


@pytest.fixture
def csv(tmp_path):
    data, _ = simulate_staggered(120, 5, cohorts=(3, 4), seed=1, covariate=True)
    f = tmp_path / "extract" / "staggered.csv"
    f.parent.mkdir()
    data.to_csv(f, index=False)
    return f


def _fails(csv, fn, spoil, kw, *words):
    with unchanged(csv.parent):
        data = pd.read_csv(csv)
        spoil(data)
        before = data.copy()
        with pytest.raises(ValueError) as exc:
            fn(data, **kw)
        pd.testing.assert_frame_equal(data, before)      # the caller's frame is not modified
    msg = str(exc.value)
    for w in words:
        assert w in msg, f"{w!r} not in message:\n{msg}"
    return msg


def _nothing(d):
    pass


def _repeat_unit_in_period(d):
    d.loc[d.index[1], "period"] = d.loc[d.index[0], "period"]     # unit 1 twice in period 1


def _negative_weight(d):
    d["w"] = 1.0
    d.loc[d.index[7], "w"] = -2.0


def _fractional_time(d):
    d["period"] = d["period"].astype(float)
    d.loc[d.index[3], "period"] = 2.5


def _one_period(d):
    d["period"] = 1
    d["unit"] = np.arange(len(d))


def _no_never_treated(d):
    d["group"] = d["group"].where(d["group"] > 0, 4)


def _duplicate_row(d):
    d.loc[len(d)] = d.iloc[0]


RC = dict(COLS, panel=False)


@pytest.mark.parametrize("fn, spoil, kw, words", [
    # estimator, spoil, keyword arguments, words the message must contain; id
    pytest.param(att_gt, _nothing, dict(COLS, unit="unit", panel="no"), ["panel must be True", "'no'"], id="panel-not-bool"),
    pytest.param(att_gt, _repeat_unit_in_period, dict(RC, unit="unit"),
     ["panel=False", "appears 2 times in period 1", "'unit'", "unit=None"], id="rc-unit-repeated-in-period"),
    pytest.param(att_gt, _nothing, dict(COLS), ["unit", "required for panel data", "panel=False"], id="panel-without-unit"),
    pytest.param(att_gt, _nothing, dict(RC, unit="person"), ["'person'", "the unit", "missing"], id="rc-unit-column-missing"),
    pytest.param(att_gt, _nothing, dict(RC, covariates=["age"]), ["'age'", "covariate", "missing"], id="rc-covariate-missing"),
    pytest.param(att_gt, _negative_weight, dict(RC, weights="w"), ["'w'", "negative"], id="rc-weights-negative"),
    pytest.param(att_gt, _fractional_time, dict(RC), ["'period'", "integer-like", "2.5"], id="rc-time-not-integer"),
    pytest.param(att_gt, _one_period, dict(RC), ["at least two time periods"], id="rc-one-period"),
    pytest.param(att_gt, _no_never_treated, dict(RC), ["no never-treated", "control_group='notyet'"], id="rc-no-never-treated"),
    pytest.param(att_gt, _nothing, dict(RC, method="twfe"), ["method must be", "'dr'", "'dr_imp'"], id="rc-method-unknown"),
    pytest.param(att_gt, _nothing, dict(RC, cluster="office"), ["'office'", "cluster", "missing"], id="rc-cluster-missing"),
    pytest.param(att_gt, _nothing, dict(RC, control_group="last"), ["control_group", "'notyet'"], id="rc-control-group-unknown"),
    pytest.param(sun_abraham, _nothing, dict(COLS, unit="unit", vcov="hc3"), ["vcov must be"], id="sunab-vcov-unknown"),
    pytest.param(sun_abraham, _nothing, dict(COLS, unit="unit", control="notyet"),
     ["control must be", "'last'"], id="sunab-control-unknown"),
    pytest.param(sun_abraham, _duplicate_row, dict(COLS, unit="unit"),
     ["duplicate unit-period", "de-duplicate"], id="sunab-duplicate-unit-period"),
    pytest.param(sun_abraham, _no_never_treated, dict(COLS, unit="unit"),
     ["no never-treated", "control='last'"], id="sunab-no-never-treated"),
])
def test_did_bad_option(csv, fn, spoil, kw, words):
    _fails(csv, fn, spoil, kw, *words)
