"""Register extracts of one block of persons, from its realised registers."""
from __future__ import annotations

import numpy as np

from .. import schema
from ._design import _COUNTRY, _EDU, _NOR, Design
from ._streams import Streams
from ._tables import PersonIds, arrow_table, month_array, str_array, typed


def frames(cols: dict) -> dict:
    """pandas frames of a block's extract columns."""
    return {name: typed(name, c) for name, c in cols.items()}


def tables(cols: dict) -> dict:
    """Arrow tables of a block's extract columns."""
    return {name: arrow_table(name, c) for name, c in cols.items()}


def _spell_dates(months: np.ndarray, start_idx, end_idx, ongoing, r: Streams, persons):
    """Spell start (a day in the first month) and end (last day of the end month, NaT if ongoing)."""
    first = months[start_idx].astype("datetime64[D]")
    start = first + r.integers(0, 15, idx=persons).astype("timedelta64[D]")
    end = (months[end_idx] + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    end = np.where(ongoing, np.datetime64("NaT", "D"), end)
    return start.astype("datetime64[us]"), end.astype("datetime64[us]")


def extracts(d: Design, regs: dict, months: np.ndarray, r: Streams, *, offset: int,
             width: int) -> dict:
    """Columns of every schema extract for the block's persons (``offset .. offset + n - 1``).

    Rows are ordered by person, then month (spells by person, then start), so the blocks'
    extracts concatenated in order are the extracts of the whole population.  Strings are
    Arrow arrays, the rest numpy; :func:`frames` / :func:`tables` make frames or tables.
    """
    n, T = d.n, d.T
    cov = d.cov
    ids = PersonIds(offset + np.arange(n), width)
    pid_all = ids.array()
    offices = cov["offices"]
    last, first = regs["last"], regs["first"]
    ar = np.arange(T, dtype=np.int32)[None, :]
    within = (ar >= first[:, None]) & (ar <= last[:, None])                  # person x month
    ex = {}
    ex["persons"] = {
        "person_id": pid_all, "birth_year": cov["birth_year"],
        "sex": str_array(["M", "F"], cov["female"].astype(np.int8)),
        "immigrant": cov["immigrant"], "country_group": str_array(_COUNTRY, cov["country"]),
        "years_in_norway": cov["years"], "education_level": str_array(_EDU, cov["edu"]),
        "norwegian_level": str_array(_NOR, cov["nor"]), "office": str_array(offices, cov["office"])}
    ex["assignment"] = {
        "person_id": pid_all, "arm": str_array(d.arm_labels, d.arm),
        "assigned_month": month_array(months, d.a), "provider": str_array(d.provider_labels, d.provider),
        "office": str_array(offices, cov["office"]), "participated": d.participated,
        "mapping_month": month_array(months, d.mapping), "stratum": d.stratum}
    ex["coverage"] = {
        "person_id": pid_all, "first_month": month_array(months, first),
        "last_month": month_array(months, last)}

    def monthly(mask_tn):
        i, t = np.nonzero(mask_tn.T & within)          # person-major order
        return i, t, ids.array(i), month_array(months, t.astype(np.int32))

    q = regs["share_q"]
    i, t, pid, mon = monthly(q > 0)
    ex["employment"] = {
        "person_id": pid, "month": mon, "position_share": q[t, i].astype(np.float64) / 20,
        "earnings": regs["earn"][t, i].astype(np.float64)}
    amt = regs["sa_amt"]
    i, t, pid, mon = monthly(amt > 0)
    ex["social_assistance"] = {
        "person_id": pid, "month": mon, "amount": amt[t, i].astype(np.float64)}
    ben = regs["ben"]
    i, t, pid, mon = monthly(ben > 0)
    ex["benefits"] = {
        "person_id": pid, "month": mon, "benefit": str_array(["AAP", "disability"], ben[t, i] - 1)}
    i, t, pid, mon = monthly(regs["edu"])
    ex["education"] = {"person_id": pid, "month": mon}
    if regs["reo"] is not None:
        reo = regs["reo"]
        i, t, pid, mon = monthly(reo > 0)
        ex["reoffending"] = {"person_id": pid, "month": mon, "events": reo[t, i].astype(np.int64)}
    else:
        ex["reoffending"] = {}
    del i, t, pid, mon
    ex["jobseeker_spells"] = _spells(d, regs["js"].T & within, last, months, r, ids)
    return {name: ex[name] for name in schema.EXTRACTS}


def _spells(d: Design, js: np.ndarray, last, months, r: Streams, ids: PersonIds) -> dict:
    """Job-seeker spells (runs of registered months) plus the programme measure spells."""
    n, T = js.shape
    pad = np.zeros((n, 1), dtype=np.int8)
    dif = np.diff(np.concatenate([pad, js.astype(np.int8), pad], axis=1), axis=1)
    si, st = np.nonzero(dif == 1)
    _, et = np.nonzero(dif == -1)          # end exclusive; same person-major order as starts
    del dif
    end_idx = et - 1
    s1, e1 = _spell_dates(months, st, end_idx, end_idx == T - 1, r, si)
    pi = np.flatnonzero((d.measure >= 0) & (d.a >= 0))
    p_start = d.a[pi]
    p_end_nom = p_start + d.measure_len[pi].astype(np.int32) - 1
    p_end = np.minimum(p_end_nom, last[pi])
    p_ongoing = (p_end_nom > T - 1) & (last[pi] == T - 1)
    s2, e2 = _spell_dates(months, p_start, np.minimum(p_end, T - 1), p_ongoing, r, pi)
    person = np.concatenate([si, pi])
    starts = np.concatenate([s1, s2])
    order = np.lexsort((starts, person))
    measure = np.concatenate([np.zeros(len(si), np.int8), d.measure[pi].astype(np.int8) + 1])
    return {
        "person_id": ids.array(person[order]),
        "spell_start": starts[order], "spell_end": np.concatenate([e1, e2])[order],
        "measure": str_array(["job search"] + list(d.measure_labels), measure[order])}
