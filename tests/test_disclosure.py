"""The disclosure gate (evaluation.disclosure): suppression from declared structure, the LP audit,
amounts, estimates of few persons, free text, figures, escaping and the fail-closed scan."""
import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from evaluation import disclosure as dc
from evaluation.disclosure import DisclosureOptions, Sum, TableSpec

OPTS = DisclosureOptions()


def _published(df, spec, opts=OPTS):
    pub = dc.suppress(df, spec, opts)
    table = dc.html_tables(pub.to_html())[0]
    return pub, table


def test_options_validated():
    assert DisclosureOptions().base == 5
    assert DisclosureOptions(threshold=10).base == 10
    with pytest.raises(ValidationError, match="greater than or equal to 3"):
        DisclosureOptions(threshold=2)
    with pytest.raises(ValidationError, match="rounding_base"):
        DisclosureOptions(threshold=5, rounding_base=3)
    with pytest.raises(ValidationError, match="min_analysis_n"):
        DisclosureOptions(threshold=10, min_analysis_n=5)
    with pytest.raises(ValidationError, match="extra"):
        DisclosureOptions.model_validate({"treshold": 5})


def test_office_of_four_persons_hidden_with_its_means_and_not_recoverable_from_the_panel_size():
    df = pd.DataFrame({"office": ["A", "B", "C", "D"], "n": [4, 1200, 1196, 1200],
                       "age": [30.0, 40, 41, 42], "female": [0.5, 0.4, 0.5, 0.6]})
    spec = TableSpec(counts=["n"], stats={"n": ["age", "female"]}, partition=True)
    pub, table = _published(df, spec)
    assert pub.frame.loc[0, "n"] == "<5" and pub.frame.loc[0, "age"] == "<5"
    assert pub.frame.loc[0, "female"] == "<5"
    assert (pub.frame["n"] == "<5").sum() >= 2  # 3600 minus the others would give 4 otherwise
    assert dc.recoverable(table) == []
    assert df.loc[0, "n"] == 4  # input untouched


def test_flow_step_of_three_not_recoverable_from_the_chain():
    flow = pd.DataFrame({"reason": ["all", "a", "b", "c", "kept"],
                         "persons": [3600, 3, 0, 40, 3557]})
    pub, table = _published(flow, TableSpec(counts=["persons"], sums=[Sum(0, [1, 2, 3, 4])]))
    assert pub.frame.loc[1, "persons"] == "<5"
    assert (pub.frame["persons"] == "<5").sum() == 2
    assert dc.recoverable(table) == []


@pytest.mark.parametrize("label", ["Total", "I alt", "Alle", "sum", "zz"])
def test_total_row_protected_whatever_its_label(label):
    df = pd.DataFrame({"arm": ["a", "b", label], "n": [3, 60, 63]})
    pub, table = _published(df, TableSpec(counts=["n"], sums=[Sum(-1)]))
    assert list(pub.frame["n"]).count("<5") >= 2
    assert dc.recoverable(table) == []


def test_two_way_table_with_margins():
    df = pd.DataFrame({"office": ["A", "B", "C", "all"], "x": [2, 40, 50, 92], "y": [30, 60, 70, 160],
                       "total": [32, 100, 120, 252]})
    spec = TableSpec(counts=["x", "y", "total"], sums=[Sum(-1), Sum("total", axis="columns")])
    pub, table = _published(df, spec)
    assert pub.frame.loc[0, "x"] == "<5"
    assert dc.recoverable(table) == []


def test_payment_total_does_not_reveal_a_count():
    # 20-person scenario: 8 x 6 000 + 3 x 12 000 = 84 000
    df = pd.DataFrame({"item": ["job", "kept", "all"], "persons": [8, 3, 11],
                       "price": [6000.0, 12000.0, np.nan], "amount": [48000.0, 36000.0, 84000.0]})
    spec = TableSpec(counts=["persons"], sums=[Sum(-1)], amounts={"amount": ("persons", "price")})
    pub, table = _published(df, spec)
    assert pub.frame.loc[1, "persons"] == "<5" and pub.frame.loc[1, "amount"] == "<5"
    assert pub.frame.loc[2, "amount"] != 84000.0
    assert any("rounded" in n for n in pub.notes)
    assert dc.recoverable(table) == []


def test_estimates_of_few_persons_withheld_with_the_reason():
    df = pd.DataFrame({"term": ["a", "b"], "estimate": [0.1, 0.2], "se": [0.01, 0.02],
                       "ci_low": [0.0, 0.1], "ci_high": [0.2, 0.3], "n": [59, 600]})
    pub = dc.suppress(df, TableSpec(counts=["n"], analysis_n="n"), OPTS)
    assert pub.frame.loc[0, "estimate"] == "n < 60" and pub.frame.loc[1, "estimate"] == 0.2
    assert any("fewer than 60" in n for n in pub.notes)
    rec = dc.gate_value({"estimate": 0.3, "se": 0.1, "n": 20}, OPTS)
    assert rec["estimate"] is None and "60" in rec["withheld"]


def test_gate_text_counts_in_notes():
    assert dc.gate_text("3 persons dropped") == "<5 persons dropped"
    assert dc.gate_text("n = 2 in office X") == "n = <5 in office X"
    assert dc.gate_text("64 persons excluded at month 3") == "64 persons excluded at month 3"
    assert dc.gate_text("2 treated units") == "<5 treated units"


def test_masked_histogram_and_points():
    x = np.r_[np.full(50, 0.5), [0.95, 0.96]]
    _, h, k = dc.masked_histogram(x, bins=10, range=(0, 1))
    assert k == 1 and np.isnan(h[-1])
    pts = dc.mask_points(pd.DataFrame({"n": [3, 10], "mean": [1, 2]}))
    assert list(pts["n"]) == [10] and pts.attrs["suppressed_points"] == 1


def test_html_escaped_everywhere_in_a_table():
    evil = "<img src=x onerror=alert(1)>"
    df = pd.DataFrame({evil: [evil], "n": [10]})
    html = dc.suppress(df, TableSpec(counts=["n"]), OPTS).to_html(caption=evil)
    assert "<img" not in html and "&lt;img" in html
    assert "<img" not in dc.escape_markdown(evil) and "\\[" in dc.escape_markdown("[x](javascript:1)")


def test_ids_never_published():
    df = pd.DataFrame({"person_id": ["P1", "P2"], "n": [10, 20]})
    assert "person_id" not in dc.suppress(df, TableSpec(counts=["n"]), OPTS).frame.columns
    assert "person_id" not in dc.gate_value({"person_id": "P1", "n": 10}, OPTS)


def test_scan_finds_small_counts_recoverable_cells_ids_and_fails_closed(tmp_path):
    with pytest.raises(dc.ScanError):
        dc.scan_report(tmp_path / "gone")
    # a table that claims a sum but publishes the complement
    meta = {"threshold": 5, "counts": [1], "relations": [{"total": [2, 1], "parts": [[0, 1], [1, 1]]}],
            "amounts": []}
    attr = json.dumps(meta).replace('"', "&quot;")
    (tmp_path / "a.html").write_text(
        f'<table data-disclosure="{attr}"><thead><tr><th>arm</th><th>n</th></tr></thead><tbody>'
        "<tr><td>t</td><td>&lt;5</td></tr><tr><td>c</td><td>60</td></tr><tr><td>all</td><td>63</td></tr>"
        "</tbody></table><p>P0000042 and 2 persons</p>")
    (tmp_path / "results.json").write_text(json.dumps({"x": {"persons": 2, "estimate": 1.0, "n": 30}}))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(dc.ScanError, match="bad.json"):
        dc.scan_report(tmp_path, person_ids=["P0000042"])
    (tmp_path / "bad.json").unlink()
    text = "\n".join(dc.scan_report(tmp_path, person_ids=["P0000042"], min_analysis_n=60))
    assert "recoverable" in text and "1 person id(s)" in text and "P0000042" not in text
    assert "2 persons" in text
    assert ".x.persons = 2" in text and "n = 30" in text


def _random_table(rng):
    """A table of small and large counts with a randomly chosen declared structure."""
    k = int(rng.integers(2, 7))
    counts = rng.choice([0, 1, 2, 3, 4, 6, 9, 15, 40, 300], size=(k, 2))
    kind = rng.choice(["partition", "total_row", "two_way", "chain", "amounts", "derived"])
    df = pd.DataFrame({"label": [f"g{i}" for i in range(k)], "a": counts[:, 0], "b": counts[:, 1]})
    if kind == "partition":
        df.loc[0, ["a", "b"]] += 5  # margins published elsewhere are not small (they pass the gate)
        return df, TableSpec(counts=["a", "b"], partition=True)
    if kind == "total_row":
        df.loc[k] = ["I alt", df["a"].sum(), df["b"].sum()]
        return df, TableSpec(counts=["a", "b"], sums=[Sum(-1)])
    if kind == "two_way":
        df["all"] = df["a"] + df["b"]
        df.loc[k] = ["Alle", df["a"].sum(), df["b"].sum(), df["all"].sum()]
        return df, TableSpec(counts=["a", "b", "all"], sums=[Sum(-1), Sum("all", axis="columns")])
    if kind == "chain":
        excl = counts[:, 0]
        kept = 500 - np.cumsum(excl)
        df = pd.DataFrame({"step": range(k + 1), "kept": np.r_[500, kept], "excluded": np.r_[0, excl]})
        return df, TableSpec(counts=["kept", "excluded"], chains=[("kept", "excluded")])
    if kind == "amounts":
        df["price"] = rng.choice([6000.0, 12000.0], size=k)
        df["amount"] = df["a"] * df["price"]
        df.loc[k] = ["all", df["a"].sum(), df["b"].sum(), np.nan, df["amount"].sum()]
        return df, TableSpec(counts=["a", "b"], sums=[Sum(-1)], amounts={"amount": ("a", "price")})
    # margins "published elsewhere" pass the gate there: none of them (b - a included) is small
    df.loc[0, "b"] += 5
    df["b"] = df["a"] + df["b"]
    return df, TableSpec(counts=["a", "b"], derived={"lost": ("b", ["a"])}, partition=True)


def test_no_hidden_cell_recoverable_in_random_tables():
    """Property check of the gate against the independent audit (tests/disclosure_audit.py):
    80 random tables of small counts under every kind of declared structure."""
    from disclosure_audit import published_tables, recovered
    rng = np.random.default_rng(20261201)
    n_hidden = 0
    for _ in range(80):
        df, spec = _random_table(rng)
        page = dc.suppress(df, spec, OPTS).to_html()
        (table,) = published_tables(page)
        n_hidden += sum(c.startswith("<") for r in table["rows"] for c in r)
        assert recovered(table) == [], (df, spec)
    assert n_hidden > 80


def test_audit_finds_a_leaky_table():
    from disclosure_audit import published_tables, recovered
    pub = dc.suppress(pd.DataFrame({"arm": ["a", "b", "all"], "n": [3, 60, 63]}),
                      TableSpec(counts=["n"]), OPTS)
    pub.structure["relations"] = [((2, "n"), [(0, "n"), (1, "n")])]  # declared after the fact
    (table,) = published_tables(pub.to_html())
    assert recovered(table) and "between 3 and 3" in recovered(table)[0]
