"""Covariate handling: formula strings or column lists -> design matrices, missing-value checks."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@dataclass
class Design:
    """Design matrices built from ``covariates`` (a formula string or a list of columns).

    ``model`` has an intercept and reduced (treatment) coding of categorical variables, for the
    propensity model; ``balance`` has no intercept and one indicator per level of every
    categorical variable, as MatchIt/cobalt report balance.
    """

    model: pd.DataFrame
    balance: pd.DataFrame
    variables: list[str]
    formula: str | None = None
    categorical: list[str] = field(default_factory=list)


def _rhs(formula: str) -> str:
    return formula.split("~", 1)[1] if "~" in formula else formula


def referenced_columns(data: pd.DataFrame, covariates) -> list[str]:
    """Columns of ``data`` named by ``covariates`` (list, or tokens of a formula string)."""
    if isinstance(covariates, str):
        toks = _TOKEN.findall(_rhs(covariates))
        seen: list[str] = []
        for t in toks:
            if t in data.columns and t not in seen:
                seen.append(t)
        return seen
    cols = list(covariates)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ValueError(f"covariate column(s) {missing} not in data; available columns include "
                         f"{sorted(map(str, data.columns))[:30]}")
    return cols


def missing_counts(data: pd.DataFrame, columns: Sequence[str], treat: np.ndarray) -> pd.DataFrame:
    """Rows with a missing value, by column and treatment group (only columns with any)."""
    rows = []
    for c in columns:
        na = data[c].isna().to_numpy().copy()
        if data[c].dtype.kind == "f":
            na |= ~np.isfinite(data[c].to_numpy(dtype=float, na_value=np.nan))
        if na.any():
            rows.append({"covariate": c, "missing_treated": int((na & (treat == 1)).sum()),
                         "missing_control": int((na & (treat == 0)).sum())})
    return pd.DataFrame(rows, columns=["covariate", "missing_treated", "missing_control"])


def _is_categorical(s: pd.Series) -> bool:
    return (s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(s.dtype))


def build_design(data: pd.DataFrame, covariates) -> Design:
    """Design matrices for ``covariates`` on ``data`` (no missing values expected)."""
    if isinstance(covariates, str):
        import patsy
        rhs = _rhs(covariates)
        mm = patsy.dmatrix(rhs, data, NA_action="raise", return_type="dataframe")
        mm.index = data.index
        if "Intercept" not in mm.columns:
            mm.insert(0, "Intercept", 1.0)
        bal = mm.drop(columns=["Intercept"])
        variables = referenced_columns(data, covariates)
        cats = [c for c in variables if _is_categorical(data[c])]
        return Design(model=mm.astype(float), balance=bal.astype(float), variables=variables,
                      formula=rhs.strip(), categorical=cats)
    cols = referenced_columns(data, covariates)
    if not cols:
        raise ValueError("no covariates given: pass a list of columns or a formula string")
    model_parts = [pd.Series(1.0, index=data.index, name="Intercept")]
    bal_parts = []
    cats = []
    for c in cols:
        s = data[c]
        if _is_categorical(s) or s.dtype == bool and False:
            cats.append(c)
            levels = sorted(pd.unique(s.astype(str)))
            for j, lev in enumerate(levels):
                ind = (s.astype(str) == lev).astype(float).rename(f"{c}[{lev}]")
                bal_parts.append(ind)
                if j > 0:
                    model_parts.append(ind.rename(f"{c}[T.{lev}]"))
        else:
            v = pd.to_numeric(s.astype(float) if s.dtype == bool else s, errors="raise").astype(float)
            model_parts.append(v.rename(c))
            bal_parts.append(v.rename(c))
    model = pd.concat(model_parts, axis=1)
    balance = pd.concat(bal_parts, axis=1)
    return Design(model=model, balance=balance, variables=cols, formula=None, categorical=cats)
