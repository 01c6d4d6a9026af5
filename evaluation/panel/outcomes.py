"""Stage 3: monthly outcomes and baseline histories from the register records.

A register record of person ``i`` in month ``m`` lands on panel row ``offset[i] + m - first[i]``
(each person has a contiguous block of rows, coverage months clipped to the window).  Definitions
of every outcome are in the :mod:`evaluation.panel` docstring.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ._convert import _codes, _midx, _NAT
from .flow import Flow


@dataclass
class Rows:
    """Layout of the person-month rows: persons ``kidx`` (sorted), their clipped coverage
    ``first``/``last`` (month indices), row counts ``n`` and offsets ``offs``, and for every row the
    person code ``code`` and month index ``mi``; ``ws``/``we`` the window."""

    kidx: pd.Index
    first: np.ndarray
    last: np.ndarray
    n: np.ndarray
    offs: np.ndarray
    total: int
    code: np.ndarray
    mi: np.ndarray
    ws: int
    we: int

    @property
    def K(self) -> int:
        return len(self.kidx)


def locate(ex: Mapping[str, pd.DataFrame], name: str, rows: Rows, flow: Flow, col: str = "month"):
    """Person codes, months, in-panel and in-coverage masks and target rows of an extract's
    records; records not used for monthly outcomes are counted in the flow."""
    df = ex[name]
    c, fc = _codes(df["person_id"], rows.kidx)
    m = _midx(df[col])
    inp = c >= 0
    cc = np.where(inp, c, 0)
    incov = inp & (m >= rows.first[cc]) & (m <= rows.last[cc])
    target = rows.offs[cc] + (m - rows.first[cc])
    ws, we = rows.ws, rows.we
    flow.records(name, "excluded", "records of persons not in the panel", fc, ~inp)
    flow.records(name, "info", "records before the window (baseline history only)", fc, inp & (m < ws))
    flow.records(name, "excluded", "records after the window end", fc, inp & (m > we))
    flow.records(name, "excluded", "records in months outside the person's coverage", fc,
                 inp & (m >= ws) & (m <= we) & ~incov)
    return c, m, inp, incov, target


def _baseline(base: dict, prefix: str, amount_col: str, c, m, inp, ref, flag, value, ks, K) -> None:
    """Baseline counts of ``flag`` months and the sum of ``value`` in the ``k`` months before ``ref``."""
    d = ref[np.where(inp, c, 0)] - m
    for k in ks:
        w = inp & (d >= 1) & (d <= k)
        base[f"{prefix}_{k}"] = np.bincount(c[w & flag], minlength=K)
        if k == ks[0]:
            base[f"{amount_col}_{k}"] = np.bincount(c[w], weights=value[w], minlength=K)


def _job_kept(c, m, eps, inp, rows: Rows, min_share) -> np.ndarray:
    """``job_kept_6m``: 6th or later month of an unbroken run of employed months."""
    jk = np.zeros(rows.total, dtype=bool)
    sel = inp & ((eps > 0) if min_share is None else (eps >= min_share))
    c2, m2 = c[sel], m[sel]
    order = np.lexsort((m2, c2))
    c2, m2 = c2[order], m2[order]
    if len(c2):
        new = np.ones(len(c2), dtype=bool)
        new[1:] = (c2[1:] != c2[:-1]) | (m2[1:] != m2[:-1] + 1)
        pos = np.arange(len(c2))
        runpos = pos - np.maximum.accumulate(np.where(new, pos, 0)) + 1
        ok = (runpos >= 6) & (m2 >= rows.first[c2]) & (m2 <= rows.last[c2])
        jk[rows.offs[c2[ok]] + m2[ok] - rows.first[c2[ok]]] = True
    return jk


def employment_outcomes(ex, rows: Rows, flow: Flow, ref, ks, base: dict, min_share) -> dict:
    """position_share, earnings, job_kept_6m; baseline emp_months_k and earnings_k."""
    ps = np.zeros(rows.total, dtype=np.float64)
    earn = np.zeros(rows.total, dtype=np.float64)
    e = ex["employment"]
    c, m, inp, incov, target = locate(ex, "employment", rows, flow)
    eps = e["position_share"].to_numpy(dtype=float, na_value=0.0)
    eearn = e["earnings"].to_numpy(dtype=float, na_value=0.0)
    ps[target[incov]] = eps[incov]
    earn[target[incov]] = eearn[incov]
    jk = _job_kept(c, m, eps, inp, rows, min_share)
    _baseline(base, "emp_months", "earnings", c, m, inp, ref, eps > 0, eearn, ks, rows.K)
    return {"ps": ps, "earn": earn, "jk": jk}


def social_assistance_outcomes(ex, rows: Rows, flow: Flow, ref, ks, base: dict) -> np.ndarray:
    """sa_amount per row; baseline sa_months_k and sa_amount_k."""
    s = ex["social_assistance"]
    c, m, inp, incov, target = locate(ex, "social_assistance", rows, flow)
    amt = s["amount"].to_numpy(dtype=float, na_value=0.0)
    sa_amount = np.zeros(rows.total, dtype=np.float64)
    sa_amount[target[incov]] = amt[incov]
    _baseline(base, "sa_months", "sa_amount", c, m, inp, ref, amt > 0, amt, ks, rows.K)
    return sa_amount


def other_outcomes(ex, rows: Rows, flow: Flow) -> dict:
    """on_aap, on_disability, in_education, reoffence_events, in_measure per row."""
    total = rows.total
    on_aap = np.zeros(total, dtype=bool)
    on_dis = np.zeros(total, dtype=bool)
    if "benefits" in ex:
        b = ex["benefits"]["benefit"].to_numpy(dtype=object)
        c, m, inp, incov, target = locate(ex, "benefits", rows, flow)
        on_aap[target[incov & (b == "AAP")]] = True
        on_dis[target[incov & (b == "disability")]] = True
    in_edu = np.zeros(total, dtype=bool)
    if "education" in ex:
        c, m, inp, incov, target = locate(ex, "education", rows, flow)
        in_edu[target[incov]] = True
    events = np.zeros(total, dtype=np.int64)
    if "reoffending" in ex:
        c, m, inp, incov, target = locate(ex, "reoffending", rows, flow)
        ev = ex["reoffending"]["events"].to_numpy(dtype=float, na_value=0.0)
        events += np.bincount(target[incov], weights=ev[incov], minlength=total).astype(np.int64)
    return {"on_aap": on_aap, "on_dis": on_dis, "in_edu": in_edu, "events": events,
            "in_meas": in_measure(ex, rows, flow)}


def in_measure(ex, rows: Rows, flow: Flow) -> np.ndarray:
    """Rows covered by a job-seeker spell with a measure (spells expanded to months)."""
    in_meas = np.zeros(rows.total, dtype=bool)
    if "jobseeker_spells" not in ex:
        return in_meas
    sp = ex["jobseeker_spells"]
    c, fc = _codes(sp["person_id"], rows.kidx)
    st_ = _midx(sp["spell_start"])
    en_ = _midx(sp["spell_end"])
    en_ = np.where(en_ == _NAT, rows.we, en_)
    meas = sp["measure"].notna().to_numpy() if "measure" in sp else np.ones(len(sp), dtype=bool)
    v = (c >= 0) & meas
    if (c < 0).any():
        flow.add("records", "excluded", "jobseeker_spells: spells of persons not in the panel",
                 np.unique(fc[c < 0]).size, (c < 0).sum())
    cc, s0, e0 = c[v], st_[v], en_[v]
    s0 = np.maximum(s0, rows.first[cc])
    e0 = np.minimum(e0, rows.last[cc])
    L = np.clip(e0 - s0 + 1, 0, None)
    starts = rows.offs[cc] + s0 - rows.first[cc]
    in_meas[np.repeat(starts - (np.cumsum(L) - L), L) + np.arange(L.sum())] = True
    return in_meas


def derive(monthly: dict, outs: Sequence[str]) -> dict:
    """The outcome columns of :data:`OUTCOMES` that were asked for, from the per-row arrays."""
    ps, sa_amount = monthly["ps"], monthly["sa_amount"]
    on_aap, on_dis, events = monthly["on_aap"], monthly["on_dis"], monthly["events"]
    employed = ps > 0
    on_sa = sa_amount > 0
    derived = {
        "employed": employed, "employed_50": ps >= 0.5, "job_kept_6m": monthly["jk"],
        "earnings": monthly["earn"], "position_share": ps.astype(np.float32),
        "on_social_assistance": on_sa, "sa_amount": sa_amount,
        "self_sufficient": employed & ~on_sa & ~(on_aap | on_dis),
        "on_aap": on_aap, "on_disability": on_dis, "on_aap_or_disability": on_aap | on_dis,
        "in_education": monthly["in_edu"], "in_measure": monthly["in_meas"],
        "reoffended": events > 0, "reoffence_events": events.astype(np.int16),
    }
    return {o: derived[o] for o in derived if o in outs}
