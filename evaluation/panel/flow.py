"""Stage 4: the sample-flow table (who and what is kept or excluded, with reasons and counts).

Every step of the build reports its exclusions here; :meth:`Flow.frame` gives
:attr:`evaluation.panel.Panel.flow` (columns ``step, stage, kind, reason, persons, person_months``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

FLOW_COLUMNS = ["step", "stage", "kind", "reason", "persons", "person_months"]


class Flow:
    """Rows of the sample flow in the order they are added."""

    def __init__(self):
        self.rows: list[tuple] = []

    def add(self, stage: str, kind: str, reason: str, persons, person_months) -> None:
        """Add a step: ``persons`` and ``person_months`` are counts (``None`` where not defined)."""
        self.rows.append((stage, kind, reason, int(persons),
                          None if person_months is None else int(person_months)))

    def set_last_person_months(self, pm: int) -> None:
        self.rows[-1] = self.rows[-1][:4] + (int(pm),)

    def records(self, name: str, kind: str, reason: str, person_codes: np.ndarray, mask: np.ndarray) -> None:
        """Register records of ``name`` selected by ``mask``: distinct persons and record count."""
        if mask.any():
            self.add("records", kind, f"{name}: {reason}", np.unique(person_codes[mask]).size, mask.sum())

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=FLOW_COLUMNS[1:])
        df["person_months"] = df["person_months"].astype("Int64")
        df.insert(0, "step", np.arange(1, len(df) + 1))
        return df
