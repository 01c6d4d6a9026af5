"""Validation in the engine: partitioned parquet extracts are checked where they lie, counts and
example rows equal those of the same extracts checked as frames, and row numbers count across
parts."""
from __future__ import annotations

import re

import ibis
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


# --- duplicate checks: hash screen in the count query, exact count only when it is nonzero ---

MONTHLY = ("social_assistance", "employment", "benefits", "education")


def _with_duplicates(parts):
    """The sample as frames with, per monthly extract, its first row repeated at the end; in
    benefits also a row differing from the first only in ``benefit`` (not a duplicate of the
    three-column key); in assignment one person repeated with the same arm and one with the
    other arm."""
    ex = read_extracts(parts)
    n = {}
    for name in MONTHLY:
        df = ex[name]
        n[name] = len(df)
        extra = [df.iloc[[0]]]
        if name == "benefits":
            other = df.iloc[[0]].copy()
            other["benefit"] = "disability" if other["benefit"].iloc[0] == "AAP" else "AAP"
            assert not ((df.person_id == other.person_id.iloc[0]) & (df.month == other.month.iloc[0])
                        & (df.benefit == other.benefit.iloc[0])).any()
            extra.append(other)
        ex[name] = pd.concat([df, *extra], ignore_index=True)
    a = ex["assignment"]
    n["assignment"] = len(a)
    changed = a.iloc[[1]].copy()
    arms = sorted(a["arm"].dropna().unique())
    changed["arm"] = next(x for x in arms if x != changed["arm"].iloc[0])
    ex["assignment"] = pd.concat([a, a.iloc[[0]], changed], ignore_index=True)
    return ex, n


def test_duplicates_are_counted_exactly_with_their_examples(parts, tmp_path):
    """Every monthly extract (benefits keyed by person, month and benefit) and assignment (a
    repeated row: "duplicate"; a second arm: "assignment changes"): exact counts (both copies)
    and the first rows as examples, on the frame and the parquet routes."""
    import shutil
    ex, n = _with_duplicates(parts)
    rep = validate_extracts(ex, raise_errors=False)
    folder = tmp_path / "dups"
    shutil.copytree(parts, folder)
    for name in (*MONTHLY, "assignment"):
        shutil.rmtree(folder / name)
        _write_parts(ex[name], folder / name)
    lazy = read_extracts(folder, lazy=True)
    assert all(isinstance(lazy[name], ParquetSource) for name in (*MONTHLY, "assignment"))
    assert _problems(validate_extracts(lazy, raise_errors=False)) == _problems(rep)
    dups = {(p.extract, p.kind): p for p in rep.problems if p.kind in ("duplicate", "assignment changes")}
    assert set(dups) == {*((m, "duplicate") for m in MONTHLY), ("assignment", "duplicate"),
                         ("assignment", "assignment changes")}
    for name in MONTHLY:
        p = dups[name, "duplicate"]
        assert p.count == 2 and p.column == "month"
        assert [e.split(" (")[0] for e in p.examples] == ["row 1", f"row {n[name] + 1}"]
        assert p.examples[0].startswith(f"row 1 (person_id {ex[name].person_id.iloc[0]!r}, ")
    a = ex["assignment"]
    p = dups["assignment", "duplicate"]
    assert (p.column, p.count) == ("person_id", 2)
    assert p.examples == [f"row {r} (person_id {a.person_id.iloc[0]!r})" for r in (1, n["assignment"] + 1)]
    p = dups["assignment", "assignment changes"]
    assert (p.column, p.count) == ("arm", 2)
    assert [e.split(" (")[0] for e in p.examples] == ["row 2", f"row {n['assignment'] + 2}"]
    assert p.message.startswith("assignment changes within a person")


@pytest.mark.parametrize("window", [("2018-01", "2023-12"), ("2021-01", "2021-12"), ("2030-01", "2030-12")],
                         ids=["all-months-in-the-masks", "some-outside", "all-outside"])
def test_duplicates_with_a_window_match_those_without(parts, window):
    """With a window the monthly screens count repeats per person with month masks
    (:func:`evaluation.panel.validate._month_screen`; records outside the window and look-back
    get the hash screen): the duplicate problems are those found without a window."""
    ex, _ = _with_duplicates(parts)

    def dups(rep):
        return [x for x in _problems(rep) if x[2] in ("duplicate", "assignment changes")]
    want = dups(validate_extracts(ex, raise_errors=False))
    assert len(want) == 6
    assert dups(validate_extracts(ex, raise_errors=False, window=window, outside_window="exclude")) == want


def test_the_month_screen_counts_every_repeat_and_no_distinct_key():
    """Masks of 62 months: repeats in the first and a later mask are counted; benefits AAP and
    disability in one month are not a repeat, two AAP are; a month outside the span goes to the
    hash screen; a key with a missing month is screened by hash too."""
    from evaluation.panel import validate as v
    from evaluation.panel.engine import connect
    con = connect("duckdb")
    lo, hi = 600, 600 + 150
    months = pd.to_datetime([f"{(m) // 12 + 1970}-{m % 12 + 1:02d}-01" for m in
                             (600, 661, 662, 662, 723, 750, 750, 900, 900, 600)])
    df = pd.DataFrame({"person_id": ["a"] * 9 + ["b"], "month": months})
    con.con.register("_x_e", df)
    n = con.to_pandas(v._month_screen(con.table("_x_e"), ("person_id", "month"), lo, hi))["n"].iloc[0]
    assert n == 1 + 1 + 2        # 662 and 750 once more each (masks); 900 twice (outside: all copies)
    b = pd.DataFrame({"person_id": ["a"] * 6, "month": months[[0, 0, 1, 1, 5, 5]],
                      "benefit": ["AAP", "disability", "AAP", "AAP", "other", "disability"]})
    con.con.register("_x_b", b)
    n = con.to_pandas(v._month_screen(con.table("_x_b"), ("person_id", "month", "benefit"), lo, hi))["n"].iloc[0]
    assert n == 2                # AAP twice in 661; 'other' shares disability's bit: a suspicion
    none = pd.DataFrame({"person_id": ["a", "a", "a"], "month": pd.to_datetime(["2020-01-01", None, None])})
    con.con.register("_x_n", none)
    assert con.to_pandas(v._month_screen(con.table("_x_n"), ("person_id", "month"), lo, hi))["n"].iloc[0] == 2


def test_a_hash_collision_is_no_problem(parts, monkeypatch):
    """A screen that always collides (every key hashes to 0, so it counts every row) makes the
    exact count run for every duplicate check; the exact count is 0, so there is no problem."""
    from evaluation.panel import validate as v
    ex = read_extracts(parts)
    monkeypatch.setattr(v, "_SQL", {})     # compiled queries are kept by validation shape
    monkeypatch.setattr(v, "_key_hash", lambda t, key: ibis.literal(0, "uint64"))
    ran = []
    fetch = v._Checks.fetch
    monkeypatch.setattr(v._Checks, "fetch", lambda self, key, build: ran.append(key) or fetch(self, key, build))
    rep = validate_extracts(ex, raise_errors=False)
    assert rep.ok and not [p for p in rep.problems if p.kind in ("duplicate", "assignment changes")]
    assert sum(k[0] == "duplicates" for k in ran) == 4 + 3 + 1   # monthly, persons/coverage, assignment x2
    monkeypatch.undo()
    assert not [k for k in ran if k[0] == "examples"]


def test_the_screen_groups_by_one_hash_column():
    """The screen's SQL groups by one UBIGINT (DuckDB's hash of each key column, xor-ed), not by
    the key columns, and without Ibis's casts through BIT."""
    from evaluation.panel import validate as v
    from evaluation.panel.engine import connect
    con = connect("duckdb")
    df = pd.DataFrame({"person_id": ["a", "a", "b"], "month": pd.to_datetime(["2020-01-01"] * 3),
                       "benefit": ["AAP", "AAP", "AAP"]})
    con.con.register("_x_benefits", df)
    ck = v._Checks(con)
    ck.tables["benefits"] = con.table("_x_benefits")
    lab = v._dup_screen(ck, "benefits", ("person_id", "month", "benefit"))
    assert v._dup_screen(ck, "benefits", ("person_id", "month", "benefit")) == lab   # declared once
    sql = str(con.compile(ck._tables[lab]))
    assert 'XOR(XOR(HASH("t0"."person_id"), HASH("t0"."month")), HASH("t0"."benefit"))' in sql
    assert re.findall(r"GROUP BY [0-9, ]+", sql) == ["GROUP BY 1"] and "AS BIT" not in sql
    assert con.execute(ck._tables[lab]).iloc[0, 0] == 2


def test_text_ids_of_parquet_views_are_judged_over_the_distinct_ids(parts, tmp_path):
    """Text ids that are all plain integers (employment: '123' for 'P0000123') count as integer ids
    in a parquet view as in a frame: the id-type problem is the same on both routes."""
    import shutil
    folder = tmp_path / "ids"
    shutil.copytree(parts, folder)
    emp = read_extracts(parts, names=["employment"])["employment"]
    emp["person_id"] = emp["person_id"].str[1:].astype("int64").astype(str)   # "P0000123" -> "123"
    shutil.rmtree(folder / "employment")
    _write_parts(emp, folder / "employment")
    lazy = read_extracts(folder, lazy=True)
    assert isinstance(lazy["employment"], ParquetSource)
    a = validate_extracts(lazy, raise_errors=False)
    p = next(p for p in a.problems if p.kind == "id type")
    assert "integer in ['employment']" in p.message and "text in ['assignment'" in p.message
    assert _problems(a) == _problems(validate_extracts(read_extracts(folder), raise_errors=False))
