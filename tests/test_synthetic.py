"""Tests for evaluation.synthetic: schema, design facts, truth and persistence."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evaluation import schema, synthetic
from evaluation.synthetic import TRUTH_COLUMNS, generate, load

SCENARIOS = schema.SCENARIOS


@pytest.fixture(scope="module")
def data():
    """Every scenario at its default size, seed 1 (about 2 s in total)."""
    return {sc: generate(sc, seed=1) for sc in SCENARIOS}


def _midx(s: pd.Series, start: str) -> np.ndarray:
    """Month index relative to ``start`` (NaT -> -1)."""
    m0 = np.datetime64(start, "M").astype(np.int64)
    v = s.to_numpy().astype("datetime64[M]")
    out = v.astype(np.int64) - m0
    return np.where(np.isnat(v), -1, out)


def _monthly_matrix(d, name: str, value: str | None = None) -> np.ndarray:
    """Dense person x month matrix of an extract (1 / the value where a row exists)."""
    ids = d.extracts["persons"]["person_id"]
    pos = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
    df = d.extracts[name]
    m = np.zeros((len(ids), d.meta["n_months"]))
    i = pos.loc[df["person_id"].to_numpy()].to_numpy()
    t = _midx(df["month"], d.meta["start_month"])
    m[i, t] = 1.0 if value is None else df[value].to_numpy()
    return m


def _event_index(d) -> np.ndarray:
    return _midx(d.extracts["assignment"]["assigned_month"], d.meta["start_month"])


# ---------------------------------------------------------------------------------------
# schema
# ---------------------------------------------------------------------------------------
_KIND = {
    "str": lambda s: pd.api.types.is_string_dtype(s.dtype) and s.dtype != object,
    "int": lambda s: pd.api.types.is_integer_dtype(s.dtype),
    "float": lambda s: pd.api.types.is_float_dtype(s.dtype),
    "bool": lambda s: pd.api.types.is_bool_dtype(s.dtype),
    "month": lambda s: pd.api.types.is_datetime64_any_dtype(s.dtype),
    "date": lambda s: pd.api.types.is_datetime64_any_dtype(s.dtype),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_columns_and_types_match_schema(data, scenario):
    d = data[scenario]
    assert set(d.extracts) == set(schema.EXTRACTS)
    for name, spec in schema.EXTRACTS.items():
        df = d.extracts[name]
        assert list(df.columns) == list(spec), name
        for col, typ in spec.items():
            assert _KIND[typ](df[col]), f"{scenario}.{name}.{col}: {df[col].dtype} is not {typ}"
            if typ == "month":
                v = df[col].dropna()
                assert (v.dt.day == 1).all(), f"{name}.{col} not first of month"
    for name in schema.REQUIRED_EXTRACTS:
        assert len(d.extracts[name]) > 0, name
    assert (len(d.extracts["reoffending"]) > 0) == (scenario == "back_in_the_ring")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_register_consistency(data, scenario):
    d = data[scenario]
    ex = d.extracts
    n = d.meta["n_persons"]
    for name in ("persons", "assignment", "coverage"):
        assert ex[name]["person_id"].is_unique and len(ex[name]) == n
    assert ex["persons"]["person_id"].str.match(r"^P\d{7}$").all()
    assert set(ex["persons"]["office"]) <= set(synthetic.OFFICES[scenario])
    for name in ("employment", "social_assistance", "benefits", "education", "reoffending"):
        assert not ex[name].duplicated(["person_id", "month"]).any(), name
    # no negative amounts, position shares in (0, 1]
    emp = ex["employment"]
    assert (emp["earnings"] >= 0).all() and (ex["social_assistance"]["amount"] > 0).all()
    assert emp["position_share"].between(0.05, 1.0).all()
    assert (emp["position_share"] < 0.5).mean() > 0.03          # some part-time below 50 %
    assert set(ex["benefits"]["benefit"]) <= {"AAP", "disability"}
    # social assistance mostly when not in full-time work
    sa = _monthly_matrix(d, "social_assistance")
    share = _monthly_matrix(d, "employment", "position_share")
    assert sa[share >= 0.9].mean() < 0.01
    # nothing after the last covered month; window respected
    last = _midx(ex["coverage"]["last_month"], d.meta["start_month"])
    assert last.max() == d.meta["n_months"] - 1 and (last < d.meta["n_months"] - 1).any()
    ti = _midx(emp["month"], d.meta["start_month"])
    pos = pd.Series(np.arange(n), index=ex["persons"]["person_id"].to_numpy())
    assert (ti <= last[pos.loc[emp["person_id"].to_numpy()].to_numpy()]).all()
    # immigrant covariates coherent
    p = ex["persons"]
    assert (p["years_in_norway"].isna() == ~p["immigrant"]).all()
    assert ((p["norwegian_level"] == "native") == ~p["immigrant"]).all()
    # spells
    js = ex["jobseeker_spells"]
    ended = js["spell_end"].notna()
    assert (js.loc[ended, "spell_end"] >= js.loc[ended, "spell_start"]).all()
    assert js["measure"].notna().all() and (js["measure"] == "job search").any()


def test_determinism_by_seed():
    a = generate("unge_paa_vei", n_persons=300, seed=7)
    b = generate("unge_paa_vei", n_persons=300, seed=7)
    c = generate("unge_paa_vei", n_persons=300, seed=8)
    for name in schema.EXTRACTS:
        pd.testing.assert_frame_equal(a.extracts[name], b.extracts[name])
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.meta == b.meta
    assert not a.extracts["employment"].equals(c.extracts["employment"])


def test_unknown_scenario_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown scenario 'refinno'.*refino"):
        generate("refinno")
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate("refino", start="january")
    with pytest.raises(ValueError, match="n_persons"):
        generate("refino", n_persons=3)


def test_small_and_custom_window():
    d = generate("refino", n_persons=60, n_months=12, start="2020-01")
    assert d.meta["start_month"] == "2020-01" and d.meta["end_month"] == "2020-12"
    assert d.extracts["coverage"]["last_month"].max() == pd.Timestamp("2020-12-01")
    assert len(d.truth) > 0


# ---------------------------------------------------------------------------------------
# design facts
# ---------------------------------------------------------------------------------------
def test_refino_design(data):
    d = data["refino"]
    a = d.extracts["assignment"]
    assert set(a["arm"]) == {"control", "REFINO"}
    assert abs((a["arm"] == "REFINO").mean() - 0.5) < 0.01
    # balanced within each stratum (office x referral month): arm counts differ by at most 1
    counts = a.groupby(["stratum", "arm"]).size().unstack(fill_value=0)
    assert ((counts["REFINO"] - counts["control"]).abs() <= 1).all()
    assert a["stratum"].nunique() == len(synthetic.OFFICES["refino"]) * 24
    assert a["assigned_month"].min() == pd.Timestamp("2018-01-01")
    assert a["assigned_month"].max() == pd.Timestamp("2019-12-01")
    # non-compliance: some REFINO never take it up, few controls get it
    takeup = a.loc[a["arm"] == "REFINO", "participated"].mean()
    cross = a.loc[a["arm"] == "control", "participated"].mean()
    assert 0.78 < takeup < 0.93 and 0 < cross < 0.07
    # mapping month only for participants, 0-2 months after randomisation
    has_map = a["mapping_month"].notna()
    assert (has_map == a["participated"]).all()
    lag = _midx(a["mapping_month"], "2000-01") - _midx(a["assigned_month"], "2000-01")
    assert set(np.unique(lag[has_map.to_numpy()])) <= {0, 1, 2}
    # provider missing only for those who got no follow-up (REFINO never-takers)
    no_prov = a["provider"].isna()
    assert (no_prov == ((a["arm"] == "REFINO") & ~a["participated"])).all()
    assert d.meta["payment_rule"] == {"mapping": 0.2, "job": 0.4, "job_kept": 0.4,
                                      "min_position_share": 0.5}


def test_alna_rollout(data):
    d = data["alna_aktiv"]
    a = d.extracts["assignment"]
    first = a.groupby("office")["assigned_month"].agg(["min", "max", "nunique"])
    assert (first["nunique"] <= 1).all()                      # one adoption month per district
    adopted = first["min"].dropna().sort_values()
    assert adopted.index[0] == "ALNA" and adopted.nunique() == len(adopted) >= 3
    never = set(first.index[first["min"].isna()])
    assert never == {"NORDSTRAND", "SONDRE_NORDSTRAND"} == set(d.meta["never_treated"])
    assert (a.loc[a["office"].isin(never), "arm"] == "control").all()
    assert (a.loc[~a["office"].isin(never), "arm"] == "pilot").all()
    assert d.meta["cohorts"]["ALNA"] == 13 and d.meta["cohorts"]["NORDSTRAND"] == 0
    # social-assistance recipients: most on assistance at the start
    sa = _monthly_matrix(d, "social_assistance")
    assert sa[:, 0].mean() > 0.75


def test_alna_truth_dynamic_and_heterogeneous(data):
    d = data["alna_aktiv"]
    t = d.truth
    gt = t[(t.estimand == "att_gt") & (t.outcome == "on_social_assistance")]
    assert (gt.loc[gt.period < gt.cohort, "value"] == 0).all()          # no anticipation
    es = t[(t.estimand == "att_event_time") & (t.outcome == "on_social_assistance")
           & (t.subgroup == "all")].set_index("event_time")["value"]
    assert es.loc[12] < es.loc[3] < es.loc[0] < 0                       # grows with event time
    grp = t[(t.estimand == "att_group") & (t.outcome == "on_social_assistance")].set_index("cohort")["value"]
    assert grp.loc[13] < grp.loc[31] - 0.05                             # pilot cohort strongest
    assert d.meta["headline"]["estimand"] == "att_simple" and d.headline() < -0.05


def test_unge_design(data):
    d = data["unge_paa_vei"]
    a = d.extracts["assignment"].merge(d.extracts["persons"][["person_id", "birth_year"]])
    age = a["assigned_month"].dt.year - a["birth_year"]
    assert age.between(18, 29).all() and age.min() == 18 and age.max() == 29
    shares = a["arm"].value_counts(normalize=True)
    assert set(shares.index) == {"control", "provider_A", "provider_B", "provider_C"}
    assert abs(shares["control"] - 0.4) < 0.02 and all(abs(shares[p] - 0.2) < 0.02
                                                       for p in ("provider_A", "provider_B", "provider_C"))
    assert not a.loc[a["arm"] == "control", "participated"].any()
    itt = {p: d.truth_value("itt_avg_12", "employed", arm=p) for p in ("provider_A", "provider_B", "provider_C")}
    assert itt["provider_A"] < itt["provider_B"] < itt["provider_C"]


def test_back_in_the_ring_design():
    d = generate("back_in_the_ring", effect_scale=0.0, seed=2)
    a = d.extracts["assignment"].merge(d.extracts["persons"][["person_id", "birth_year"]])
    age = a["assigned_month"].dt.year - a["birth_year"]
    assert age.between(18, 40).all()
    assert set(a["office"]) == {"LARVIK", "SANDEFJORD", "TONSBERG", "FAERDER"}
    assert set(a["arm"]) == {"programme", "comparison"} and 200 < (a["arm"] == "programme").sum() < 420
    assert a["assigned_month"].notna().all()          # pseudo-entry months for the comparison pool
    # untreated reoffending within 24 months of entry is about 63 %
    r = d.extracts["reoffending"].merge(a[["person_id", "assigned_month"]])
    e = _midx(r["month"], "2000-01") - _midx(r["assigned_month"], "2000-01")
    ever = set(r.loc[(e >= 0) & (e < 24), "person_id"])
    last = _midx(d.extracts["coverage"]["last_month"], "2000-01")
    full = last - _midx(a["assigned_month"], "2000-01") >= 23
    rate = a.loc[full, "person_id"].isin(ever).mean()
    assert 0.58 < rate < 0.68


def test_matching_selection_on_observables(data):
    d = data["bjerke_effektkontrakt"]
    a = d.extracts["assignment"]
    assert set(a["arm"]) == {"programme", "comparison"}
    assert (a["participated"] == (a["arm"] == "programme")).all()
    assert 0.05 < a["participated"].mean() < 0.09
    assert set(a["office"]) == {"BJERKE", "GRORUD"}
    p = d.extracts["persons"]
    assert p["immigrant"].all() and p["norwegian_level"].isin(["none", "A1", "A2", "B1", "B2+"]).all()
    # participants have more social assistance in the 24 months before entry
    sa = _monthly_matrix(d, "social_assistance")
    ai = _event_index(d)
    hist = np.array([sa[i, max(0, t - 24):t].sum() for i, t in enumerate(ai)])
    prog = (a["arm"] == "programme").to_numpy()
    assert hist[prog].mean() > hist[~prog].mean() + 2


# ---------------------------------------------------------------------------------------
# truth
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_truth_format(data, scenario):
    d = data[scenario]
    t = d.truth
    assert list(t.columns) == TRUTH_COLUMNS
    assert t["value"].notna().all() and np.isfinite(t["value"]).all()
    assert set(t["subgroup"]) <= set(synthetic.SUBGROUPS)
    assert set(t["outcome"]) >= {"employed", "employed_50", "on_social_assistance", "earnings"}
    est = set(t["estimand"])
    expected = {"refino": {"itt", "late", "itt_avg_24", "late_ever_12"},
                "unge_paa_vei": {"itt", "late", "itt_avg_12"},
                "alna_aktiv": {"att_gt", "att_event_time", "att_group", "att_simple"},
                "bjerke_effektkontrakt": {"att", "att_avg_6", "att_avg_12", "att_avg_24"},
                "back_in_the_ring": {"att", "att_avg_24", "att_ever_12"}}[scenario]
    assert expected <= est
    assert not t.duplicated(["estimand", "outcome", "arm", "cohort", "period", "event_time",
                             "subgroup"]).any()
    assert np.isfinite(d.headline())
    if scenario == "back_in_the_ring":
        assert d.truth_value("att_ever_12", "reoffended") < -0.03
    json.dumps(d.meta)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_zero_effect_gives_zero_truth(scenario):
    d = generate(scenario, n_persons=400, effect_scale=0.0, seed=3)
    assert (d.truth["value"] == 0).all()
    assert d.headline() == 0


def test_zero_effect_keeps_design_and_untreated_world():
    """Scaling the effect changes outcomes, not who is randomised where."""
    d0 = generate("refino", n_persons=500, effect_scale=0.0)
    d1 = generate("refino", n_persons=500, effect_scale=1.0)
    pd.testing.assert_frame_equal(d0.extracts["assignment"], d1.extracts["assignment"])
    # pre-randomisation months are identical
    pre = pd.Timestamp("2018-01-01")
    e0 = d0.extracts["employment"]
    e1 = d1.extracts["employment"]
    pd.testing.assert_frame_equal(e0[e0.month < pre].reset_index(drop=True),
                                  e1[e1.month < pre].reset_index(drop=True))


def test_rct_difference_in_means_matches_truth(data):
    d = data["refino"]
    emp = _monthly_matrix(d, "employment")
    ai = _event_index(d)
    last = _midx(d.extracts["coverage"]["last_month"], d.meta["start_month"])
    treat = (d.extracts["assignment"]["arm"] == "REFINO").to_numpy()
    for e in (6, 24):
        t = ai + e
        ok = t <= last
        y = emp[np.arange(len(ai))[ok], t[ok]]
        g = treat[ok]
        diff = y[g].mean() - y[~g].mean()
        se = np.sqrt(y[g].var() / g.sum() + y[~g].var() / (~g).sum())
        truth = d.truth_value("itt", "employed", arm="REFINO", event_time=e)
        assert abs(diff - truth) < 3.5 * se, (e, diff, truth, se)
        assert abs(truth) < 0.06                                  # small effect, as found


def test_matching_naive_comparison_is_biased(data):
    d = data["bjerke_effektkontrakt"]
    emp = _monthly_matrix(d, "employment")
    ai = _event_index(d)
    last = _midx(d.extracts["coverage"]["last_month"], d.meta["start_month"])
    prog = (d.extracts["assignment"]["arm"] == "programme").to_numpy()
    ys, gs = [], []
    for e in range(24):
        t = ai + e
        ok = t <= last
        ys.append(emp[np.flatnonzero(ok), t[ok]])
        gs.append(prog[ok])
    y, g = np.concatenate(ys), np.concatenate(gs)
    naive = y[g].mean() - y[~g].mean()
    truth = d.truth_value("att_avg_24", "employed")
    assert truth > 0.02
    assert naive < truth - 0.025


# ---------------------------------------------------------------------------------------
# persistence
# ---------------------------------------------------------------------------------------
def test_write_load_round_trip(tmp_path):
    d = generate("back_in_the_ring", n_persons=300, seed=4)
    folder = d.write(tmp_path / "bitr")
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted([f"{n}.parquet" for n in schema.EXTRACTS]
                           + ["truth.parquet", "meta.json", synthetic.MARKER])
    back = load(folder)
    assert back.scenario == "back_in_the_ring" and back.meta == json.loads(json.dumps(d.meta))
    for name in schema.EXTRACTS:
        pd.testing.assert_frame_equal(back.extracts[name], d.extracts[name])
    pd.testing.assert_frame_equal(back.truth, d.truth)
    # same data again: fine; different data: refused unless asked
    d.write(folder)
    other = generate("back_in_the_ring", n_persons=300, seed=5)
    before = (folder / "employment.parquet").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        other.write(folder)
    assert (folder / "employment.parquet").read_bytes() == before        # nothing half-written
    other.write(folder, overwrite=True)
    pd.testing.assert_frame_equal(load(folder).extracts["employment"], other.extracts["employment"])
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_load_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.json"):
        load(tmp_path)


def test_late_entry_in_bjerke(data):
    d = data["bjerke_effektkontrakt"]
    ex = d.extracts
    first = _midx(ex["coverage"]["first_month"], d.meta["start_month"])
    assert (first > 0).sum() == d.meta["n_late_entry"] > 0
    assert (first <= _event_index(d)).all()                 # in the registers at entry
    pos = pd.Series(np.arange(len(first)), index=ex["persons"]["person_id"].to_numpy())
    for name in ("employment", "social_assistance", "benefits", "education"):
        df = ex[name]
        i = pos.loc[df["person_id"].to_numpy()].to_numpy()
        assert (_midx(df["month"], d.meta["start_month"]) >= first[i]).all(), name


# ---------------------------------------------------------------------------------------
# blocks: same seed -> same data whatever the block size; parquet parts
# ---------------------------------------------------------------------------------------
def _assert_same(a, b):
    for name in schema.EXTRACTS:
        pd.testing.assert_frame_equal(a.extracts[name], b.extracts[name], check_exact=True)
    pd.testing.assert_frame_equal(a.truth, b.truth, check_exact=True)
    assert a.meta == b.meta


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_seed_same_data_whatever_the_block_size(scenario):
    """One block and blocks of 1,000 give identical data: the stratified arms, the matching
    scenarios' selection (intercepts from a pre-pass instead of the first block), reoffending
    draws and the truth.  2,100 persons: three chunks, the last one partial."""
    one = generate(scenario, n_persons=2100, seed=5, n_months=30)
    _assert_same(one, generate(scenario, n_persons=2100, seed=5, n_months=30, block_size=1000))


def test_block_ranges_are_whole_chunks():
    assert synthetic.block_ranges(2500, 36, 1500) == [(0, 2000), (2000, 2500)]
    assert synthetic.block_ranges(2500, 36, 1) == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert synthetic.block_ranges(10_000_000, 36, None)[0] == (0, 167_000)
    with pytest.raises(ValueError, match="block_size"):
        synthetic.block_ranges(100, 36, 0)


def test_generate_to_writes_readable_parts(tmp_path):
    import pyarrow.parquet as pq
    d = generate("back_in_the_ring", n_persons=2500, seed=6, n_months=36)
    f = synthetic.generate_to(tmp_path / "bitr", "back_in_the_ring", n_persons=2500, seed=6,
                              n_months=36, block_size=1000, progress=False)
    assert sorted(p.name for p in f.iterdir()) == sorted(
        list(schema.EXTRACTS) + ["truth.parquet", "meta.json", synthetic.MARKER])
    for name in schema.EXTRACTS:
        parts = synthetic.extract_files(f, name)
        assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(3)]
        schemas = {pq.read_schema(p) for p in parts}
        assert len(schemas) == 1, name                     # same schema in every part
        # a plain folder of parquet files: pandas reads it whole
        back = pd.read_parquet(f / name)
        assert len(back) == len(d.extracts[name])
    _assert_same(d, load(f))
    assert not list(f.glob(".*tmp*")) and not list(f.glob(".staging*"))


def test_generate_to_one_block_is_the_single_file_layout(tmp_path):
    d = generate("refino", n_persons=300, seed=2)
    f = synthetic.generate_to(tmp_path / "r", "refino", n_persons=300, seed=2)
    assert (f / "employment.parquet").is_file()
    _assert_same(d, load(f))
    d.write(f)                                             # the same data: nothing to do
    # regenerating with several blocks swaps the layout, leaving no stale single files
    synthetic.generate_to(f, "refino", n_persons=1500, seed=2, block_size=1000, overwrite=True,
                          progress=False)
    assert not (f / "employment.parquet").exists() and (f / "employment").is_dir()
    assert load(f).meta["n_persons"] == 1500


def test_ensure_reuses_current_data_and_regenerates_stale(tmp_path):
    f = tmp_path / "syn"
    synthetic.ensure(f, "unge_paa_vei", n_persons=200, seed=1)
    stamp = (f / "employment.parquet").stat().st_mtime_ns
    synthetic.ensure(f, "unge_paa_vei", n_persons=200, seed=1)          # current: untouched
    assert (f / "employment.parquet").stat().st_mtime_ns == stamp
    synthetic.ensure(f, "unge_paa_vei", n_persons=200, seed=2)          # other settings
    assert load(f).meta["seed"] == 2
    # data of the generator before markers (only its own files): regenerated, not refused
    (f / synthetic.MARKER).unlink()
    assert synthetic.folder_status(f) == "legacy"
    synthetic.ensure(f, "unge_paa_vei", n_persons=200, seed=2)
    assert synthetic.folder_status(f) == "ours" and synthetic.is_current(f, synthetic.settings(
        "unge_paa_vei", n_persons=200, seed=2))


def test_worker_processes_give_the_same_data(tmp_path):
    one = synthetic.generate_to(tmp_path / "w1", "bjerke_effektkontrakt", n_persons=2100, seed=3,
                                n_months=30, block_size=1000, progress=False)
    two = synthetic.generate_to(tmp_path / "w2", "bjerke_effektkontrakt", n_persons=2100, seed=3,
                                n_months=30, block_size=1000, progress=False, workers=2)
    _assert_same(load(one), load(two))
