"""A small constructed person-month panel whose contract figures can be checked by hand.

20 persons starting 2020-01, 24 months each.  Participants p00-p09 (treated, all mapped in their
start month), controls c10-c19.  Employed (100 % position, from the month given, to the end):
participants p00-p05 from event month 2, controls c10-c13 from event month 3.  ``job_kept_6m`` is
true from the sixth month of a job on.  ``sa_months_24``: 24 for p00-p04 and c10-c14, else 0.
"""
import numpy as np
import pandas as pd

MONTHS = 24
START = pd.Timestamp("2020-01-01")


def contract_panel() -> pd.DataFrame:
    ids = [f"p{i:02d}" for i in range(10)] + [f"c{i}" for i in range(10, 20)]
    job_from = {**{f"p{i:02d}": 2 for i in range(6)}, **{f"c{i}": 3 for i in range(10, 14)}}
    long_term = {*(f"p{i:02d}" for i in range(5)), *(f"c{i}" for i in range(10, 15))}
    rows = []
    for pid in ids:
        treated = pid.startswith("p")
        for et in range(MONTHS):
            j = job_from.get(pid)
            emp = j is not None and et >= j
            rows.append({"person_id": pid, "month": START + pd.DateOffset(months=et), "event_time": et,
                         "period": et + 1, "arm": "treatment" if treated else "control",
                         "treated": treated, "participated": treated, "office": "A",
                         "assigned_month": START, "mapping_month": START if treated else pd.NaT,
                         "cohort": 0, "employed": emp, "position_share": 1.0 if emp else 0.0,
                         "job_kept_6m": emp and et >= j + 5, "earnings": 30000.0 if emp else 0.0,
                         "sa_amount": 0.0 if emp else 8000.0, "on_social_assistance": not emp,
                         "sa_months_24": 24 if pid in long_term else 0, "sa_months_12": 0})
    return pd.DataFrame(rows)


STAGED = {"type": "staged", "price": 10000, "min_position_share": 0.5, "sequential": True,
          "stages": [{"name": "mapping", "share": 0.2, "event": "mapping"},
                     {"name": "job", "share": 0.4, "event": "job_entry"},
                     {"name": "job kept", "share": 0.4, "event": "job_kept"}]}
BEYOND = {"type": "threshold", "outcome": "job_kept_6m", "count": "ever", "direction": "increase",
          "margin": 0.0, "price_per_event": 50000, "window_months": MONTHS, "cohort_months": 48}
WEIGHTED = {"type": "rate_card", "items": [{"outcome": "job_entry", "price": 3000}],
            "group_prices": {"column": "sa_months_24", "cuts": [12], "factors": [0.5, 2.0]}}
CONTRACT = {"name": "test", "window_months": MONTHS, "cohort_months": 48, "payment": STAGED,
            "event_options": {"kept_months": 6}, "public": {"tax_rate": 0.0}}


# ------------------------------------------------------------------------------------------
# the programmes' plans on small synthetic panels (frames against the whole panel)
# ------------------------------------------------------------------------------------------
def plan_options(notebook: str) -> list[tuple[str, object]]:
    """``(programme, validated options)`` of ``notebook`` in every params/*.yaml that runs it."""
    from evaluation.params import ROOT, load_params
    out = []
    for path in sorted((ROOT / "params").glob("*.yaml")):
        for nb in load_params(path).notebooks:
            if nb.name == notebook:
                out.append((path.stem, nb.validated_options()))
    return out


_PANELS: dict = {}


def synthetic_panel(programme: str, n_persons: int = 1200):
    """A small synthetic panel of ``programme``'s scenario (built once per test session) and
    its assignment extract: ``(panel, assignment)``."""
    if programme not in _PANELS:
        from evaluation import synthetic
        from evaluation.panel import build_panel
        from evaluation.params import ROOT, load_params
        scenario = load_params(ROOT / "params" / f"{programme}.yaml").data.scenario
        s = synthetic.generate(scenario, n_persons=n_persons, seed=5)
        _PANELS[programme] = build_panel(s.extracts), s.extracts["assignment"]
    return _PANELS[programme]


def counterfactual_kw(opt, panel, assignment) -> dict:
    """The counterfactual arguments of :func:`evaluation.contracts.evaluate` the contract
    notebooks derive from their options (a fixed effect stands in for one read from results)."""
    from types import SimpleNamespace

    from evaluation.contracts import matched_comparison
    kw = {"counterfactual": opt.counterfactual, "baseline": opt.baseline, "assignment": assignment}
    if opt.counterfactual == "matched":
        kw["comparison"] = matched_comparison(panel, seed=1, **opt.matching.model_dump())[0]
    if opt.counterfactual == "did":
        kw["effect"] = SimpleNamespace(estimate=-0.5, se=0.2)
    return kw
