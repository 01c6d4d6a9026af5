"""Names shared by the panel stages: outcomes, control arms, extract keys, optional columns."""
from __future__ import annotations

import numpy as np

#: Arms that count as untreated (``treated = False``).
CONTROL_ARMS = ("control", "comparison")

#: Outcome columns of the panel, in :data:`schema.PANEL` order.
OUTCOMES = ("employed", "employed_50", "job_kept_6m", "earnings", "position_share",
            "on_social_assistance", "sa_amount", "self_sufficient", "on_aap", "on_disability",
            "on_aap_or_disability", "in_education", "in_measure", "reoffended", "reoffence_events")

#: Monthly extracts and the columns that identify a record (duplicates are errors);
#: ``reoffending`` has no key: several events in a month are added up.
MONTHLY_KEYS = {
    "social_assistance": ("person_id", "month"),
    "employment": ("person_id", "month"),
    "benefits": ("person_id", "month", "benefit"),
    "education": ("person_id", "month"),
    "reoffending": None,
}
#: Extracts with one row per person.
PERSON_EXTRACTS = ("persons", "assignment", "coverage")

#: Columns that may be absent from an extract (filled with missing values, noted as a warning).
OPTIONAL_COLUMNS = {
    "persons": ("immigrant", "country_group", "years_in_norway", "education_level",
                "norwegian_level", "office"),
    "assignment": ("provider", "office", "participated", "mapping_month", "stratum"),
    "jobseeker_spells": ("measure",),
}

BENEFIT_VALUES = ("AAP", "disability")
SEX_VALUES = ("F", "M")
_PERSON_STR = ("sex", "country_group", "education_level", "norwegian_level")
_N_EXAMPLES = 5
_NAT = np.iinfo(np.int64).min
