"""Column contracts between the register extracts, the person-month panel and the analyses.

This module is the single place where column names and types are declared.  The synthetic
generator (:mod:`evaluation.synthetic`) writes extracts with exactly these columns, the panel
builder (:mod:`evaluation.panel`) validates them against these declarations and produces a panel
with the :data:`PANEL` columns, and the notebooks and estimators use these names.

Types: ``"str"`` (string person ids, codes), ``"int"``, ``"float"``, ``"bool"`` (0/1 stored as
int8/bool), ``"month"`` (datetime64, first day of the month), ``"date"`` (datetime64).
"""
from __future__ import annotations

#: Register extracts: name -> {column: type}.  Every extract is keyed by ``person_id``.
EXTRACTS: dict[str, dict[str, str]] = {
    # person covariates, one row per person
    "persons": {
        "person_id": "str", "birth_year": "int", "sex": "str",            # "F"/"M"
        "immigrant": "bool", "country_group": "str",                      # "Norway", "EU/EEA", "Asia", "Africa", ...
        "years_in_norway": "float",                                       # NaN for non-immigrants
        "education_level": "str",                                         # "primary", "secondary", "tertiary", "unknown"
        "norwegian_level": "str",                                         # "none", "A1", "A2", "B1", "B2+", "native"
        "office": "str",                                                  # NAV office / district code, e.g. "ALNA"
    },
    # programme assignment / participation, one row per person
    "assignment": {
        "person_id": "str", "arm": "str",                                 # "control"/"treatment" or provider names
        "assigned_month": "month",                                        # randomisation / programme start month
        "provider": "str", "office": "str",
        "participated": "bool",                                           # took up the measure (non-compliance)
        "mapping_month": "month",                                         # REFINO initial mapping done (NaT if never)
        "stratum": "str",                                                 # randomisation block (office x month)
    },
    # job-seeker follow-up system: spells with measures/activities, one row per spell
    "jobseeker_spells": {
        "person_id": "str", "spell_start": "date", "spell_end": "date",   # NaT end = ongoing
        "measure": "str",                                                 # "follow-up", "work training", "job search", ...
    },
    # social-assistance case system: one row per person-month with a payment
    "social_assistance": {"person_id": "str", "month": "month", "amount": "float"},
    # employment register (a-ordningen): one row per person-month with a job
    "employment": {"person_id": "str", "month": "month", "position_share": "float", "earnings": "float"},
    # other benefits: one row per person-month with a benefit
    "benefits": {"person_id": "str", "month": "month", "benefit": "str"},   # "AAP" or "disability"
    # education register: one row per person-month enrolled
    "education": {"person_id": "str", "month": "month"},
    # reoffending (Back in the Ring only): one row per new conviction event
    "reoffending": {"person_id": "str", "month": "month", "events": "int"},
    # observation window per person (attrition: a person leaves the registers, emigrates, dies)
    "coverage": {"person_id": "str", "first_month": "month", "last_month": "month"},
}

#: What each extract and column holds, with units and allowed values, for the data dictionary
#: (docs/data_dictionary.md, ``python -m evaluation dictionary``) and the README of an extracts
#: folder written by ``python -m evaluation init``.  Key ``""`` describes the extract itself.
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "persons": {
        "": "Person covariates, one row per person.",
        "person_id": "pseudonymised person id (text; keep leading zeros); the same key in every extract",
        "birth_year": "year of birth (calendar year)", "sex": "'F' or 'M'",
        "immigrant": "immigrant background (0/1)",
        "country_group": "country group of origin, e.g. 'Norway', 'EU/EEA', 'Asia', 'Africa'",
        "years_in_norway": "years of residence in Norway (years; empty for non-immigrants)",
        "education_level": "'primary', 'secondary', 'tertiary' or 'unknown'",
        "norwegian_level": "Norwegian proficiency: 'none', 'A1', 'A2', 'B1', 'B2+' or 'native'",
        "office": "NAV office / district code, e.g. 'ALNA'",
    },
    "assignment": {
        "": "Programme assignment or participation, one row per person in the study population.",
        "person_id": "pseudonymised person id",
        "arm": "'control' (or 'comparison') for the untreated; 'treatment' or the provider/solution name otherwise",
        "assigned_month": "month of randomisation / programme start (first day of the month)",
        "provider": "provider of the measure", "office": "NAV office / district code",
        "participated": "took up the measure (0/1; non-compliance when it differs from the arm)",
        "mapping_month": "month the initial mapping was done (REFINO's first payment stage; empty if never)",
        "stratum": "randomisation block, e.g. office x month",
    },
    "jobseeker_spells": {
        "": "Job-seeker follow-up system: one row per spell in a measure or activity.",
        "person_id": "pseudonymised person id", "spell_start": "first day of the spell (date)",
        "spell_end": "last day of the spell (date; empty while ongoing)",
        "measure": "measure or activity, e.g. 'follow-up', 'work training', 'job search'",
    },
    "social_assistance": {
        "": "Social-assistance case system: one row per person and month with a payment.",
        "person_id": "pseudonymised person id", "month": "month of the payment",
        "amount": "amount paid in the month (NOK)",
    },
    "employment": {
        "": "Employment register (a-ordningen): one row per person and month with a job.",
        "person_id": "pseudonymised person id", "month": "month of employment",
        "position_share": "position as a share of full time (0.5 = a 50 % position; all jobs added up)",
        "earnings": "earnings in the month (NOK)",
    },
    "benefits": {
        "": "Other benefits: one row per person, month and benefit.",
        "person_id": "pseudonymised person id", "month": "month of receipt",
        "benefit": "'AAP' (work assessment allowance) or 'disability' (disability pension)",
    },
    "education": {
        "": "Education register: one row per person and month enrolled.",
        "person_id": "pseudonymised person id", "month": "month enrolled",
    },
    "reoffending": {
        "": "New convictions (Back in the Ring only): one row per conviction event (several per month allowed).",
        "person_id": "pseudonymised person id", "month": "month of the offence / conviction",
        "events": "number of events in the row (count)",
    },
    "coverage": {
        "": "Observation window per person: months the person is in the registers (attrition after last_month).",
        "person_id": "pseudonymised person id", "first_month": "first month observed",
        "last_month": "last month observed (emigration, death, end of data)",
    },
}

#: Plausible ranges (inclusive) of numeric extract columns: values outside stop the panel build
#: with an error naming the extract, column, rows and fix.  Amounts and earnings are NOK per
#: month; wider registers can pass their own ranges to ``validate_extracts(ranges=...)``.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "persons": {"birth_year": (1900, 2030), "years_in_norway": (0, 100)},
    "social_assistance": {"amount": (0, 500_000)},
    "employment": {"position_share": (0, 1), "earnings": (0, 5_000_000)},
    "reoffending": {"events": (0, 100)},
}

#: Smallest share of an extract's records whose person_id links to a person in ``assignment``
#: (below it the extract is probably keyed by another id, or filtered for another population).
MIN_LINK_RATE = 0.5

#: Extracts every scenario has; the others are optional.
REQUIRED_EXTRACTS = ("persons", "assignment", "social_assistance", "employment", "coverage")

#: Person-month panel built by :func:`evaluation.panel.build_panel` (one row per observed person-month).
PANEL: dict[str, str] = {
    "person_id": "str",
    "month": "month",              # calendar month
    "period": "int",               # 1, 2, ... months since the study window opened (integer time for DiD)
    "event_time": "int",           # months since assigned_month (0 = start month, negative before)
    # assignment
    "arm": "str", "treated": "bool",          # treated = assigned to a non-control arm
    "participated": "bool", "provider": "str", "office": "str", "stratum": "str",
    "assigned_month": "month",
    "cohort": "int",               # DiD group: period in which the person's unit first got the programme, 0 = never
    # covariates (time-invariant)
    "birth_year": "int", "age": "int", "sex": "str", "female": "bool", "immigrant": "bool",
    "country_group": "str", "years_in_norway": "float", "education_level": "str",
    "norwegian_level": "str", "under_30": "bool",
    # baseline histories (months before assigned_month)
    "sa_months_12": "int", "sa_months_24": "int", "emp_months_12": "int", "emp_months_24": "int",
    "earnings_12": "float", "sa_amount_12": "float",
    # outcomes in the month
    "employed": "bool", "employed_50": "bool", "job_kept_6m": "bool", "earnings": "float",
    "position_share": "float",
    "on_social_assistance": "bool", "sa_amount": "float", "self_sufficient": "bool",
    "on_aap": "bool", "on_disability": "bool", "on_aap_or_disability": "bool",
    "in_education": "bool", "in_measure": "bool",
    "reoffended": "bool", "reoffence_events": "int",   # all 0 outside Back in the Ring
}

#: Binary outcomes in the panel (rates), and continuous ones (means).
BINARY_OUTCOMES = ("employed", "employed_50", "job_kept_6m", "on_social_assistance", "self_sufficient",
                   "on_aap", "on_disability", "on_aap_or_disability", "in_education", "reoffended")
CONTINUOUS_OUTCOMES = ("earnings", "sa_amount", "position_share", "reoffence_events")

SCENARIOS = ("refino", "alna_aktiv", "bjerke_effektkontrakt", "unge_paa_vei", "back_in_the_ring")


def panel_columns() -> tuple[str, ...]:
    """Names of the person-month panel's columns, known without building a panel.

    Options of a parameter file that name a column (covariates, subgroups, outcomes, clusters,
    strata, groups) are checked against these before any notebook runs
    (:mod:`evaluation.params`); the panel builder keeps its columns within them.
    """
    return tuple(PANEL)
