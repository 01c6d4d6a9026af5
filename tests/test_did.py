"""Tests for evaluation.did (DiD for staggered rollouts).

Reference numbers
-----------------
mpdta: county teen employment 2003-2007 (Callaway & Sant'Anna 2021; R package ``did`` data
``mpdta``, copied to tests/data/mpdta.csv).  Expected values from R did 2.5.1::

    att_gt(yname="lemp", tname="year", idname="countyreal", gname="first.treat", data=mpdta,
           control_group="nevertreated", est_method="dr", xformla=NULL, bstrap=FALSE, cband=FALSE)
    aggte(..., type=..., bstrap=FALSE, cband=FALSE)

Tolerance 1e-5 absolute against the published (rounded) values.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.did import DiDDataWarning, att_gt, first_treatment_period

DATA = Path(__file__).parent / "data"
TOL = 1e-5


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(DATA / "mpdta.csv")


@pytest.fixture(scope="module")
def cs_mpdta(mpdta):
    return att_gt(mpdta, outcome="lemp", unit="countyreal", time="year", group="first.treat")


# ---------------------------------------------------------------- R did 2.5.1 replication
R_SIMPLE = (-0.039951, 0.012034)
R_GROUP = (-0.031018, 0.012446)
R_GROUP_COMPONENTS = {2004: (-0.07975, 0.02637), 2006: (-0.02291, 0.01670), 2007: (-0.02605, 0.01666)}
R_DYNAMIC = (-0.077240, 0.019965)
R_DYNAMIC_COMPONENTS = [0.03051, -0.00056, -0.02446, -0.01993, -0.05096, -0.13726, -0.10081]
R_CALENDAR = (-0.041700, 0.015972)
R_PRETEST = (7.7912, 0.16812)


def close(x, ref, digits):
    """|x - ref| within rounding of the published value plus TOL."""
    return abs(x - ref) <= 0.5 * 10 ** (-digits) + TOL


def test_mpdta_simple(cs_mpdta):
    a = cs_mpdta.aggregate("simple")
    assert close(a.estimate, R_SIMPLE[0], 6) and close(a.se, R_SIMPLE[1], 6)
    assert isinstance(a.estimate, float) and isinstance(a.se, float)


def test_mpdta_group(cs_mpdta):
    a = cs_mpdta.aggregate("group")
    assert close(a.estimate, R_GROUP[0], 6) and close(a.se, R_GROUP[1], 6)
    t = a.tidy()
    assert list(t["term"]) == ["g=2004", "g=2006", "g=2007"]
    for (g, (e, s)), (_, row) in zip(R_GROUP_COMPONENTS.items(), t.iterrows()):
        assert close(row["estimate"], e, 5) and close(row["se"], s, 5), g


def test_mpdta_dynamic(cs_mpdta):
    a = cs_mpdta.aggregate("dynamic")
    assert close(a.estimate, R_DYNAMIC[0], 6) and close(a.se, R_DYNAMIC[1], 6)
    t = a.tidy()
    assert list(t["term"]) == [f"e={e}" for e in range(-3, 4)]
    for est, ref in zip(t["estimate"], R_DYNAMIC_COMPONENTS):
        assert close(est, ref, 5)


def test_mpdta_calendar(cs_mpdta):
    a = cs_mpdta.aggregate("calendar")
    assert close(a.estimate, R_CALENDAR[0], 6) and close(a.se, R_CALENDAR[1], 6)


def test_mpdta_pretest(cs_mpdta):
    w = cs_mpdta.pretest()
    assert close(w.statistic, R_PRETEST[0], 4) and close(w.pvalue, R_PRETEST[1], 5)
    assert w.df == 5
