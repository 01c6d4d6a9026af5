"""Synthetic register extracts with known true effects for the five programme scenarios.

:func:`generate` simulates a population of persons month by month and writes what the registers
would show (the extracts declared in :data:`evaluation.schema.EXTRACTS`), together with the
*truth*: the effects the simulation put in, so that every estimator in the suite can be checked
against them.  :meth:`SyntheticData.write` stores the extracts as parquet (plus ``truth.parquet``
and ``meta.json``) and :func:`load` reads them back.

Scenarios (:data:`evaluation.schema.SCENARIOS`)
-----------------------------------------------
``refino``
    Individual randomisation of people referred to follow-up, within strata office x month of
    referral, in five areas; about one half to ``"REFINO"`` (results-based payment), the rest to
    ``"control"`` (ordinary follow-up).  Non-compliance: about 15 % of those drawn to REFINO never
    take it up (``participated = False``), about 3 % of the controls get REFINO anyway
    (``participated = True`` in the control arm).  ``provider`` is the follow-up provider (missing
    for those who got no follow-up), ``mapping_month`` the month of the REFINO initial mapping
    (0-2 months after randomisation, participants only).  Default: 3,600 persons, window
    2016-01 .. 2023-12 (24 months of baseline, 24 months of referrals, then >= 48 months of
    follow-up), a small positive true effect.
``alna_aktiv``
    Social-assistance recipients in six Oslo districts.  The pilot district ``ALNA`` adopts first,
    ``STOVNER``, ``GRORUD`` and ``BJERKE`` join later (staggered rollout), ``NORDSTRAND`` and
    ``SONDRE_NORDSTRAND`` never.  ``arm`` is ``"pilot"`` in adopting districts and ``"control"``
    elsewhere; ``assigned_month`` is the month the person's district adopted (``NaT`` for the
    never-treated districts), so the panel's ``cohort`` is the period of adoption.  About 90 % of
    the pilot districts' recipients attend (``participated``); the effect (less social
    assistance, more work, more people assessed towards AAP) builds up with event time and is
    largest in the pilot district and smaller in later cohorts, so two-way fixed effects is
    biased.  Default: 3,600 persons, window 2014-01 .. 2017-12, adoption in periods 13, 19, 25, 31.
``bjerke_effektkontrakt``
    Immigrants with weak Norwegian and little schooling in ``BJERKE`` and ``GRORUD``, mostly on
    social assistance.  No randomisation: every person in the pool gets an entry month drawn
    uniformly from the 12 intake months; at that month the person joins the programme with a
    probability that depends on observables only (see ``meta["selection_covariates"]``: age at
    entry under 35, sex, Norwegian level, education, months on social assistance in the 24 months
    and months employed in the 12 months before the entry month, office).  Participants get
    ``arm = "programme"``; the others ``arm = "comparison"`` and their ``assigned_month`` is the
    pseudo-entry month from the same distribution.  Participants are positively selected on
    age and negatively on social-assistance history, so the naive comparison is biased while
    matching on these observables and histories recovers the truth (selection on observables
    holds exactly).  The programme has a lock-in effect on work and a positive effect on education
    during the first months.  Default: 5,000 persons, about 7 % participants.
``unge_paa_vei``
    Persons aged 18-29 referred to assessment, randomised within office x month to ``"control"``
    (40 %, ordinary assessment by NAV) and three providers ``"provider_A"``, ``"provider_B"``,
    ``"provider_C"`` (20 % each) with different true effects (A about none, C the largest).  About
    10 % of those drawn to a provider never start.  Default: 2,000 persons.
``back_in_the_ring``
    Convicted persons aged 18-40 released in ``LARVIK``, ``SANDEFJORD``, ``TONSBERG``,
    ``FAERDER``; selection on observables as in the Bjerke scenario (``"programme"`` /
    ``"comparison"``, pseudo-entry months for the comparison pool).  The ``reoffending`` extract
    has new conviction events by month; the untreated probability of reoffending within 24 months
    of entry is calibrated to 63 % in the pool.  The programme lowers the reoffending rate.
    Default: 3,300 persons, about 300 participants.

Model
-----
Each person ``i`` has time-invariant covariates and random effects (employment propensity,
social-assistance propensity, schooling propensity, full-time wage, social-assistance norm,
AAP hazard and, in Back in the Ring, a reoffending rate).  Each month ``t`` adds a seasonal term,
a business cycle (a 6-year sine on the calendar plus a 2020 pandemic shock), person AR(1) shocks
and, around programme entry, an Ashenfelter-type dip.  Then

* employed if the employment index is positive; position share in steps of 5 % from the index
  (some below 50 %), earnings = share x wage;
* AAP / disability: a Markov chain (none -> AAP -> disability, AAP can end);
* social assistance if its index is positive and earnings are below the person's norm; the
  amount falls with earnings and is always positive;
* in education if the schooling index is positive (no enrolment in July);
* registered job seeker (``jobseeker_spells`` with ``measure = "job search"``) when not in a
  >= 50 % position and not on disability and the job-seeker index is positive; programme
  participants also get a spell with the programme measure;
* reoffending events (Back in the Ring): Poisson with a rate falling with time since release.

Attrition: persons leave the registers with a small monthly hazard after entry (independent of
treatment); ``coverage.last_month`` is the last month observed and every extract stops there.
Late entry (Bjerke): immigrants who arrived in Norway during the baseline period enter the
registers in their arrival month (``coverage.first_month`` = entry month minus
``years_in_norway``); they have no register records before it, so their baseline histories are
shorter, exactly as the panel sees them.

Potential outcomes and truth
----------------------------
Every person-month is simulated in several *worlds* with common random numbers: a reference
world without the programme and one world per treatment arm (RCTs) or the world with the
programme as it happened (rollout, matching).  The worlds differ only through the programme
effect, so the difference of a person's outcome between two worlds is that person's causal
effect.  The extracts hold each person's realised world.  The truth averages these differences
over the *realised sample* (a sample truth, not a superpopulation value), person-months counted
only while the person is covered (not attrited).  ``truth`` has the columns :data:`TRUTH_COLUMNS`;
``cohort``, ``period`` and ``event_time`` are ``NaN`` where they do not apply, ``subgroup`` is one
of ``"all"``, ``"immigrant"``, ``"non_immigrant"``, ``"under_30"``, ``"age_30_plus"`` (age as
the panel defines it).  Outcomes are the panel's (same definitions as :mod:`evaluation.panel`):
``employed``, ``employed_50``, ``job_kept_6m``, ``earnings``, ``position_share``,
``on_social_assistance``, ``sa_amount``, ``self_sufficient`` (employed, no social assistance,
no AAP/disability), ``on_aap_or_disability``, ``in_education``, plus ``reoffended`` and
``reoffence_events`` in Back in the Ring.  Estimands:

``itt`` (RCTs; by ``arm`` and ``event_time`` >= 0)
    Mean over all randomised persons covered at event time ``e`` of
    ``Y_ie(assigned to arm) - Y_ie(assigned to control)`` (includes non-compliance).  A
    difference in means between the arms in event month ``e`` is unbiased for it.
``late`` (RCTs)
    The same mean over compliers only (persons who take the measure if and only if assigned to
    it; always-takers and never-takers have zero effect of assignment).
``itt_avg_h``, ``late_avg_h``, ``att_avg_h`` (h = 6, 12, 24)
    Pooled mean of the same person-month differences over event times ``0 .. h-1``.
``itt_ever_h``, ``late_ever_h``, ``att_ever_h`` (outcomes ``employed``, ``employed_50``,
``reoffended``)
    Mean over persons covered through event time ``h-1`` of
    ``1{outcome in any month 0..h-1}`` in the treated world minus the reference world.
``att`` (matching scenarios; by ``event_time`` >= 0)
    Mean over participants covered at ``e`` of ``Y_ie(1) - Y_ie(0)``.
``att_gt`` (alna_aktiv; by ``cohort`` and ``period``, subgroup ``"all"``)
    Mean over persons of cohort ``g`` (period of their district's adoption) covered at ``period``
    ``t`` of ``Y_it(rollout) - Y_it(no programme)``; zero before adoption (no anticipation).
    Includes non-attenders (an intention-to-treat at district level, what DiD on all recipients
    identifies).
``att_event_time`` (alna_aktiv; by ``event_time``)
    The same differences pooled over all treated cohorts at event time ``e = t - g`` (weights
    proportional to cohort sizes, as the ``did`` dynamic aggregation).
``att_group`` (alna_aktiv; by ``cohort``)
    Mean of ``att_gt`` over the cohort's post-adoption periods (``did`` group aggregation).
``att_simple`` (alna_aktiv)
    Pooled mean over all post-adoption treated person-months (``did`` simple aggregation).

``meta["headline"]`` names the scenario's pre-specified headline estimand and its true value.

With ``effect_scale=0`` every world is the same world, so every truth value is exactly zero.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from . import schema

__all__ = ["SyntheticData", "generate", "load", "generate_all", "DEFAULTS", "OFFICES",
           "TRUTH_COLUMNS", "SUBGROUPS", "HORIZONS"]

#: Columns of :attr:`SyntheticData.truth`.
TRUTH_COLUMNS = ["scenario", "estimand", "outcome", "arm", "cohort", "period", "event_time",
                 "subgroup", "value"]
#: Subgroups reported in the truth.
SUBGROUPS = ("all", "immigrant", "non_immigrant", "under_30", "age_30_plus")
#: Horizons (months after entry) of the ``*_avg_h`` and ``*_ever_h`` estimands.
HORIZONS = (6, 12, 24)

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

_EDU = ("primary", "secondary", "tertiary", "unknown")
_EDU_SCORE = np.array([-1.0, 0.0, 1.0, -0.5], dtype=np.float32)
_NOR = ("none", "A1", "A2", "B1", "B2+", "native")
_NOR_SCORE = np.array([-1.5, -1.0, -0.5, 0.0, 0.3, 0.3], dtype=np.float32)
_COUNTRY = ("Norway", "EU/EEA", "Europe other", "Asia", "Africa", "Latin America")
_OUTCOMES = ("employed", "employed_50", "job_kept_6m", "earnings", "position_share",
             "on_social_assistance", "sa_amount", "self_sufficient", "on_aap_or_disability",
             "in_education")
_REOFF_OUTCOMES = ("reoffended", "reoffence_events")
_EVER_OUTCOMES = ("employed", "employed_50", "reoffended")
_CHANNELS = ("emp", "sa", "edu", "aap", "reoff")


# ==========================================================================================
# result container
# ==========================================================================================
@dataclass
class SyntheticData:
    """Synthetic register extracts with their ground truth.

    Attributes
    ----------
    extracts : dict of str -> pandas.DataFrame
        One frame per extract in :data:`evaluation.schema.EXTRACTS`, with exactly its columns
        (strings as pandas ``str``, months/dates as ``datetime64[us]``, flags as ``bool``).
        Extracts the scenario does not have (``reoffending`` outside Back in the Ring) are
        empty frames with the right columns.
    truth : pandas.DataFrame
        True effects, one row per estimand x outcome x arm x cohort x period x event time x
        subgroup (columns :data:`TRUTH_COLUMNS`; see the module docstring).
    scenario : str
        One of :data:`evaluation.schema.SCENARIOS`.
    meta : dict
        JSON-serialisable facts: seed, window (``start_month``, ``end_month``, ``n_months``),
        offices, arms, design facts (allocation, rollout, take-up, providers), the headline
        truth and the generator's settings.
    """

    extracts: dict
    truth: pd.DataFrame
    scenario: str
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v):,}" for k, v in self.extracts.items())
        return f"SyntheticData(scenario={self.scenario!r}, {sizes}, truth={len(self.truth):,} rows)"

    def headline(self) -> float:
        """True value of the scenario's headline estimand (``meta["headline"]["value"]``)."""
        return float(self.meta["headline"]["value"])

    def truth_value(self, estimand: str, outcome: str, *, arm: str | None = None,
                    subgroup: str = "all", event_time: float | None = None,
                    cohort: float | None = None, period: float | None = None) -> float:
        """Look up one true value; raises ``KeyError`` naming the filters if none or several match."""
        t = self.truth
        m = (t["estimand"] == estimand) & (t["outcome"] == outcome) & (t["subgroup"] == subgroup)
        if arm is not None:
            m &= t["arm"] == arm
        for col, v in (("event_time", event_time), ("cohort", cohort), ("period", period)):
            if v is not None:
                m &= t[col] == v
        hit = t.loc[m, "value"]
        if len(hit) != 1:
            raise KeyError(f"{len(hit)} truth rows match estimand={estimand!r}, outcome={outcome!r}, "
                           f"arm={arm!r}, subgroup={subgroup!r}, event_time={event_time}, "
                           f"cohort={cohort}, period={period}; give the missing filters")
        return float(hit.iloc[0])

    # -- persistence ------------------------------------------------------------------------
    def write(self, folder, *, overwrite: bool = False) -> Path:
        """Write the extracts, ``truth.parquet`` and ``meta.json`` into ``folder``.

        Every file is written to a temporary file in ``folder`` and moved into place with
        :func:`os.replace`, so readers never see half-written files.  Existing files with the
        same content are left alone; existing files with *different* content raise
        ``FileExistsError`` unless ``overwrite=True``.  All checks run before anything is written.

        Parameters
        ----------
        folder : str or path-like
            Target folder (created if missing).
        overwrite : bool, default False
            Replace existing files that differ.

        Returns
        -------
        pathlib.Path
            The folder.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        payload: dict[str, bytes] = {}
        for name, df in {**self.extracts, "truth": self.truth}.items():
            payload[f"{name}.parquet"] = _parquet_bytes(df)
        payload["meta.json"] = (json.dumps(self.meta, indent=2, sort_keys=True, default=_json_default)
                                + "\n").encode()
        todo = {}
        for fname, data in payload.items():
            path = folder / fname
            if path.exists():
                if _same_content(path, data):
                    continue
                if not overwrite:
                    raise FileExistsError(
                        f"{path} exists with different data; pass overwrite=True to replace it, "
                        "or write to an empty folder")
            todo[fname] = data
        for fname, data in todo.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, folder / fname)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        return folder


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    import pyarrow.parquet as pq
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _same_content(path: Path, data: bytes) -> bool:
    old = path.read_bytes()
    if old == data:
        return True
    if path.suffix == ".parquet":
        try:
            import io
            a = pd.read_parquet(io.BytesIO(old))
            b = pd.read_parquet(io.BytesIO(data))
            return a.equals(b) and list(a.dtypes) == list(b.dtypes)
        except Exception:  # unreadable old file: different
            return False
    if path.suffix == ".json":
        try:
            return json.loads(old) == json.loads(data)
        except ValueError:
            return False
    return False


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def load(folder) -> SyntheticData:
    """Read a folder written by :meth:`SyntheticData.write`.

    Parameters
    ----------
    folder : str or path-like
        Folder with ``meta.json``, ``truth.parquet`` and ``<extract>.parquet`` files.

    Returns
    -------
    SyntheticData
    """
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found; is {folder} a folder written by "
                                "evaluation.synthetic (SyntheticData.write)?")
    meta = json.loads(meta_path.read_text())
    extracts = {}
    for name in schema.EXTRACTS:
        p = folder / f"{name}.parquet"
        if p.exists():
            extracts[name] = pd.read_parquet(p)
    truth = pd.read_parquet(folder / "truth.parquet")
    return SyntheticData(extracts=extracts, truth=truth, scenario=meta["scenario"], meta=meta)


def generate_all(root="data/synthetic", *, overwrite: bool = False, **kwargs) -> dict[str, Path]:
    """Generate every scenario with its defaults into ``root/<scenario>``; return the folders."""
    return {sc: generate(sc, **kwargs).write(Path(root) / sc, overwrite=overwrite)
            for sc in schema.SCENARIOS}


# ==========================================================================================
# helpers
# ==========================================================================================
def _str_series(labels, codes: np.ndarray) -> pd.Series:
    """pandas ``str`` Series from a label list and integer codes (-1 = missing), built in Arrow."""
    dictionary = pa.array(list(labels), type=pa.string())
    codes = np.asarray(codes)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask if mask.any() else None)
    arr = dictionary.take(idx)
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def _person_labels(n: int) -> list[str]:
    width = max(7, len(str(n)))
    return [f"P{i:0{width}d}" for i in range(1, n + 1)]


def _person_id_series(ids: pa.Array, idx: np.ndarray) -> pd.Series:
    arr = ids.take(pa.array(idx.astype(np.int32)))
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def _month_values(months: np.ndarray, idx: np.ndarray) -> pd.Series:
    """Month column (first day of month, datetime64[us]); ``idx < 0`` gives NaT."""
    m = months[np.clip(idx, 0, len(months) - 1)].astype("datetime64[us]")
    m = np.where(idx < 0, np.datetime64("NaT", "us"), m)
    return pd.Series(m, dtype="datetime64[us]")


def _stratified(rng, strata: np.ndarray, shares) -> np.ndarray:
    """Complete randomisation within strata: arm index per unit, shares as exact as integers allow.

    Units are put in random order within each stratum and cut into consecutive blocks by
    cumulative share, with a random offset per stratum so that rounding is unbiased.
    """
    n = len(strata)
    order = np.lexsort((rng.random(n), strata))
    s_sorted = strata[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    offset = np.repeat(rng.random(len(sizes)), sizes)
    pos = (rank + offset) / np.repeat(sizes, sizes)
    cum = np.cumsum(shares)[:-1]
    arm_sorted = np.searchsorted(cum, pos, side="right")
    arm = np.empty(n, dtype=np.int8)
    arm[order] = arm_sorted
    return arm


def _solve_intercept(lin: np.ndarray, target: float) -> float:
    """Intercept ``c`` with ``mean(logistic(c + lin)) == target`` (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + lin)))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _choice(rng, n, probs) -> np.ndarray:
    """Vectorised categorical draw; ``probs`` is (k,) or (n, k)."""
    p = np.asarray(probs, dtype=np.float64)
    cum = np.cumsum(p, axis=-1)
    cum = cum / cum[..., -1:]
    u = rng.random(n)
    if p.ndim == 1:
        return np.searchsorted(cum, u, side="right").astype(np.int8)
    return (u[:, None] >= cum).sum(axis=1).astype(np.int8)


def _layout(T: int, pre: int = 24, intake: int = 12) -> tuple[int, int]:
    pre = min(pre, T // 3)
    intake = max(1, min(intake, (T - pre) // 3))
    return pre, intake


# ==========================================================================================
# design: who is who, who gets what, and how large the effects are
# ==========================================================================================
@dataclass
class _Term:
    channel: str            # one of _CHANNELS
    amp: np.ndarray         # (n,) amplitude on the channel's index scale (if treated)
    shape: str              # "ramp": 1 - exp(-(e+1)/k); "pulse": exp(-e/k)
    k: np.ndarray | float   # time constant(s) in months


@dataclass
class _Design:
    scenario: str
    n: int
    T: int
    cov: dict                       # person covariates
    a: np.ndarray                   # entry / assignment month index, -1 none
    arm: np.ndarray                 # arm code per person
    arm_labels: list
    world_labels: list              # world 0 = reference (no programme / control)
    takers: list                    # per world: bool array, effect applies (live for selection)
    terms: list                     # per world: list of _Term
    realised: np.ndarray            # world index each person lives in
    pops: list                      # (estimand, world, mask array (live), arm label)
    participated: np.ndarray
    provider: np.ndarray            # codes, -1 missing
    provider_labels: list
    mapping: np.ndarray             # month index, -1 none
    stratum: pd.Series
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
    select: Callable | None = None  # called at each entry month (matching scenarios)
    first: np.ndarray | None = None  # first covered month index (late entry), default 0
    meta: dict = field(default_factory=dict)
    headline: dict = field(default_factory=dict)


def _covariates(rng, n, ref_year, *, age_range, age_shape=(1.5, 2.5), female=0.45, immigrant=0.35,
                office_probs=None, offices=(), edu_native=(0.25, 0.5, 0.2, 0.05),
                edu_imm=(0.35, 0.25, 0.12, 0.28), years_scale=5.0, nor_shift=0.0,
                country=(0.25, 0.15, 0.3, 0.25, 0.05)) -> dict:
    lo, hi = age_range
    age = (lo + np.floor((hi - lo + 1) * rng.beta(*age_shape, n))).astype(np.int16)
    office = _choice(rng, n, office_probs)
    imm_p = np.asarray(immigrant, dtype=float)
    imm_p = imm_p[office] if imm_p.ndim else np.full(n, float(imm_p))
    imm = rng.random(n) < imm_p
    fem = rng.random(n) < female
    cg = np.where(imm, _choice(rng, n, country) + 1, 0).astype(np.int8)
    years = np.where(imm, np.minimum(age - 1.0, rng.gamma(2.0, years_scale / 2, n) + 0.5), np.nan)
    years = np.round(np.maximum(years, 0.1), 1)
    edu = np.where(imm, _choice(rng, n, edu_imm), _choice(rng, n, edu_native)).astype(np.int8)
    # Norwegian level for immigrants grows with years in Norway and schooling
    score = (np.nan_to_num(years) / 4.0 + 0.5 * _EDU_SCORE[edu] + rng.normal(0, 1, n) - 1.0
             + nor_shift)
    nor_imm = np.digitize(score, [-1.0, 0.0, 1.0, 2.0]).astype(np.int8)   # 0..4
    nor = np.where(imm, nor_imm, 5).astype(np.int8)
    return {"age": age, "birth_year": (ref_year - age).astype(np.int64), "female": fem,
            "immigrant": imm, "country": cg, "years": years, "edu": edu, "nor": nor,
            "office": office, "offices": list(offices)}


def _ref_years(months: np.ndarray, a: np.ndarray) -> np.ndarray:
    years = months.astype("datetime64[Y]").astype(int) + 1970
    return np.where(a >= 0, years[np.clip(a, 0, None)], years[0])


def _latent(rng, cov, *, emp_base, sa_base, edu_base=-2.0, js_base=0.3, aap_rate=0.002,
            wage=40000.0) -> dict:
    n = len(cov["age"])
    age = cov["age"].astype(np.float32)
    imm = cov["immigrant"]
    es = _EDU_SCORE[cov["edu"]]
    ns = _NOR_SCORE[cov["nor"]]
    z = rng.standard_normal((6, n)).astype(np.float32)
    a_emp = (emp_base + 0.35 * es + 0.3 * ns - 0.0008 * (age - 35) ** 2 + 0.1 * (~cov["female"])
             + 0.6 * z[0]).astype(np.float32)
    a_dev = a_emp - a_emp.mean()
    b_sa = (sa_base - 0.5 * a_dev + 0.2 * imm - 0.15 * es + 0.5 * z[1]).astype(np.float32)
    c_edu = (edu_base + 1.5 * (age < 25) + 0.6 * (age < 30) - 0.02 * (age - 30).clip(0)
             + 0.4 * z[2]).astype(np.float32)
    d_js = (js_base + 0.5 * z[3]).astype(np.float32)
    share_pref = (0.55 + 0.12 * z[4]).astype(np.float32)
    w = wage * np.exp(0.1 * es - 0.12 * imm - 0.1 * cov["female"] + 0.22 * rng.standard_normal(n)
                      - 0.004 * np.abs(age - 45))
    norm = 12000.0 * np.exp(0.3 * rng.standard_normal(n))
    aap = aap_rate * np.exp(0.6 * z[5] + 0.02 * (age - 35))
    return {"a_emp": a_emp, "b_sa": b_sa, "c_edu": c_edu, "d_js": d_js, "share_pref": share_pref,
            "wage": w.astype(np.float32), "norm": norm.astype(np.float32),
            "aap": np.clip(aap, 0, 0.2).astype(np.float32)}


def _subgroup_mult(cov, *, immigrant=1.0, under_30=1.0) -> np.ndarray:
    return np.where(cov["immigrant"], immigrant, 1.0) * np.where(cov["age"] < 30, under_30, 1.0)


def _design_refino(rng, n, months, scale) -> _Design:
    T = len(months)
    pre, intake = _layout(T, 24, 24)
    offices = OFFICES["refino"]
    a = (pre + rng.integers(0, intake, n)).astype(np.int32)
    cov = _covariates(rng, n, 0, age_range=(20, 62), female=0.45, immigrant=0.35,
                      office_probs=(0.3, 0.2, 0.2, 0.15, 0.15), offices=offices)
    ref_year = _ref_years(months, a)
    cov["birth_year"] = (ref_year - cov["age"]).astype(np.int64)
    lat = _latent(rng, cov, emp_base=-0.2, sa_base=-0.9)
    strata = cov["office"].astype(np.int64) * T + a
    arm = _stratified(rng, strata, (0.5, 0.5))
    typ = _choice(rng, n, (0.82, 0.15, 0.03))          # 0 complier, 1 never-taker, 2 always-taker
    taker_refino = typ != 1
    taker_control = typ == 2
    participated = np.where(arm == 1, taker_refino, taker_control)
    mult = _subgroup_mult(cov, immigrant=1.5, under_30=1.3) * scale
    k = np.float32(6.0)
    terms = [_Term("emp", (0.10 * mult).astype(np.float32), "ramp", k),
             _Term("sa", (-0.06 * mult).astype(np.float32), "ramp", k)]
    providers = [f"PROVIDER_{i:02d}" for i in range(1, 2 * len(offices) + 1)]
    prov = (2 * cov["office"] + rng.integers(0, 2, n)).astype(np.int16)
    got_followup = (arm == 0) | participated
    prov = np.where(got_followup, prov, -1)
    mapping = np.where(participated, a + np.minimum(rng.geometric(0.6, n) - 1, 2), -1).astype(np.int32)
    mapping = np.where(mapping < T, mapping, -1)
    measure = np.where(participated, 0, np.where(arm == 0, 1, -1)).astype(np.int8)
    mlabels = ["follow-up (REFINO)", "follow-up"]
    mlen = rng.integers(4, 13, n).astype(np.int16)
    stratum = _stratum(cov["office"], offices, months, a)
    compliers = typ == 0
    everyone = np.ones(n, dtype=bool)
    d = _Design(
        scenario="refino", n=n, T=T, cov=cov, a=a, arm=arm.astype(np.int8),
        arm_labels=["control", "REFINO"], world_labels=["control", "REFINO"],
        takers=[taker_control, taker_refino], terms=[terms, terms], realised=arm.astype(np.int8),
        pops=[("itt", 1, everyone, "REFINO"), ("late", 1, compliers, "REFINO")],
        participated=participated, provider=prov, provider_labels=providers, mapping=mapping,
        stratum=stratum, measure=measure, measure_labels=mlabels, measure_len=mlen, lat=lat,
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


def _stratum(office, offices, months, a) -> pd.Series:
    T = len(months)
    labels = [f"{o}:{str(m)}" for o in offices for m in months]
    codes = np.where(a >= 0, office.astype(np.int64) * T + a, -1)
    return _str_series(labels, codes)


def _design_alna(rng, n, months, scale) -> _Design:
    T = len(months)
    offices = OFFICES["alna_aktiv"]
    fr = (0.25, 0.375, 0.5, 0.625)
    adopt = [int(round(T * f)) for f in fr] + [-1, -1]         # month index per district
    cov = _covariates(rng, n, 0, age_range=(18, 66), age_shape=(1.6, 2.4), female=0.45,
                      immigrant=(0.8, 0.78, 0.77, 0.75, 0.72, 0.76),
                      office_probs=(0.19, 0.17, 0.16, 0.16, 0.14, 0.18), offices=offices,
                      edu_imm=(0.45, 0.25, 0.08, 0.22))
    a = np.array(adopt, dtype=np.int32)[cov["office"]]
    ref_year = _ref_years(months, a)
    cov["birth_year"] = (ref_year - cov["age"]).astype(np.int64)
    lat = _latent(rng, cov, emp_base=-1.0, sa_base=0.8, aap_rate=0.003)
    pilot = a >= 0
    attend = pilot & (rng.random(n) < 0.9)
    # cohort-specific, dynamic effects: (sa amplitude, emp amplitude, aap log-hazard, k)
    eff = np.array([[-0.75, 0.45, 0.8, 9.0],
                    [-0.5, 0.3, 0.6, 6.0],
                    [-0.35, 0.2, 0.4, 4.0],
                    [-0.25, 0.12, 0.3, 3.0],
                    [0, 0, 0, 1.0], [0, 0, 0, 1.0]], dtype=np.float32)[cov["office"]]
    mult_emp = _subgroup_mult(cov, immigrant=1.1, under_30=1.4) * scale
    mult_sa = _subgroup_mult(cov, immigrant=1.1, under_30=1.2) * scale
    k = eff[:, 3]
    terms = [_Term("sa", (eff[:, 0] * mult_sa).astype(np.float32), "ramp", k),
             _Term("emp", (eff[:, 1] * mult_emp).astype(np.float32), "ramp", k),
             _Term("aap", (eff[:, 2] * scale).astype(np.float32), "ramp", k)]
    providers = [f"NAV_{o}" for o in offices]
    prov = np.where(attend, cov["office"], -1).astype(np.int16)
    measure = np.where(attend, 0, -1).astype(np.int8)
    mlen = rng.integers(3, 10, n).astype(np.int16)
    off_codes = cov["office"].astype(np.int64)
    d = _Design(
        scenario="alna_aktiv", n=n, T=T, cov=cov, a=a, arm=pilot.astype(np.int8),
        arm_labels=["control", "pilot"], world_labels=["no programme", "rollout"],
        takers=[np.zeros(n, bool), attend], terms=[[], terms], realised=np.ones(n, np.int8),
        pops=[("att_gt", 1, pilot, "pilot")], participated=attend, provider=prov,
        provider_labels=providers, mapping=np.full(n, -1, np.int32),
        stratum=_str_series(list(offices), off_codes), measure=measure,
        measure_labels=["activity requirement (work training)"], measure_len=mlen, lat=lat,
        v0=1.0, u0=-0.3, attrition=0.002, cohort_mode=True)
    d.meta = {"design": "staggered district rollout (difference-in-differences)",
              "rollout": {o: (str(months[m]) if m >= 0 else None) for o, m in zip(offices, adopt)},
              "cohorts": {o: (m + 1 if m >= 0 else 0) for o, m in zip(offices, adopt)},
              "pilot_office": "ALNA", "never_treated": [o for o, m in zip(offices, adopt) if m < 0],
              "attendance": 0.9,
              "truth_note": "att_gt over all persons of the cohort (attenders and non-attenders)"}
    d.headline = {"estimand": "att_simple", "outcome": "on_social_assistance", "arm": "pilot"}
    return d


def _matching_selection(coef: dict, target: float):
    """Selection rule for the matching scenarios: logistic in observables and baseline histories.

    Called at each entry month ``t`` with the entrants' covariates and their register histories
    (computed exactly as the panel does: months with a payment / a job in the 24 / 12 months
    before the entry month).  The intercept is set per month so that the expected participant
    share among that month's entrants equals ``target``.
    """
    def select(t, idx, cov, sa_hist24, emp_hist12, rng):
        age = cov["age"][idx]
        lin = (coef["under_35"] * (age < 35) + coef["female"] * cov["female"][idx]
               + coef["low_norwegian"] * (cov["nor"][idx] <= 1)
               + coef["primary_or_unknown"] * np.isin(cov["edu"][idx], (0, 3))
               + coef["sa_share_24"] * sa_hist24 / 24.0 + coef["emp_share_12"] * emp_hist12 / 12.0
               + coef.get("office0", 0.0) * (cov["office"][idx] == 0))
        c = _solve_intercept(lin, target)
        p = 1 / (1 + np.exp(-(c + lin)))
        return rng.random(len(idx)) < p
    return select


def _design_bjerke(rng, n, months, scale) -> _Design:
    T = len(months)
    pre, intake = _layout(T, 24, 12)
    offices = OFFICES["bjerke_effektkontrakt"]
    a = (pre + rng.integers(0, intake, n)).astype(np.int32)
    cov = _covariates(rng, n, 0, age_range=(20, 62), age_shape=(1.8, 2.6), female=0.55,
                      immigrant=1.0, office_probs=(0.55, 0.45), offices=offices,
                      edu_imm=(0.55, 0.14, 0.01, 0.30), years_scale=7.0, nor_shift=-1.0,
                      country=(0.02, 0.1, 0.45, 0.4, 0.03))
    cov["birth_year"] = (_ref_years(months, a) - cov["age"]).astype(np.int64)
    lat = _latent(rng, cov, emp_base=-0.9, sa_base=0.7, edu_base=-1.2)
    D = np.zeros(n, dtype=bool)
    mult = _subgroup_mult(cov, under_30=1.3) * scale
    terms = [_Term("emp", (0.75 * mult).astype(np.float32), "ramp", np.float32(10.0)),
             _Term("emp", (-0.45 * mult).astype(np.float32), "pulse", np.float32(4.0)),
             _Term("sa", (-0.45 * mult).astype(np.float32), "ramp", np.float32(10.0)),
             _Term("edu", (1.6 * mult).astype(np.float32), "pulse", np.float32(9.0))]
    coef = {"under_35": 0.9, "female": 0.2, "low_norwegian": 0.5, "primary_or_unknown": 0.3,
            "sa_share_24": 2.2, "emp_share_12": -1.5}
    d = _Design(
        scenario="bjerke_effektkontrakt", n=n, T=T, cov=cov, a=a, arm=np.zeros(n, np.int8),
        arm_labels=["comparison", "programme"], world_labels=["no programme", "programme"],
        takers=[np.zeros(n, bool), D], terms=[[], terms], realised=np.ones(n, np.int8),
        pops=[("att", 1, D, "programme")], participated=D, provider=np.full(n, -1, np.int16),
        provider_labels=["EFFEKTKONTRAKT_PROVIDER"], mapping=np.full(n, -1, np.int32),
        stratum=_str_series(list(offices), cov["office"]), measure=np.full(n, -1, np.int8),
        measure_labels=["adult education and job training (effektkontrakt)"],
        measure_len=rng.integers(6, 13, n).astype(np.int16), lat=lat, v0=0.5, attrition=0.002,
        select=_matching_selection(coef, 0.07),
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


def _design_unge(rng, n, months, scale) -> _Design:
    T = len(months)
    pre, intake = _layout(T, 24, 12)
    offices = OFFICES["unge_paa_vei"]
    a = (pre + rng.integers(0, intake, n)).astype(np.int32)
    cov = _covariates(rng, n, 0, age_range=(18, 29), age_shape=(1.2, 1.4), female=0.42,
                      immigrant=0.32, office_probs=(0.4, 0.2, 0.2, 0.2), offices=offices)
    cov["birth_year"] = (_ref_years(months, a) - cov["age"]).astype(np.int64)
    lat = _latent(rng, cov, emp_base=-0.3, sa_base=-0.6, edu_base=-2.4)
    shares = (0.4, 0.2, 0.2, 0.2)
    arm = _stratified(rng, cov["office"].astype(np.int64) * T + a, shares)
    taker = rng.random(n) < 0.9
    labels = ["control", "provider_A", "provider_B", "provider_C"]
    amps = {1: (0.03, -0.02, 0.0), 2: (0.25, -0.15, 0.1), 3: (0.42, -0.25, 0.35)}
    mult = _subgroup_mult(cov, immigrant=1.3) * scale
    terms = [[]]
    for j in (1, 2, 3):
        e_amp, s_amp, edu_amp = amps[j]
        terms.append([_Term("emp", (e_amp * mult).astype(np.float32), "ramp", np.float32(6.0)),
                      _Term("sa", (s_amp * mult).astype(np.float32), "ramp", np.float32(6.0)),
                      _Term("edu", (edu_amp * mult).astype(np.float32), "pulse", np.float32(12.0))])
    participated = (arm > 0) & taker
    prov_labels = ["NAV", "provider_A", "provider_B", "provider_C"]
    prov = np.where(arm == 0, 0, np.where(taker, arm, -1)).astype(np.int16)
    everyone = np.ones(n, dtype=bool)
    d = _Design(
        scenario="unge_paa_vei", n=n, T=T, cov=cov, a=a, arm=arm, arm_labels=labels,
        world_labels=labels, takers=[np.zeros(n, bool), taker, taker, taker], terms=terms,
        realised=arm, pops=[(est, j, m, labels[j]) for j in (1, 2, 3)
                            for est, m in (("itt", everyone), ("late", taker))],
        participated=participated, provider=prov, provider_labels=prov_labels,
        mapping=np.full(n, -1, np.int32), stratum=_stratum(cov["office"], offices, months, a),
        measure=np.where(arm == 0, 0, np.where(taker, 1, -1)).astype(np.int8),
        measure_labels=["assessment (NAV)", "assessment (provider)"],
        measure_len=rng.integers(2, 7, n).astype(np.int16), lat=lat, dip_emp=0.8, dip_sa=0.3,
        attrition=0.0015)
    d.meta = {"design": "individual randomisation within strata (office x month), multi-arm",
              "allocation": dict(zip(labels, shares)), "strata": "office x referral month",
              "take_up": 0.9, "providers": labels[1:],
              "intake_months": [str(months[pre]), str(months[pre + intake - 1])],
              "age_range": [18, 29]}
    d.headline = {"estimand": "itt_avg_12", "outcome": "employed", "arm": "provider_C"}
    return d


def _design_bitr(rng, n, months, scale) -> _Design:
    T = len(months)
    pre, intake = _layout(T, 24, 12)
    offices = OFFICES["back_in_the_ring"]
    a = (pre + rng.integers(0, intake, n)).astype(np.int32)
    cov = _covariates(rng, n, 0, age_range=(18, 40), age_shape=(1.3, 1.6), female=0.12,
                      immigrant=0.25, office_probs=(0.25, 0.25, 0.3, 0.2), offices=offices,
                      edu_native=(0.5, 0.38, 0.07, 0.05))
    cov["birth_year"] = (_ref_years(months, a) - cov["age"]).astype(np.int64)
    lat = _latent(rng, cov, emp_base=-0.4, sa_base=-0.2)
    # reoffending rate: younger, male, weaker employment prospects -> higher
    lam = np.exp(0.5 * rng.standard_normal(n) - 0.035 * (cov["age"] - 18) + 0.35 * (~cov["female"])
                 - 0.7 * (lat["a_emp"] - lat["a_emp"].mean()))
    prof = _reoff_profile(np.arange(24))
    tot = lam * prof.sum()
    lo, hi = 0.0, 10.0
    for _ in range(60):                      # calibrate P(any event in 24 months | Y(0)) = 0.63
        mid = (lo + hi) / 2
        if np.mean(1 - np.exp(-mid * tot)) < 0.63:
            lo = mid
        else:
            hi = mid
    lat["lam"] = (lam * (lo + hi) / 2).astype(np.float32)
    D = np.zeros(n, dtype=bool)
    mult = _subgroup_mult(cov, under_30=1.2) * scale
    terms = [_Term("reoff", (-0.35 * mult).astype(np.float32), "ramp", np.float32(3.0)),
             _Term("emp", (0.3 * mult).astype(np.float32), "ramp", np.float32(6.0)),
             _Term("sa", (-0.15 * mult).astype(np.float32), "ramp", np.float32(6.0))]
    coef = {"under_35": 1.0, "female": -0.3, "low_norwegian": -0.3, "primary_or_unknown": 0.4,
            "sa_share_24": 1.2, "emp_share_12": -1.2}
    d = _Design(
        scenario="back_in_the_ring", n=n, T=T, cov=cov, a=a, arm=np.zeros(n, np.int8),
        arm_labels=["comparison", "programme"], world_labels=["no programme", "programme"],
        takers=[np.zeros(n, bool), D], terms=[[], terms], realised=np.ones(n, np.int8),
        pops=[("att", 1, D, "programme")], participated=D, provider=np.full(n, -1, np.int16),
        provider_labels=["BACK_IN_THE_RING"], mapping=np.full(n, -1, np.int32),
        stratum=_str_series(list(offices), cov["office"]), measure=np.full(n, -1, np.int8),
        measure_labels=["follow-up (Back in the Ring)"],
        measure_len=rng.integers(6, 19, n).astype(np.int16), lat=lat, dip_emp=0.8, dip_sa=0.4,
        attrition=0.003, reoffending=True, select=_matching_selection(coef, 0.09))
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


def _reoff_profile(e: np.ndarray) -> np.ndarray:
    """Relative reoffending rate by months since release (lower before: partly in custody)."""
    e = np.asarray(e, dtype=np.float32)
    return np.where(e < 0, 0.35, 0.55 + 0.9 * np.exp(-np.maximum(e, 0) / 12.0)).astype(np.float32)


_BUILDERS = {"refino": _design_refino, "alna_aktiv": _design_alna,
             "bjerke_effektkontrakt": _design_bjerke, "unge_paa_vei": _design_unge,
             "back_in_the_ring": _design_bitr}


# ==========================================================================================
# simulation
# ==========================================================================================
def _calendar_effects(months: np.ndarray) -> dict:
    cal = months.astype("datetime64[M]").astype(np.int64)           # months since 1970-01
    moy = cal % 12                                                   # 0 = January
    cyc = 0.18 * np.sin(2 * np.pi * (cal - 540) / 72.0)              # 6-year cycle
    covid = np.where((cal >= 602) & (cal <= 604), -0.45, 0.0) + np.where(
        (cal >= 605) & (cal <= 611), -0.2, 0.0)                      # 2020-03..05, 2020-06..12
    season = 0.1 * np.cos(2 * np.pi * (moy - 6) / 12.0)              # summer jobs
    return {"emp": (season + cyc + covid).astype(np.float32),
            "sa": (0.06 * np.cos(2 * np.pi * moy / 12.0) - 0.6 * cyc - 0.5 * covid).astype(np.float32),
            "edu": np.where(moy == 6, -3.0, np.where((moy == 5) | (moy == 7), -0.3, 0.0)).astype(np.float32)}


def _dip(e: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Shape of the pre-entry dip: deepest at entry, recovering afterwards."""
    ef = e.astype(np.float32)
    d = np.where(ef < 0, np.exp(np.minimum(ef + 1, 0) / 4.0), np.exp(-np.maximum(ef, 0) / 8.0))
    return np.where(has, d, 0).astype(np.float32)


def _shape(term: _Term, e: np.ndarray, post: np.ndarray) -> np.ndarray:
    ef = np.maximum(e, 0).astype(np.float32)
    if term.shape == "ramp":
        s = 1 - np.exp(-(ef + 1) / term.k)
    else:
        s = np.exp(-ef / term.k)
    return np.where(post, s, 0).astype(np.float32)


def _simulate(d: _Design, months: np.ndarray, rng) -> tuple[dict, dict]:
    n, T = d.n, d.T
    lat, a = d.lat, d.a
    cal = _calendar_effects(months)
    K = len(d.world_labels)
    outcomes = list(_OUTCOMES) + (list(_REOFF_OUTCOMES) if d.reoffending else [])
    O = len(outcomes)
    # --- attrition: last covered month (after entry for persons with an entry month)
    first = np.zeros(n, np.int32) if d.first is None else d.first
    gap = rng.geometric(d.attrition, n) if d.attrition > 0 else np.full(n, 10 ** 6)
    last = np.minimum(T - 1, np.maximum(a, 0) + gap - 1 + (a >= 0)).astype(np.int32)
    # --- storage of the realised registers (n x T)
    share_q = np.zeros((n, T), dtype=np.int8)        # position share in twentieths
    earn = np.zeros((n, T), dtype=np.float32)
    sa_amt = np.zeros((n, T), dtype=np.float32)
    ben = np.zeros((n, T), dtype=np.int8)            # 0 none, 1 AAP, 2 disability
    edu = np.zeros((n, T), dtype=bool)
    js = np.zeros((n, T), dtype=bool)
    reo = np.zeros((n, T), dtype=np.int8) if d.reoffending else None
    # --- truth accumulators: cells (entry month code x subgroup code) by calendar month
    a_vals, a_code = np.unique(a, return_inverse=True)
    A = len(a_vals)
    s_code = (d.cov["immigrant"].astype(np.int64) * 2 + (d.cov["age"] < 30)).astype(np.int64)
    cell = a_code.astype(np.int64) * 4 + s_code
    P = len(d.pops)
    S = np.zeros((P, O, A * 4, T))
    C = np.zeros((P, A * 4, T))
    ever_o = [o for o in _EVER_OUTCOMES if o in outcomes]
    H = len(HORIZONS)
    SE = np.zeros((P, len(ever_o), H, 4))
    CE = np.zeros((P, H, 4))
    ever = [{o: np.zeros(n, dtype=bool) for o in ever_o} for _ in range(K)]
    run = [np.zeros(n, dtype=np.int16) for _ in range(K)]
    state = []
    init_ben = _choice(rng, n, (0.95, 0.04, 0.01)).astype(np.int8)
    for _ in range(K):
        state.append(init_ben.copy())
    # AR(1) shocks
    rho_u, rho_v, rho_w = np.float32(0.92), np.float32(0.9), np.float32(0.95)
    u = (rng.standard_normal(n, dtype=np.float32) + np.float32(d.u0))
    v = (rng.standard_normal(n, dtype=np.float32) + np.float32(d.v0))
    w = rng.standard_normal(n, dtype=np.float32)
    su, sv, sw = (np.float32(np.sqrt(1 - r * r)) for r in (rho_u, rho_v, rho_w))
    has_a = a >= 0
    dip_on = has_a if (d.dip_emp or d.dip_sa) else None
    wage = lat["wage"]
    norm = lat["norm"]
    if d.select is not None:
        sa_on = np.zeros((n, T), dtype=bool)        # for baseline histories (pre-entry, all worlds equal)
    for t in range(T):
        # exogenous draws, common to all worlds
        u = rho_u * u + su * rng.standard_normal(n, dtype=np.float32)
        v = rho_v * v + sv * rng.standard_normal(n, dtype=np.float32)
        w = rho_w * w + sw * rng.standard_normal(n, dtype=np.float32)
        z_sh = rng.standard_normal(n, dtype=np.float32)
        z_ea = rng.standard_normal(n, dtype=np.float32)
        u_amt = rng.random(n, dtype=np.float32)
        u_b1 = rng.random(n, dtype=np.float32)
        u_b2 = rng.random(n, dtype=np.float32)
        e = (t - a).astype(np.int32)
        post = has_a & (e >= 0)
        arrived = t >= first
        covered = arrived & (t <= last)
        # selection into the programme at entry (matching scenarios)
        if d.select is not None:
            idx = np.flatnonzero(a == t)
            if len(idx):
                lo12, lo24 = max(0, t - 12), max(0, t - 24)
                emp12 = (share_q[idx, lo12:t] > 0).sum(axis=1)
                sa24 = sa_on[idx, lo24:t].sum(axis=1)
                chosen = d.select(t, idx, d.cov, sa24, emp12, rng)
                d.takers[1][idx] = chosen
                d.arm[idx] = chosen.astype(np.int8)
        base_emp = lat["a_emp"] + cal["emp"][t] + u
        base_sa = lat["b_sa"] + cal["sa"][t] + v
        if dip_on is not None:
            dip = _dip(e, dip_on)
            base_emp = base_emp - np.float32(d.dip_emp) * dip
            base_sa = base_sa + np.float32(d.dip_sa) * dip
        base_edu = lat["c_edu"] + cal["edu"][t] + w
        shapes = {}
        outs = []
        for k in range(K):
            eff = {ch: None for ch in _CHANNELS}
            for j, term in enumerate(d.terms[k]):
                key = (term.shape, id(term.k) if isinstance(term.k, np.ndarray) else float(term.k))
                if key not in shapes:
                    shapes[key] = _shape(term, e, post)
                contrib = term.amp * shapes[key]
                eff[term.channel] = contrib if eff[term.channel] is None else eff[term.channel] + contrib
            tk = d.takers[k]
            for ch in _CHANNELS:
                if eff[ch] is not None:
                    eff[ch] = np.where(tk, eff[ch], np.float32(0))
            # benefits: none -> AAP -> disability (AAP can end)
            st = state[k]
            h_aap = lat["aap"] if eff["aap"] is None else lat["aap"] * np.exp(eff["aap"])
            new = st.copy()
            new[(st == 0) & (u_b1 < h_aap)] = 1
            new[(st == 1) & (u_b2 < 0.02)] = 2
            new[(st == 1) & (u_b2 > 0.96)] = 0
            state[k] = new
            emp_lat = base_emp - np.where(new == 1, np.float32(1.2), np.where(new == 2, np.float32(3.0),
                                                                              np.float32(0)))
            if eff["emp"] is not None:
                emp_lat = emp_lat + eff["emp"]
            employed = emp_lat > 0
            q = np.where(employed, np.clip(np.rint(
                (lat["share_pref"] + 0.25 * emp_lat + 0.12 * z_sh) * 20), 1, 20), 0).astype(np.int8)
            ea = np.round(q.astype(np.float32) / 20 * wage * np.exp(np.float32(0.08) * z_ea))
            sa_lat = base_sa - np.float32(1.8 / 20) * q - np.where(
                new == 2, np.float32(1.0), np.where(new == 1, np.float32(0.5), np.float32(0)))
            if eff["sa"] is not None:
                sa_lat = sa_lat + eff["sa"]
            on_sa = (sa_lat > 0) & (ea < 0.9 * norm)
            amt = np.where(on_sa, np.round(np.maximum(norm * (0.35 + 0.65 * u_amt) - 0.6 * ea, 250)), 0)
            ed_lat = base_edu if eff["edu"] is None else base_edu + eff["edu"]
            in_edu = ed_lat > 0
            run[k] = np.where(employed & arrived, run[k] + 1, 0).astype(np.int16)
            aapdis = new > 0
            out = {"employed": employed, "employed_50": q >= 10, "job_kept_6m": run[k] >= 6,
                   "earnings": ea, "position_share": q.astype(np.float32) / 20,
                   "on_social_assistance": on_sa, "sa_amount": amt,
                   "self_sufficient": employed & ~on_sa & ~aapdis, "on_aap_or_disability": aapdis,
                   "in_education": in_edu}
            if d.reoffending:
                lam0 = lat["lam"] * _reoff_profile(e)
                if k == 0:
                    y0 = rng.poisson(lam0)
                    ev = y0
                else:
                    mult = np.ones(n, np.float32) if eff["reoff"] is None else np.exp(eff["reoff"])
                    ev = (rng.binomial(y0, np.minimum(mult, 1.0))
                          + rng.poisson(lam0 * np.maximum(mult - 1, 0)))
                out["reoffended"] = ev > 0
                out["reoffence_events"] = ev
            outs.append(out)
        # realised registers: each person's own world
        rk = d.realised

        def pick(name):
            x = outs[0][name]
            for k in range(1, K):
                x = np.where(rk == k, outs[k][name], x)
            return x
        q_real = np.rint(pick("position_share") * 20).astype(np.int8)
        share_q[:, t] = np.where(arrived, q_real, 0)      # nothing registered before arrival
        earn[:, t] = pick("earnings")
        amt_real = pick("sa_amount")
        sa_amt[:, t] = amt_real
        ben_real = state[0]
        for k in range(1, K):
            ben_real = np.where(rk == k, state[k], ben_real)
        ben[:, t] = ben_real
        edu[:, t] = pick("in_education")
        js_lat = lat["d_js"] - 0.5 * u + 0.6 * (amt_real > 0)
        js[:, t] = (q_real < 10) & (ben_real != 2) & (js_lat > 0)
        if d.reoffending:
            reo[:, t] = np.minimum(pick("reoffence_events"), 127)
        if d.select is not None:
            sa_on[:, t] = (amt_real > 0) & arrived
        # running "ever since entry" flags per world
        if not d.cohort_mode:
            for k in range(K):
                for o in ever_o:
                    ever[k][o] |= outs[k][o] & post
        # truth accumulation
        for p, (est, k, mask, _) in enumerate(d.pops):
            sel = mask & covered & has_a
            if not d.cohort_mode:
                sel &= post
            if not sel.any():
                continue
            cs = cell[sel]
            C[p, :, t] += np.bincount(cs, minlength=A * 4)
            for oi, o in enumerate(outcomes):
                diff = outs[k][o][sel].astype(np.float64) - outs[0][o][sel].astype(np.float64)
                S[p, oi, :, t] += np.bincount(cs, weights=diff, minlength=A * 4)
            if d.cohort_mode:
                continue
            for hi, h in enumerate(HORIZONS):
                at = sel & (e == h - 1)
                if not at.any():
                    continue
                sc = s_code[at]
                CE[p, hi] += np.bincount(sc, minlength=4)
                for oi, o in enumerate(ever_o):
                    diff = ever[k][o][at].astype(np.float64) - ever[0][o][at].astype(np.float64)
                    SE[p, oi, hi] += np.bincount(sc, weights=diff, minlength=4)
    regs = {"first": first, "share_q": share_q, "earn": earn, "sa_amt": sa_amt, "ben": ben, "edu": edu, "js": js,
            "reo": reo, "last": last}
    acc = {"S": S, "C": C, "SE": SE, "CE": CE, "a_vals": a_vals, "outcomes": outcomes,
           "ever_outcomes": ever_o}
    return regs, acc


# ==========================================================================================
# extracts
# ==========================================================================================
def _typed(name: str, cols: dict) -> pd.DataFrame:
    """Frame with exactly the schema's columns, in order, with the suite's dtypes."""
    spec = schema.EXTRACTS[name]
    out = {}
    for col, typ in spec.items():
        v = cols.get(col)
        if typ == "str":
            if v is None:
                v = pd.Series([], dtype=pd.StringDtype("pyarrow", na_value=np.nan))
            elif not isinstance(v, pd.Series):
                v = pd.Series(v, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
        elif typ == "int":
            v = pd.Series(np.asarray([] if v is None else v, dtype=np.int64))
        elif typ == "float":
            v = pd.Series(np.asarray([] if v is None else v, dtype=np.float64))
        elif typ == "bool":
            v = pd.Series(np.asarray([] if v is None else v, dtype=bool))
        else:   # month / date
            v = pd.Series(np.asarray([] if v is None else v, dtype="datetime64[us]"),
                          dtype="datetime64[us]") if not isinstance(v, pd.Series) else v
        out[col] = v.reset_index(drop=True)
    return pd.DataFrame(out)


def _spell_dates(months: np.ndarray, start_idx, end_idx, ongoing, rng):
    """Spell start (a day in the first month) and end (last day of the end month, NaT if ongoing)."""
    first = months[start_idx].astype("datetime64[D]")
    start = first + rng.integers(0, 15, len(start_idx)).astype("timedelta64[D]")
    end = (months[end_idx] + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    end = np.where(ongoing, np.datetime64("NaT", "D"), end)
    return start.astype("datetime64[us]"), end.astype("datetime64[us]")


def _extracts(d: _Design, regs: dict, months: np.ndarray, rng) -> dict:
    n, T = d.n, d.T
    cov = d.cov
    ids = pa.array(_person_labels(n), type=pa.string())
    pid_all = _person_id_series(ids, np.arange(n))
    offices = cov["offices"]
    last = regs["last"]
    first = regs["first"]
    ar = np.arange(T, dtype=np.int32)[None, :]
    within = (ar >= first[:, None]) & (ar <= last[:, None])                  # coverage mask
    ex = {}
    ex["persons"] = _typed("persons", {
        "person_id": pid_all, "birth_year": cov["birth_year"],
        "sex": _str_series(["M", "F"], cov["female"].astype(np.int8)),
        "immigrant": cov["immigrant"], "country_group": _str_series(_COUNTRY, cov["country"]),
        "years_in_norway": cov["years"], "education_level": _str_series(_EDU, cov["edu"]),
        "norwegian_level": _str_series(_NOR, cov["nor"]), "office": _str_series(offices, cov["office"])})
    ex["assignment"] = _typed("assignment", {
        "person_id": pid_all, "arm": _str_series(d.arm_labels, d.arm),
        "assigned_month": _month_values(months, d.a), "provider": _str_series(d.provider_labels, d.provider),
        "office": _str_series(offices, cov["office"]), "participated": d.participated,
        "mapping_month": _month_values(months, d.mapping), "stratum": d.stratum})
    ex["coverage"] = _typed("coverage", {
        "person_id": pid_all, "first_month": _month_values(months, first),
        "last_month": _month_values(months, last)})

    def monthly(mask):
        i, t = np.nonzero(mask & within)
        return i, t, _person_id_series(ids, i), _month_values(months, t.astype(np.int32))

    q = regs["share_q"]
    i, t, pid, mon = monthly(q > 0)
    ex["employment"] = _typed("employment", {
        "person_id": pid, "month": mon, "position_share": q[i, t].astype(np.float64) / 20,
        "earnings": regs["earn"][i, t].astype(np.float64)})
    del i, t, pid, mon
    amt = regs["sa_amt"]
    i, t, pid, mon = monthly(amt > 0)
    ex["social_assistance"] = _typed("social_assistance", {
        "person_id": pid, "month": mon, "amount": amt[i, t].astype(np.float64)})
    ben = regs["ben"]
    i, t, pid, mon = monthly(ben > 0)
    ex["benefits"] = _typed("benefits", {
        "person_id": pid, "month": mon, "benefit": _str_series(["AAP", "disability"], ben[i, t] - 1)})
    i, t, pid, mon = monthly(regs["edu"])
    ex["education"] = _typed("education", {"person_id": pid, "month": mon})
    if regs["reo"] is not None:
        reo = regs["reo"]
        i, t, pid, mon = monthly(reo > 0)
        ex["reoffending"] = _typed("reoffending", {"person_id": pid, "month": mon,
                                                   "events": reo[i, t].astype(np.int64)})
    else:
        ex["reoffending"] = _typed("reoffending", {})
    # job-seeker spells: runs of registered months, plus the programme measure spells
    js = regs["js"] & within
    pad = np.zeros((n, 1), dtype=np.int8)
    dif = np.diff(np.concatenate([pad, js.astype(np.int8), pad], axis=1), axis=1)
    si, st = np.nonzero(dif == 1)
    ei, et = np.nonzero(dif == -1)          # end exclusive; same person-major order as starts
    del dif
    end_idx = et - 1
    ongoing = (end_idx == T - 1)
    s1, e1 = _spell_dates(months, st, end_idx, ongoing, rng)
    prog = (d.measure >= 0) & (d.a >= 0)
    pi = np.flatnonzero(prog)
    p_start = d.a[pi]
    p_end_nom = p_start + d.measure_len[pi].astype(np.int32) - 1
    p_end = np.minimum(p_end_nom, last[pi])
    p_ongoing = (p_end_nom > T - 1) & (last[pi] == T - 1)
    s2, e2 = _spell_dates(months, p_start, np.minimum(p_end, T - 1), p_ongoing, rng)
    person = np.concatenate([si, pi])
    order = np.lexsort((np.concatenate([s1, s2]), person))
    measure = np.concatenate([np.zeros(len(si), np.int8), d.measure[pi].astype(np.int8) + 1])
    ex["jobseeker_spells"] = _typed("jobseeker_spells", {
        "person_id": _person_id_series(ids, person[order]),
        "spell_start": np.concatenate([s1, s2])[order], "spell_end": np.concatenate([e1, e2])[order],
        "measure": _str_series(["job search"] + list(d.measure_labels), measure[order])})
    return {name: ex[name] for name in schema.EXTRACTS}


# ==========================================================================================
# truth
# ==========================================================================================
_SG = {"all": (0, 1, 2, 3), "immigrant": (2, 3), "non_immigrant": (0, 1), "under_30": (1, 3),
       "age_30_plus": (0, 2)}


def _truth(d: _Design, acc: dict) -> pd.DataFrame:
    S, C, a_vals, outcomes = acc["S"], acc["C"], acc["a_vals"], acc["outcomes"]
    P, O, _, T = S.shape
    A = len(a_vals)
    S = S.reshape(P, O, A, 4, T)
    C = C.reshape(P, A, 4, T)
    rows = []

    def add(est, o, arm, value, *, cohort=np.nan, period=np.nan, event_time=np.nan, subgroup="all"):
        rows.append((d.scenario, est, o, arm, float(cohort), float(period), float(event_time),
                     subgroup, float(value)))

    if d.cohort_mode:
        (est, k, mask, arm), = d.pops
        treated = [j for j in range(A) if a_vals[j] >= 0]
        # event-time arrays: e in [-(T-1), T-1]
        E = 2 * T - 1
        Se = np.zeros((O, 4, E))
        Ce = np.zeros((4, E))
        for j in treated:
            g = int(a_vals[j])
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
    else:
        Se = np.zeros((P, O, 4, T))
        Ce = np.zeros((P, 4, T))
        for j in range(A):
            g = int(a_vals[j])
            if g < 0:
                continue
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


# ==========================================================================================
# public entry point
# ==========================================================================================
def generate(scenario: str, *, n_persons: int | None = None, seed: int = 1, effect_scale: float = 1.0,
             start: str | None = None, n_months: int | None = None) -> SyntheticData:
    """Simulate register extracts and the true effects for one programme scenario.

    Parameters
    ----------
    scenario : str
        One of :data:`evaluation.schema.SCENARIOS` (see the module docstring).
    n_persons : int, optional
        Number of persons (the whole study population: both arms, or participants plus the
        comparison pool).  Default per scenario in :data:`DEFAULTS`.
    seed : int, default 1
        Seed; the same (scenario, arguments, seed) gives identical data.
    effect_scale : float, default 1.0
        Multiplies every programme effect (on the index scale).  ``0`` gives a world without any
        effect: every truth value is exactly 0.
    start : str, optional
        First month of the window, ``"YYYY-MM"``.  Default per scenario in :data:`DEFAULTS`
        (REFINO: ``"2016-01"`` so that randomisation starts in 2018 after 24 baseline months).
    n_months : int, optional
        Length of the window in months.  The programme calendar (baseline, intake, rollout) is
        laid out in proportion when it differs from the default.

    Returns
    -------
    SyntheticData
        Extracts, truth and meta.

    Notes
    -----
    Fully vectorised over persons; memory is about 25 bytes per person-month for the registers
    plus the long extracts.  See the module docstring for the model and the estimands.
    """
    if scenario not in _BUILDERS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {list(schema.SCENARIOS)}")
    dflt = DEFAULTS[scenario]
    n = int(dflt["n_persons"] if n_persons is None else n_persons)
    T = int(dflt["n_months"] if n_months is None else n_months)
    if n < 10:
        raise ValueError(f"n_persons={n} is too small; use at least 10 persons")
    if T < 6:
        raise ValueError(f"n_months={T} is too short; use at least 6 months")
    if not np.isfinite(effect_scale):
        raise ValueError("effect_scale must be a finite number (0 = no effect, 1 = default effects)")
    try:
        m0 = np.datetime64(str(dflt["start"] if start is None else start), "M")
    except ValueError:
        raise ValueError(f"start={start!r} is not a month; write it as 'YYYY-MM'") from None
    months = np.arange(m0, m0 + T)
    ss = np.random.SeedSequence([int(seed), schema.SCENARIOS.index(scenario)])
    r_design, r_sim, r_ext = (np.random.default_rng(s) for s in ss.spawn(3))
    d = _BUILDERS[scenario](r_design, n, months, float(effect_scale))
    regs, acc = _simulate(d, months, r_sim)
    if d.select is not None:      # matching scenarios: participants known after the simulation
        d.provider = np.where(d.participated, 0, -1).astype(np.int16)
        d.measure = np.where(d.participated, 0, -1).astype(np.int8)
    extracts = _extracts(d, regs, months, r_ext)
    truth = _truth(d, acc)
    head = dict(d.headline)
    m = ((truth["estimand"] == head["estimand"]) & (truth["outcome"] == head["outcome"])
         & (truth["arm"] == head["arm"]) & (truth["subgroup"] == "all"))
    head["value"] = float(truth.loc[m, "value"].iloc[0]) if m.any() else float("nan")
    arms, counts = np.unique(d.arm, return_counts=True)
    meta = {
        "scenario": scenario, "seed": int(seed), "effect_scale": float(effect_scale),
        "n_persons": n, "start_month": str(months[0]), "end_month": str(months[-1]), "n_months": T,
        "data_start": str(months[0]), "offices": list(d.cov["offices"]), "arms": list(d.arm_labels),
        "arm_counts": {d.arm_labels[a]: int(c) for a, c in zip(arms, counts)},
        "n_participated": int(d.participated.sum()), "worlds": list(d.world_labels),
        "attrition_hazard": d.attrition, "n_attrited": int((regs["last"] < T - 1).sum()),
        "n_late_entry": int((regs["first"] > 0).sum()),
        "headline": head, "generator": "evaluation.synthetic", "truth_columns": TRUTH_COLUMNS,
        **d.meta,
    }
    return SyntheticData(extracts=extracts, truth=truth, scenario=scenario, meta=meta)
