"""Synthetic control and synthetic difference-in-differences for one or a few treated units.

* :func:`synthdid` - synthetic DiD (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021,
  Algorithm 1): unit weights ``omega`` and time weights ``lambda`` on the simplex, ridge
  regularisation ``zeta``, solved by Frank-Wolfe with exact line search and one sparsifying
  restart, as the R package ``synthdid`` 0.0.9 (defaults identical, so the numbers agree).
* ``method="sc"`` - synthetic control (Abadie, Diamond & Hainmueller 2010) as synthdid's
  ``sc_estimate``: unit weights on the simplex fitting the treated units' pre-period path (no
  intercept, infinitesimal ridge), no time weights.  ``method="did"`` - uniform weights.
* Standard errors: ``"placebo"`` (Algorithm 4; each control in turn as a pseudo-treated unit,
  enumerated exactly when there is one treated unit, drawn otherwise) and ``"jackknife"``
  (Algorithm 3, fixed weights; needs at least two treated units).

Written from the paper and the package's documented algorithm; the package's code is not copied.
Covariates (synthdid's time-varying ``X``) and ADH's predictor matrix ``V`` are not implemented.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..results import Result
from ._data import _require_columns, integer_time


def _lab(x) -> str:
    """A data label for a message: numpy scalars shown as plain Python values."""
    return repr(x.item() if hasattr(x, "item") else x)


# ================================================================================ solver
def _sc_weights_one(Y, zeta, *, intercept, init, min_decrease, max_iter):
    """:func:`_sc_weights` for one problem (plain vector operations, the same steps and stopping)."""
    N, k = Y.shape[0], Y.shape[1] - 1
    w = np.full(k, 1.0 / k) if init is None else np.array(init, float)
    if intercept:
        Y = Y - Y.mean(axis=0)
    A = np.ascontiguousarray(Y[:, :k])
    At = np.ascontiguousarray(A.T)
    b = Y[:, k].copy()
    eta, z2, md2 = N * zeta ** 2, zeta ** 2, min_decrease ** 2
    Ax = A @ w
    prev = np.inf
    for it in range(max_iter):
        grad = At @ (Ax - b) + eta * w
        i = int(np.argmin(grad))
        dx = -w
        dx[i] += 1.0
        derr = At[i] - Ax
        den = derr @ derr + eta * (dx @ dx)
        step = min(1.0, max(0.0, -(grad @ dx) / den)) if den > 0 else 0.0
        w = w + step * dx
        Ax = Ax + step * derr
        e = Ax - b
        val = z2 * (w @ w) + (e @ e) / N
        if it >= 1 and not prev - val > md2:
            break
        prev = val
    return w


def _sc_weights(Y, zeta, *, intercept=True, init=None, min_decrease=1e-3, max_iter=1000):
    """Simplex weights on the first ``k`` columns of ``Y`` (rows are observations) predicting the
    last column, penalty ``zeta^2 ||w||^2`` per row, by Frank-Wolfe with exact line search for
    ``||A w - b||^2 + eta ||w||^2`` (``eta = N zeta^2``); stop when the objective
    ``zeta^2 ||w||^2 + ||A w - b||^2 / N`` falls by less than ``min_decrease^2`` or after
    ``max_iter`` steps.  ``Y`` may be a batch (P, N, k+1) of problems, each stopping on its own,
    with ``init`` (P, k).  The fitted values ``A w`` are updated along the step (one product
    ``A' r`` per step)."""
    if Y.ndim == 2:
        return _sc_weights_one(Y, zeta, intercept=intercept, init=init, min_decrease=min_decrease,
                               max_iter=max_iter)
    single = False
    P, N, k = Y.shape[0], Y.shape[1], Y.shape[2] - 1
    w = np.full((P, k), 1.0 / k) if init is None else np.array(init, float).reshape(P, k)
    if intercept:
        Y = Y - Y.mean(axis=1, keepdims=True)
    A = np.ascontiguousarray(Y[:, :, :k])
    b = Y[:, :, k]
    At = np.ascontiguousarray(np.transpose(A, (0, 2, 1)))
    eta = N * zeta ** 2
    z2 = zeta ** 2
    md2 = min_decrease ** 2
    Ax = (A @ w[:, :, None])[:, :, 0]
    prev = np.full(P, np.inf)
    active = np.ones(P, bool)
    live = np.arange(P)                     # problems still iterating (compacted as they stop)
    W = w
    it = 0
    while it < max_iter:
        rows = np.arange(len(live))
        r = Ax - b
        grad = np.matmul(At, r[:, :, None])[:, :, 0] + eta * w
        i = np.argmin(grad, axis=1)
        dx = -w
        dx[rows, i] += 1.0
        derr = At[rows, i, :] - Ax
        den = (derr * derr).sum(axis=1) + eta * (dx * dx).sum(axis=1)
        num = -(grad * dx).sum(axis=1)
        step = np.clip(np.divide(num, den, out=np.zeros(len(live)), where=den > 0), 0.0, 1.0)
        w = w + step[:, None] * dx
        Ax = Ax + step[:, None] * derr
        e = Ax - b
        val = z2 * (w * w).sum(axis=1) + (e * e).sum(axis=1) / N
        it += 1
        go = (prev - val) > md2 if it >= 2 else np.ones(len(live), bool)
        prev = val
        if not go.all():
            W[live[~go]] = w[~go]
            live, w, Ax, A, At, b, prev = live[go], w[go], Ax[go], A[go], At[go], b[go], prev[go]
            if len(live) == 0:
                break
    W[live] = w
    w = W
    return w[0] if single else w


def _sparsify(v):
    v = np.where(v <= v.max(axis=-1, keepdims=True) / 4, 0.0, v)
    return v / v.sum(axis=-1, keepdims=True)


def _collapse(Y, N0, T0):
    """``(N0+1) x (T0+1)``: treated rows and post columns averaged."""
    top = np.column_stack([Y[:N0, :T0], Y[:N0, T0:].mean(axis=1)])
    bot = np.append(Y[N0:, :T0].mean(axis=0), Y[N0:, T0:].mean())
    return np.vstack([top, bot])


def _sum_normalize(x):
    s = x.sum()
    return x / s if s != 0 else np.full(len(x), 1.0 / len(x))


@dataclass
class _Fit:
    estimate: float
    omega: np.ndarray
    lam: np.ndarray
    opts: dict


def _estimate(Y, N0, T0, method="sdid", *, omega=None, lam=None, update_omega=True, update_lambda=True,
              noise_level=None, eta_omega=None, eta_lambda=1e-6, min_decrease=None, max_iter=10_000,
              sparsify=True, max_iter_pre_sparsify=100) -> _Fit:
    """synthdid's Algorithm 1 on the matrix ``Y`` (controls first, then treated; pre columns first)."""
    N1, T1 = Y.shape[0] - N0, Y.shape[1] - T0
    if noise_level is None:
        noise_level = float(np.std(np.diff(Y[:N0, :T0], axis=1), ddof=1))
    if method == "sc":
        eta_omega = 1e-6 if eta_omega is None else eta_omega
        lam, update_lambda, omega_intercept = np.zeros(T0), False, False
    elif method == "did":
        omega, lam, update_omega, update_lambda, omega_intercept = (np.full(N0, 1 / N0), np.full(T0, 1 / T0),
                                                                    False, False, True)
    elif method == "sdid":
        omega_intercept = True
    else:
        raise ValueError("method must be 'sdid', 'sc' or 'did'")
    if eta_omega is None:
        eta_omega = (N1 * T1) ** 0.25
    zeta_omega, zeta_lambda = eta_omega * noise_level, eta_lambda * noise_level
    if min_decrease is None:
        min_decrease = 1e-5 * noise_level
    pre_iter = max_iter_pre_sparsify if sparsify else max_iter
    Yc = _collapse(Y, N0, T0)
    if update_lambda:
        lam = _sc_weights(Yc[:N0, :], zeta_lambda, intercept=True, init=lam, min_decrease=min_decrease,
                          max_iter=pre_iter)
        if sparsify:
            lam = _sc_weights(Yc[:N0, :], zeta_lambda, intercept=True, init=_sparsify(lam),
                              min_decrease=min_decrease, max_iter=max_iter)
    if update_omega:
        omega = _sc_weights(Yc[:, :T0].T, zeta_omega, intercept=omega_intercept, init=omega,
                            min_decrease=min_decrease, max_iter=pre_iter)
        if sparsify:
            omega = _sc_weights(Yc[:, :T0].T, zeta_omega, intercept=omega_intercept, init=_sparsify(omega),
                                min_decrease=min_decrease, max_iter=max_iter)
    est = float(np.append(-omega, np.full(N1, 1 / N1)) @ Y @ np.append(-lam, np.full(T1, 1 / T1)))
    opts = dict(method=method, noise_level=noise_level, eta_omega=eta_omega, eta_lambda=eta_lambda,
                min_decrease=min_decrease, max_iter=max_iter, sparsify=sparsify,
                max_iter_pre_sparsify=max_iter_pre_sparsify)
    return _Fit(est, omega, lam, opts)


# ================================================================================ inference
def _collapse_batch(Y, N0, T0):
    top = np.concatenate([Y[:, :N0, :T0], Y[:, :N0, T0:].mean(axis=2, keepdims=True)], axis=2)
    bot = np.concatenate([Y[:, N0:, :T0].mean(axis=1), Y[:, N0:, T0:].mean(axis=(1, 2))[:, None]], axis=1)
    return np.concatenate([top, bot[:, None, :]], axis=1)


def _estimate_batch(Ys, N0, T0, fit: _Fit, omega_init):
    """The fit of ``fit`` (same options, zeta and stopping rule, as synthdid passes them on) redone
    on a batch of panels ``Ys`` (P, N, T) of equal shape, weights initialised as synthdid does."""
    o = fit.opts
    P, N, T = Ys.shape
    N1, T1 = N - N0, T - T0
    zo, zl, md = o["eta_omega"] * o["noise_level"], o["eta_lambda"] * o["noise_level"], o["min_decrease"]
    pre = o["max_iter_pre_sparsify"] if o["sparsify"] else o["max_iter"]
    Yc = _collapse_batch(Ys, N0, T0)
    if o["method"] == "sdid":
        lam = _sc_weights(Yc[:, :N0, :], zl, intercept=True, init=np.tile(fit.lam, (P, 1)), min_decrease=md,
                          max_iter=pre)
        if o["sparsify"]:
            lam = _sc_weights(Yc[:, :N0, :], zl, intercept=True, init=_sparsify(lam), min_decrease=md,
                              max_iter=o["max_iter"])
    else:
        lam = np.tile(fit.lam, (P, 1))
    if o["method"] in ("sdid", "sc"):
        icpt = o["method"] == "sdid"
        At = np.transpose(Yc[:, :, :T0], (0, 2, 1))
        om = _sc_weights(At, zo, intercept=icpt, init=omega_init, min_decrease=md, max_iter=pre)
        if o["sparsify"]:
            om = _sc_weights(At, zo, intercept=icpt, init=_sparsify(om), min_decrease=md, max_iter=o["max_iter"])
    else:
        om = np.full((P, N0), 1.0 / N0)
    uw = np.concatenate([-om, np.full((P, N1), 1.0 / N1)], axis=1)
    tw = np.concatenate([-lam, np.full((P, T1), 1.0 / T1)], axis=1)
    return np.einsum("pn,pnt,pt->p", uw, Ys, tw)


def placebo_estimates(Y, N0, T0, fit: _Fit, *, draws: int | None = None, seed: int | None = None) -> np.ndarray:
    """Placebo estimates (Algorithm 4): controls only, ``N1`` of them as pseudo-treated.

    With one treated unit and ``draws=None`` each control is the pseudo-treated unit once (the
    exact placebo distribution that synthdid's 200 random draws approximate); otherwise ``draws``
    random permutations of the controls (default 200, as synthdid).  All placebo fits run as one
    batch of Frank-Wolfe problems.
    """
    N1 = Y.shape[0] - N0
    if N0 <= N1:
        raise ValueError(f"placebo standard errors need more control units ({N0}) than treated units ({N1})")
    Yc = Y[:N0]
    if N1 == 1 and draws is None:
        orders = np.array([np.append(np.delete(np.arange(N0), j), j) for j in range(N0)])
    else:
        rng = np.random.default_rng(seed)
        orders = np.array([rng.permutation(N0) for _ in range(draws or 200)])
    n0 = N0 - N1
    inits = np.array([_sum_normalize(fit.omega[ind[:n0]]) for ind in orders])
    return _estimate_batch(Yc[orders], n0, T0, fit, inits)


def jackknife_se(Y, N0, T0, fit: _Fit) -> float:
    """Fixed-weights jackknife (Algorithm 3): leave one unit out, weights renormalised, not refitted."""
    N = Y.shape[0]
    N1 = N - N0
    if N1 < 2:
        raise ValueError("the jackknife standard error needs at least 2 treated units (with one treated unit, "
                         "leaving it out leaves nothing to estimate); use se='placebo'")
    if (fit.omega != 0).sum() == 1:
        raise ValueError("the jackknife standard error is undefined when a single control has all the weight; "
                         "use se='placebo'")
    T1 = Y.shape[1] - T0
    tw = np.append(-fit.lam, np.full(T1, 1 / T1))
    yt = Y @ tw                                          # per-unit time-weighted contrast
    u = np.empty(N)
    for i in range(N):                                   # closed form: weights fixed
        if i < N0:
            om = _sum_normalize(np.delete(fit.omega, i))
            u[i] = yt[N0:].mean() - om @ np.delete(yt[:N0], i)
        else:
            u[i] = np.delete(yt[N0:], i - N0).mean() - fit.omega @ yt[:N0]
    return float(np.sqrt((N - 1) / N * ((u - u.mean()) ** 2).sum()))


# ================================================================================ result
@dataclass
class SynthResult(Result):
    """Synthetic control / SDID / DiD estimate with unit and time weights.

    ``omega`` (Series by control unit) and ``lam`` (Series by pre-period) are the weights;
    ``Y`` (units x periods DataFrame, controls first) the panel; ``placebo`` the placebo estimates.
    Confidence intervals are normal, ``estimate +- z se``, as synthdid reports them.
    """

    omega: pd.Series | None = None
    lam: pd.Series | None = None
    Y: pd.DataFrame | None = field(default=None, repr=False)
    N0: int = 0
    T0: int = 0
    placebo: np.ndarray | None = field(default=None, repr=False)

    @property
    def placebo_pvalue(self) -> float:
        """Abadie et al. (2010)'s placebo test: ``(1 + #{|tau_j| >= |tau|}) / (J + 1)`` over the
        placebo estimates ``tau_j`` (each control once as pseudo-treated); ``1 / (J + 1)`` is the
        smallest attainable value."""
        if self.placebo is None:
            return float("nan")
        return float((1 + np.sum(np.abs(self.placebo) >= abs(self.estimate))) / (len(self.placebo) + 1))

    @property
    def effective_controls(self) -> float:
        """``1 / sum(omega^2)`` (synthdid's 'Effective N0')."""
        return float(1 / (self.omega ** 2).sum())

    def trajectories(self) -> pd.DataFrame:
        """Treated mean and the synthetic comparison by period (SDID/DiD: shifted by the
        lambda-weighted pre-period gap, so the two paths coincide on average before treatment)."""
        Y = self.Y.to_numpy()
        tr = Y[self.N0:].mean(axis=0)
        syn = self.omega.to_numpy() @ Y[:self.N0]
        lam = self.lam.to_numpy()
        if lam.sum() > 0:
            syn = syn + (tr[:self.T0] - syn[:self.T0]) @ lam
        return pd.DataFrame({"period": self.Y.columns, "treated": tr, "synthetic": syn,
                             "post": np.arange(Y.shape[1]) >= self.T0})

    def plot(self, ax=None):
        """Treated vs synthetic trajectory, with the time weights as bars along the bottom."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        tj = self.trajectories()
        x = tj["period"].to_numpy(dtype=float)
        ax.plot(x, tj["treated"], color="tab:red", lw=2, label="treated")
        ax.plot(x, tj["synthetic"], color="tab:blue", lw=2, ls="--", label="synthetic")
        ax.axvline(x[self.T0] - 0.5, color="0.4", lw=1)
        lam = self.lam.to_numpy()
        if lam.sum() > 0:
            lo, hi = ax.get_ylim()
            ax.bar(x[:self.T0], lam * (hi - lo) * 0.2, bottom=lo, color="0.7", width=0.8, label="time weights")
        ax.set_xlabel("period")
        ax.set_title(f"{self.method}: estimate {self.estimate:.3g}")
        ax.legend(frameon=False)
        return ax

    def plot_weights(self, ax=None, top: int = 20):
        """The largest unit weights."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.25 * min(top, len(self.omega)) + 1))
        w = self.omega[self.omega > 0].sort_values(ascending=True).tail(top)
        ax.barh([str(i) for i in w.index], w.to_numpy(), color="tab:blue")
        ax.set_xlabel("unit weight")
        ax.set_title("Synthetic comparison: unit weights")
        return ax

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["effective_controls"] = self.effective_controls
        d["placebo_pvalue"] = self.placebo_pvalue
        d["weights"] = {str(k): float(v) for k, v in self.omega[self.omega > 0].items()}
        return d


# ================================================================================ front end
def panel_matrix(data: pd.DataFrame, *, outcome: str, unit: str, time: str, treatment: str,
                 min_pre_periods: int = 2):
    """Units x periods outcome matrix, controls first, with ``N0`` and ``T0`` (synthdid's
    ``panel.matrices``); checks a balanced panel and simultaneous adoption."""
    _require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "treatment": treatment})
    t = integer_time(data[time].to_numpy(), time)
    d = data[treatment].to_numpy(float)
    if not np.isin(d, [0, 1]).all():
        raise ValueError(f"treatment column {treatment!r} must be 0/1")
    if data[outcome].isna().any():
        raise ValueError(f"outcome {outcome!r} has missing values; synthetic control needs a complete panel")
    dup = pd.Series(list(zip(data[unit], t))).duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"duplicate unit-period rows: unit {_lab(data[unit].iloc[i])} in period {t[i]}")
    frame = pd.DataFrame({"u": data[unit].to_numpy(), "t": t, "y": data[outcome].to_numpy(float), "d": d})
    Y = frame.pivot(index="u", columns="t", values="y")
    W = frame.pivot(index="u", columns="t", values="d")
    if Y.isna().any().any():
        u = Y.index[Y.isna().any(axis=1)][0]
        raise ValueError(f"unbalanced panel: unit {_lab(u)} is missing in period(s) "
                         f"{list(Y.columns[Y.loc[u].isna()])[:5]}; synthetic control needs every unit in every period")
    treated = W.max(axis=1) > 0
    if not treated.any():
        raise ValueError(f"no treated unit: {treatment!r} is 0 everywhere")
    if treated.all():
        raise ValueError("every unit is treated: there are no control units to weight")
    first = W.columns.get_indexer([W.columns[W.loc[treated].to_numpy().argmax(axis=1)].min()])[0]
    T0 = int(first)
    ok = (W.loc[treated].to_numpy()[:, T0:] == 1).all() and (W.loc[treated].to_numpy()[:, :T0] == 0).all()
    if not ok:
        raise ValueError("treated units do not all start at the same period and stay treated; synthetic "
                         "control / SDID handle one adoption date (estimate each cohort separately)")
    if T0 < min_pre_periods:
        raise ValueError(f"only {T0} pre-treatment period(s) before {W.columns[T0]}; synthetic control needs at "
                         f"least {min_pre_periods} to fit the weights (and 2 to estimate the noise level)")
    order = list(Y.index[~treated]) + list(Y.index[treated])
    return Y.loc[order], int((~treated).sum()), T0


def synthdid(data: pd.DataFrame, *, outcome: str, unit: str, time: str, treatment: str,
             method: str = "sdid", se: str | None = "placebo", placebo_draws: int | None = None,
             seed: int | None = None, level: float = 0.95, min_pre_periods: int = 2,
             eta_omega: float | None = None, eta_lambda: float = 1e-6, max_iter: int = 10_000,
             sparsify: bool = True) -> SynthResult:
    r"""Synthetic difference-in-differences, synthetic control or DiD for a treated block.

    Parameters
    ----------
    data : DataFrame
        Balanced long panel; ``treatment`` is 1 for treated units from the (common) adoption period.
    method : {"sdid", "sc", "did"}
    se : {"placebo", "jackknife", None}
        Placebo (works with one treated unit; needs more controls than treated units) or fixed-weights
        jackknife (needs two or more treated units).
    placebo_draws : int, optional
        ``None`` with one treated unit: every control once as the pseudo-treated unit (exact).
    eta_omega, eta_lambda, max_iter, sparsify
        synthdid's tuning: ``zeta_omega = eta_omega sigma`` with ``eta_omega = (N1 T1)^{1/4}`` (SDID)
        or ``1e-6`` (SC), ``zeta_lambda = 1e-6 sigma``, ``sigma`` the standard deviation of the
        controls' first differences before treatment; Frank-Wolfe stops when the objective falls by
        less than ``(1e-5 sigma)^2`` or after ``max_iter`` steps (100 before the sparsifying restart).

    Notes
    -----
    .. math:: \hat\tau = \bar Y_{tr,post} - \sum_t \lambda_t \bar Y_{tr,t} - \Big(\sum_i \omega_i \bar Y_{i,post}
              - \sum_{i,t} \omega_i \lambda_t Y_{it}\Big)

    ``omega`` minimises ``sum_t (omega_0 + omega' Y_co,t - Y_tr,t)^2 + T0 zeta_omega^2 ||omega||^2``
    over pre-periods and ``lambda`` the analogue over controls (Arkhangelsky et al. 2021, eqs. 2.2-2.4).
    Synthetic control drops the intercept and time weights (ADH 2010's estimator with equal
    predictor weights on the pre-period outcomes).
    """
    Y, N0, T0 = panel_matrix(data, outcome=outcome, unit=unit, time=time, treatment=treatment,
                             min_pre_periods=min_pre_periods)
    if se not in ("placebo", "jackknife", None):
        raise ValueError("se must be 'placebo', 'jackknife' or None")
    if se == "jackknife" and Y.shape[0] - N0 < 2:
        raise ValueError(f"se='jackknife' needs at least 2 treated units; there is {Y.shape[0] - N0} "
                         f"({list(Y.index[N0:])}). Use se='placebo' for one treated unit")
    M = Y.to_numpy()
    fit = _estimate(M, N0, T0, method, eta_omega=eta_omega, eta_lambda=eta_lambda, max_iter=max_iter,
                    sparsify=sparsify)
    placebo = None
    if se == "placebo":
        placebo = placebo_estimates(M, N0, T0, fit, draws=placebo_draws, seed=seed)
        s = float(np.sqrt(np.mean((placebo - placebo.mean()) ** 2)))
    elif se == "jackknife":
        s = jackknife_se(M, N0, T0, fit)
    else:
        s = np.nan
    name = {"sdid": "Synthetic difference-in-differences", "sc": "Synthetic control",
            "did": "Difference-in-differences"}[method]
    how = {"placebo": f"placebo SE ({len(placebo) if placebo is not None else 0} placebo fits)",
           "jackknife": "jackknife SE", None: "no SE"}[se]
    return SynthResult(estimate=fit.estimate, se=s, n=int(Y.shape[0]), term="ATT", method=f"{name}, {how}",
                       level=level, omega=pd.Series(fit.omega, index=Y.index[:N0], name="omega"),
                       lam=pd.Series(fit.lam, index=Y.columns[:T0], name="lambda"), Y=Y, N0=N0, T0=T0,
                       placebo=placebo,
                       extra={"n_treated": int(Y.shape[0] - N0), "n_controls": N0, "pre_periods": T0,
                              "post_periods": int(Y.shape[1] - T0), "noise_level": fit.opts["noise_level"]})


def synthetic_control(data: pd.DataFrame, **kwargs) -> SynthResult:
    """Synthetic control (ADH 2010) as synthdid's ``sc_estimate``: :func:`synthdid` with ``method="sc"``."""
    return synthdid(data, method="sc", **kwargs)
