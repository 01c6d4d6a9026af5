"""Evaluation suite for labour-market programmes and outcome-based contracts.

Modules
-------
panel      link register extracts into a validated person-month panel with a sample-flow table
synthetic  synthetic register extracts for the five programme scenarios, with truth files
rct        randomised-trial analysis (difference in means, ITT/ANCOVA/Lin, RI, LATE, power)
did        difference-in-differences (2x2, TWFE, event study, Callaway-Sant'Anna, Sun-Abraham, Bacon)
matching   propensity scores, nearest-neighbour/exact/CEM matching, weighting, balance, matched DiD
contracts  outcome-contract payment rules, counterfactuals, investor and public cash flows
report     tables, figures and statistical disclosure control for published reports
render     papermill rendering of parameter files into reports

Layers
------
Imports run one way, from the top of this list down (a module imports only from its own layer or
below; tests/test_structure.py fails on a circle and on a function-level import that dodges one)::

    cli                      commands
    render, intake, summary  renders, plans, summary pages and data folders of a programme
    params                   the params file and its options models
    report, overview         what notebooks publish (through the gate)
    contracts                payment rules, settlement, INDIGO export, contract design
    rct, did, matching       estimators and their result objects
    panel, synthetic         the person-month panel and the generated extracts
    results, disclosure,     result-object base classes; the disclosure gate; report wording
    i18n
    schema                   panel and extract columns, scenarios
    _io                      ground floor: ROOT, atomic writes, to_jsonable (imports nothing here)

A few imports sit inside functions to keep ``import evaluation.x`` light (matplotlib, scipy,
the engines); those close no circle.  The one left that does (contracts.engine -> indigo/plots
for ``ContractResult.to_indigo``/``plot``) is listed in tests/test_structure.py with its reason.
"""
__version__ = "0.1.0"
