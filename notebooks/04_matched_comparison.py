# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (evaluation)
#     language: python
#     name: evaluation
# ---

# %% [markdown]
# ## Matched comparison
# The programme chose its participants, so there is no control arm. As the UK Employment and
# Justice Data Labs do, a comparison group is built from the register pool by propensity-score
# matching on characteristics and pre-programme histories; effects are shown as ranges (95 %
# confidence intervals) at several horizons after entry, with a pre-specified headline outcome.
# Counts below the disclosure threshold are suppressed in every table.

# %% tags=["parameters"]
programme = "bjerke_effektkontrakt"
data_dir = "data/synthetic/bjerke_effektkontrakt"
output_dir = "reports/bjerke_effektkontrakt"
disclosure_threshold = 5
disclosure = {}
language = "en"  # en | nb (evaluation/i18n.py)
seed = 20261123
options = None  # None: the options of params/<programme>.yaml; a render passes its own

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import evaluation.matching as em
import evaluation.panel
import evaluation.params
import evaluation.report
from evaluation.report import Sum, TableSpec

evaluation.report.notebook_setup()
opt = evaluation.params.notebook_options(programme, "04_matched_comparison", options)
HISTORIES = ["sa_months_12", "sa_months_24", "emp_months_12", "emp_months_24", "earnings_12"]
outcome, horizon = opt.headline_outcome, opt.headline_horizon
# "reoffended within h months" is an ever-outcome over the first h months (opt.aggregate = "any")
aggregate, treatment = opt.aggregate, opt.treatment

panel = evaluation.panel.load_panel(data_dir)
persons = panel.persons()
# person x event-time rows of the outcomes only (the panel stays on disk)
data = panel.person_frame(opt.frame_event_times(),
                          columns=[c for c in opt.frame_columns() if c in panel.columns])
persons[treatment] = persons[treatment].astype(int)
gate = evaluation.report.Gate(disclosure_threshold, disclosure, language=language)
rec = gate.recorder(output_dir, notebook="04_matched_comparison")

# %% [markdown]
# ## Sample flow
# Participants and the comparison pool, every exclusion with its reason. The analysis stops here
# if fewer participants than the pre-specified minimum are available (Justice Data Lab: 60).

# %%
em.check_min_participants(persons, treatment, minimum=int(opt["min_participants"]))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    m = em.nearest_neighbor(persons, treatment=treatment, covariates=opt["covariates"],
                            exact=opt["exact"], caliper=opt["caliper"], ratio=int(opt["ratio"]),
                            missing="exclude", seed=seed)
for w in caught:
    gate.note(w.message)
flow = gate.table(m.flow, TableSpec(counts=["treated", "control", "excluded_treated", "excluded_control"],
                                    chains=[("treated", "excluded_treated"), ("control", "excluded_control")]),
                  caption="Sample flow of the matched comparison")
gate.table(m.sample_sizes(), TableSpec(counts=["all", "matched", "unmatched", "discarded"],
                                       stats={"matched": ["ess"]}, partition=True,
                                       sums=[Sum("all", ["matched", "unmatched", "discarded"], axis="columns")]),
           caption="Sample sizes (ESS = effective sample size)")
rec.add("sample_flow", flow)

# %% [markdown]
# ## Propensity model
# Logit of participation on characteristics and pre-programme histories (coefficients on the
# log-odds scale).

# %%
gate.table(m.ps.tidy(), [], caption=gate.tr("Propensity score model ({link}), n = {n}", link=m.ps.link, n=gate.count(m.ps.n)))
gate.say(m.method)

# %% [markdown]
# ## Overlap
# Distribution of the propensity score among participants and the comparison pool, before and
# after matching.

# %%
m.overlap_plot(threshold=gate.threshold)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Balance
# Standardised mean differences (|SMD| ≤ 0.1 strict, ≤ 0.25 acceptable) and variance ratios
# (0.5–2) before and after matching.

# %%
bal = m.balance()
cols = ["type", "smd_before", "smd_after", "var_ratio_before", "var_ratio_after", "ecdf_max_after",
        "smd_flag", "var_ratio_flag"]
balance = gate.table(bal[cols].reset_index(), TableSpec(group_n=int(persons[treatment].sum())),
                     caption="Covariate balance")
rec.add("balance", balance)
m.love_plot()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Effects at horizons (headline)
# Effect on the participants (ATT): weighted regression in the matched sample with standard
# errors clustered on the matched pair (CR2). Ranges are 95 % confidence intervals.

# %%
horizons = [int(h) for h in opt["horizons"]]
hz = em.effects_at_horizons(m, data, outcome, horizons, aggregate=aggregate)
tab = hz.table[["horizon", "mean_treated", "mean_control", "estimate", "ci_low", "ci_high", "pvalue",
                "n_treated", "n_control"]].copy()
tab.insert(4, "effect (95% CI)", [gate.ci(e, lo, hi) for e, lo, hi in
                                   zip(tab.estimate, tab.ci_low, tab.ci_high)])
if panel.truth is not None:  # synthetic data: the effect the simulation put in
    est = "att_ever_{}" if aggregate == "any" else None
    tv = panel.truth.query("estimand == 'att' and subgroup == 'all' and outcome == @outcome")
    truth = {h: (tv.loc[tv.event_time == h, "value"].mean() if est is None else
                 panel.truth.query(f"estimand == '{est.format(h)}' and subgroup == 'all' and "
                                   "outcome == @outcome")["value"].mean()) for h in horizons}
    tab["true effect (synthetic)"] = tab.horizon.map(truth)
tab = gate.table(tab, TableSpec(counts=["n_treated", "n_control"], analysis_n="n_treated"),
                 caption=gate.tr("Effect on {outcome} by months after entry", outcome=hz.extra["outcome"]))
hz.plot()
plt.show()
rec.add("effects_by_horizon", tab)
head_res = (hz.results[horizon] if horizon in hz.results else
            em.effects_at_horizons(m, data, outcome, [horizon], aggregate=aggregate).results[horizon])
rec.add("headline", head_res, headline=True)
gate.result(head_res, caption=gate.tr("Headline: {outcome} at {horizon} months", outcome=outcome, horizon=horizon))

# %%
for y in [o for o in opt["secondary_outcomes"] if o != outcome and o in panel.columns]:
    h2 = em.effects_at_horizons(m, data, y, horizons)
    sec = gate.table(h2.table[["horizon", "mean_treated", "mean_control", "estimate", "ci_low", "ci_high",
                               "n_treated", "n_control"]],
                     TableSpec(counts=["n_treated", "n_control"], analysis_n="n_treated"),
                     caption=gate.tr("Secondary outcome: {outcome}", outcome=y))
    rec.add(f"effects_by_horizon_{y}", sec)

# %% [markdown]
# ## Matched difference-in-differences
# Participants matched to comparison persons on pre-programme histories only (months on social
# assistance and employed in the 12 and 24 months before entry, earnings), within office; then
# the difference in outcome paths relative to the year before entry. Pre-entry estimates near
# zero support the comparison.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    m_hist = em.nearest_neighbor(persons, treatment=treatment, covariates=HISTORIES,
                                 exact=opt["exact"], caliper=opt["caliper"], missing="exclude")
did = em.matched_did(m_hist, data, outcome, pre=opt.did_pre, post=(0, max(horizons) - 1))
did.plot()
plt.show()
gate.result(did.att, caption="Matched DiD, average over the post period")
rec.add("matched_did", did.att)
rec.add("matched_did_event_time", did.table)

# %% [markdown]
# ## Sensitivity
# The headline estimate under other matching choices (caliper, ratio, replacement, Mahalanobis
# distance) and other methods (inverse probability weighting, entropy balancing).

# %%
y_head = em.outcome_at_horizon(data, outcome, horizon, aggregate=aggregate)
sens_data = persons.assign(_headline=persons["person_id"].map(y_head))
sens = em.sensitivity(sens_data, treatment=treatment, covariates=opt["covariates"],
                      outcome="_headline", exact=opt["exact"], caliper=opt["caliper"],
                      missing="exclude")
sens = gate.table(sens, TableSpec(counts=["n_treated", "n_control"], analysis_n="n_treated"),
                  caption=gate.tr("Sensitivity of the headline ({outcome} at {horizon} months)",
                                  outcome=outcome, horizon=horizon))
rec.add("sensitivity", sens)

# %% [markdown]
# ## Hidden bias: Rosenbaum bounds and the E-value
# Matching balances what is measured; an unmeasured difference between participants and their
# matched comparison persons could still explain the headline. Rosenbaum bounds ask how large it
# would have to be: within a matched pair the odds of participation may differ by a factor Γ, and
# the table gives the largest one-sided p-value of Wilcoxon's signed-rank test on the pair
# differences that such a bias allows; the result stays significant at 5 % up to the critical Γ
# (pairs without an observed outcome are left out). The E-value (VanderWeele & Ding 2017) is the
# risk ratio an unmeasured confounder would need with both participation and the outcome to
# explain the headline away, here through the standardised mean difference (RR ≈ exp(0.91 d)).

# %%
y_pairs = m.data["person_id"].map(y_head).to_numpy(float)
bounds = em.rosenbaum_bounds(m, outcome=y_pairs, gamma=[1, 1.1, 1.25, 1.5, 1.75, 2, 2.5, 3], missing="drop_pairs",
                             alternative="greater" if head_res.estimate >= 0 else "less")
bounds.plot()
plt.show()
gate.table(bounds.tidy()[["gamma", "p_upper", "significant"]], [], precision=4,
           caption=gate.tr("Rosenbaum bounds for the headline ({outcome} at {horizon} months): significant at 5 % "
                           "up to Γ = {gamma:.2f}", outcome=outcome, horizon=horizon, gamma=bounds.gamma_critical))
sd_y = float(np.nanstd(y_pairs[(m.weights > 0) & (m.treat == 0)], ddof=1))
evalue = em.e_value(head_res.estimate, *head_res.ci(), measure="MD", sd=sd_y)
gate.table(evalue.tidy(), [], caption=gate.tr("E-value of the headline: {e:.2f} for the estimate, {e_ci:.2f} for "
                                              "the confidence limit closest to no effect", e=evalue.e_value,
                                              e_ci=evalue.e_value_ci))
rec.add("rosenbaum_bounds", bounds.tidy())
rec.add("e_value", evalue.tidy())

# %% [markdown]
# ## Key numbers
# The headline numbers recorded in results.json, rounded; reviewers' re-runs are output-checked
# against this cell (nbval).

# %%
# NBVAL_CHECK_OUTPUT
rec.save()
gate.say(rec.key_results(digits=4))
