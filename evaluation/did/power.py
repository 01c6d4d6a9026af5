"""Power and coverage of difference-in-differences with few clusters, by simulation.

How large must an Alna-like pilot be?  With a handful of districts the answer depends less on the
number of persons than on the number of districts, the share of the outcome's variance that moves
with the district (the intra-cluster correlation) and on the inference used.  This module
simulates district x period means of a person-level outcome

.. math:: y_{igt} = \\alpha_g + \\gamma_t + \\eta_{gt} + a_i + \\varepsilon_{it} + \\tau D_{gt},

``Var(alpha + eta) = icc sd^2`` (a share ``cluster_persistence`` of it permanent, the rest a
district x period shock, AR(1) with ``rho``), ``Var(a + eps) = (1 - icc) sd^2`` (a share
``person_persistence`` permanent), ``n_g`` persons per district followed every period.  District
x period means are sufficient for TWFE with person and period effects on such a balanced panel,
so each simulated study costs ``G x T`` numbers, and every method runs on all simulated studies at
once (arrays of shape ``(S, G, T)``):

* ``"cr"`` - CR1 cluster-robust t-test with ``G - 1`` degrees of freedom (fixest, Stata);
* ``"wild"`` - restricted wild cluster bootstrap (:func:`evaluation.did.wild_cluster_test`);
* ``"ri"`` - randomisation inference over adoption dates (:mod:`evaluation.did.randomization`).

:func:`did_power` gives the rejection rate of ``H0: tau = 0`` with its Monte Carlo standard
error; :func:`coverage` gives the share of intervals covering the true effect (one minus the
rejection rate of the true value, which is how test-inversion intervals cover).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..results import TableResult
from .randomization import _pvalue, assignments, twfe_weights
from .wild import wild_cluster_test


# ================================================================================ design
@dataclass
class ClusterDesign:
    """Districts, their adoption periods (0 = never), persons per district and periods."""

    dates: np.ndarray
    persons: np.ndarray
    periods: np.ndarray

    @property
    def n_clusters(self) -> int:
        return len(self.dates)


def cluster_design(*, n_clusters: int, n_treated: int | None = None, dates=None, persons=500,
                   periods: int = 48, first: float = 0.25, last: float = 0.625) -> ClusterDesign:
    """A rollout design: ``n_treated`` districts adopting at evenly spaced periods between
    ``first`` and ``last`` of the window (one period if ``n_treated == 1``, the pilot), the rest
    never; or explicit ``dates`` (period numbers 1..periods, 0 = never)."""
    if n_clusters < 2:
        raise ValueError("a DiD design needs at least 2 clusters")
    if dates is None:
        if n_treated is None or not 1 <= n_treated < n_clusters:
            raise ValueError(f"n_treated must be between 1 and n_clusters - 1 = {n_clusters - 1}, got {n_treated}")
        if n_treated == 1:
            d = [int(round(periods * first)) + 1]
        else:
            d = np.round(np.linspace(first, last, n_treated) * periods).astype(int) + 1
        dates = np.concatenate([d, np.zeros(n_clusters - n_treated, int)])
    dates = np.asarray(dates, int)
    if len(dates) != n_clusters:
        raise ValueError(f"dates has {len(dates)} entries for {n_clusters} clusters")
    if ((dates > 0) & ((dates < 2) | (dates > periods))).any():
        raise ValueError(f"adoption periods must lie in 2..{periods} (at least one pre-period), or 0 for never")
    if not (dates == 0).any() and len(np.unique(dates)) == 1:
        raise ValueError("every cluster adopts in the same period: there is no comparison")
    pers = np.broadcast_to(np.asarray(persons, float), (n_clusters,)).copy()
    if (pers < 1).any():
        raise ValueError("persons per cluster must be at least 1")
    return ClusterDesign(dates, pers, np.arange(1, periods + 1))


def simulate_means(design: ClusterDesign, *, icc: float, effect: float = 0.0, sd: float = 1.0,
                   cluster_persistence: float = 0.5, person_persistence: float = 0.5, rho: float = 0.0,
                   n_sims: int = 1000, seed: int | None = None) -> np.ndarray:
    """Simulated district x period means, ``(n_sims, G, T)`` (see the module docstring).

    The permanent parts (``alpha_g`` and the district mean of ``a_i``) are absorbed by the person
    effects and do not affect the estimators; they are drawn anyway so the means are realistic.
    """
    if not 0 <= icc < 1:
        raise ValueError(f"icc must lie in [0, 1), got {icc}")
    for name, v in (("cluster_persistence", cluster_persistence), ("person_persistence", person_persistence)):
        if not 0 <= v <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie in (-1, 1), got {rho}")
    rng = np.random.default_rng(seed)
    G, T = design.n_clusters, len(design.periods)
    v_c, v_p = icc * sd ** 2, (1 - icc) * sd ** 2
    n = design.persons
    alpha = rng.normal(scale=np.sqrt(v_c * cluster_persistence), size=(n_sims, G, 1))
    e = rng.normal(scale=np.sqrt(v_c * (1 - cluster_persistence)), size=(n_sims, G, T))
    if rho:
        for t in range(1, T):                    # AR(1) shocks with the stated stationary variance
            e[:, :, t] = rho * e[:, :, t - 1] + np.sqrt(1 - rho ** 2) * e[:, :, t]
    abar = rng.normal(size=(n_sims, G, 1)) * np.sqrt(v_p * person_persistence / n)[None, :, None]
    ebar = rng.normal(size=(n_sims, G, T)) * np.sqrt(v_p * (1 - person_persistence) / n)[None, :, None]
    D = (design.dates[:, None] > 0) & (design.periods[None, :] >= design.dates[:, None])
    return alpha + e + abar + ebar + effect * D[None]


# ================================================================================ tests
def _cell_regression(design: ClusterDesign):
    """Rows = district x period cells scaled by sqrt(persons): the cross products of the
    person-level TWFE (person effects projected out) on a balanced panel."""
    G, T = design.n_clusters, len(design.periods)
    D = ((design.dates[:, None] > 0) & (design.periods[None, :] >= design.dates[:, None])).astype(float)
    cols = [D] + [np.tile((np.arange(T) == j).astype(float), (G, 1)) for j in range(1, T)]
    X = np.stack([c - c.mean(axis=1, keepdims=True) for c in cols], axis=2).reshape(G * T, -1)
    sw = np.sqrt(np.repeat(design.persons, T))
    return X * sw[:, None], sw, np.repeat(np.arange(G), T)


def pvalues(design: ClusterDesign, ybar: np.ndarray, *, null: float = 0.0, methods=("cr", "wild", "ri"),
            wild_weights: str = "rademacher", B: int = 999, n_permutations: int | None = None,
            seed: int | None = None, wild_variance: str = "CV1") -> dict[str, np.ndarray]:
    """p-values of ``H0: tau = null`` for each simulated study (rows of ``ybar``) and method.

    ``"cr"`` two-sided t-test with CR1 standard error and ``G-1`` df; ``"wild"`` WCR p-value
    (strict count, as fwildclusterboot); ``"ri"`` Fisher p-value over adoption-date permutations
    (``>=`` count including the observed assignment; exact enumeration unless too many).
    Also returns ``"estimate"``.
    """
    S, G, T = ybar.shape
    out: dict[str, np.ndarray] = {}
    X, sw, cl = _cell_regression(design)
    Y = (ybar.reshape(S, G * T) * sw[None, :]).T           # (G*T, S)
    need = {"cr", "wild"} & set(methods)
    kw = dict(coef=0, r=null, weights=wild_weights, B=B, seed=seed, k_ssc=X.shape[1] + 1,
              n_ssc=int(round(design.persons.sum())) * T)
    w = wild_cluster_test(X, Y, cl, variance=wild_variance, **kw)
    out["estimate"] = w["estimate"]
    if "cr" in need:
        w1 = w if wild_variance == "CV1" else wild_cluster_test(X, Y, cl, **{**kw, "B": 2})
        out["cr"] = 2 * stats.t.sf(np.abs(w1["estimate"] - null) / w1["se"], G - 1)
    if "wild" in need:
        out["wild"] = w["pvalue"]
    if "ri" in methods:
        A, _ = assignments(design.dates, n_permutations=n_permutations, seed=seed, what="adoption dates",
                           unit="clusters")
        Wt = twfe_weights(A, design.periods, np.repeat(design.persons[:, None], T, axis=1)).reshape(len(A), G * T)
        D = ((design.dates[:, None] > 0) & (design.periods[None, :] >= design.dates[:, None])).astype(float)
        a = Wt @ ybar.reshape(S, G * T).T                   # (P, S)
        b = Wt @ D.ravel()
        lhs = np.abs(a - null * b[:, None])
        rhs = np.abs(a[0] - null)
        out["ri"] = np.mean(lhs >= rhs[None, :] * (1 - 1e-12) - 1e-15, axis=0)
    return out


# ================================================================================ results
@dataclass
class PowerResult(TableResult):
    """Rejection (or coverage) rates by method with Monte Carlo standard errors."""

    design: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["design"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.design.items()}
        return d


def _rates(p: dict, methods, alpha, cover: bool) -> pd.DataFrame:
    rows = []
    for m in methods:
        x = p[m]
        hit = (x > alpha) if (cover and m == "ri") else (x >= alpha) if cover else \
            (x <= alpha) if m == "ri" else (x < alpha)
        r = float(np.mean(hit))
        rows.append({"method": m, ("coverage" if cover else "power"): r,
                     "mc_se": float(np.sqrt(r * (1 - r) / len(x))), "n_sims": len(x)})
    return pd.DataFrame(rows)


def did_power(*, n_clusters: int, n_treated: int | None = None, dates=None, persons=500, periods: int = 48,
              icc: float = 0.02, effect: float, sd: float = 1.0, cluster_persistence: float = 0.5,
              person_persistence: float = 0.5, rho: float = 0.0, methods=("cr", "wild", "ri"),
              alpha: float = 0.05, n_sims: int = 1000, B: int = 999, n_permutations: int | None = None,
              seed: int | None = None) -> PowerResult:
    """Power of a two-sided test of no effect at level ``alpha`` for a clustered rollout, by simulation.

    Parameters follow :func:`cluster_design` and :func:`simulate_means`; ``effect`` is the true
    constant effect in outcome units.  Returns rejection rates with Monte Carlo standard errors
    ``sqrt(p (1 - p) / n_sims)``.  RI rejects when ``p <= alpha`` (exact test), CR and wild when
    ``p < alpha``.  With one treated district of ``G``, RI's smallest p-value is ``1/G``: a
    pilot needs ``G >= 1/alpha`` districts before randomisation inference can reject at all.
    """
    design = cluster_design(n_clusters=n_clusters, n_treated=n_treated, dates=dates, persons=persons,
                            periods=periods)
    y = simulate_means(design, icc=icc, effect=effect, sd=sd, cluster_persistence=cluster_persistence,
                       person_persistence=person_persistence, rho=rho, n_sims=n_sims, seed=seed)
    p = pvalues(design, y, null=0.0, methods=methods, B=B, n_permutations=n_permutations, seed=seed)
    tab = _rates(p, methods, alpha, cover=False)
    return PowerResult(table=tab, method=f"Simulated power, {n_clusters} clusters ({int((design.dates > 0).sum())} "
                                         f"treated), effect {effect:g}, icc {icc:g}, {n_sims} simulations",
                       design={"n_clusters": n_clusters, "dates": design.dates, "persons": design.persons,
                               "periods": periods, "icc": icc, "effect": effect, "sd": sd, "rho": rho,
                               "alpha": alpha})


def coverage(*, design: ClusterDesign, icc: float, effect: float, sd: float = 1.0, cluster_persistence: float = 0.5,
             person_persistence: float = 0.5, rho: float = 0.0, methods=("cr", "wild", "ri"),
             level: float = 0.95, n_sims: int = 1000, B: int = 999, wild_weights: str = "rademacher",
             n_permutations: int | None = None, seed: int | None = None,
             wild_variance: str = "CV1") -> PowerResult:
    """Share of simulated studies whose interval (CR1 t, WCR inversion, RI inversion) covers ``effect``."""
    y = simulate_means(design, icc=icc, effect=effect, sd=sd, cluster_persistence=cluster_persistence,
                       person_persistence=person_persistence, rho=rho, n_sims=n_sims, seed=seed)
    p = pvalues(design, y, null=effect, methods=methods, B=B, wild_weights=wild_weights,
                n_permutations=n_permutations, seed=seed, wild_variance=wild_variance)
    tab = _rates(p, methods, 1 - level, cover=True)
    return PowerResult(table=tab, method=f"Simulated coverage of {level:.0%} intervals, {design.n_clusters} clusters, "
                                         f"{n_sims} simulations",
                       design={"dates": design.dates, "persons": design.persons, "icc": icc, "effect": effect,
                               "rho": rho, "wild_weights": wild_weights})


def power_curve(*, n_clusters_grid, n_treated=None, share_treated: float | None = None, effects=(0.05,),
                methods=("cr", "wild", "ri"), n_sims: int = 500, seed: int | None = None,
                n_permutations: int = 199, **kwargs) -> pd.DataFrame:
    """Power by number of districts and effect size (one row per combination and method).

    ``n_treated`` districts treated (e.g. 1 for a single-district pilot), or a ``share_treated``
    of them; RI uses all assignments when there are at most 20,000, else ``n_permutations``.
    """
    rows = []
    for G in n_clusters_grid:
        k = n_treated if n_treated is not None else max(1, int(round(G * (share_treated or 0.5))))
        k = min(k, G - 1)
        A = None
        from .randomization import n_distinct_permutations
        dates = cluster_design(n_clusters=G, n_treated=k, periods=kwargs.get("periods", 48)).dates
        nperm = None if n_distinct_permutations(dates) <= 20_000 else n_permutations
        for eff in effects:
            r = did_power(n_clusters=G, n_treated=k, effect=eff, methods=methods, n_sims=n_sims, seed=seed,
                          n_permutations=nperm, **kwargs)
            t = r.table.assign(n_clusters=G, n_treated=k, effect=eff)
            rows.append(t)
        del A
    return pd.concat(rows, ignore_index=True)[["n_clusters", "n_treated", "effect", "method", "power", "mc_se",
                                               "n_sims"]]


def variance_components(data: pd.DataFrame, *, outcome: str, unit: str, time: str, cluster: str) -> dict:
    """Rough moment estimates of ``sd``, ``icc`` and the persistences from a panel (pre-period or
    comparison data), to feed :func:`did_power`.

    ``sd``: outcome SD net of period means; ``icc``: between-cluster share of that variance in a
    period (one-way ANOVA by cluster, averaged over periods); ``cluster_persistence``: share of the
    cluster-level variance that is permanent (variance of cluster means over all periods against
    that within a period); ``person_persistence``: share of the person-level variance that is
    permanent (ANOVA by person of the outcome net of cluster x period means).
    """
    y = data[outcome].to_numpy(float)
    t = data[time].to_numpy()
    c = data[cluster].to_numpy()
    u = data[unit].to_numpy()
    df = pd.DataFrame({"y": y, "t": t, "c": c, "u": u})
    df["r"] = df["y"] - df.groupby("t")["y"].transform("mean")
    total = float(df["r"].var())
    ct = df.groupby(["c", "t"])["r"].agg(["mean", "size", "var"])
    n_bar = float(ct["size"].mean())
    between = float(ct["mean"].groupby(level="t").var().mean())
    within = float(ct["var"].mean())
    v_c = max(between - within / n_bar, 0.0)
    icc = v_c / max(v_c + within, 1e-12)
    df["w"] = df["y"] - df.groupby(["c", "t"])["y"].transform("mean")
    pu = df.groupby("u")["w"].agg(["mean", "size"])
    wv = float(df["w"].var())
    tu = float(pu["size"].mean())
    pp = (float(pu["mean"].var()) - wv / tu) / wv * tu / (tu - 1) if wv > 0 and tu > 1 else 0.5
    pp = min(max(pp, 0.0), 1.0)
    T = df["t"].nunique()
    cm = df.groupby("c")["r"].mean()
    # var of cluster means over all periods = permanent + transient / T + persons' share
    noise = within * (pp / n_bar + (1 - pp) / (n_bar * T))
    perm = (float(cm.var()) - v_c / T - noise) / (1 - 1 / T)
    cp = min(max(perm / v_c, 0.0), 1.0) if v_c > 0 else 0.5
    return {"sd": float(np.sqrt(total)), "icc": float(icc), "cluster_persistence": float(cp),
            "person_persistence": float(pp), "persons_per_cluster": n_bar}
