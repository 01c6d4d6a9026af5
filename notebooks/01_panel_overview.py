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
# ## Panel overview
# The register extracts linked by person id into one person-month panel: how many persons and
# months each step kept, who they are, and how the outcomes move over calendar and event time.
# Counts below the disclosure threshold are suppressed in every table and figure.

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
import seaborn as sns

import evaluation.panel
import evaluation.params
import evaluation.report
from evaluation import overview

evaluation.report.notebook_setup()
opt = evaluation.params.notebook_options(programme, "01_panel_overview", options)
group, outcomes = opt.group, opt.outcomes
panel = evaluation.panel.load_panel(data_dir)
gate = evaluation.report.Gate(disclosure_threshold, disclosure, language=language)
rec = gate.recorder(output_dir, notebook="01_panel_overview")

# %% [markdown]
# ## Sample flow
# Every step from the extracts to the analysis panel, with the persons and person-months it
# kept or excluded and why.

# %%
flow = gate.table(panel.flow, overview.flow_spec(panel.flow), caption="Sample flow")
rec.add("sample_flow", flow)

# %% [markdown]
# ## Who is in the panel

# %%
by_group, spec = overview.by_group(overview.describe_by(panel.persons(), group))
desc = gate.table(by_group, spec,
                  caption=gate.tr("Persons and their characteristics by {group}", group=group))
rec.add("persons_by_group", desc[[group, "n"]])

# %% [markdown]
# ## Outcome means
# Mean of each outcome over all observed person-months, by group.

# %%
means = overview.outcome_means(panel, outcomes, by=group)
means = gate.table(means, overview.means_spec(means, outcomes),
                   caption=gate.tr("Outcome means by {group}", group=group))
rec.add("outcome_means", means)

# %% [markdown]
# ## Outcomes over calendar time

# %%
fig, axes = plt.subplots(len(outcomes), 1, figsize=(9, 3.2 * len(outcomes)), squeeze=False)
for ax, y in zip(axes[:, 0], outcomes):
    traj = overview.trajectories(panel, y, by=group, time="month")
    overview.plot_trajectories(traj, by=group, time="month", ax=ax, threshold=gate.threshold,
                               title=gate.tr("{outcome} by {group}", outcome=y, group=group))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Outcomes over event time (months since programme start)

# %%
fig, axes = plt.subplots(len(outcomes), 1, figsize=(9, 3.2 * len(outcomes)), squeeze=False)
for ax, y in zip(axes[:, 0], outcomes):
    traj = overview.trajectories(panel, y, by=group, time="event_time")
    overview.plot_trajectories(traj, by=group, time="event_time", ax=ax,
                               threshold=gate.threshold,
                               title=gate.tr("{outcome} by {group}", outcome=y, group=group))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Key numbers
# Recorded in results.json; this cell's output is checked when reviewers re-run the notebook.

# %%
# NBVAL_CHECK_OUTPUT
rec.add("panel_size", {"persons": int(panel.meta["panel"]["n_persons"]),
                       "person_months": panel.n_person_months})
rec.save()
gate.say(gate.tr("persons: {persons}, person-months: {person_months}",
                 persons=gate.count(rec.entries["panel_size"]["persons"]),
                 person_months=gate.count(rec.entries["panel_size"]["person_months"])))
gate.say(means.round(3).to_string(index=False))
