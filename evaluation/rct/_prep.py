"""Input checking shared by the trial estimators: treatment arms, missing values, design nesting.

Missing values policy (documented in every estimator): rows with a missing outcome, treatment,
covariate, cluster or stratum are **dropped with a** :class:`MissingDataWarning` **that counts
them per column**; the count is stored in the result (``extra["n_missing_dropped"]``) and ``n`` is
the number of rows actually used.  Nothing is dropped silently.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd


class MissingDataWarning(UserWarning):
    """Rows with missing values were dropped (the count is in the message and in the result)."""


@dataclass
class Arms:
    """Treatment coded as 0 = control, 1..A = the other arms (in ``names[1:]``)."""

    codes: np.ndarray          # (N,) int
    names: list                # names[0] is the control level
    column: str

    @property
    def n_arms(self) -> int:
        return len(self.names) - 1

    def dummies(self) -> np.ndarray:
        return (self.codes[:, None] == np.arange(1, len(self.names))[None, :]).astype(float)

    def labels(self) -> list[str]:
        if self.names[1:] == [1] or self.names[1:] == [True]:
            return [self.column]
        return [str(a) for a in self.names[1:]]


def _show(values, k: int = 5) -> list:
    """A few values for an error message, as plain Python objects."""
    out = []
    for v in list(values)[:k]:
        out.append(v.item() if hasattr(v, "item") else v)
    return out


def require_columns(data: pd.DataFrame, cols: Sequence[str], what: str = "column") -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ValueError(f"{what} {missing} missing from data; available columns: {list(data.columns)}")


def drop_missing(data: pd.DataFrame, cols: Sequence[str], *, where: str = "") -> tuple[pd.DataFrame, int]:
    """Drop rows with a missing value in ``cols``, warning with the count per column."""
    cols = [c for c in dict.fromkeys(cols) if c is not None]
    if not any(data[c].hasnans for c in cols):   # fast path: no copy of the columns
        return data, 0
    na = data[cols].isna()
    bad = na.any(axis=1).to_numpy()
    n_bad = int(bad.sum())
    if n_bad:
        per = {c: int(v) for c, v in na.sum().items() if v}
        warnings.warn(f"{where}dropped {n_bad} of {len(data)} rows with missing values "
                      f"(per column: {per}); n counts the rows used", MissingDataWarning, stacklevel=3)
        data = data.loc[~bad]
    return data, n_bad


def code_treatment(series: pd.Series, control=None, *, column: str | None = None) -> Arms:
    """Code a treatment column as control/arms, raising a clear error if it is not binary/categorical."""
    column = column or str(series.name)
    s = series
    if isinstance(s.dtype, pd.CategoricalDtype):
        levels = list(s.cat.categories)
        counts = s.value_counts()
        empty = [lv for lv in levels if counts.get(lv, 0) == 0]
        if empty:
            raise ValueError(f"treatment '{column}': arm(s) {empty} have no persons (empty arm); "
                             "remove unused categories or check the assignment data")
        if control is None:
            control = "control" if "control" in levels else None
    elif pd.api.types.is_bool_dtype(s):
        levels = [False, True]
        control = False if control is None else control
    elif pd.api.types.is_numeric_dtype(s):
        vals = np.unique(s.to_numpy(dtype=float))
        if control is None:
            if not set(vals.tolist()) <= {0.0, 1.0}:
                shown = vals[:8].tolist()
                raise ValueError(
                    f"treatment '{column}' is not binary/categorical: numeric with {len(vals)} distinct values "
                    f"{shown}{' ...' if len(vals) > 8 else ''}; code it 0/1 (1 = treated), or pass a "
                    "categorical arm column (e.g. strings) and control=")
            levels = [0, 1]
            control = 0
        else:
            if len(vals) > 20 or not np.allclose(vals, np.round(vals)):
                raise ValueError(f"treatment '{column}' is not binary/categorical: numeric with "
                                 f"{len(vals)} distinct values; pass arm labels")
            levels = vals.astype(int).tolist()
        s = s.astype(float)
        control = float(control)
        levels = [float(v) for v in levels]
    else:
        levels = sorted(pd.unique(s).tolist(), key=str)
        if control is None:
            if "control" in levels:
                control = "control"
            else:
                raise ValueError(f"treatment '{column}' has levels {levels}; none is called 'control' — "
                                 "pass control=<level> to name the comparison arm")
    if control is None:
        raise ValueError(f"treatment '{column}' has levels {levels}; pass control=<level>")
    present = pd.unique(s)
    if control not in list(present):
        raise ValueError(f"treatment '{column}': the control arm {control!r} is empty (no persons); "
                         f"arms present: {sorted(map(str, present))}")
    others = [lv for lv in levels if lv != control and lv in list(present)]
    if isinstance(s.dtype, pd.CategoricalDtype):
        others = [lv for lv in levels if lv != control]
    if not others:
        raise ValueError(f"treatment '{column}': only the arm {control!r} has persons; the treatment arm "
                         "is empty, so no effect can be estimated")
    names = [control] + others
    if set(names) == {0.0, 1.0}:
        names = [0, 1]
        codes = s.to_numpy(dtype=float).astype(int)
    elif set(names) == {False, True}:
        codes = s.to_numpy().astype(int)
    else:
        lookup = {v: i for i, v in enumerate(names)}
        codes = s.map(lookup).to_numpy()
        codes = np.asarray(codes, dtype=int)
    return Arms(codes=codes, names=names, column=column)


def factorize(values) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(pd.Series(values), sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def _group_min_varying(values: np.ndarray, groups: np.ndarray, n_groups: int):
    """Per group: the smallest value, and the groups in which ``values`` is not constant."""
    lo = np.full(n_groups, np.iinfo(np.int64).max)
    hi = np.full(n_groups, np.iinfo(np.int64).min)
    np.minimum.at(lo, groups, values)
    np.maximum.at(hi, groups, values)
    return lo, np.flatnonzero(lo != hi)


def check_cluster_treatment(arm_codes: np.ndarray, cl_codes: np.ndarray, n_cl: int, cl_uniques,
                            hint: str = "") -> None:
    """Treatment must be constant within each cluster (the unit of randomisation)."""
    _, bad = _group_min_varying(arm_codes, cl_codes, n_cl)
    if bad.size:
        shown = _show(cl_uniques[i] for i in bad[:5])
        raise ValueError(f"clusters nested wrongly: treatment varies within {bad.size} cluster(s), e.g. "
                         f"{shown}; in a cluster-randomised design every member of a cluster has the same "
                         "arm — check the cluster column (or do not pass clusters= for an individual design)"
                         + hint)


class ClusteringNote(UserWarning):
    """The clusters given are not the unit of randomisation (treatment varies within clusters)."""


def note_clusters_not_randomised(arm_codes: np.ndarray, cl_codes: np.ndarray, n_cl: int,
                                 column: str) -> bool:
    """Warn (a :class:`ClusteringNote`) when treatment varies within clusters; return whether it does.

    Clustering then accounts for the sampling design or for outcomes correlated within an office,
    provider or village, not for the assignment (Abadie, Athey, Imbens & Wooldridge 2023, QJE 138).
    """
    _, bad = _group_min_varying(arm_codes, cl_codes, n_cl)
    if bad.size:
        warnings.warn(f"clusters '{column}' are not the unit of randomisation: treatment varies within "
                      f"{bad.size} of {n_cl} clusters. Standard errors are clustered for the sampling "
                      "design or for outcomes correlated within clusters, not for the assignment "
                      "(Abadie, Athey, Imbens & Wooldridge 2023); if persons were randomised and "
                      "sampled independently, clustering is not needed", ClusteringNote, stacklevel=4)
    return bool(bad.size)


def check_clusters_in_blocks(cl_codes: np.ndarray, n_cl: int, bl_codes: np.ndarray, cl_uniques) -> np.ndarray:
    """Each cluster must lie within one block; returns the block of each cluster."""
    lo, bad = _group_min_varying(bl_codes, cl_codes, n_cl)
    if bad.size:
        shown = _show(cl_uniques[i] for i in bad[:5])
        raise ValueError(f"clusters nested wrongly: {bad.size} cluster(s) span more than one block/stratum, "
                         f"e.g. {shown}; all clusters must be contained within blocks")
    return lo


def check_strata_arms(arm_codes: np.ndarray, st_codes: np.ndarray, st_uniques, n_arms: int,
                      what: str = "stratum") -> np.ndarray:
    """Every stratum must contain every arm; returns the (S, A+1) count table."""
    counts = np.zeros((len(st_uniques), n_arms + 1), dtype=np.int64)
    np.add.at(counts, (st_codes, arm_codes), 1)
    bad = np.flatnonzero((counts == 0).any(axis=1))
    if bad.size:
        shown = [str(st_uniques[i]) for i in bad[:5]]
        raise ValueError(f"{bad.size} {what}(s) have persons in only some arms (e.g. {shown}): a {what} with "
                         f"one arm only carries no comparison; merge it with a neighbouring {what} or drop it "
                         "(and report the exclusion)")
    return counts


def covariate_matrix(data: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric matrix for covariates; bool -> 0/1, strings/categoricals -> dummies (first level dropped)."""
    cols, names = [], []
    for c in covariates:
        s = data[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            cols.append(s.to_numpy(dtype=float))
            names.append(c)
        else:
            codes, uniq = factorize(s)
            if len(uniq) < 2:
                continue
            d = (codes[:, None] == np.arange(1, len(uniq))[None, :]).astype(float)
            cols.append(d)
            names.extend(f"{c}[{u}]" for u in uniq[1:])
    if not cols:
        return np.empty((len(data), 0)), []
    out = np.empty((len(data), sum(1 if x.ndim == 1 else x.shape[1] for x in cols)))
    j = 0
    for x in cols:      # filled in place: one copy (np.hstack of (n, 1) columns made several)
        w = 1 if x.ndim == 1 else x.shape[1]
        out[:, j:j + w] = x.reshape(len(data), w)
        j += w
    return out, names


def strata_dummies(st_codes: np.ndarray, n_st: int) -> np.ndarray:
    return (st_codes[:, None] == np.arange(1, n_st)[None, :]).astype(float)
