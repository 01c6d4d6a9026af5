"""Month-by-month simulation of one block of persons in every world, with truth accumulators.

Every person-month is simulated in a *baseline* world without any programme effect.  A world
``k`` of the design differs from the baseline only for its *takers* after their entry month (the
persons the programme reaches in that world); those persons are simulated again in world ``k``,
starting from their baseline state in the month before entry, with the same random numbers
(common random numbers).  Everyone else's outcome in world ``k`` is the baseline outcome, so the
person-level effect is exactly zero for them and only takers enter the sums of differences.

Truth sums are accumulated by (entry month, subgroup) cell and calendar month.  Every outcome is
integer-valued on the scale it is summed on (flags, whole NOK, events, position share in
twentieths), so sums of differences are exact in float64 and do not depend on how persons are
split into blocks.
"""
from __future__ import annotations

import numpy as np

from ._design import Design, reoff_profile, selection_index, solve_intercept
from ._streams import Streams

OUTCOMES = ("employed", "employed_50", "job_kept_6m", "earnings", "position_share",
            "on_social_assistance", "sa_amount", "self_sufficient", "on_aap_or_disability",
            "in_education")
REOFF_OUTCOMES = ("reoffended", "reoffence_events")
EVER_OUTCOMES = ("employed", "employed_50", "reoffended")
CHANNELS = ("emp", "sa", "edu", "aap", "reoff")
#: Horizons (months after entry) of the ``*_avg_h`` and ``*_ever_h`` estimands.
HORIZONS = (6, 12, 24)
#: Outcomes summed on another scale than they are reported on (position share in twentieths).
SUM_SCALE = {"position_share": 1 / 20}

_F = np.float32
_PEN_EMP = np.array([0.0, 1.2, 3.0], dtype=_F)    # employment index penalty: none / AAP / disability
_PEN_SA = np.array([0.0, 0.5, 1.0], dtype=_F)     # social-assistance index penalty
_RHO = (_F(0.92), _F(0.9), _F(0.95))


def calendar_effects(months: np.ndarray) -> dict:
    cal = months.astype("datetime64[M]").astype(np.int64)           # months since 1970-01
    moy = cal % 12                                                   # 0 = January
    cyc = 0.18 * np.sin(2 * np.pi * (cal - 540) / 72.0)              # 6-year cycle
    covid = np.where((cal >= 602) & (cal <= 604), -0.45, 0.0) + np.where(
        (cal >= 605) & (cal <= 611), -0.2, 0.0)                      # 2020-03..05, 2020-06..12
    season = 0.1 * np.cos(2 * np.pi * (moy - 6) / 12.0)              # summer jobs
    return {"emp": (season + cyc + covid).astype(_F),
            "sa": (0.06 * np.cos(2 * np.pi * moy / 12.0) - 0.6 * cyc - 0.5 * covid).astype(_F),
            "edu": np.where(moy == 6, -3.0, np.where((moy == 5) | (moy == 7), -0.3, 0.0)).astype(_F)}


def _dip_table(T: int) -> np.ndarray:
    """Shape of the pre-entry dip by event time ``e`` (index ``e + T``): deepest at entry."""
    e = np.arange(-T, T + 1, dtype=_F)
    return np.where(e < 0, np.exp(np.minimum(e + 1, 0) / 4.0), np.exp(-np.maximum(e, 0) / 8.0)).astype(_F)


def _effects(terms, idx, e_idx) -> dict:
    """Effect per channel of the world's terms for its active persons ``idx`` (all post-entry)."""
    eff: dict = {}
    ef = e_idx.astype(_F)
    for term in terms:
        k = term.k[idx] if isinstance(term.k, np.ndarray) else term.k
        s = 1 - np.exp(-(ef + 1) / k) if term.shape == "ramp" else np.exp(-ef / k)
        contrib = term.amp[idx] * s.astype(_F)
        eff[term.channel] = contrib if term.channel not in eff else eff[term.channel] + contrib
    return eff


def _step(x: dict, state, run, eff: dict) -> dict:
    """One month of one world for the persons in ``x`` (all arrays aligned)."""
    h_aap = x["aap"] if "aap" not in eff else x["aap"] * np.exp(eff["aap"])
    new = state.copy()
    ub = x["u_b"]                       # one uniform: a person is in one state per world
    new[(state == 0) & (ub < h_aap)] = 1
    on_aap = state == 1
    new[on_aap & (ub < 0.02)] = 2
    new[on_aap & (ub > 0.96)] = 0
    emp_lat = x["base_emp"] - _PEN_EMP[new]
    if "emp" in eff:
        emp_lat += eff["emp"]
    employed = emp_lat > 0
    q = np.rint((x["share_pref"] + 0.25 * emp_lat + 0.12 * x["z_sh"]) * 20)
    q = np.where(employed, np.clip(q, 1, 20), 0).astype(np.int8)
    ea = np.round(q * x["wage20"] * x["exp_ea"])
    sa_lat = x["base_sa"] - _F(1.8 / 20) * q - _PEN_SA[new]
    if "sa" in eff:
        sa_lat += eff["sa"]
    on_sa = (sa_lat > 0) & (ea < x["norm09"])
    amt = np.where(on_sa, np.round(np.maximum(x["amt0"] - 0.6 * ea, 250)), _F(0))
    in_edu = (x["base_edu"] + eff["edu"] > 0) if "edu" in eff else x["base_edu"] > 0
    run = np.where(employed & x["arrived"], run + 1, 0).astype(np.int16)
    return {"state": new, "run": run, "employed": employed, "q": q, "earnings": ea,
            "on_sa": on_sa, "sa_amount": amt, "in_education": in_edu}


def _outcomes(o: dict) -> dict:
    """The truth outcomes of a world's step (position share in twentieths)."""
    aapdis = o["state"] > 0
    out = {"employed": o["employed"], "employed_50": o["q"] >= 10, "job_kept_6m": o["run"] >= 6,
           "earnings": o["earnings"], "position_share": o["q"],
           "on_social_assistance": o["on_sa"], "sa_amount": o["sa_amount"],
           "self_sufficient": o["employed"] & ~o["on_sa"] & ~aapdis,
           "on_aap_or_disability": aapdis, "in_education": o["in_education"]}
    if "events" in o:
        out["reoffended"] = o["events"] > 0
        out["reoffence_events"] = o["events"]
    return out


class _Truth:
    """Sums of world differences by (pop, outcome, entry-month x subgroup cell, month)."""

    def __init__(self, d: Design, outcomes: list):
        T = d.T
        self.ncell = (T + 1) * 4                       # entry month code a + 1 in 0..T, x 4 subgroups
        s_code = (d.cov["immigrant"].astype(np.int64) * 2 + (d.cov["age"] < 30)).astype(np.int64)
        self.s_code = s_code
        self.cell = (d.a.astype(np.int64) + 1) * 4 + s_code
        self.outcomes = outcomes
        self.ever = [o for o in EVER_OUTCOMES if o in outcomes]
        P, O, H = len(d.pops), len(outcomes), len(HORIZONS)
        self.S = np.zeros((P, O, self.ncell, T))
        self.C = np.zeros((P, self.ncell, T))
        self.SE = np.zeros((P, len(self.ever), H, 4))
        self.CE = np.zeros((P, H, 4))

    def add(self, p: int, t: int, sel: np.ndarray, U: np.ndarray, yk: dict, y0: dict):
        """Counts of ``sel`` and sums of ``yk - y0`` over the persons ``U`` (where they differ)."""
        self.C[p, :, t] += np.bincount(self.cell[sel], minlength=self.ncell)
        su = sel[U]
        if not su.any():
            return
        cs = self.cell[U[su]]
        O = len(self.outcomes)
        diff = np.empty((O, len(cs)))
        for oi, o in enumerate(self.outcomes):
            diff[oi] = yk[o][su].astype(np.float64) - y0[o][su]
        flat = (np.arange(O)[:, None] * self.ncell + cs[None, :]).ravel()
        self.S[p, :, :, t] += np.bincount(flat, weights=diff.ravel(),
                                          minlength=O * self.ncell).reshape(O, self.ncell)

    def add_ever(self, p: int, hi: int, at: np.ndarray, ek: dict, e0: dict):
        sc = self.s_code[at]
        self.CE[p, hi] += np.bincount(sc, minlength=4)
        for oi, o in enumerate(self.ever):
            diff = ek[o].astype(np.float64) - e0[o]
            self.SE[p, oi, hi] += np.bincount(sc, weights=diff, minlength=4)

    def result(self) -> dict:
        return {"S": self.S, "C": self.C, "SE": self.SE, "CE": self.CE,
                "outcomes": self.outcomes, "ever_outcomes": self.ever}


_RAW = ("q", "earnings", "sa_amount", "state", "run", "in_education")


def _differs(base: dict, idx: np.ndarray, o: dict) -> np.ndarray:
    """Positions in ``idx`` where a world's month differs from the baseline in any register."""
    m = np.zeros(len(idx), dtype=bool)
    for key in _RAW + (("events",) if "events" in o else ()):
        m |= o[key] != base[key][idx]
    return np.flatnonzero(m)


def _values_on(U: np.ndarray, base: dict, diff_idx, diff_out) -> dict:
    """Raw outputs of one world for the persons ``U``: baseline, replaced where the world differs."""
    res = {}
    if diff_idx is not None and len(diff_idx):
        pos = np.searchsorted(diff_idx, U)
        pos[pos == len(diff_idx)] = 0
        hit = diff_idx[pos] == U
    else:
        hit = None
    for key in base:
        y = base[key][U]
        if hit is not None and hit.any():
            y[hit] = diff_out[key][pos[hit]]
        res[key] = y
    return res


def _ever_flags(o: dict) -> dict:
    out = {"employed": o["employed"], "employed_50": o["q"] >= 10}
    if "events" in o:
        out["reoffended"] = o["events"] > 0
    return out


def simulate(d: Design, months: np.ndarray, r: Streams, *, intercepts: dict, calib: int,
             stop: int | None = None) -> tuple[dict, dict]:
    """Simulate the block; return the realised registers and the truth accumulators.

    ``intercepts`` (entry month -> selection intercept, matching scenarios) is read and filled:
    a missing month is solved on the entrants among the block's first ``calib`` persons (the
    calibration population).  ``stop`` ends the simulation before that month (pre-pass).
    """
    n, T = d.n, d.T
    lat, a = d.lat, d.a
    cal = calendar_effects(months)
    outcomes = list(OUTCOMES) + (list(REOFF_OUTCOMES) if d.reoffending else [])
    worlds = [k for k in range(len(d.world_labels)) if d.terms[k]]   # worlds that differ
    # --- coverage: late entry, attrition after entry
    first = np.zeros(n, np.int32) if d.first is None else d.first
    gap = r.geometric(d.attrition) if d.attrition > 0 else np.full(n, 10 ** 6)
    last = np.minimum(T - 1, np.maximum(a, 0) + gap - 1 + (a >= 0)).astype(np.int32)
    regs = {"first": first, "last": last,
            "share_q": np.zeros((T, n), dtype=np.int8),      # position share in twentieths
            "earn": np.zeros((T, n), dtype=_F), "sa_amt": np.zeros((T, n), dtype=_F),
            "ben": np.zeros((T, n), dtype=np.int8),          # 0 none, 1 AAP, 2 disability
            "edu": np.zeros((T, n), dtype=bool), "js": np.zeros((T, n), dtype=bool),
            "reo": np.zeros((T, n), dtype=np.int8) if d.reoffending else None}
    truth = _Truth(d, outcomes)
    state_b = r.choice((0.95, 0.04, 0.01)).astype(np.int8)
    run_b = np.zeros(n, dtype=np.int16)
    state_w = {k: state_b.copy() for k in worlds}
    run_w = {k: np.zeros(n, dtype=np.int16) for k in worlds}
    ever_b = {o: np.zeros(n, dtype=bool) for o in truth.ever}
    ever_w = {k: {o: np.zeros(n, dtype=bool) for o in truth.ever} for k in worlds}
    # exogenous draws of every month, common to all worlds (one call per chunk and kind)
    init = r.standard_normal(lead=(3,), dtype=_F)
    z = r.standard_normal(lead=(5, T), dtype=_F)           # AR innovations u, v, w; share; earnings
    ub = r.random(lead=(2, T), dtype=_F)                   # amount; benefit transition
    has_a = a >= 0
    ev_t = np.arange(T, dtype=np.int32)[:, None] - a[None, :]
    lam0 = lat["lam"] * reoff_profile(ev_t) if d.reoffending else None
    y0 = r.poisson(lam0) if d.reoffending else None
    u, v, w = init[0] + _F(d.u0), init[1] + _F(d.v0), init[2]
    su, sv, sw = (_F(np.sqrt(1 - x * x)) for x in _RHO)
    dip_tab = _dip_table(T) if (d.dip_emp or d.dip_sa) else None
    static = {"aap": lat["aap"], "share_pref": lat["share_pref"], "wage20": lat["wage"] / _F(20),
              "norm09": _F(0.9) * lat["norm"]}
    for t in range(T if stop is None else min(stop, T)):
        u = _RHO[0] * u + su * z[0, t]
        v = _RHO[1] * v + sv * z[1, t]
        w = _RHO[2] * w + sw * z[2, t]
        e = ev_t[t]
        post = has_a & (e >= 0)
        arrived = t >= first
        covered = arrived & (t <= last)
        if d.select is not None:
            _select(d, t, r, regs, intercepts, calib)
        x = dict(static, z_sh=z[3, t], u_b=ub[1, t], arrived=arrived,
                 base_emp=lat["a_emp"] + cal["emp"][t] + u, base_sa=lat["b_sa"] + cal["sa"][t] + v,
                 base_edu=lat["c_edu"] + cal["edu"][t] + w, exp_ea=np.exp(_F(0.08) * z[4, t]),
                 amt0=lat["norm"] * (0.35 + 0.65 * ub[0, t]))
        if dip_tab is not None:
            dip = np.where(has_a, dip_tab[np.clip(e, -T, T) + T], _F(0))
            x["base_emp"] -= _F(d.dip_emp) * dip
            x["base_sa"] += _F(d.dip_sa) * dip
        base = _step(x, state_b, run_b, {})
        if d.reoffending:
            base["events"] = y0[t]
        # worlds that differ: their takers after entry, from the baseline state before entry
        act, outw, dif = {}, {}, {}
        for k in worlds:
            act[k], outw[k], dif[k] = _world(d, k, x, e, post, base, state_b, run_b, state_w[k],
                                             run_w[k], r, y0[t] if d.reoffending else None,
                                             lam0[t] if d.reoffending else None)
        state_b, run_b = base["state"], base["run"]
        _record(d, t, base, dif, arrived, lat, u, regs)
        if stop is not None:
            continue
        if not d.cohort_mode:
            eb = _ever_flags(base)
            for o in truth.ever:
                ever_b[o] |= eb[o] & post
            for k in worlds:
                ew = _ever_flags(outw[k])
                for o in truth.ever:
                    ever_w[k][o][act[k]] |= ew[o]
        _accumulate(d, t, truth, base, dif, covered, has_a, post, e, ever_b, ever_w)
    return regs, truth.result()


def _world(d, k, x, e, post, base, state_b, run_b, state_k, run_k, r, y0_t, lam0_t):
    """World ``k`` this month for its takers after entry; updates its state and run in place.

    Returns the takers, their outputs, and the persons (with outputs) where the world differs
    from the baseline.
    """
    idx = np.flatnonzero(d.takers[k] & post)
    start = e[idx] == 0
    eff = _effects(d.terms[k], idx, e[idx])
    o = _step({key: val[idx] for key, val in x.items()},
              np.where(start, state_b[idx], state_k[idx]), np.where(start, run_b[idx], run_k[idx]), eff)
    if y0_t is not None:      # reoffending: thin the baseline events, or add events
        mult = np.exp(eff["reoff"]) if "reoff" in eff else np.ones(len(idx), _F)
        o["events"] = (r.binomial(y0_t[idx], np.minimum(mult, 1.0), idx=idx)
                       + r.poisson(lam0_t[idx] * np.maximum(mult - 1, 0), idx=idx))
    state_k[idx] = o["state"]
    run_k[idx] = o["run"]
    pos = _differs(base, idx, o)
    return idx, o, (idx[pos], {key: val[pos] for key, val in o.items()})


def _accumulate(d, t, truth, base, dif, covered, has_a, post, e, ever_b, ever_w):
    """Truth sums of month ``t``: world k minus world 0 over the persons where they differ."""
    cache: dict = {}
    for p, (_, k, mask, _) in enumerate(d.pops):
        sel = mask & covered & has_a
        if not d.cohort_mode:
            sel &= post
        if not sel.any():
            continue
        if k not in cache:
            parts = [dif[j][0] for j in (k, 0) if j in dif]
            U = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
            cache[k] = (U, *[_outcomes(_values_on(U, base, *dif.get(j, (None, None))))
                             for j in (k, 0)])
        truth.add(p, t, sel, *cache[k])
        if d.cohort_mode:
            continue
        for hi, h in enumerate(HORIZONS):
            at = np.flatnonzero(sel & (e == h - 1))
            if len(at):
                ev = [{o: (np.where(d.takers[j][at], ever_w[j][o][at], ever_b[o][at])
                           if j in ever_w else ever_b[o][at]) for o in truth.ever} for j in (k, 0)]
                truth.add_ever(p, hi, at, *ev)


def _select(d: Design, t: int, r: Streams, regs: dict, intercepts: dict, calib: int):
    """Participation at entry month ``t`` (matching scenarios), from baseline histories."""
    idx = np.flatnonzero(d.a == t)
    if not len(idx):
        return
    lo12, lo24 = max(0, t - 12), max(0, t - 24)
    emp12 = (regs["share_q"][lo12:t, idx] > 0).sum(axis=0)
    seen = np.arange(lo24, t)[:, None] >= regs["first"][idx][None, :]
    sa24 = ((regs["sa_amt"][lo24:t, idx] > 0) & seen).sum(axis=0)
    lin = selection_index(d.select.coef, d.cov, idx, sa24, emp12)
    if t not in intercepts:
        cal = idx < calib
        intercepts[t] = solve_intercept(lin[cal] if cal.any() else lin, d.select.target)
    p = 1 / (1 + np.exp(-(intercepts[t] + lin)))
    chosen = r.random(idx=idx) < p
    d.takers[1][idx] = chosen
    d.arm[idx] = chosen.astype(np.int8)


def _record(d, t, base, dif, arrived, lat, u, regs):
    """Realised registers of month ``t``: each person's own world."""
    q, ea, amt, st, ed = (base[k] for k in ("q", "earnings", "sa_amount", "state", "in_education"))
    regs["share_q"][t] = np.where(arrived, q, 0)      # nothing registered before arrival
    regs["earn"][t] = ea
    regs["sa_amt"][t] = amt
    regs["ben"][t] = st
    regs["edu"][t] = ed
    if regs["reo"] is not None:
        regs["reo"][t] = np.minimum(base["events"], 127)
    for k, (idx, o) in dif.items():
        m = d.realised[idx] == k
        if not m.any():
            continue
        i = idx[m]
        regs["share_q"][t, i] = np.where(arrived[i], o["q"][m], 0)
        regs["earn"][t, i] = o["earnings"][m]
        regs["sa_amt"][t, i] = o["sa_amount"][m]
        regs["ben"][t, i] = o["state"][m]
        regs["edu"][t, i] = o["in_education"][m]
        if regs["reo"] is not None:
            regs["reo"][t, i] = np.minimum(o["events"][m], 127)
    regs["js"][t] = ((regs["share_q"][t] < 10) & (regs["ben"][t] != 2)
                     & (lat["d_js"] - _F(0.5) * u + _F(0.6) * (regs["sa_amt"][t] > 0) > 0))
