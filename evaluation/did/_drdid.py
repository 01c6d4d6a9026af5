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


def _dev(D, p, w):
    return -2 * np.sum(w * (D * np.log(np.clip(p, 1e-300, None))
                            + (1 - D) * np.log(np.clip(1 - p, 1e-300, None))))


def _dev_eta(D, eta, w):
    """Binomial deviance from the linear predictor: 2 sum w (log(1 + e^eta) - D eta)."""
    return 2 * (w @ np.logaddexp(0.0, eta) - (w * D) @ eta)


def logit(X: np.ndarray, D: np.ndarray, w: np.ndarray, tol: float = 1e-10, maxit: int = 50):
    """Weighted logit by Newton-Raphson (as R ``glm``); returns fitted probabilities.

    Non-constant columns are standardised internally (fitted probabilities are invariant to
    the scaling) and a Newton step that raises the deviance is halved, so covariates in
    large units (earnings in NOK or dollars) do not overshoot into a singular Hessian.
    """
    k = X.shape[1]
    sd = X.std(axis=0)
    scale = np.where(sd > 0, sd, 1.0)
    Xs = X / scale
    beta = np.zeros(k)
    pbar = np.average(D, weights=w)
    const = np.flatnonzero(sd == 0)
    if len(const):
        beta[const[0]] = np.log(pbar / (1 - pbar)) / Xs[0, const[0]]
    eta = Xs @ beta
    p = expit(eta)
    dev_old = _dev_eta(D, eta, w)
    for _ in range(maxit):
        W = w * p * (1 - p)
        grad = Xs.T @ (w * (D - p))
        H = (Xs.T * W) @ Xs
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            raise OverlapError("propensity-score design matrix is singular") from None
        for _half in range(30):
            eta_new = Xs @ (beta + step)
            dev = _dev_eta(D, eta_new, w)
            if dev <= dev_old + 1e-12 * (abs(dev_old) + 1):
                break
            step = step / 2
        beta = beta + step
        eta = eta_new
        p = expit(eta)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol and np.max(np.abs(step)) < 1e-7:
            break
        dev_old = dev
    return p


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


# ------------------------------------------------- improved DR (Sant'Anna & Zhao 2020, Section 3.1)
def ipt_pscore(X, D, w, tol: float = 1e-10, maxit: int = 200):
    r"""Propensity score by inverse probability tilting (Graham, Pinto & Egel 2012; DRDID ``pscore.cal``).

    A logit ``p(x) = 1 / (1 + exp(-x'g))`` whose coefficients minimise the convex IPT loss

    .. math:: \ell(g) = E_n[\, w \{ (1 - D) e^{x'g} - D\, x'g \} ],

    so that at the optimum ``E_n[w (1-D) p/(1-p) x] = E_n[w D x]``: the control units weighted by
    the fitted odds ``p/(1-p)`` reproduce the treated units' weighted covariate totals exactly (every
    column of ``X``, including the intercept).  Solved by Newton's method with step halving.

    Returns ``(ps, gamma)``.  Raises :class:`OverlapError` if the loss has no minimum (the treated
    covariate mean lies outside the convex hull of the controls' covariates) or the design is
    singular.
    """
    w = w / w.mean()
    c = D == 0
    wt, wc = w * D, w * (1 - D)
    if wt.sum() <= 0 or wc.sum() <= 0:
        raise OverlapError("IPT propensity score needs both treated and control units")
    g = np.zeros(X.shape[1])
    g[0] = np.log(wt.sum() / wc.sum())
    n = len(D)
    target = wt @ X / n

    t = ~c
    fail = ("IPT propensity score did not converge: no balancing solution (the treated covariate "
            "mean is outside the range of the controls'; check overlap)")

    def loss(g):
        eta = X @ g
        with np.errstate(over="ignore"):
            return (np.sum(wc[c] * np.exp(eta[c])) - np.sum(wt[t] * eta[t])) / n

    val = loss(g)
    for _ in range(maxit):
        with np.errstate(over="ignore"):
            wo = wc[c] * np.exp(X[c] @ g)              # control weights times odds
        grad = wo @ X[c] / n - target
        if np.max(np.abs(grad)) < tol * (1 + np.max(np.abs(target))):
            break
        H = (X[c] * wo[:, None]).T @ X[c] / n
        if not np.all(np.isfinite(H)) or np.linalg.cond(H) > 1 / np.finfo(float).eps:
            raise OverlapError("IPT propensity-score design matrix is singular" if _ == 0 else fail)
        step = np.linalg.solve(H, grad)
        s = 1.0
        while True:
            new = loss(g - s * step)
            if np.isfinite(new) and new <= val - 1e-4 * s * (grad @ step):
                break
            s /= 2
            if s < 1e-12:
                raise OverlapError(fail)
        g = g - s * step
        val = new
    else:
        raise OverlapError(fail)
    return expit(X @ g), g


def dr_imp_panel(dy, D, X, w, ps=None):
    r"""Improved locally efficient doubly robust DiD for panel data (DRDID ``drdid_imp_panel``).

    Sant'Anna & Zhao (2020), Section 3.1.  Nuisance fits:

    * propensity score ``p(x; g)`` by inverse probability tilting (:func:`ipt_pscore`), so that
      :math:`E_n[w(1-D)	frac{p}{1-p}X] = E_n[wDX]`;
    * outcome regression :math:`m(x) = x'b` for the long difference by weighted least squares on
      the controls with weights :math:`w\,p/(1-p)`.

    Then

    .. math:: \widehat{ATT} = rac{E_nig[w\,ig(D - (1-D)	frac{p(X)}{1-p(X)}ig)
              ig(\Delta Y - m(X)ig)ig]}{E_n[wD]} .

    The two sets of first-order conditions make the derivatives of this moment with respect to
    ``g`` and ``b`` vanish at the estimates, so the influence function has no estimation-effect
    terms:

    .. math:: \psi_i = rac{w_iig(D_i - (1-D_i)	frac{p_i}{1-p_i}ig)(\Delta Y_i - m(X_i))
              - w_i D_i\,\widehat{ATT}}{E_n[wD]} .

    The estimator is doubly robust for the ATT and for inference, and locally efficient.
    No propensity-score trimming (as DRDID); ``p`` is capped at ``1 - 1e-6``.
    Returns ``(att, inf)`` scaled like the other estimators (``var = mean(inf**2) / n``).
    """
    w = w / w.mean()
    if ps is None:
        ps, _ = ipt_pscore(X, D, w)
    ps = np.minimum(ps, 1 - 1e-6)
    odds = ps / (1 - ps)
    ctrl = D == 0
    beta = _wols(X[ctrl], dy[ctrl], (w * odds)[ctrl])
    r = dy - X @ beta
    h = w * (D - (1 - D) * odds)
    mD = np.mean(w * D)
    att = np.mean(h * r) / mD
    return att, (h * r - w * D * att) / mD


# ---------------------------------------------------------------- repeated cross sections
def dr_rc(y, post, D, X, w, ps=None, trim_level=0.995, r_pre_sign: float = -1.0):
    r"""Locally efficient doubly robust DiD for repeated cross-sections (DRDID ``drdid_rc``).

    Sant'Anna & Zhao (2020), eq. (3.4): logit propensity score, linear outcome regressions for the
    controls and the treated in each period, and

    .. math:: \widehat{ATT} = (\hat a_{t,1} - \hat a_{t,0}) - (\hat a_{c,1} - \hat a_{c,0})
              + (\hat a_{d,1} - \hat a_{dt,1}) - (\hat a_{d,0} - \hat a_{dt,0}),

    with :math:`\hat a_{t,s} = E_n[w_{t,s}(Y - \hat m_c(X))]/E_n[w_{t,s}]` etc.

    **Where this differs from R DRDID (<= 1.2.x).**  The terms :math:`\hat a_{t,0}` and
    :math:`\hat a_{c,0}` enter the ATT with a minus sign, so the estimation effect of the
    pre-period control regression :math:`\hat\beta_{c,0}` on them must be *subtracted* from the
    influence function; ``drdid_rc`` adds it (``inf.treat.or <- inf.treat.or.post +
    inf.treat.or.pre`` and likewise ``inf.cont.or``).  Here it is subtracted
    (``r_pre_sign=-1``), which makes the influence function equal the numerical derivative of the
    estimator with respect to each observation's weight (tests/test_did.py,
    ``test_drdid_rc_influence_function_is_the_derivative``) and gives correct Monte Carlo
    coverage where R's does not (benchmarks/bench_did_rc_coverage.py).  The two differ by
    :math:`2\,\psi_{\beta_{c,0}}'(\bar X^w_{c,0} - \bar X_{t,0})`, which vanishes when the
    propensity score balances the pre-period covariates (correctly specified propensity score,
    large samples) but not otherwise.  The point estimate is the same as R's.
    ``r_pre_sign=+1`` reproduces R (used only by the tests that show the difference).
    """
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
    inf_t_or = alr_c_post @ M1post + r_pre_sign * (alr_c_pre @ M1pre)
    inf_cpre = e_cpre - w_cpre * a_cpre / m(w_cpre)
    inf_cpost = e_cpost - w_cpost * a_cpost / m(w_cpost)
    M2pre = cm((w_cpre * (y - oy_c - a_cpre))[:, None] * X) / m(w_cpre)
    M2post = cm((w_cpost * (y - oy_c - a_cpost))[:, None] * X) / m(w_cpost)
    inf_c_ps = alr_ps @ (M2post - M2pre)
    M3post = -cm((w_cpost * post)[:, None] * X) / m(w_cpost)
    M3pre = -cm((w_cpre * (1 - post))[:, None] * X) / m(w_cpre)
    inf_c_or = alr_c_post @ M3post + r_pre_sign * (alr_c_pre @ M3pre)
    inf_eff = ((e_dpost - w_d * a_dpost / m(w_d)) - (e_dt1post - w_dt1 * a_dt1post / m(w_dt1))
               - ((e_dpre - w_d * a_dpre / m(w_d)) - (e_dt0pre - w_dt0 * a_dt0pre / m(w_dt0))))
    mom_post = cm((w_d / m(w_d) - w_dt1 / m(w_dt1))[:, None] * X)
    mom_pre = cm((w_d / m(w_d) - w_dt0 / m(w_dt0))[:, None] * X)
    inf_or = (alr_t_post - alr_c_post) @ mom_post - (alr_t_pre - alr_c_pre) @ mom_pre
    inf_treat = inf_tpost - inf_tpre + inf_t_or
    inf_cont = inf_cpost - inf_cpre + inf_c_ps + inf_c_or
    return att, inf_treat - inf_cont + inf_eff + inf_or


def rc_means(y, post, D, w):
    r"""Repeated cross-sections without covariates: the DiD of four weighted cell means.

    .. math:: \widehat{ATT} = (\bar y_{11} - \bar y_{10}) - (\bar y_{01} - \bar y_{00}),
              \qquad \psi_i = \sum_{dp} \pm \frac{w_i 1[i \in dp](y_i - \bar y_{dp})}{E_n[w 1[dp]]},

    which is what ``reg_rc``, ``ipw_rc``, ``dr_rc`` and ``dr_imp_rc`` return with an intercept-only
    design (their estimators are then this function of the data, so their influence functions are
    this one); computed directly, without the logit and the four regressions.
    """
    w = w / w.mean()
    cell = (D * 2 + post).astype(np.int64)                  # 0: c pre, 1: c post, 2: t pre, 3: t post
    sw = np.bincount(cell, weights=w, minlength=4)
    mu = np.bincount(cell, weights=w * y, minlength=4) / sw
    sign = np.array([1.0, -1.0, -1.0, 1.0])
    att = float(sign @ mu)
    n = len(y)
    inf = sign[cell] * w * (y - mu[cell]) / (sw[cell] / n)
    return att, inf


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


def dr_imp_rc(y, post, D, X, w, ps=None):
    r"""Improved locally efficient DR DiD for repeated cross sections (DRDID ``drdid_imp_rc``).

    Propensity score by IPT on the pooled sample; control outcome regressions in each period by
    WLS with weights :math:`w\,p/(1-p)`; treated outcome regressions in each period by WLS with
    weights ``w``.  The ATT is the locally efficient DR combination of :func:`dr_rc`
    (Sant'Anna & Zhao 2020, eq. 3.4 with the Section 3.1 nuisance estimators).  As in DRDID the
    influence function omits the estimation effects of the nuisance parameters: they vanish
    asymptotically (for the control regressions and the propensity score exactly within the
    pooled sample; per period only under the stationarity that repeated cross sections assume).
    """
    w = w / w.mean()
    if ps is None:
        ps, _ = ipt_pscore(X, D, w)
    ps = np.minimum(ps, 1 - 1e-6)
    odds = ps / (1 - ps)

    def fit(mask, wt):
        return X @ _wols(X[mask], y[mask], wt[mask])

    c, t = D == 0, D == 1
    oy_c_pre = fit(c & (post == 0), w * odds)
    oy_c_post = fit(c & (post == 1), w * odds)
    oy_c = post * oy_c_post + (1 - post) * oy_c_pre
    oy_t_pre = fit(t & (post == 0), w)
    oy_t_post = fit(t & (post == 1), w)
    m = np.mean
    ws = {"tpre": w * D * (1 - post), "tpost": w * D * post,
          "cpre": w * odds * (1 - D) * (1 - post), "cpost": w * odds * (1 - D) * post}
    e = {k: v * (y - oy_c) / m(v) for k, v in ws.items()}
    w_d, w_dt1, w_dt0 = w * D, w * D * post, w * D * (1 - post)
    e_dpost = w_d * (oy_t_post - oy_c_post) / m(w_d)
    e_dt1post = w_dt1 * (oy_t_post - oy_c_post) / m(w_dt1)
    e_dpre = w_d * (oy_t_pre - oy_c_pre) / m(w_d)
    e_dt0pre = w_dt0 * (oy_t_pre - oy_c_pre) / m(w_dt0)
    a = {k: m(v) for k, v in e.items()}
    a_dpost, a_dt1post, a_dpre, a_dt0pre = m(e_dpost), m(e_dt1post), m(e_dpre), m(e_dt0pre)
    att = ((a["tpost"] - a["tpre"]) - (a["cpost"] - a["cpre"])
           + (a_dpost - a_dt1post) - (a_dpre - a_dt0pre))
    inf = {k: e[k] - ws[k] * a[k] / m(ws[k]) for k in e}
    inf_eff = ((e_dpost - w_d * a_dpost / m(w_d)) - (e_dt1post - w_dt1 * a_dt1post / m(w_dt1))
               - ((e_dpre - w_d * a_dpre / m(w_d)) - (e_dt0pre - w_dt0 * a_dt0pre / m(w_dt0))))
    return att, (inf["tpost"] - inf["tpre"]) - (inf["cpost"] - inf["cpre"]) + inf_eff


PANEL = {"dr": dr_panel, "ipw": ipw_panel, "reg": reg_panel, "dr_imp": dr_imp_panel}
RC = {"dr": dr_rc, "ipw": ipw_rc, "reg": reg_rc, "dr_imp": dr_imp_rc}


def quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(*a, **k)


# ---------------------------------------------- all periods of one comparison at once (panel)
def panel_block(DY, D, X, w, method, ps=None, trim_level=0.995):
    r"""The panel estimators of :data:`PANEL` for several long differences on the same units.

    Every ATT(g,t) of a cohort ``g`` with the same comparison units shares the rows, ``D``, ``X``,
    ``w`` and the propensity score; only the long difference :math:`\Delta Y = Y_t - Y_b` changes.
    ``DY`` is ``n x m`` (one column per ATT(g,t)); the outcome regressions are one weighted least
    squares solve with ``m`` right-hand sides, and each estimation-effect term of the influence
    function collapses to a unit-level scalar times a residual, e.g. for the outcome regression
    :math:`\psi^{OLS}_i{}' M_1 = w_i(1-D_i) r_i\, x_i'(X'WX/n)^{-1} M_1`.  Returns
    ``(att (m,), inf (n, m))`` equal column by column to :func:`dr_panel`, :func:`ipw_panel`,
    :func:`reg_panel` and :func:`dr_imp_panel` (tests/test_did.py checks to 1e-10).
    """
    n = len(D)
    w = w / w.mean()
    ctrl = D == 0
    if method == "dr_imp":
        if ps is None:
            ps, _ = ipt_pscore(X, D, w)
        ps = np.minimum(ps, 1 - 1e-6)
        odds = ps / (1 - ps)
        beta = _wols(X[ctrl], DY[ctrl], (w * odds)[ctrl])
        r = DY - X @ beta
        h = w * (D - (1 - D) * odds)
        mD = np.mean(w * D)
        att = (h @ r) / n / mD
        inf = h[:, None] * r
        inf -= np.outer(w * D, att)
        return att, inf / mD

    wo = w * (1 - D)

    def ols_q(M):
        XpX = (X.T * wo) @ X / n
        if np.linalg.cond(XpX) > 1 / np.finfo(float).eps:
            raise OverlapError("regression design matrix is singular")
        return X @ np.linalg.solve(XpX, M)

    def ps_term(M2):                                   # alr_ps @ M2, n x m
        W = ps * (1 - ps) * w
        Hn = np.linalg.inv((X * W[:, None]).T @ X) * n
        return (w * (D - ps))[:, None] * (X @ (Hn @ M2))

    if method == "reg":
        beta = _wols(X[ctrl], DY[ctrl], w[ctrl])
        out = X @ beta
        w_t = w * D
        mwt = np.mean(w_t)
        eta_t = (w_t @ DY) / n / mwt
        eta_c = (w_t @ out) / n / mwt
        q1 = ols_q((w_t @ X) / n)
        inf = w_t[:, None] * (DY - eta_t)
        inf -= w_t[:, None] * (out - eta_c)
        inf -= (wo * q1)[:, None] * (DY - out)
        return eta_t - eta_c, inf / mwt

    if ps is None:
        ps = logit(X, D, w)
    ps = np.minimum(ps, 1 - 1e-6)
    trim = np.where(D == 1, True, ps < trim_level)
    w_t = trim * w * D
    w_c = trim * w * ps * (1 - D) / (1 - ps)
    mwt, mwc = np.mean(w_t), np.mean(w_c)
    if method == "ipw":
        eta_t = (w_t @ DY) / n / mwt
        eta_c = (w_c @ DY) / n / mwc
        dc = w_c[:, None] * (DY - eta_c)
        inf_c = dc + ps_term(X.T @ dc / n)
        inf = w_t[:, None] * (DY - eta_t) / mwt
        inf -= inf_c / mwc
        return eta_t - eta_c, inf
    # dr.  With r = DY - X b the influence function is, column by column,
    #   inf = alpha_i r_i + Z_i C,  alpha = w_t/m_t - w_c/m_c - w(1-D)(q1/m_t - q3/m_c),
    #   Z = [-w_t/m_t, w_c/m_c, -w(D-p) x/m_c],  C = [eta_t; eta_c; (H/n)^-1 M2]
    # (dr_panel's terms regrouped); with r = DY - X b folded in, inf = alpha DY + [Z, -alpha X][C; b],
    # and every statistic of r is a statistic of DY: DY is read by one product and never copied.
    k = X.shape[1]
    Q = np.empty((n, 2 * k + 2))
    Q[:, :k] = X * wo[:, None]
    Q[:, k] = w_t
    Q[:, k + 1] = w_c
    Q[:, k + 2:] = X * w_c[:, None]
    QtD = Q.T @ DY / n                                                   # (2k+2) x m
    QtX = Q.T @ X / n
    if np.linalg.cond(QtX[:k]) > 1 / np.finfo(float).eps:
        raise OverlapError("regression design matrix is singular")
    beta = np.linalg.solve(QtX[:k], QtD[:k])                             # controls' WLS
    S = QtD[k:] - QtX[k:] @ beta                                         # [w_t, w_c, w_c X]' r / n
    eta_t, eta_c = S[0] / mwt, S[1] / mwc
    M2 = S[2:] - np.outer(QtX[k + 1], eta_c)                             # X'(w_c (r - eta_c)) / n
    q1 = ols_q(QtX[k])
    q3 = ols_q(QtX[k + 1])
    Wp = ps * (1 - ps) * w
    B = np.linalg.inv((X * Wp[:, None]).T @ X) * n @ M2                 # k x m
    alpha = w_t / mwt - w_c / mwc - wo * (q1 / mwt - q3 / mwc)
    Z = np.empty((n, 2 * k + 2))
    Z[:, 0] = -w_t / mwt
    Z[:, 1] = w_c / mwc
    Z[:, 2:k + 2] = X * (-(w * (D - ps)) / mwc)[:, None]
    Z[:, k + 2:] = X * -alpha[:, None]
    inf = Z @ np.vstack([eta_t, eta_c, B, beta])
    inf += alpha[:, None] * DY
    return eta_t - eta_c, inf
