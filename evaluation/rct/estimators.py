"""Core trial estimators: difference in means, regression-adjusted ITT, LATE and randomisation inference.

Definitions follow R estimatr (``difference_in_means``, ``lm_robust``, ``lm_lin``, ``iv_robust``)
so a user moving from R gets the same numbers; see :mod:`evaluation.rct._linalg` for the variances.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ._linalg import normalise_se_type, ols, robust_vcov
from ._prep import (check_cluster_treatment, check_clusters_in_blocks, check_strata_arms,
                    note_clusters_not_randomised,
                    code_treatment, covariate_matrix, drop_missing, factorize, require_columns,
                    strata_dummies)
from ._results import RandomizationResult, TrialResult

__all__ = ["difference_in_means", "itt", "late", "randomization_inference"]


def _arms_frame(terms, est, se, df, n) -> pd.DataFrame:
    return pd.DataFrame({"term": list(terms), "estimate": np.asarray(est, float),
                         "se": np.asarray(se, float), "df": np.asarray(df, float),
                         "n": np.broadcast_to(np.asarray(n), (len(terms),)).astype(int)})


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


# ---------------------------------------------------------------------------------------------
# difference in means
# ---------------------------------------------------------------------------------------------
def difference_in_means(data: pd.DataFrame, *, outcome: str, treatment: str, blocks: str | None = None,
                        clusters: str | None = None, control=None, level: float = 0.95) -> TrialResult:
    """Design-based difference in means, as R estimatr ``difference_in_means`` (1.0.x, CRAN).

    Parameters
    ----------
    data : DataFrame, one row per unit (person).
    outcome : outcome column.
    treatment : 0/1 (or bool) column, or a categorical arm column with a control level
        (``"control"`` by default, else ``control=``).  With several arms each arm is compared with
        control on the units of those two arms (estimatr's ``condition1``/``condition2``).
    blocks : randomisation blocks/strata (e.g. office × month).
    clusters : unit of randomisation for cluster-randomised designs; treatment must be constant
        within a cluster and clusters nested in blocks.
    control : the control level of a categorical treatment.
    level : confidence level of ``ci()``/``tidy()``.

    Returns
    -------
    TrialResult with ``estimate``, ``se``, ``df``, ``n`` and ``design`` (Standard, Clustered,
    Blocked, Block-clustered, Matched-pair, Matched-pair clustered).

    Notes
    -----
    With ``Y1``, ``Y0`` the outcomes by arm:

    * Standard: ``τ = mean(Y1) − mean(Y0)``, ``V = s1²/N1 + s0²/N0`` (Neyman, = HC2), Welch–
      Satterthwaite df.
    * Clustered: the CR2 variance of ``lm_robust(Y ~ Z, clusters)`` with Bell–McCaffrey df.
    * Blocked: ``τ = Σ_j (N_j/N) τ_j``, ``V = Σ_j (N_j/N)² V_j`` with Neyman ``V_j`` (CR2 within block
      if clustered); df ``N − 2J`` (``S − 2J`` clusters if clustered).  Gerber & Green (2012) eq. 3.10.
    * Matched pairs (every block holds two units/clusters):
      ``V = Σ_j (τ_j − τ)² / (J(J−1))`` (Gerber & Green eq. 3.16); with clusters Imai, King & Nall
      (2009) eq. 6, ``V = J/((J−1)N²) Σ_j (N_j τ_j − N τ/J)²``; df ``J − 1``.  If some blocks have
      two units and others more, the matched-pair variance is used with a warning (as estimatr 1.0).

    Errors: a block with one arm only; a block of size > 2 with a single treated or control unit
    (no within-block variance; merge blocks); fewer than two clusters in an arm.  Note that estimatr
    1.0 lets a block-clustered design with one cluster in an arm of a block through (understating the
    SE); here it is refused, as in estimatr 2.0.

    Rows with missing values in the used columns are dropped with a :class:`MissingDataWarning`;
    the count is ``extra["n_missing_dropped"]``.
    """
    require_columns(data, [outcome, treatment] + _as_list(blocks) + _as_list(clusters))
    d, n_drop = drop_missing(data, [outcome, treatment, blocks, clusters], where="difference_in_means: ")
    if len(d) == 0:
        raise ValueError("no rows left after dropping missing values")
    arms = code_treatment(d[treatment], control, column=treatment)
    y = d[outcome].to_numpy(dtype=float)
    bl = factorize(d[blocks])[0] if blocks is not None else None
    bl_u = factorize(d[blocks])[1] if blocks is not None else None
    cl, cl_u = factorize(d[clusters]) if clusters is not None else (None, None)
    if cl is not None:
        # estimatr's difference_in_means refuses these too: its designs take the clusters as the
        # unit of randomisation
        check_cluster_treatment(arms.codes, cl, len(cl_u), cl_u,
                                hint=f". For clusters that are not the unit of randomisation (offices, "
                                     f"villages, providers) use itt(..., clusters='{clusters}'), which "
                                     "clusters as estimatr's lm_robust")
        if bl is not None:
            check_clusters_in_blocks(cl, len(cl_u), bl, cl_u)
    rows, design = [], ""
    for a in range(1, arms.n_arms + 1):
        m = (arms.codes == 0) | (arms.codes == a)
        t = (arms.codes[m] == a).astype(float)
        est, se, df, n, design = _dim_two(y[m], t, None if bl is None else bl[m],
                                          None if cl is None else cl[m],
                                          None if bl_u is None else bl_u)
        rows.append((est, se, df, n))
    est, se, df, n = (np.array(v) for v in zip(*rows))
    terms = arms.labels()
    tab = _arms_frame(terms, est, se, df, n)
    return TrialResult(estimate=est[0], se=se[0], n=int(n[0]), df=float(df[0]), term=terms[0],
                       method=f"Difference in means ({design})", level=level, arms=tab, design=design,
                       extra={"n_missing_dropped": n_drop, "control": str(arms.names[0])})


def _group_moments(y, g, n_groups):
    cnt = np.bincount(g, minlength=n_groups).astype(float)
    s = np.bincount(g, weights=y, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / cnt
    ss = np.bincount(g, weights=(y - mean[g]) ** 2, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = ss / (cnt - 1)
    return cnt, mean, var


def _dim_two(y, t, bl, cl, bl_u):
    """Two-arm difference in means (t in {0,1})."""
    n = len(y)
    tt = t.astype(np.int64)
    if bl is None:
        if cl is None:
            cnt, mean, var = _group_moments(y, tt, 2)
            if cnt.min() < 2:
                raise ValueError("an arm has fewer than two persons, so its variance (and the Neyman "
                                 "standard error) cannot be estimated")
            v1, v0 = var[1] / cnt[1], var[0] / cnt[0]
            se = np.sqrt(v1 + v0)
            df = (v1 + v0) ** 2 / (v1 ** 2 / (cnt[1] - 1) + v0 ** 2 / (cnt[0] - 1))
            return mean[1] - mean[0], se, df, n, "Standard"
        cl_codes, _ = factorize(cl)
        n_cl = cl_codes.max() + 1
        cl_arm = np.zeros(n_cl, dtype=np.int64)
        cl_arm[cl_codes] = tt
        per_arm = np.bincount(cl_arm, minlength=2)
        if per_arm.min() < 2:
            raise ValueError(f"clustered design needs at least two clusters per arm; clusters per arm "
                             f"(control, treated) = {per_arm.tolist()}")
        fit = ols(np.column_stack([np.ones(n), t]), y, se_type="CR2", clusters=cl_codes, df_for=[1])
        return fit.beta[1], np.sqrt(fit.vcov[1, 1]), fit.df[1], n, "Clustered"
    # ---- blocked designs
    bcodes, buniq_idx = factorize(bl)
    names = bl_u[buniq_idx] if bl_u is not None else buniq_idx
    J = bcodes.max() + 1
    cell = bcodes * 2 + tt
    cnt, mean, var = _group_moments(y, cell, 2 * J)
    cnt = cnt.reshape(J, 2)
    mean = mean.reshape(J, 2)
    var = var.reshape(J, 2)
    one_arm = np.flatnonzero((cnt == 0).any(axis=1))
    if one_arm.size:
        raise ValueError(f"{one_arm.size} block(s)/stratum(s) have only one arm (e.g. "
                         f"{[str(names[i]) for i in one_arm[:5]]}): every block needs treated and control "
                         "units; merge such blocks with a neighbour or drop them (and report it)")
    Nj = cnt.sum(axis=1)
    N = Nj.sum()
    tau_j = mean[:, 1] - mean[:, 0]
    tau = np.sum(Nj / N * tau_j)
    if cl is None:
        units_per_block = Nj
        n_cl_total = None
    else:
        cl_codes, _ = factorize(cl)
        n_cl = cl_codes.max() + 1
        cl_block = np.zeros(n_cl, dtype=np.int64)
        cl_block[cl_codes] = bcodes
        cl_arm = np.zeros(n_cl, dtype=np.int64)
        cl_arm[cl_codes] = tt
        units_per_block = np.bincount(cl_block, minlength=J).astype(float)
        cl_cnt = np.zeros((J, 2))
        np.add.at(cl_cnt, (cl_block, cl_arm), 1)
        n_cl_total = n_cl
    pair = False
    if np.all(units_per_block == 2):
        pair = True
    elif np.any(units_per_block == 2):
        pair = True
        warnings.warn("some blocks have two units/clusters while others have more; as estimatr does, the "
                      "matched-pairs variance is used for all blocks", UserWarning, stacklevel=3)
    if pair:
        if J < 2:
            raise ValueError("a matched-pair design needs at least two pairs")
        if cl is None:
            se = np.sqrt(np.sum((tau_j - tau) ** 2) / (J * (J - 1)))
            design = "Matched-pair"
        else:
            se = np.sqrt(J / ((J - 1) * N ** 2) * np.sum((Nj * tau_j - N * tau / J) ** 2))
            design = "Matched-pair clustered"
        return tau, se, J - 1.0, n, design
    if cl is None:
        small = np.flatnonzero((cnt < 2).any(axis=1))
        if small.size:
            raise ValueError(f"{small.size} block(s) (e.g. {[str(names[i]) for i in small[:5]]}) have a single "
                             "treated or control unit, so the within-block variance cannot be estimated; "
                             "merge blocks, or use matched pairs (all blocks of two units)")
        v_j = var[:, 1] / cnt[:, 1] + var[:, 0] / cnt[:, 0]
        se = np.sqrt(np.sum((Nj / N) ** 2 * v_j))
        return tau, se, float(N - 2 * J), n, "Blocked"
    small = np.flatnonzero((cl_cnt < 2).any(axis=1))
    if small.size:
        raise ValueError(f"{small.size} block(s) (e.g. {[str(names[i]) for i in small[:5]]}) have a single "
                         "treated or control cluster; the within-block CR2 variance is not estimable — merge "
                         "blocks or use a matched-pair cluster design (two clusters per block)")
    # CR2 of Y ~ 1 + Z within each block, in closed form: with clusters nested in arms,
    # H_ss = 11'/N_arm, so X_s'A_s e_s = x_s E_s / sqrt(1 - n_s/N_arm), E_s = Σ_{i∈s} (y_i − ȳ_arm).
    resid = y - mean.reshape(-1)[cell]
    E = np.bincount(cl_codes, weights=resid, minlength=n_cl)
    n_s = np.bincount(cl_codes, minlength=n_cl).astype(float)
    N_arm = cnt[cl_block, cl_arm]
    contrib = E ** 2 / (1.0 - n_s / N_arm) / N_arm ** 2
    v_j = np.bincount(cl_block, weights=contrib, minlength=J)
    se = np.sqrt(np.sum((Nj / N) ** 2 * v_j))
    return tau, se, float(n_cl_total - 2 * J), n, "Block-clustered"


# ---------------------------------------------------------------------------------------------
# regression-adjusted ITT
# ---------------------------------------------------------------------------------------------
class _Design:
    """Design matrix of an ITT regression, kept for reuse (subgroups, multiple outcomes, RI)."""

    def __init__(self, X, names, arm_cols, y, arms, cl_codes, n_drop, index, se_type, strata_codes):
        self.X, self.names, self.arm_cols, self.y = X, names, arm_cols, y
        self.arms, self.cl_codes, self.n_drop, self.index = arms, cl_codes, n_drop, index
        self.se_type, self.strata_codes = se_type, strata_codes


def _lin_design(D: np.ndarray, Xc: np.ndarray) -> np.ndarray:
    """Lin's (2013) design ``[1, D, Xc - mean, D_a * (Xc - mean) for each arm a]``, filled into
    one array (no intermediate (n, arms, covariates) product and no stacking copies: at 10M
    persons and 6 covariates those took most of the ITT's time and memory)."""
    n, a = D.shape
    c = Xc.shape[1]
    X = np.empty((n, 1 + a + c + a * c))
    X[:, 0] = 1.0
    X[:, 1:1 + a] = D
    np.subtract(Xc, Xc.mean(axis=0), out=X[:, 1 + a:1 + a + c])
    Xcc = X[:, 1 + a:1 + a + c]
    for j in range(a):
        lo = 1 + a + c + j * c
        np.multiply(Xcc, D[:, j:j + 1], out=X[:, lo:lo + c])
    return X


def _build_design(data, *, outcome, treatment, covariates, method, se_type, clusters, strata, control,
                  where="itt", extra_cols=()) -> _Design:
    covariates = _as_list(covariates)
    if method not in ("ancova", "lin"):
        raise ValueError(f"method must be 'ancova' or 'lin', got {method!r}")
    require_columns(data, [outcome, treatment] + covariates + _as_list(clusters) + _as_list(strata)
                    + list(extra_cols))
    d, n_drop = drop_missing(data, [outcome, treatment, *covariates, clusters, strata, *extra_cols],
                             where=f"{where}: ")
    if len(d) == 0:
        raise ValueError("no rows left after dropping missing values")
    arms = code_treatment(d[treatment], control, column=treatment)
    n = len(d)
    y = d[outcome].to_numpy(dtype=float)
    cl = None
    cl_randomised = True
    if clusters is not None:
        cl, cl_u = factorize(d[clusters])
        if len(cl_u) < 2:
            raise ValueError(f"clusters column '{clusters}' has {len(cl_u)} distinct value(s) among the "
                             f"{n} rows used; cluster-robust standard errors need at least two clusters "
                             "(and are unreliable with few: see evaluation's wild cluster bootstrap) — "
                             "check the column or drop clusters=")
        # as estimatr lm_robust: clusters inside which the arm varies are accepted, with a note
        cl_randomised = not note_clusters_not_randomised(arms.codes, cl, len(cl_u), clusters)
        if se_type == "HC2":          # estimatr's default with clusters
            se_type = "CR2"
    se_type = normalise_se_type(se_type, cl)
    D = arms.dummies()
    Xc, cnames = covariate_matrix(d, covariates)
    st = None
    if strata is not None:
        st, st_u = factorize(d[strata])
        check_strata_arms(arms.codes, st, st_u, arms.n_arms)
        if cl is not None and cl_randomised:
            check_clusters_in_blocks(cl, len(cl_u), st, cl_u)
        S = strata_dummies(st, len(st_u))
        Xc = np.hstack([Xc, S])
        cnames = cnames + [f"{strata}[{u}]" for u in st_u[1:]]
    labels = arms.labels()
    if method == "ancova" or Xc.shape[1] == 0:
        X = np.hstack([np.ones((n, 1)), D, Xc])
        names = ["(Intercept)"] + labels + cnames
    else:
        X = _lin_design(D, Xc)
        names = (["(Intercept)"] + labels + [f"{c}_c" for c in cnames]
                 + [f"{a}:{c}_c" for a in labels for c in cnames])
    arm_cols = list(range(1, 1 + arms.n_arms))
    return _Design(X, names, arm_cols, y, arms, cl, n_drop, d.index, se_type, st)


def itt(data: pd.DataFrame, *, outcome: str, treatment: str, covariates: Sequence[str] = (),
        method: str = "ancova", se_type: str = "HC2", clusters: str | None = None,
        strata: str | None = None, control=None, level: float = 0.95) -> TrialResult:
    """Intention-to-treat effect by OLS with covariate adjustment (ANCOVA or Lin 2013).

    Parameters
    ----------
    data : DataFrame, one row per person (e.g. the panel at one event month).
    outcome, treatment : column names; treatment 0/1/bool or categorical arms with a control level.
    covariates : baseline covariates; numbers/bools enter linearly, strings/categoricals as dummies.
    method : ``"ancova"`` — ``Y ~ Z + X``; ``"lin"`` — ``Y ~ Z + Xc + Z:Xc`` with covariates centred
        at their sample means (estimatr ``lm_lin``).
    se_type : ``HC0``, ``HC1``, ``HC2`` (default), ``HC3``, ``classical``, or with clusters ``CR0``,
        ``CR1`` (= estimatr/Stata ``"stata"``), ``CR2`` (Bell–McCaffrey, with Satterthwaite df).
        With ``clusters`` and the default ``HC2``, CR2 is used (estimatr's default with clusters).
    clusters : cluster variable for CR0/CR1/CR2 standard errors.  Usually the unit of
        randomisation; clusters inside which the arm varies (sampling clusters, or outcomes
        correlated within an office, provider or village) are accepted as by estimatr's
        ``lm_robust`` and a :class:`ClusteringNote` warning says that they are not the unit of
        randomisation (Abadie, Athey, Imbens & Wooldridge 2023).  Only clusters that are the unit
        of randomisation must nest in ``strata``.  At least two clusters are needed.
    strata : randomisation strata, entered as fixed effects (ANCOVA: additive dummies; Lin: centred
        dummies interacted with treatment, which reproduces the blocked difference in means when there
        are no other covariates).  Every stratum must contain every arm.
    control : control level of a categorical treatment.

    Returns
    -------
    TrialResult: ``estimate``/``se``/``df`` of the (first) arm; ``arms`` one row per arm vs control;
    ``coefficients`` the whole coefficient table.

    Notes
    -----
    ``β = (X'X)^{-1}X'y``; variances as in estimatr ``lm_robust`` (see :mod:`evaluation.rct._linalg`).
    df is ``N − K`` for HC types, ``S − 1`` for CR0/CR1, Bell–McCaffrey for CR2.  CR1 is estimatr's
    ``"stata"``: ``S/(S−1) · (N−1)/(N−K)`` times CR0.  CR2 is estimatr's (src/lm_robust_helper.cpp):
    ``A_s = (I − H_ss)^{-1/2}`` (symmetric square root, eigenvalues below 1e-12 set to 0) and
    Bell–McCaffrey df ``(tr P)²/||P||²_F`` per coefficient; with clusters in which the arm varies
    checked against clubSandwich 0.5.8 (``vcovCR(type = "CR2")``, Satterthwaite df, equal to
    estimatr's for unweighted OLS) and sandwich ``vcovCL(type = "HC1")`` on Thornton (2008).  References: Lin
    (2013) *Ann. Appl. Stat.* 7:295–318; Bell & McCaffrey (2002); Pustejovsky & Tipton (2018).
    Missing values: dropped with a warning and counted (``extra["n_missing_dropped"]``).
    """
    des = _build_design(data, outcome=outcome, treatment=treatment, covariates=covariates, method=method,
                        se_type=se_type, clusters=clusters, strata=strata, control=control)
    fit = ols(des.X, des.y, se_type=des.se_type, clusters=des.cl_codes, df_for=des.arm_cols)
    return _trial_result(des, fit, method=method, level=level, covariates=covariates, strata=strata)


def _trial_result(des, fit, *, method, level, covariates, strata, what="ITT"):
    se = fit.se
    ac = des.arm_cols
    terms = [des.names[j] for j in ac]
    tab = _arms_frame(terms, fit.beta[ac], se[ac], fit.df[ac], fit.n)
    coefs = pd.DataFrame({"term": des.names, "estimate": fit.beta, "se": se, "df": fit.df})
    label = {"ancova": "ANCOVA", "lin": "Lin (2013)"}[method]
    if not _as_list(covariates) and strata is None:
        label = "unadjusted"
    desc = f"{what} ({label}, {fit.se_type})"
    extra = {"n_missing_dropped": des.n_drop, "se_type": fit.se_type, "control": str(des.arms.names[0])}
    if fit.n_clusters is not None:
        extra["n_clusters"] = fit.n_clusters
    return TrialResult(estimate=fit.beta[ac[0]], se=se[ac[0]], n=fit.n, df=float(fit.df[ac[0]]),
                       term=terms[0], method=desc, level=level, arms=tab, design=fit.se_type,
                       coefficients=coefs, extra=extra)


# ---------------------------------------------------------------------------------------------
# LATE / CACE by 2SLS
# ---------------------------------------------------------------------------------------------
def late(data: pd.DataFrame, *, outcome: str, treatment: str, participation: str = "participated",
         covariates: Sequence[str] = (), se_type: str = "HC2", clusters: str | None = None,
         strata: str | None = None, control=None, one_sided: bool | None = None,
         level: float = 0.95) -> TrialResult:
    """Local average treatment effect (complier effect) by 2SLS with assignment as instrument.

    Two arms: the endogenous regressor is ``participation`` itself (so control persons who obtained
    the programme count as treated) and the instrument the assignment; with ``one_sided=True`` it is
    ``participation × assigned`` instead — use that when ``participation`` in the control arm means
    taking up the *ordinary* measure, not the new one.  Several arms: for each non-control arm ``a``
    the endogenous regressor is ``participation × 1{arm = a}`` with instrument ``1{arm = a}`` (one-sided
    per arm; the default there).  Covariates and strata dummies are exogenous.  Without covariates the
    two-arm estimate is the Wald ratio ITT_Y / ITT_D.  Variance as estimatr
    ``iv_robust``: the robust sandwich with the second-stage regressors ``X̂ = P_Z X`` and structural
    residuals ``y − Xβ``; HC2 leverages from ``X̂``.

    ``extra`` holds the first-stage compliance difference, its robust F statistic (Wald/q with the
    same se_type; ``first_stage_F``) and the classical partial F (``first_stage_F_classical``).
    """
    des = _build_design(data, outcome=outcome, treatment=treatment, covariates=covariates,
                        method="ancova", se_type=se_type, clusters=clusters, strata=strata,
                        control=control, where="late", extra_cols=[participation])
    part = data.loc[des.index, participation]
    if not (pd.api.types.is_bool_dtype(part) or pd.api.types.is_numeric_dtype(part)):
        raise ValueError(f"participation column '{participation}' must be 0/1 or bool")
    p = part.to_numpy(dtype=float)
    if not set(np.unique(p).tolist()) <= {0.0, 1.0}:
        raise ValueError(f"participation column '{participation}' must be 0/1 or bool")
    Zarm = des.X[:, des.arm_cols]
    W = np.delete(des.X, des.arm_cols, axis=1)
    q = len(des.arm_cols)
    if one_sided is None:
        one_sided = q > 1
    Dend = Zarm * p[:, None] if one_sided else p[:, None]
    Z = np.hstack([Zarm, W])
    Xs = np.hstack([Dend, W])
    # first stage
    fs = [ols(Z, Dend[:, j], se_type=des.se_type, clusters=des.cl_codes, df_for=list(range(q)))
          for j in range(q)]
    fs_F, fs_Fc, fs_diff = [], [], []
    for j, f in enumerate(fs):
        b = f.beta[:q]
        V = f.vcov[:q, :q]
        fs_F.append(float(b @ np.linalg.solve(V, b) / q))
        sigma2 = f.resid @ f.resid / (f.n - f.k)
        Vc = f.bread[:q, :q] * sigma2
        fs_Fc.append(float(b @ np.linalg.solve(Vc, b) / q))
        fs_diff.append(float(b[j]))
    if min(fs_diff) <= 0:
        warnings.warn("first stage: participation is not higher in an assigned arm than in control; the "
                      "LATE is not identified/meaningful", UserWarning, stacklevel=2)
    coef_fs, *_ = np.linalg.lstsq(Z, Xs, rcond=None)
    Xhat = Z @ coef_fs
    xtx = Xhat.T @ Xhat
    if np.linalg.matrix_rank(xtx) < xtx.shape[0]:
        raise ValueError("2SLS design is rank deficient: nobody (or everybody) participates in an arm")
    bread = np.linalg.inv(xtx)
    beta = bread @ (Xhat.T @ des.y)
    e = des.y - Xs @ beta
    vcov, df, _, n_cl, st = robust_vcov(Xhat, e, bread, se_type=des.se_type, clusters=des.cl_codes,
                                        df_for=list(range(q)))
    se = np.sqrt(np.diag(vcov))
    terms = des.arms.labels()
    n = len(des.y)
    tab = _arms_frame(terms, beta[:q], se[:q], df[:q], n)
    names = [f"{participation}:{t}" for t in terms] + [des.names[0]] + des.names[1 + q:]
    coefs = pd.DataFrame({"term": names, "estimate": beta, "se": se, "df": df})
    extra = {"n_missing_dropped": des.n_drop, "se_type": st, "control": str(des.arms.names[0]),
             "first_stage": fs_diff[0], "first_stage_F": fs_F[0], "first_stage_F_classical": fs_Fc[0]}
    if q > 1:
        tab["first_stage"] = fs_diff
        tab["first_stage_F"] = fs_F
    if n_cl is not None:
        extra["n_clusters"] = n_cl
    return TrialResult(estimate=beta[0], se=se[0], n=n, df=float(df[0]), term=terms[0],
                       method=f"LATE by 2SLS (assignment instruments {participation}, {st})", level=level,
                       arms=tab, design=st, coefficients=coefs, extra=extra)


# ---------------------------------------------------------------------------------------------
# randomisation inference
# ---------------------------------------------------------------------------------------------
def _permute_within(codes_sorted_key: np.ndarray, values: np.ndarray, n_draws: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Random permutations of ``values`` within groups (``codes_sorted_key`` integer group codes).

    Returns (n_draws, N).  Vectorised: sort by group + uniform key, so each draw is an independent
    uniformly random permutation inside every group.
    """
    n = len(values)
    order = np.argsort(codes_sorted_key, kind="stable")
    keys = codes_sorted_key[None, :] + rng.random((n_draws, n))
    perm = np.argsort(keys, axis=1)                   # positions grouped by stratum, random within
    out = np.empty((n_draws, n), dtype=values.dtype)
    out[:, order] = values[perm]
    return out


def randomization_inference(data: pd.DataFrame, *, outcome: str, treatment: str,
                            covariates: Sequence[str] = (), strata: str | None = None,
                            clusters: str | None = None, draws: int = 1000, seed: int | None = 0,
                            control=None, progress: bool = False, chunk: int = 200,
                            level: float = 0.95) -> RandomizationResult:
    """Permutation (Fisher) test of the sharp null of no effect, under the actual design.

    Treatment is re-randomised ``draws`` times: within ``strata`` if given, and by whole clusters if
    ``clusters`` is given (cluster assignments permuted within the strata of the clusters), keeping the
    number of treated units/clusters per stratum fixed (complete randomisation).  The statistic is the
    ITT coefficient of the regression ``Y ~ Z + covariates + strata dummies`` (the difference in means
    without covariates/strata), computed for all draws at once by Frisch–Waugh–Lovell:
    ``τ_b = Z_b'ỹ / (Z_b'Z_b − Z_b'Q(Q'Q)^{-1}Q'Z_b)`` with ``ỹ`` the outcome residualised on ``Q``.

    p-value (two-sided): ``(1 + #{b: |τ_b| ≥ |τ_obs|}) / (1 + draws)``, which is valid in finite
    samples.  Seeded by ``seed`` (``numpy.random.default_rng``); ``progress=True`` shows a tqdm bar.
    With several arms each arm is tested against control on the units of those two arms.
    """
    covariates = _as_list(covariates)
    require_columns(data, [outcome, treatment] + covariates + _as_list(strata) + _as_list(clusters))
    d, n_drop = drop_missing(data, [outcome, treatment, *covariates, strata, clusters],
                             where="randomization_inference: ")
    arms = code_treatment(d[treatment], control, column=treatment)
    rng = np.random.default_rng(seed)
    rows, dist0 = [], None
    from tqdm.std import tqdm
    for a in range(1, arms.n_arms + 1):
        m = (arms.codes == 0) | (arms.codes == a)
        dd = d.loc[m]
        z = (arms.codes[m] == a).astype(float)
        y = dd[outcome].to_numpy(dtype=float)
        n = len(y)
        Xc, _ = covariate_matrix(dd, covariates)
        st = np.zeros(n, dtype=np.int64)
        if strata is not None:
            st, st_u = factorize(dd[strata])
            check_strata_arms(z.astype(np.int64), st, st_u, 1)
            Xc = np.hstack([Xc, strata_dummies(st, len(st_u))])
        Q = np.hstack([np.ones((n, 1)), Xc])
        QtQ_inv = np.linalg.pinv(Q.T @ Q)
        y_t = y - Q @ (QtQ_inv @ (Q.T @ y))
        if clusters is not None:
            cl, cl_u = factorize(dd[clusters])
            check_cluster_treatment(z.astype(np.int64), cl, len(cl_u), cl_u)
            n_cl = len(cl_u)
            z_cl = np.zeros(n_cl)
            z_cl[cl] = z
            st_cl = np.zeros(n_cl, dtype=np.int64)
            if strata is not None:
                st_cl = check_clusters_in_blocks(cl, n_cl, st, cl_u)
        def stat(Zb):
            ZQ = Zb @ Q
            denom = np.einsum("bi,bi->b", Zb, Zb) - np.einsum("bk,kl,bl->b", ZQ, QtQ_inv, ZQ)
            return (Zb @ y_t) / denom
        obs = float(stat(z[None, :])[0])
        out = np.empty(draws)
        bar = tqdm(total=draws, disable=not progress, desc=f"randomisation inference ({arms.labels()[a - 1]})")
        for start in range(0, draws, chunk):
            b = min(chunk, draws - start)
            if clusters is None:
                Zb = _permute_within(st, z, b, rng)
            else:
                Zb = _permute_within(st_cl, z_cl, b, rng)[:, cl]
            out[start:start + b] = stat(Zb)
            bar.update(b)
        bar.close()
        tol = 1e-10 * max(1.0, abs(obs))
        p = (1 + np.sum(np.abs(out) >= abs(obs) - tol)) / (1 + draws)
        rows.append((arms.labels()[a - 1], obs, out.std(ddof=1), p, n))
        if dist0 is None:
            dist0 = out
    tab = pd.DataFrame(rows, columns=["term", "estimate", "se", "pvalue", "n"])
    r0 = tab.iloc[0]
    design = ("within strata" if strata else "complete") + (", by cluster" if clusters else "")
    return RandomizationResult(estimate=r0["estimate"], se=r0["se"], n=int(r0["n"]), term=r0["term"],
                               method=f"Randomisation inference ({draws} draws, {design})", level=level,
                               pvalue_override=float(r0["pvalue"]), distribution=dist0, arms=tab,
                               extra={"draws": draws, "seed": -1 if seed is None else seed,
                                      "n_missing_dropped": n_drop})
