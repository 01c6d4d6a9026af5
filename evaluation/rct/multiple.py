"""Subgroup effects with interaction tests, and several outcomes with Holm / Romano–Wolf adjustment."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..results import tidy_frame
from ._linalg import ols, vcov_factor
from ._prep import check_strata_arms, factorize, require_columns
from ._results import RCTTable
from .estimators import _as_list, _build_design

__all__ = ["subgroup_effects", "multiple_outcomes", "holm", "romano_wolf"]


def holm(pvalues) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (same as statsmodels ``multipletests(method='holm')``)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def romano_wolf(stat: np.ndarray, boot_stats: np.ndarray) -> np.ndarray:
    """Romano & Wolf (2005, 2016) step-down adjusted p-values.

    ``stat`` (H,) observed |t| statistics; ``boot_stats`` (B, H) null-centred bootstrap t statistics.
    For the hypotheses sorted by decreasing |t|, ``p_(j) = mean_b[max_{k ≥ j} |t*_b,(k)| ≥ |t_(j)|]``,
    made monotone by a running maximum.
    """
    t = np.abs(np.asarray(stat, dtype=float))
    tb = np.abs(np.asarray(boot_stats, dtype=float))
    order = np.argsort(-t, kind="stable")
    tb_sorted = tb[:, order]
    # max over the remaining set k >= j: reverse cumulative max along hypotheses
    tail_max = np.maximum.accumulate(tb_sorted[:, ::-1], axis=1)[:, ::-1]
    p_sorted = (tail_max >= t[order][None, :]).mean(axis=0)
    p_sorted = np.maximum.accumulate(p_sorted)
    out = np.empty_like(p_sorted)
    out[order] = p_sorted
    return np.minimum(out, 1.0)


def multiple_outcomes(data: pd.DataFrame, *, outcomes: Sequence[str], treatment: str,
                      covariates: Sequence[str] = (), method: str = "ancova", se_type: str = "HC2",
                      clusters: str | None = None, strata: str | None = None, control=None,
                      person: str | None = None, draws: int = 2000, seed: int | None = 0,
                      level: float = 0.95) -> RCTTable:
    """ITT on several outcomes with Holm and Romano–Wolf family-wise adjusted p-values.

    One :func:`~evaluation.rct.itt` regression per outcome; the family is every (outcome, arm) pair.

    Notes
    -----
    Romano–Wolf uses a Gaussian multiplier bootstrap of the stacked influence functions: with ψ_ih
    the (HC2- or CR2-adjusted) score of unit/cluster ``i`` for hypothesis ``h`` (so that
    ``se_h² = Σ_i ψ_ih²``), ``t*_bh = Σ_i ξ_bi ψ_ih / se_h`` with ``ξ_bi ~ N(0,1)`` shared across
    outcomes, which keeps the correlation between the outcomes' estimates.  Units are rows (``person``
    if given, to align rows across outcomes with different missingness) or clusters.
    """
    outcomes = _as_list(outcomes)
    if len(outcomes) < 1:
        raise ValueError("give at least one outcome")
    data = data.reset_index(drop=True)
    rows, psis = [], []
    unit_col = clusters or person
    if unit_col is not None:
        ucodes_all, _ = factorize(data[unit_col])
        U = int(ucodes_all.max()) + 1
        ukey = pd.Series(ucodes_all, index=data.index)
    else:
        U = len(data)
        ukey = pd.Series(np.arange(len(data)), index=data.index)
    for y in outcomes:
        des = _build_design(data, outcome=y, treatment=treatment, covariates=covariates, method=method,
                            se_type=se_type, clusters=clusters, strata=strata, control=control,
                            where=f"multiple_outcomes[{y}]: ")
        fit = ols(des.X, des.y, se_type=des.se_type, clusters=des.cl_codes, df_for=des.arm_cols,
                  keep_influence=True)
        c = np.sqrt(vcov_factor(fit.se_type, fit.n, fit.k, fit.n_clusters))
        if des.cl_codes is not None:
            # influence rows are clusters (codes of the used rows); map to global cluster codes
            used = ukey.loc[des.index].to_numpy()
            glob = np.zeros(fit.influence.shape[0], dtype=np.int64)
            glob[des.cl_codes] = used
        else:
            glob = ukey.loc[des.index].to_numpy()
        for a_i, j in enumerate(des.arm_cols):
            psi = np.zeros(U)
            np.add.at(psi, glob, fit.influence[:, j] * c)
            psis.append(psi)
            rows.append((y, des.names[j], fit.beta[j], np.sqrt(fit.vcov[j, j]), fit.df[j], fit.n))
    tab = pd.DataFrame(rows, columns=["outcome", "term", "estimate", "se", "df", "n"])
    t = tidy_frame(tab["term"], tab["estimate"], tab["se"], df=tab["df"].to_numpy(float),
                   n=tab["n"].to_numpy(), level=level)
    t.insert(0, "outcome", tab["outcome"])
    Psi = np.column_stack(psis)                       # (U, H)
    rng = np.random.default_rng(seed)
    se_psi = np.sqrt((Psi ** 2).sum(axis=0))
    boot = np.empty((draws, Psi.shape[1]))
    chunk = 500
    for s in range(0, draws, chunk):
        b = min(chunk, draws - s)
        boot[s:s + b] = (rng.standard_normal((b, U)) @ Psi) / se_psi
    t["p_holm"] = holm(t["pvalue"].to_numpy())
    t["p_romano_wolf"] = romano_wolf(t["statistic"].to_numpy(), boot)
    return RCTTable(t, method=f"ITT on {len(outcomes)} outcomes ({method}, {se_type}); Holm and "
                              f"Romano–Wolf ({draws} multiplier draws) adjusted p-values",
                    extra={"draws": draws, "family_size": len(t)})


def subgroup_effects(data: pd.DataFrame, *, outcome: str, treatment: str, subgroups: Sequence[str],
                     covariates: Sequence[str] = (), se_type: str = "HC2", clusters: str | None = None,
                     control=None, level: float = 0.95, min_n: int = 2) -> RCTTable:
    """ITT within subgroups and a test that the effect is the same across a subgroup's levels.

    For each subgroup variable ``G`` one regression
    ``Y ~ Σ_l 1{G=l} + Σ_l Σ_a 1{G=l}·Z_a + covariates`` (covariates with common slopes) gives the
    effect of arm ``a`` in level ``l``; the interaction test is the robust Wald test of
    ``H0: τ_a,1 = … = τ_a,L`` (``F = W/(L−1)`` on ``L−1`` and the residual df: ``N − K`` for HC types,
    ``S − 1`` for clustered).  Continuous subgroups are not cut automatically: pass a categorical or
    boolean column.  A level in which an arm is empty raises an error naming it.

    Returns a table with one row per (subgroup, level, arm) and ``tests`` with one row per
    (subgroup, arm): ``F``, ``df1``, ``df2``, ``pvalue``.
    """
    subgroups = _as_list(subgroups)
    covariates = [c for c in _as_list(covariates)]
    out, tests = [], []
    for sg in subgroups:
        require_columns(data, [sg])
        covs = [c for c in covariates if c != sg]
        des = _build_design(data, outcome=outcome, treatment=treatment, covariates=covs, method="ancova",
                            se_type=se_type, clusters=clusters, strata=None, control=control,
                            where=f"subgroup_effects[{sg}]: ", extra_cols=[sg])
        lv, lv_u = factorize(data.loc[des.index, sg])
        L = len(lv_u)
        if L < 2:
            raise ValueError(f"subgroup '{sg}' has a single level ({lv_u.tolist()}); nothing to compare")
        check_strata_arms(des.arms.codes, lv, lv_u, des.arms.n_arms, what=f"level of subgroup '{sg}'")
        n = len(des.y)
        A = des.arms.n_arms
        Lmat = (lv[:, None] == np.arange(L)[None, :]).astype(float)       # level dummies (no intercept)
        D = des.arms.dummies()
        inter = (Lmat[:, :, None] * D[:, None, :]).reshape(n, L * A)       # index l*A + a
        cov = des.X[:, 1 + A:]
        X = np.hstack([Lmat, inter, cov])
        idx = [L + l * A + a for l in range(L) for a in range(A)]
        fit = ols(X, des.y, se_type=des.se_type, clusters=des.cl_codes, df_for=idx)
        counts = np.zeros((L, A + 1), dtype=np.int64)
        np.add.at(counts, (lv, des.arms.codes), 1)
        labels = des.arms.labels()
        for a in range(A):
            cols = [L + l * A + a for l in range(L)]
            b = fit.beta[cols]
            V = fit.vcov[np.ix_(cols, cols)]
            t = tidy_frame([labels[a]] * L, b, np.sqrt(np.diag(V)), df=fit.df[cols],
                           n=counts[:, 0] + counts[:, a + 1], level=level)
            t.insert(0, "subgroup", sg)
            t.insert(1, "level", [str(v) for v in lv_u])
            out.append(t)
            R = np.zeros((L - 1, L))
            R[np.arange(L - 1), np.arange(L - 1)] = 1.0
            R[np.arange(L - 1), np.arange(1, L)] = -1.0
            rb = R @ b
            W = float(rb @ np.linalg.solve(R @ V @ R.T, rb))
            df2 = (fit.n - fit.k) if fit.n_clusters is None else (fit.n_clusters - 1)
            F = W / (L - 1)
            tests.append({"subgroup": sg, "term": labels[a], "F": F, "df1": L - 1, "df2": df2,
                          "pvalue": float(stats.f.sf(F, L - 1, df2))})
    table = pd.concat(out, ignore_index=True)
    return RCTTable(table, method=f"ITT by subgroup ({se_type}) with interaction tests",
                    tests=pd.DataFrame(tests))
