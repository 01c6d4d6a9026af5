"""Catalogue: bad and hostile parameter files (issue on trust, section 3 and 6).

Each case writes a parameter file, asserts the clear error (the problem, its full path, the
allowed keys or names) and that the file is byte-identical afterwards.  Nothing here runs a
notebook: the plan is refused before anything runs.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from evaluation.params import ParamsError, load_params, notebook_options
from tests.catalogue._util import unchanged

ROOT = Path(__file__).resolve().parents[2]
BASE = {name: yaml.safe_load((ROOT / "params" / f"{name}.yaml").read_text())
        for name in ("refino", "alna_aktiv", "bjerke_effektkontrakt", "back_in_the_ring")}


def _nb(d, name):
    return next(nb for nb in d["notebooks"] if nb["name"] == name)


def _write(tmp_path, data, name="plan.yaml") -> Path:
    f = tmp_path / name
    f.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False),
                 encoding="utf-8")
    return f


def _refused(tmp_path, data, *patterns):
    f = _write(tmp_path, data)
    with unchanged(f):
        with pytest.raises(ParamsError) as e:
            load_params(f)
    msg = str(e.value)
    for p in patterns:
        assert p in msg, f"{p!r} not in:\n{msg}"
    return msg


def _mod(base, fn):
    d = copy.deepcopy(BASE[base])
    fn(d)
    return d


# -- column names are checked against the panel schema -------------------------------------
@pytest.mark.parametrize("base,fn,patterns", [
    pytest.param("refino",
     lambda d: _nb(d, "02_rct_analysis")["options"].update(covariates=["age", "femal", "imigrant"]),
     ["notebooks.1.options.covariates", "'femal'", "'imigrant'", "did you mean 'female'",
      "allowed names", "'sa_months_24'"], id="rct covariates"),
    pytest.param("refino",
     lambda d: _nb(d, "02_rct_analysis")["options"].update(subgroups=["under30"]),
     ["options.subgroups", "'under30'", "'under_30'"], id="rct subgroups"),
    pytest.param("refino",
     lambda d: _nb(d, "02_rct_analysis")["options"].update(outcomes=["employed", "employd_50"]),
     ["options.outcomes", "'employd_50'"], id="rct outcomes"),
    pytest.param("refino",
     lambda d: _nb(d, "02_rct_analysis")["options"].update(headline_outcome="employment"),
     ["options.headline_outcome", "'employment'"], id="rct headline outcome"),
    pytest.param("refino",
     lambda d: _nb(d, "02_rct_analysis")["options"].update(strata="ofice"),
     ["options.strata", "'ofice'", "'office'"], id="rct strata"),
    pytest.param("refino",
     lambda d: _nb(d, "01_panel_overview")["options"].update(group="Office"),
     ["notebooks.0.options.group", "'Office'"], id="overview group"),
    pytest.param("refino",
     lambda d: _nb(d, "01_panel_overview")["options"].update(outcomes=["on_sa"]),
     ["options.outcomes", "'on_sa'"], id="overview outcomes"),
    pytest.param("alna_aktiv",
     lambda d: _nb(d, "03_did_rollout")["options"].update(cluster="district"),
     ["options.cluster", "'district'", "allowed names"], id="did cluster"),
    pytest.param("alna_aktiv",
     lambda d: _nb(d, "03_did_rollout")["options"].update(covariates=["age", "sex_f"]),
     ["options.covariates", "'sex_f'"], id="did covariates"),
    pytest.param("alna_aktiv",
     lambda d: _nb(d, "03_did_rollout")["options"].update(outcome="social_assistance"),
     ["options.outcome", "'social_assistance'"], id="did outcome"),
    pytest.param("bjerke_effektkontrakt",
     lambda d: _nb(d, "04_matched_comparison")["options"].update(exact=["kontor"]),
     ["options.exact", "'kontor'"], id="matching exact"),
    pytest.param("bjerke_effektkontrakt",
     lambda d: _nb(d, "04_matched_comparison")["options"].update(
         covariates="age + I(age < 35) + femal + C(norwegian_lvl)"),
     ["options.covariates", "'femal'", "'norwegian_lvl'"], id="matching formula"),
    pytest.param("bjerke_effektkontrakt",
     lambda d: _nb(d, "04_matched_comparison")["options"].update(treatment="treatment"),
     ["options.treatment", "'treatment'"], id="matching treatment"),
    pytest.param("back_in_the_ring",
     lambda d: _nb(d, "05_outcome_contract")["options"]["matching"].update(covariates=["age", "imigrant"]),
     ["options.matching.covariates", "'imigrant'"], id="contract matching covariates"),
])
def test_misspelt_column_stops_the_plan(tmp_path, base, fn, patterns):
    _refused(tmp_path, _mod(base, fn), *patterns)


# -- keys -------------------------------------------------------------------------------------
def test_misspelt_top_level_key(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: d.update(disclosure_treshold=5)),
             "unknown key 'disclosure_treshold'", "disclosure_threshold")


def test_misspelt_option_key_lists_that_notebooks_keys(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "02_rct_analysis")["options"].update(covariate=["age"])),
             "notebooks.1.options.covariate", "unknown key 'covariate'", "'covariates'")


def test_misspelt_key_in_contract_lists_the_sections_keys(tmp_path):
    _refused(tmp_path, _mod("alna_aktiv", lambda d: d["contract"]["payment"].update(margni=0.2)),
             "contract.payment.margni", "allowed keys here", "'margin'", "'price_per_event'")


def test_duplicate_top_level_key(tmp_path):
    text = (ROOT / "params" / "refino.yaml").read_text().replace(
        "seed: 20261123\n", "seed: 20261123\nseed: 1\n")
    _refused(tmp_path, text, "'seed' is given twice", "lines")


def test_duplicate_option_key(tmp_path):
    text = (ROOT / "params" / "refino.yaml").read_text().replace(
        "      months: 48\n", "      months: 48\n      months: 12\n")
    _refused(tmp_path, text, "'months' is given twice")


def test_yaml_merge_key_is_not_a_duplicate(tmp_path):
    d = BASE["refino"]
    text = "base: &b {group: arm}\n" + yaml.safe_dump(d, sort_keys=False)
    f = _write(tmp_path, text)
    with unchanged(f), pytest.raises(ParamsError, match="unknown key 'base'"):
        load_params(f)            # only the extra key is reported, not a duplicate


# -- cross-field rules ------------------------------------------------------------------------
def test_min_e_not_below_max_e(tmp_path):
    _refused(tmp_path, _mod("alna_aktiv", lambda d: _nb(d, "03_did_rollout")["options"].update(min_e=12, max_e=6)),
             "notebooks.1.options", "min_e (12) must be below max_e (6)")


def test_headline_month_beyond_follow_up(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "02_rct_analysis")["options"].update(headline_month=60)),
             "notebooks.1.options", "headline_month (60) is beyond the months followed (48)")


def test_design_shares_do_not_sum_to_one(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "02_rct_analysis")["options"].update(
        design_shares={"control": 0.5, "treatment": 0.6})), "design_shares add up to 1.1")


def test_design_share_out_of_range(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "02_rct_analysis")["options"].update(
        design_shares={"control": -0.5, "treatment": 1.5})), "outside (0, 1)")


def test_stage_share_above_one_names_the_full_path(tmp_path):
    msg = _refused(tmp_path, _mod("refino", lambda d: d["contract"]["payment"]["stages"][1].update(share=1.5)),
                   "contract.payment.stages.1.share", "above 100 %")
    assert "keys of contract.payment.stages.1: ['name', 'share', 'event', 'repeatable']" in msg


def test_stage_shares_not_summing_to_one(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: d["contract"]["payment"]["stages"][0].update(share=0.3)),
             "contract.payment", "add up to 1.1")


def test_threshold_margin_above_one(tmp_path):
    _refused(tmp_path, _mod("back_in_the_ring", lambda d: d["contract"]["payment"].update(margin=7.5)),
             "contract.payment.margin")


def test_trial_design_margin_out_of_range(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "06_trial_design")["options"].update(margin=10)),
             "options.margin", "06_trial_design")


def test_share_treated_of_one(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "06_trial_design")["options"].update(share_treated=1.0)),
             "options.share_treated")


def test_headline_notebook_not_in_plan(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: d["headline"].update(notebook="04_matched_comparison")),
             "headline", "'04_matched_comparison' is not in the plan")


def test_event_paid_twice_is_refused(tmp_path):
    def f(d):
        d["contract"]["payment"]["stages"][2]["event"] = "job_entry"
    _refused(tmp_path, _mod("refino", f), "'job_entry' is paid twice", "repeatable: true")


def test_event_paid_twice_allowed_when_repeatable(tmp_path):
    def f(d):
        d["contract"]["payment"]["stages"][2].update(event="job_entry", repeatable=True)
    p = _write(tmp_path, _mod("refino", f))
    with unchanged(p):
        assert load_params(p).contract["payment"]["stages"][2]["repeatable"] is True


def test_rate_card_outcome_paid_twice_under_two_names(tmp_path):
    def f(d):
        d["contract"]["payment"]["items"].append({"outcome": "job_entry", "price": 5000, "name": "again"})
    _refused(tmp_path, _mod("bjerke_effektkontrakt", f), "'job_entry' is paid twice", "'again'")


def test_inline_contract_is_validated_like_a_top_level_one(tmp_path):
    def f(d):
        d.pop("contract")
        _nb(d, "05_outcome_contract")["options"]["contract"] = {
            "payment": {"type": "staged", "price": 100, "stages": [
                {"name": "a", "share": 0.5, "event": "job_entry"},
                {"name": "b", "share": 0.5, "event": "job_kept", "sahre": 1}]}}
    _refused(tmp_path, _mod("refino", f), "notebooks.2.options.contract.payment.stages.1.sahre",
             "allowed keys here", "'share'")


def test_inline_contract_unknown_event(tmp_path):
    def f(d):
        _nb(d, "05_outcome_contract")["options"]["contract"] = {
            "payment": {"type": "rate_card", "items": [{"outcome": "job_entyr", "price": 10}]}}
    _refused(tmp_path, _mod("refino", f), "notebooks.2.options.contract", "unknown event 'job_entyr'")


def test_contract_missing_in_contract_notebook(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "05_outcome_contract")["options"].pop("contract")),
             "notebooks.2.options.contract", "Field required")


# -- values and types -------------------------------------------------------------------------
def test_method_not_allowed(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "02_rct_analysis")["options"].update(method="ols")),
             "options.method", "'lin'", "'ancova'")


def test_option_type(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: _nb(d, "02_rct_analysis")["options"].update(headline_month="24m")),
             "options.headline_month", "integer")


def test_options_not_a_mapping(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: d["notebooks"][0].update(options=["group", "arm"])),
             "notebooks.0.options", "dictionary")


def test_unknown_scenario(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: d["data"].update(scenario="atlantis")),
             "data.scenario", "'atlantis'", "refino")


def test_missing_title(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: d.pop("title")), "title", "Field required")


def test_top_level_not_a_mapping(tmp_path):
    _refused(tmp_path, "- a\n- b\n", "expected a mapping at the top level")


def test_not_yaml(tmp_path):
    _refused(tmp_path, "programme: [refino\n", "not valid YAML")


def test_not_utf8(tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes("title: Bjørnstad\n".encode("latin-1"))
    with unchanged(f), pytest.raises(ParamsError, match="not UTF-8"):
        load_params(f)


# -- notebook names are plain names inside notebooks/ -------------------------------------
@pytest.mark.parametrize("name", ["../../somewhere/evil", "sub/01_panel_overview", "/etc/passwd",
                                  "01_panel_overview.py", "..", "01_panel_overview\\..\\x"])
def test_notebook_name_must_be_plain(tmp_path, name):
    _refused(tmp_path, _mod("refino", lambda d: d["notebooks"][0].update(name=name)),
             "notebooks.0.name", "is not a plain name")


def test_headline_notebook_name_must_be_plain(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: d["headline"].update(notebook="../02_rct_analysis")),
             "headline.notebook", "is not a plain name")


def test_notebook_listed_twice(tmp_path):
    _refused(tmp_path, _mod("refino", lambda d: d["notebooks"].append(copy.deepcopy(d["notebooks"][0]))),
             "'01_panel_overview'", "more than once")


# -- options come only from the file being rendered --------------------------------------
def test_rendered_options_never_fall_back_to_the_repository_file():
    # a render passes the file's options (here none): the model's defaults, not params/refino.yaml's
    opt = notebook_options("refino", "02_rct_analysis", {})
    assert opt.headline_outcome == "employed" and opt.headline_month == 24
    interactive = notebook_options("refino", "02_rct_analysis", None)   # JupyterLab / nbval
    assert interactive.headline_outcome == "employed_50"


def test_notebook_options_refuse_a_misspelt_column_at_run_time_too():
    with pytest.raises(ParamsError, match=r"options\.group .*'arms'"):
        notebook_options("x", "01_panel_overview", {"group": "arms"})
