"""Scenario designs: who is who, who gets what, and how large the effects are.

A design is built for one block of persons from three inputs that do not depend on the block:

* the *frame* (office, entry month and, in the RCTs, the arm), drawn for every person in a first
  cheap pass, because complete randomisation within strata needs the whole population;
* the persons' own random streams (:class:`~evaluation.synthetic._streams.Streams`);
* population *constants* (the mean employment propensity, the reoffending calibration and, in the
  matching scenarios, the selection intercepts), computed once from the first
  ``min(n, CALIBRATION)`` persons (the whole population at the default sizes).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._streams import Streams, constant_rng
from ._tables import str_array

#: Persons from which the population constants are computed (the first ones).
CALIBRATION = 20_000

#: Office / district codes per scenario.
OFFICES: dict[str, tuple[str, ...]] = {
    "refino": ("OSLO", "VIKEN", "VESTFOLD_TELEMARK", "VESTLAND", "TRONDELAG"),
    "alna_aktiv": ("ALNA", "STOVNER", "GRORUD", "BJERKE", "NORDSTRAND", "SONDRE_NORDSTRAND"),
    "bjerke_effektkontrakt": ("BJERKE", "GRORUD"),
    "unge_paa_vei": ("OSLO", "BAERUM", "DRAMMEN", "LILLESTROM"),
    "back_in_the_ring": ("LARVIK", "SANDEFJORD", "TONSBERG", "FAERDER"),
}

#: Default size and window per scenario.
DEFAULTS: dict[str, dict] = {
    "refino": {"n_persons": 3600, "start": "2016-01", "n_months": 96},
    "alna_aktiv": {"n_persons": 3600, "start": "2014-01", "n_months": 48},
    "bjerke_effektkontrakt": {"n_persons": 5000, "start": "2021-01", "n_months": 60},
    "unge_paa_vei": {"n_persons": 2000, "start": "2019-01", "n_months": 60},
    "back_in_the_ring": {"n_persons": 3300, "start": "2020-01", "n_months": 60},
}

#: Frame of each scenario: office shares, (baseline, intake) months, arm shares if stratified.
_FRAME = {
    "refino": {"office_probs": (0.3, 0.2, 0.2, 0.15, 0.15), "layout": (24, 24), "shares": (0.5, 0.5)},
    "alna_aktiv": {"office_probs": (0.19, 0.17, 0.16, 0.16, 0.14, 0.18), "layout": None,
                   "shares": None},
    "bjerke_effektkontrakt": {"office_probs": (0.55, 0.45), "layout": (24, 12), "shares": None},
    "unge_paa_vei": {"office_probs": (0.4, 0.2, 0.2, 0.2), "layout": (24, 12),
                     "shares": (0.4, 0.2, 0.2, 0.2)},
    "back_in_the_ring": {"office_probs": (0.25, 0.25, 0.3, 0.2), "layout": (24, 12), "shares": None},
}

_EDU = ("primary", "secondary", "tertiary", "unknown")
_EDU_SCORE = np.array([-1.0, 0.0, 1.0, -0.5], dtype=np.float32)
_NOR = ("none", "A1", "A2", "B1", "B2+", "native")
_NOR_SCORE = np.array([-1.5, -1.0, -0.5, 0.0, 0.3, 0.3], dtype=np.float32)
_COUNTRY = ("Norway", "EU/EEA", "Europe other", "Asia", "Africa", "Latin America")


def _layout(T: int, pre: int = 24, intake: int = 12) -> tuple[int, int]:
    pre = min(pre, T // 3)
    intake = max(1, min(intake, (T - pre) // 3))
    return pre, intake


def _adoption(T: int) -> np.ndarray:
    """Alna: month index of each district's adoption (-1 never)."""
    return np.array([int(round(T * f)) for f in (0.25, 0.375, 0.5, 0.625)] + [-1, -1], dtype=np.int32)


# ==========================================================================================
# frame: office, entry month, stratified arm (whole population, first pass)
# ==========================================================================================
def draw_frame(r: Streams, scenario: str, T: int) -> dict:
    """Office, entry month and (RCTs) the stratification key of the persons of ``r``."""
    spec = _FRAME[scenario]
    office = r.choice(spec["office_probs"])
    if spec["layout"] is None:
        a = _adoption(T)[office]
    else:
        pre, intake = _layout(T, *spec["layout"])
        a = (pre + r.integers(0, intake)).astype(np.int32)
    out = {"office": office, "a": a}
    if spec["shares"] is not None:
        out["key"] = r.random()
    return out


def assign_strata(frame: dict, scenario: str, T: int, key: tuple) -> np.ndarray | None:
    """Complete randomisation within strata (office x entry month) over the whole population.

    Persons are ordered within their stratum by their own random key and cut into consecutive
    runs by cumulative share, with a random offset per stratum (drawn from a stream of the
    stratum, not of the persons) so that rounding is unbiased.  Arm shares are as exact as
    integers allow in every stratum.
    """
    shares = _FRAME[scenario]["shares"]
    if shares is None:
        return None
    strata = frame["office"].astype(np.int64) * T + frame["a"]
    n = len(strata)
    offsets = constant_rng(key, 0).random(len(OFFICES[scenario]) * T)
    order = np.lexsort((frame["key"], strata))
    s_sorted = strata[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    pos = (rank + np.repeat(offsets[s_sorted[starts]], sizes)) / np.repeat(sizes, sizes)
    arm = np.empty(n, dtype=np.int8)
    arm[order] = np.searchsorted(np.cumsum(shares)[:-1], pos, side="right")
    return arm


# ==========================================================================================
# design containers
# ==========================================================================================
@dataclass
class Term:
    channel: str            # one of CHANNELS
    amp: np.ndarray         # (n,) amplitude on the channel's index scale (if treated)
    shape: str              # "ramp": 1 - exp(-(e+1)/k); "pulse": exp(-e/k)
    k: np.ndarray | float   # time constant(s) in months


@dataclass
class Selection:
    """Matching scenarios: logistic participation at entry on observables and histories."""
    coef: dict
    target: float


@dataclass
class Design:
    scenario: str
    n: int
    T: int
    cov: dict                       # person covariates
    a: np.ndarray                   # entry / assignment month index, -1 none
    arm: np.ndarray                 # arm code per person
    arm_labels: list
    world_labels: list              # world 0 = reference (no programme / control)
    takers: list                    # per world: bool array, effect applies (live for selection)
    terms: list                     # per world: list of Term
    realised: np.ndarray            # world index each person lives in
    pops: list                      # (estimand, world, mask array (live), arm label)
    participated: np.ndarray
    provider: np.ndarray            # codes, -1 missing
    provider_labels: list
    mapping: np.ndarray             # month index, -1 none
    stratum: object                 # Arrow string array
    measure: np.ndarray             # programme measure code per person (-1 none)
    measure_labels: list
    measure_len: np.ndarray         # programme spell length in months
    lat: dict                       # person latent parameters
    dip_emp: float = 0.0
    dip_sa: float = 0.0
    u0: float = 0.0                 # initial offset of the employment AR shock
    v0: float = 0.0                 # initial offset of the social-assistance AR shock
    attrition: float = 0.002
    reoffending: bool = False
    cohort_mode: bool = False       # alna: truth by (cohort, period)
    select: Selection | None = None  # participation at entry (matching scenarios)
    first: np.ndarray | None = None  # first covered month index (late entry), default 0
    meta: dict = field(default_factory=dict)
    headline: dict = field(default_factory=dict)


@dataclass
class Context:
    """What a scenario builder gets for one block."""
    r: Streams              # the block's design streams
    frame: dict             # office, a (and arm) of the block's persons
    months: np.ndarray
    scale: float
    consts: dict            # population constants; filled from this block if missing

    @property
    def n(self) -> int:
        return len(self.frame["office"])


# ==========================================================================================
# person covariates and latent parameters
# ==========================================================================================
def _covariates(r: Streams, office, *, age_range, age_shape=(1.5, 2.5), female=0.45,
                immigrant=0.35, offices=(), edu_native=(0.25, 0.5, 0.2, 0.05),
                edu_imm=(0.35, 0.25, 0.12, 0.28), years_scale=5.0, nor_shift=0.0,
                country=(0.25, 0.15, 0.3, 0.25, 0.05)) -> dict:
    lo, hi = age_range
    age = (lo + np.floor((hi - lo + 1) * r.beta(*age_shape))).astype(np.int16)
    imm_p = np.asarray(immigrant, dtype=float)
    imm_p = imm_p[office] if imm_p.ndim else float(imm_p)
    imm = r.random() < imm_p
    fem = r.random() < female
    cg = np.where(imm, r.choice(country) + 1, 0).astype(np.int8)
    years = np.where(imm, np.minimum(age - 1.0, r.gamma(2.0, years_scale / 2) + 0.5), np.nan)
    years = np.round(np.maximum(years, 0.1), 1)
    edu = np.where(imm, r.choice(edu_imm), r.choice(edu_native)).astype(np.int8)
    # Norwegian level for immigrants grows with years in Norway and schooling
    score = (np.nan_to_num(years) / 4.0 + 0.5 * _EDU_SCORE[edu] + r.standard_normal() - 1.0
             + nor_shift)
    nor_imm = np.digitize(score, [-1.0, 0.0, 1.0, 2.0]).astype(np.int8)   # 0..4
    nor = np.where(imm, nor_imm, 5).astype(np.int8)
    return {"age": age, "female": fem, "immigrant": imm, "country": cg, "years": years,
            "edu": edu, "nor": nor, "office": office, "offices": list(offices)}


def _birth_year(months: np.ndarray, a: np.ndarray, age: np.ndarray) -> np.ndarray:
    years = months.astype("datetime64[Y]").astype(int) + 1970
    ref = np.where(a >= 0, years[np.clip(a, 0, None)], years[0])
    return (ref - age).astype(np.int64)


def _latent(r: Streams, cov, consts, *, emp_base, sa_base, edu_base=-2.0, js_base=0.3,
            aap_rate=0.002, wage=40000.0) -> dict:
    age = cov["age"].astype(np.float32)
    imm = cov["immigrant"]
    es = _EDU_SCORE[cov["edu"]]
    ns = _NOR_SCORE[cov["nor"]]
    z = r.standard_normal(lead=(6,), dtype=np.float32)
    a_emp = (emp_base + 0.35 * es + 0.3 * ns - 0.0008 * (age - 35) ** 2 + 0.1 * (~cov["female"])
             + 0.6 * z[0]).astype(np.float32)
    if "a_emp_mean" not in consts:
        consts["a_emp_mean"] = float(a_emp.mean())
    a_dev = a_emp - np.float32(consts["a_emp_mean"])
    b_sa = (sa_base - 0.5 * a_dev + 0.2 * imm - 0.15 * es + 0.5 * z[1]).astype(np.float32)
    c_edu = (edu_base + 1.5 * (age < 25) + 0.6 * (age < 30) - 0.02 * (age - 30).clip(0)
             + 0.4 * z[2]).astype(np.float32)
    d_js = (js_base + 0.5 * z[3]).astype(np.float32)
    share_pref = (0.55 + 0.12 * z[4]).astype(np.float32)
    w = wage * np.exp(0.1 * es - 0.12 * imm - 0.1 * cov["female"] + 0.22 * r.standard_normal()
                      - 0.004 * np.abs(age - 45))
    norm = 12000.0 * np.exp(0.3 * r.standard_normal())
    aap = aap_rate * np.exp(0.6 * z[5] + 0.02 * (age - 35))
    return {"a_emp": a_emp, "b_sa": b_sa, "c_edu": c_edu, "d_js": d_js, "share_pref": share_pref,
            "wage": w.astype(np.float32), "norm": norm.astype(np.float32),
            "aap": np.clip(aap, 0, 0.2).astype(np.float32)}


def _subgroup_mult(cov, *, immigrant=1.0, under_30=1.0) -> np.ndarray:
    return np.where(cov["immigrant"], immigrant, 1.0) * np.where(cov["age"] < 30, under_30, 1.0)


def _stratum(office, offices, months, a):
    T = len(months)
    labels = [f"{o}:{str(m)}" for o in offices for m in months]
    codes = np.where(a >= 0, office.astype(np.int64) * T + a, -1)
    return str_array(labels, codes)


# ==========================================================================================
# the five scenarios
# ==========================================================================================
def design_refino(c: Context) -> Design:
    r, n, months, scale = c.r, c.n, c.months, c.scale
    T = len(months)
    pre, intake = _layout(T, 24, 24)
    offices = OFFICES["refino"]
    a, arm = c.frame["a"], c.frame["arm"]
    cov = _covariates(r, c.frame["office"], age_range=(20, 62), female=0.45, immigrant=0.35,
                      offices=offices)
    cov["birth_year"] = _birth_year(months, a, cov["age"])
    lat = _latent(r, cov, c.consts, emp_base=-0.2, sa_base=-0.9)
    typ = r.choice((0.82, 0.15, 0.03))          # 0 complier, 1 never-taker, 2 always-taker
    taker_refino = typ != 1
    taker_control = typ == 2
    participated = np.where(arm == 1, taker_refino, taker_control)
    mult = _subgroup_mult(cov, immigrant=1.5, under_30=1.3) * scale
    k = np.float32(6.0)
    terms = [Term("emp", (0.10 * mult).astype(np.float32), "ramp", k),
             Term("sa", (-0.06 * mult).astype(np.float32), "ramp", k)]
    providers = [f"PROVIDER_{i:02d}" for i in range(1, 2 * len(offices) + 1)]
    prov = (2 * cov["office"] + r.integers(0, 2)).astype(np.int16)
    got_followup = (arm == 0) | participated
    prov = np.where(got_followup, prov, -1)
    mapping = np.where(participated, a + np.minimum(r.geometric(0.6) - 1, 2), -1).astype(np.int32)
    mapping = np.where(mapping < T, mapping, -1)
    measure = np.where(participated, 0, np.where(arm == 0, 1, -1)).astype(np.int8)
    mlen = r.integers(4, 13).astype(np.int16)
    everyone = np.ones(n, dtype=bool)
    d = Design(
        scenario="refino", n=n, T=T, cov=cov, a=a, arm=arm.astype(np.int8),
        arm_labels=["control", "REFINO"], world_labels=["control", "REFINO"],
        takers=[taker_control, taker_refino], terms=[terms, terms], realised=arm.astype(np.int8),
        pops=[("itt", 1, everyone, "REFINO"), ("late", 1, typ == 0, "REFINO")],
        participated=participated, provider=prov, provider_labels=providers, mapping=mapping,
        stratum=_stratum(cov["office"], offices, months, a), measure=measure,
        measure_labels=["follow-up (REFINO)", "follow-up"], measure_len=mlen, lat=lat,
        dip_emp=1.2, dip_sa=0.5, attrition=0.0008)
    d.meta = {"design": "individual randomisation within strata (office x month of referral)",
              "allocation": {"control": 0.5, "REFINO": 0.5}, "strata": "office x referral month",
              "intake_months": [str(months[pre]), str(months[pre + intake - 1])],
              "compliance": {"compliers": 0.82, "never_takers": 0.15, "always_takers": 0.03},
              "providers": providers,
              "payment_rule": {"mapping": 0.2, "job": 0.4, "job_kept": 0.4, "min_position_share": 0.5},
              "truth_note": "itt over all randomised persons; late over compliers"}
    d.headline = {"estimand": "itt_avg_24", "outcome": "employed_50", "arm": "REFINO"}
    return d


def design_alna(c: Context) -> Design:
    r, n, months, scale = c.r, c.n, c.months, c.scale
    T = len(months)
    offices = OFFICES["alna_aktiv"]
    adopt = _adoption(T)
    cov = _covariates(r, c.frame["office"], age_range=(18, 66), age_shape=(1.6, 2.4), female=0.45,
                      immigrant=(0.8, 0.78, 0.77, 0.75, 0.72, 0.76), offices=offices,
                      edu_imm=(0.45, 0.25, 0.08, 0.22))
    a = c.frame["a"]
    cov["birth_year"] = _birth_year(months, a, cov["age"])
    lat = _latent(r, cov, c.consts, emp_base=-1.0, sa_base=0.8, aap_rate=0.003)
    pilot = a >= 0
    attend = pilot & (r.random() < 0.9)
    # cohort-specific, dynamic effects: (sa amplitude, emp amplitude, aap log-hazard, k)
    eff = np.array([[-0.75, 0.45, 0.8, 9.0],
                    [-0.5, 0.3, 0.6, 6.0],
                    [-0.35, 0.2, 0.4, 4.0],
                    [-0.25, 0.12, 0.3, 3.0],
                    [0, 0, 0, 1.0], [0, 0, 0, 1.0]], dtype=np.float32)[cov["office"]]
    mult_emp = _subgroup_mult(cov, immigrant=1.1, under_30=1.4) * scale
    mult_sa = _subgroup_mult(cov, immigrant=1.1, under_30=1.2) * scale
    k = eff[:, 3]
    terms = [Term("sa", (eff[:, 0] * mult_sa).astype(np.float32), "ramp", k),
             Term("emp", (eff[:, 1] * mult_emp).astype(np.float32), "ramp", k),
             Term("aap", (eff[:, 2] * scale).astype(np.float32), "ramp", k)]
    providers = [f"NAV_{o}" for o in offices]
    d = Design(
        scenario="alna_aktiv", n=n, T=T, cov=cov, a=a, arm=pilot.astype(np.int8),
        arm_labels=["control", "pilot"], world_labels=["no programme", "rollout"],
        takers=[np.zeros(n, bool), attend], terms=[[], terms], realised=np.ones(n, np.int8),
        pops=[("att_gt", 1, pilot, "pilot")], participated=attend,
        provider=np.where(attend, cov["office"], -1).astype(np.int16),
        provider_labels=providers, mapping=np.full(n, -1, np.int32),
        stratum=str_array(list(offices), cov["office"].astype(np.int64)),
        measure=np.where(attend, 0, -1).astype(np.int8),
        measure_labels=["activity requirement (work training)"],
        measure_len=r.integers(3, 10).astype(np.int16), lat=lat,
        v0=1.0, u0=-0.3, attrition=0.002, cohort_mode=True)
    d.meta = {"design": "staggered district rollout (difference-in-differences)",
              "rollout": {o: (str(months[m]) if m >= 0 else None) for o, m in zip(offices, adopt)},
              "cohorts": {o: (int(m) + 1 if m >= 0 else 0) for o, m in zip(offices, adopt)},
              "pilot_office": "ALNA", "never_treated": [o for o, m in zip(offices, adopt) if m < 0],
              "attendance": 0.9,
              "truth_note": "att_gt over all persons of the cohort (attenders and non-attenders)"}
    d.headline = {"estimand": "att_simple", "outcome": "on_social_assistance", "arm": "pilot"}
    return d


def selection_index(coef: dict, cov: dict, idx: np.ndarray, sa_hist24, emp_hist12) -> np.ndarray:
    """Linear index of participation at entry (matching scenarios) for the entrants ``idx``.

    Observables and register histories computed exactly as the panel does: months with a
    payment / a job in the 24 / 12 months before the entry month.
    """
    age = cov["age"][idx]
    return (coef["under_35"] * (age < 35) + coef["female"] * cov["female"][idx]
            + coef["low_norwegian"] * (cov["nor"][idx] <= 1)
            + coef["primary_or_unknown"] * np.isin(cov["edu"][idx], (0, 3))
            + coef["sa_share_24"] * sa_hist24 / 24.0 + coef["emp_share_12"] * emp_hist12 / 12.0
            + coef.get("office0", 0.0) * (cov["office"][idx] == 0))


def solve_intercept(lin: np.ndarray, target: float) -> float:
    """Intercept ``c`` with ``mean(logistic(c + lin)) == target`` (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + lin)))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def design_bjerke(c: Context) -> Design:
    r, n, months, scale = c.r, c.n, c.months, c.scale
    T = len(months)
    pre, intake = _layout(T, 24, 12)
    offices = OFFICES["bjerke_effektkontrakt"]
    a = c.frame["a"]
    cov = _covariates(r, c.frame["office"], age_range=(20, 62), age_shape=(1.8, 2.6), female=0.55,
                      immigrant=1.0, offices=offices, edu_imm=(0.55, 0.14, 0.01, 0.30),
                      years_scale=7.0, nor_shift=-1.0, country=(0.02, 0.1, 0.45, 0.4, 0.03))
    cov["birth_year"] = _birth_year(months, a, cov["age"])
    lat = _latent(r, cov, c.consts, emp_base=-0.9, sa_base=0.7, edu_base=-1.2)
    D = np.zeros(n, dtype=bool)
    mult = _subgroup_mult(cov, under_30=1.3) * scale
    terms = [Term("emp", (0.75 * mult).astype(np.float32), "ramp", np.float32(10.0)),
             Term("emp", (-0.45 * mult).astype(np.float32), "pulse", np.float32(4.0)),
             Term("sa", (-0.45 * mult).astype(np.float32), "ramp", np.float32(10.0)),
             Term("edu", (1.6 * mult).astype(np.float32), "pulse", np.float32(9.0))]
    coef = {"under_35": 0.9, "female": 0.2, "low_norwegian": 0.5, "primary_or_unknown": 0.3,
            "sa_share_24": 2.2, "emp_share_12": -1.5}
    d = Design(
        scenario="bjerke_effektkontrakt", n=n, T=T, cov=cov, a=a, arm=np.zeros(n, np.int8),
        arm_labels=["comparison", "programme"], world_labels=["no programme", "programme"],
        takers=[np.zeros(n, bool), D], terms=[[], terms], realised=np.ones(n, np.int8),
        pops=[("att", 1, D, "programme")], participated=D, provider=np.full(n, -1, np.int16),
        provider_labels=["EFFEKTKONTRAKT_PROVIDER"], mapping=np.full(n, -1, np.int32),
        stratum=str_array(list(offices), cov["office"]), measure=np.full(n, -1, np.int8),
        measure_labels=["adult education and job training (effektkontrakt)"],
        measure_len=r.integers(6, 13).astype(np.int16), lat=lat, v0=0.5, attrition=0.002,
        select=Selection(coef, 0.07),
        first=np.maximum(0, a - np.floor(np.nan_to_num(cov["years"]) * 12)).astype(np.int32))
    d.meta = {"design": "selection on observables; comparison pool for matching",
              "participation_share": 0.07, "selection_coefficients": coef,
              "selection_covariates": ["age (under 35)", "female", "norwegian_level", "education_level",
                                       "sa_months_24", "emp_months_12"],
              "intake_months": [str(months[pre]), str(months[pre + intake - 1])],
              "pseudo_entry": "comparison persons' assigned_month is a pseudo-entry month drawn from "
                              "the same uniform distribution over the intake months as participants'",
              "providers": ["EFFEKTKONTRAKT_PROVIDER"]}
    d.headline = {"estimand": "att_avg_24", "outcome": "employed", "arm": "programme"}
    return d


def design_unge(c: Context) -> Design:
    r, n, months, scale = c.r, c.n, c.months, c.scale
    T = len(months)
    pre, intake = _layout(T, 24, 12)
    offices = OFFICES["unge_paa_vei"]
    a, arm = c.frame["a"], c.frame["arm"]
    cov = _covariates(r, c.frame["office"], age_range=(18, 29), age_shape=(1.2, 1.4), female=0.42,
                      immigrant=0.32, offices=offices)
    cov["birth_year"] = _birth_year(months, a, cov["age"])
    lat = _latent(r, cov, c.consts, emp_base=-0.3, sa_base=-0.6, edu_base=-2.4)
    shares = _FRAME["unge_paa_vei"]["shares"]
    taker = r.random() < 0.9
    labels = ["control", "provider_A", "provider_B", "provider_C"]
    amps = {1: (0.03, -0.02, 0.0), 2: (0.25, -0.15, 0.1), 3: (0.42, -0.25, 0.35)}
    mult = _subgroup_mult(cov, immigrant=1.3) * scale
    terms = [[]]
    for j in (1, 2, 3):
        e_amp, s_amp, edu_amp = amps[j]
        terms.append([Term("emp", (e_amp * mult).astype(np.float32), "ramp", np.float32(6.0)),
                      Term("sa", (s_amp * mult).astype(np.float32), "ramp", np.float32(6.0)),
                      Term("edu", (edu_amp * mult).astype(np.float32), "pulse", np.float32(12.0))])
    everyone = np.ones(n, dtype=bool)
    # world j's takers: persons who would start with provider j if drawn to it
    d = Design(
        scenario="unge_paa_vei", n=n, T=T, cov=cov, a=a, arm=arm, arm_labels=labels,
        world_labels=labels, takers=[np.zeros(n, bool), taker, taker, taker], terms=terms,
        realised=arm, pops=[(est, j, m, labels[j]) for j in (1, 2, 3)
                            for est, m in (("itt", everyone), ("late", taker))],
        participated=(arm > 0) & taker,
        provider=np.where(arm == 0, 0, np.where(taker, arm, -1)).astype(np.int16),
        provider_labels=["NAV", "provider_A", "provider_B", "provider_C"],
        mapping=np.full(n, -1, np.int32), stratum=_stratum(cov["office"], offices, months, a),
        measure=np.where(arm == 0, 0, np.where(taker, 1, -1)).astype(np.int8),
        measure_labels=["assessment (NAV)", "assessment (provider)"],
        measure_len=r.integers(2, 7).astype(np.int16), lat=lat, dip_emp=0.8, dip_sa=0.3,
        attrition=0.0015)
    d.meta = {"design": "individual randomisation within strata (office x month), multi-arm",
              "allocation": dict(zip(labels, shares)), "strata": "office x referral month",
              "take_up": 0.9, "providers": labels[1:],
              "intake_months": [str(months[pre]), str(months[pre + intake - 1])],
              "age_range": [18, 29]}
    d.headline = {"estimand": "itt_avg_12", "outcome": "employed", "arm": "provider_C"}
    return d


def reoff_profile(e: np.ndarray) -> np.ndarray:
    """Relative reoffending rate by months since release (lower before: partly in custody)."""
    e = np.asarray(e, dtype=np.float32)
    return np.where(e < 0, 0.35, 0.55 + 0.9 * np.exp(-np.maximum(e, 0) / 12.0)).astype(np.float32)


def _reoff_scale(lam: np.ndarray, target: float = 0.63) -> float:
    """Factor on ``lam`` with P(any event in 24 months after entry | Y(0)) = target (bisection)."""
    tot = lam * reoff_profile(np.arange(24)).sum()
    lo, hi = 0.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 - np.exp(-mid * tot)) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def design_bitr(c: Context) -> Design:
    r, n, months, scale = c.r, c.n, c.months, c.scale
    T = len(months)
    pre, intake = _layout(T, 24, 12)
    offices = OFFICES["back_in_the_ring"]
    a = c.frame["a"]
    cov = _covariates(r, c.frame["office"], age_range=(18, 40), age_shape=(1.3, 1.6), female=0.12,
                      immigrant=0.25, offices=offices, edu_native=(0.5, 0.38, 0.07, 0.05))
    cov["birth_year"] = _birth_year(months, a, cov["age"])
    lat = _latent(r, cov, c.consts, emp_base=-0.4, sa_base=-0.2)
    # reoffending rate: younger, male, weaker employment prospects -> higher
    lam = np.exp(0.5 * r.standard_normal() - 0.035 * (cov["age"] - 18) + 0.35 * (~cov["female"])
                 - 0.7 * (lat["a_emp"] - np.float32(c.consts["a_emp_mean"])))
    if "reoffending_scale" not in c.consts:      # calibrate P(any event in 24 months | Y(0)) = 0.63
        c.consts["reoffending_scale"] = _reoff_scale(lam)
    lat["lam"] = (lam * c.consts["reoffending_scale"]).astype(np.float32)
    D = np.zeros(n, dtype=bool)
    mult = _subgroup_mult(cov, under_30=1.2) * scale
    terms = [Term("reoff", (-0.35 * mult).astype(np.float32), "ramp", np.float32(3.0)),
             Term("emp", (0.3 * mult).astype(np.float32), "ramp", np.float32(6.0)),
             Term("sa", (-0.15 * mult).astype(np.float32), "ramp", np.float32(6.0))]
    coef = {"under_35": 1.0, "female": -0.3, "low_norwegian": -0.3, "primary_or_unknown": 0.4,
            "sa_share_24": 1.2, "emp_share_12": -1.2}
    d = Design(
        scenario="back_in_the_ring", n=n, T=T, cov=cov, a=a, arm=np.zeros(n, np.int8),
        arm_labels=["comparison", "programme"], world_labels=["no programme", "programme"],
        takers=[np.zeros(n, bool), D], terms=[[], terms], realised=np.ones(n, np.int8),
        pops=[("att", 1, D, "programme")], participated=D, provider=np.full(n, -1, np.int16),
        provider_labels=["BACK_IN_THE_RING"], mapping=np.full(n, -1, np.int32),
        stratum=str_array(list(offices), cov["office"]), measure=np.full(n, -1, np.int8),
        measure_labels=["follow-up (Back in the Ring)"],
        measure_len=r.integers(6, 19).astype(np.int16), lat=lat, dip_emp=0.8, dip_sa=0.4,
        attrition=0.003, reoffending=True, select=Selection(coef, 0.09))
    d.meta = {"design": "selection on observables; comparison pool for matching",
              "participation_share": 0.09, "selection_coefficients": coef,
              "selection_covariates": ["age (under 35)", "female", "norwegian_level", "education_level",
                                       "sa_months_24", "emp_months_12"],
              "intake_months": [str(months[pre]), str(months[pre + intake - 1])],
              "pseudo_entry": "comparison persons' assigned_month is a pseudo-release month drawn "
                              "from the same uniform distribution over the intake months",
              "reoffending_24m_untreated_target": 0.63, "age_range": [18, 40],
              "providers": ["BACK_IN_THE_RING"]}
    d.headline = {"estimand": "att_ever_12", "outcome": "reoffended", "arm": "programme"}
    return d


BUILDERS = {"refino": design_refino, "alna_aktiv": design_alna,
            "bjerke_effektkontrakt": design_bjerke, "unge_paa_vei": design_unge,
            "back_in_the_ring": design_bitr}
