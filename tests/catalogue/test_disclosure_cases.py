"""Catalogue: disclosure (issue on trust, section 1, and the escaping of section 6).

Each case gives the gate a small or hostile input and asserts what a reader sees: the suppressed
cell, the note, the withheld estimate, the rounded amount, the escaped string, or the scan's
refusal; where files are involved, that they are unchanged.
"""
from __future__ import annotations

import json
import shutil
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation import disclosure as dc
from evaluation import overview, report
from evaluation.disclosure import DisclosureOptions, Sum, TableSpec
from evaluation.params import ROOT, ParamsError, load_params

from ._util import unchanged

matplotlib.use("Agg")
OPTS = DisclosureOptions()
EVIL = "<img src=x onerror=alert(1)>"


def _shown(pub: dc.Published):
    """The published HTML table read back, and whether any hidden cell can be recovered."""
    table = dc.html_tables(pub.to_html())[0]
    return table, dc.recoverable(table)


def _persons(offices: dict[str, int]) -> pd.DataFrame:
    rows, k = [], 0
    for office, n in offices.items():
        for _ in range(n):
            rows.append({"person_id": f"P{k:07d}", "office": office, "age": 20 + k % 40,
                         "female": k % 2, "immigrant": k % 3 == 0})
            k += 1
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# small cells and their statistics
# ------------------------------------------------------------------------------------------
def test_office_of_four_persons_in_the_characteristics_table():
    # 01_panel_overview with group: office -- n = 4 and the office's means were published, and
    # the panel's size minus the other offices gave the 4 back
    desc = overview.describe_by(_persons({"A": 4, "B": 600, "C": 596, "D": 600}), "office")
    wide, spec = overview.by_group(desc)
    pub = dc.suppress(wide, spec, OPTS)
    row = pub.frame.set_index("office").loc["A"]
    assert row["n"] == "<5" and row["age"] == "<5" and row["female"] == "<5"
    assert (pub.frame["n"] == "<5").sum() >= 2
    assert _shown(pub)[1] == []


def test_flow_step_of_three_persons_not_recoverable_by_subtraction():
    flow = pd.DataFrame({
        "step": range(1, 7), "stage": ["persons"] * 6,
        "kind": ["total", "excluded", "excluded", "excluded", "excluded", "kept"],
        "reason": ["all", "no assignment", "no covariates", "no coverage", "outside window", "kept"],
        "persons": [3600, 3, 0, 0, 0, 3597], "person_months": [340000, 280, 0, 0, 0, 339720]})
    pub = dc.suppress(flow, overview.flow_spec(flow), OPTS)
    assert pub.frame.loc[1, "persons"] == "<5"
    assert pub.frame.loc[5, "persons"] == "<5"  # the kept row would give total - kept = 3
    assert _shown(pub)[1] == []


@pytest.mark.parametrize("label", ["I alt", "Alle", "Total", "Sum", "Totalt", "all arms"])
def test_total_row_protected_whatever_it_is_called(label):
    df = pd.DataFrame({"arm": ["treatment", "control", label], "n": [3, 60, 63]})
    pub = dc.suppress(df, TableSpec(counts=["n"], sums=[Sum(-1)]), OPTS)
    assert list(pub.frame["n"]).count("<5") >= 2
    assert _shown(pub)[1] == []


def test_label_saying_total_is_not_read_as_structure():
    # secondary suppression follows the declared structure only; a row merely called "Total" is
    # an ordinary row (the declared case above is protected whatever the label)
    df = pd.DataFrame({"arm": ["a", "b", "Total"], "n": [3, 60, 70]})
    assert list(dc.suppress(df, TableSpec(counts=["n"]), OPTS).frame["n"]) == ["<5", 60, 70]


def test_two_way_table_with_row_and_column_margins():
    df = pd.DataFrame({"office": ["A", "B", "C", "all"], "x": [2, 40, 50, 92], "y": [30, 60, 70, 160],
                       "both": [32, 100, 120, 252]})
    spec = TableSpec(counts=["x", "y", "both"], sums=[Sum(-1), Sum("both", axis="columns")])
    pub = dc.suppress(df, spec, OPTS)
    assert pub.frame.loc[0, "x"] == "<5" and _shown(pub)[1] == []


def test_payment_total_84000_does_not_reveal_the_count_of_3():
    # 20-person scenario: 8 x 6 000 + 3 x 12 000 = 84 000 NOK
    df = pd.DataFrame({"item": ["job", "job kept", "all"], "persons": [8, 3, 11],
                       "price": [6000.0, 12000.0, np.nan], "amount": [48000.0, 36000.0, 84000.0]})
    spec = TableSpec(counts=["persons"], sums=[Sum(-1)], amounts={"amount": ("persons", "price")})
    pub = dc.suppress(df, spec, OPTS)
    assert pub.frame.loc[1, "persons"] == "<5" and pub.frame.loc[1, "amount"] == "<5"
    assert pub.frame.loc[2, "amount"] % 60000 == 0
    assert any("rounded" in n for n in pub.notes)
    assert _shown(pub)[1] == []


def test_amount_in_the_same_row_as_its_hidden_count_is_hidden():
    df = pd.DataFrame({"quarter": ["2020Q1", "2020Q2"], "payments": [2, 40], "amount": [24000.0, 480000.0]})
    pub = dc.suppress(df, TableSpec(counts=["payments"], amounts={"amount": ("payments", 12000)}), OPTS)
    assert pub.frame.loc[0, "amount"] == "<5" and pub.frame.loc[1, "amount"] == 480000.0


def test_mean_of_a_group_of_three_hidden_with_its_count():
    df = pd.DataFrame({"group": ["a", "b"], "n": [3, 50], "mean_earnings": [410000.0, 380000.0]})
    pub = dc.suppress(df, TableSpec(counts=["n"], stats={"n": ["mean_earnings"]}), OPTS)
    assert list(pub.frame["mean_earnings"]) == ["<5", 380000.0]


def test_share_of_a_group_hidden_only_for_recovery_is_hidden_too():
    df = pd.DataFrame({"office": ["A", "B", "C"], "n": [2, 500, 900], "share_employed": [0.5, 0.4, 0.3]})
    pub = dc.suppress(df, TableSpec(counts=["n"], stats={"n": ["share_employed"]}, partition=True), OPTS)
    hidden = pub.frame["n"] == "<5"
    assert hidden.sum() == 2 and (pub.frame.loc[hidden, "share_employed"] == "<5").all()


def test_statistics_of_a_table_about_a_tiny_group():
    df = pd.DataFrame({"covariate": ["age", "female"], "mean_treated": [33.0, 0.5], "smd": [0.1, 0.2]})
    pub = dc.suppress(df, TableSpec(group_n=4), OPTS)
    assert (pub.frame[["mean_treated", "smd"]] == "<5").all().all()
    assert any("fewer than 5" in n for n in pub.notes)


def test_attrition_of_three_persons_implied_by_subtraction():
    df = pd.DataFrame({"arm": ["control", "treatment"], "n_assigned": [1802, 1798],
                       "n_observed": [1799, 1700], "attrition": [0.0017, 0.0545]})
    spec = TableSpec(counts=["n_assigned", "n_observed"], derived={"n_lost": ("n_assigned", ["n_observed"])},
                     stats={"n_lost": ["attrition"]})
    pub = dc.suppress(df, spec, OPTS)
    assert pub.frame.loc[0, "n_lost"] == "<5" and pub.frame.loc[0, "attrition"] == "<5"
    assert _shown(pub)[1] == []


def test_matching_flow_step_excluding_two_participants():
    flow = pd.DataFrame({"step": ["input", "complete cases", "matched"], "treated": [326, 324, 300],
                         "control": [4674, 4674, 300], "excluded_treated": [0, 2, 24],
                         "excluded_control": [0, 0, 4374]})
    spec = TableSpec(counts=["treated", "control", "excluded_treated", "excluded_control"],
                     chains=[("treated", "excluded_treated"), ("control", "excluded_control")])
    pub = dc.suppress(flow, spec, OPTS)
    assert pub.frame.loc[1, "excluded_treated"] == "<5" and _shown(pub)[1] == []


def test_higher_threshold_from_params_suppresses_more():
    df = pd.DataFrame({"arm": ["a", "b"], "n": [7, 60]})
    pub = dc.suppress(df, TableSpec(counts=["n"]), DisclosureOptions(threshold=10))
    assert list(pub.frame["n"]) == ["<10", 60]


# ------------------------------------------------------------------------------------------
# analyses of too few persons
# ------------------------------------------------------------------------------------------
def test_headline_of_59_persons_withheld_with_the_reason(tmp_path):
    from evaluation.results import Result
    rec = report.Recorder(tmp_path, notebook="02_rct_analysis")
    rec.add("headline", Result(0.12, 0.05, n=59, term="treatment"), headline=True)
    rec.save()
    data = json.loads((tmp_path / "results.json").read_text())
    head = data["notebooks"]["02_rct_analysis"]["headline"]
    assert head["estimate"] is None and head["ci_low"] is None and "fewer than 60" in head["withheld"]


def test_subgroup_level_of_40_persons_withheld_in_the_table():
    df = pd.DataFrame({"subgroup": ["office", "office"], "level": ["A", "B"], "estimate": [0.3, 0.02],
                       "ci_low": [0.1, -0.01], "ci_high": [0.5, 0.05], "n": [40, 3500]})
    pub = dc.suppress(df, TableSpec(counts=["n"], analysis_n="n", partition=True,
                                    partition_by="subgroup"), OPTS)
    assert pub.frame.loc[0, "estimate"] == "n < 60" and pub.frame.loc[1, "estimate"] == 0.02
    assert any("60" in n for n in pub.notes)


def test_min_analysis_n_from_params_is_used():
    df = pd.DataFrame({"term": ["t"], "estimate": [0.1], "n": [150]})
    pub = dc.suppress(df, TableSpec(counts=["n"], analysis_n="n"), DisclosureOptions(min_analysis_n=200))
    assert pub.frame.loc[0, "estimate"] == "n < 200"


# ------------------------------------------------------------------------------------------
# free text, ids, results.json and the INDIGO export
# ------------------------------------------------------------------------------------------
def test_note_with_three_persons_dropped(capsys):
    report.Gate(5).say("Note: 3 persons dropped (missing covariates)")
    assert capsys.readouterr().out.strip() == "Note: <5 persons dropped (missing covariates)"


def test_estimator_warning_with_a_small_count_is_gated(capsys):
    def estimator():
        warnings.warn("2 units treated in the first period were dropped", UserWarning)
        return 1
    assert report.Gate(5).noted(estimator) == 1
    assert "<5 units treated" in capsys.readouterr().out


def test_n_equals_in_a_caption_is_gated():
    assert dc.gate_text("Propensity model, n = 4") == "Propensity model, n = <5"


def test_person_id_column_and_index_never_published():
    df = pd.DataFrame({"person_id": ["P0000001", "P0000002"], "n": [10, 20]})
    assert "person_id" not in dc.suppress(df, TableSpec(counts=["n"]), OPTS).frame.columns
    pub = dc.suppress(df.set_index("person_id"), TableSpec(counts=["n"]), OPTS)
    assert "P0000001" not in pub.to_html()


def test_recorded_raw_table_has_small_counts_suppressed(tmp_path):
    rec = report.Recorder(tmp_path, notebook="01_panel_overview")
    rec.add("persons_by_group", pd.DataFrame({"office": ["A", "B"], "n": [3, 900]}))
    rec.add("panel", {"persons": 2, "note": "4 persons excluded"})
    rec.save()
    nb = json.loads((tmp_path / "results.json").read_text())["notebooks"]["01_panel_overview"]
    assert nb["persons_by_group"][0]["n"] == "<5" and nb["panel"]["persons"] == "<5"
    assert nb["panel"]["note"] == "<5 persons excluded"


def test_recorded_payment_total_rounded(tmp_path):
    rec = report.Recorder(tmp_path, notebook="05_outcome_contract")
    rec.add("contract", {"totals": {"payment": 84000.0, "n_participants": 20}}, amounts={"payment": 12000})
    assert rec.entries["contract"]["totals"]["payment"] == 60000.0


def test_indigo_export_small_counts_and_exact_amounts(tmp_path):
    from test_contracts import REFINO, make_panel  # the hand-checked contract panel

    from evaluation.contracts import evaluate, to_indigo_json
    df = make_panel([dict(id=f"a{i}", treated=True, mapping=0, position_share=[1.0] * 12) for i in range(3)]
                    + [dict(id=f"c{i}", treated=False) for i in range(3)])
    res = evaluate(df, REFINO, uncertainty=None)
    out = tmp_path / "indigo.json"
    rec = json.loads(to_indigo_json(res, out, disclosure=OPTS))
    assert rec["service_and_beneficiaries"]["actual_number_service_users_or_beneficiaries_total"]["value"] is None
    paid = rec["overall_project_finance"]["total_outcome_payments_made"]["amount"]["value"]
    assert paid % (5 * 4000) == 0  # 3 x 10 000 paid, rounded to 5 x the largest stage price
    assert dc.scan_report(tmp_path) == []


# ------------------------------------------------------------------------------------------
# escaping (section 6)
# ------------------------------------------------------------------------------------------
def test_hostile_office_code_inert_in_table_cells_headers_and_caption():
    df = pd.DataFrame({"office": [EVIL, "B"], EVIL: [1.0, 2.0], "n": [50, 60]})
    html = dc.suppress(df, TableSpec(counts=["n"]), OPTS).to_html(caption=f"Persons by {EVIL}")
    assert "<img" not in html and html.count("&lt;img") == 3


def test_hostile_office_code_inert_in_gate_notes_and_markdown():
    df = pd.DataFrame({"office": ["A"], "amount": [1000.0]})
    pub = dc.suppress(df, TableSpec(amounts={"amount": (None, 100)}), OPTS)
    pub.notes.append(f"office {EVIL} merged")
    assert "<img" not in pub.to_html()
    md = dc.escape_markdown(f"[{EVIL}](javascript:alert(1))")
    assert "<img" not in md and "](" not in md


# ------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------
def test_trajectory_point_of_three_persons_not_drawn():
    import matplotlib.pyplot as plt
    traj = pd.DataFrame({"arm": ["a"] * 3 + ["b"] * 3, "month": [1, 2, 3] * 2,
                         "mean": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "n": [50, 50, 3, 50, 50, 50],
                         "outcome": "employed"})
    ax = overview.plot_trajectories(traj, by="arm", time="month")
    drawn = sum(len(line.get_xdata()) for line in ax.lines)
    assert drawn == 5 and any("1 point(s) with fewer than 5" in t.get_text() for t in ax.texts)
    plt.close("all")


def test_propensity_histogram_bin_of_two_persons_not_drawn():
    import matplotlib.pyplot as plt

    from evaluation.matching._plots import overlap_plot
    score = np.r_[np.full(100, 0.3), np.full(100, 0.35), [0.99, 0.98]]
    treat = np.r_[np.ones(100), np.zeros(100), [1, 1]]
    ax = overlap_plot(score, treat, threshold=5)
    assert any("1 bin(s) with fewer than 5" in t.get_text() for t in ax.texts)
    plt.close("all")


# ------------------------------------------------------------------------------------------
# the disclosure section of params
# ------------------------------------------------------------------------------------------
def _params_file(tmp_path, **changes):
    raw = yaml.safe_load((ROOT / "params" / "refino.yaml").read_text())
    raw.update(changes)
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(raw))
    return f


@pytest.mark.parametrize("section, match", [
    ({"threshold": 2}, "disclosure.threshold"),
    ({"threshold": 5, "rounding_base": 3}, "rounding_base"),
    ({"threshold": 5, "min_analysis_n": 4}, "min_analysis_n"),
    ({"treshold": 5}, "treshold"),
])
def test_bad_disclosure_section_refused(tmp_path, section, match):
    f = _params_file(tmp_path, disclosure=section)
    f_raw = yaml.safe_load(f.read_text())
    f_raw.pop("disclosure_threshold", None)
    f.write_text(yaml.safe_dump(f_raw))
    with unchanged(f), pytest.raises(ParamsError, match=match):
        load_params(f)


def test_two_different_thresholds_refused(tmp_path):
    f = _params_file(tmp_path, disclosure={"threshold": 10}, disclosure_threshold=5)
    with unchanged(f), pytest.raises(ParamsError, match="differ"):
        load_params(f)


def test_disclosure_section_reaches_the_notebooks(tmp_path):
    f = _params_file(tmp_path, disclosure={"threshold": 7, "min_analysis_n": 100})
    raw = yaml.safe_load(f.read_text())
    raw.pop("disclosure_threshold")
    f.write_text(yaml.safe_dump(raw))
    p = load_params(f)
    nbp = p.notebook_parameters(p.notebooks[0], tmp_path)
    assert nbp["disclosure_threshold"] == 7 and nbp["disclosure"]["min_analysis_n"] == 100


# ------------------------------------------------------------------------------------------
# the scan of a report folder (fails closed)
# ------------------------------------------------------------------------------------------
def _report(tmp_path, data_folder):
    rep = tmp_path / "reports" / "x"
    rep.mkdir(parents=True)
    (rep / "results.json").write_text(json.dumps({"provenance": {"data_folder": str(data_folder)},
                                                  "disclosure": {"threshold": 5}}))
    (rep / "a.html").write_text("<p>fine</p>")
    return rep


def test_scan_refuses_when_the_data_folder_is_gone(tmp_path, capsys):
    from evaluation.cli import main
    rep = _report(tmp_path, tmp_path / "gone")
    with unchanged(rep):
        assert main(["scan", str(rep)]) == 2
    err = capsys.readouterr()
    assert "NOT CHECKED" in err.err and "does not exist" in err.err and "clean" not in err.out


def test_scan_refuses_without_results_json(tmp_path, capsys):
    from evaluation.cli import main
    rep = tmp_path / "r"
    rep.mkdir()
    assert main(["scan", str(rep)]) == 2
    assert "results.json" in capsys.readouterr().err


def test_scan_refuses_an_unreadable_results_json(tmp_path, capsys):
    from evaluation.cli import main
    rep = tmp_path / "r"
    rep.mkdir()
    (rep / "results.json").write_text("{not json")
    assert main(["scan", str(rep)]) == 2
    assert "results.json" in capsys.readouterr().err


def test_scan_finds_person_id_in_any_file_and_png_metadata(tmp_path):
    from PIL import Image, PngImagePlugin
    rep = tmp_path / "r"
    rep.mkdir()
    (rep / "extra.csv").write_text("office,n\nA,P0000042\n")
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "P0000043 in the title")
    Image.new("RGB", (2, 2)).save(rep / "fig.png", pnginfo=info)
    with unchanged(rep):
        found = "\n".join(dc.scan_report(rep, person_ids=["P0000042", "P0000043"]))
    assert "extra.csv" in found and "fig.png" in found


def test_scan_finds_a_recoverable_cell_and_a_small_count_in_a_notebook(tmp_path):
    rep = tmp_path / "r"
    rep.mkdir()
    meta = {"threshold": 5, "counts": [1], "amounts": [],
            "relations": [{"total": [2, 1], "parts": [[0, 1], [1, 1]]}]}
    attr = json.dumps(meta).replace('"', "&quot;")
    table = (f'<table data-disclosure="{attr}"><thead><tr><th>arm</th><th>n</th></tr></thead><tbody>'
             "<tr><td>a</td><td>&lt;5</td></tr><tr><td>b</td><td>60</td></tr>"
             "<tr><td>I alt</td><td>63</td></tr></tbody></table>")
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"text/html": table}},
        {"output_type": "stream", "name": "stdout", "text": "3 persons dropped\n"}]}]}
    (rep / "n.ipynb").write_text(json.dumps(nb))
    found = "\n".join(dc.scan_report(rep))
    assert "recoverable" in found and "3 persons" in found


def test_scan_of_a_published_example_report_is_clean(tmp_path):
    rep = tmp_path / "r"
    rep.mkdir()
    df = pd.DataFrame({"arm": ["a", "b", "I alt"], "n": [3, 60, 63]})
    pub = dc.suppress(df, TableSpec(counts=["n"], sums=[Sum(-1)]), OPTS)
    (rep / "a.html").write_text(pub.to_html(caption=EVIL))
    assert dc.scan_report(rep) == []
    shutil.rmtree(rep)


def test_per_participant_payment_does_not_give_the_total_back():
    # payable per participant x 20 participants = the payment; the mean is rounded like the total
    means = pd.DataFrame({"quantity": ["payable", "earnings"], "participants": [4200.0, 154155.53]})
    spec = TableSpec(key="quantity", amounts={"participants": (None, 12000 / 20, ["payable"])})
    pub = dc.suppress(means, spec, OPTS)
    assert pub.frame.loc[0, "participants"] % 3000 == 0  # 5 x 12 000 / 20
    assert pub.frame.loc[1, "participants"] == 154155.53
