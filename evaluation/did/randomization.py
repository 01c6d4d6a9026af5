"""Randomisation (permutation) inference over clusters: Fisher p-values and confidence sets.

With a handful of districts, the only randomness an evaluator can lean on without large-sample
approximations is *which* district got the programme *when*.  Randomisation inference treats the
assignment of adoption dates to districts as the random element (Fisher 1935; Imbens & Rubin 2015,
ch. 5; MacKinnon & Webb 2020 for DiD with few treated clusters): under the sharp null that the
programme changed no one's outcome by more than a constant ``tau0``, every permutation of the
adoption dates across districts would have produced the statistic computed on ``Y - tau0 D``.

* :func:`randomization_inference` - staggered DiD: permute adoption dates (including "never")
  across districts; statistic the TWFE coefficient or the Callaway-Sant'Anna simple/dynamic
  aggregate (no covariates), both linear in district x period means.
* :func:`ri_cluster_trial` - a trial randomised by cluster: permute arms across clusters;
  statistic the difference in means.

Exact enumeration of every *distinct* assignment when there are at most ``max_exact`` of them,
otherwise a random sample of ``n_permutations`` (a clear error if that is not given).  p-value
``#{pi : |T_pi| >= |T_obs|} / P`` counting the observed assignment, so a test that rejects when
``p <= alpha`` has size at most ``alpha`` under the sharp null.  The confidence set inverts the
sharp nulls of a constant effect; because both statistics are linear in the outcome, ``T_pi`` on
``Y - tau0 D`` is ``a_pi - tau0 b_pi`` and the set's ends are roots of one quadratic per
permutation (exact, no grid).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..results import InvertedResult
from ._data import _require_columns, group_codes, integer_time


def _lab(x) -> str:
    """A data label for a message: numpy scalars shown as plain Python values."""
    return repr(x.item() if hasattr(x, "item") else x)


# ========================================================================= permutations
def n_distinct_permutations(labels) -> int:
    """Number of distinct orderings of a multiset: ``G! / prod_k m_k!``."""
    c = Counter(np.asarray(labels).tolist())
    out = math.factorial(sum(c.values()))
    for m in c.values():
        out //= math.factorial(m)
    return out


def _multiset_permutations(labels: np.ndarray) -> np.ndarray:
    """All distinct permutations of ``labels`` (lexicographic), as a (P, G) array."""
    vals, counts = np.unique(labels, return_counts=True)
    G = len(labels)
    out = []
    cur = np.empty(G, dtype=vals.dtype)

    def rec(pos):
        if pos == G:
            out.append(cur.copy())
            return
        for i in range(len(vals)):
            if counts[i]:
                counts[i] -= 1
                cur[pos] = vals[i]
                rec(pos + 1)
                counts[i] += 1

    rec(0)
    return np.array(out)


def assignments(labels, *, n_permutations: int | None = None, max_exact: int = 20_000,
                seed: int | None = None, what: str = "adoption dates", unit: str = "clusters"):
    """Assignments to compare with the observed one: ``(A, exact)``, ``A[0]`` the observed.

    All distinct permutations of ``labels`` if there are at most ``max_exact`` of them and
    ``n_permutations`` is not given (or is at least their number); else ``n_permutations`` random
    permutations (the observed assignment first).  Raises if enumeration is too large and no
    ``n_permutations`` is given.
    """
    labels = np.asarray(labels)
    P = n_distinct_permutations(labels)
    if n_permutations is None and P > max_exact:
        raise ValueError(f"{P:,} distinct assignments of {what} to the {len(labels)} {unit} are too many to "
                         f"enumerate (max_exact={max_exact:,}); pass n_permutations=... (e.g. 9999) to use a "
                         "random sample of permutations, or raise max_exact")
    if n_permutations is None or n_permutations >= P:
        if P > max_exact:
            raise ValueError(f"n_permutations={n_permutations} asks for all {P:,} assignments, more than "
                             f"max_exact={max_exact:,}; use fewer or raise max_exact")
        A = _multiset_permutations(labels)
        obs = np.flatnonzero((A == labels).all(axis=1))[0]
        A[[0, obs]] = A[[obs, 0]]
        return A, True
    if n_permutations < 19:
        raise ValueError("n_permutations must be at least 19 (p-values below 0.05 need 20 assignments)")
    rng = np.random.default_rng(seed)
    idx = np.argsort(rng.random((n_permutations, len(labels))), axis=1)
    A = labels[idx]
    A[0] = labels
    return A, False


# ========================================================================= inversion
def _pvalue(a, b, a0, tau0):
    """Fisher p-value of the sharp null ``tau0``: share of assignments with |a - tau0 b| >= |a0 - tau0|."""
    lhs = np.abs(a - tau0 * b)
    rhs = abs(a0 - tau0)
    return float(np.mean(lhs >= rhs * (1 - 1e-12) - 1e-15))


def _confidence_set(a, b, a0, alpha):
    """Hull of ``{tau0 : p(tau0) > alpha}`` and whether the set has gaps: each assignment counts
    where ``(a - tau0 b)^2 - (a0 - tau0)^2 >= 0``, a quadratic in ``tau0``."""
    from .wild import acceptance_set
    coef = np.stack([b ** 2 - 1, -2 * (a * b - a0), a ** 2 - a0 ** 2], axis=1)
    return acceptance_set(coef, np.ones(len(a), bool), alpha, strict=False, center=a0)


# ========================================================================= result
@dataclass
class RIResult(InvertedResult):
    """A statistic with its randomisation-inference p-value and confidence set.

    ``se`` is the standard deviation of the statistic over the assignments (under the sharp null
    of no effect), shown for scale only; ``pvalue`` and ``ci()`` are Fisher's.
    """

    inverted: ClassVar[str] = "the confidence set"
    n_assignments: int = 0
    exact: bool = True
    distribution: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update({"n_assignments": int(self.n_assignments), "exact": bool(self.exact),
                  "ci_disjoint": bool(self.ci_disjoint)})
        return d

    def plot(self, ax=None):
        """Histogram of the statistic over the assignments (no effect) with the observed value."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.hist(self.distribution, bins=min(40, max(10, len(self.distribution) // 10)), color="0.7")
        ax.axvline(self.estimate, color="tab:red", lw=2, label="observed")
        ax.set_xlabel(self.term)
        ax.set_ylabel("assignments")
        ax.set_title(f"Randomisation distribution ({self.n_assignments} "
                     f"{'assignments, exact' if self.exact else 'random permutations'})")
        ax.legend(frameon=False)
        return ax


def _make(a, b, a0, *, term, method, n, level, exact):
    alpha = 1 - level
    a, b = np.array(a, float), np.array(b, float)
    a[0], b[0] = a0, 1.0                      # the observed assignment: exactly T_obs - tau0
    p = _pvalue(a, b, a0, 0.0)
    lo, hi, gaps = _confidence_set(a, b, a0, alpha)
    return RIResult(estimate=a0, se=float(np.std(a)), n=n, term=term, method=method, level=level,
                    pvalue_override=p, ci_low=lo, ci_high=hi, n_assignments=len(a), exact=exact,
                    distribution=np.asarray(a), ci_disjoint=gaps)


# ========================================================================= DiD statistics
def _cell_means(data, outcome, time, cluster):
    cl, clid = pd.factorize(data[cluster].to_numpy(), sort=True)
    t = integer_time(data[time].to_numpy(), time)
    periods, tc = np.unique(t, return_inverse=True)
    G, T = len(clid), len(periods)
    y = data[outcome].to_numpy(float)
    if not np.isfinite(y).all():
        raise ValueError(f"outcome {outcome!r} has missing values; drop or impute them first")
    n = np.bincount(cl * T + tc, minlength=G * T).reshape(G, T).astype(float)
    s = np.bincount(cl * T + tc, weights=y, minlength=G * T).reshape(G, T)
    return clid, periods, n, s


def twfe_weights(dates: np.ndarray, periods: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Weights ``W[p, g, t]`` with TWFE coefficient ``sum W * ybar`` for each row of ``dates``.

    Weighted (by cell counts ``n``) regression of district x period means on district and period
    effects and ``D_gt = 1[t >= date_g]`` (date 0 = never).  On a balanced panel this is the
    person-level TWFE coefficient with person and period effects.
    """
    dates = np.atleast_2d(dates)
    P, G = dates.shape
    T = len(periods)
    D = ((dates[:, :, None] > 0) & (periods[None, None, :] >= dates[:, :, None])).astype(float)
    F = np.zeros((G * T, G + T - 1))
    gi, ti = np.divmod(np.arange(G * T), T)
    F[np.arange(G * T), gi] = 1.0
    F[np.arange(G * T)[ti > 0], G + ti[ti > 0] - 1] = 1.0
    w = n.ravel()
    Fw = F * w[:, None]
    proj = F @ np.linalg.pinv(F.T @ Fw) @ Fw.T            # weighted projection on the FE
    Dm = D.reshape(P, G * T)
    Dt = Dm - Dm @ proj.T
    den = (Dt * w * Dm).sum(axis=1)
    if np.any(np.abs(den) < 1e-12):
        raise ValueError("some assignment leaves no variation in treatment after the district and period "
                         "effects (e.g. all districts adopt at once); TWFE is not identified there")
    return (Dt * w / den[:, None]).reshape(P, G, T) * 1.0


def cs_weights(dates: np.ndarray, periods: np.ndarray, n: np.ndarray, *, control_group: str = "notyet",
               anticipation: int = 0, kind: str = "simple") -> np.ndarray:
    """Weights ``W[p, g, t]`` of the Callaway-Sant'Anna ``simple`` or ``dynamic`` aggregate.

    Post-treatment ATT(g,t) compare cohort g's long difference ``t`` vs ``g - 1 - anticipation``
    with the count-weighted never (``"never"``) or never + not-yet treated (``"notyet"``) cohorts,
    aggregated with cohort-size weights as R ``aggte`` (no covariates, balanced panel).
    """
    dates = np.atleast_2d(dates)
    P, G = dates.shape
    T = len(periods)
    size = n.mean(axis=1)                                 # persons per district (balanced)
    W = np.zeros((P, G, T))
    pre_last = {}                                          # cohort -> index of its last pre-period
    for p in range(P):                                     # loop over assignments, arrays inside
        d = dates[p]
        cohorts = np.unique(d[d > 0])
        gs, tis, bis = [], [], []
        for g in cohorts:
            if g not in pre_last:
                pre = np.flatnonzero(periods + anticipation < g)
                pre_last[g] = int(pre[-1]) if len(pre) else -1
            if pre_last[g] < 0:
                continue
            post = np.flatnonzero(periods >= g)
            gs.append(np.full(len(post), g))
            tis.append(post)
            bis.append(np.full(len(post), pre_last[g]))
        if not gs:
            continue
        gc, ti, bi = np.concatenate(gs), np.concatenate(tis), np.concatenate(bis)
        tr = d[None, :] == gc[:, None]                      # (cells, G)
        pg = (size[None, :] * tr).sum(axis=1)
        e = periods[ti] - gc
        if kind == "simple":
            A = pg / pg.sum()
        elif kind == "dynamic":
            es, inv = np.unique(e, return_inverse=True)
            A = pg / np.bincount(inv, weights=pg)[inv] / len(es)
        else:
            raise ValueError("kind must be 'simple' or 'dynamic'")
        thr = np.maximum(periods[ti], periods[bi]) + anticipation
        ctrl = (d[None, :] == 0) if control_group == "never" else \
            ((d[None, :] == 0) | ((d[None, :] > thr[:, None]) & (d[None, :] != gc[:, None])))
        nc = (size[None, :] * ctrl).sum(axis=1)
        if np.any(nc == 0):
            k = int(np.flatnonzero(nc == 0)[0])
            raise ValueError(f"no comparison districts for cohort {gc[k]} in period {periods[ti[k]]} under "
                             "some assignment; use control_group='notyet' or the TWFE statistic")
        contrib = A[:, None] * (size[None, :] * tr / pg[:, None] - size[None, :] * ctrl / nc[:, None])
        Wp = np.zeros((T, G))
        np.add.at(Wp, ti, contrib)
        np.add.at(Wp, bi, -contrib)
        W[p] = Wp.T
    return W


def randomization_inference(data: pd.DataFrame, *, outcome: str, time: str, group: str, cluster: str,
                            statistic: str = "twfe", control_group: str = "notyet", anticipation: int = 0,
                            n_permutations: int | None = None, max_exact: int = 20_000,
                            seed: int | None = None, level: float = 0.95) -> RIResult:
    r"""Randomisation inference for a staggered rollout by permuting adoption dates across clusters.

    Parameters
    ----------
    data : DataFrame
        Long panel (persons x periods); adoption must be at the cluster level.
    outcome, time, group, cluster : str
        Outcome, integer period, first treated period (0/NaN never) and cluster (district) columns.
    statistic : {"twfe", "cs_simple", "cs_dynamic"}
        TWFE coefficient on ``D = 1[t >= g]`` (district and period effects, cells weighted by
        persons), or the Callaway-Sant'Anna simple / dynamic (``e >= 0``) aggregate (no covariates;
        equal to :func:`evaluation.did.att_gt` on a balanced panel).
    control_group, anticipation
        For the CS statistics, as in :func:`evaluation.did.att_gt`.
    n_permutations : int, optional
        Random permutations to use when the distinct assignments exceed ``max_exact``.
    level : float
        Confidence level of the set inverted from sharp nulls of a constant effect.

    Notes
    -----
    Assignments permute the vector of district adoption dates (never = 0), so the numbers of
    districts adopting at each date are kept; there are ``G! / prod m_k!`` distinct ones.  Under
    the sharp null ``Y_it(1) = Y_it(0) + tau0``, ``Y - tau0 D`` are the untreated outcomes, and the
    statistic ``T(Y - tau0 D; pi) = a_pi - tau0 b_pi`` with ``a_pi = T(Y; pi)``,
    ``b_pi = T(D_obs; pi)`` (both statistics are linear in the district x period means).
    ``p(tau0) = mean_pi 1[|a_pi - tau0 b_pi| >= |a_obs - tau0|]``; the set is
    ``{tau0 : p(tau0) > 1 - level}`` (reported as its hull; ``ci_disjoint`` says whether it has gaps).  Validity rests on the adoption dates being as good as
    randomly assigned to districts (or districts exchangeable), not on many clusters.
    """
    _require_columns(data, {"outcome": outcome, "time": time, "group": group, "cluster": cluster})
    if data[cluster].isna().any():
        raise ValueError(f"cluster column {cluster!r} has missing values; fill or drop them first")
    g = group_codes(data[group].to_numpy(), group)
    per = data.assign(_g=g).groupby(cluster, observed=True, sort=True)["_g"].agg(["min", "max"])
    bad = per[per["min"] != per["max"]]
    if len(bad):
        raise ValueError(f"adoption date ({group!r}) varies within cluster {_lab(bad.index[0])} "
                         f"(from {bad['min'].iloc[0]} to {bad['max'].iloc[0]}); randomisation over clusters "
                         "needs one adoption date per cluster")
    clid, periods, n, s = _cell_means(data, outcome, time, cluster)
    if len(clid) < 3:
        raise ValueError(f"only {len(clid)} clusters: randomisation inference needs at least 3")
    if (n == 0).any():
        gi, ti = np.argwhere(n == 0)[0]
        raise ValueError(f"cluster {_lab(clid[gi])} has no rows in period {periods[ti]}; the statistic needs "
                         "every cluster observed in every period")
    ybar = s / n
    dates = per["min"].to_numpy()
    A, exact = assignments(dates, n_permutations=n_permutations, max_exact=max_exact, seed=seed,
                           what="adoption dates", unit=f"clusters of {cluster!r}")
    if statistic == "twfe":
        W = twfe_weights(A, periods, n)
        term = "TWFE ATT"
    elif statistic in ("cs_simple", "cs_dynamic"):
        cg = {"never": "never", "nevertreated": "never", "notyet": "notyet", "notyettreated": "notyet"}.get(control_group)
        if cg is None:
            raise ValueError("control_group must be 'never' or 'notyet'")
        W = cs_weights(A, periods, n, control_group=cg, anticipation=anticipation, kind=statistic[3:])
        term = f"CS ATT ({statistic[3:]})"
    else:
        raise ValueError("statistic must be 'twfe', 'cs_simple' or 'cs_dynamic'")
    Dobs = ((dates[:, None] > 0) & (periods[None, :] >= dates[:, None])).astype(float)
    a = np.einsum("pgt,gt->p", W, ybar)
    b = np.einsum("pgt,gt->p", W, Dobs)
    how = (f"all {len(a)} distinct assignments" if exact else f"{len(a)} random permutations")
    return _make(a, b, float(a[0]), term=term, n=int(len(data)), level=level, exact=exact,
                 method=f"Randomisation inference, adoption dates permuted across {len(clid)} clusters "
                        f"of {cluster} ({how}); statistic {term}")


def ri_cluster_trial(data: pd.DataFrame, *, outcome: str, treatment: str, cluster: str,
                     weighting: str = "persons", n_permutations: int | None = None,
                     max_exact: int = 20_000, seed: int | None = None, level: float = 0.95) -> RIResult:
    """Randomisation inference for a cluster-randomised trial: permute arms across clusters.

    Statistic: difference in means between arms, persons weighted equally (``weighting="persons"``)
    or clusters weighted equally (``"clusters"``).  Exact over all ``C(G, G1)`` assignments when
    feasible; confidence set by inverting sharp nulls of a constant effect.
    """
    _require_columns(data, {"outcome": outcome, "treatment": treatment, "cluster": cluster})
    d = data[treatment].to_numpy(float)
    if not np.isin(d, [0, 1]).all():
        raise ValueError(f"treatment column {treatment!r} must be 0/1")
    cl, clid = pd.factorize(data[cluster].to_numpy(), sort=True)
    G = len(clid)
    dmin = np.full(G, np.inf)
    np.minimum.at(dmin, cl, d)
    dmax = np.full(G, -np.inf)
    np.maximum.at(dmax, cl, d)
    if (dmin != dmax).any():
        raise ValueError(f"treatment varies within cluster {_lab(clid[np.flatnonzero(dmin != dmax)[0]])}; "
                         "a cluster-randomised trial assigns whole clusters")
    if G < 3:
        raise ValueError(f"only {G} clusters: randomisation inference needs at least 3")
    y = data[outcome].to_numpy(float)
    n = np.bincount(cl, minlength=G).astype(float)
    ybar = np.bincount(cl, weights=y, minlength=G) / n
    w = n if weighting == "persons" else np.ones(G)
    if weighting not in ("persons", "clusters"):
        raise ValueError("weighting must be 'persons' or 'clusters'")
    A, exact = assignments(dmin, n_permutations=n_permutations, max_exact=max_exact, seed=seed,
                           what="arms", unit=f"clusters of {cluster!r}")
    Wt = A * w / (A * w).sum(axis=1, keepdims=True)
    Wc = (1 - A) * w / ((1 - A) * w).sum(axis=1, keepdims=True)
    a = (Wt - Wc) @ ybar
    b = (Wt - Wc) @ dmin
    how = f"all {len(a)} assignments" if exact else f"{len(a)} random permutations"
    return _make(a, b, float(a[0]), term="difference in means", n=int(len(y)), level=level, exact=exact,
                 method=f"Randomisation inference, arms permuted across {G} clusters of {cluster} ({how})")
