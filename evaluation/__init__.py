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
"""
__version__ = "0.1.0"
