"""Result objects of the trial estimators, derived from :mod:`evaluation.results`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..results import Result, TableResult, tidy_frame, _records


@dataclass
class TrialResult(Result):
    """Effect(s) of a trial's arms against control.

    ``estimate``/``se``/``df``/``term`` describe the first (for two-arm trials the only) arm;
    ``arms`` holds one row per arm vs control (columns ``term, estimate, se, df, n``) and ``tidy()``
    returns them all.  ``design`` names the variance estimator used.
    """

    arms: pd.DataFrame | None = None
    design: str = ""
    coefficients: pd.DataFrame | None = None   # full coefficient table (regression estimators)

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        if self.arms is None or len(self.arms) <= 1:
            return super().tidy(level)
        a = self.arms
        return tidy_frame(a["term"].tolist(), a["estimate"], a["se"], df=a["df"].to_numpy(dtype=float),
                          n=a["n"].to_numpy(), level=level or self.level)

    def summary(self) -> str:
        if self.arms is None or len(self.arms) <= 1:
            text = super().summary()
        else:
            text = (f"{self.method}\n"
                    + self.tidy().to_string(index=False, float_format=lambda x: f"{x:.5g}"))
        return text + (f"\n  design: {self.design}" if self.design else "")

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["design"] = self.design
        if self.arms is not None and len(self.arms) > 1:
            d["arms"] = _records(self.tidy())
        return d


@dataclass
class RandomizationResult(Result):
    """Randomisation-inference result: ``pvalue`` is the permutation p-value.

    ``se`` is the standard deviation of the permutation distribution (``distribution``), shown for
    orientation; the confidence interval from ``ci()`` is a normal approximation with that SD.
    """

    distribution: np.ndarray | None = field(default=None, repr=False)
    arms: pd.DataFrame | None = None

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        if self.arms is None or len(self.arms) <= 1:
            return super().tidy(level)
        a = self.arms
        return tidy_frame(a["term"].tolist(), a["estimate"], a["se"], n=a["n"].to_numpy(),
                          level=level or self.level, pvalues=a["pvalue"].to_numpy())


class RCTTable(TableResult):
    """A table of effects (months, subgroups, outcomes, windows) with optional extra tables."""

    def __init__(self, table: pd.DataFrame, method: str = "", extra: dict | None = None,
                 tests: pd.DataFrame | None = None):
        super().__init__(table=table, method=method, extra=extra or {})
        self.tests = tests

    def summary(self) -> str:
        text = super().summary()
        if self.tests is not None:
            text += "\n\n" + self.tests.to_string(index=False, float_format=lambda x: f"{x:.5g}")
        return text

    def _repr_html_(self) -> str:
        html = super()._repr_html_()
        if self.tests is not None:
            html += self.tests.to_html(index=False, float_format=lambda x: f"{x:.4g}")
        return html

    def to_dict(self) -> dict:
        d = super().to_dict()
        for k, v in self.extra.items():
            if isinstance(v, (int, float, str, bool, np.floating, np.integer)):
                d[k] = v.item() if hasattr(v, "item") else v
        if self.tests is not None:
            d["tests"] = _records(self.tests)
        return d
