"""Randomised-trial analysis (REFINO-style individually randomised trials, multi-arm trials).

Estimators return result objects derived from :mod:`evaluation.results` with ``estimate``, ``se``,
``ci()``, ``pvalue``, ``n``, ``tidy()``, ``summary()``, ``_repr_html_`` and ``to_dict()``.

Estimators
    difference_in_means   design-based difference in means (R estimatr designs)
    itt                   regression ITT: ANCOVA or Lin (2013), HC0–HC3 / CR0–CR2, strata FE
    late                  LATE/CACE by 2SLS, assignment as instrument, first-stage F
    randomization_inference  permutation p-values under the design (strata, clusters)
    effects_by_month      ITT per event month with pointwise and sup-t uniform bands
    cumulative_effects    ITT on outcomes summed over windows (months employed in 1–12, ...)
    subgroup_effects      ITT by subgroup with interaction (heterogeneity) tests
    multiple_outcomes     several outcomes with Holm and Romano–Wolf adjusted p-values
Checks
    balance_table, attrition, assignment_check, compliance_table
Planning
    power, mde, required_n, power_table (module :mod:`evaluation.rct.power`)
Contracts
    staged_payments       REFINO 20/40/40 payments per arm
Report tables
    robustness_table, planning_summary

Missing values: rows with a missing value in a used column are dropped with a
:class:`MissingDataWarning` that counts them; the count is in ``extra["n_missing_dropped"]`` and
``n`` is the number of rows used.
"""
from ._prep import ClusteringNote, MissingDataWarning
from .checks import BalanceResult, assignment_check, attrition, balance_table, compliance_table, persons
from .dynamics import (MonthlyEffects, at_month, cumulative_effects, effects_by_month, person_level,
                       sup_t_critical_value)
from .estimators import difference_in_means, itt, late, randomization_inference
from .multiple import holm, multiple_outcomes, romano_wolf, subgroup_effects
from .payments import staged_payments
from .summaries import planning_summary, robustness_table
from .power import mde, power, power_table, r_squared, required_n, standard_error

__all__ = [
    "MissingDataWarning", "ClusteringNote", "difference_in_means", "itt", "late", "randomization_inference",
    "effects_by_month", "cumulative_effects", "person_level", "at_month", "MonthlyEffects",
    "sup_t_critical_value", "subgroup_effects", "multiple_outcomes", "holm", "romano_wolf",
    "balance_table", "BalanceResult", "attrition", "assignment_check", "compliance_table", "persons",
    "mde", "power", "required_n", "standard_error", "power_table", "r_squared", "staged_payments", "robustness_table", "planning_summary",
]
