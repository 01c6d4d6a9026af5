"""Catalogue: bad contract-design sections (issue 16), each refused with a message naming the
path and the fix, the parameter file unchanged."""
import copy

import pytest
import yaml

from evaluation.params import ROOT, ParamsError, load_params
from tests.catalogue._util import unchanged

BASE = yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())


def _design_file(tmp_path, change):
    d = copy.deepcopy(BASE)
    d["notebooks"] = [nb for nb in d["notebooks"] if nb["name"] != "07_contract_design"]
    change(d["design"])
    f = tmp_path / "refino_design.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    return f


CASES = [
    ("unknown rule type", lambda d: d["rules"].__setitem__("x", {"type": "bonus", "price": 1}),
     r"design\.rules\.x\.payment"),
    ("stage shares", lambda d: d["rules"].__setitem__("staged_20_40_40", {
        **copy.deepcopy(d["rules"]["staged_20_40_40"]),
        "stages": [{"name": "mapping", "share": 0.5, "event": "mapping"}]}),
     r"design\.rules\.staged_20_40_40\.payment.*add up"),
    ("misspelt rule key", lambda d: d["rules"]["job_kept_beyond_counterfactual"].__setitem__("margn", 0.1),
     r"design\.rules\.job_kept_beyond_counterfactual.*margn"),
    ("chosen not a rule", lambda d: d.__setitem__("chosen", "nope"), r"design.*chosen 'nope'"),
    ("even_rule without incentives", lambda d: d.__setitem__("incentives", []), r"even_rule needs"),
    ("unknown design key", lambda d: d.__setitem__("rule", {}), r"design.*unknown key 'rule'"),
    ("empty rules", lambda d: d.__setitem__("rules", {}), r"design\.rules"),
    ("group price column misspelt",
     lambda d: d["rules"]["rate_card_long_term"]["group_prices"].__setitem__("column", "sa_month_24"),
     r"sa_month_24.*not a panel column"),
    ("group price cuts and factors",
     lambda d: d["rules"]["rate_card_long_term"]["group_prices"].__setitem__("factors", [1.0]),
     r"needs 2 factors"),
    ("group prices decreasing cuts",
     lambda d: d["rules"]["rate_card_long_term"]["group_prices"].update(cuts=[12, 6], factors=[1, 1, 1]),
     r"cuts must be increasing"),
    ("threshold count", lambda d: d["rules"]["job_kept_beyond_counterfactual"].__setitem__("count", "max"),
     r"count"),
    ("price target effect above one", lambda d: d["prices"].__setitem__("target_effect", 5), r"prices\.target_effect"),
    ("sensitivity window type", lambda d: d["sensitivity"].__setitem__("windows", ["two years"]),
     r"sensitivity\.windows"),
]


@pytest.mark.parametrize("label,change,match", CASES, ids=[c[0] for c in CASES])
def test_bad_design_section(tmp_path, label, change, match):
    f = _design_file(tmp_path, change)
    with unchanged(f), pytest.raises(ParamsError, match=match):
        load_params(f)


def test_design_without_contract(tmp_path):
    d = copy.deepcopy(BASE)
    d["notebooks"] = [nb for nb in d["notebooks"] if nb["name"] not in ("05_outcome_contract",
                                                                         "06_trial_design", "07_contract_design")]
    d.pop("contract")
    f = tmp_path / "no_contract.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    with unchanged(f), pytest.raises(ParamsError, match="a design needs the contract"):
        load_params(f)
