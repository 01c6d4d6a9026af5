"""Catalogue: a user's own data (init, the data.columns mapping, validate).

Each case asserts the clear error (naming the extract, column, example values and the fix) and
that no input file changed.
"""
from __future__ import annotations

import pytest
import yaml

from evaluation import cli, intake
from evaluation.panel import PanelValidationError, read_extracts
from evaluation.params import ParamsError, load_params
from tests.catalogue._util import unchanged


def _plan(tmp_path, columns) -> object:
    pfile, _ = intake.init("user_prog", "rct", root=tmp_path)
    d = yaml.safe_load(pfile.read_text())
    d["data"]["columns"] = columns
    pfile.write_text(yaml.safe_dump(d, sort_keys=False))
    return pfile


# ------------------------------------------------------------------------------------------
# init
# ------------------------------------------------------------------------------------------
def test_init_never_overwrites_a_params_file(tmp_path):
    (tmp_path / "params").mkdir()
    f = tmp_path / "params" / "mine.yaml"
    f.write_text("programme: mine  # the user's own plan\n")
    with unchanged(tmp_path):
        with pytest.raises(FileExistsError, match=r"mine.yaml already exists; init never overwrites"):
            intake.init("mine", "rct", root=tmp_path)


def test_init_refuses_a_non_empty_extracts_folder(tmp_path):
    folder = tmp_path / "data" / "mine" / "extracts"
    folder.mkdir(parents=True)
    (folder / "persons.csv").write_text("person_id\nP1\n")
    with unchanged(tmp_path):
        with pytest.raises(FileExistsError, match=r"not empty; init writes only into a new or empty"):
            intake.init("mine", "did", root=tmp_path)


def test_init_unknown_design(tmp_path, capsys):
    with unchanged(tmp_path):
        assert cli.main(["init", "mine", "--design", "rdd", "--dir", str(tmp_path)]) == 2
    assert "unknown design 'rdd'; choose one of ['rct', 'did', 'matched']" in capsys.readouterr().err
    assert not (tmp_path / "params").exists()


@pytest.mark.parametrize("name", [pytest.param("../evil", id="path"), pytest.param("My Prog", id="spaces")])
def test_init_programme_name_not_plain(tmp_path, name):
    with unchanged(tmp_path):
        with pytest.raises(ValueError, match=r"must be lower-case letters, digits and '_'"):
            intake.init(name, "rct", root=tmp_path)


# ------------------------------------------------------------------------------------------
# the mapping in the parameter file (checked before any data are read)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("columns, message", [
    pytest.param({"persons": {"fnr": "persn_id"}},
                 r"data.columns.persons.fnr: 'persn_id' is not a column of the persons extract "
                 r"\(did you mean 'person_id'\?\)", id="unknown-target"),
    pytest.param({"person": {"fnr": "person_id"}},
                 r"unknown extract 'person' \(did you mean 'persons'\?\)", id="unknown-extract"),
    pytest.param({"persons": {"fnr": "person_id", "lopenr": "person_id"}},
                 r"two file columns map to persons.person_id: 'fnr' and 'lopenr'", id="two-to-one"),
    pytest.param({"social_assistance": {"aarmnd": {"to": "month", "format": "MMYYYY"}}},
                 r"unknown date format 'MMYYYY'", id="unknown-format"),
    pytest.param({"social_assistance": {"belop": {"to": "amount", "format": "YYYYMM"}}},
                 r"social_assistance.amount is not a date column \(type float\); remove format",
                 id="format-on-number"),
    pytest.param({"persons": {"kjonn": {"to": "sex", "value": {1: "M"}}}},
                 r"unknown key\(s\) \['value'\]; allowed: to, values, format", id="misspelt-key"),
    pytest.param({"persons": {"fnr": {"to": "person_id", "values": {"1": "P1"}}}},
                 r"person ids are not recoded", id="recode-ids"),
    pytest.param({"persons": {"kjonn": {"to": "sex", "values": ["M", "F"]}}},
                 r"values: expected \{code in the file: schema value\}", id="values-not-mapping"),
])
def test_mapping_refused_when_the_plan_is_loaded(tmp_path, columns, message):
    pfile = _plan(tmp_path, columns)
    with unchanged(tmp_path):
        with pytest.raises(ParamsError, match=message):
            load_params(pfile)


# ------------------------------------------------------------------------------------------
# the mapping against the files
# ------------------------------------------------------------------------------------------
SA = "fnr,aarmnd,belop\n{rows}"


@pytest.mark.parametrize("columns, rows, message", [
    pytest.param({"fnr": "person_id", "mnd": "month", "belop": "amount"},
                 "A1,202001,100\n",
                 r"maps column 'mnd' to 'month', but the file has no column 'mnd'", id="source-absent"),
    pytest.param({"fnr": "person_id", "aarmnd": {"to": "month", "format": "DD/MM/YYYY"}, "belop": "amount"},
                 "A1,202001,100\n",
                 r"values in 'aarmnd' that are not dates of the format DD/MM/YYYY: e.g. '202001'",
                 id="wrong-declared-format"),
    pytest.param({"fnr": "person_id", "aarmnd": "month", "belop": "amount"},
                 "A1,01/02/2020,100\nA2,03/04/2020,100\n",
                 r"fit several date formats \(DD/MM/YYYY, MM/DD/YYYY\).*declare the format", id="ambiguous-dates"),
    pytest.param({"fnr": "person_id", "aarmnd": "month", "belop": "amount"},
                 "A1,202001,100\nA2,15.02.2020,100\n",
                 r"do not share one date format", id="mixed-dates"),
    pytest.param({"fnr": "person_id", "aarmnd": {"to": "month", "format": "excel"}, "belop": "amount"},
                 "A1,43831,100\nA2,99999,100\nA3,12,100\n",
                 r"Excel date serials in 'aarmnd' outside 18264..73415.*'99999', '12'", id="excel-out-of-range"),
    pytest.param({"fnr": "person_id", "aarmnd": "month"},
                 "A1,202001,100\n",
                 r"required column 'amount' \(float\) is neither in the file nor mapped", id="unmapped-required"),
])
def test_mapping_against_the_file(tmp_path, columns, rows, message):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "social_assistance.csv").write_text(SA.format(rows=rows))
    with unchanged(folder):
        with pytest.raises(PanelValidationError, match=message) as err:
            read_extracts(folder, names=["social_assistance"], columns={"social_assistance": columns})
    assert "social_assistance" in str(err.value)


def test_mapping_given_to_the_reader_is_checked_too(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "persons.csv").write_text("fnr,lnr,birth_year,sex\nA1,B1,1980,F\n")
    with unchanged(folder):
        with pytest.raises(ValueError, match=r"two file columns map to persons.person_id: 'fnr' and 'lnr'"):
            read_extracts(folder, names=["persons"], columns={"persons": {"fnr": "person_id",
                                                                          "lnr": "person_id"}})


def test_file_has_target_and_a_mapped_column(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "persons.csv").write_text("person_id,fnr,birth_year,sex\nA1,B1,1980,F\n")
    with unchanged(folder):
        with pytest.raises(PanelValidationError, match=r"the file has a column 'person_id' and data.columns."
                           r"persons also maps 'fnr' to it: two columns for one"):
            read_extracts(folder, names=["persons"], columns={"persons": {"fnr": "person_id"}})


def test_codes_missing_from_the_value_map(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "persons.csv").write_text("fnr,birth_year,kjonn\nA1,1980,1\nA2,1981,2\nA3,1982,9\nA4,1983,9\n")
    with unchanged(folder):
        with pytest.raises(PanelValidationError, match=r"codes in 'kjonn' \(mapped to 'sex'\) that "
                           r"data.columns.persons.kjonn.values does not map: '9' \(2 rows\).*"
                           r"Fix: add them to data.columns.persons.kjonn.values") as err:
            read_extracts(folder, names=["persons"], columns={
                "persons": {"fnr": "person_id", "kjonn": {"to": "sex", "values": {1: "M", 2: "F"}}}})
    assert "A3" not in str(err.value)     # no person ids in the message


# ------------------------------------------------------------------------------------------
# validate
# ------------------------------------------------------------------------------------------
def test_validate_on_a_missing_folder(tmp_path, capsys):
    pfile, folder = intake.init("gone", "matched", root=tmp_path)
    folder.rename(tmp_path / "moved")
    with unchanged(tmp_path):
        assert cli.main(["validate", str(pfile)]) == 1
    err = capsys.readouterr().err
    assert "NOT OK" in err and "does not exist" in err and "put the extracts there" in err


def test_validate_on_an_empty_folder_lists_every_required_extract(tmp_path, capsys):
    pfile, folder = intake.init("empty", "rct", root=tmp_path)
    with unchanged(tmp_path):
        assert cli.main(["validate", str(pfile)]) == 1
    err = capsys.readouterr().err
    for name in ("persons", "assignment", "social_assistance", "employment", "coverage"):
        assert f"required extract '{name}' is missing" in err


def test_columns_with_synthetic_source(tmp_path):
    f = tmp_path / "p.yaml"
    d = yaml.safe_load((intake.ROOT / "params" / "refino.yaml").read_text())
    d["data"]["columns"] = {"persons": {"fnr": "person_id"}}
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    with unchanged(tmp_path):
        with pytest.raises(ParamsError, match=r"data.columns maps the column names of your own extracts, "
                           r"but data.source is 'synthetic'"):
            load_params(f)


def test_validate_a_missing_params_file(tmp_path, capsys):
    with unchanged(tmp_path):
        assert cli.main(["validate", str(tmp_path / "params" / "nope.yaml")]) == 1
    err = capsys.readouterr().err
    assert "NOT OK" in err and "nope.yaml" in err


def test_validate_reports_plan_problems_without_reading_data(tmp_path, capsys):
    pfile, _ = intake.init("plan", "rct", root=tmp_path)
    pfile.write_text(pfile.read_text().replace("covariates: [age, female,", "covariates: [age, femal,"))
    with unchanged(tmp_path):
        assert cli.main(["validate", str(pfile)]) == 1
    err = capsys.readouterr().err
    assert "[plan]" in err and "'femal' (did you mean 'female'?)" in err


def test_validate_lists_problems_of_every_extract_at_once(tmp_path, capsys):
    pfile, folder = intake.init("many", "rct", root=tmp_path)
    (folder / "persons.csv").write_text("fnr,birth_year,kjonn\nA1,1980,3\n")
    (folder / "social_assistance.csv").write_text("fnr,aarmnd,belop\nA1,01/02/2020,5\n")
    pfile.write_text(pfile.read_text().replace("  # columns:\n", "  columns: {persons: {fnr: person_id, "
                     "kjonn: {to: sex, values: {1: M, 2: F}}}, social_assistance: {fnr: person_id, "
                     "aarmnd: month, belop: amount}}\n  # columns:\n"))
    with unchanged(tmp_path):
        assert cli.main(["validate", str(pfile)]) == 1
    err = capsys.readouterr().err
    assert "codes in 'kjonn'" in err and "fit several date formats" in err
    assert "required extract 'assignment' is missing" in err and "A1" not in err
