"""Comparison groups from register data: propensity scores, matching, weighting, balance, effects.

When a programme selects its participants there is no control arm; evaluators build a
comparison group from register data, as the UK Employment and Justice Data Labs do.  This
package implements, with MatchIt/estimatr conventions so R users get the same numbers:

* :func:`propensity_score` — logit/probit propensity score with R ``glm``'s iterates (p × p
  normal equations, fast on millions of rows);
* :func:`nearest_neighbor` — greedy 1:k nearest-neighbour matching with/without replacement,
  caliper (SD units), exact keys, Mahalanobis distance, MatchIt's default order per distance,
  ATT or ATC (MatchIt >= 4.5.4 ``nearest``; the 4.5.1-4.5.3 integer-``abs`` bug is only emulated
  on request, ``rule="matchit_4_5_1_bug"``);
* :func:`cem` — coarsened exact matching (MatchIt's bins, [a, b)), ATT/ATC/ATE;
* :func:`ipw` — inverse-probability weights for the ATT/ATC/ATE with trimming;
* :func:`entropy_balance` — entropy balancing (Hainmueller 2012);
* ``.balance()`` (SMD, variance ratio, eCDF/KS with 0.1/0.25 and 0.5–2 flags), ``.love_plot()``,
  ``.overlap_plot()``, ``.flow`` (sample flow), ``.effect()`` (weighted regression with CR2
  standard errors clustered on pair/subclass, or HC2 with weights);
* :func:`effects_at_horizons`, :func:`matched_did` — effects at 6/12/24 months and event-time DiD
  of matched groups on a person-month panel;
* :func:`check_min_participants` — the Justice Data Lab minimum of 60 participants.
"""
from ._core import (FLOW_COLUMNS, NoOverlapError, PropensityModel, TooFewParticipantsError,
                    MatchedSample, WeightedSample, check_min_participants, nearest_neighbor,
                    propensity_score)
from ._weighting import cem, entropy_balance, ipw
from ._panel import (EventTimeResult, HorizonResult, effects_at_horizons, matched_did,
                     outcome_at_horizon, sensitivity)
from ._balance import balance_table
from ._wls import wls

__all__ = ["propensity_score", "nearest_neighbor", "cem", "ipw", "entropy_balance",
           "balance_table", "effects_at_horizons", "matched_did", "outcome_at_horizon",
           "sensitivity", "check_min_participants", "WeightedSample", "MatchedSample",
           "PropensityModel", "EventTimeResult", "HorizonResult", "TooFewParticipantsError",
           "NoOverlapError", "FLOW_COLUMNS", "wls"]
from .hidden_bias import EValueResult, RosenbaumResult, e_value, pair_differences, rosenbaum_bounds

__all__ += ["rosenbaum_bounds", "RosenbaumResult", "e_value", "EValueResult", "pair_differences"]
