"""Catalogue: register extracts that are unreadable, implausible or do not link (issue 10 §5).

Each case copies the hand-made extracts of tests/data/panel/ into a temporary folder, spoils one
file, and asserts that :func:`evaluation.panel.load_panel` stops with a message naming the file or
extract, the column, the count and the fix -- and that the folder is byte-identical afterwards.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.panel import PanelValidationError, load_panel
from tests.catalogue._util import unchanged

DATA = Path(__file__).resolve().parent.parent / "data" / "panel"
WINDOW = ("2020-01", "2020-12")


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "extracts"
    shutil.copytree(DATA, f)
    return f


def _edit(folder: Path, name: str, fn) -> None:
    df = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
    fn(df)
    df.to_csv(folder / f"{name}.csv", index=False)


def _fails(folder: Path, *patterns: str, **kw) -> str:
    with unchanged(folder):
        with pytest.raises(PanelValidationError) as exc:
            load_panel(folder, window=WINDOW, **kw)
    msg = str(exc.value)
    for p in patterns:
        assert p in msg, f"{p!r} not in message:\n{msg}"
    assert "Fix:" in msg and "Traceback" not in msg
    return msg


# ----------------------------------------------------------------- non-finite and ranges ------
@pytest.mark.parametrize("name, col, row, value, words", [
    ("social_assistance", "amount", 0, "inf", "non-finite"),
    ("employment", "earnings", 1, "-inf", "non-finite"),
    ("persons", "years_in_norway", 0, "inf", "non-finite"),
    ("employment", "position_share", 2, "inf", "non-finite"),
    ("persons", "birth_year", 0, "1850", "plausible range [1900, 2030]"),
    ("persons", "birth_year", 1, "2090", "plausible range [1900, 2030]"),
    ("social_assistance", "amount", 3, "9999999", "plausible range [0, 500000]"),
    ("employment", "earnings", 0, "50000000", "plausible range [0, 5e+06]"),
    ("persons", "years_in_norway", 0, "150", "plausible range [0, 100]"),
    ("reoffending", "events", 0, "1000", "plausible range [0, 100]"),
])
def test_implausible_value(folder, name, col, row, value, words):
    def spoil(df):
        df.loc[row, col] = value
    _edit(folder, name, spoil)
    msg = _fails(folder, words, f"{name}, column '{col}'", "(1 in all", "row ")
    assert "Fix:" in msg


def test_wider_declared_range_accepts_the_value(folder):
    _edit(folder, "social_assistance", lambda df: df.__setitem__("amount", df["amount"].where(
        df.index != 0, "900000")))
    with unchanged(folder):
        with pytest.raises(PanelValidationError, match="plausible range"):
            load_panel(folder, window=WINDOW)
        p = load_panel(folder, window=WINDOW, ranges={"social_assistance": {"amount": (0, 1e6)}})
    assert p.data["sa_amount"].max() == 5000 or p.data["sa_amount"].max() > 0


# ----------------------------------------------------------------- id types and link rates -----
def test_integer_ids_in_one_extract_text_in_others(folder):
    df = pd.read_csv(folder / "persons.csv")
    df["person_id"] = df["person_id"].str[1:].astype("int64")
    df.to_parquet(folder / "persons.parquet", index=False)
    (folder / "persons.csv").unlink()
    _fails(folder, "person_id has different types", "integer in ['persons']", "text in", "one type")


def test_zero_padded_text_ids_against_integer_ids(folder):
    for name in ("assignment", "coverage", "persons"):
        df = pd.read_csv(folder / f"{name}.csv")
        df["person_id"] = df["person_id"].str[1:].astype("int64")
        df.to_parquet(folder / f"{name}.parquet", index=False)
        (folder / f"{name}.csv").unlink()
    _edit(folder, "employment", lambda df: df.__setitem__("person_id", "000" + df["person_id"].str[1:]))
    _fails(folder, "different types", "text in", "employment", "leading")


def test_extract_keyed_by_another_id_has_low_link_rate(folder):
    _edit(folder, "employment", lambda df: df.__setitem__("person_id", "X" + df["person_id"]))
    _fails(folder, "employment, column 'person_id'", "link to a person in assignment", "0.0%",
           "pseudonymisation key")


def test_link_rate_below_threshold_counts_unlinked_records(folder):
    def spoil(df):
        df.loc[df.index[: int(len(df) * 0.7)], "person_id"] = "Q9"
    _edit(folder, "social_assistance", spoil)
    msg = _fails(folder, "social_assistance, column 'person_id'", "records do not link", "min_link_rate=")
    assert "minimum 50%" in msg


def test_link_rate_threshold_can_be_lowered(folder):
    _edit(folder, "education", lambda df: df.__setitem__("person_id", "Z1"))
    with unchanged(folder):
        with pytest.raises(PanelValidationError, match="education, column 'person_id'.*link"):
            load_panel(folder, window=WINDOW)
        p = load_panel(folder, window=WINDOW, min_link_rate=0.0)
    assert not p.data["in_education"].any()


# ----------------------------------------------------------------- unreadable files -----------
def test_csv_not_utf8(folder):
    text = (folder / "persons.csv").read_text().replace("Africa", "Østafrika")
    (folder / "persons.csv").write_bytes(text.encode("latin-1"))
    _fails(folder, "persons.csv", "not UTF-8", "save the file as UTF-8")


@pytest.mark.parametrize("delim, shown", [(";", "';'"), ("\t", "'\\\\t'"), ("|", "'|'")])
def test_csv_wrong_delimiter(folder, delim, shown):
    df = pd.read_csv(folder / "employment.csv", dtype=str)
    df.to_csv(folder / "employment.csv", sep=delim, index=False)
    _fails(folder, "employment.csv", "as delimiter", "commas")


def test_csv_empty_file(folder):
    (folder / "coverage.csv").write_bytes(b"")
    _fails(folder, "coverage.csv", "empty", "header row")


def test_csv_ragged_rows(folder):
    with open(folder / "benefits.csv", "a") as fh:
        fh.write("P2,2020-07-01,AAP,extra,fields\n")
    _fails(folder, "benefits.csv", "cannot be parsed", "delimiter")


def test_truncated_parquet(folder):
    df = pd.read_csv(folder / "employment.csv")
    df.to_parquet(folder / "employment.parquet", index=False)
    (folder / "employment.csv").unlink()
    data = (folder / "employment.parquet").read_bytes()
    (folder / "employment.parquet").write_bytes(data[: len(data) // 2])
    _fails(folder, "employment.parquet", "not a readable parquet file", "truncated")


def test_empty_parquet(folder):
    (folder / "social_assistance.csv").unlink()
    (folder / "social_assistance.parquet").write_bytes(b"")
    _fails(folder, "social_assistance.parquet", "empty (0 bytes)", "re-export")


def test_csv_named_parquet(folder):
    (folder / "education.csv").rename(folder / "education.parquet")
    _fails(folder, "education.parquet", "not a readable parquet file", "must end in .csv")


# ----------------------------------------------------------------- ambiguous and partitioned --
def test_same_extract_as_csv_and_parquet(folder):
    pd.read_csv(folder / "employment.csv").to_parquet(folder / "employment.parquet", index=False)
    _fails(folder, "employment.parquet", "employment.csv", "more than one file", "keep one")


def test_same_extract_as_file_and_folder_of_parts(folder):
    (folder / "employment").mkdir()
    pd.read_csv(folder / "employment.csv").to_parquet(folder / "employment" / "part-00000.parquet")
    _fails(folder, "more than one file", "employment.csv", "'" + str(folder / "employment") + "'")


def test_parquet_parts_with_different_schemas(folder):
    df = pd.read_csv(folder / "employment.csv")
    (folder / "employment.csv").unlink()
    (folder / "employment").mkdir()
    df.iloc[:5].to_parquet(folder / "employment" / "part-00000.parquet", index=False)
    odd = df.iloc[5:].astype({"earnings": str})
    odd.to_parquet(folder / "employment" / "part-00001.parquet", index=False)
    _fails(folder, "part-00001.parquet", "different schema", "earnings", "same columns and types")


def test_empty_folder_of_parts(folder):
    (folder / "education.csv").unlink()
    (folder / "education").mkdir()
    _fails(folder, "education/", "no .parquet parts")


def test_folder_of_parts_reads_like_one_file(folder):
    df = pd.read_csv(folder / "employment.csv")
    ref = load_panel(folder, window=WINDOW)
    (folder / "employment.csv").unlink()
    (folder / "employment").mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[part].to_parquet(folder / "employment" / f"part-{i:05d}.parquet", index=False)
    with unchanged(folder):
        p = load_panel(folder, window=WINDOW)
    pd.testing.assert_frame_equal(p.data, ref.data)
