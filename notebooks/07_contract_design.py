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
# ## Designing the contract before it is signed
# Candidate payment rules (the params file's `design:` section) compared on the programme's data
# and counterfactual: what each would pay, how much of that would have been paid with no true
# effect (deadweight), how likely it is to pay for nothing and to pay nothing for a real effect,
# what it means for the public side and the investor, whom it pays for, and how its settlement
# moves with the counterfactual and the evaluation window. Counts below the disclosure threshold
# are suppressed.

# %% tags=["parameters"]
programme = "refino"
data_dir = "data/synthetic/refino"
output_dir = "reports/refino"
disclosure_threshold = 5
disclosure = None  # the disclosure section of the params file (threshold, rounding, min_analysis_n)
language = "en"  # en | nb (evaluation/i18n.py)
seed = 20261123
options = None  # None: the options of params/<programme>.yaml; a render passes its own

# %%
import matplotlib.pyplot as plt
import pandas as pd

import evaluation.contracts as ec
import evaluation.panel
import evaluation.params
import evaluation.report
from evaluation.contracts.compare import DesignSpec
from evaluation.contracts.design_plots import plot_incentives

evaluation.report.notebook_setup()
opt = evaluation.params.notebook_options(programme, "07_contract_design", options)
spec = ec.ContractSpec.model_validate(opt.contract)
design = DesignSpec.model_validate(opt.design)
counterfactual = opt.counterfactual
panel = evaluation.panel.load_panel(data_dir)
data = panel.person_period(design.panel_columns(spec, panel.columns))  # the columns the rules read
needs_mapping = any(e == "mapping" for r in design.check(opt.contract).values()
                    for _, e in r.payment_events())
assignment = (evaluation.panel.read_extracts(data_dir, names=["assignment"])["assignment"]
              if needs_mapping and "mapping_month" not in panel.columns else None)
matched = None
if counterfactual == "matched" or any(c.get("counterfactual") == "matched"
                                      for c in design.sensitivity.counterfactuals.values()):
    matched, _ = ec.matched_comparison(panel, seed=seed, **opt.matching.model_dump())
gate = evaluation.report.Gate(disclosure_threshold, disclosure, language=language)
rec = gate.recorder(output_dir, notebook="07_contract_design")
cf_kw = {"counterfactual": counterfactual, "assignment": assignment,
         "comparison": matched if counterfactual == "matched" else None}

# %% [markdown]
# ## Candidate rules side by side
# For each rule: the payment on the observed outcomes and in expectation over bootstrap draws of
# the participants; the deadweight (expected payment if the programme had no true effect) and its
# share of the expected payment and of the payment at the stated true effect; the probability of
# paying anything with no effect, and of paying nothing for the stated effect; the public side's
# net benefit; the investor's median money multiple and internal rate of return.

# %%
cmp = ec.compare_rules(data, spec, design.rules, true_effect=design.true_effect,
                       relative=design.relative, effect_grid=design.effect_grid,
                       investor=design.investor, n_draws=design.n_draws, seed=seed, **cf_kw)
gate.say(cmp.method)
gate.say(gate.tr("Stated true effect: {effects}",
                 effects=", ".join(f"{k} {gate.num(v, '+g')}" for k, v in design.true_effect.items())))
rules = gate.table(cmp.tidy(), ec.money_spec(cmp.tidy(), cmp.results, ec.MONEY_TOTALS, ec.MONEY_PER_PERSON),
                   caption="Candidate payment rules")
rec.add("rules", rules)
cmp.plot("payments")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Probability of payment against the size of the true effect
# How likely each rule is to pay anything when the programme's true effect is zero, the stated
# size, or a multiple of it (the same draws, with the participants moved onto the
# counterfactual plus the effect).

# %%
cmp.plot("curve")
plt.tight_layout()
plt.show()
rec.add("payment_curves", cmp.curves)

# %% [markdown]
# ## The investor
# The investor's internal rate of return over the draws (repayments follow each rule's payment
# profile; capital and return as in `design.investor`).

# %%
if not cmp.irr.empty and cmp.irr["irr"].notna().any():
    cmp.plot("irr")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## The price per outcome from the counterfactual rate
# The price at which the public side breaks even for the effect the commissioner hopes for,
# capped by the budget, at the counterfactual rate and at the ends of its 95 % interval.

# %%
if design.prices is not None:
    pr = design.prices
    payer = next(n for n, r in cmp.results.items() if pr.event in {e for _, e in r.spec.payment_events()})
    rate, se, n_c = ec.event_rate(cmp.results[payer], pr.event)
    prices = ec.break_even_prices(rate, se, target_effect=pr.target_effect,
                                  value_per_outcome=pr.value_per_outcome, budget=pr.budget,
                                  n_participants=cmp.results[payer].n_participants)
    gate.table(prices, [],
               caption=gate.tr("Price per {event} (counterfactual rate from '{payer}')", event=pr.event, payer=payer))
    rec.add("prices", prices)

# %% [markdown]
# ## Whom each rule pays for
# By baseline group: the payment per participant, the part that would have been paid with no
# effect (the counterfactual group's outcomes), and the part the effect earns. A rule paying most
# where outcomes happen anyway invites cream-skimming; one paying little for the hardest group
# invites parking. The re-priced rule pays group-specific prices that make the no-effect payment
# the same per participant in every group.

# %%
inc = ec.incentive_tables(cmp.results, data, design.incentives)
if design.even_rule is not None:
    cmp_even, even = ec.compare_even_rule(data, spec, design, inc, seed=seed, **cf_kw)
    inc = pd.concat([inc, ec.incentive_tables(cmp_even.results, data, design.incentives[:1])],
                    ignore_index=True)
    gate.say(gate.tr("Group prices: {prices}", prices=even["group_prices"]))
    rec.add("even_rule", gate.table(cmp_even.tidy(), ec.money_spec(
        cmp_even.tidy(), cmp_even.results, ec.MONEY_TOTALS, ec.MONEY_PER_PERSON), caption="The re-priced rule"))
if not inc.empty:
    published = gate.table(inc, ec.money_spec(
        inc, {**cmp.results, **(cmp_even.results if design.even_rule else {})},
        per_person=["payment", "paid_anyway", "effect"], counts=["n", "n_comparison"],
        stats={"n": ["payment", "paid_anyway", "effect", "share_paid_anyway"]}),
        caption="Payment per participant by baseline group")
    rec.add("incentives", published)
    for col, t in inc.groupby("by", sort=False):
        plot_incentives(t, threshold=gate.threshold, currency=cmp.currency)
        plt.title(f"Payment per participant by {col}")
        plt.tight_layout()
        plt.show()

# %% [markdown]
# ## Sensitivity of the settlement
# The payment each rule would settle at under other counterfactuals and evaluation windows, and
# what it would pay with no effect under each.

# %%
sens_cf = {counterfactual: cf_kw, **{
    label: {"comparison": matched, **kw} if kw.get("counterfactual") == "matched" else kw
    for label, kw in design.sensitivity.counterfactuals.items()}}
windows = design.sensitivity.windows or [spec.window_months]
sens = ec.settlement_sensitivity(data, {k: r.spec for k, r in cmp.results.items()},
                                 sens_cf, windows, assignment=assignment)
gate.table(sens, ec.money_spec(sens, cmp.results, ["payment", "payment_no_effect", "public_net_benefit"]),
           caption="Settlement by counterfactual and window")
rec.add("sensitivity", sens)

# %% [markdown]
# ## The chosen rule as INDIGO outcome pricing and payment plan

# %%
if design.chosen is not None:
    import json
    from pathlib import Path
    record = ec.design_to_indigo(cmp, design.chosen, Path(output_dir) / f"indigo_design_{programme}.json",
                                 disclosure=gate.options)
    gate.say(json.dumps(record["outcome_payment_plan"], indent=2))

# %% [markdown]
# ## Key numbers
# Checked when reviewers re-run the notebook (nbval).

# %%
# NBVAL_CHECK_OUTPUT
for r in cmp.table.itertuples():
    rec.add(f"deadweight_share_{r.rule}", r.deadweight_share)
    rec.add(f"p_pay_no_effect_{r.rule}", r.p_pay_no_effect)
rec.save()
gate.say(rec.key_results(digits=3))
