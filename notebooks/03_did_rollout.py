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
# ## Staggered rollout: difference-in-differences
# The programme started in a pilot district and other districts joined later, so each district's
# recipients form a *cohort* by the period their office adopted it; districts that never adopted
# are the comparison group. With adoption at different times and effects that grow with exposure,
# the classic two-way fixed-effects (TWFE) regression can be badly misleading. This report shows the
# rollout, the raw trends, and then compares TWFE with the Callaway–Sant'Anna group-time estimator
# (the pre-specified headline) and the Sun–Abraham event study, with a pre-trend test, group and
# calendar effects, and the Goodman-Bacon decomposition that explains where TWFE goes wrong.
# Counts below the disclosure threshold are suppressed in every table; no person ids are shown.

# %% tags=["parameters"]
programme = "alna_aktiv"
data_dir = "data/synthetic/alna_aktiv"
output_dir = "reports/alna_aktiv"
disclosure_threshold = 5
disclosure = {}
language = "en"  # en | nb (evaluation/i18n.py)
seed = 20261123
options = None  # None: the options of params/<programme>.yaml; a render passes its own

# %%

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import evaluation.did as did
import evaluation.panel
import evaluation.params
import evaluation.report
from evaluation.report import TableSpec

evaluation.report.notebook_setup()
opt = evaluation.params.notebook_options(programme, "03_did_rollout", options)
outcome, cluster = opt.outcome, opt.cluster or None
cols = dict(outcome=outcome, unit="person_id", time=opt.time, group=opt.group)
min_e, max_e = opt.min_e, opt.max_e

panel = evaluation.panel.load_panel(data_dir)
data = panel.person_period(opt.frame_columns())   # only these columns come into memory
gate = evaluation.report.Gate(disclosure_threshold, disclosure, language=language)
rec = gate.recorder(output_dir, notebook="03_did_rollout")


# %% [markdown]
# ## The rollout
# Which districts had the programme in which period (1 = adopted), and how many recipients each
# district contributes.

# %%
g = opt["group"]
rollout = did.rollout_table(data, unit="person_id", group=g, district=opt["district"])
gate.table(rollout, TableSpec(counts=["units"], partition=True),
           caption="Districts, adoption period (empty = never) and recipients")
did.plot_rollout(did.rollout_status(rollout, data[opt["time"]].unique()))
plt.show()

# %% [markdown]
# ## Raw trends by cohort
# Mean outcome by adoption cohort; dashed lines mark each cohort's first treated period.

# %%
trend = did.cohort_trends(data, outcome=outcome, group=g, time=opt["time"])
did.plot_cohort_trends(gate.mask(trend), group=g, time=opt["time"], outcome=outcome)
plt.show()

# %% [markdown]
# ## Callaway–Sant'Anna group-time effects (headline)
# ATT(g,t) for every cohort and period, with the pre-specified control group, estimation method
# and clustering; the headline is the simple aggregate (post-treatment ATT(g,t) weighted by cohort
# size). Standard errors are clustered as pre-specified; with few clusters (here districts, each
# cohort being one district) cluster-robust standard errors and bands are unreliable, so the
# person-level standard error is shown alongside and the pre-test is also reported at person level.

# %%
cs = gate.noted(did.att_gt, data, **cols, covariates=opt["covariates"], control_group=opt["control_group"],
            method=opt["method"], anticipation=int(opt["anticipation"]), base_period=opt["base_period"],
            cluster=cluster, biters=int(opt["bootstrap_draws"]), seed=seed)
cs_person = gate.noted(did.att_gt, data, **cols, covariates=opt["covariates"], control_group=opt["control_group"],
                   method=opt["method"], anticipation=int(opt["anticipation"]), base_period=opt["base_period"])
agg = {k: cs.aggregate(k, **({"min_e": min_e, "max_e": max_e} if k == "dynamic" else {}))
       for k in ("simple", "group", "dynamic", "calendar")}
simple = agg["simple"]
lo, hi = simple.ci()
gate.say(gate.tr("Headline ATT on {outcome}: {ci} (SE {se:.4f}{clustered}; person-level SE {se_person:.4f}); "
                 "{n} persons", outcome=outcome, ci=gate.ci(simple.estimate, lo, hi), se=simple.se,
                 clustered=gate.tr(", clustered by {cluster}", cluster=cluster) if cluster else "",
                 se_person=cs_person.aggregate("simple").se, n=gate.count(cs.n)))
rec.add("headline", simple, headline=True, outcome=f"{outcome}, overall ATT")
rec.add("cs_aggregates", pd.DataFrame([{"aggregation": k, **{c: a.to_dict()[c] for c in
                                        ("estimate", "se", "ci_low", "ci_high")}} for k, a in agg.items()]))

# %% [markdown]
# ## Few-cluster inference (pre-specified headline inference)
# With a handful of districts, intervals built from cluster-robust variances are unreliable (when
# every adoption cohort is one district they rest on the comparison districts alone). The same
# headline estimate with three kinds of inference: cluster-robust, the restricted wild cluster
# bootstrap of its equivalent regression, and randomisation inference that permutes the
# districts' adoption dates (exact over all distinct assignments; the confidence set inverts
# sharp nulls of a constant effect). The parameter file declares which one is the headline.

# %%
few = gate.noted(did.few_cluster_inference, cs, data, cluster=opt["district"], wild_weights=opt.wild_weights,
                 wild_draws=opt.wild_draws, ri_permutations=opt.ri_permutations, seed=seed)
gate.table(few.tidy(), [], caption=gate.tr("Headline ATT with few-cluster inference (pre-specified: "
                                           "{inference})", inference=opt.headline_inference))
rec.add("few_cluster_inference", few.tidy())
rec.add("clusters", {"clusters": int(few.results["wild"].n_clusters), "cluster": opt["district"],
                     "headline_inference": opt.headline_inference})
if opt.headline_inference != "cluster":
    head = few.result(opt.headline_inference)
    lo, hi = head.ci()
    gate.say(gate.tr("Headline ATT on {outcome} ({inference} inference): {ci}, p = {p:.4f}", outcome=outcome,
                     inference=opt.headline_inference, ci=gate.ci(head.estimate, lo, hi), p=head.pvalue))
    rec.add("headline", head, headline=True, outcome=f"{outcome}, overall ATT")

# %% [markdown]
# ## TWFE vs Callaway–Sant'Anna vs Sun–Abraham
# One number per method (post-treatment average) and the event-study profiles side by side; the
# imputation estimator fits person and period effects on untreated person-periods only (its
# standard error is by person: with one district per cohort, its district-clustered variance would
# count district shocks as effect heterogeneity and be far too small). TWFE
# uses already-treated districts as controls for later ones, which biases it when effects grow
# over time. The caseload row treats each month's recipients as a repeated cross-section
# (`panel=False`): it uses every person-month, including recipients not observed in every month
# (whom the panel estimator drops), with standard errors clustered by person.

# %%
cs_rc = gate.noted(did.att_gt, data, **cols, covariates=opt["covariates"], control_group=opt["control_group"],
                   method=opt["method"], anticipation=int(opt["anticipation"]), base_period=opt["base_period"],
                   panel=False, cluster="person_id").aggregate("simple")
rc_row = {"method": "Callaway-Sant'Anna, caseload as repeated cross-sections (simple, SE by person)",
          "estimate": cs_rc.estimate, "se": cs_rc.se}
imp = gate.noted(did.did_imputation, data, **cols)
imp_row = {"method": "Imputation (Borusyak-Jaravel-Spiess; SE by person)", "estimate": imp.estimate, "se": imp.se}

# %%
tw = gate.noted(did.twfe, data, **cols, cluster=cluster)
es = gate.noted(did.event_study, data, **cols, min_e=min_e, max_e=max_e, cluster=cluster)
sa = gate.noted(did.sun_abraham, data, **cols, cluster=cluster)
compare = pd.DataFrame([
    {"method": "TWFE (static)", "estimate": tw.estimate, "se": tw.se},
    {"method": "Callaway-Sant'Anna (simple)", "estimate": simple.estimate, "se": simple.se},
    {"method": "Callaway-Sant'Anna (dynamic, e >= 0)", "estimate": agg["dynamic"].estimate, "se": agg["dynamic"].se},
    rc_row, imp_row,
    {"method": "Sun-Abraham (cohort-share weighted, e >= 0)", "estimate": sa.extra["att"], "se": sa.extra["att_se"]},
])
if panel.truth is not None and len(panel.truth):
    t = panel.truth
    tv = t[(t.estimand == "att_simple") & (t.outcome == outcome) & (t.subgroup == "all")]["value"]
    if len(tv):
        compare["true simple ATT (synthetic)"] = float(tv.iloc[0])
gate.table(compare, [], caption="Post-treatment effect by method")
rec.add("method_comparison", compare)
fig, axes = plt.subplots(1, 3, figsize=(16, 4), sharey=True)
es.plot(ax=axes[0])
axes[0].set_title(gate.tr("TWFE event study (binned end points)"))
sa.plot(ax=axes[1], min_e=min_e, max_e=max_e)
axes[1].set_title(gate.tr("Sun-Abraham (interaction-weighted)"))
agg["dynamic"].plot(ax=axes[2], band=False)
axes[2].set_title(gate.tr("Callaway-Sant'Anna (dynamic)"))
plt.show()

# %% [markdown]
# ## Event study with uniform confidence bands
# Callaway–Sant'Anna event-time effects with pointwise 95 % intervals and a simultaneous band
# (multiplier bootstrap, sup-t critical value) that covers all event times jointly.

# %%
dyn = agg["dynamic"]
bands = dyn.bands()
ax = dyn.plot()
ax.set_title(gate.tr("Event study, {outcome} (uniform band: critical value {crit:.2f})", outcome=outcome,
                     crit=dyn.crit_val))
plt.show()
gate.table(bands[["event_time", "estimate", "se", "ci_low", "ci_high", "band_low", "band_high"]], [],
           caption="Event-time effects")
rec.add("event_study", bands)
if panel.truth is not None and len(panel.truth):
    t = panel.truth
    te = t[(t.estimand == "att_event_time") & (t.outcome == outcome) & (t.subgroup == "all")][["event_time", "value"]]
    cmp = bands[["event_time", "estimate", "band_low", "band_high"]].merge(te, on="event_time", how="left")
    cmp["truth inside band"] = (cmp["value"] >= cmp["band_low"]) & (cmp["value"] <= cmp["band_high"])
    gate.say(gate.tr("Truth inside the uniform band at {inside} of {n} event times",
                     inside=int(cmp["truth inside band"].sum()), n=len(cmp)))

# %% [markdown]
# ## Pre-trend test
# Wald test that all pre-treatment ATT(g,t) are zero (Callaway–Sant'Anna), and the joint test of the
# TWFE event-study leads. A rejection warns that the comparison districts may not show the
# treated districts' counterfactual trend.

# %%
pt = gate.noted(cs.pretest)
pt_person = cs_person.pretest()
pt_es = es.pretest()
tests = pd.DataFrame([
    {"test": "CS pre-treatment ATT(g,t)" + (f" (clustered by {cluster})" if cluster else "")
     + ("" if np.isfinite(pt.statistic) else ": not available, fewer clusters than pre-periods"),
     "statistic": pt.statistic, "df": pt.df, "pvalue": pt.pvalue},
    {"test": "CS pre-treatment ATT(g,t) (person-level)", "statistic": pt_person.statistic, "df": pt_person.df,
     "pvalue": pt_person.pvalue},
    {"test": "TWFE event-study leads", "statistic": pt_es.statistic, "df": pt_es.df, "pvalue": pt_es.pvalue}])
gate.table(tests, [], caption="Pre-trend tests")
rec.add("pretest", tests)

# %% [markdown]
# ## How much could a violation of parallel trends change the conclusion? (HonestDiD)
# Passing a pre-test does not show that trends are parallel after adoption. Following Rambachan &
# Roth (2023), the average effect over event times 0–3 is given a confidence set that stays valid
# when the post-adoption violation of parallel trends is at most M̄ times the largest pre-adoption
# one (relative magnitudes, left) or when its slope changes by at most M per period (smoothness,
# right). The breakdown value is the largest M̄ (M) at which the set still excludes zero. The event
# study uses a universal base period (e = −1), as HonestDiD requires, and the person-level
# covariance: with six districts the district-clustered covariance of seven coefficients is singular.

# %%
cs_u = gate.noted(did.att_gt, data, **cols, covariates=opt["covariates"], control_group=opt["control_group"],
                  method=opt["method"], anticipation=int(opt["anticipation"]), base_period="universal")
coefs = did.event_study_coefficients(cs_u.aggregate("dynamic", min_e=-4, max_e=3))
avg_post = np.full(coefs.num_post, 1 / coefs.num_post)   # theta = mean effect over e = 0..3
honest_rm = gate.noted(did.honest_did, coefs, restriction="relative_magnitude", m_values=[0, 0.5, 1, 1.5, 2],
                       l_vec=avg_post)
honest_sd = gate.noted(did.honest_did, coefs, restriction="smoothness", l_vec=avg_post)
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
honest_rm.plot(ax=axes[0])
axes[0].set_title(gate.tr("Relative magnitudes (C-LF)"))
honest_sd.plot(ax=axes[1])
axes[1].set_title(gate.tr("Smoothness (FLCI)"))
plt.show()
honest = pd.concat([honest_rm.tidy().rename(columns={"Mbar": "bound"}), honest_sd.tidy().rename(columns={"M": "bound"})])
gate.table(honest[["delta", "method", "bound", "lb", "ub", "excludes_zero"]], [], precision=4,
           caption=gate.tr("Robust 95 % sets for the mean effect over e = 0..3 (estimate {est:.4f}); "
                           "breakdown M̄ = {mbar:.3g}, M = {m:.3g}", est=honest_rm.estimate,
                           mbar=honest_rm.breakdown, m=honest_sd.breakdown))
rec.add("honestdid", honest)
rec.add("honestdid_breakdown", pd.DataFrame([{"restriction": "relative magnitudes (Mbar)", "breakdown": honest_rm.breakdown},
                                             {"restriction": "smoothness (M)", "breakdown": honest_sd.breakdown}]))

# %% [markdown]
# ## Power of the pre-test (Roth 2022)
# How steep a linear violation of parallel trends would the pre-test (no pre-adoption coefficient
# significant) detect half the time, or 80 % of the time? Against the 80 % slope, the table shows
# the bias the event-study estimates would carry if the true effect were zero, unconditionally and
# among event studies that pass the pre-test.

# %%
slopes = did.slope_for_power(coefs, power=[0.5, 0.8])
power80 = did.pretrend_power(coefs, slope=float(slopes["slope"].iloc[1]))
gate.table(slopes, [], caption="Slope of a linear violation (per period) detected with the given power", precision=4)
power80.plot()
plt.show()
gate.table(power80.tidy()[["event_time", "betahat", "delta", "mean_after_pretest", "bias_unconditional",
                           "bias_after_pretest"]], [],
           caption=gate.tr("Against the 80 % slope: Bayes factor {bf:.3f}, likelihood ratio {lr:.3g}",
                           bf=power80.bayes_factor, lr=power80.likelihood_ratio))
rec.add("pretest_power", slopes)

# %% [markdown]
# ## Effects by cohort and by calendar period

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
agg["group"].plot(ax=axes[0])
agg["calendar"].plot(ax=axes[1])
plt.show()
gate.table(agg["group"].bands()[["group", "estimate", "se", "ci_low", "ci_high"]], [],
           caption=gate.tr("Average effect by adoption cohort (overall {est:.4f}, SE {se:.4f})",
                           est=agg["group"].estimate, se=agg["group"].se))
gate.table(agg["calendar"].tidy()[["term", "estimate", "se", "ci_low", "ci_high"]], [],
           caption=gate.tr("Average effect by period (overall {est:.4f}, SE {se:.4f})",
                           est=agg["calendar"].estimate, se=agg["calendar"].se))
rec.add("group_effects", agg["group"])
rec.add("calendar_effects", agg["calendar"])

# %% [markdown]
# ## Goodman-Bacon decomposition of TWFE
# The TWFE estimate is a weighted average of all 2x2 comparisons. "Later vs earlier treated" uses
# already-treated districts as controls: when effects grow with exposure these comparisons are
# biased (even of the wrong sign). The decomposition needs a balanced panel, so it uses the
# recipients observed in every period.

# %%
n_t = data[opt["time"]].nunique()
balanced = data[data.groupby("person_id", observed=True)[opt["time"]].transform("size") == n_t]
bacon = did.bacon_decomposition(balanced, **cols)
gate.table(bacon.by_type(), [], caption=gate.tr("Bacon decomposition (TWFE {est:.4f})", est=bacon.twfe_estimate))
bacon.plot()
plt.show()
rec.add("bacon", bacon)

# %% [markdown]
# ## Synthetic control and synthetic DiD for the pilot district
# The pilot district against a weighted combination of the other districts (district means of the
# outcome), in the months before the next district adopted: synthetic control (Abadie, Diamond &
# Hainmueller 2010) and synthetic difference-in-differences (Arkhangelsky et al. 2021). With only
# a few comparison districts the placebo test (each comparison district in turn as the "pilot")
# cannot reach conventional significance: its smallest p-value is 1/(districts).

# %%
if opt.pilot_district:
    pp = gate.mask(did.pilot_panel(data, outcome=outcome, time=opt["time"], group=g, district=opt["district"],
                                   pilot=opt.pilot_district))
    sy = {m: did.synthdid(pp, outcome=outcome, unit=opt["district"], time=opt["time"], treatment="treated",
                          method=m) for m in ("sc", "sdid", "did")}
    synth_tab = pd.DataFrame([{"method": r.method.split(",")[0], "estimate": r.estimate,
                               "placebo SE": r.se, "placebo p": r.placebo_pvalue,
                               "effective comparison districts": r.effective_controls} for r in sy.values()])
    gate.table(synth_tab, [], caption=gate.tr("{district}: effect on {outcome} before the next district adopted",
                                              district=opt.pilot_district, outcome=outcome))
    rec.add("pilot_synthetic_control", synth_tab)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4), gridspec_kw={"width_ratios": [2, 2, 1]})
    sy["sc"].plot(ax=axes[0])
    sy["sdid"].plot(ax=axes[1])
    sy["sdid"].plot_weights(ax=axes[2])
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Key numbers
# The headline numbers recorded in results.json, rounded; reviewers' re-runs are output-checked
# against this cell (nbval).

# %%
# NBVAL_CHECK_OUTPUT
rec.save()
gate.say(rec.key_results(digits=4))
