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


def design_inputs(res) -> dict:
    """Counterfactual mean, SD and sizes of the contract's primary quantity from a
    :class:`~evaluation.contracts.ContractResult` (evaluate with ``uncertainty=None`` is enough)."""
    spec = res.spec
    q = spec.primary_quantity
    row = res.means.set_index("quantity").loc[q]
    p = spec.payment
    margin = getattr(p, "margin", None)
    direction = getattr(p, "direction", "decrease" if q in ("outcome", "benefit") else "increase")
    sd = float(np.sqrt((row["sd_participants"] ** 2 + row["sd_counterfactual"] ** 2) / 2))
    n_c = row["n_counterfactual"]
    return {"quantity": q, "counterfactual_mean": float(row["counterfactual"]), "sd": sd,
            "n_participants": int(row["n_participants"]),
            "n_comparison": None if not np.isfinite(n_c) else float(n_c),
            "margin": margin, "direction": direction,
            "observed_relative_effect": float((row["participants"] - row["counterfactual"])
                                              / row["counterfactual"]) * (-1 if direction == "decrease" else 1)
            if row["counterfactual"] else float("nan")}


def design_table(*, counterfactual_mean: float, sd: float, margin: float, true_effects, sizes,
                 share_treated: float = 0.5, comparison_ratio: float | None = None,
                 probability: float = 0.8, alpha: float = 0.05, r2: float = 0.0) -> "pd.DataFrame":
    """For each trial size and true relative effect: the probability the payment threshold is met,
    the power of a two-sided test at ``alpha`` and the minimum detectable relative effect; plus the
    size needed for the threshold to be met with ``probability``."""
    import pandas as pd
    rows = []
    for te in true_effects:
        need = threshold_required_n(counterfactual_mean=counterfactual_mean, sd=sd, true_effect=te,
                                    margin=margin, probability=probability, share_treated=share_treated,
                                    r2=r2, comparison_ratio=comparison_ratio)
        for n in sizes:
            se = threshold_se(n, sd, share_treated=share_treated, r2=r2, comparison_ratio=comparison_ratio)
            z = stats.norm.ppf(1 - alpha / 2)
            d = te * counterfactual_mean / se
            rows.append({"n": int(n), "true_effect": te,
                         "p_threshold_met": float(stats.norm.cdf((te - margin) * counterfactual_mean / se)),
                         "power_significant": float(stats.norm.sf(z - d) + stats.norm.cdf(-z - d)),
                         "mde_relative": float((z + stats.norm.ppf(probability)) * se / counterfactual_mean),
                         "n_needed_for_threshold": need})
    return pd.DataFrame(rows)
