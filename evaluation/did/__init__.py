"""Difference-in-differences for staggered rollouts.

* :func:`att_gt` - Callaway & Sant'Anna (2021) group-time ATTs with ``.aggregate()`` and
  ``.pretest()`` (defaults follow R ``did`` 2.5); :func:`att_gt_engine` - the same without covariates
  computed in the engine (DuckDB via Ibis) from parquet files or a Panel, for register-scale panels.
* :func:`did_2x2`, :func:`twfe`, :func:`event_study` - canonical DiD, two-way fixed effects by the
  within transformation with cluster-robust standard errors, event-study regression with binned end
  points and a joint pre-trend test.
* :func:`sun_abraham` - interaction-weighted event study (Sun & Abraham 2021).
* :func:`bacon_decomposition` - Goodman-Bacon (2021) decomposition of the TWFE estimate.

Never-treated units may be coded ``0`` or missing (``NaN``) in the group column.
"""
from ._data import DiDDataWarning, first_treatment_period
from .attgt import AggregateResult, ATTgtResult, DiDWarning, WaldTest, att_gt

from .attgt_engine import att_gt_engine

__all__ = ["att_gt", "att_gt_engine", "ATTgtResult", "AggregateResult", "WaldTest", "DiDWarning", "DiDDataWarning",
           "first_treatment_period"]
from .twfe import (BaconResult, EventStudyResult, RegressionResult, bacon_decomposition, demean, did_2x2,
                   event_study, sun_abraham, twfe)

from .simulate import simulate_staggered

__all__ += ["simulate_staggered", "twfe", "did_2x2", "event_study", "sun_abraham", "bacon_decomposition", "demean",
            "RegressionResult", "EventStudyResult", "BaconResult"]
from .rollout import cohort_trends, plot_cohort_trends, plot_rollout, rollout_status, rollout_table

__all__ += ["rollout_table", "rollout_status", "plot_rollout", "cohort_trends", "plot_cohort_trends"]
from .randomization import RIResult, randomization_inference, ri_cluster_trial
from .wild import WildResult, wild_att_gt, wild_cluster_test, wild_did_2x2, wild_event_study, wild_twfe

__all__ += ["wild_cluster_test", "wild_did_2x2", "wild_twfe", "wild_event_study", "wild_att_gt", "WildResult",
            "randomization_inference", "ri_cluster_trial", "RIResult"]
from .honest import EventStudyCoefficients, HonestDiDResult, event_study_coefficients, honest_did
from .pretrends import PretrendPowerResult, pretrend_power, slope_for_power
from .imputation import ImputationResult, did_imputation

__all__ += ["honest_did", "HonestDiDResult", "event_study_coefficients", "EventStudyCoefficients",
            "pretrend_power", "slope_for_power", "PretrendPowerResult", "did_imputation", "ImputationResult"]
from .synth import SynthResult, synthdid, synthetic_control

__all__ += ["synthdid", "synthetic_control", "SynthResult"]
from .power import PowerResult, cluster_design, coverage, did_power, power_curve, variance_components

__all__ += ["did_power", "power_curve", "coverage", "cluster_design", "variance_components", "PowerResult"]
from .fewclusters import FewClusterResult, balanced_rows, few_cluster_inference, pilot_panel

__all__ += ["few_cluster_inference", "pilot_panel", "balanced_rows", "FewClusterResult"]
