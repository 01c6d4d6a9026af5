"""Stage 3: monthly outcomes and baseline histories, as relational steps (Ibis expressions).

Used by :mod:`.relational`; definitions of every outcome are in the :mod:`evaluation.panel`
docstring.  Months are integer indices (months since 1970-01).
"""
from __future__ import annotations

from typing import Sequence

import ibis
import numpy as np
import pandas as pd


def month_frame(ws: int, we: int) -> pd.DataFrame:
    """The window's month indices (registered in the engine as table ``_months``)."""
    return pd.DataFrame({"mi": np.arange(ws, we + 1, dtype="int64")})


def baselines(t, P: ibis.Table, ks: Sequence[int]) -> ibis.Table:
    """Baseline histories: months with a payment / a job and sums in the k months before ``ref``."""
    k0 = ks[0]
    refs = P.select("person_id", "ref")
    aggs = []
    for name, flag_name, sum_name, flag, value in (
            ("social_assistance", "sa_months", "sa_amount", "amt", "amt"),
            ("employment", "emp_months", "earnings", "ps", "earn")):
        r = t[name]
        j = r.join(refs, "person_id")
        d = j.ref - j.m
        agg = j.group_by("person_id").aggregate(
            **{f"{flag_name}_{k}": ((d >= 1) & (d <= k) & (j[flag] > 0)).sum() for k in ks},
            **{f"{sum_name}_{k0}": j[value].sum(where=(d >= 1) & (d <= k0))})
        aggs.append(agg)
    for agg in aggs:
        P = P.left_join(agg, "person_id").drop("person_id_right")
    return P.mutate(**{c: P[c].fill_null(0) for agg in aggs for c in agg.columns if c != "person_id"})


def _flag_join(pm: ibis.Table, right: ibis.Table, cols: Sequence[str]) -> ibis.Table:
    """Left join per-(person_id, m) values onto the person-month rows."""
    j = pm.left_join(right, [pm.person_id == right.person_id, pm.mi == right.m])
    return j.drop(*[c for c in j.columns if c.endswith("_right") or c == "m"])


def job_kept(t, P: ibis.Table, min_share) -> ibis.Table:
    """(person_id, m) where the person is employed in m and each of the 5 months before."""
    e = t["employment"].semi_join(P.select("person_id"), "person_id")
    e = e.filter(e.ps > 0 if min_share is None else e.ps >= min_share)
    w = ibis.window(group_by="person_id", order_by="m", range=(-5, 0))
    e = e.mutate(run=e.m.count().over(w))
    return e.filter(e.run >= 6).select("person_id", "m", jk=ibis.literal(True))


def in_measure(t, P: ibis.Table, ws: int, we: int) -> ibis.Table | None:
    """(person_id, m) months covered by a job-seeker spell with a measure, clipped to coverage."""
    if "jobseeker_spells" not in t:
        return None
    s = t["jobseeker_spells"]
    s = s.filter(s.has_measure).join(P.select("person_id", "first", "last"), "person_id")
    s = s.mutate(s0=ibis.greatest(s.st, s["first"]), e0=ibis.least(s.en.fill_null(we), s["last"]))
    M = t["_months"]
    x = s.join(M, [M.mi >= s.s0, M.mi <= s.e0])
    return x.select("person_id", m=x.mi).distinct().mutate(meas=ibis.literal(True))


def monthly_outcomes(t, pm: ibis.Table, P: ibis.Table, ws, we, min_share) -> ibis.Table:
    """Register values of each person-month (0 / False without a record), and derived flags."""
    e = t["employment"]
    pm = _flag_join(pm, e.select("person_id", "m", "ps", "earn"), ("ps", "earn"))
    s = t["social_assistance"]
    pm = _flag_join(pm, s.select("person_id", "m", "amt"), ("amt",))
    if "benefits" in t:
        b = t["benefits"]
        b = b.group_by("person_id", "m").aggregate(aap=(b.benefit == "AAP").any(),
                                                   dis=(b.benefit == "disability").any())
        pm = _flag_join(pm, b, ("aap", "dis"))
    if "education" in t:
        pm = _flag_join(pm, t["education"].select("person_id", "m").distinct()
                        .mutate(edu=ibis.literal(True)), ("edu",))
    if "reoffending" in t:
        r = t["reoffending"]
        pm = _flag_join(pm, r.group_by("person_id", "m").aggregate(ev=r.ev.sum()), ("ev",))
    pm = _flag_join(pm, job_kept(t, P, min_share), ("jk",))
    meas = in_measure(t, P, ws, we)
    if meas is not None:
        pm = _flag_join(pm, meas, ("meas",))

    def col(c, fill):
        return pm[c].fill_null(fill) if c in pm.columns else ibis.literal(fill)
    ps, earn, amt = col("ps", 0.0), col("earn", 0.0), col("amt", 0.0)
    aap, dis, edu, ev = col("aap", False), col("dis", False), col("edu", False), col("ev", 0.0)
    employed, on_sa = ps > 0, amt > 0
    return pm.mutate(
        employed=employed, employed_50=ps >= 0.5, job_kept_6m=col("jk", False), earnings=earn,
        position_share=ps, on_social_assistance=on_sa, sa_amount=amt,
        self_sufficient=employed & ~on_sa & ~(aap | dis), on_aap=aap, on_disability=dis,
        on_aap_or_disability=aap | dis, in_education=edu, in_measure=col("meas", False),
        reoffended=ev > 0, reoffence_events=ev.cast("int64"))
