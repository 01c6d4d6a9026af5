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
# ## Outcome contract: payments, cash flows and who bears the risk
# The contract's payment rules (from the params file) applied to the participants' register
# outcomes month by month, against the counterfactual the params file names: what the public side
# pays and when, what it would have paid with no true effect (deadweight), what it gains, and how
# likely the investor is to be repaid. Counts below the disclosure threshold are suppressed.

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
import json
from pathlib import Path

import matplotlib.pyplot as plt

import evaluation.contracts as ec
import evaluation.panel
import evaluation.params
import evaluation.report
from evaluation.report import TableSpec

evaluation.report.notebook_setup()
opt = evaluation.params.notebook_options(programme, "05_outcome_contract", options)
spec = ec.ContractSpec.model_validate(opt.contract)
counterfactual, uncertainty, n_draws = opt.counterfactual, opt.uncertainty, opt.n_draws
panel = evaluation.panel.load_panel(data_dir)
data = panel.person_period(spec.panel_columns(panel.columns))  # the columns the contract reads
needs_mapping = any(e == "mapping" for _, e in spec.payment_events())
assignment = (evaluation.panel.read_extracts(data_dir, names=["assignment"])["assignment"]
              if needs_mapping and "mapping_month" not in panel.columns else None)
gate = evaluation.report.Gate(disclosure_threshold, disclosure, language=language)
rec = gate.recorder(output_dir, notebook="05_outcome_contract")

# %% [markdown]
# ## The contract

# %%
gate.table(ec.describe_contract(spec), [],
           caption=gate.tr("{name}: payment rule ({type}, {currency})", name=spec.name, type=spec.payment.type,
                           currency=spec.currency))
gate.say(gate.tr("Counterfactual: {counterfactual}; uncertainty: {uncertainty}", counterfactual=counterfactual,
                 uncertainty=uncertainty))

# %% [markdown]
# ## Counterfactual
# `rct_control` uses the control arm; `matched` a propensity-score matched comparison group
# (options `matching`); `did` a difference-in-differences effect estimate and `historical` a
# baseline (options `effect` / `baseline`). An effect given as `{from_results: "<notebook>.<key>"}`
# is the estimate an earlier notebook of this report recorded in results.json.

# %%
effect = ec.resolve_effect(opt.effect, output_dir)
for e in (effect.values() if isinstance(effect, dict) else [effect]):
    if isinstance(e, ec.EffectEstimate):
        gate.say(gate.tr("Effect taken from {source}", source=e.describe()))
        rec.add("counterfactual_effect", {"estimate": e.estimate, "se": e.se, "ci_low": e.ci_low,
                                          "ci_high": e.ci_high, "source": e.source, "scale": e.scale})
comparison = None
if counterfactual == "matched":
    import evaluation.matching as em
    mopt = opt.matching.model_dump()
    persons = panel.persons()
    persons["treated"] = persons["treated"].astype(int)
    m = em.nearest_neighbor(persons, treatment="treated", missing="exclude", seed=seed, **mopt)
    comparison = ec.comparison_from_sample(m)
    gate.table(m.sample_sizes(), TableSpec(counts=["all", "matched", "unmatched", "discarded"],
                                           stats={"matched": ["ess"]}, partition=True),
               caption="Matched comparison group")
res = ec.evaluate(data, spec, counterfactual=counterfactual, comparison=comparison,
                  effect=effect, baseline=opt.baseline,
                  assignment=assignment, uncertainty=uncertainty, n_draws=n_draws, seed=seed)
gate.say(res.counterfactual_description)
unit_price = evaluation.report.contract_unit_price(res)  # amounts: rounded to rounding_base x this

# %% [markdown]
# ## Outcomes behind the payments
# Persons reaching each payable outcome within the contract window, participants against the
# counterfactual group, and the per-participant means the settlement uses.

# %%
events = gate.table(res.events, TableSpec(counts=["persons", "n"], stats={"persons": ["rate"]}),
                    caption="Outcome events by group")
per_person = {"participants": unit_price / res.n_participants,  # payable mean x n = payment
              "counterfactual": unit_price / max(res.n_comparison or res.n_participants, 1)}
per_person["difference"] = min(per_person.values())
gate.table(res.means.drop(columns=["n_participants", "n_counterfactual"]),
           TableSpec(key="quantity", amounts={c: (None, p, [q for q in res.means["quantity"] if q == "payable"])
                                              for c, p in per_person.items()}),
           caption="Per-participant means over the window")
rec.add("events", events)

# %% [markdown]
# ## Payments and deadweight
# `payment` is what the rule pays on the observed outcomes; `deadweight` what it would pay in
# expectation if the programme had no true effect; the ranges are the central 95 % of the
# draws.

# %%
money = ("estimate", "ci_low", "ci_high", "se")
gate.table(res.table, TableSpec(counts=["n"], amounts={c: (None, unit_price) for c in money}),
           caption=gate.tr("{method}: counterfactual {counterfactual}, uncertainty {uncertainty}", method=res.method,
                           counterfactual=res.counterfactual, uncertainty=res.uncertainty))

# %%
rec.add("contract", res, headline=True,
        amounts={k: unit_price for k in ("payment", "expected_payment", "deadweight", "deadweight_point",
                                         *money)})
for note in res.notes:
    gate.note(note)

# %% [markdown]
# ## Payments by month and cohort

# %%
sched = res.schedule.assign(quarter=res.schedule["month"].dt.to_period("Q").astype(str))
by_q = sched.groupby(["quarter", "item"], as_index=False)[["payments", "amount"]].sum()
gate.table(by_q, TableSpec(counts=["payments"], amounts={"amount": ("payments", unit_price)}),
           caption="Outcome payments by quarter and item")
evaluation.report.plot_contract(res, "cumulative", disclosure=gate.options)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Cash flows: provider, investor and public side

# %%
evaluation.report.plot_contract(res, "cashflow", disclosure=gate.options)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Who bears the risk
# Distribution of the total payment under the estimated effect and under zero true effect, the
# probability that the investor is repaid or earns a return, and the break-even effect sizes.

# %%
if not res.draws.empty:
    res.plot("distribution")
    plt.tight_layout()
    plt.show()
risk = {**res.probabilities, **{f"break_even_{k}": v for k, v in res.break_even.items()}}
gate.say(json.dumps(risk, indent=2, default=str))
rec.add("risk", risk)

# %% [markdown]
# ## Targets (activity and result targets, where the contract sets them)
# Shares of the participants reaching each target within the contract window, with 95 % intervals;
# then the social-assistance caseload of the pilot against the reduction goal and the
# counterfactual trend named below the table.

# %%
if spec.targets:
    tg = ec.monitor_targets(data, spec)
    gate.table(tg.tidy(), TableSpec(counts=["achieved", "n"],
                                    stats={"achieved": ["share", "wilson_low", "wilson_high", "cp_low",
                                                        "cp_high"]}), caption=tg.method)
    rec.add("targets", tg)
if spec.caseload_goal is not None:
    cl = ec.caseload(data, **spec.caseload_goal.model_dump())
    gate.say(cl.method)
    gate.table(cl.table.assign(month=cl.table["month"].dt.strftime("%Y-%m")),
               TableSpec(counts=["stock", "inflow", "outflow"], stats={"stock": ["reduction_vs_counterfactual"]}),
               caption="Pilot caseload by month: stock, inflow, outflow, counterfactual and goal")
    cl.plot()
    plt.show()
    gate.say(gate.tr("{month}: {reduction:.1%} below the counterfactual (goal {goal:.0%}): {verdict}",
                     month=cl.extra["evaluation_month"], reduction=cl.extra["final_reduction"],
                     goal=cl.extra["reduction_goal"],
                     verdict=gate.tr("goal met" if cl.extra["goal_met"] else "goal not met")))
    rec.add("caseload", cl.extra)

# %% [markdown]
# ## INDIGO export
# The contract and its results in the GO Lab INDIGO data standard's terms (outcome metrics,
# pricing, results, payments, investments), written next to the report.

# %%
indigo_path = Path(output_dir) / f"indigo_{programme}.json"
text = ec.to_indigo_json(res, indigo_path, disclosure=gate.options)
gate.say(text[:1500])

# %% [markdown]
# ## Key numbers
# The headline numbers recorded in results.json, rounded; reviewers' re-runs are output-checked
# against this cell (nbval).

# %%
# NBVAL_CHECK_OUTPUT
rec.save()
gate.say(rec.key_results(digits=4))
