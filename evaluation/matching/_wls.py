"""``lm_robust``-style weighted regression for effect estimation after matching/weighting.

A thin wrapper around :func:`evaluation.rct._linalg.ols`, which implements weighted least squares
with estimatr ``lm_robust`` variances (HC0–HC3, CR0, "stata", CR2 with Bell–McCaffrey df; see its
module docstring for the weighted formulas).  What is added here is what the matching
workflow needs: rows with zero weight are dropped (units outside the matched sample), clusters may
be arbitrary labels, estimatr's argument conventions (``se_type=None`` → ``"CR2"`` with clusters,
``"HC2"`` without; ``"stata"``) and error messages worded for a matched sample.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..rct._linalg import ols

SE_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3", "CR0", "stata", "CR2")


@dataclass
class WLSFit:
    coef: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    df: np.ndarray
    n: int
    n_clusters: int | None
    se_type: str


def wls(X, y, *, weights=None, clusters=None, se_type: str | None = None) -> WLSFit:
    """Fit ``y ~ X`` by (weighted) least squares with estimatr ``lm_robust`` variances.

    Parameters
    ----------
    X : (N, K) array, full column rank (an intercept column if wanted).
    y : (N,) array.
    weights : (N,) non-negative array or None.  Rows with zero weight are dropped first.
    clusters : (N,) labels or None.
    se_type : one of ``SE_TYPES``; default ``"CR2"`` with clusters, ``"HC2"`` without (estimatr).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    keep = np.ones(X.shape[0], dtype=bool)
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError("weights must be finite and non-negative")
        keep &= weights > 0
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("outcome or regressors contain missing/non-finite values")
    X, y = X[keep], y[keep]
    w = weights[keep] if weights is not None else None
    cl = None
    if clusters is not None:
        cl_raw = np.asarray(clusters)[keep]
        if pd.isna(pd.Series(cl_raw)).any():
            raise ValueError("cluster variable has missing values among units with positive weight")
        _, cl = np.unique(cl_raw, return_inverse=True)
    if se_type is None:
        se_type = "CR2" if cl is not None else "HC2"
    if se_type not in SE_TYPES:
        raise ValueError(f"se_type {se_type!r} not supported; use one of {SE_TYPES}")
    if se_type in ("CR0", "CR2") and cl is None:
        raise ValueError(f"se_type {se_type!r} needs clusters")
    if se_type == "stata" and cl is None:
        se_type = "HC1"
    n, k = X.shape
    if n <= k:
        raise ValueError(f"only {n} observations with positive weight for {k} coefficients")
    try:
        fit = ols(X, y, weights=w, clusters=cl, se_type=se_type)
    except ValueError as err:
        if "rank deficient" not in str(err):
            raise
        raise ValueError("regression design is rank deficient: a covariate is constant in the matched "
                         "sample or collinear with treatment; drop it") from None
    return WLSFit(coef=fit.beta, vcov=fit.vcov, se=fit.se, df=fit.df, n=n, n_clusters=fit.n_clusters,
                  se_type=se_type)
