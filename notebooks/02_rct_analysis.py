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
# ## Randomised trial: intention-to-treat analysis
# Persons were randomised as individuals to the programme arm(s) or ordinary follow-up.  This
# report follows the pre-specified plan: checks that the draw was not manipulated and that the arms
# are comparable, take-up by arm, the pre-specified headline outcome, effects month by month since
# randomisation, subgroups, robustness, the power of the trial, and what a staged results-based
# payment rule would have paid per arm.  Person ids are never shown; counts below the disclosure
# threshold are suppressed.

# %% tags=["parameters"]
programme = "refino"
data_dir = "data/synthetic/refino"
output_dir = "reports/refino"
disclosure_threshold = 5
disclosure = {}
language = "en"  # en | nb (evaluation/i18n.py)
seed = 20261123
options = None  # None: the options of params/<programme>.yaml; a render passes its own

# %%
import matplotlib.pyplot as plt

import evaluation.panel
import evaluation.params
import evaluation.report
from evaluation import rct
from evaluation.report import TableSpec

evaluation.report.notebook_setup()
opt = evaluation.params.notebook_options(programme, "02_rct_analysis", options)
headline_outcome, headline_month, outcomes = opt.headline_outcome, opt.headline_month, opt.outcomes
covariates, subgroups, strata = opt.covariates, opt.subgroups, opt.strata
months, ri_draws, price, target_effect = opt.months, opt.ri_draws, opt.price, opt.target_effect
arms, control, method, shares = opt.arms, opt.control, opt.method, opt.design_shares

panel = evaluation.panel.load_panel(data_dir)
data = panel.person_frame(range(0, months + 1))   # event months 0..months; the panel stays on disk
people = panel.persons()
if arms is not None:
    data, people = data[data["arm"].isin([control, *arms])], people[people["arm"].isin([control, *arms])]
at_headline = rct.at_month(data, headline_month)
gate = evaluation.report.Gate(disclosure_threshold, disclosure, language=language)
rec = gate.recorder(output_dir, notebook="02_rct_analysis")

# %% [markdown]
# ## Was the draw as designed?
# Assignment counts against the design shares (binomial test for two arms, chi-square otherwise,
# and within randomisation strata).

# %%
assign = rct.assignment_check(people, treatment="arm", shares=shares, strata="stratum")
gate.table(assign.table, TableSpec(counts=["n"], stats={"n": ["share"]}, partition=True),
           caption="Assignment by arm")
gate.table(assign.tests, [], caption="Tests of the assignment shares")
rec.add("assignment", assign)

# %% [markdown]
# ## Balance at baseline
# Means by arm, standardised mean differences (|SMD| ≤ 0.1 is the strict rule) and variance
# ratios; the joint test regresses the arm indicator on all covariates.

# %%
balance = rct.balance_table(people, treatment="arm", covariates=covariates + ["education_level"],
                            control=control)
smallest_arm = int(people["arm"].value_counts().min())
gate.table(balance.table, TableSpec(counts=["n_missing"], group_n=smallest_arm),
           caption="Balance of baseline covariates")
gate.table(balance.joint, TableSpec(counts=["n"], group_n=smallest_arm), caption="Joint test of balance")
rec.add("balance", balance)

# %% [markdown]
# ## Attrition
# Share of persons without register data at the event month, by arm.

# %%
attr = rct.attrition(data, months=[m for m in (6, 12, 24, 36, 48, 72) if m <= months], control=control)
gate.table(attr.table, TableSpec(counts=["n_assigned", "n_observed"],
                                 derived={"n_lost": ("n_assigned", ["n_observed"])},
                                 stats={"n_lost": ["attrition", "difference", "pvalue"]}),
           caption="Attrition by arm")
rec.add("attrition", attr)

# %% [markdown]
# ## Compliance
# Take-up by arm.  The first stage (the difference in take-up) scales the intention-to-treat
# effect to the effect on those who took part because of the draw (LATE, by 2SLS).

# %%
comp = rct.compliance_table(people, participation="participated", control=control)
gate.table(comp.table, TableSpec(counts=["n_assigned", "n_participated"],
                                 derived={"n_not_participating": ("n_assigned", ["n_participated"])},
                                 stats={"n_participated": ["participation_rate", "first_stage",
                                                           "first_stage_se"]}),
           caption="Participation by arm")
late = rct.late(at_headline, outcome=headline_outcome, treatment="arm", participation="participated",
                covariates=covariates, control=control)
gate.result(late)
rec.add("compliance", comp)
rec.add("late", late, outcome=f"{headline_outcome} at month {headline_month}, LATE (participants)")

# %% [markdown]
# ## Headline: the pre-specified outcome
# Intention to treat at the pre-specified month, adjusted for baseline covariates (Lin's
# estimator, HC2 standard errors), beside the unadjusted difference in means.

# %%
headline = rct.itt(at_headline, outcome=headline_outcome, treatment="arm", covariates=covariates,
                   method=method, control=control)
dim = rct.difference_in_means(at_headline, outcome=headline_outcome, treatment="arm", control=control)
rec.add("headline", headline, headline=True, outcome=f"{headline_outcome} at month {headline_month}")
rec.add("headline_unadjusted", dim, outcome=f"{headline_outcome} at month {headline_month}, unadjusted")
gate.result(headline, caption=gate.tr("Headline: {outcome} at month {month}", outcome=headline_outcome,
                                      month=headline_month))

# %% [markdown]
# ## Effects month by month
# One estimate per month since randomisation.  The dark band is the pointwise 95 % interval; the
# light band is the uniform (sup-t) band that covers the whole path of monthly effects with 95 %
# probability, so it is the one to read when looking for *any* month with an effect.

# %%
monthly = {}
fig, axes = plt.subplots(len(outcomes), 1, figsize=(9, 3.4 * len(outcomes)), squeeze=False)
for ax, y in zip(axes[:, 0], outcomes):
    monthly[y] = rct.effects_by_month(data, outcome=y, treatment="arm", months=months,
                                      covariates=covariates, control=control, seed=seed)
    monthly[y].plot(ax=ax, title=gate.tr("Effect on {outcome}", outcome=y))
fig.tight_layout()
plt.show()
for y, res in monthly.items():
    rec.add(f"effects_by_month_{y}", res)

# %% [markdown]
# ## Cumulative outcomes
# Months in the outcome (e.g. months employed) within windows since randomisation.

# %%
windows = [w for w in (12, 24, 36, 48, 72) if w <= months]
cumulative = rct.cumulative_effects(data, outcome=headline_outcome, windows=windows,
                                    covariates=covariates, control=control)
gate.table(cumulative.table, ["n", "n_incomplete"], caption=gate.tr("ITT on months of {outcome}", outcome=headline_outcome))
rec.add("cumulative", cumulative)

# %% [markdown]
# ## All pre-specified outcomes at the headline month
# Family-wise adjusted p-values: Holm, and Romano–Wolf (which uses the correlation between the
# outcomes and is less conservative).

# %%
family = rct.multiple_outcomes(at_headline, outcomes=outcomes, treatment="arm", covariates=covariates,
                               method=method, control=control, person="person_id", seed=seed)
gate.table(family.table, ["n"], caption="ITT on the pre-specified outcomes")
rec.add("outcomes", family)

# %% [markdown]
# ## Subgroups
# Effects within subgroups and a test that the effect is the same in all levels of the subgroup.

# %%
sub = rct.subgroup_effects(at_headline, outcome=headline_outcome, treatment="arm",
                           subgroups=[s for s in subgroups if s in data.columns], covariates=covariates,
                           control=control)
subgroup_table = gate.table(sub.table, TableSpec(counts=["n"], analysis_n="n", partition=True,
                                                  partition_by="subgroup"), caption="ITT by subgroup")
gate.table(sub.tests, [], caption="Interaction tests")
rec.add("subgroups", subgroup_table)

# %% [markdown]
# ## Robustness
# The headline estimate without covariates, with ANCOVA instead of Lin, with randomisation-area
# fixed effects, and a randomisation-inference p-value that re-draws the assignment within areas.

# %%
robust = {
    "difference in means": dim,
    "ANCOVA": rct.itt(at_headline, outcome=headline_outcome, treatment="arm", covariates=covariates,
                      method="ancova", control=control),
    "Lin": headline,
    f"Lin + {strata} fixed effects": rct.itt(at_headline, outcome=headline_outcome, treatment="arm",
                                             covariates=covariates, method="lin", strata=strata,
                                             control=control),
}
ri = rct.randomization_inference(at_headline, outcome=headline_outcome, treatment="arm",
                                 covariates=covariates, strata=strata, draws=ri_draws, seed=seed,
                                 control=control)
table = rct.robustness_table(robust, ri=ri)
gate.table(table, ["n"], caption="Headline estimate under alternative specifications")
rec.add("robustness", table)

# %% [markdown]
# ## Power
# The minimum detectable effect of this trial for the headline outcome (80 % power, 5 % level),
# with the control group's rate at the headline month and the R² of the baseline covariates, and
# the number of persons needed to detect the target effect.

# %%
plan = rct.planning_summary(at_headline, outcome=headline_outcome, treatment="arm", covariates=covariates,
                            control=control, target_effect=target_effect)
gate.table(plan, ["n"], caption="Minimum detectable effect and power")
rec.add("power", plan)

# %% [markdown]
# ## Provider payments under the staged 20/40/40 rule
# What the results-based rule pays per arm: 20 % of the price for the initial mapping, 40 % at the
# first month employed in at least a 50 % position after the start, 40 % when the job is kept six
# months.  Payments in the control arm show what the rule would pay for outcomes that happen anyway.

# %%
assignment = evaluation.panel.read_extracts(data_dir, names=["assignment"])["assignment"]
payments = rct.staged_payments(data, price=price, assignment=assignment, horizon=months)
stage_prices = [0.2 * price, 0.4 * price, 0.4 * price]
paid = gate.table(payments.table.drop(columns=["paid_per_person", "share_of_max"]), TableSpec(
    counts=["n_persons", "n_mapping", "n_job", "n_job_kept"],
    amounts={"paid_mapping": ("n_mapping", stage_prices[0]), "paid_job": ("n_job", stage_prices[1]),
             "paid_job_kept": ("n_job_kept", stage_prices[2]),
             "paid_total": (["n_mapping", "n_job", "n_job_kept"], stage_prices)}),
    caption=gate.tr("Payments at price {price:,.0f}", price=price))
rec.add("payments", paid)

# %% [markdown]
# ## Key numbers
# The headline numbers recorded in results.json, rounded; reviewers' re-runs are output-checked
# against this cell (nbval).

# %%
# NBVAL_CHECK_OUTPUT
rec.save()
gate.say(rec.key_results(digits=4))
