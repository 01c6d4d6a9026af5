"""Trial design for a payment threshold: how likely the estimate beats the margin, and how many
participants are needed for that (normal approximation, two groups)."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def threshold_se(n: float, sd: float, *, share_treated: float = 0.5, r2: float = 0.0,
                 comparison_ratio: float | None = None) -> float:
    """Standard error of a difference in means with ``n`` persons in all.

    ``share_treated`` is the share of the ``n`` in the programme arm; ``comparison_ratio``
    instead gives comparison persons per participant (``n`` then counts participants only).
    """
    if comparison_ratio is not None:
        nt, nc = n, n * comparison_ratio
    else:
        nt, nc = n * share_treated, n * (1 - share_treated)
    return float(sd * math.sqrt((1 - r2) * (1 / nt + 1 / nc)))


def threshold_power(n, *, counterfactual_mean: float, sd: float, true_effect: float, margin: float,
                    direction: str = "decrease", share_treated: float = 0.5, r2: float = 0.0,
                    comparison_ratio: float | None = None):
    """P(the estimated relative improvement reaches ``margin``) when the true relative improvement is
    ``true_effect`` (e.g. 0.15 for 15 % fewer events), with ``n`` persons.

    Notes
    -----
    With estimate ``d ~ N(-true_effect * c, se)`` for a decrease, the threshold is met when
    ``d <= -margin * c``: ``P = Phi((true_effect - margin) * c / se)``.
    """
    n = np.asarray(n, dtype=float)
    se = np.vectorize(lambda m: threshold_se(m, sd, share_treated=share_treated, r2=r2,
                                             comparison_ratio=comparison_ratio))(n)
    out = stats.norm.cdf((true_effect - margin) * counterfactual_mean / se)
    return float(out) if out.ndim == 0 else out


def threshold_required_n(*, counterfactual_mean: float, sd: float, true_effect: float, margin: float,
                         probability: float = 0.8, share_treated: float = 0.5, r2: float = 0.0,
                         comparison_ratio: float | None = None) -> float:
    """Persons needed (all arms, or participants with ``comparison_ratio``) so that the threshold is
    met with ``probability`` when the true relative improvement is ``true_effect``.

    Returns ``inf`` when ``true_effect <= margin`` (the threshold is then met at most half the time
    however large the trial).
    """
    if true_effect <= margin:
        return float("inf")
    z = stats.norm.ppf(probability)
    se_needed = (true_effect - margin) * counterfactual_mean / z
    if comparison_ratio is not None:
        k = (1 / 1 + 1 / comparison_ratio)
    else:
        k = 1 / share_treated + 1 / (1 - share_treated)
    return float(math.ceil(sd ** 2 * (1 - r2) * k / se_needed ** 2))
