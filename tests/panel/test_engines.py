"""The panel build on DuckDB and on Spark (local mode): identical panels, flows and estimates.

One Spark session for the module (starting one costs tens of seconds).  The fixture extracts of
tests/data/panel and the five synthetic scenarios at a small size are built by both engines and
compared row for row, value for value; the headline ITT (difference in means at event month 12)
is computed from each engine's person frame.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation import schema, synthetic
from evaluation.panel import build_panel, read_extracts
from evaluation.panel.engine import EngineError, check_engine, spark_session
from evaluation.panel.load import _window_from_meta

DATA = Path(__file__).resolve().parent.parent / "data" / "panel"
WINDOW = ("2020-01", "2020-12")
SMALL = 150


def _java_ok() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java")) or bool(home and (Path(home) / "bin" / "java").is_file())


spark_only = pytest.mark.skipif(not _java_ok(), reason="no Java for Spark local mode")


@pytest.fixture(scope="module")
def spark():
    return spark_session()


def _same(a, b):
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.flow, b.flow)
    pd.testing.assert_frame_equal(a.persons(), b.persons())


def _itt(p, outcome="employed", horizon=12):
    f = p.person_frame(horizon, columns=["treated", outcome])
    y = f[outcome].astype(float)
    return y[f["treated"]].mean() - y[~f["treated"]].mean()


@spark_only
def test_fixture_identical_on_duckdb_and_spark(spark):
    ex = read_extracts(DATA)
    a = build_panel(ex, window=WINDOW)
    b = build_panel(ex, window=WINDOW, engine="spark")
    _same(a, b)
    assert b.meta["panel"]["engine"] == "spark"


@spark_only
@pytest.mark.parametrize("scenario", list(schema.SCENARIOS))
def test_scenarios_identical_on_duckdb_and_spark(spark, scenario):
    s = synthetic.generate(scenario, n_persons=SMALL, seed=3)
    w = _window_from_meta(s.meta)
    a = build_panel(s.extracts, window=w, outside_window="exclude")
    b = build_panel(s.extracts, window=w, outside_window="exclude", engine="spark")
    _same(a, b)
    ia, ib = _itt(a), _itt(b)
    assert ia == ib or (np.isnan(ia) and np.isnan(ib))


def test_misspelt_engine_is_an_error_naming_the_choices():
    with pytest.raises(EngineError, match=r"unknown engine 'duckbd' \(did you mean 'duckdb'\?\).*--engine"):
        check_engine("duckbd")
    with pytest.raises(EngineError, match="unknown engine 'pandas'"):
        build_panel(read_extracts(DATA), window=WINDOW, engine="pandas")


def test_spark_without_java_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    with pytest.raises(EngineError, match=r"JAVA_HOME=.*nowhere.*has no bin/java.*Java 17.*engine: duckdb"):
        spark_session(new=True)


def test_memory_limit_too_small_names_the_fix(tmp_path):
    s = synthetic.generate("refino", n_persons=400, seed=1)
    w = _window_from_meta(s.meta)
    with pytest.raises(EngineError, match=r"out of memory.*memory_limit='1MB'.*raise memory_limit"):
        build_panel(s.extracts, window=w, outside_window="exclude", memory_limit="1MB",
                    work_dir=tmp_path)


def test_bad_memory_limit_string():
    with pytest.raises(EngineError, match="memory_limit is a size such as '4GB'"):
        build_panel(read_extracts(DATA), window=WINDOW, memory_limit="lots")


def test_built_columns_within_schema_panel_columns():
    p = build_panel(read_extracts(DATA), window=WINDOW)
    assert set(p.store.columns) <= set(schema.panel_columns())
    assert list(p.data.columns) == list(schema.panel_columns())


def test_frames_come_from_disk_and_match_the_data():
    p = build_panel(read_extracts(DATA), window=WINDOW)
    d = p.data
    f = p.person_frame([0, 3], columns=["treated", "employed"])
    exp = d.loc[d["event_time"].isin([0, 3]), ["person_id", "event_time", "treated", "employed"]]
    pd.testing.assert_frame_equal(f, exp.reset_index(drop=True))
    pp = p.person_period(["employed"], periods=[1, 2])
    assert len(pp) == int(d["period"].isin([1, 2]).sum()) and list(pp.columns) == ["person_id", "period", "employed"]
    agg = p.aggregate(["arm", "period"], outcomes=["employed", "sa_amount"])
    g = d.groupby(["arm", "period"], observed=True)
    assert agg["n"].tolist() == g.size().tolist()
    np.testing.assert_allclose(agg["sa_amount_sum"], g["sa_amount"].sum().to_numpy())
    with pytest.raises(ValueError, match="column\\(s\\) \\['employd'\\] not in the panel"):
        p.person_frame(0, columns=["employd"])


def test_data_row_limit_points_to_the_frames():
    p = build_panel(read_extracts(DATA), window=WINDOW, data_row_limit=10)
    with pytest.raises(MemoryError, match="more than data_row_limit=10.*person_frame.*person_period.*aggregate"):
        p.data
    assert len(p.person_frame(0)) == 3


def test_engine_in_params_and_on_the_command_line(tmp_path):
    import subprocess
    import sys

    import yaml

    from evaluation.params import ParamsError, load_params
    root = Path(__file__).resolve().parents[2]
    d = yaml.safe_load((root / "params" / "refino.yaml").read_text())
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump({**d, "data": {**d["data"], "engine": "sprak"}}))
    with pytest.raises(ParamsError, match="data.engine.*'duckdb', 'spark' or 'bigquery'"):
        load_params(f)
    f.write_text(yaml.safe_dump({**d, "data": {**d["data"], "engine": "spark", "memory_limit": "2GB"}}))
    assert load_params(f).data.engine == "spark"
    r = subprocess.run([sys.executable, "-m", "evaluation", "render", str(f), "--engine", "duckbd"],
                       capture_output=True, text=True, cwd=root)
    assert r.returncode == 2 and "unknown engine 'duckbd'" in r.stderr and "Traceback" not in r.stderr


def _ids_with_awkward_prefixes() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    ids = {f"P{i:07d}" for i in rng.integers(0, 10**7, 400)}
    ids |= {"", "a", "ab", "abc", "abcd", "P1", "P10", "Z9", "0", "00123", "Ø12", "é9"}
    return pd.DataFrame({"person_id": rng.permutation(sorted(ids))})


def test_person_key_is_the_rank_by_person_id_on_duckdb():
    """pk by prefix groups plus offsets equals the global rank, for ids of any length."""
    import ibis
    from evaluation.panel.relational import person_key
    ids = _ids_with_awkward_prefixes()
    con = ibis.duckdb.connect()
    got = con.execute(person_key(con.create_table("ids", ids))).sort_values("pk")
    assert got["person_id"].tolist() == sorted(ids["person_id"]) and got["pk"].tolist() == list(range(len(ids)))


def test_person_key_is_a_64_bit_integer_in_the_engine():
    """DuckDB sums BIGINT as HUGEINT and Ibis leaves out a cast to int64 it thinks is a no-op;
    pk must still be BIGINT in the engine (a HUGEINT pk went to parquet as DOUBLE, and every
    person-month key, join and group-by after it ran on doubles)."""
    import ibis
    from evaluation.panel.relational import person_key
    con = ibis.duckdb.connect()
    rel = con.con.sql(str(con.compile(person_key(con.create_table("ids", _ids_with_awkward_prefixes())))))
    assert dict(zip(rel.columns, rel.types))["pk"] == "BIGINT"


@spark_only
def test_person_key_is_ranked_in_partitions_on_spark(spark):
    """On Spark the persons are ranked per prefix group (a partitioned window: no single task
    for all persons), and the key is still the global rank."""
    import ibis
    from evaluation.panel.relational import person_key
    ids = _ids_with_awkward_prefixes()
    con = ibis.pyspark.connect(spark)
    sql = str(con.compile(person_key(con.create_table("ids_pk", ids, overwrite=True))))
    assert "ROW_NUMBER() OVER (PARTITION BY" in sql.replace("\n", " ")
    got = spark.sql(sql).toPandas().sort_values("pk")
    assert got["person_id"].tolist() == sorted(ids["person_id"]) and got["pk"].tolist() == list(range(len(ids)))
