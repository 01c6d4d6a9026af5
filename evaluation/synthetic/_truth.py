"""The truth table from the accumulated sums of world differences (all blocks together)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._design import Design
from ._simulate import HORIZONS, SUM_SCALE

#: Columns of :attr:`SyntheticData.truth`.
TRUTH_COLUMNS = ["scenario", "estimand", "outcome", "arm", "cohort", "period", "event_time",
                 "subgroup", "value"]
#: Subgroups reported in the truth.
SUBGROUPS = ("all", "immigrant", "non_immigrant", "under_30", "age_30_plus")
_SG = {"all": (0, 1, 2, 3), "immigrant": (2, 3), "non_immigrant": (0, 1), "under_30": (1, 3),
       "age_30_plus": (0, 2)}


def add_accumulators(total: dict | None, acc: dict) -> dict:
    """Sum the truth accumulators of one more block into ``total``."""
    if total is None:
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in acc.items()}
    for k in ("S", "C", "SE", "CE"):
        total[k] += acc[k]
    return total


def truth_frame(d: Design, acc: dict) -> pd.DataFrame:
    """Truth rows (columns :data:`TRUTH_COLUMNS`) from the population's accumulators.

    ``d`` is any block's design (only its scenario, window, populations and mode are used).
    """
    outcomes = acc["outcomes"]
    P, O, ncell, T = acc["S"].shape
    A = ncell // 4                                   # entry-month codes: a + 1 in 0..T
    scale = np.array([SUM_SCALE.get(o, 1.0) for o in outcomes])
    S = acc["S"].reshape(P, O, A, 4, T) * scale[None, :, None, None, None]
    C = acc["C"].reshape(P, A, 4, T)
    present = [j for j in range(1, A) if C[:, j].sum() > 0]      # treated entry months with persons
    rows: list = []

    def add(est, o, arm, value, *, cohort=np.nan, period=np.nan, event_time=np.nan, subgroup="all"):
        rows.append((d.scenario, est, o, arm, float(cohort), float(period), float(event_time),
                     subgroup, float(value)))

    if d.cohort_mode:
        _cohort_rows(add, d, S, C, present, outcomes, T)
    else:
        Se = np.zeros((P, O, 4, T))
        Ce = np.zeros((P, 4, T))
        for j in present:
            g = j - 1
            Se[:, :, :, : T - g] += S[:, :, j, :, g:]
            Ce[:, :, : T - g] += C[:, j, :, g:]
        SE, CE = acc["SE"], acc["CE"]
        for p, (est, k, mask, arm) in enumerate(d.pops):
            for sg, codes in _SG.items():
                codes = list(codes)
                den = Ce[p][codes].sum(0)
                for oi, o in enumerate(outcomes):
                    num = Se[p, oi][codes].sum(0)
                    for x in np.flatnonzero(den > 0):
                        add(est, o, arm, num[x] / den[x], event_time=x, subgroup=sg)
                    for h in HORIZONS:
                        if den[:h].sum() > 0 and h <= T:
                            add(f"{est}_avg_{h}", o, arm, num[:h].sum() / den[:h].sum(), subgroup=sg)
                for hi, h in enumerate(HORIZONS):
                    ce = CE[p, hi][codes].sum()
                    if ce > 0:
                        for oi, o in enumerate(acc["ever_outcomes"]):
                            add(f"{est}_ever_{h}", o, arm, SE[p, oi, hi][codes].sum() / ce, subgroup=sg)
    truth = pd.DataFrame.from_records(rows, columns=TRUTH_COLUMNS)
    for col in ("scenario", "estimand", "outcome", "arm", "subgroup"):
        truth[col] = truth[col].astype(pd.StringDtype("pyarrow", na_value=np.nan))
    return truth


def _cohort_rows(add, d: Design, S, C, present, outcomes, T):
    """Rollout truth: att_gt by (cohort, period), att_group, att_event_time and att_simple."""
    (est, k, mask, arm), = d.pops
    O = len(outcomes)
    E = 2 * T - 1                                    # event times -(T-1) .. T-1
    Se = np.zeros((O, 4, E))
    Ce = np.zeros((4, E))
    for j in present:
        g = j - 1
        ev = np.arange(T) - g + T - 1
        Se[:, :, ev] += S[0, :, j]
        Ce[:, ev] += C[0, j]
        for oi, o in enumerate(outcomes):
            for t in range(T):
                c = C[0, j, :, t].sum()
                if c > 0:
                    add("att_gt", o, arm, S[0, oi, j, :, t].sum() / c, cohort=g + 1, period=t + 1,
                        event_time=t - g)
            c = C[0, j, :, g:].sum()
            if c > 0:
                add("att_group", o, arm, S[0, oi, j, :, g:].sum() / c, cohort=g + 1)
    for oi, o in enumerate(outcomes):
        for sg, codes in _SG.items():
            codes = list(codes)
            num = Se[oi][codes].sum(0)
            den = Ce[codes].sum(0)
            for x in np.flatnonzero(den > 0):
                add("att_event_time", o, arm, num[x] / den[x], event_time=x - (T - 1), subgroup=sg)
            post = slice(T - 1, E)
            if den[post].sum() > 0:
                add("att_simple", o, arm, num[post].sum() / den[post].sum(), subgroup=sg)
