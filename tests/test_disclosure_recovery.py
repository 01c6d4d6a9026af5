"""The recovery test of the disclosure gate on small reports (issue on trust, section 1).

Every params/*.yaml is rendered at a small size (a few hundred persons, so offices, subgroups,
flow steps and event counts fall below the threshold), then every table the gate published in
every report is solved for: the smallest and largest value of each hidden cell given what the
table publishes and its declared structure (tests/disclosure_audit.py, scipy linprog). None may be
recovered. The full-size renders of tests/test_render_all.py get the same audit.
"""
import json

import pytest
import yaml

from evaluation import render
from evaluation.params import ROOT

from disclosure_audit import audit_folder, published_tables

#: Persons per synthetic scenario: small, but enough for the plans' own minimums (the matched
#: comparisons need 60 participants).
SIZES = {"bjerke_effektkontrakt": 1200, "back_in_the_ring": 2400}
SMALL = 600


@pytest.fixture(scope="module")
def small_reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    (tmp / "params").mkdir()
    for f in sorted((ROOT / "params").glob("*.yaml")):
        d = yaml.safe_load(f.read_text())
        d["data"]["n_persons"] = SIZES.get(d["programme"], SMALL)
        d["data"]["folder"] = str(tmp / "data" / d["programme"])
        (tmp / "params" / f.name).write_text(yaml.safe_dump(d, sort_keys=False))
    render.render([tmp / "params"], out_root=tmp / "reports", jobs=2, progress=False)
    return tmp / "reports"


def test_no_hidden_cell_recoverable_in_small_reports(small_reports):
    n, found = audit_folder(small_reports)
    hidden = sum(c.startswith("<") for p in small_reports.rglob("*.html")
                 for t in published_tables(p.read_text()) for r in t["rows"] for c in r)
    print(f"recovery audit (small reports): {n} tables, {hidden} hidden cells")
    assert n >= 60 and hidden >= 50, "the small reports no longer exercise the gate"
    assert found == [], "\n".join(found[:20])


def test_small_reports_withhold_small_analyses_and_record_the_options(small_reports):
    for res in small_reports.glob("*/results.json"):
        data = json.loads(res.read_text())
        assert data["disclosure"]["threshold"] == 5 and data["disclosure"]["min_analysis_n"] == 60
