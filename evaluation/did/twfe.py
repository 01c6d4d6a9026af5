"""Regression-based DiD: 2x2, two-way fixed effects, event study, Sun-Abraham, Goodman-Bacon."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..results import Result, TableResult, tidy_frame
from ._data import _require_columns, _time_codes, group_codes, integer_time
from .attgt import WaldTest, _event_plot, wald


# ============================================================================ FE machinery
class _LazyArr:
    """Unit/period codes of a sorted balanced panel, built only if an estimator needs them."""

    def __init__(self, N, T):
        self.N, self.T = N, T
        self._a = None

    def _arr(self):
        if self._a is None:
            self._a = self._make()
        return self._a

    def __array__(self, dtype=None, copy=None):
        a = self._arr()
        return a if dtype is None else a.astype(dtype)

    def __getitem__(self, k):
        return self._arr()[k]

    def __len__(self):
        return self.N * self.T

    def max(self):
        return self._arr().max()


class _RepeatCodes(_LazyArr):
    def _make(self):
        return np.repeat(np.arange(self.N), self.T)


class _TileCodes(_LazyArr):
    def _make(self):
        return np.tile(np.arange(self.T), self.N)


@dataclass
class _FE:
    ucode: np.ndarray
    tcode: np.ndarray
    N: int
    T: int
    sorted_balanced: bool
    balanced: bool
    unit_ids: np.ndarray
    tlist: np.ndarray


def _fe_codes(data: pd.DataFrame, unit: str, time: str) -> _FE:
    u = data[unit].to_numpy()
    t = integer_time(data[time].to_numpy(), time)
    tlist, tcode = _time_codes(t)
    T = len(tlist)
    n = len(u)
    if tcode is None:
        N = n // T
        if np.issubdtype(u.dtype, np.number):
            u2 = u.reshape(N, T)
            if (u2 == u2[:, :1]).all() and (N == 1 or (u2[1:, 0] > u2[:-1, 0]).all()):
                return _FE(_RepeatCodes(N, T), _TileCodes(N, T), N, T, True, True, u2[:, 0], tlist)
        tcode = np.tile(np.arange(T), N)
    codes, uniq = pd.factorize(u)
    N = len(uniq)
    key = codes.astype(np.int64) * T + tcode
    cnt = np.bincount(key, minlength=N * T)
    if (cnt > 1).any():
        k = int(np.flatnonzero(cnt > 1)[0])
        raise ValueError(f"duplicate unit-period rows: unit {uniq[k // T]!r} in period {int(tlist[k % T])}; "
                         "de-duplicate the data (one row per unit and period)")
    return _FE(codes.astype(np.int64), tcode.astype(np.int64), N, T, False, bool(n == N * T),
               np.asarray(uniq), tlist)


def demean(A: np.ndarray, fe: _FE, tol: float = 1e-10, maxit: int = 10_000) -> np.ndarray:
    """Two-way within transformation of the columns of ``A`` (rows x m).

    Balanced panels: ``a_it - a_i. - a_.t + a_..`` (exact).  Unbalanced panels: alternating
    projections (Gauss-Seidel sweeps over unit and period means) until the largest change is below
    ``tol`` times the scale of the data.
    """
    if isinstance(A, (list, tuple)):
        cols = [np.asarray(c, dtype=np.float64) for c in A]
    else:
        A = np.asarray(A, dtype=np.float64)
        cols = [A] if A.ndim == 1 else [A[:, j] for j in range(A.shape[1])]
    m = len(cols)
    if fe.sorted_balanced:
        # contiguous (N, T) views; row and column means by matrix-vector products
        N, T = fe.N, fe.T
        out = np.empty((N * T, m), order="F")
        onesT, onesN = np.full(T, 1.0 / T), np.full(N, 1.0 / N)
        for j, c in enumerate(cols):
            x2 = np.ascontiguousarray(c).reshape(N, T)
            rm = x2 @ onesT
            cm = onesN @ x2
            o = out[:, j].reshape(N, T)          # F-ordered: each column is contiguous
            np.subtract(x2, rm[:, None], out=o)
            o -= (cm - cm.mean())[None, :]
        return out
    A = np.column_stack(cols)
    ucode, tcode = np.asarray(fe.ucode), np.asarray(fe.tcode)
    nu = np.bincount(ucode, minlength=fe.N).astype(float)
    nt = np.bincount(tcode, minlength=fe.T).astype(float)
    n = A.shape[0]
    from scipy import sparse
    Su = sparse.csr_matrix((np.ones(n), (ucode, np.arange(n))), shape=(fe.N, n))
    St = sparse.csr_matrix((np.ones(n), (tcode, np.arange(n))), shape=(fe.T, n))
    if fe.balanced:
        out = A - (Su @ A / nu[:, None])[ucode] - (St @ A / nt[:, None])[tcode] + A.mean(axis=0)
        return np.asfortranarray(out)
    x = A.copy()
    scale = np.maximum(np.abs(A).max(axis=0), 1.0)
    for _ in range(maxit):
        x -= (Su @ x / nu[:, None])[ucode]
        d = (St @ x / nt[:, None])[tcode]
        x -= d
        if (np.abs(d).max(axis=0) < tol * scale).all():
            break
    return np.asfortranarray(x)


def _ols(yt, Xt, cl, vcov, dof_absorbed, n_clusters=None, nested=0):
    n, k = Xt.shape
    XtX = Xt.T @ Xt
    if np.linalg.matrix_rank(XtX) < k:
        raise np.linalg.LinAlgError("regressors are collinear with the fixed effects (or each other); "
                                    "drop a reference category")
    XtXi = np.linalg.inv(XtX)
    b = XtXi @ (Xt.T @ yt)
    e = yt.copy()
    for j in range(k):                  # column-wise: fast for F-ordered (n, k) views
        e -= Xt[:, j] * b[j]
    if vcov in ("iid", "unadjusted"):
        df = n - k - dof_absorbed
        V = XtXi * (e @ e) / df
    elif vcov in ("hc1", "HC1"):
        df = n - k - dof_absorbed
        meat = (Xt * (e ** 2)[:, None]).T @ Xt
        V = XtXi @ meat @ XtXi * n / df
    elif vcov in ("cluster", "CR1"):
        G = int(cl.max()) + 1 if n_clusters is None else n_clusters
        S = np.zeros((G, k))
        for j in range(k):
            xe = Xt[:, j] * e
            if isinstance(cl, _RepeatCodes):     # unit clusters of a sorted balanced panel
                S[:, j] = xe.reshape(cl.N, cl.T).sum(axis=1)
            else:
                S[:, j] = np.bincount(cl, weights=xe, minlength=G)
        Kp = k + dof_absorbed - nested
        V = XtXi @ (S.T @ S) @ XtXi * (G / (G - 1)) * ((n - 1) / (n - Kp))
        df = G - 1
    else:
        raise ValueError("vcov must be 'cluster', 'iid' or 'hc1'")
    return b, V, e, df


# ================================================================================ results
@dataclass
class RegressionResult(TableResult):
    """Coefficients of a fixed-effects regression; ``estimate``/``se`` refer to ``term``."""

    coef: pd.Series | None = None
    vcov_matrix: pd.DataFrame | None = None
    term: str = ""
    nobs: int = 0
    df_resid: float | None = None

    @property
    def estimate(self) -> float:
        return float(self.coef[self.term])

    @property
    def se(self) -> float:
        return float(np.sqrt(self.vcov_matrix.loc[self.term, self.term]))

    def ci(self, level: float = 0.95):
        c = stats.t.ppf(1 - (1 - level) / 2, self.df_resid) if self.df_resid else stats.norm.ppf(1 - (1 - level) / 2)
        return self.estimate - c * self.se, self.estimate + c * self.se

    def wald(self, terms, name="Wald test") -> WaldTest:
        terms = list(terms)
        return wald(self.coef[terms].to_numpy(), self.vcov_matrix.loc[terms, terms].to_numpy(), name, terms)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update({"term": self.term, "estimate": self.estimate, "se": self.se, "nobs": int(self.nobs)})
        return d


@dataclass
class EventStudyResult(RegressionResult):
    """Event-study coefficients by event time (reference period normalised to zero)."""

    event_times: np.ndarray | None = None
    ref: int = -1

    def pretest(self) -> WaldTest:
        """Joint Wald test that all lead coefficients (event time < 0, excluding the reference) are zero."""
        leads = [f"e={e}" for e in self.event_times if e < 0 and e != self.ref]
        if not leads:
            raise ValueError("no lead coefficients to test")
        return self.wald(leads, "Pre-trend test (joint Wald, leads = 0)")

    def event_frame(self, level: float = 0.95) -> pd.DataFrame:
        t = self.tidy()
        t = t[t["term"].str.startswith("e=")].copy()
        t.insert(1, "event_time", [int(s[2:]) for s in t["term"]])
        ref = pd.DataFrame({"term": [f"e={self.ref}"], "event_time": [self.ref], "estimate": [0.0], "se": [0.0],
                            "ci_low": [0.0], "ci_high": [0.0]})
        return pd.concat([t, ref], ignore_index=True).sort_values("event_time").reset_index(drop=True)

    def plot(self, ax=None, min_e: float = -np.inf, max_e: float = np.inf):
        """Coefficients by event time (reference at zero) with pointwise 95% intervals."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        f = self.event_frame()
        f = f[(f["event_time"] >= min_e) & (f["event_time"] <= max_e)]
        _event_plot(ax, f["event_time"], f["estimate"], f["ci_low"], f["ci_high"], xlabel="event time",
                    title=self.method)
        return ax


def _build(coef_names, b, V, df, n, method, term, extra=None, cls=RegressionResult, **kw):
    se = np.sqrt(np.diag(V))
    table = tidy_frame(coef_names, b, se, df=df, n=n)
    return cls(table=table, method=method, extra=extra or {}, coef=pd.Series(b, index=coef_names),
               vcov_matrix=pd.DataFrame(V, index=coef_names, columns=coef_names), term=term, nobs=n,
               df_resid=df, **kw)


def _cluster_codes(data, cluster, fe):
    if cluster is None:
        return fe.ucode, fe.N, True
    _require_columns(data, {"cluster": cluster})
    codes, uniq = pd.factorize(data[cluster].to_numpy())
    # nested: the unit fixed effects are nested in the cluster if every unit has one cluster
    cu = np.zeros(fe.N, dtype=np.int64)
    uc = np.asarray(fe.ucode)
    cu[uc] = codes
    nested = bool(np.array_equal(cu[uc], codes))
    return codes.astype(np.int64), len(uniq), nested


# ============================================================================ estimators
def twfe(data: pd.DataFrame, *, outcome: str, unit: str, time: str, treatment: str | None = None,
         group: str | None = None, covariates=(), cluster: str | None = None,
         vcov: str = "cluster") -> RegressionResult:
    """Two-way fixed-effects regression ``y_it = a_i + l_t + b D_it + X_it g + e_it``.

    Parameters
    ----------
    treatment : str, optional
        0/1 treatment column. Alternatively ``group`` (first treated period, 0/NaN never) builds
        ``D_it = 1[t >= group]``.
    covariates : sequence of str
        Further regressors (e.g. a lagged treatment); all coefficients are reported.
    cluster : str, optional
        Cluster variable; default the unit (``vcov="cluster"``).
    vcov : {"cluster", "iid", "hc1"}
        Cluster-robust CR1 with the small-sample factor ``G/(G-1) (n-1)/(n-K)``, ``K`` counting the
        regressors and the fixed-effect coefficients not nested in the clusters (as fixest /
        pyfixest: with unit clusters ``K = k + T``), classical, or HC1.

    Notes
    -----
    Unit and period effects are removed by the within transformation: exact double demeaning on a
    balanced panel, alternating projections otherwise. Residual degrees of freedom for ``iid``:
    ``n - k - N_units - T + 1``.
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or ())
    _require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "treatment": treatment,
                            "group": group, **{c: c for c in covariates}})
    fe = _fe_codes(data, unit, time)
    cols, names = [], []
    if treatment is not None:
        cols.append(data[treatment].to_numpy(dtype=np.float64))
        names.append(treatment)
    elif group is not None:
        g = group_codes(data[group].to_numpy(), group)
        cols.append(((g > 0) & (fe.tlist[np.asarray(fe.tcode)] >= g)).astype(np.float64))
        names.append("treated")
    for c in covariates:
        cols.append(data[c].to_numpy(dtype=np.float64))
        names.append(c)
    if not cols:
        raise ValueError("give treatment=, group= or covariates=")
    y = data[outcome].to_numpy(dtype=np.float64)
    if not (np.isfinite(y).all() and all(np.isfinite(c).all() for c in cols)):
        raise ValueError("missing values in the outcome or regressors; drop or impute them first")
    A = demean([y] + cols, fe)
    cl, G, nested = _cluster_codes(data, cluster, fe)
    absorbed = fe.N + fe.T - 1
    b, V, e, df = _ols(A[:, 0], A[:, 1:], cl, vcov, absorbed, G, nested=fe.N - 1 if nested else 0)
    method = f"Two-way fixed effects (unit and period), {vcov} SE" + \
        (f" by {cluster or unit}" if vcov == "cluster" else "")
    return _build(names, b, V, df, len(y), method, names[0],
                  extra={"n_units": fe.N, "n_periods": fe.T})


def did_2x2(data: pd.DataFrame, *, outcome: str, treated: str, post: str, unit: str | None = None,
            cluster: str | None = None) -> Result:
    """Canonical 2x2 difference-in-differences ``(Y11 - Y10) - (Y01 - Y00)``.

    OLS of ``y`` on ``1, treated, post, treated x post``; the interaction is the estimate. Standard
    errors are cluster-robust (CR1) by ``cluster`` or ``unit`` if given, else HC1.
    """
    _require_columns(data, {"outcome": outcome, "treated": treated, "post": post, "unit": unit,
                            "cluster": cluster})
    y = data[outcome].to_numpy(float)
    d = data[treated].to_numpy(float)
    p = data[post].to_numpy(float)
    if not (np.isin(d, [0, 1]).all() and np.isin(p, [0, 1]).all()):
        raise ValueError("treated and post must be 0/1")
    X = np.column_stack([np.ones_like(y), d, p, d * p])
    cname = cluster or unit
    if cname is not None:
        cl = pd.factorize(data[cname].to_numpy())[0]
        b, V, _, df = _ols(y, X, cl, "cluster", 0)
    else:
        b, V, _, df = _ols(y, X, None, "hc1", 0)
    return Result(estimate=b[3], se=np.sqrt(V[3, 3]), n=len(y), df=df, term=f"{treated}:{post}",
                  method="2x2 difference-in-differences (OLS with interaction), "
                         + (f"CR1 SE clustered by {cname}" if cname else "HC1 SE"))


def _rel_time(data, fe, group):
    g = group_codes(data[group].to_numpy(), group)
    t = fe.tlist[np.asarray(fe.tcode)]
    return g, t


def event_study(data: pd.DataFrame, *, outcome: str, unit: str, time: str, group: str,
                min_e: int = -5, max_e: int = 5, ref: int = -1, covariates=(),
                cluster: str | None = None, vcov: str = "cluster") -> EventStudyResult:
    """TWFE event-study regression with leads and lags and binned end points.

    ``y_it = a_i + l_t + sum_{e != ref} b_e 1[t - g_i = e] + e_it`` for treated units; event times
    below ``min_e`` are binned into ``min_e`` and above ``max_e`` into ``max_e``. Never-treated units
    (group 0 or NaN) have all indicators zero. :meth:`EventStudyResult.pretest` tests the leads
    jointly. Under staggered adoption with heterogeneous effects these coefficients can be
    contaminated by other periods' effects (Sun & Abraham 2021); compare with :func:`sun_abraham`
    and :func:`att_gt`.
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or ())
    _require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "group": group})
    if not (min_e <= ref <= max_e):
        raise ValueError("ref must lie between min_e and max_e")
    fe = _fe_codes(data, unit, time)
    g, t = _rel_time(data, fe, group)
    treated = g > 0
    e = np.clip(t - g, min_e, max_e)
    evs = [k for k in range(min_e, max_e + 1) if k != ref]
    present = set(np.unique(e[treated]).tolist())
    evs = [k for k in evs if k in present]
    cols = [((e == k) & treated).astype(np.float64) for k in evs]
    names = [f"e={k}" for k in evs]
    for c in covariates:
        cols.append(data[c].to_numpy(dtype=np.float64))
        names.append(c)
    y = data[outcome].to_numpy(dtype=np.float64)
    A = demean(np.column_stack([y] + cols), fe)
    cl, G, nested = _cluster_codes(data, cluster, fe)
    b, V, _, df = _ols(A[:, 0], A[:, 1:], cl, vcov, fe.N + fe.T - 1, G, nested=fe.N - 1 if nested else 0)
    return _build(names, b, V, df, len(y),
                  f"TWFE event study (ref e={ref}, end points binned at {min_e} and {max_e})",
                  names[0], cls=EventStudyResult, event_times=np.array(evs), ref=ref,
                  extra={"n_units": fe.N})


def _saturated_cells_fit(y, fe: _FE, cells, k, key_t, cl, n_clusters, vcov, dof_absorbed, nested):
    r"""Sun-Abraham's saturated regression solved through its cell form (no within transformation).

    Unit and period effects plus an indicator for every cohort x event-time cell ``(g, e)``
    (``e != ref``) span the same space as unit effects plus one effect per *cell* ``c``, where a
    row's cell is its ``(g, e)`` interaction or else its period ``t``:

    .. math:: y_{it} = \alpha_i + \gamma_{c(i,t)} + u_{it}, \qquad
              \delta_{g,e} = \gamma_{(g,e)} - \gamma_{t = g + e}.

    Concentrating out the unit effects leaves the ``L x L`` normal equations
    :math:`(Z'Z - C'\,\mathrm{diag}(1/n_i)\,C)\gamma = Z'y - C'\bar y` (``Z`` the row x cell
    indicators, ``C`` the unit x cell counts, ``L = T + K``), built from counts and sums in
    O(rows) with sparse products, and solved once with the first period's effect set to zero.
    Coefficients, residuals and the sandwich (cluster, iid, HC1, with the same small-sample
    factors as :func:`_ols`) equal those of the within-transformed regression (Frisch-Waugh-Lovell;
    the variance of :math:`\delta = R\gamma` is :math:`R V_\gamma R'`), at the cost of TWFE
    instead of alternating projections over ``K`` dummy columns.
    Returns ``(delta, V, df, nobs per cell)``.
    """
    from scipy import sparse
    n = len(y)
    N, T = fe.N, fe.T
    L = T + k
    ucode = np.asarray(fe.ucode, dtype=np.int64)
    n_i = np.bincount(ucode, minlength=N).astype(float)
    zc = np.bincount(cells, minlength=L).astype(float)              # Z'Z (diagonal)
    if (zc[:T] == 0).any():
        raise np.linalg.LinAlgError("regressors are collinear with the fixed effects (or each other); "
                                    "drop a reference category")
    Cm = sparse.csr_matrix((np.ones(n), (ucode, cells)), shape=(N, L))   # unit x cell counts
    Mm = sparse.diags(1 / n_i) @ Cm                                       # unit x cell shares
    A = np.diag(zc) - (Cm.T @ Mm).toarray()
    ybar = np.bincount(ucode, weights=y, minlength=N) / n_i
    rhs = np.bincount(cells, weights=y, minlength=L) - Cm.T @ ybar
    Ar = A[1:, 1:]
    collinear = ("regressors are collinear with the fixed effects (or each other); drop a reference "
                 "category")
    try:
        ch = np.linalg.cholesky(Ar)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(collinear) from None
    piv = np.diag(ch) ** 2
    if not (piv.min() > 1e-9 * np.diag(Ar).max()):
        raise np.linalg.LinAlgError(collinear)
    from scipy.linalg import cho_solve
    Ainv = np.zeros((L, L))
    Ainv[1:, 1:] = cho_solve((ch, True), np.eye(L - 1))
    gam = Ainv @ rhs
    r0 = y - gam[cells]
    e = r0 - (np.bincount(ucode, weights=r0, minlength=N) / n_i)[ucode]
    R = np.zeros((k, L))
    R[np.arange(k), T + np.arange(k)] = 1.0
    R[np.arange(k), np.asarray(key_t, dtype=np.int64)] -= 1.0
    delta = R @ gam
    RA = R @ Ainv                                                         # k x L
    if vcov in ("iid", "unadjusted"):
        df = n - k - dof_absorbed
        V = (RA @ R.T) * (e @ e) / df
    elif vcov in ("hc1", "HC1"):
        df = n - k - dof_absorbed
        e2 = e * e
        Ze2 = np.bincount(cells, weights=e2, minlength=L)
        B = sparse.csr_matrix((e2, (cells, ucode)), shape=(L, N))          # sum of e^2 by cell, unit
        s_i = np.bincount(ucode, weights=e2, minlength=N)
        BM = (B @ Mm).toarray()
        meat = np.diag(Ze2) - BM - BM.T + (Mm.T @ sparse.diags(s_i) @ Mm).toarray()
        V = RA @ meat @ RA.T * n / df
    elif vcov in ("cluster", "CR1"):
        cl = np.asarray(cl, dtype=np.int64)
        Gc = int(cl.max()) + 1 if n_clusters is None else n_clusters
        S1 = sparse.csr_matrix((e, (cl, cells)), shape=(Gc, L))          # sum of z e by cluster
        Bc = sparse.csr_matrix((e, (cl, ucode)), shape=(Gc, N))          # sum of e by cluster, unit
        S = (S1 - Bc @ Mm).toarray() @ RA.T                               # Gc x k scores
        Kp = k + dof_absorbed - nested
        V = (S.T @ S) * (Gc / (Gc - 1)) * ((n - 1) / (n - Kp))
        df = Gc - 1
    else:
        raise ValueError("vcov must be 'cluster', 'iid' or 'hc1'")
    return delta, V, df, zc[T:].astype(np.int64)


def sun_abraham(data: pd.DataFrame, *, outcome: str, unit: str, time: str, group: str,
                ref: int = -1, control: str = "never", cluster: str | None = None,
                vcov: str = "cluster") -> EventStudyResult:
    """Sun & Abraham (2021) interaction-weighted event study.

    Regresses ``y`` on unit and period effects and cohort x relative-period indicators
    ``1[G_i = g] 1[t - g = e]`` for every treated cohort ``g`` and ``e != ref`` (a saturated
    regression), with the never-treated (``control="never"``) or the last-treated cohort
    (``control="last"``; periods from its treatment on are dropped) as the control cohort. The
    event-time estimate is ``b_e = sum_g w_{g,e} d_{g,e}``, ``w_{g,e}`` the share of cohort ``g``'s
    observations among the cohorts observed at ``e``; its variance is ``w' V w`` (weights treated as
    fixed, as fixest's ``sunab``). ``coef`` holds the event-time estimates; ``extra['cohort_coef']``
    the cohort-specific ones.
    """
    _require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "group": group})
    if vcov not in ("cluster", "CR1", "iid", "unadjusted", "hc1", "HC1"):
        raise ValueError(f"vcov must be 'cluster', 'iid' or 'hc1'; got {vcov!r}")
    g_all = group_codes(data[group].to_numpy(), group)
    d = data
    if control == "last":
        glast = g_all.max()
        tt = integer_time(data[time].to_numpy(), time)
        keep = tt < glast
        d = data.loc[keep]
        g_all = np.where(g_all[keep] == glast, 0, g_all[keep])
    elif control != "never":
        raise ValueError("control must be 'never' or 'last'")
    if not (g_all == 0).any():
        raise ValueError("no never-treated units; use control='last'")
    fe = _fe_codes(d, unit, time)
    t = fe.tlist[np.asarray(fe.tcode)]
    cohorts = np.unique(g_all[g_all > 0])
    rel = t - g_all
    # cell of every row: its period (never-treated rows and the reference event time) or its
    # cohort x event-time interaction (T + key index)
    tcode = np.asarray(fe.tcode, dtype=np.int64)
    cells = tcode.copy()
    inter = np.flatnonzero((g_all > 0) & (rel != ref))
    rmin = int(rel[inter].min()) if len(inter) else 0
    span = (int(rel[inter].max()) - rmin + 1) if len(inter) else 1
    pair = np.searchsorted(cohorts, g_all[inter]) * span + (rel[inter] - rmin)
    upair, pidx = np.unique(pair, return_inverse=True)          # sorted by cohort, then event time
    cells[inter] = fe.T + pidx
    kg, ke = cohorts[upair // span], upair % span + rmin
    keys = [(int(a), int(b)) for a, b in zip(kg, ke)]
    key_t = np.searchsorted(fe.tlist, kg + ke)
    y = d[outcome].to_numpy(dtype=np.float64)
    cl, G, nested = _cluster_codes(d, cluster, fe)
    b, V, df, nobs = _saturated_cells_fit(y, fe, cells, len(keys), key_t, cl, G, vcov,
                                          fe.N + fe.T - 1, fe.N - 1 if nested else 0)
    es = sorted({e for _, e in keys})
    Wm = np.zeros((len(keys), len(es)))
    for j, e in enumerate(es):
        idx = [i for i, (_, ee) in enumerate(keys) if ee == e]
        Wm[idx, j] = nobs[idx] / nobs[idx].sum()
    be = b @ Wm
    Ve = Wm.T @ V @ Wm
    names = [f"e={e}" for e in es]
    res = _build(names, be, Ve, df, len(y), f"Sun-Abraham interaction-weighted event study (ref e={ref}, "
                 f"control: {control}-treated)", names[0], cls=EventStudyResult, event_times=np.array(es),
                 ref=ref)
    res.extra = {"cohort_coef": pd.DataFrame({"group": [k[0] for k in keys], "event_time": [k[1] for k in keys],
                                              "estimate": b, "se": np.sqrt(np.diag(V)), "nobs": nobs}),
                 "weights": pd.DataFrame(Wm, index=[f"g={k[0]},e={k[1]}" for k in keys], columns=names),
                 "n_units": fe.N}
    # overall post-treatment ATT: cohort-share weighted average of d_{g,e}, e >= 0
    post = np.array([e >= 0 for _, e in keys])
    if post.any():
        wpost = np.where(post, nobs, 0) / nobs[post].sum()
        res.extra["att"] = float(b @ wpost)
        res.extra["att_se"] = float(np.sqrt(wpost @ V @ wpost))
    return res


# ============================================================================ Bacon
@dataclass
class BaconResult(TableResult):
    """Goodman-Bacon decomposition: 2x2 estimates, their weights and the TWFE estimate."""

    twfe_estimate: float = np.nan

    @property
    def estimate(self) -> float:
        return self.twfe_estimate

    def by_type(self) -> pd.DataFrame:
        t = self.table
        agg = t.assign(wb=t["weight"] * t["estimate"]).groupby("type", sort=False).agg(
            weight=("weight", "sum"), wb=("wb", "sum"), comparisons=("estimate", "size"))  # 2x2 comparisons, not persons
        agg["avg_estimate"] = agg["wb"] / agg["weight"]
        return agg.drop(columns="wb").reset_index()

    def summary(self) -> str:
        return (f"{self.method}\n  TWFE estimate: {self.twfe_estimate:.6g}\n"
                + self.by_type().to_string(index=False, float_format=lambda x: f"{x:.5g}"))

    def _repr_html_(self) -> str:
        return (f"<p><b>{self.method}</b>, TWFE estimate {self.twfe_estimate:.4g}</p>"
                + self.by_type().to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        import seaborn as sns
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        sns.scatterplot(data=self.table, x="weight", y="estimate", hue="type", style="type", s=60, ax=ax)
        ax.axhline(self.twfe_estimate, color="k", ls="--", lw=1, label="TWFE")
        ax.set_xlabel("weight")
        ax.set_ylabel("2x2 DiD estimate")
        ax.set_title("Goodman-Bacon decomposition")
        return ax

    def to_dict(self) -> dict:
        from ..results import _records
        return {"method": self.method, "twfe_estimate": float(self.twfe_estimate),
                "table": _records(self.table), "by_type": _records(self.by_type())}


def bacon_decomposition(data: pd.DataFrame, *, outcome: str, unit: str, time: str,
                        group: str) -> BaconResult:
    """Goodman-Bacon (2021) decomposition of the TWFE DiD estimate (balanced panel, no covariates).

    The TWFE coefficient on ``D_it = 1[t >= g_i]`` equals ``sum_k s_k b_k`` over all 2x2 DiDs:
    treated vs never treated, earlier- vs later-treated (later as control before it is treated),
    later- vs earlier-treated (earlier, already treated, as control) and later vs always treated.
    Weights ``s_k`` (Goodman-Bacon 2021, Theorem 1) depend on group sizes and the variance of
    treatment within each pair and sum to one.
    """
    _require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "group": group})
    fe = _fe_codes(data, unit, time)
    if not fe.balanced:
        raise ValueError("the Bacon decomposition needs a balanced panel")
    y = data[outcome].to_numpy(float)
    g_row = group_codes(data[group].to_numpy(), group)
    G = np.zeros(fe.N, dtype=np.int64)
    uc, tc = np.asarray(fe.ucode), np.asarray(fe.tcode)
    G[uc] = g_row
    if not np.array_equal(G[uc], g_row):
        raise ValueError(f"group column {group!r} varies within unit (treatment must be absorbing)")
    T, tl = fe.T, fe.tlist
    Y = np.empty((fe.N, T))
    Y[uc, tc] = y
    G = np.where(G > tl[-1], 0, G)
    # period index of first treatment; always-treated -> 0; never -> T
    gi = np.where(G == 0, T, np.searchsorted(tl, G, side="left"))
    groups = np.unique(gi)
    nk = np.array([(gi == k).sum() for k in groups]) / fe.N
    Dbar = (T - groups) / T
    means = np.array([Y[gi == k].mean(axis=0) for k in groups])     # (ngroups, T)
    D = (np.arange(T)[None, :] >= gi[:, None]).astype(float)
    Dt = D - D.mean(axis=1, keepdims=True) - D.mean(axis=0, keepdims=True) + D.mean()
    Yt = Y - Y.mean(axis=1, keepdims=True) - Y.mean(axis=0, keepdims=True) + Y.mean()
    VD = (Dt ** 2).mean()
    beta = float((Dt * Yt).sum() / (Dt ** 2).sum())

    def m(k, lo, hi):
        return means[k, lo:hi].mean()

    def lab(k):
        v = groups[k]
        return "never" if v == T else ("always" if v == 0 else int(tl[v]))

    rows = []
    U = [i for i, v in enumerate(groups) if v == T]
    timing = [i for i, v in enumerate(groups) if v < T]
    for k in timing:
        gk = groups[k]
        if U and gk > 0:
            u = U[0]
            b = (m(k, gk, T) - m(k, 0, gk)) - (m(u, gk, T) - m(u, 0, gk))
            nkU = nk[k] / (nk[k] + nk[u])
            s = (nk[k] + nk[u]) ** 2 * nkU * (1 - nkU) * Dbar[k] * (1 - Dbar[k]) / VD
            rows.append(("Treated vs never treated", lab(k), lab(u), b, s))
    for a in timing:
        for c in timing:
            k, l = a, c
            if not groups[k] < groups[l]:
                continue
            gk, gl = groups[k], groups[l]
            nkl = nk[k] / (nk[k] + nk[l])
            if gk > 0:   # earlier k treated, later l as control before it is treated
                b = (m(k, gk, gl) - m(k, 0, gk)) - (m(l, gk, gl) - m(l, 0, gk))
                s = (((nk[k] + nk[l]) * (1 - Dbar[l])) ** 2 * nkl * (1 - nkl)
                     * (Dbar[k] - Dbar[l]) / (1 - Dbar[l]) * (1 - Dbar[k]) / (1 - Dbar[l]) / VD)
                rows.append(("Earlier vs later treated", lab(k), lab(l), b, s))
            b = (m(l, gl, T) - m(l, gk, gl)) - (m(k, gl, T) - m(k, gk, gl))
            s = (((nk[k] + nk[l]) * Dbar[k]) ** 2 * nkl * (1 - nkl)
                 * (Dbar[l] / Dbar[k]) * (Dbar[k] - Dbar[l]) / Dbar[k] / VD)
            rows.append(("Later vs earlier treated" if gk > 0 else "Later vs always treated",
                         lab(l), lab(k), b, s))
    tab = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"])
    return BaconResult(table=tab, method="Goodman-Bacon decomposition of the TWFE estimate",
                       twfe_estimate=beta,
                       extra={"sum_weights": float(tab["weight"].sum()),
                              "weighted_sum": float((tab["weight"] * tab["estimate"]).sum())})
