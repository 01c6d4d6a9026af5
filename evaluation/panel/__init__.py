"""Link register extracts by person id into a validated person-month panel.

The register extracts declared in :data:`evaluation.schema.EXTRACTS` (person covariates,
programme assignment, job-seeker spells, monthly social-assistance payments, monthly employment,
other benefits, education, reoffending and the observation window per person) are read
(:func:`read_extracts`), checked (:func:`validate_extracts`) and linked by ``person_id`` into one
row per person and observed month (:func:`build_panel`) with the :data:`evaluation.schema.PANEL`
columns.  :func:`load_panel` does all three for a folder and also loads the synthetic generator's
``truth.parquet`` and ``meta.json`` when present.

Nothing is dropped silently: every person and person-month that does not reach the panel is
counted, with its reason, in the sample-flow table :attr:`Panel.flow`.

Definitions
-----------
Study window
    ``window=(start, end)``, inclusive calendar months.  The panel holds months in the window only;
    ``period`` is the 1-based month index in the window (``period = 1`` is ``start``).  Without a
    window, it runs from the earliest ``coverage.first_month`` to the latest
    ``coverage.last_month``.
Coverage and attrition
    A person is observed from ``coverage.first_month`` to ``coverage.last_month`` (inclusive),
    clipped to the window.  The panel has exactly one row per person and month in that range and
    no rows outside it: months after ``last_month`` are *attrition* (the person left the
    registers: emigrated, died, ...), months before ``first_month`` are *late entry*.  Both are
    counted in the sample flow.  Register records in months outside the person's coverage are
    not used for monthly outcomes (they are counted in the flow); they are used for baseline
    histories and for ``job_kept_6m`` (see below).
Study population
    Persons with a row in ``assignment``, a row in ``persons`` (covariates) and a ``coverage`` row
    overlapping the window.  Persons seen in any extract but failing one of these are excluded,
    step by step, and counted in the flow.
Monthly outcomes
    A month without a register record means "none": ``position_share``, ``earnings``,
    ``sa_amount`` and ``reoffence_events`` are 0 and the flags are ``False``.

    * ``employed``: ``position_share > 0`` in the employment register.
    * ``employed_50``: ``position_share >= 0.5`` (a position of at least 50 %).
    * ``job_kept_6m``: employed (``position_share > 0``) in the month **and** in each of the 5
      calendar months before it, i.e. the month is the 6th or later month of an unbroken run of
      employed months.  Runs are counted on the employment register itself, so months before the
      window (or before ``first_month``) count when the register has them.
    * ``on_social_assistance``: a social-assistance payment with ``amount > 0`` in the month;
      ``sa_amount`` is the amount paid (0 without payment).
    * ``on_aap``, ``on_disability``: a ``benefits`` record with ``benefit`` ``"AAP"`` or
      ``"disability"`` in the month; ``on_aap_or_disability`` is their union.
    * ``self_sufficient``: ``employed`` and not ``on_social_assistance`` and not
      ``on_aap_or_disability`` (in work and off all benefits the suite observes).
    * ``in_education``: an ``education`` record in the month.
    * ``in_measure``: a job-seeker spell with a non-missing ``measure`` overlaps the month
      (``spell_start <= last day of month`` and ``spell_end`` missing or ``>= first day``).
    * ``reoffended``: ``reoffence_events > 0``; ``reoffence_events`` is the sum of ``events`` in
      the month (several rows per person-month are allowed in ``reoffending`` and are added up).
Assignment and time
    ``treated`` is ``arm`` not in ``("control", "comparison")``.  ``event_time`` is the number of
    months since ``assigned_month`` (0 in the start month, negative before; missing for persons
    without ``assigned_month``, e.g. never-treated districts).  ``cohort`` is the ``period`` of
    ``assigned_month`` for treated persons and 0 for the others (R ``did`` convention: 0 = never
    treated); it is missing (``<NA>``) for treated persons assigned before the window opened or
    without ``assigned_month`` (R ``did`` drops such units) and these are counted in the flow.
    ``office`` comes from ``assignment`` and falls back to ``persons.office`` where missing.
Covariates
    ``age`` is the calendar year of ``assigned_month`` (of the window start for persons without
    one) minus ``birth_year``; ``under_30`` is ``age < 30``; ``female`` is ``sex == "F"``.
Baseline histories
    The *reference month* is ``assigned_month`` (window start for persons without one).  For each
    ``k`` in ``baseline_months`` the baseline window is the ``k`` calendar months before the
    reference month (``ref - k`` .. ``ref - 1``).  ``sa_months_k`` counts months in it with a
    social-assistance payment (``amount > 0``), ``emp_months_k`` months with
    ``position_share > 0``; ``earnings_k`` and ``sa_amount_k`` (for the smallest ``k`` only) add
    up earnings and payments.  Only months that are observed count: months before the first month
    present in the monthly registers (the data start, ``Panel.meta["data_start"]``) are unknown and
    add nothing; :meth:`Panel.persons` reports ``baseline_observed_k``, the number of baseline
    months that are observed.  Coverage does not restrict baseline counts (register history
    before a person's ``first_month`` is used when present).

Sample flow
    :attr:`Panel.flow` has columns ``step, stage, kind, reason, persons, person_months``.
    Stage ``"persons"``: ``total`` (persons in any extract), then ``excluded`` steps in order --
    no assignment record, no covariates (not in ``persons``), no coverage record, coverage not
    overlapping the window -- and ``kept`` (persons in the panel); total = excluded + kept, for
    persons and for ``person_months`` (coverage months inside the window).  An ``info`` row counts
    treated persons whose ``cohort`` is missing.  Stage ``"person-months"``: ``total`` (kept
    persons x window months) = months before ``first_month`` (late entry) + months after
    ``last_month`` (attrition) + ``kept`` (panel rows).  Stage ``"records"``: register records not
    used for monthly outcomes, per extract (records of persons not in the panel, after the window,
    outside the person's coverage; ``info``: records before the window, used as baseline history
    only; coverage months outside the window); here ``person_months`` counts records.
Size
    String columns are categoricals, flags ``bool``, counts ``int16``: about 105 bytes per
    person-month with person columns, about 70 without (``include_person_columns=False``), so
    1M persons x 36 months is about 3.8 GB (2.4 GB).

Row numbers in validation messages are 1-based data rows of the extract (for a CSV file, line
number minus one for the header).
Stages (one module each): :mod:`.read` (files to frames), :mod:`.validate` (schema and
cross-extract checks), :mod:`.build` (who enters, row layout, assembly), :mod:`.outcomes`
(monthly outcomes and baselines), :mod:`.flow` (the sample flow), :mod:`.panel` (the
:class:`Panel` object) and :mod:`.load` (a folder to a Panel).
"""
from __future__ import annotations

from ._constants import (BENEFIT_VALUES, CONTROL_ARMS, MONTHLY_KEYS, OPTIONAL_COLUMNS, OUTCOMES,
                         PERSON_EXTRACTS, SEX_VALUES)
from .build import build_panel
from .load import _window_from_meta, load_panel
from .panel import Panel
from .problems import PanelValidationError, Problem, ValidationReport
from .read import read_extracts
from .validate import validate_extracts

__all__ = [
    "Panel", "PanelValidationError", "Problem", "ValidationReport", "build_panel", "load_panel",
    "read_extracts", "validate_extracts", "OUTCOMES", "CONTROL_ARMS",
]
