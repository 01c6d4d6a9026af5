"""Validation findings: :class:`Problem`, :class:`ValidationReport`, :class:`PanelValidationError`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd


@dataclass
class Problem:
    """One finding of :func:`validate_extracts`.

    Attributes
    ----------
    extract, column : str
        Where the problem is (``column`` is ``None`` for extract-level problems).
    kind : str
        Short category, e.g. ``"missing column"``, ``"type"``, ``"duplicate"``, ``"window"``,
        ``"linkage"``.
    message : str
        What is wrong.
    fix : str
        How to fix it.
    count : int
        Number of offending rows (or persons for linkage problems).
    examples : list of str
        The first few offending rows, e.g. ``"row 3 (person_id 'P3', amount=-5.0)"``.
    severity : {"error", "warning"}
        Errors stop :func:`build_panel`; warnings become explicit exclusions in the sample flow.
    """

    extract: str
    column: str | None
    kind: str
    message: str
    fix: str
    count: int = 0
    examples: list = field(default_factory=list)
    severity: str = "error"

    def __str__(self) -> str:
        loc = self.extract + (f", column '{self.column}'" if self.column else "")
        ex = f"; e.g. {'; '.join(self.examples)}" if self.examples else ""
        return f"[{self.severity}] {loc}: {self.message} ({self.count} in all{ex}). Fix: {self.fix}"

    def to_dict(self) -> dict:
        return {"severity": self.severity, "extract": self.extract, "column": self.column,
                "kind": self.kind, "message": self.message, "count": self.count,
                "examples": "; ".join(self.examples), "fix": self.fix}


class PanelValidationError(ValueError):
    """Raised when register extracts fail validation.

    Attributes
    ----------
    problems : list of Problem
        Every hard error found (not only the first), each naming extract, column, example rows
        and the fix.
    """

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} problem(s) in the register extracts:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclass
class ValidationReport:
    """Result of :func:`validate_extracts`.

    Attributes
    ----------
    problems : list of Problem
        Errors and warnings.
    extracts : dict of DataFrame
        The extracts with columns converted to the schema types (input frames are not modified).
    window : tuple of int or None
        The study window as month indices (months since 1970-01), if given.

    :func:`validate_extracts` also sets ``con`` (its DuckDB connection), ``rows`` (rows per
    extract), ``usable`` (usable columns per extract), ``ids`` (the engine table ``_ev_ids``: one
    row per person id in any extract, ``_m`` the bit mask of the extracts it is in, or None) and
    ``id_bits`` (extract -> bit), which the panel build reuses.
    """

    problems: list = field(default_factory=list)
    extracts: dict = field(default_factory=dict, repr=False)
    window: tuple | None = None

    @property
    def errors(self) -> list:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """``True`` when there are no errors (warnings allowed)."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`PanelValidationError` listing every error, if there is any."""
        if self.errors:
            raise PanelValidationError(self.errors)

    def to_frame(self) -> pd.DataFrame:
        cols = ["severity", "extract", "column", "kind", "message", "count", "examples", "fix"]
        return pd.DataFrame([p.to_dict() for p in self.problems], columns=cols)

    def summary(self) -> str:
        if not self.problems:
            return "Validation: no problems."
        return (f"Validation: {len(self.errors)} error(s), {len(self.warnings)} warning(s)\n"
                + "\n".join(f"  - {p}" for p in self.problems))

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.summary()

    def _repr_html_(self) -> str:
        return (f"<p><b>Validation</b>: {len(self.errors)} error(s), {len(self.warnings)} "
                f"warning(s)</p>" + self.to_frame().to_html(index=False))
