"""Result objects shared by every estimator.

Every estimator in :mod:`evaluation` returns an object derived from :class:`Result`, in the style
of linearmodels and pyfixest: named fields (``estimate``, ``se``, ``pvalue``, ``n``), ``ci(level)``,
``tidy()`` (a DataFrame with one row per term), ``summary()`` (printable text), ``_repr_html_``
for Jupyter and ``to_dict()`` for results.json.  Estimators never print.

Column names of ``tidy()`` are fixed across the package::

    term, estimate, se, statistic, pvalue, ci_low, ci_high, df, n

``df`` is the residual degrees of freedom used for t-based inference (``NaN`` means normal
inference), as estimatr reports it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd
from scipy import stats

TIDY_COLUMNS = ["term", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "df", "n"]

#: Fewer clusters than this and cluster-robust standard errors are unreliable (Cameron & Miller
#: 2015, "A practitioner's guide to cluster-robust inference", J. Human Resources 50(2), sec. VI;
#: MacKinnon & Webb 2018): estimators warn (``did.att_gt``) and the summary page states it.
FEW_CLUSTERS = 30


def _crit(level: float, df: float | None) -> float:
    alpha = 1.0 - level
    if df is None or not np.isfinite(df):
        return float(stats.norm.ppf(1 - alpha / 2))
    return float(stats.t.ppf(1 - alpha / 2, df))


def _pvalue(stat: float, df: float | None) -> float:
    if not np.isfinite(stat):
        return float("nan")
    if df is None or not np.isfinite(df):
        return float(2 * stats.norm.sf(abs(stat)))
    return float(2 * stats.t.sf(abs(stat), df))


def tidy_frame(terms: Sequence[Any], estimates, ses, *, df=None, n=None, level: float = 0.95,
               crit: float | None = None, pvalues=None) -> pd.DataFrame:
    """Build a tidy coefficient table from arrays of estimates and standard errors.

    ``crit`` overrides the critical value (e.g. a sup-t value for simultaneous bands);
    ``pvalues`` overrides the computed p-values (e.g. randomisation-inference p-values).
    """
    est = np.asarray(estimates, dtype=float)
    se = np.asarray(ses, dtype=float)
    k = est.shape[0]
    dfs = np.broadcast_to(np.asarray(np.nan if df is None else df, dtype=float), (k,)).copy()
    ns = np.broadcast_to(np.asarray(-1 if n is None else n), (k,)).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    crits = np.array([_crit(level, d) if crit is None else crit for d in dfs])
    pv = (np.array([_pvalue(s, d) for s, d in zip(stat, dfs)]) if pvalues is None
          else np.asarray(pvalues, dtype=float))
    out = pd.DataFrame({
        "term": list(terms), "estimate": est, "se": se, "statistic": stat, "pvalue": pv,
        "ci_low": est - crits * se, "ci_high": est + crits * se, "df": dfs,
        "n": pd.array(np.where(ns < 0, pd.NA, ns), dtype="Int64"),
    })
    return out[TIDY_COLUMNS]


@dataclass
class Result:
    """A single headline estimate with its standard error.

    Parameters
    ----------
    estimate, se : float
        Point estimate and standard error.
    n : int
        Number of observations (persons, units) behind the estimate.
    df : float, optional
        Degrees of freedom for t-based intervals; ``None`` uses the normal distribution.
    term : str
        Name of the estimand (e.g. ``"treat"``, ``"ATT"``).
    method : str
        Human-readable name of the estimator and variance type.
    level : float
        Default confidence level for ``ci()`` and ``tidy()``.
    extra : dict
        Further named quantities (e.g. first-stage F) shown in ``summary()`` and ``to_dict()``.
    """

    estimate: float
    se: float
    n: int | None = None
    df: float | None = None
    term: str = "estimate"
    method: str = ""
    level: float = 0.95
    extra: dict = field(default_factory=dict)
    pvalue_override: float | None = None

    def __post_init__(self):
        self.estimate = float(self.estimate)
        self.se = float(self.se)

    # -- inference -----------------------------------------------------------------------
    @property
    def statistic(self) -> float:
        return self.estimate / self.se if self.se > 0 else float("nan")

    @property
    def pvalue(self) -> float:
        if self.pvalue_override is not None:
            return float(self.pvalue_override)
        return _pvalue(self.statistic, self.df)

    def ci(self, level: float | None = None) -> tuple[float, float]:
        """Confidence interval ``estimate ± crit × se`` (t with ``df`` if set, else normal)."""
        c = _crit(level or self.level, self.df)
        return (self.estimate - c * self.se, self.estimate + c * self.se)

    # -- presentation --------------------------------------------------------------------
    def tidy(self, level: float | None = None) -> pd.DataFrame:
        t = tidy_frame([self.term], [self.estimate], [self.se], df=self.df, n=self.n,
                       level=level or self.level)
        if self.pvalue_override is not None:
            t["pvalue"] = self.pvalue_override
        return t

    def summary(self) -> str:
        lo, hi = self.ci()
        lines = [f"{self.method or type(self).__name__}",
                 f"  {self.term}: {self.estimate:.6g}  (SE {self.se:.6g})",
                 f"  {int(self.level * 100)}% CI [{lo:.6g}, {hi:.6g}]  p = {self.pvalue:.4g}",
                 f"  n = {self.n}" + (f", df = {self.df:.6g}" if self.df is not None else "")]
        for k, v in self.extra.items():
            if isinstance(v, (int, float, np.floating, np.integer, str)):
                lines.append(f"  {k}: {v:.6g}" if isinstance(v, (float, np.floating)) else f"  {k}: {v}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.summary()

    def _repr_html_(self) -> str:
        return (f"<p><b>{self.method or type(self).__name__}</b></p>"
                + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    def to_dict(self) -> dict:
        lo, hi = self.ci()
        d = {"term": self.term, "estimate": self.estimate, "se": self.se, "ci_low": lo,
             "ci_high": hi, "pvalue": self.pvalue, "n": None if self.n is None else int(self.n),
             "df": self.df, "method": self.method, "level": self.level}
        for k, v in self.extra.items():
            if isinstance(v, (int, float, str, bool, np.floating, np.integer)):
                d[k] = v.item() if hasattr(v, "item") else v
        return d


@dataclass
class InvertedResult(Result):
    """A result whose interval was found by inverting a test at ``level`` (randomisation inference,
    wild cluster bootstrap): ``ci()`` returns that interval and cannot give another level.

    ``ci_disjoint`` flags a confidence set with gaps (its outer bounds are reported).
    """

    ci_low: float = np.nan
    ci_high: float = np.nan
    ci_disjoint: bool = False
    #: what was inverted, for the error message of ``ci(level=...)``
    inverted: ClassVar[str] = "the confidence set"

    def ci(self, level: float | None = None) -> tuple[float, float]:
        if level is not None and abs(level - self.level) > 1e-12:
            raise ValueError(f"{self.inverted} was inverted at level {self.level}; "
                             "re-run with level=... to get another level")
        return (self.ci_low, self.ci_high)

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        lo, hi = self.ci(level)
        return pd.DataFrame([{"term": self.term, "estimate": self.estimate, "se": self.se,
                              "statistic": self.statistic, "pvalue": self.pvalue, "ci_low": lo,
                              "ci_high": hi, "df": np.nan, "n": self.n}])[TIDY_COLUMNS]


@dataclass
class TableResult:
    """A set of estimates (coefficients, event-time effects, subgroups) as one result.

    ``table`` is a tidy DataFrame with the :data:`TIDY_COLUMNS`; subclasses add plots.
    """

    table: pd.DataFrame
    method: str = ""
    extra: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        return f"{self.method}\n" + self.table.to_string(index=False, float_format=lambda x: f"{x:.5g}")

    def _repr_html_(self) -> str:
        return (f"<p><b>{self.method}</b></p>"
                + self.table.to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    def to_dict(self) -> dict:
        return {"method": self.method,
                "table": _records(self.table)}


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                clean[k] = None
            elif hasattr(v, "item"):
                clean[k] = v.item()
            else:
                clean[k] = v
        out.append(clean)
    return out
