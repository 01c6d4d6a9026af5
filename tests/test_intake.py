"""A user's own data: init, the data.columns mapping, validate, the data dictionary (evaluation.intake)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation import cli, intake, render, synthetic
from evaluation.panel import PanelValidationError, read_extracts
from evaluation.panel.mapping import activate, active, detect_format
from evaluation.params import load_params

from tests.catalogue._util import unchanged

MAPPING = {
    "persons": {"fnr": "person_id", "fodt_aar": "birth_year",
                "kjonn": {"to": "sex", "values": {1: "M", 2: "F"}}},
    "assignment": {"fnr": "person_id", "gruppe": {"to": "arm", "values": {"K": "control", "T": "REFINO"}},
                   "startdato": {"to": "assigned_month", "format": "excel"}},
    "social_assistance": {"fnr": "person_id", "aarmnd": {"to": "month", "format": "YYYYMM"},
                          "belop": "amount"},
    "employment": {"fnr": "person_id", "aarmnd": "month"},        # YYYYMM detected
    "coverage": {"fnr": "person_id"},
    "jobseeker_spells": {"fnr": "person_id"},
    "benefits": {"fnr": "person_id"},
    "education": {"fnr": "person_id"},
    "reoffending": {"fnr": "person_id"},
}


@pytest.fixture(scope="module")
def synth():
    return synthetic.generate("refino", n_persons=200, seed=3).extracts


def _excel(s: pd.Series) -> pd.Series:
    d = (pd.to_datetime(s) - pd.Timestamp("1899-12-30")).dt.days
    return d.astype("Int64").astype("string")


def user_files(ex: dict, folder) -> None:
    """The synthetic extracts as a user's CSV files: own names, codes and date formats."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in ex.items():
        df = df.rename(columns={"person_id": "fnr"}).copy()
        if name == "persons":
            df = df.rename(columns={"birth_year": "fodt_aar"})
            df["kjonn"] = df.pop("sex").map({"M": 1, "F": 2})
        if name == "assignment":
            df["gruppe"] = df.pop("arm").map({"control": "K", "REFINO": "T"})
            df["startdato"] = _excel(df.pop("assigned_month"))
        if name in ("social_assistance", "employment"):
            df["aarmnd"] = pd.to_datetime(df.pop("month")).dt.strftime("%Y%m")
        if name == "social_assistance":
            df = df.rename(columns={"amount": "belop"})
        df.to_csv(folder / f"{name}.csv", index=False)


def test_mapping_reads_user_names_codes_and_dates(synth, tmp_path):
    user_files(synth, tmp_path / "x")
    with unchanged(tmp_path / "x"):
        got = read_extracts(tmp_path / "x", columns=MAPPING)
    a, ref = got["assignment"], synth["assignment"]
    assert list(a["arm"]) == list(ref["arm"])
    assert (a["assigned_month"].to_numpy() == pd.to_datetime(ref["assigned_month"]).to_numpy()).all()
    assert list(got["persons"]["sex"]) == list(ref_sex := synth["persons"]["sex"]) and len(ref_sex)
    sa = got["social_assistance"]
    assert np.allclose(sa["amount"], synth["social_assistance"]["amount"])
    assert (sa["month"].to_numpy() == pd.to_datetime(synth["social_assistance"]["month"]).to_numpy()).all()
    assert "fnr" not in got["employment"].columns and got["persons"].attrs["ignored_columns"] == []


def test_activate_is_keyed_by_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("EVALUATION_COLUMNS", raising=False)
    activate(tmp_path, MAPPING)
    assert active(tmp_path) == json.loads(json.dumps(MAPPING)) and active(tmp_path / "other") is None
    activate(tmp_path, None)
    assert active(tmp_path) is None


def test_detect_format():
    assert detect_format(pd.Series(["202001", "202112"])) == ["YYYYMM"]
    assert detect_format(pd.Series(["43831", "44000"])) == ["excel"]
    assert detect_format(pd.Series(["13/01/2020", "01/02/2020"])) == ["DD/MM/YYYY"]
    assert set(detect_format(pd.Series(["01/02/2020"]))) == {"DD/MM/YYYY", "MM/DD/YYYY"}


def test_init_writes_loadable_plan_and_readme(tmp_path):
    for design in intake.DESIGNS:
        pfile, folder = intake.init(f"prog_{design}", design, root=tmp_path)
        text = pfile.read_text()
        assert "# columns:" in text and "source: extracts" in text
        p = load_params(pfile)
        assert p.data.source == "extracts" and p.data_folder == folder.resolve()
        readme = (folder / "README.md").read_text()
        assert "social_assistance" in readme and "position_share" in readme
        assert [f.name for f in folder.iterdir()] == ["README.md"]


def test_init_then_data_then_validate_then_render(synth, tmp_path, monkeypatch):
    """The newcomer's path: init, extracts with own names, columns mapping, validate, render."""
    monkeypatch.delenv("EVALUATION_COLUMNS", raising=False)
    pfile, folder = intake.init("own_data", "rct", root=tmp_path)
    # an untouched plan on extracts in the schema's own names validates
    for name, df in synth.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    assert intake.validate(pfile).ok, intake.validate(pfile).summary()
    for f in folder.glob("*.parquet"):
        f.unlink()
    # the user's own names, codes and formats, mapped in the plan
    user_files(synth, folder)
    d = yaml.safe_load(pfile.read_text())
    d["data"]["columns"] = MAPPING
    d["notebooks"] = d["notebooks"][:1]
    d.pop("headline")
    pfile.write_text(yaml.safe_dump(d, sort_keys=False))
    with unchanged(folder, pfile):
        res = intake.validate(pfile)
        assert res.ok, res.summary()
        assert cli.main(["validate", str(pfile)]) == 0
        out = render.render([pfile], out_root=tmp_path / "reports", progress=False)
    rep = tmp_path / "reports" / "own_data"
    assert out and (rep / "01_panel_overview.html").exists()
    assert json.loads((rep / "results.json").read_text())["notebooks"]["01_panel_overview"][
        "panel_size"]["persons"] == 200
    # the scan reads the user's persons.csv through the plan's mapping (ids under 'fnr')
    assert cli.main(["scan", str(rep)]) == 0


def test_validate_lists_every_problem_without_ids(synth, tmp_path, capsys):
    pfile, folder = intake.init("bad_data", "rct", root=tmp_path)
    for name, df in synth.items():
        df = df.copy()
        if name == "social_assistance":
            df.loc[df.index[:3], "amount"] = -1.0
        if name == "persons":
            df.loc[df.index[:2], "sex"] = "X"
        df.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "coverage.parquet").unlink()
    with unchanged(folder, pfile):
        code = cli.main(["validate", str(pfile)])
    err = capsys.readouterr().err
    assert code == 1
    assert "coverage" in err and "negative amount" in err and "sex must be 'F' or 'M'" in err
    ids = synth["persons"]["person_id"].astype(str)
    assert not any(i in err for i in ids), "validate printed a person id"
    assert "row 1" in err


def test_data_dictionary_is_current():
    assert intake.DICTIONARY.read_text(encoding="utf-8") == intake.data_dictionary(), \
        "docs/data_dictionary.md is stale: run python -m evaluation dictionary --write"
    text = intake.DICTIONARY.read_text()
    for name in intake.schema.EXTRACTS:
        assert f"## `{name}`" in text
    assert "employed_50" in text and "NOK" in text and "Example row" in text


def test_every_column_is_described():
    for name, cols in intake.schema.EXTRACTS.items():
        assert set(cols) | {""} == set(intake.schema.DESCRIPTIONS[name]), name
        assert set(cols) == set(intake.EXAMPLES[name]), name


def test_schema_names_with_own_codes_and_formats(tmp_path):
    """A column already named as in the schema can still be recoded or given a date format."""
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "social_assistance.csv").write_text("person_id,month,amount\nA1,15.01.2020,10\nA2,,5\n")
    (folder / "persons.csv").write_text("person_id,birth_year,sex\nA1,1980,k\nA2,1990,m\n")
    cols = {"social_assistance": {"month": {"to": "month", "format": "DD.MM.YYYY"}},
            "persons": {"sex": {"to": "sex", "values": {"k": "F", "m": "M"}}}}
    with unchanged(folder):
        got = read_extracts(folder, columns=cols)
    assert list(got["persons"]["sex"]) == ["F", "M"]
    m = got["social_assistance"]["month"]
    assert m.iloc[0] == pd.Timestamp("2020-01-01") and pd.isna(m.iloc[1])


def test_validation_outcome_to_dict_has_no_ids(synth, tmp_path):
    pfile, folder = intake.init("dict_out", "rct", root=tmp_path)
    synth["persons"].to_parquet(folder / "persons.parquet", index=False)
    synth["assignment"].iloc[:50].to_parquet(folder / "assignment.parquet", index=False)
    res = intake.validate(pfile)
    text = json.dumps(res.to_dict())
    assert not res.ok and "linkage" in text
    assert not any(i in text for i in synth["persons"]["person_id"].astype(str))
    assert "<pre>" in res._repr_html_()
