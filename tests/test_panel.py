"""Tests for evaluation.panel: reading, validation, linkage, derived outcomes, sample flow.

The fixture extracts in tests/data/panel/ are hand-made (window 2020-01..2020-12):

* P1 treatment, assigned 2020-03, covered all year; social assistance 2019-01..2019-11;
  employed 2019-12..2020-03 at 40 % and 2020-04..2020-08 at 60 %; reoffences 2020-04 (1) and
  2020-09 (two rows of 1).
* P2 control, assigned 2020-02, covered 2020-01..2020-06 (attrition); social assistance every
  covered month plus a stray payment in 2020-08; employed 2020-04 (20 %) and 2020-06 (50 %); AAP
  2020-05..06; in education 2020-02.
* P3 treatment, assigned 2020-06, covered 2020-03..2020-12 (late entry); employed full time from
  2019-07; disability 2020-10..12; spells 2020-05-15..2020-07-10 and 2020-11-03..(ongoing).
* P4 only in social_assistance, P5 not in persons, P6 not in coverage: excluded.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation import schema
from evaluation.panel import (OUTCOMES, Panel, PanelValidationError, build_panel, load_panel,
                              read_extracts, validate_extracts)

DATA = Path(__file__).parent / "data" / "panel"
WINDOW = ("2020-01", "2020-12")


@pytest.fixture(scope="module")
def extracts():
    return read_extracts(DATA)


@pytest.fixture(scope="module")
def panel(extracts):
    return build_panel(extracts, window=WINDOW)


def fresh(extracts):
    return {k: v.copy() for k, v in extracts.items()}


def person(panel, pid):
    d = panel.data[panel.data["person_id"] == pid].sort_values("month")
    return d.set_index(d["month"].dt.strftime("%Y-%m"))


def months(d, col):
    return [m for m, v in d[col].items() if v]


def errors_of(excinfo):
    return excinfo.value.problems, str(excinfo.value)


# ----------------------------------------------------------------------------- structure ------
def test_columns_and_types_follow_schema(panel):
    assert list(panel.data.columns) == list(schema.PANEL)
    d = panel.data
    assert d["month"].dtype == "datetime64[ns]"
    for c, t in schema.PANEL.items():
        if t == "bool":
            assert d[c].dtype == bool, c
        if t == "int" and c not in ("event_time", "cohort"):
            assert np.issubdtype(d[c].dtype, np.integer), c
        if t == "str":
            assert isinstance(d[c].dtype, pd.CategoricalDtype), c
    assert str(d["event_time"].dtype) == "Int16" and str(d["cohort"].dtype) == "Int16"


def test_one_row_per_person_month_within_coverage(panel):
    d = panel.data
    assert not d.duplicated(["person_id", "month"]).any()
    assert sorted(d["person_id"].unique()) == ["P1", "P2", "P3"]
    assert list(person(panel, "P1").index) == [f"2020-{m:02d}" for m in range(1, 13)]
    assert list(person(panel, "P2").index) == [f"2020-{m:02d}" for m in range(1, 7)]    # attrition
    assert list(person(panel, "P3").index) == [f"2020-{m:02d}" for m in range(3, 13)]   # late entry
    assert list(person(panel, "P3")["period"]) == list(range(3, 13))


def test_time_and_assignment_columns(panel):
    p1, p2, p3 = (person(panel, p) for p in ("P1", "P2", "P3"))
    assert list(p1["event_time"]) == list(range(-2, 10))
    assert list(p2["event_time"]) == list(range(-1, 5))
    assert p1["cohort"].iloc[0] == 3 and p3["cohort"].iloc[0] == 6 and p2["cohort"].iloc[0] == 0
    assert p1["treated"].all() and not p2["treated"].any()
    assert p1["age"].iloc[0] == 25 and p1["under_30"].all()
    assert p2["age"].iloc[0] == 40 and p3["age"].iloc[0] == 30 and not p3["under_30"].any()
    assert p1["female"].all() and not p2["female"].any()
    assert p1["office"].iloc[0] == "ALNA" and p3["office"].iloc[0] == "BJERKE"
    assert p1["participated"].all() and not p2["participated"].any()


# ----------------------------------------------------------------------- derived outcomes ------
def test_employment_outcomes_hand_computed(panel):
    p1, p2, p3 = (person(panel, p) for p in ("P1", "P2", "P3"))
    assert months(p1, "employed") == [f"2020-{m:02d}" for m in range(1, 9)]
    assert months(p1, "employed_50") == [f"2020-{m:02d}" for m in range(4, 9)]
    # run starts 2019-12 (register history before the window counts): 6th month is 2020-05
    assert months(p1, "job_kept_6m") == [f"2020-{m:02d}" for m in range(5, 9)]
    assert p1.loc["2020-03", "earnings"] == 12000 and p1.loc["2020-04", "earnings"] == 20000
    assert p1.loc["2020-10", "earnings"] == 0 and p1.loc["2020-10", "position_share"] == 0
    assert months(p2, "employed") == ["2020-04", "2020-06"]
    assert months(p2, "employed_50") == ["2020-06"]
    assert not p2["job_kept_6m"].any()
    assert p2.loc["2020-04", "position_share"] == pytest.approx(0.2)
    assert p3["job_kept_6m"].all() and p3["employed_50"].all()


def test_benefit_and_other_outcomes_hand_computed(panel):
    p1, p2, p3 = (person(panel, p) for p in ("P1", "P2", "P3"))
    assert p2["on_social_assistance"].all() and (p2["sa_amount"] == 6000).all()
    assert not p1["on_social_assistance"].any() and (p1["sa_amount"] == 0).all()
    assert months(p2, "on_aap") == ["2020-05", "2020-06"]
    assert months(p2, "on_aap_or_disability") == ["2020-05", "2020-06"]
    assert months(p3, "on_disability") == ["2020-10", "2020-11", "2020-12"]
    assert months(p2, "in_education") == ["2020-02"]
    # self-sufficient: employed, no social assistance, no AAP/disability
    assert months(p1, "self_sufficient") == [f"2020-{m:02d}" for m in range(1, 9)]
    assert not p2["self_sufficient"].any()                       # on social assistance
    assert months(p3, "self_sufficient") == [f"2020-{m:02d}" for m in range(3, 10)]
    assert months(p3, "in_measure") == ["2020-05", "2020-06", "2020-07", "2020-11", "2020-12"]
    assert not p2["in_measure"].any()                            # spell ended 2019
    assert p1.loc["2020-04", "reoffence_events"] == 1 and p1.loc["2020-09", "reoffence_events"] == 2
    assert months(p1, "reoffended") == ["2020-04", "2020-09"]
    assert panel.data.loc[panel.data.person_id != "P1", "reoffence_events"].eq(0).all()


def test_baseline_histories_hand_computed(panel):
    pers = panel.persons().set_index("person_id")
    # P1: reference 2020-03; SA 2019-01..11; employed 2019-12..2020-02 before reference
    assert pers.loc["P1", ["sa_months_12", "sa_months_24", "emp_months_12", "emp_months_24"]].tolist() == [9, 11, 3, 3]
    assert pers.loc["P1", "earnings_12"] == 10000 + 2 * 12000
    assert pers.loc["P1", "sa_amount_12"] == 9 * 5000
    # P2: reference 2020-02; one SA month (2020-01) before it
    assert pers.loc["P2", ["sa_months_12", "sa_months_24", "emp_months_12", "emp_months_24"]].tolist() == [1, 1, 0, 0]
    assert pers.loc["P2", "sa_amount_12"] == 6000 and pers.loc["P2", "earnings_12"] == 0
    # P3: reference 2020-06; employed 2019-07..2020-05 = 11 months
    assert pers.loc["P3", ["sa_months_12", "emp_months_12", "emp_months_24"]].tolist() == [0, 11, 11]
    assert pers.loc["P3", "earnings_12"] == 6 * 40000 + 5 * 42000
    # data start 2019-01: P1's 24-month window (2018-03..2020-02) has 14 observed months
    assert panel.meta["panel"]["data_start"] == "2019-01"
    assert pers.loc["P1", "baseline_observed_24"] == 14 and pers.loc["P1", "baseline_observed_12"] == 12
    # the panel repeats the person-level values on every row
    assert (person(panel, "P1")["sa_months_12"] == 9).all()


# ---------------------------------------------------------------------------- sample flow ------
def test_sample_flow_adds_up(panel):
    f = panel.flow
    assert list(f.columns) == ["step", "stage", "kind", "reason", "persons", "person_months"]
    ps = f[f.stage == "persons"]
    total = ps[ps.kind == "total"]
    excl = ps[ps.kind == "excluded"]
    kept = ps[ps.kind == "kept"]
    assert total.persons.item() == 6
    assert total.persons.item() == excl.persons.sum() + kept.persons.item()
    assert kept.persons.item() == panel.data.person_id.nunique() == 3
    assert total.person_months.item() == excl.person_months.sum() + kept.person_months.item()
    reasons = dict(zip(excl.reason, excl.persons))
    assert reasons["no assignment record"] == 1            # P4
    assert reasons["no covariates (not in persons)"] == 1  # P5
    assert reasons["no coverage record"] == 1              # P6
    pm = f[f.stage == "person-months"]
    assert pm[pm.kind == "total"].person_months.item() == 3 * 12
    assert pm[pm.kind == "total"].person_months.item() == (pm[pm.kind == "excluded"].person_months.sum()
                                                           + pm[pm.kind == "kept"].person_months.item())
    assert pm[pm.kind == "kept"].person_months.item() == len(panel.data) == 28
    att = pm[pm.reason.str.startswith("months after last_month")]
    assert att.persons.item() == 1 and att.person_months.item() == 6
    rec = f[f.stage == "records"]
    stray = rec[rec.reason == "social_assistance: records in months outside the person's coverage"]
    assert stray.persons.item() == 1 and stray.person_months.item() == 1   # P2's 2020-08 payment


def test_soft_issues_are_recorded_as_warnings(panel):
    text = "\n".join(str(p) for p in panel.report.warnings)
    assert "absent from persons" in text and "'P5'" in text
    assert "absent from coverage" in text and "'P6'" in text
    assert "present in social_assistance but absent from assignment" in text and "'P4'" in text


# ---------------------------------------------------------------------------- bad inputs -------
def build_bad(extracts, **kw):
    with pytest.raises(PanelValidationError) as ei:
        build_panel(extracts, window=kw.pop("window", WINDOW), **kw)
    return errors_of(ei)


def test_missing_column(extracts):
    ex = fresh(extracts)
    ex["employment"] = ex["employment"].drop(columns="earnings")
    probs, msg = build_bad(ex)
    assert "employment" in msg and "'earnings'" in msg and "missing" in msg and "Fix:" in msg
    assert probs[0].kind == "missing column"


def test_missing_required_extract(extracts):
    ex = fresh(extracts)
    del ex["coverage"]
    _, msg = build_bad(ex)
    assert "required extract 'coverage' is missing" in msg and "coverage.csv" in msg


def test_text_in_numeric_column_names_rows(tmp_path):
    shutil.copytree(DATA, tmp_path / "x")
    p = tmp_path / "x" / "social_assistance.csv"
    lines = p.read_text().splitlines()
    lines[3] = lines[3].replace("5000", "5 000 kr")     # data row 3
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(PanelValidationError) as ei:
        load_panel(tmp_path / "x", window=WINDOW)
    probs, msg = errors_of(ei)
    assert "social_assistance, column 'amount'" in msg and "not a number" in msg
    assert "row 3 (person_id 'P1', amount='5 000 kr')" in msg
    assert probs[0].count == 1


def test_bad_date_and_bool_values(extracts):
    ex = fresh(extracts)
    a = ex["assignment"].astype({"assigned_month": object, "participated": object})
    a.loc[1, "assigned_month"] = "next spring"
    a.loc[2, "participated"] = "maybe"
    ex["assignment"] = a
    _, msg = build_bad(ex)
    assert "column 'assigned_month'" in msg and "row 2 (person_id 'P2', assigned_month='next spring')" in msg
    assert "column 'participated'" in msg and "'maybe'" in msg


def test_duplicate_person_months(extracts):
    ex = fresh(extracts)
    sa = ex["social_assistance"]
    ex["social_assistance"] = pd.concat([sa, sa.iloc[[12]]], ignore_index=True)   # P2 2020-02 twice
    probs, msg = build_bad(ex)
    assert "duplicate person-months" in msg and "social_assistance" in msg
    assert "row 13 (person_id 'P2', month=2020-02-01" in msg and probs[0].count == 2


def test_duplicate_persons(extracts):
    ex = fresh(extracts)
    ex["persons"] = pd.concat([ex["persons"], ex["persons"].iloc[[0]]], ignore_index=True)
    _, msg = build_bad(ex)
    assert "persons, column 'person_id': duplicate persons" in msg and "row 5 (person_id 'P1')" in msg


def test_assignment_changing_within_person(extracts):
    ex = fresh(extracts)
    extra = ex["assignment"].iloc[[0]].copy()
    extra["arm"] = "control"
    ex["assignment"] = pd.concat([ex["assignment"], extra], ignore_index=True)
    _, msg = build_bad(ex)
    assert "assignment changes within a person" in msg and "two or more different arms" in msg
    assert "person_id 'P1', arm='treatment'" in msg and "person_id 'P1', arm='control'" in msg


def test_dates_outside_window(extracts):
    ex = fresh(extracts)
    _, msg = build_bad(ex, window=("2020-01", "2020-06"))
    assert "dates outside the study window 2020-01..2020-06" in msg
    assert "employment, column 'month'" in msg and "row 14 (person_id 'P2', month=2020-06-01)" not in msg
    assert "month=2020-07-01" in msg and "outside_window='exclude'" in msg
    # the same with explicit exclusion: counted in the flow instead
    p = build_panel(ex, window=("2020-01", "2020-06"), outside_window="exclude")
    rec = p.flow[p.flow.reason == "employment: records after the window end"]
    assert rec.person_months.item() == 2 + 6 and p.data.month.max() == pd.Timestamp("2020-06-01")
    # records more than lookback_months before the window start are errors too
    _, msg = build_bad(ex, window=("2020-01", "2020-12"), lookback_months=6)
    assert "baseline history from 2019-07 allowed" in msg and "month=2019-01-01" in msg


def test_negative_amounts_and_position_share(extracts):
    ex = fresh(extracts)
    sa = ex["social_assistance"].copy()
    sa.loc[0, "amount"] = -100.0
    em = ex["employment"].copy()
    em.loc[1, "position_share"] = 60.0
    em.loc[2, "earnings"] = -1.0
    ex["social_assistance"], ex["employment"] = sa, em
    probs, msg = build_bad(ex)
    assert "social_assistance, column 'amount': negative amount" in msg and "amount=-100" in msg
    assert "position_share outside [0, 1]" in msg and "position_share=60" in msg and "divide percentages" in msg
    assert "employment, column 'earnings': negative earnings" in msg
    assert len(probs) == 3


def test_unknown_office(extracts):
    _, msg = build_bad(fresh(extracts), offices=["ALNA", "GRORUD"])
    assert "unknown office codes" in msg and "office='BJERKE'" in msg and "person_id 'P3'" in msg
    build_panel(extracts, window=WINDOW, offices=["ALNA", "BJERKE", "GRORUD"])   # all known: fine


def test_linkage_strict_mode(extracts):
    probs, msg = build_bad(fresh(extracts), linkage="error")
    assert all(p.kind == "linkage" for p in probs)
    assert "persons present in social_assistance but absent from persons" in msg
    assert "'P4'" in msg and "'P5'" in msg


def test_other_value_errors(extracts):
    ex = fresh(extracts)
    b = ex["benefits"].copy()
    b.loc[0, "benefit"] = "sickness"
    c = ex["coverage"].copy()
    c.loc[0, "last_month"] = pd.Timestamp("2019-01-01")
    p = ex["persons"].copy()
    p.loc[0, "sex"] = "female"
    ex.update(benefits=b, coverage=c, persons=p)
    _, msg = build_bad(ex)
    assert "unknown benefit" in msg and "benefit='sickness'" in msg
    assert "last_month before first_month" in msg
    assert "sex must be 'F' or 'M'" in msg


def test_all_errors_listed_and_report_without_raising(extracts):
    ex = fresh(extracts)
    ex["employment"] = ex["employment"].drop(columns="earnings")
    sa = ex["social_assistance"].copy()
    sa.loc[0, "amount"] = -1.0
    ex["social_assistance"] = sa
    rep = validate_extracts(ex, window=WINDOW, raise_errors=False)
    assert not rep.ok and len(rep.errors) == 2
    frame = rep.to_frame()
    assert set(frame.severity) == {"error", "warning"}
    assert "negative amount" in rep.summary()


def test_inputs_not_modified(extracts):
    ex = fresh(extracts)
    before = {k: v.copy() for k, v in ex.items()}
    build_panel(ex, window=WINDOW)
    for k in ex:
        pd.testing.assert_frame_equal(ex[k], before[k])


# ------------------------------------------------------------------------- file formats --------
def _hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).iterdir())}


def _write_parquet(extracts, folder):
    folder.mkdir()
    for k, v in extracts.items():
        v.to_parquet(folder / f"{k}.parquet", index=False)


def test_csv_and_parquet_give_same_panel(extracts, panel, tmp_path):
    _write_parquet(extracts, tmp_path / "pq")
    before = _hashes(tmp_path / "pq")
    p = load_panel(tmp_path / "pq", window=WINDOW)
    assert _hashes(tmp_path / "pq") == before
    # typed parquet is read by the engine where it lies (a view), never into pandas
    assert set(p.meta["panel"]["readers"].values()) == {"duckdb-parquet-view"}
    pd.testing.assert_frame_equal(p.data, panel.data)
    pd.testing.assert_frame_equal(p.flow, panel.flow)


def test_duckdb_path_gives_same_panel(extracts, panel, tmp_path):
    _write_parquet(extracts, tmp_path / "pq")
    ex2 = extracts["employment"].assign(extra_column="not in schema")
    ex2.to_parquet(tmp_path / "pq" / "employment.parquet", index=False)
    before = _hashes(tmp_path / "pq")
    p = load_panel(tmp_path / "pq", window=WINDOW, large_file_mb=0)
    assert _hashes(tmp_path / "pq") == before
    assert set(p.meta["panel"]["readers"].values()) == {"duckdb-parquet-view"}
    pd.testing.assert_frame_equal(p.data, panel.data)
    assert p.meta["panel"]["readers"] == {k: "duckdb-parquet-view" for k in p.meta["panel"]["readers"]}
    got = read_extracts(tmp_path / "pq", names=["employment"], large_file_mb=0)["employment"]
    assert list(got.columns) == list(schema.EXTRACTS["employment"])
    assert got.attrs["ignored_columns"] == ["extra_column"]


def test_load_panel_csv_keeps_files_and_reads_meta_truth(tmp_path, panel):
    folder = tmp_path / "scen"
    shutil.copytree(DATA, folder)
    (folder / "meta.json").write_text(json.dumps({"scenario": "handmade", "window_start": "2020-01",
                                                  "window_end": "2020-12"}))
    pd.DataFrame({"estimand": ["ATT"], "value": [0.1]}).to_parquet(folder / "truth.parquet")
    before = _hashes(folder)
    p = load_panel(folder)                      # window from meta.json
    assert _hashes(folder) == before
    assert p.meta["scenario"] == "handmade" and p.window == ("2020-01", "2020-12")
    assert p.truth["value"].item() == 0.1
    pd.testing.assert_frame_equal(p.data, panel.data)


def test_read_extracts_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_extracts(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no extracts found"):
        read_extracts(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="persons.parquet or persons.csv"):
        read_extracts(tmp_path / "empty", names=["persons"])
    with pytest.raises(ValueError, match="unknown extract"):
        read_extracts(DATA, names=["salaries"])


# --------------------------------------------------------------------------- options -----------
def test_optional_extracts_and_outcome_subset(extracts):
    ex = {k: v for k, v in extracts.items() if k in schema.REQUIRED_EXTRACTS}
    p = build_panel(ex, window=WINDOW, outcomes=["employed", "reoffended", "in_measure"])
    assert [c for c in p.data.columns if c in OUTCOMES] == ["employed", "in_measure", "reoffended"]
    assert not p.data["reoffended"].any() and not p.data["in_measure"].any()
    assert "reoffending" in p.meta["panel"]["missing_extracts"]
    with pytest.raises(ValueError, match="unknown outcome"):
        build_panel(ex, window=WINDOW, outcomes=["happiness"])


def test_window_inferred_and_never_treated(extracts):
    ex = fresh(extracts)
    a = ex["assignment"].copy()
    a.loc[a.person_id == "P2", ["arm", "assigned_month"]] = ["comparison", pd.NaT]
    a.loc[a.person_id == "P3", "assigned_month"] = pd.Timestamp("2019-12-01")   # before window
    ex["assignment"] = a
    p = build_panel(ex, lookback_months=24)          # window from coverage: 2020-01..2020-12
    assert p.window == ("2020-01", "2020-12")
    p2 = person(p, "P2")
    assert p2["event_time"].isna().all() and (p2["cohort"] == 0).all() and not p2["treated"].any()
    assert p2["age"].iloc[0] == 2020 - 1980                       # age at window start
    p3 = person(p, "P3")
    assert p3["cohort"].isna().all() and p3["event_time"].iloc[0] == 3
    info = p.flow[p.flow.reason.str.contains("cohort missing")]
    assert info.persons.item() == 1


def test_person_columns_separate(extracts, panel):
    p = build_panel(extracts, window=WINDOW, include_person_columns=False)
    assert "age" not in p.data.columns and "sa_months_12" not in p.data.columns
    assert "arm" in p.data.columns and "cohort" in p.data.columns
    merged = p.data.merge(p.persons()[["person_id", "age"]].astype({"person_id": object}),
                          left_on=p.data.person_id.astype(object), right_on="person_id")
    assert (merged["age"].to_numpy() == panel.data["age"].to_numpy()).all()


def test_summary_html_describe(panel):
    s = panel.summary()
    assert "3 persons" in s and "28 person-months" in s and "no assignment record" in s
    html = panel._repr_html_()
    assert "<table" in html and "Sample flow" in html
    d = panel.describe_by("arm")
    assert d.loc[("person", "persons"), ("treatment", "n")] == 2
    assert d.loc[("person", "age"), ("treatment", "mean")] == pytest.approx(27.5)
    # employed months of treated persons: P1 8 of 12, P3 10 of 10
    assert d.loc[("person-month", "employed"), ("treatment", "mean")] == pytest.approx(18 / 22)
    assert d.loc[("person", "sa_months_12"), ("control", "mean")] == 1
    by_office = panel.describe_by("office")
    assert set(by_office.columns.get_level_values(0)) == {"ALNA", "BJERKE"}
    with pytest.raises(ValueError, match="not a person-level column"):
        panel.describe_by("month")
    assert isinstance(panel, Panel) and "Panel" in repr(panel)


# ------------------------------------------------------------------------- synthetic data ------
def test_synthetic_scenarios_build():
    synthetic = pytest.importorskip("evaluation.synthetic")
    for scen in schema.SCENARIOS:
        sample = synthetic.generate(scen, n_persons=300, seed=1)
        meta = getattr(sample, "meta", {}) or {}
        from evaluation.panel import _window_from_meta
        p = build_panel(sample.extracts, window=_window_from_meta(meta), outside_window="exclude")
        assert len(p.data) > 0, scen
        ps = p.flow[p.flow.stage == "persons"]
        assert ps[ps.kind == "total"].persons.item() == (ps[ps.kind == "excluded"].persons.sum()
                                                         + ps[ps.kind == "kept"].persons.item()), scen
        assert list(p.data.columns) == list(schema.PANEL), scen
        if scen == "alna_aktiv":   # staggered rollout: cohorts are periods of adoption, 0 = never
            pers = p.persons()
            assert (pers.loc[~pers.treated, "cohort"] == 0).all()
            assert set(pers.loc[pers.treated, "cohort"].dropna()) <= set(sample.truth["cohort"].dropna())


def test_load_panel_from_written_synthetic_sample(tmp_path):
    synthetic = pytest.importorskip("evaluation.synthetic")
    sample = synthetic.generate("refino", n_persons=200, seed=3)
    folder = sample.write(tmp_path / "refino")
    before = _hashes(folder)
    p = load_panel(folder)                         # window and offices from meta.json
    assert _hashes(folder) == before
    assert p.truth is not None and len(p.truth) == len(sample.truth)
    assert p.meta["scenario"] == "refino"
    assert p.window == (sample.meta["start_month"], sample.meta["end_month"])
    direct = build_panel(sample.extracts, window=p.window)
    pd.testing.assert_frame_equal(p.data, direct.data)


def test_job_kept_with_minimum_share(extracts):
    p = build_panel(extracts, window=WINDOW, job_kept_min_share=0.5)
    p1 = person(p, "P1")
    # >= 50 % only from 2020-04: the 6th such month is 2020-09, but P1 stops working after 2020-08
    assert not p1["job_kept_6m"].any()
    assert person(p, "P3")["job_kept_6m"].all()
    assert p.persons().set_index("person_id").loc["P1", "mapping_month"] == pd.Timestamp("2020-04-01")


def test_missing_optional_columns_are_warnings(extracts):
    ex = fresh(extracts)
    ex["assignment"] = ex["assignment"].drop(columns=["stratum", "participated"])
    ex["persons"] = ex["persons"].drop(columns=["years_in_norway"])
    ex["salaries"] = pd.DataFrame({"person_id": ["P1"]})
    p = build_panel(ex, window=WINDOW)
    text = "\n".join(str(w) for w in p.report.warnings)
    assert "optional column 'stratum' is missing" in text and "'years_in_norway'" in text
    assert "extract 'salaries' is not in the schema" in text
    assert p.data["stratum"].isna().all() and p.data["years_in_norway"].isna().all()
    assert str(p.data["participated"].dtype) == "boolean" and p.data["participated"].isna().all()
    assert len(p.data) == 28


def test_summary_describe_display_read_no_data(extracts, panel):
    """summary(), describe_by() and the notebook display are computed by the engine / from one
    row group: they work on a panel whose Panel.data is refused (above data_row_limit), with the
    same numbers as on the data, also by a person column kept only in the person table."""
    big = build_panel(extracts, window=WINDOW, data_row_limit=1, include_person_columns=False)
    with pytest.raises(MemoryError):
        big.data
    assert big.summary() == panel.summary()
    assert "<table" in big._repr_html_()
    for by in ("arm", "sex"):
        a, b = big.describe_by(by), panel.describe_by(by)
        pd.testing.assert_frame_equal(a, b.loc[a.index, a.columns], check_exact=False, rtol=1e-12)
    agg = big.aggregate([], outcomes=["employed"], sd=True)
    d = panel.data["employed"].astype(float)
    assert agg["n"].item() == len(d) and agg["employed_sd"].item() == pytest.approx(d.std(), rel=1e-12)


def test_describe_by_a_column_with_missing_values():
    """Persons without a provider (the control arm) are the group "(missing)", in the person and
    the person-month rows alike (both used to fail with a KeyError on the NaN group)."""
    from evaluation.panel.panel import MISSING_GROUP
    synthetic = pytest.importorskip("evaluation.synthetic")
    sample = synthetic.generate("unge_paa_vei", n_persons=300, seed=1)
    from evaluation.panel import _window_from_meta
    p = build_panel(sample.extracts, window=_window_from_meta(getattr(sample, "meta", {}) or {}),
                    outside_window="exclude")
    d = p.describe_by("provider", outcomes=["employed"])
    assert MISSING_GROUP in d.columns.get_level_values(0)
    data = p.data
    g = data["provider"].astype(object).where(data["provider"].notna(), MISSING_GROUP)
    want = data.groupby(g)["employed"].agg(["count", "mean", "std"])
    for grp, r in want.iterrows():
        assert d.loc[("person-month", "employed"), (grp, "n")] == r["count"]
        assert d.loc[("person-month", "employed"), (grp, "mean")] == pytest.approx(r["mean"], rel=1e-12)
        assert d.loc[("person-month", "employed"), (grp, "sd")] == pytest.approx(r["std"], rel=1e-12)
    persons = p.persons()
    assert d.loc[("person", "persons"), (MISSING_GROUP, "n")] == persons["provider"].isna().sum()


def test_in_measure_runs_match_every_spell_month(extracts):
    """``in_measure`` (built from runs of months in and out of a measure,
    :func:`evaluation.panel.outcomes.measure_runs`) against a month-by-month check of every
    spell: overlapping, nested, touching, starting before the window, open-ended, without a
    measure, and one month at the end of the person's coverage."""
    spells = pd.DataFrame({
        "person_id": ["P1", "P1", "P1", "P1", "P1", "P3", "P3", "P3", "P3", "P2"],
        "spell_start": ["2019-10-05", "2020-02-01", "2020-03-10", "2020-05-01", "2020-06-01",
                        "2020-04-01", "2020-04-20", "2020-08-01", "2020-12-01", "2020-03-01"],
        "spell_end": ["2020-01-10", "2020-04-30", "2020-03-20", "2020-05-31", "2020-07-15",
                      "2020-06-30", "2020-05-05", None, "2020-12-31", "2020-05-01"],
        "measure": ["a", "b", "c", "d", "e", "f", "g", "h", "i", None]})
    spells["spell_start"] = pd.to_datetime(spells["spell_start"])
    spells["spell_end"] = pd.to_datetime(spells["spell_end"])
    ex = {**extracts, "jobseeker_spells": spells}
    p = build_panel(ex, window=WINDOW, outside_window="exclude")
    d = p.data
    s = spells[spells["measure"].notna()]
    start, end = s["spell_start"].dt.to_period("M"), s["spell_end"].dt.to_period("M")
    for _, row in d.iterrows():
        m = row["month"].to_period("M")
        want = ((s["person_id"] == row["person_id"]) & (start <= m)
                & (end.isna() | (end >= m))).any()
        assert row["in_measure"] == want, (row["person_id"], str(m))
    assert months(person(p, "P1"), "in_measure") == ["2020-01", "2020-02", "2020-03", "2020-04",
                                                      "2020-05", "2020-06", "2020-07"]
    assert months(person(p, "P3"), "in_measure") == ["2020-04", "2020-05", "2020-06", "2020-08",
                                                      "2020-09", "2020-10", "2020-11", "2020-12"]
    assert not person(p, "P2")["in_measure"].any()      # its spell has no measure
