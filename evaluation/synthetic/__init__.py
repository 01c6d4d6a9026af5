"""Synthetic register extracts with known true effects for the five programme scenarios.

:func:`generate` simulates a population of persons month by month and writes what the registers
would show (the extracts declared in :data:`evaluation.schema.EXTRACTS`), together with the
*truth*: the effects the simulation put in, so that every estimator in the suite can be checked
against them.  :meth:`SyntheticData.write` stores the extracts as parquet (plus ``truth.parquet``
and ``meta.json``) and :func:`load` reads them back.  :func:`generate_to` writes straight to
parquet block by block, for populations that do not fit in memory (10 million persons x 36
months in a few GiB), and :func:`ensure` is what rendering a parameter file calls.

Blocks and random streams
-------------------------
Persons are simulated in blocks (``block_size``), but every random number belongs to a person:
persons are cut into fixed chunks of 1,000 (``CHUNK``), each with its own random streams
(``SeedSequence([seed, scenario, purpose, chunk])``), so the same seed gives identical data
whatever the block size.  What needs the whole population is computed without blocks: the
stratified randomisation of the RCTs in a first pass over every person's office and entry month
(each stratum's random offset has its own stream), and the population constants (the mean
employment propensity, the reoffending calibration of Back in the Ring, the selection
intercepts of the matching scenarios) from the first ``min(n, 20,000)`` persons -- the whole
population at the default sizes.  Truth sums are exact integers, so they add up across blocks
to the same values.

Folders
-------
One block: ``<folder>/<extract>.parquet``.  Several blocks: ``<folder>/<extract>/part-00000.parquet``,
``part-00001.parquet``, ... (plain parquet, same schema in every part, rows in person order),
plus ``truth.parquet`` and ``meta.json``.  Generated data go only into a folder the generator
created: it holds a marker file ``.evaluation-synthetic`` (settings, generator version,
complete or not).  A new or empty folder is created/adopted; a folder holding any other file is
refused with :class:`UnsafeFolderError` (``--force`` too); files are staged and moved into
place, so a failed or interrupted run leaves the previous data as they were.

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
effect.  (A person the programme does not reach in a world -- a never-taker, a non-participant
-- has that world's outcome equal to the baseline outcome, so only the persons it reaches are
simulated again.)  The extracts hold each person's realised world.  The truth averages these differences
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

from pathlib import Path

import json

from .. import schema
from ._design import CALIBRATION, DEFAULTS, OFFICES
from ._generate import (BLOCK_PERSON_MONTHS, SyntheticData, block_ranges, ensure, generate,
                        generate_to, is_current, settings)
from ._io import (GENERATOR_VERSION, MARKER, UnsafeFolderError, extract_files, folder_status,
                  read_extract)
from ._simulate import HORIZONS
from ._streams import CHUNK
from ._truth import SUBGROUPS, TRUTH_COLUMNS

__all__ = ["SyntheticData", "generate", "generate_to", "ensure", "load", "generate_all",
           "DEFAULTS", "OFFICES", "TRUTH_COLUMNS", "SUBGROUPS", "HORIZONS", "CHUNK", "MARKER",
           "UnsafeFolderError", "folder_status", "extract_files", "read_extract", "settings",
           "block_ranges", "is_current", "BLOCK_PERSON_MONTHS", "CALIBRATION", "GENERATOR_VERSION"]


def load(folder) -> SyntheticData:
    """Read a folder written by :meth:`SyntheticData.write` or :func:`generate_to`.

    Extracts are read from ``<extract>.parquet`` or, in the layout of several blocks, from the
    parts ``<extract>/part-*.parquet`` in order.  Everything is read into memory.

    Parameters
    ----------
    folder : str or path-like
        Folder with ``meta.json``, ``truth.parquet`` and the extracts.

    Returns
    -------
    SyntheticData
    """
    import pandas as pd

    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found; is {folder} a folder written by "
                                "evaluation.synthetic (SyntheticData.write or generate_to)?")
    meta = json.loads(meta_path.read_text())
    extracts = {}
    for name in schema.EXTRACTS:
        df = read_extract(folder, name)
        if df is not None:
            extracts[name] = df
    truth = pd.read_parquet(folder / "truth.parquet")
    return SyntheticData(extracts=extracts, truth=truth, scenario=meta["scenario"], meta=meta)


def generate_all(root="data/synthetic", *, overwrite: bool = False, **kwargs) -> dict[str, Path]:
    """Generate every scenario with its defaults into ``root/<scenario>``; return the folders."""
    return {sc: generate(sc, **kwargs).write(Path(root) / sc, overwrite=overwrite)
            for sc in schema.SCENARIOS}
