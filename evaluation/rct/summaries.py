"""Small tables that combine several trial results for a report (no estimation logic of their own)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import power as _power
from ._prep import code_treatment, drop_missing, require_columns

__all__ = ["robustness_table", "planning_summary"]


def robustness_table(results: Mapping[str, object], *, ri=None) -> pd.DataFrame:
    """One row per (specification, arm): estimate, SE, CI, p-value, n.

    ``results`` maps a label to any result with ``tidy()``; ``ri`` (a randomisation-inference result)
    adds rows with its permutation p-value.
    """
    rows = []
    for label, res in results.items():
        t = res.tidy()
        t.insert(0, "specification", label)
        rows.append(t)
    if ri is not None:
        t = ri.tidy()
        t[["ci_low", "ci_high"]] = np.nan
        t.insert(0, "specification", f"randomisation inference ({ri.extra.get('draws', '')} draws)")
        rows.append(t)
    out = pd.concat(rows, ignore_index=True)
    return out[["specification", "term", "estimate", "se", "ci_low", "ci_high", "pvalue", "n"]]


def planning_summary(data: pd.DataFrame, *, outcome: str, treatment: str, covariates: Sequence[str] = (),
                     control=None, target_effect: float | None = None, alpha: float = 0.05,
                     power: float = 0.8) -> pd.DataFrame:
    """MDE of the trial as run (its n, allocation and arms), with and without covariates.

    The outcome's spread is taken from the control arm: ``baseline`` rate for a 0/1 outcome, else the
    SD; ``r2`` is the control-arm R² of the covariates (:func:`~evaluation.rct.power.r_squared`).
    With ``target_effect`` also the power to detect it and the persons needed for ``power``.
    """
    covariates = list(covariates)
    require_columns(data, [outcome, treatment] + covariates)
    d, _ = drop_missing(data, [outcome, treatment], where="planning_summary: ")
    arms = code_treatment(d[treatment], control, column=treatment)
    y = d[outcome].astype(float).to_numpy()
    y0 = y[arms.codes == 0]
    binary = set(np.unique(y).tolist()) <= {0.0, 1.0}
    spread = {"baseline": float(y0.mean())} if binary and 0 < y0.mean() < 1 else {"sd": float(y0.std(ddof=1))}
    r2 = _power.r_squared(d, outcome=outcome, covariates=covariates, treatment=treatment,
                          control=arms.names[0]) if covariates else 0.0
    r2 = min(max(r2, 0.0), 0.99)
    k = arms.n_arms + 1
    rows = []
    for a in range(1, k):
        # the comparison's allocation: share of this arm among all persons
        p = float((arms.codes == a).mean())
        pc = float((arms.codes == 0).mean())
        n_pair = int(((arms.codes == 0) | (arms.codes == a)).sum())
        p_pair = p / (p + pc)
        row = {"term": arms.labels()[a - 1], "n": n_pair, "share_treated": p_pair, **spread,
               "r2": r2,
               "mde": _power.mde(n_pair, p=p_pair, alpha=alpha, power=power, r2=r2, **spread),
               "mde_unadjusted": _power.mde(n_pair, p=p_pair, alpha=alpha, power=power, **spread)}
        if target_effect is not None:
            row["target_effect"] = target_effect
            row["power_at_target"] = _power.power(target_effect, n_pair, p=p_pair, alpha=alpha, r2=r2, **spread)
            row["n_required_for_target"] = _power.required_n(target_effect, p=p_pair, alpha=alpha, power=power,
                                                             r2=r2, **spread)
        rows.append(row)
    return pd.DataFrame(rows)
