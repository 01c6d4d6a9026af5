"""Propensity scores, matching, weighting and effect estimation (see the package docstring)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..results import Result
from ._balance import balance_table as _balance_table
from ._design import Design, build_design, missing_counts, referenced_columns
from ._glm import glm_binary, summarise
from ._nn import RULES, nn_match_1d, nn_match_mahalanobis
from ._wls import wls

ORDERS = ("largest", "smallest", "random", "data")
FLOW_COLUMNS = ["step", "treated", "control", "excluded_treated", "excluded_control"]


class TooFewParticipantsError(ValueError):
    """Raised when fewer participants than the pre-specified minimum are available."""


class NoOverlapError(ValueError):
    """Raised when treated and comparison units do not overlap on the propensity score or keys."""


# ------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------
def _treat_array(data: pd.DataFrame, treatment: str) -> np.ndarray:
    if treatment not in data.columns:
        raise ValueError(f"treatment column {treatment!r} not in data")
    s = data[treatment]
    if s.isna().any():
        raise ValueError(f"treatment column {treatment!r} has {int(s.isna().sum())} missing values; "
                         "remove or code them before matching")
    vals = pd.unique(s)
    try:
        ok = set(np.asarray(vals, dtype=float).tolist()) <= {0.0, 1.0}
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"treatment column {treatment!r} must be 0/1 or boolean; found values "
                         f"{sorted(map(str, vals))[:10]}")
    t = s.to_numpy(dtype=float).astype(np.int64)
    if t.sum() == 0 or t.sum() == t.size:
        raise ValueError(f"treatment column {treatment!r} has {int(t.sum())} treated and "
                         f"{int(t.size - t.sum())} comparison units; both groups are needed")
    return t


def check_min_participants(data, treatment: str | None = None, *, minimum: int = 60,
                           what: str = "participants") -> int:
    """Stop when fewer than ``minimum`` participants are available (Justice Data Lab rule: 60).

    ``data`` is a count, or a DataFrame with a 0/1 ``treatment`` column.  Returns the count.

    Raises
    ------
    TooFewParticipantsError
        With the count, the minimum and what to do.
    """
    if isinstance(data, pd.DataFrame):
        if treatment is None:
            raise ValueError("pass treatment= with a DataFrame")
        n = int(_treat_array(data, treatment).sum())
    else:
        n = int(data)
    if n < minimum:
        raise TooFewParticipantsError(
            f"only {n} {what} available, fewer than the pre-specified minimum of {minimum} "
            "(as the Justice Data Lab requires); a matched comparison would be too imprecise and "
            "could disclose individuals. Pool more cohorts/areas or lower min_participants in the "
            "parameter file with a justification.")
    return n


def _prepare(data: pd.DataFrame, treatment: str, columns: Sequence[str], missing: str):
    """Return (data without excluded rows, treat, flow rows, missing table)."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame")
    t = _treat_array(data, treatment)
    flow = [{"step": "input", "treated": int(t.sum()), "control": int((t == 0).sum()),
             "excluded_treated": 0, "excluded_control": 0}]
    miss = missing_counts(data, columns, t)
    if len(miss):
        na_any = np.zeros(len(data), dtype=bool)
        for c in miss["covariate"]:
            na_any |= data[c].isna().to_numpy()
            if data[c].dtype.kind == "f":
                na_any |= ~np.isfinite(data[c].to_numpy(dtype=float, na_value=np.nan))
        detail = "; ".join(f"{r.covariate}: {r.missing_treated} treated, {r.missing_control} "
                           "comparison" for r in miss.itertuples())
        if missing == "error":
            raise ValueError(
                f"missing values in covariates ({detail}); {int((na_any & (t == 1)).sum())} treated "
                f"and {int((na_any & (t == 0)).sum())} comparison units affected. Impute them, or "
                "pass missing='exclude' to drop these units (they are then counted in the sample "
                "flow).")
        if missing != "exclude":
            raise ValueError("missing must be 'error' or 'exclude'")
        ex1, ex0 = int((na_any & (t == 1)).sum()), int((na_any & (t == 0)).sum())
        data = data.loc[~na_any]
        t = t[~na_any]
        flow.append({"step": "missing covariates (excluded)", "treated": int(t.sum()),
                     "control": int((t == 0).sum()), "excluded_treated": ex1,
                     "excluded_control": ex0})
        _treat_array(data, treatment)
    return data, t, flow, miss


# ------------------------------------------------------------------------------------------
# propensity score
# ------------------------------------------------------------------------------------------
@dataclass
class PropensityModel:
    """A fitted propensity-score model (binomial GLM fitted as R ``glm``).

    Attributes
    ----------
    score : fitted probabilities P(treated | X).
    linear_predictor : X'b (logit or probit scale).
    coef, se : coefficients and model-based standard errors (as ``summary.glm``).
    """

    coef: pd.Series
    se: pd.Series
    score: np.ndarray
    linear_predictor: np.ndarray
    link: str
    converged: bool
    iterations: int
    deviance: float
    n: int
    formula: str | None = None

    def tidy(self) -> pd.DataFrame:
        z = self.coef / self.se
        return pd.DataFrame({"term": self.coef.index, "estimate": self.coef.values,
                             "se": self.se.values, "statistic": z.values,
                             "pvalue": 2 * stats.norm.sf(np.abs(z.values))})

    def summary(self) -> str:
        return (f"Propensity score: binomial GLM ({self.link}), n = {self.n}, deviance = "
                f"{self.deviance:.4f}, {'converged' if self.converged else 'NOT converged'} in "
                f"{self.iterations} iterations\n"
                + self.tidy().to_string(index=False, float_format=lambda x: f"{x:.5g}"))

    def _repr_html_(self) -> str:
        return (f"<p><b>Propensity score</b> ({self.link}), n = {self.n}</p>"
                + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}"))


def _fit_ps(design: Design, t: np.ndarray, link: str) -> PropensityModel:
    X = np.asfortranarray(design.model.to_numpy(dtype=float))   # pandas' layout: no copy
    S = summarise(X, t.astype(float))            # X'X, X'1, X'y, ranges: one pass for all checks
    rank = S.rank()
    if rank < X.shape[1]:
        raise ValueError(f"propensity model design is rank deficient (rank {rank} < {X.shape[1]} "
                         f"columns {list(design.model.columns)}): drop constant or collinear covariates")
    sep = []
    for j, c in enumerate(design.model.columns):
        if S.two_valued(j, X):
            for v, n_v, t_v in S.level_counts(j):
                if t_v in (0, n_v):
                    sep.append(f"{c} = {v:g}: {n_v} units, all "
                               f"{'participants' if t_v == n_v else 'comparison units'}")
    if sep:
        warnings.warn("propensity model: quasi-separation, these units have no comparable counterpart "
                      "and the coefficient is not identified (" + "; ".join(sep) + "); drop or "
                      "coarsen the covariate, or restrict the sample", RuntimeWarning, stacklevel=3)
    fit = glm_binary(X, t, link=link, summary=S)
    names = list(design.model.columns)
    ps = fit.fitted
    tiny = 10 * np.finfo(float).eps
    n01 = int(((ps < tiny) | (ps > 1 - tiny)).sum())
    if not fit.converged:
        warnings.warn(f"propensity model did not converge in {fit.iterations} iterations "
                      f"({n01} units with fitted probabilities numerically 0 or 1): the covariates "
                      "(nearly) separate the groups", RuntimeWarning, stacklevel=3)
    elif n01:
        warnings.warn(f"propensity model: fitted probabilities numerically 0 or 1 for {n01} units "
                      f"({int(((ps < tiny) | (ps > 1 - tiny))[t == 1].sum())} treated): "
                      "(quasi-)separation, these units have no comparable counterpart",
                      RuntimeWarning, stacklevel=3)
    return PropensityModel(coef=pd.Series(fit.coef, index=names),
                           se=pd.Series(np.sqrt(np.diag(fit.vcov)), index=names),
                           score=ps, linear_predictor=fit.linear_predictor, link=link,
                           converged=fit.converged, iterations=fit.iterations,
                           deviance=fit.deviance, n=int(t.size), formula=design.formula)


def _check_overlap(ps: np.ndarray, t: np.ndarray):
    p1, p0 = ps[t == 1], ps[t == 0]
    if p1.min() > p0.max() or p1.max() < p0.min():
        raise NoOverlapError(
            f"no overlap: propensity scores of the {p1.size} treated units lie in "
            f"[{p1.min():.4g}, {p1.max():.4g}] and of the {p0.size} comparison units in "
            f"[{p0.min():.4g}, {p0.max():.4g}]; the covariates separate the groups completely. "
            "Choose a comparison pool that resembles the participants, or drop the separating "
            "covariate.")
    # separation shows up as (near) 0/1 scores even when ranges touch
    tiny = 1e-8
    if np.all(p1 > 1 - tiny) and np.all(p0 < tiny):
        raise NoOverlapError("no overlap: the propensity model separates treated and comparison "
                             "units perfectly")


def propensity_score(data: pd.DataFrame, *, treatment: str, covariates, link: str = "logit",
                     missing: str = "error") -> PropensityModel:
    """Estimate a propensity score by logit (default) or probit.

    Parameters
    ----------
    data : DataFrame, one row per unit.
    treatment : 0/1 column.
    covariates : list of columns (strings become indicator sets) or a formula string
        (``"age + I(age**2) + C(office)"``, patsy syntax; a left-hand side is ignored).
    link : "logit" or "probit".
    missing : "error" (default) or "exclude" (rows with missing covariates dropped).

    Notes
    -----
    Fitted by IRLS exactly as R ``glm(family = binomial)``, so scores equal MatchIt's
    ``distance = "glm"`` to floating-point precision.
    """
    cols = referenced_columns(data, covariates)
    data, t, _, _ = _prepare(data, treatment, cols, missing)
    return _fit_ps(build_design(data, covariates), t, link)


# ------------------------------------------------------------------------------------------
# matched / weighted samples
# ------------------------------------------------------------------------------------------
@dataclass
class WeightedSample:
    """A comparison built by matching or weighting: units, treatment, weights, (subclass).

    Use :meth:`balance` for balance before/after, :meth:`effect` for the effect estimate,
    :meth:`love_plot` and :meth:`overlap_plot` for figures, ``flow`` for the sample flow.
    """

    data: pd.DataFrame
    treatment: str
    treat: np.ndarray
    weights: np.ndarray
    design: Design
    method: str
    estimand: str = "ATT"
    subclass: np.ndarray | None = None
    ps: PropensityModel | None = None
    distance: np.ndarray | None = None
    flow: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: pd.DataFrame = field(default_factory=pd.DataFrame)
    options: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    # -- samples ------------------------------------------------------------------------
    @property
    def n_treated(self) -> int:
        return int(((self.treat == 1) & (self.weights > 0)).sum())

    @property
    def n_control(self) -> int:
        return int(((self.treat == 0) & (self.weights > 0)).sum())

    def matched_data(self) -> pd.DataFrame:
        """Units with positive weight, with ``distance``, ``weights`` and ``subclass`` columns
        (as MatchIt ``match.data``)."""
        out = self.data.copy()
        if self.distance is not None:
            out["distance"] = self.distance
        out["weights"] = self.weights
        if self.subclass is not None:
            out["subclass"] = self.subclass
        return out.loc[self.weights > 0]

    def sample_sizes(self) -> pd.DataFrame:
        """Counts as MatchIt's summary: all, matched, effective (ESS), unmatched, discarded."""
        rows = {}
        disc = self.extra.get("discarded", np.zeros(self.treat.size, dtype=bool))
        for g, name in ((1, "treated"), (0, "control")):
            i = self.treat == g
            w = self.weights[i]
            ess = w.sum() ** 2 / (w ** 2).sum() if (w > 0).any() else 0.0
            rows[name] = {"all": int(i.sum()), "matched": int((w > 0).sum()), "ess": float(ess),
                          "unmatched": int(((w == 0) & ~disc[i]).sum()),
                          "discarded": int(disc[i].sum())}
        return pd.DataFrame(rows).T.rename_axis("group").reset_index()

    # -- balance ------------------------------------------------------------------------
    def balance(self, *, include_distance: bool = True, extra_covariates=None) -> pd.DataFrame:
        """Balance table: standardised mean differences, variance ratios and eCDF statistics
        before (``*_before``) and after (``*_after``) matching/weighting, with flags.

        SMDs are standardised by the treated-group SD (ATT) or the pooled SD (ATE) from the
        unmatched sample, as MatchIt's ``summary()``.  ``extra_covariates``: further columns
        (list or formula) to check balance on.
        """
        X = self.design.balance
        if extra_covariates is not None:
            X = pd.concat([X, build_design(self.data, extra_covariates).balance], axis=1)
            X = X.loc[:, ~X.columns.duplicated()]
        dist = self.distance if (include_distance and self.distance is not None) else None
        return _balance_table(X, self.treat, self.weights, estimand=self.estimand, distance=dist)

    # -- effect ---------------------------------------------------------------------------
    def effect(self, outcome, *, covariates=None, se_type: str | None = None, cluster=None,
               level: float = 0.95) -> Result:
        """Effect of treatment on ``outcome`` by weighted least squares in the matched sample.

        Parameters
        ----------
        outcome : column of ``data`` or an array aligned with it.
        covariates : optional list/formula of covariates added to the regression
            (doubly robust adjustment).
        se_type : default ``"CR2"`` clustered on pair/subclass when the method defines
            subclasses (matching without replacement, CEM), else ``"HC2"`` (estimatr defaults).
        cluster : override the cluster variable (column name or array).

        Notes
        -----
        ``lm_robust(y ~ treat [+ X], weights = weights, clusters = subclass)`` as recommended in
        MatchIt's "Estimating Effects After Matching" vignette; the estimate is the coefficient on
        treatment, intervals use the Bell–McCaffrey degrees of freedom for CR2.
        """
        y = self._column(outcome, "outcome")
        w = self.weights.astype(float)
        use = w > 0
        na = use & ~np.isfinite(y)
        n_na = int(na.sum())
        if n_na:
            warnings.warn(f"outcome {outcome if isinstance(outcome, str) else ''!s}: missing for "
                          f"{int((na & (self.treat == 1)).sum())} treated and "
                          f"{int((na & (self.treat == 0)).sum())} comparison units in the matched "
                          "sample; they are excluded from this estimate (see extra['n_missing_outcome'])",
                          RuntimeWarning, stacklevel=2)
            use &= np.isfinite(y)
        X = [np.ones(use.sum()), self.treat[use].astype(float)]
        names = ["(Intercept)", self.treatment]
        if covariates is not None:
            cd = build_design(self.data.loc[use], covariates).model.drop(columns=["Intercept"])
            X += [cd[c].to_numpy(dtype=float) for c in cd.columns]
            names += list(cd.columns)
        X = np.column_stack(X)
        cl = None
        if cluster is not None:
            cl = self._column(cluster, "cluster", numeric=False)[use]
        elif se_type not in ("HC0", "HC1", "HC2", "HC3", "classical") and self.subclass is not None:
            cl = self.subclass[use]
        if (self.treat[use] == 1).sum() == 0 or (self.treat[use] == 0).sum() == 0:
            raise ValueError("the matched sample has no treated or no comparison units with an "
                             "observed outcome")
        fit = wls(X, y[use], weights=w[use], clusters=cl, se_type=se_type)
        j = 1
        df = float(fit.df[j])
        desc = {"CR2": "CR2 (Bell–McCaffrey) SEs clustered on " + ("pair/subclass" if cluster is None else "cluster"),
                "HC2": "HC2 robust SEs"}.get(fit.se_type, f"{fit.se_type} SEs")
        res = Result(estimate=fit.coef[j], se=fit.se[j], n=int(use.sum()), df=df,
                     term=self.estimand, level=level,
                     method=f"{self.method}: weighted regression of "
                            f"{outcome if isinstance(outcome, str) else 'outcome'} on treatment"
                            f"{' and covariates' if covariates is not None else ''}, {desc}",
                     extra={"n_treated": int((self.treat[use] == 1).sum()),
                            "n_control": int((self.treat[use] == 0).sum()),
                            "n_clusters": fit.n_clusters, "se_type": fit.se_type,
                            "n_missing_outcome": n_na,
                            "outcome": outcome if isinstance(outcome, str) else ""})
        return res

    def _column(self, v, what, numeric=True):
        if isinstance(v, str):
            if v not in self.data.columns:
                raise ValueError(f"{what} column {v!r} not in the matched data")
            s = self.data[v]
            return s.to_numpy(dtype=float, na_value=np.nan) if numeric else s.to_numpy()
        a = np.asarray(v, dtype=float if numeric else None)
        if a.shape[0] != len(self.data):
            raise ValueError(f"{what} array has {a.shape[0]} values for {len(self.data)} units")
        return a

    # -- presentation ---------------------------------------------------------------------
    def summary(self) -> str:
        bal = self.balance()
        return (f"{self.method} ({self.estimand})\n"
                + self.sample_sizes().to_string(index=False) + "\n\n"
                + bal[["smd_before", "smd_after", "var_ratio_after", "ecdf_max_after", "smd_flag"]]
                .to_string(float_format=lambda x: f"{x:.4f}"))

    def _repr_html_(self) -> str:
        return (f"<p><b>{self.method}</b> ({self.estimand})</p>"
                + self.sample_sizes().to_html(index=False, float_format=lambda x: f"{x:.1f}"))

    def love_plot(self, ax=None, *, abs_smd: bool = True, thresholds=(0.1, 0.25)):
        """Love plot of standardised mean differences before and after (seaborn)."""
        from ._plots import love_plot
        return love_plot(self.balance(), ax=ax, abs_smd=abs_smd, thresholds=thresholds)

    def overlap_plot(self, ax=None, *, score: str = "ps", threshold: int = 5):
        """Distribution of the propensity score by group, before and after (seaborn)."""
        from ._plots import overlap_plot
        if self.ps is None and self.distance is None:
            raise ValueError("no propensity score to plot")
        s = self.ps.score if self.ps is not None else self.distance
        return overlap_plot(s, self.treat, self.weights, ax=ax, threshold=threshold)


MatchedSample = WeightedSample


def _flow_frame(rows):
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)


def _exact_codes(data: pd.DataFrame, exact) -> tuple[np.ndarray | None, list[str]]:
    if exact is None or (not isinstance(exact, str) and len(exact) == 0):
        return None, []
    cols = [exact] if isinstance(exact, str) else list(exact)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ValueError(f"exact-matching column(s) {missing} not in data")
    key = data[cols].astype(str).agg("\x1f".join, axis=1) if len(cols) > 1 else data[cols[0]].astype(str)
    codes, _ = pd.factorize(key, sort=True)
    return codes.astype(np.int64), cols


def _resolve_order(order, distance: str, estimand: str, uses_ps: bool) -> str:
    """MatchIt's ``m.order`` default: "largest" ("smallest" for the ATC) when a propensity
    score is the distance (or, with Mahalanobis distance, is used for a caliper or for discarding,
    MatchIt's ``mahvars``), "data" for Mahalanobis distance alone (matchit2nearest.R)."""
    if order is None:
        if not uses_ps:
            return "data"
        return "smallest" if estimand == "ATC" else "largest"
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS} or None (MatchIt's default); got {order!r}")
    if not uses_ps and order in ("largest", "smallest"):
        raise ValueError(f"order={order!r} sorts by the propensity score, but Mahalanobis matching "
                         "without a caliper or discard uses none (MatchIt refuses this too); use "
                         "order='data' (default) or 'random', or give a propensity-score caliper")
    return order


def _shortage_warning(codes, f, disc, ratio, ex_cols, estimand):
    """Warn, as MatchIt does, when without replacement there are too few units to match to."""
    shortage = []
    for e in np.unique(codes):
        ie = codes == e
        n1e = int(((f == 1) & ie).sum())
        n0e = int(((f == 0) & ie & ~disc).sum())
        if n1e and n0e < ratio * n1e:
            shortage.append((n1e, n0e))
    if shortage:
        lack = sum(max(0, ratio * a - b) for a, b in shortage)
        where = "in some exact strata" if ex_cols else "overall"
        pool, focal = (("comparison units", "participants") if estimand == "ATT"
                       else ("participants", "comparison units"))
        warnings.warn(f"fewer {pool} than needed without replacement {where}: "
                      f"{sum(b for _, b in shortage)} {pool} for "
                      f"{sum(a for a, _ in shortage)} {focal} × ratio {ratio} "
                      f"(short by {lack}); not all {focal} will get {ratio} match(es)",
                      RuntimeWarning, stacklevel=3)


def _match_strata(d, f, disc, codes, common, order, ratio, reuse_max, cal_dist, rule, Z, rng):
    """Match every exact stratum; returns the (n_focal, ratio) match matrix over all units."""
    ind_f = np.flatnonzero(f == 1)
    mm_all = np.full((ind_f.size, ratio), -1, dtype=np.int64)
    for e in np.unique(codes[f == 1]):
        if e not in common:
            continue
        ie = np.flatnonzero(codes == e)
        fe, de = f[ie], d[ie]
        n1e = int(fe.sum())
        if order == "largest":
            o = np.argsort(-de[fe == 1], kind="stable")
        elif order == "smallest":
            o = np.argsort(de[fe == 1], kind="stable")
        elif order == "random":
            o = rng.permutation(n1e)
        else:
            o = np.arange(n1e)
        if Z is not None:
            mm = nn_match_mahalanobis(Z[ie], fe, o, ratio, disc[ie], reuse_max,
                                      ps=de if cal_dist is not None else None, caliper=cal_dist)
        else:
            mm = nn_match_1d(de, fe, o, ratio, disc[ie], reuse_max, cal_dist, rule=rule)
        rows = np.searchsorted(ind_f, ie[fe == 1])
        mm_all[rows] = np.where(mm >= 0, ie[np.clip(mm, 0, None)], -1)
    return mm_all


def _flow_row(step, t, keep, ex_t=0, ex_c=0):
    return {"step": step, "treated": int(((t == 1) & keep).sum()),
            "control": int(((t == 0) & keep).sum()), "excluded_treated": int(ex_t),
            "excluded_control": int(ex_c)}


def nearest_neighbor(data: pd.DataFrame, *, treatment: str, covariates, ratio: int = 1,
                     replace: bool = False, caliper: float | None = None,
                     order: str | None = None, exact=(), distance: str = "logit",
                     discard: str = "none", estimand: str = "ATT", missing: str = "error",
                     min_participants: int | None = None, seed: int | None = None,
                     rule: str = "nearest") -> WeightedSample:
    """Greedy nearest-neighbour matching, as MatchIt (>= 4.5.4) ``method = "nearest"``.

    Parameters
    ----------
    data : DataFrame, one row per unit (persons); all columns are kept in the result.
    treatment : 0/1 column (1 = participant).
    covariates : list of columns or a formula string (patsy), for the propensity model and the
        balance table.
    ratio : number of units matched to each focal unit (k:1).
    replace : match with replacement.
    caliper : maximum distance in standard deviations of the distance measure (SD over all
        non-discarded units, as MatchIt's ``std.caliper = TRUE``); focal units without a
        match inside the caliper stay unmatched and are counted in ``flow``.
    order : matching order of the focal units: "largest" (highest score first), "smallest",
        "random" (uses ``seed``) or "data".  ``None`` (default) is MatchIt's default:
        "largest" for the ATT and "smallest" for the ATC when matching on a propensity score,
        "data" for Mahalanobis distance without a caliper or discard.
    exact : columns whose values must agree within a pair (e.g. office, entry month).
    distance : "logit" or "probit" propensity score, or "mahalanobis" (Mahalanobis distance
        on the covariates with the pooled within-group covariance; a caliper or ``discard`` then
        applies to the logit propensity score, as MatchIt with ``mahvars``).
    discard : common-support trimming before matching: "none", "both", "treated", "control"
        (units outside the range of the other group's scores; counted in ``flow``).
    estimand : "ATT" (default; each participant gets comparison units) or "ATC" (each
        comparison unit gets participants; MatchIt's ``estimand = "ATC"``, which is matching with
        the treatment labels swapped).  The ATE needs :func:`ipw`, :func:`entropy_balance` or
        :func:`cem`.
    missing : "error" or "exclude" for missing covariate values.
    min_participants : if set, raise :class:`TooFewParticipantsError` below this many treated.
    seed : random seed for ``order="random"``.
    rule : "nearest" (default and the only rule for new work) takes the truly nearer of the
        nearest available units below and above a focal unit's score (the lower on a tie), as
        MatchIt >= 4.5.4.  "matchit_4_5_1_bug" emulates a bug of MatchIt 4.5.1-4.5.3 (integer
        ``abs`` in src/nn_matchC_vec.cpp, MatchIt issue #163, fixed in 4.5.4 by commit 4b5b2f8):
        the lower unit is always taken and calipers never bind.  It exists only to reproduce
        analyses made with those versions and warns when used.

    Returns
    -------
    WeightedSample
        with ``weights`` (MatchIt's matching weights), ``subclass`` (pair id, without
        replacement), ``distance``, ``ps``, ``match_matrix`` in ``extra`` (rows: focal units in
        data order) and ``flow``.

    Notes
    -----
    The algorithm is MatchIt's ``nn_matchC_vec``: units are sorted by the score; for each round
    of ``ratio`` and each focal unit in ``order``, the nearest available unit of the other group
    to the left and to the right in sorted order is found and the closer one taken (the left one
    on a tie).  Without replacement, all focal units receive their first match before any
    receives a second.  Matching weights: focal units 1; a matched unit gets the sum over its
    focal units of 1 / (number of matches of that focal unit), rescaled so these weights sum to
    the number of matched units of that group.  With replacement the order does not matter and
    is set to "data", as MatchIt does.

    References
    ----------
    Ho, Imai, King & Stuart (2011), MatchIt: Nonparametric Preprocessing for Parametric Causal
    Inference, JSS 42(8).  Stuart (2010), Matching methods for causal inference, Stat. Sci. 25(1).
    """
    estimand = str(estimand).upper()
    if estimand not in ("ATT", "ATC"):
        raise ValueError(f"nearest_neighbor estimates the ATT or the ATC (MatchIt estimand); got "
                         f"{estimand!r}. For the ATE use ipw, entropy_balance or cem")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}")
    if rule == "matchit_4_5_1_bug":
        warnings.warn("rule='matchit_4_5_1_bug' emulates a bug of MatchIt 4.5.1-4.5.3 (issue #163, "
                      "fixed in 4.5.4): pairs are not nearest and calipers do not bind; use it only "
                      "to reproduce an analysis made with those versions", UserWarning, stacklevel=2)
    ratio = int(ratio)
    if ratio < 1:
        raise ValueError("ratio must be a positive integer")
    if discard not in ("none", "both", "treated", "control"):
        raise ValueError("discard must be 'none', 'both', 'treated' or 'control'")
    if distance not in ("logit", "probit", "mahalanobis"):
        raise ValueError("distance must be 'logit', 'probit' or 'mahalanobis'")
    if caliper is not None and not caliper > 0:
        raise ValueError("caliper must be positive (in SD units of the distance)")
    order = _resolve_order(order, distance, estimand,
                           distance != "mahalanobis" or caliper is not None or discard != "none")
    if replace:
        order = "data"             # as MatchIt (reuse.max >= n1): no unit is used up, order is moot
    cols = referenced_columns(data, covariates)
    ex_cols = [exact] if isinstance(exact, str) else list(exact or ())
    data, t, flow, miss = _prepare(data, treatment, cols + [c for c in ex_cols if c not in cols], missing)
    if min_participants is not None:
        check_min_participants(int(t.sum()), minimum=min_participants)
    design = build_design(data, covariates)
    link = "probit" if distance == "probit" else "logit"
    ps = _fit_ps(design, t, link)
    _check_overlap(ps.score, t)
    d = ps.score
    n = t.size
    f = t if estimand == "ATT" else 1 - t                      # focal group indicator
    disc = np.zeros(n, dtype=bool)
    if discard != "none":
        p1, p0 = d[t == 1], d[t == 0]
        if discard in ("both", "control"):
            disc |= (t == 0) & ((d < p1.min()) | (d > p1.max()))
        if discard in ("both", "treated"):
            disc |= (t == 1) & ((d < p0.min()) | (d > p0.max()))
        flow.append(_flow_row("outside common support (discarded)", t, ~disc,
                              (disc & (t == 1)).sum(), (disc & (t == 0)).sum()))
    cal_dist = None if caliper is None else float(caliper) * float(np.std(d[~disc], ddof=1))
    codes, ex_cols = _exact_codes(data, ex_cols)
    if codes is None:
        codes = np.zeros(n, dtype=np.int64)
    if not replace:
        _shortage_warning(codes, f, disc, ratio, ex_cols, estimand)
    common = set(codes[f == 1]) & set(codes[(f == 0) & ~disc])
    if not common:
        raise NoOverlapError(f"no matches possible: no exact stratum of {ex_cols} contains both "
                             "participants and comparison units")
    Z = _whiten(design.balance.to_numpy(dtype=float), t, disc) if distance == "mahalanobis" else None
    mm_all = _match_strata(d, f, disc, codes, common, order, ratio, n if replace else 1, cal_dist,
                           rule, Z, np.random.default_rng(seed))
    ind_f = np.flatnonzero(f == 1)
    weights, subclass = _weights_from_mm(mm_all, ind_f, n, replace)
    matched_f = (mm_all >= 0).any(axis=1)
    if not matched_f.any():
        raise NoOverlapError("no unit could be matched (caliper too narrow or no units of the other "
                             "group in the exact strata)")
    unmatched = (~matched_f) & ~disc[ind_f]
    if unmatched.any():
        lost = np.zeros(n, dtype=bool)
        lost[ind_f[unmatched]] = True
        step = ("no comparison unit within caliper/exact strata" if estimand == "ATT"
                else "no participant within caliper/exact strata")
        flow.append(_flow_row(step, t, ~disc & ~lost,
                              (lost & (t == 1)).sum(), (lost & (t == 0)).sum()))
    prev = flow[-1]
    fin = _flow_row("matched sample", t, weights > 0)
    fin["excluded_treated"] = prev["treated"] - fin["treated"]
    fin["excluded_control"] = prev["control"] - fin["control"]
    flow.append(fin)
    opts = {"ratio": ratio, "replace": replace, "caliper": caliper, "order": order,
            "exact": ex_cols, "distance": distance, "discard": discard, "rule": rule,
            "estimand": estimand}
    desc = (f"Nearest-neighbour matching {ratio}:1 {'with' if replace else 'without'} replacement"
            + (f" ({estimand}: participants matched to comparison units)" if estimand == "ATC" else "")
            + (f", caliper {caliper} SD" if caliper is not None else "")
            + (f", exact on {', '.join(ex_cols)}" if ex_cols else "")
            + (", Mahalanobis distance" if distance == "mahalanobis" else f", {link} propensity score")
            + (", MatchIt 4.5.1 bug emulation" if rule != "nearest" else ""))
    return WeightedSample(data=data, treatment=treatment, treat=t, weights=weights, design=design,
                          method=desc, estimand=estimand, subclass=subclass, ps=ps, distance=d,
                          flow=_flow_frame(flow), missing=miss, options=opts,
                          extra={"match_matrix": mm_all, "discarded": disc,
                                 "caliper_distance_units": cal_dist,
                                 "unmatched_focal": int(unmatched.sum()),
                                 "unmatched_treated": int(unmatched.sum()) if estimand == "ATT" else 0})


def _whiten(X: np.ndarray, t: np.ndarray, disc: np.ndarray) -> np.ndarray:
    """Transform so Euclidean distance = Mahalanobis distance with the pooled within-group
    covariance (computed on non-discarded units)."""
    keep = ~disc
    Xk, tk = X[keep], t[keep]
    S = np.zeros((X.shape[1], X.shape[1]))
    dof = 0
    for g in (0, 1):
        Xg = Xk[tk == g]
        Xg = Xg - Xg.mean(axis=0)
        S += Xg.T @ Xg
        dof += Xg.shape[0] - 1
    S /= dof
    vals, vecs = np.linalg.eigh(S)
    inv = np.where(vals > 1e-10 * vals.max(), 1 / np.sqrt(np.clip(vals, 1e-300, None)), 0.0)
    return X @ (vecs * inv)


def _weights_from_mm(mm: np.ndarray, ind1: np.ndarray, n: int, replace: bool):
    """MatchIt ``weights.matrix`` (ATT) and ``mm2subclass``."""
    w = np.zeros(n)
    has = mm >= 0
    k = has.sum(axis=1)
    matched = k > 0
    w[ind1[matched]] = 1.0
    rows, cols = np.nonzero(has)
    np.add.at(w, mm[rows, cols], 1.0 / k[rows])
    ctrl_mask = np.ones(n, dtype=bool)
    ctrl_mask[ind1] = False
    cw = w[ctrl_mask]
    if cw.sum() > 0:
        w[ctrl_mask] = cw * (cw > 0).sum() / cw.sum()
    subclass = None
    if not replace:
        subclass = np.full(n, np.nan)
        ids = np.cumsum(matched)  # 1..n_matched in data order of treated
        subclass[ind1[matched]] = ids[matched]
        subclass[mm[rows, cols]] = ids[rows]
    return w, subclass
