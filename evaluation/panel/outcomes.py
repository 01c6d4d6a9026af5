"""Stage 3: monthly outcomes and baseline histories, as relational steps (Ibis expressions).

Used by :mod:`.relational`; definitions of every outcome are in the :mod:`evaluation.panel`
docstring.  Months are integer indices (months since 1970-01).
"""
from __future__ import annotations

from typing import Sequence

import ibis


def baselines(t, P: ibis.Table, ks: Sequence[int]) -> ibis.Table:
    """Baseline histories: months with a payment / a job and sums in the k months before ``ref``.

    Each register's records are linked to the person once (by ``person_id``), cut to the
    longest window (``1 <= ref - m <= max(ks)``) and summed per integer key ``pk`` (not per
    text id over all records).  ``ks`` sorted.
    """
    k0, kmax = ks[0], ks[-1]
    refs = P.select("person_id", "pk", "ref")
    aggs = []
    for name, flag_name, sum_name, flag, value in (
            ("social_assistance", "sa_months", "sa_amount", "amt", "amt"),
            ("employment", "emp_months", "earnings", "ps", "earn")):
        r = t[name]
        j = r.join(refs, "person_id")
        j = j.select("pk", flag, *([value] if value != flag else []), d=j.ref - j.m)
        j = j.filter(j.d >= 1, j.d <= kmax)
        agg = j.group_by("pk").aggregate(
            **{f"{flag_name}_{k}": ((j.d <= k) & (j[flag] > 0)).sum() for k in ks},
            **{f"{sum_name}_{k0}": j[value].sum(where=j.d <= k0)})
        aggs.append(agg)
    for agg in aggs:
        P = P.left_join(agg, "pk").drop("pk_right")
    return P.mutate(**{c: P[c].fill_null(0) for agg in aggs for c in agg.columns if c != "pk"})


def job_kept(e: ibis.Table, min_share):
    """Whether the person is employed in the record's month and each of the 5 months before
    (``e``: the employment records of the persons from 5 months before their first panel
    month; one record per person-month, so 6 qualifying records in ``m-5 .. m`` is all six)."""
    ok = e.ps > 0 if min_share is None else e.ps >= min_share
    w = ibis.window(group_by="pk", order_by="m", range=(-5, 0))
    return ok & (ok.cast("int64").sum().over(w) >= 6)


def measure_runs(P: ibis.Table, s: ibis.Table) -> ibis.Table:
    """Each person's panel months ``first .. last`` cut into runs of months in and out of a
    job-seeker measure: ``(pk, s, e, meas)``, one row per run.

    ``s``: spells with a measure, already clipped to the person's panel months (``s0 .. e0``).
    Every spell marks ``+1`` at its first month and ``-1`` after its last; the panel months
    mark ``0`` at ``first`` and after ``last``.  Summed per (person, month) and ordered by
    month, the marks cut the months into runs; a run is in a measure when the running sum (the
    spells covering its first month) is positive.  The person-months are then the runs'
    months, so ``in_measure`` needs no row per spell month and no group-by or join on months
    (these were a third of a person-month bucket's work).
    """
    one = ibis.literal(1, "int64")
    marks = [P.select("pk", t=P["first"], d=0 * one), P.select("pk", t=P["last"] + 1, d=0 * one),
             s.select("pk", t=s.s0, d=one), s.select("pk", t=s.e0 + 1, d=-one)]
    u = ibis.union(*marks, distinct=False)
    g = u.group_by("pk", "t").aggregate(d=u.d.sum())
    g = g.mutate(on=g.d.sum().over(ibis.cumulative_window(group_by="pk", order_by="t")) > 0,
                 nxt=g.t.lead().over(ibis.window(group_by="pk", order_by="t")))
    g = g.filter(g.nxt.notnull())
    return g.select("pk", s=g.t, e=g.nxt - 1, meas=g.on)


#: Facts of the sparse registers, stacked and summarised per person-month (:func:`_facts`).
_SPARSE = {"amt": "float64", "aap": "boolean", "dis": "boolean", "edu": "boolean", "ev": "float64"}


def _facts(b, ws: int, span: int, min_share) -> list[ibis.Table]:
    """Per person-month facts keyed by ``k = pk * span + (m - ws)``, one row per ``k``: the
    employment record with ``job_kept``; the other registers' records stacked and summarised
    per ``k`` (values unique per person-month by validation, so ``max`` is the value; events
    summed; flags ``any``)."""
    def key(r):
        return r.pk * span + (r.m - ws)
    out = []
    if "employment" in b:
        e = b["employment"]
        e = e.mutate(jk=job_kept(e, min_share))
        e = e.filter(e.inp)
        out.append(e.select(k=key(e), ps=e.ps, earn=e.earn, jk=e.jk))

    def arm(r, **values):
        return r.select(k=key(r), **{c: values.get(c, ibis.null(typ)) for c, typ in _SPARSE.items()})
    arms = []
    if "social_assistance" in b:
        arms.append(arm(b["social_assistance"], amt=b["social_assistance"].amt))
    if "benefits" in b:
        r = b["benefits"]
        arms.append(arm(r, aap=r.benefit == "AAP", dis=r.benefit == "disability"))
    if "education" in b:
        arms.append(arm(b["education"], edu=ibis.literal(True)))
    if "reoffending" in b:
        arms.append(arm(b["reoffending"], ev=b["reoffending"].ev))
    if arms:
        u = ibis.union(*arms, distinct=False)
        out.append(u.group_by("k").aggregate(**{
            c: u[c].sum() if c == "ev" else u[c].max() if typ == "float64" else u[c].any()
            for c, typ in _SPARSE.items()}))
    return out


def monthly_outcomes(b, ws: int, span: int, min_share) -> ibis.Table:
    """One row per person-month of the persons in ``b``, with register values (0 / False
    without a record) and derived flags.

    ``b`` holds the keyed tables of :func:`evaluation.panel.relational.keyed` (``P``: persons
    with ``pk``, ``first``, ``last``; each extract's records with ``pk`` and ``m`` in the
    person's panel months; employment also the 5 months before, flagged ``inp`` = in the panel
    months).  The person-months (each person's months ``first`` .. ``last``, unnested) get one
    integer key ``k = pk * span + (m - ws)``, which is also their order (person, month); every
    register's facts are left-joined on it.
    """
    P = b["P"]
    if "jobseeker_spells" in b:   # the months in runs in and out of a measure
        runs = measure_runs(P, b["jobseeker_spells"]).join(P.select("pk", "person_id", "am"), "pk")
        pm = runs.select("pk", "person_id", "am", "meas", mi=ibis.range(runs.s, runs.e + 1).unnest())
    else:
        pm = P.select("pk", "person_id", "am", mi=ibis.range(P["first"], P["last"] + 1).unnest())
    pm = pm.mutate(k=pm.pk * span + (pm.mi - ws))
    for f in _facts(b, ws, span, min_share):
        pm = pm.left_join(f, "k")
        pm = pm.drop(*[c for c in pm.columns if c.endswith("_right")])
    return _outcome_columns(pm)


def _outcome_columns(g: ibis.Table) -> ibis.Table:
    """The outcome columns from the joined facts (missing = 0 / False)."""
    def col(c, fill):
        return g[c].fill_null(fill) if c in g.columns else ibis.literal(fill)
    ps, earn, amt = col("ps", 0.0), col("earn", 0.0), col("amt", 0.0)
    aap, dis, edu, ev = col("aap", False), col("dis", False), col("edu", False), col("ev", 0.0)
    employed, on_sa = ps > 0, amt > 0
    return g.select(
        "k", "pk", "person_id", "am", "mi", employed=employed, employed_50=ps >= 0.5,
        job_kept_6m=col("jk", False), earnings=earn, position_share=ps, on_social_assistance=on_sa,
        sa_amount=amt, self_sufficient=employed & ~on_sa & ~(aap | dis), on_aap=aap,
        on_disability=dis, on_aap_or_disability=aap | dis, in_education=edu,
        in_measure=col("meas", False), reoffended=ev > 0, reoffence_events=ev.cast("int64"))
