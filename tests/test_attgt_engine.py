"""Tests for evaluation.did.attgt_engine (unconditional Callaway-Sant'Anna computed in the engine).

Reference: :func:`evaluation.did.att_gt` (no covariates, same control group, balanced panel), whose
mpdta numbers are pinned to R did 2.5.1 in tests/test_did.py; here the engine route must equal it
to 1e-10 (estimates and analytic standard errors of every ATT(g,t) and every aggregation), and
reproduce R did 2.5.1 on mpdta directly (published values, tolerance 1e-5 beyond rounding; source:
``att_gt(yname="lemp", tname="year", idname="countyreal", gname="first.treat", data=mpdta,
control_group="nevertreated", bstrap=FALSE, cband=FALSE)`` and ``aggte(..., bstrap=FALSE)``).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.did import DiDDataWarning, att_gt, att_gt_engine, simulate_staggered

DATA = Path(__file__).parent / "data"
TOL = 1e-10
KINDS = ("simple", "group", "dynamic", "calendar")
MP = dict(outcome="lemp", unit="countyreal", time="year", group="first.treat")
R_SIMPLE = (-0.039951, 0.012034)        # R did 2.5.1, mpdta, never-treated, aggte(type="simple")
R_DYNAMIC = (-0.077240, 0.019965)       # aggte(type="dynamic")
R_GROUP = (-0.031018, 0.012446)         # aggte(type="group")


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiDDataWarning)
        return fn(*a, **k)


def assert_same(a, b, tol=TOL):
    """Every ATT(g,t), SE and aggregation (overall and components) of two results agree."""
    assert list(a.gt["term"]) == list(b.gt["term"])
    for c in ("estimate", "se"):
        np.testing.assert_allclose(b.gt[c], a.gt[c], rtol=0, atol=tol, equal_nan=True)
    np.testing.assert_array_equal(a.gt["n_treated"], b.gt["n_treated"])
    np.testing.assert_array_equal(a.gt["n_control"], b.gt["n_control"])
    assert a.n == b.n
    for k in KINDS:
        x, y = a.aggregate(k), b.aggregate(k)
        assert abs(x.estimate - y.estimate) < tol and abs(x.se - y.se) < tol, k
        tx, ty = x.tidy(), y.tidy()
        assert list(tx["term"]) == list(ty["term"])
        np.testing.assert_allclose(ty[["estimate", "se"]], tx[["estimate", "se"]], rtol=0, atol=tol)


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(DATA / "mpdta.csv")


@pytest.fixture(scope="module")
def engine_mpdta(mpdta):
    return att_gt_engine(mpdta, **MP)


@pytest.mark.parametrize("cg", ["never", "notyet"])
def test_mpdta_equals_att_gt(mpdta, engine_mpdta, cg):
    a = att_gt(mpdta, **MP, control_group=cg)
    b = engine_mpdta if cg == "never" else att_gt_engine(mpdta, **MP, control_group=cg)
    assert_same(a, b)
    assert abs(a.pretest().statistic - b.pretest().statistic) < 1e-8


def test_mpdta_r_did(engine_mpdta):
    b = engine_mpdta
    for kind, ref in (("simple", R_SIMPLE), ("dynamic", R_DYNAMIC), ("group", R_GROUP)):
        a = b.aggregate(kind)
        assert abs(a.estimate - ref[0]) <= 5e-7 + 1e-5 and abs(a.se - ref[1]) <= 5e-7 + 1e-5, kind


def test_parquet_folder_and_ibis_table(mpdta, tmp_path):
    """Parquet parts in a folder, and an Ibis table, give the frame's result."""
    import ibis
    folder = tmp_path / "mp"
    folder.mkdir()
    half = mpdta["countyreal"] < mpdta["countyreal"].median()
    mpdta[half].to_parquet(folder / "part-0.parquet")
    mpdta[~half].to_parquet(folder / "part-1.parquet")
    a = att_gt(mpdta, **MP)
    assert_same(a, att_gt_engine(folder, **MP))
    con = ibis.duckdb.connect()
    assert_same(a, att_gt_engine(con.read_parquet(str(folder / "*.parquet")), **MP))


def _binary_panel(n=600, T=8, seed=3):
    d, _ = simulate_staggered(n, T, cohorts=(3, 5, 6), seed=seed)
    d["emp"] = d["y"] > d.groupby("period")["y"].transform("median")
    return d


SIM = dict(unit="unit", time="period", group="group")


@pytest.mark.parametrize("outcome,cg,base,ant", [("y", "never", "varying", 0), ("emp", "never", "varying", 0),
                                                ("emp", "notyet", "varying", 0), ("y", "notyet", "universal", 0),
                                                ("emp", "never", "varying", 1)])
def test_synthetic_equals_att_gt(outcome, cg, base, ant):
    """Numeric (centred CASE pivot) and boolean (period bit masks) outcomes, both control groups,
    both base periods, anticipation."""
    d = _binary_panel()
    kw = dict(outcome=outcome, **SIM, control_group=cg, base_period=base, anticipation=ant)
    assert_same(att_gt(d, **kw), att_gt_engine(d, **kw))


def test_large_outcome_values_centred():
    """Earnings-sized outcomes: centring keeps the cross-products accurate."""
    d = _binary_panel()
    d["earn"] = 3e5 + 1e4 * d["y"]
    a, b = att_gt(d, outcome="earn", **SIM), att_gt_engine(d, outcome="earn", **SIM)
    assert_same(a, b, tol=1e-6)


def test_drops_as_att_gt_with_counts():
    """Rows with a missing outcome, units treated in the first period, units after the window,
    units not observed in every period: dropped (or recoded) and counted exactly as att_gt."""
    d = _binary_panel(n=500, T=7)
    d.loc[d["unit"] == 5, "group"] = 1                       # treated in the first period
    d.loc[d["unit"] == 6, "group"] = 9                       # after the last period -> never
    d = d[~((d["unit"] % 17 == 0) & (d["period"] == 4))]     # unbalanced units
    d.loc[(d["unit"] == 8) & (d["period"] == 2), "y"] = np.nan
    with pytest.warns(DiDDataWarning) as wa:
        a = att_gt(d, outcome="y", **SIM)
    with pytest.warns(DiDDataWarning, match="balanced panel") as wb:
        b = att_gt_engine(d, outcome="y", **SIM)
    # every warning points at the user's call (this file), not at the package's helpers
    assert {w.filename for w in [*wa, *wb] if issubclass(w.category, DiDDataWarning)} == {__file__}
    assert b.extra["dropped"] == a.extra["dropped"]
    assert b.extra["dropped"]["units not observed in every period"] > 0
    assert_same(a, b)


def test_no_never_treated_notyet():
    d = _binary_panel()
    d = d[d["group"] > 0]
    a = _quiet(att_gt, d, outcome="y", **SIM, control_group="notyet")
    b = _quiet(att_gt_engine, d, outcome="y", **SIM, control_group="notyet")
    assert b.extra["dropped"] == a.extra["dropped"]
    assert_same(a, b)


def test_group_missing_never_or_dropped():
    d = _binary_panel()
    d["g"] = d["group"].where(d["group"] > 0)                # never treated as missing
    a = att_gt(d, outcome="y", unit="unit", time="period", group="group")
    assert_same(a, att_gt_engine(d, outcome="y", unit="unit", time="period", group="g"))
    with pytest.warns(DiDDataWarning, match="missing group"):
        b = att_gt_engine(d, outcome="y", unit="unit", time="period", group="g", missing_group="drop",
                          control_group="notyet")
    keep = d[d["group"] > 0]
    c = _quiet(att_gt, keep, outcome="y", **SIM, control_group="notyet")
    assert b.extra["dropped"]["units with a missing group"] == d.loc[d["group"] == 0, "unit"].nunique()
    assert_same(c, b)


def test_recovers_known_effect():
    """Synthetic staggered panel with known ATT(g,t): every estimate within 4.5 SE of the truth and
    the simple aggregate within 4 SE of the cohort-size weighted truth."""
    d, truth = simulate_staggered(20_000, 8, cohorts=(3, 5, 6), seed=11)
    r = att_gt_engine(d, outcome="y", **SIM)
    m = r.gt.merge(truth, on=["group", "time"])
    post = m[m["post"]]
    assert (np.abs(post["estimate"] - post["att"]) < 4.5 * post["se"]).all()
    pre = m[~m["post"]]
    assert (np.abs(pre["estimate"]) < 4.5 * pre["se"]).all()
    w = d.drop_duplicates("unit").query("group > 0")["group"].value_counts()
    tr = post.assign(w=post["group"].map(w))
    true_simple = float((tr["att"] * tr["w"]).sum() / tr["w"].sum())
    s = r.aggregate("simple")
    assert abs(s.estimate - true_simple) < 4 * s.se


def test_result_interface(engine_mpdta):
    r = engine_mpdta
    assert "no covariates" in r.summary()
    assert set(r.tidy()["term"]) == set(r.gt["term"])
    d = r.to_dict()
    assert d["n"] == 500
    b = r.aggregate("dynamic").bands()
    assert {"band_low", "band_high"} <= set(b.columns)
    # Gaussian sup-t critical value: between the pointwise 1.96 and a Bonferroni bound
    assert 1.96 <= b["crit_val"].iloc[0] <= 3.5


@pytest.mark.parametrize("narrow", [False, True])
def test_panel_input_drops_missing_cohort(tmp_path, narrow):
    """A Panel (its parquet files; the cohort on every row, or once per person in persons.parquet
    joined to the units): missing cohort = treated before the window, dropped."""
    from evaluation.panel.panel import Panel
    from evaluation.panel.store import PanelStore
    d = _binary_panel(n=300, T=6)
    d["person_id"] = d["unit"].map(lambda u: f"p{u:05d}")
    d["cohort"] = d["group"].astype("Int16")
    d.loc[d["unit"] % 29 == 0, "cohort"] = pd.NA
    d["employed"] = d["emp"]
    store = PanelStore(tmp_path / "work", keep=True)
    store.panel_dir.mkdir(parents=True)
    if narrow:
        d[["person_id", "period", "employed"]].to_parquet(store.panel_dir / "part-00000.parquet")
        d.drop_duplicates("person_id")[["person_id", "cohort"]].to_parquet(store.persons_path)
        store.write_layout(["person_id", "period", "employed", "cohort"], ["cohort"])
    else:
        d[["person_id", "period", "cohort", "employed"]].to_parquet(store.panel_dir / "part-00000.parquet")
    p = Panel.from_store(store, flow=pd.DataFrame(), meta={"panel": {"n_person_months": len(d)}})
    with pytest.warns(DiDDataWarning, match="missing group"):
        r = att_gt_engine(p, outcome="employed")
    keep = d[d["cohort"].notna()]
    a = att_gt(keep, outcome="emp", **SIM)
    assert_same(a, r)
    assert r.extra["dropped"]["units with a missing group"] == d.loc[d["cohort"].isna(), "unit"].nunique()


def test_non_contiguous_periods_and_in_memory_panel():
    """Periods 2, 4, 6, ... (period codes by CASE) and a Panel held in pandas (no store)."""
    from evaluation.panel.panel import Panel
    d = _binary_panel(n=300, T=6)
    d["period"] *= 2
    d["group"] *= 2
    for y in ("y", "emp"):
        assert_same(att_gt(d, outcome=y, **SIM), att_gt_engine(d, outcome=y, **SIM))
    p = Panel(d.rename(columns={"unit": "person_id", "group": "cohort"}), flow=pd.DataFrame())
    assert_same(att_gt(d, outcome="emp", **SIM), att_gt_engine(p, outcome="emp"))


def test_too_many_periods():
    d = pd.DataFrame({"unit": np.repeat([1, 2], 70), "period": np.tile(np.arange(1, 71), 2),
                      "group": np.repeat([0, 30], 70), "y": 1.0})
    with pytest.raises(ValueError, match="at most 62 periods"):
        att_gt_engine(d, outcome="y", **SIM)
