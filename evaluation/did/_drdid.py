"""Two-period DiD estimators with influence functions (Sant'Anna & Zhao 2020; R DRDID).

Panel versions take the long difference ``dy``; repeated cross-section versions (used for
unbalanced panels, as R ``did`` does) take ``y`` and a ``post`` indicator.  Every function
returns ``(att, inf)`` where ``inf`` is scaled like DRDID's ``att.inf.func``: the estimator's
variance is ``mean(inf**2) / n``.  ``X`` always contains the intercept column.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit


class OverlapError(RuntimeError):
    pass


def logit(X: np.ndarray, D: np.ndarray, w: np.ndarray, tol: float = 1e-10, maxit: int = 50):
    """Weighted logit by Newton-Raphson; returns fitted probabilities."""
    k = X.shape[1]
    beta = np.zeros(k)
    pbar = np.average(D, weights=w)
    beta[0] = np.log(pbar / (1 - pbar))
    dev_old = np.inf
    for _ in range(maxit):
        eta = X @ beta
        p = expit(eta)
        W = w * p * (1 - p)
        grad = X.T @ (w * (D - p))
        H = (X * W[:, None]).T @ X
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            raise OverlapError("propensity-score design matrix is singular") from None
        beta = beta + step
        dev = -2 * np.sum(w * (D * np.log(np.clip(p, 1e-300, None))
                               + (1 - D) * np.log(np.clip(1 - p, 1e-300, None))))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol and np.max(np.abs(step)) < 1e-7:
            break
        dev_old = dev
    return expit(X @ beta)


def _wols(X, y, w):
    XtW = X.T * w
    return np.linalg.solve(XtW @ X, XtW @ y)


def _asy_ols(X, resid, wsel, n):
    """Asymptotic linear representation of a weighted OLS fit (n x k)."""
    XpX = (X.T * wsel) @ X / n
    if np.linalg.cond(XpX) > 1 / np.finfo(float).eps:
        raise OverlapError("regression design matrix is singular")
    return (X * (wsel * resid)[:, None]) @ np.linalg.inv(XpX)


def _asy_ps(X, D, ps, w, n):
    W = ps * (1 - ps) * w
    H = (X * W[:, None]).T @ X
    return (X * (w * (D - ps))[:, None]) @ (np.linalg.inv(H) * n)


def dr_panel(dy, D, X, w, ps=None, trim_level=0.995):
    n = len(D)
    w = w / w.mean()
    if ps is None:
        ps = logit(X, D, w)
    ps = np.minimum(ps, 1 - 1e-6)
    trim = np.where(D == 1, True, ps < trim_level)
    ctrl = D == 0
    beta = _wols(X[ctrl], dy[ctrl], w[ctrl])
    out = X @ beta
    w_t = trim * w * D
    w_c = trim * w * ps * (1 - D) / (1 - ps)
    r = dy - out
    eta_t = np.mean(w_t * r) / np.mean(w_t)
    eta_c = np.mean(w_c * r) / np.mean(w_c)
    att = eta_t - eta_c
    alr_ols = _asy_ols(X, r, w * (1 - D), n)
    alr_ps = _asy_ps(X, D, ps, w, n)
    inf_t1 = w_t * r - w_t * eta_t
    M1 = (w_t[:, None] * X).mean(axis=0)
    inf_t = (inf_t1 - alr_ols @ M1) / np.mean(w_t)
    inf_c1 = w_c * r - w_c * eta_c
    M2 = ((w_c * (r - eta_c))[:, None] * X).mean(axis=0)
    M3 = (w_c[:, None] * X).mean(axis=0)
    inf_c = (inf_c1 + alr_ps @ M2 - alr_ols @ M3) / np.mean(w_c)
    return att, inf_t - inf_c


def ipw_panel(dy, D, X, w, ps=None, trim_level=0.995):
    n = len(D)
    w = w / w.mean()
    if ps is None:
        ps = logit(X, D, w)
    ps = np.minimum(ps, 1 - 1e-6)
    trim = np.where(D == 1, True, ps < trim_level)
    w_t = trim * w * D
    w_c = trim * w * ps * (1 - D) / (1 - ps)
    eta_t = np.mean(w_t * dy) / np.mean(w_t)
    eta_c = np.mean(w_c * dy) / np.mean(w_c)
    att = eta_t - eta_c
    alr_ps = _asy_ps(X, D, ps, w, n)
    inf_t = (w_t * dy - w_t * eta_t) / np.mean(w_t)
    M2 = ((w_c * (dy - eta_c))[:, None] * X).mean(axis=0)
    inf_c = (w_c * dy - w_c * eta_c + alr_ps @ M2) / np.mean(w_c)
    return att, inf_t - inf_c


def reg_panel(dy, D, X, w, ps=None):
    n = len(D)
    w = w / w.mean()
    ctrl = D == 0
    beta = _wols(X[ctrl], dy[ctrl], w[ctrl])
    out = X @ beta
    w_t = w * D
    eta_t = np.mean(w_t * dy) / np.mean(w_t)
    eta_c = np.mean(w_t * out) / np.mean(w_t)
    att = eta_t - eta_c
    alr_ols = _asy_ols(X, dy - out, w * (1 - D), n)
    inf_t = (w_t * dy - w_t * eta_t) / np.mean(w_t)
    M1 = (w_t[:, None] * X).mean(axis=0)
    inf_c = (w_t * out - w_t * eta_c + alr_ols @ M1) / np.mean(w_t)
    return att, inf_t - inf_c


# ---------------------------------------------------------------- repeated cross sections
def dr_rc(y, post, D, X, w, ps=None, trim_level=0.995):
    n = len(D)
    w = w / w.mean()
    if ps is None:
        ps = logit(X, D, w)
    ps = np.minimum(ps, 1 - 1e-6)
    trim = np.where(D == 1, True, ps < trim_level)

    def fit(mask):
        return X @ _wols(X[mask], y[mask], w[mask])

    c = D == 0
    t = D == 1
    oy_c_pre = fit(c & (post == 0))
    oy_c_post = fit(c & (post == 1))
    oy_c = post * oy_c_post + (1 - post) * oy_c_pre
    oy_t_pre = fit(t & (post == 0))
    oy_t_post = fit(t & (post == 1))
    w_tpre = trim * w * D * (1 - post)
    w_tpost = trim * w * D * post
    w_cpre = trim * w * ps * (1 - D) * (1 - post) / (1 - ps)
    w_cpost = trim * w * ps * (1 - D) * post / (1 - ps)
    w_d = trim * w * D
    w_dt1 = trim * w * D * post
    w_dt0 = trim * w * D * (1 - post)
    m = np.mean
    e_tpre = w_tpre * (y - oy_c) / m(w_tpre)
    e_tpost = w_tpost * (y - oy_c) / m(w_tpost)
    e_cpre = w_cpre * (y - oy_c) / m(w_cpre)
    e_cpost = w_cpost * (y - oy_c) / m(w_cpost)
    e_dpost = w_d * (oy_t_post - oy_c_post) / m(w_d)
    e_dt1post = w_dt1 * (oy_t_post - oy_c_post) / m(w_dt1)
    e_dpre = w_d * (oy_t_pre - oy_c_pre) / m(w_d)
    e_dt0pre = w_dt0 * (oy_t_pre - oy_c_pre) / m(w_dt0)
    a_tpre, a_tpost, a_cpre, a_cpost = m(e_tpre), m(e_tpost), m(e_cpre), m(e_cpost)
    a_dpost, a_dt1post, a_dpre, a_dt0pre = m(e_dpost), m(e_dt1post), m(e_dpre), m(e_dt0pre)
    att = (a_tpost - a_tpre) - (a_cpost - a_cpre) + (a_dpost - a_dt1post) - (a_dpre - a_dt0pre)

    alr_c_pre = _asy_ols(X, y - oy_c_pre, w * (1 - D) * (1 - post), n)
    alr_c_post = _asy_ols(X, y - oy_c_post, w * (1 - D) * post, n)
    alr_t_pre = _asy_ols(X, y - oy_t_pre, w * D * (1 - post), n)
    alr_t_post = _asy_ols(X, y - oy_t_post, w * D * post, n)
    alr_ps = _asy_ps(X, D, ps, w, n)
    cm = lambda a: a.mean(axis=0)  # noqa: E731
    inf_tpre = e_tpre - w_tpre * a_tpre / m(w_tpre)
    inf_tpost = e_tpost - w_tpost * a_tpost / m(w_tpost)
    M1post = -cm((w_tpost * post)[:, None] * X) / m(w_tpost)
    M1pre = -cm((w_tpre * (1 - post))[:, None] * X) / m(w_tpre)
    inf_t_or = alr_c_post @ M1post + alr_c_pre @ M1pre
    inf_cpre = e_cpre - w_cpre * a_cpre / m(w_cpre)
    inf_cpost = e_cpost - w_cpost * a_cpost / m(w_cpost)
    M2pre = cm((w_cpre * (y - oy_c - a_cpre))[:, None] * X) / m(w_cpre)
    M2post = cm((w_cpost * (y - oy_c - a_cpost))[:, None] * X) / m(w_cpost)
    inf_c_ps = alr_ps @ (M2post - M2pre)
    M3post = -cm((w_cpost * post)[:, None] * X) / m(w_cpost)
    M3pre = -cm((w_cpre * (1 - post))[:, None] * X) / m(w_cpre)
    inf_c_or = alr_c_post @ M3post + alr_c_pre @ M3pre
    inf_eff = ((e_dpost - w_d * a_dpost / m(w_d)) - (e_dt1post - w_dt1 * a_dt1post / m(w_dt1))
               - ((e_dpre - w_d * a_dpre / m(w_d)) - (e_dt0pre - w_dt0 * a_dt0pre / m(w_dt0))))
    mom_post = cm((w_d / m(w_d) - w_dt1 / m(w_dt1))[:, None] * X)
    mom_pre = cm((w_d / m(w_d) - w_dt0 / m(w_dt0))[:, None] * X)
    inf_or = (alr_t_post - alr_c_post) @ mom_post - (alr_t_pre - alr_c_pre) @ mom_pre
    inf_treat = inf_tpost - inf_tpre + inf_t_or
    inf_cont = inf_cpost - inf_cpre + inf_c_ps + inf_c_or
    return att, inf_treat - inf_cont + inf_eff + inf_or


def ipw_rc(y, post, D, X, w, ps=None, trim_level=0.995):
    n = len(D)
    w = w / w.mean()
    if ps is None:
        ps = logit(X, D, w)
    ps = np.minimum(ps, 1 - 1e-6)
    m = np.mean
    w_tpre = w * D * (1 - post)
    w_tpost = w * D * post
    w_cpre = w * ps * (1 - D) * (1 - post) / (1 - ps)
    w_cpost = w * ps * (1 - D) * post / (1 - ps)
    e_tpre, e_tpost = w_tpre * y / m(w_tpre), w_tpost * y / m(w_tpost)
    e_cpre, e_cpost = w_cpre * y / m(w_cpre), w_cpost * y / m(w_cpost)
    a_tpre, a_tpost, a_cpre, a_cpost = m(e_tpre), m(e_tpost), m(e_cpre), m(e_cpost)
    att = (a_tpost - a_tpre) - (a_cpost - a_cpre)
    alr_ps = _asy_ps(X, D, ps, w, n)
    inf_t = (e_tpost - w_tpost * a_tpost / m(w_tpost)) - (e_tpre - w_tpre * a_tpre / m(w_tpre))
    inf_c = (e_cpost - w_cpost * a_cpost / m(w_cpost)) - (e_cpre - w_cpre * a_cpre / m(w_cpre))
    M2pre = ((w_cpre * (y - a_cpre))[:, None] * X).mean(axis=0) / m(w_cpre)
    M2post = ((w_cpost * (y - a_cpost))[:, None] * X).mean(axis=0) / m(w_cpost)
    inf_c = inf_c + alr_ps @ (M2post - M2pre)
    return att, inf_t - inf_c


def reg_rc(y, post, D, X, w, ps=None):
    n = len(D)
    w = w / w.mean()
    m = np.mean
    c = D == 0
    pre_c, post_c = c & (post == 0), c & (post == 1)
    oy_pre = X @ _wols(X[pre_c], y[pre_c], w[pre_c])
    oy_post = X @ _wols(X[post_c], y[post_c], w[post_c])
    w_tpre, w_tpost, w_c = w * D * (1 - post), w * D * post, w * D
    eta_tpre = m(w_tpre * y) / m(w_tpre)
    eta_tpost = m(w_tpost * y) / m(w_tpost)
    eta_c = m(w_c * (oy_post - oy_pre)) / m(w_c)
    att = (eta_tpost - eta_tpre) - eta_c
    alr_pre = _asy_ols(X, y - oy_pre, w * (1 - D) * (1 - post), n)
    alr_post = _asy_ols(X, y - oy_post, w * (1 - D) * post, n)
    inf_t = (w_tpost * y - w_tpost * eta_tpost) / m(w_tpost) - (w_tpre * y - w_tpre * eta_tpre) / m(w_tpre)
    M1 = (w_c[:, None] * X).mean(axis=0)
    inf_c = (w_c * (oy_post - oy_pre) - w_c * eta_c + alr_post @ M1 - alr_pre @ M1) / m(w_c)
    return att, inf_t - inf_c


PANEL = {"dr": dr_panel, "ipw": ipw_panel, "reg": reg_panel}
RC = {"dr": dr_rc, "ipw": ipw_rc, "reg": reg_rc}


def quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(*a, **k)
