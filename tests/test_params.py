"""Parameter files: every params/*.yaml validates; bad ones are refused with the allowed keys."""
from pathlib import Path

import pytest
import yaml

from evaluation.params import ParamsError, load_params

ROOT = Path(__file__).resolve().parent.parent
PARAMS = sorted((ROOT / "params").glob("*.yaml"))


def test_there_are_params_files():
    assert {p.stem for p in PARAMS} >= {"refino", "alna_aktiv", "bjerke_effektkontrakt",
                                         "unge_paa_vei", "back_in_the_ring"}


@pytest.mark.parametrize("path", PARAMS, ids=lambda p: p.stem)
def test_every_params_file_validates(path):
    p = load_params(path)
    assert p.programme == path.stem
    assert p.notebooks[0].name == "01_panel_overview"


def _write(tmp_path, data):
    f = tmp_path / "x.yaml"
    f.write_text(yaml.safe_dump(data))
    return f


def _base():
    return yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())


def test_unknown_top_level_key_lists_allowed(tmp_path):
    d = _base()
    d["disclosure_treshold"] = 5  # misspelt
    with pytest.raises(ParamsError) as e:
        load_params(_write(tmp_path, d))
    msg = str(e.value)
    assert "disclosure_treshold" in msg and "disclosure_threshold" in msg and "allowed keys" in msg


def test_unknown_nested_key_lists_allowed(tmp_path):
    d = _base()
    d["data"]["n_person"] = 10
    with pytest.raises(ParamsError, match=r"data\.n_person: unknown key .*n_persons"):
        load_params(_write(tmp_path, d))


def test_types_are_checked(tmp_path):
    d = _base()
    d["disclosure_threshold"] = "five"
    with pytest.raises(ParamsError, match="disclosure_threshold"):
        load_params(_write(tmp_path, d))


def test_unknown_notebook_and_scenario(tmp_path):
    d = _base()
    d["notebooks"].append({"name": "99_nothing"})
    d["data"]["scenario"] = "atlantis"
    with pytest.raises(ParamsError) as e:
        load_params(_write(tmp_path, d))
    assert "99_nothing" in str(e.value) and "atlantis" in str(e.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="does not exist"):
        load_params(tmp_path / "nope.yaml")
    f = tmp_path / "bad.yaml"
    f.write_text("a: [1, 2\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(f)


def test_misspelt_notebook_option_is_refused_with_allowed_keys(tmp_path):
    d = _base()
    d["notebooks"][1]["options"]["headline_outcom"] = "employed"   # 02_rct_analysis
    with pytest.raises(ParamsError) as e:
        load_params(_write(tmp_path, d))
    msg = str(e.value)
    assert "headline_outcom" in msg and "headline_outcome" in msg and "02_rct_analysis" in msg


def test_notebook_option_types_are_checked(tmp_path):
    d = _base()
    d["notebooks"][1]["options"]["headline_month"] = "twenty-four"
    with pytest.raises(ParamsError, match="headline_month"):
        load_params(_write(tmp_path, d))


def test_contract_section_is_validated(tmp_path):
    d = _base()
    d["contract"]["payment"]["stages"][0]["share"] = 1.5   # a share above 100 %
    with pytest.raises(ParamsError, match="contract"):
        load_params(_write(tmp_path, d))


# -- options models (one place for the defaults) ---------------------------------------------
def test_readme_options_section_is_generated_from_the_models():
    from evaluation.params import README, readme_with_options
    text = README.read_text(encoding="utf-8")
    assert readme_with_options(text) == text, (
        "README's options section is out of date: run `python -m evaluation options --write`")


def test_every_notebook_has_an_options_model_with_documented_fields():
    from evaluation.params import NOTEBOOK_OPTIONS, available_notebooks
    assert set(NOTEBOOK_OPTIONS) == set(available_notebooks())
    for name, model in NOTEBOOK_OPTIONS.items():
        assert model.notebook == name
        for key, f in model.model_fields.items():
            assert f.description, f"{name}.{key} has no documentation"


def test_options_model_fills_defaults_and_derived_defaults():
    from evaluation.params import notebook_options
    rct = notebook_options("x", "02_rct_analysis", {"headline_outcome": "employed_50"})
    assert rct.outcomes == ["employed_50"] and rct.headline_month == 24
    assert rct["covariates"] == rct.get("covariates") == ["age", "female", "immigrant"]
    m = notebook_options("x", "04_matched_comparison", {"headline_outcome": "reoffended"})
    assert m.aggregate == "any"
    c = notebook_options("x", "05_outcome_contract", {"contract": {}, "counterfactual": "did"})
    assert c.uncertainty == "normal" and c.matching.exact == ["office"]
    t = notebook_options("x", "06_trial_design", {"contract": {}, "counterfactual": "matched"})
    assert t.comparison_ratio == 1.0 and t.margin == 0.10


def test_formula_columns_reads_patsy_formulas():
    from evaluation.params import formula_columns
    assert formula_columns("y ~ age + I(age < 35) + C(norwegian_level, Treatment('none'))"
                           " + np.log(earnings_12 + 1)") == ["age", "norwegian_level", "earnings_12"]


def test_panel_columns_cover_the_options_of_every_params_file():
    from evaluation.schema import PANEL, panel_columns
    assert set(panel_columns()) == set(PANEL)
    for path in PARAMS:
        load_params(path)        # every column named in the repository's plans is a panel column


def test_cli_options_prints_the_generated_reference(capsys):
    from evaluation.cli import main
    assert main(["options"]) == 0
    out = capsys.readouterr().out
    assert "**02_rct_analysis**" in out and "| `covariates` |" in out and "panel column(s)" in out


# ------------------------------------------------------------------------------------------
# the analysis frames the options ask the panel for
# ------------------------------------------------------------------------------------------
from tests._contract_panel import plan_options, synthetic_panel  # noqa: E402

MATCHING_PLANS = plan_options("04_matched_comparison")
TRIAL_PLANS = plan_options("06_trial_design")


@pytest.mark.parametrize("programme,opt", MATCHING_PLANS, ids=[p for p, _ in MATCHING_PLANS])
def test_matching_frame_gives_the_whole_panels_effects(programme, opt):
    """MatchingOptions.frame_columns / frame_event_times: the person x event-time frame gives the
    same effects at horizons, matched DiD and headline outcome as the whole panel."""
    import warnings

    import pandas as pd

    import evaluation.matching as em
    panel, _ = synthetic_panel(programme)
    assert set(opt.frame_columns()) <= set(panel.columns)
    frame = panel.person_frame(opt.frame_event_times(), columns=opt.frame_columns())
    assert set(frame.columns) == {"person_id", "event_time", *opt.frame_columns()}
    persons = panel.persons()
    persons[opt.treatment] = persons[opt.treatment].astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = em.nearest_neighbor(persons, treatment=opt.treatment, covariates=opt.covariates,
                                exact=opt.exact, caliper=opt.caliper, missing="exclude", seed=1)
        out = {}
        for name, d in (("frame", frame), ("full", panel.data)):
            out[name] = [em.effects_at_horizons(m, d, y, opt.horizons,
                                                aggregate=opt.aggregate if y == opt.headline_outcome else None).table
                         for y in opt.frame_columns()]
            did = em.matched_did(m, d, opt.headline_outcome, pre=opt.did_pre, post=(0, max(opt.horizons) - 1))
            out[name] += [did.table, pd.DataFrame([did.att.to_dict()]),
                          em.outcome_at_horizon(d, opt.headline_outcome, opt.headline_horizon,
                                                aggregate=opt.aggregate).to_frame()]
    for a, b in zip(out["frame"], out["full"]):
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("programme,opt", [(p, o) for p, o in TRIAL_PLANS if o.pilot_power],
                         ids=[p for p, o in TRIAL_PLANS if o.pilot_power])
def test_trial_design_pilot_frame_gives_the_whole_panels_variance_components(programme, opt):
    from evaluation.did import variance_components
    panel, _ = synthetic_panel(programme)
    assert set(opt.pilot_frame_columns()) <= set(panel.columns)
    kw = dict(outcome=opt.pilot_outcome, unit="person_id", time="period", cluster=opt.pilot_cluster)
    frame = panel.person_period(opt.pilot_frame_columns())
    vc = [variance_components(d[(d["cohort"].fillna(0) == 0) | (d["period"] < d["cohort"].fillna(0))], **kw)
          for d in (frame, panel.data)]
    assert vc[0] == vc[1]
