"""Callaway & Sant'Anna (2021) group-time average treatment effects and their aggregations."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..results import FEW_CLUSTERS, Result, TableResult, tidy_frame
from . import _drdid
from ._data import prepare_panel
from ._influence import BlockIF, DenseIF, LinearData, LinearIF, boot_summary

_SE_EPS = np.sqrt(np.finfo(float).eps) * 10


class DiDWarning(UserWarning):
    """A group-time ATT could not be computed or a test could not be formed."""


# ===================================================================================== results
@dataclass
class WaldTest:
    """A Wald test: ``statistic`` ~ chi-squared with ``df`` degrees of freedom under the null."""

    statistic: float
    df: int
    pvalue: float
    name: str = "Wald test"
    terms: list = field(default_factory=list)

    def tidy(self) -> pd.DataFrame:
        return pd.DataFrame({"test": [self.name], "statistic": [self.statistic], "df": [self.df],
                             "pvalue": [self.pvalue]})

    def summary(self) -> str:
        return (f"{self.name}\n  W = {self.statistic:.5g} on {self.df} df, p = {self.pvalue:.5g}"
                + (f"\n  terms: {', '.join(map(str, self.terms))}" if self.terms else ""))

    __str__ = summary

    def _repr_html_(self) -> str:
        return f"<p><b>{self.name}</b></p>" + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}")

    def to_dict(self) -> dict:
        return {"name": self.name, "statistic": float(self.statistic), "df": int(self.df),
                "pvalue": float(self.pvalue)}


def wald(est: np.ndarray, V: np.ndarray, name: str, terms=()) -> WaldTest:
    est = np.asarray(est, float)
    W = float(est @ np.linalg.solve(V, est))
    q = len(est)
    return WaldTest(W, q, float(stats.chi2.sf(W, q)), name=name, terms=list(terms))


def _event_plot(ax, x, est, lo, hi, blo=None, bhi=None, post=None, xlabel="event time", title=None):
    import matplotlib.pyplot as plt  # noqa: F401
    x = np.asarray(x, float)
    post = np.asarray(x >= 0 if post is None else post, bool)
    if blo is not None:
        ax.fill_between(x, blo, bhi, color="0.85", step=None, label="uniform band", zorder=0)
    for m, col, lab in ((~post, "tab:blue", "pre"), (post, "tab:red", "post")):
        if m.any():
            ax.errorbar(x[m], np.asarray(est)[m], yerr=[np.asarray(est)[m] - np.asarray(lo)[m],
                                                        np.asarray(hi)[m] - np.asarray(est)[m]],
                        fmt="o", color=col, capsize=3, label=lab)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("ATT")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    return ax


@dataclass
class AggregateResult(Result):
    """An aggregation of group-time ATTs (R ``aggte``): overall estimate plus components.

    ``estimate``/``se`` are the overall summary; :meth:`tidy` returns the components (event times,
    groups or calendar periods; for ``"simple"`` the single overall row).  ``crit_val`` is the
    simultaneous (sup-t) critical value for the components from the multiplier bootstrap
    (computed on first use; see :meth:`bands`).
    """

    kind: str = "simple"
    components: pd.DataFrame | None = None
    _parent: object = None
    _if: object = None
    _crit: float | None = None
    min_e: float = -np.inf
    max_e: float = np.inf
    balance_e: int | None = None

    def tidy(self, level: float | None = None, include_overall: bool = False) -> pd.DataFrame:
        over = super().tidy(level)
        if self.kind == "simple" or self.components is None:
            return over
        comp = tidy_frame(self.components["term"], self.components["estimate"], self.components["se"],
                          n=self.n, level=level or self.level)
        return pd.concat([over, comp], ignore_index=True) if include_overall else comp

    @property
    def crit_val(self) -> float:
        if self._crit is None:
            self._crit = self._parent._crit_for(self._if)
        return self._crit

    def bands(self, level: float | None = None) -> pd.DataFrame:
        """Components with pointwise intervals and the simultaneous band (bootstrap sup-t)."""
        t = self.tidy(level)
        if self.kind == "simple":
            return t
        c = self.crit_val
        t["band_low"] = t["estimate"] - c * t["se"]
        t["band_high"] = t["estimate"] + c * t["se"]
        t["crit_val"] = c
        label = {"dynamic": "event_time", "group": "group", "calendar": "time"}[self.kind]
        t.insert(1, label, self.components["value"].to_numpy())
        return t

    def summary(self) -> str:
        s = super().summary()
        if self.kind != "simple":
            s += "\n" + self.tidy().to_string(index=False, float_format=lambda x: f"{x:.5g}")
        return s

    def _repr_html_(self) -> str:
        head = super()._repr_html_()
        if self.kind == "simple":
            return head
        return head + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}")

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["kind"] = self.kind
        if self.components is not None and self.kind != "simple":
            from ..results import _records
            d["components"] = _records(self.tidy())
        return d

    def plot(self, ax=None, band: bool = True):
        """Components with pointwise 95% intervals and (``band=True``) the uniform band."""
        import matplotlib.pyplot as plt
        if self.kind == "simple":
            raise ValueError("a simple aggregate has no components to plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        title = f"{self.method}"
        if band and not self.crit_val < 7:
            band, title = False, title + " (uniform band unreliable, not drawn)"
        b = self.bands()
        x = self.components["value"].to_numpy()
        post = x >= 0 if self.kind == "dynamic" else np.ones(len(x), bool)
        xl = {"dynamic": "event time", "group": "group (first treated period)", "calendar": "period"}[self.kind]
        _event_plot(ax, x, b["estimate"], b["ci_low"], b["ci_high"],
                    b["band_low"] if band else None, b["band_high"] if band else None, post, xl, title)
        return ax


@dataclass
class ATTgtResult(TableResult):
    """Group-time average treatment effects ATT(g,t) with influence functions.

    Attributes
    ----------
    gt : DataFrame
        One row per ATT(g,t): ``group``, ``time``, ``base_period``, ``event_time``, ``post``,
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``n_treated``, ``n_control``.
    n : int
        Number of units.
    """

    gt: pd.DataFrame | None = None
    n: int = 0
    options: dict = field(default_factory=dict)
    _if: object = None
    _pg: np.ndarray | None = None          # P(G=g) per cohort code (R's pg)
    _coh: np.ndarray | None = None         # cohort values (0 first)
    _Vboot: np.ndarray | None = None
    _crit: float | None = None

    # ------------------------------------------------------------------ inference helpers
    @property
    def clustered(self) -> bool:
        return self.options.get("cluster") is not None

    def _vcov_of(self, ifo) -> np.ndarray:
        return ifo.vcov(cluster=self.clustered)

    def _boot(self, ifo):
        o = self.options
        rng = np.random.default_rng(o["seed"])
        return ifo.boot(o["biters"], rng, o["bootstrap_weights"], cluster=self.clustered)

    def _crit_for(self, ifo) -> float:
        bres = self._boot(ifo)
        _, crit = boot_summary(bres, self.n, self.options["alpha"])
        z = stats.norm.ppf(1 - self.options["alpha"] / 2)
        if not np.isfinite(crit) or crit < z:
            warnings.warn("Simultaneous critical value not available or below the pointwise one; "
                          "reporting pointwise intervals (as R did).", DiDWarning, stacklevel=3)
            return float(z)
        if crit >= 7:
            warnings.warn(f"Simultaneous critical value {crit:.3g} is too large to be reliable (few units "
                          "or clusters per group, or little variation in outcomes), as R did warns.",
                          DiDWarning, stacklevel=3)
        return float(crit)

    def _ses(self, ifo) -> np.ndarray:
        if self.options["bootstrap"]:
            se, _ = boot_summary(self._boot(ifo), self.n, self.options["alpha"])
        else:
            se = np.sqrt(np.clip(np.diag(self._vcov_of(ifo)), 0, None))
        return _na_small(se, self.n)

    def vcov(self) -> np.ndarray:
        """Variance matrix of the ATT(g,t) (analytic, or from the bootstrap if ``bootstrap=True``)."""
        if self.options["bootstrap"]:
            if self._Vboot is None:
                self._Vboot = np.cov(self._boot(self._if), rowvar=False)
            return self._Vboot
        return self._vcov_of(self._if)

    @property
    def crit_val(self) -> float:
        """Simultaneous critical value for all ATT(g,t) (multiplier bootstrap, sup-t)."""
        if self._crit is None:
            self._crit = self._crit_for(self._if)
        return self._crit

    # ------------------------------------------------------------------------ presentation
    def to_frame(self, band: bool = False) -> pd.DataFrame:
        df = self.gt.copy()
        if band:
            c = self.crit_val
            df["band_low"] = df["estimate"] - c * df["se"]
            df["band_high"] = df["estimate"] + c * df["se"]
        return df

    def summary(self) -> str:
        o = self.options
        head = (f"{self.method}\n  outcome {o['outcome']}, control group {o['control_group']}, method "
                f"{o['method']}, base period {o['base_period']}, anticipation {o['anticipation']}, "
                f"n = {self.n} {'units' if o.get('panel', True) else 'observations (repeated cross-sections)'}")
        cols = ["group", "time", "estimate", "se", "ci_low", "ci_high"]
        return head + "\n" + self.gt[cols].to_string(index=False, float_format=lambda x: f"{x:.5g}")

    def _repr_html_(self) -> str:
        cols = ["group", "time", "event_time", "estimate", "se", "ci_low", "ci_high"]
        return (f"<p><b>{self.method}</b> ({self.n} units)</p>"
                + self.gt[cols].to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    def plot(self, band: bool = True, ncols: int = 3):
        """One panel per group: ATT(g,t) by period with pointwise intervals and the uniform band."""
        import matplotlib.pyplot as plt
        df = self.to_frame(band=band)
        groups = df["group"].unique()
        nrows = math.ceil(len(groups) / ncols)
        fig, axes = plt.subplots(nrows, min(ncols, len(groups)), figsize=(4.2 * min(ncols, len(groups)),
                                                                           3.2 * nrows), squeeze=False)
        for ax, g in zip(axes.ravel(), groups):
            d = df[df["group"] == g]
            _event_plot(ax, d["time"], d["estimate"], d["ci_low"], d["ci_high"],
                        d["band_low"] if band else None, d["band_high"] if band else None,
                        d["post"].to_numpy().astype(bool), "period", f"group {g}")
        for ax in axes.ravel()[len(groups):]:
            ax.set_visible(False)
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update({"n": int(self.n), "options": {k: v for k, v in self.options.items()
                                                if isinstance(v, (str, int, float, bool, type(None), list))}})
        return d

    # ------------------------------------------------------------------------- pre-test
    def pretest(self) -> WaldTest:
        """Wald test that all pre-treatment ATT(g,t) are zero (R did's ``W``/``Wpval``).

        Uses the analytic variance (bootstrap variance if ``bootstrap=True``), leaving out
        pre-periods with zero or missing variance, as R does.
        """
        gt = self.gt
        V = self.vcov()
        d = np.diag(V)
        pre = np.flatnonzero((gt["group"].to_numpy() > gt["time"].to_numpy())
                             & np.isfinite(d) & (d > 0) & np.isfinite(gt["estimate"].to_numpy()))
        name = "Pre-test of parallel trends (Wald, pre-treatment ATT(g,t) = 0)"
        if len(pre) == 0:
            raise ValueError("no pre-treatment ATT(g,t) to test")
        Vp = V[np.ix_(pre, pre)]
        if np.linalg.matrix_rank(Vp) < len(pre):
            warnings.warn(f"Not returning the pre-test Wald statistic: the covariance matrix of the {len(pre)} "
                          "pre-treatment ATT(g,t) is singular (e.g. fewer clusters than pre-periods).",
                          DiDWarning, stacklevel=2)
            return WaldTest(np.nan, len(pre), np.nan, name=name + " - not available (singular covariance)")
        return wald(gt["estimate"].to_numpy()[pre], Vp, name, terms=gt["term"].iloc[pre].tolist())

    # ---------------------------------------------------------------------- aggregation
    def aggregate(self, kind: str = "group", *, min_e: float = -np.inf, max_e: float = np.inf,
                  balance_e: int | None = None, na_rm: bool = False) -> AggregateResult:
        """Aggregate the ATT(g,t) as R ``aggte``.

        Parameters
        ----------
        kind : {"simple", "group", "dynamic", "calendar"}
            ``simple``: post-treatment ATT(g,t) weighted by group size; ``group``: average effect by
            group, overall as the group-size weighted mean; ``dynamic``: event-study effects by
            event time ``e = t - g``, overall as the mean over ``e >= 0``; ``calendar``: by period,
            overall as the mean over periods.
        min_e, max_e : float
            Event-time window (``dynamic``); ``max_e`` also caps the post periods used by
            ``simple`` and ``group`` (as in R).
        balance_e : int, optional
            Keep only groups observed for at least ``balance_e`` periods after treatment
            (``dynamic``).
        na_rm : bool
            Drop ATT(g,t) that could not be estimated instead of raising.

        Notes
        -----
        Standard errors include the estimation effect of the group-share weights (R's ``wif``).
        """
        if kind not in ("simple", "group", "dynamic", "calendar"):
            raise ValueError("kind must be one of 'simple', 'group', 'dynamic', 'calendar'")
        gt = self.gt
        att = gt["estimate"].to_numpy()
        keep = np.ones(len(gt), bool)
        if np.isnan(att).any():
            if not na_rm:
                raise ValueError("some ATT(g,t) are missing; pass na_rm=True to drop them")
            keep = ~np.isnan(att)
        idx = np.flatnonzero(keep)
        g_o = gt["group"].to_numpy()[idx]
        t_o = gt["time"].to_numpy()[idx]
        a = att[idx]
        coh = self._coh
        gcode = np.searchsorted(coh, g_o)
        pg = self._pg[gcode]
        # R recodes periods to 1..T over the periods with an ATT(g,t)
        ut = pd.unique(t_o)
        t_r = np.searchsorted(np.sort(ut), t_o) + 1
        g_r = np.searchsorted(np.sort(ut), g_o) + 1
        K_all = len(gt)
        ncoh = len(coh)

        def col(which, wts):
            A = np.zeros(K_all)
            A[idx[which]] = wts
            return A

        def wif_H(which, pgw, attw, gcodes):
            """Estimation effect of weights pg_k/sum(pg) (per cohort; R's wif %*% att)."""
            S = pgw.sum()
            abar = (pgw * attw).sum() / S
            H = np.zeros(ncoh)
            np.add.at(H, gcodes, (attw - abar) / S)
            return H

        comps = []   # (label, value, A, H, estimate)
        if kind == "simple":
            k = np.flatnonzero((g_r <= t_r) & (t_r <= g_r + max_e))
            wts = pg[k] / pg[k].sum()
            est = float(np.sum(wts * a[k]))
            A = col(k, wts)
            H = wif_H(k, pg[k], a[k], gcode[k])
            overall = (A, H, est)
        elif kind == "group":
            glist = np.unique(g_o)
            grs = np.searchsorted(np.sort(ut), glist) + 1
            Ag, ests = [], []
            for g, gr in zip(glist, grs):
                k = np.flatnonzero((g_o == g) & (gr <= t_r) & (t_r <= gr + max_e))
                e = float(np.mean(a[k])) if len(k) else np.nan
                A = col(k, np.full(len(k), 1 / len(k))) if len(k) else np.zeros(K_all)
                comps.append((f"g={g}", g, A, np.zeros(ncoh), e))
                Ag.append(A)
                ests.append(e)
            pgg = self._pg[np.searchsorted(coh, glist)]
            ests = np.array(ests)
            S = pgg.sum()
            est = float(np.sum(ests * pgg) / S)
            A = np.column_stack(Ag) @ (pgg / S)
            # estimation effect of the group shares pgg (R's wif over the groups)
            gam = np.searchsorted(coh, glist)
            H = np.zeros(ncoh)
            np.add.at(H, gam, (ests - est) / S)
            overall = (A, H, est)
        elif kind == "dynamic":
            e_all = t_o - g_o
            eseq = np.unique(e_all)
            inc = np.ones(len(a), bool)
            if balance_e is not None:
                t_first, t_last = np.min(ut), np.max(ut)
                eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - t_last + t_first)]
                inc = (t_last - g_o) >= balance_e
            eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
            for e in eseq:
                k = np.flatnonzero((e_all == e) & inc)
                wts = pg[k] / pg[k].sum()
                comps.append((f"e={e}", e, col(k, wts), wif_H(k, pg[k], a[k], gcode[k]),
                              float(np.sum(wts * a[k]))))
            pos = [c for c in comps if c[1] >= 0]
            if pos:
                est = float(np.mean([c[4] for c in pos]))
                A = np.mean([c[2] for c in pos], axis=0)
                H = np.mean([c[3] for c in pos], axis=0)
            else:
                est, A, H = np.nan, np.zeros(K_all), np.zeros(ncoh)
            overall = (A, H, est)
        else:  # calendar
            minG = g_r.min()
            tl = np.unique(t_r)
            tl = tl[tl >= minG]
            t_orig = np.sort(ut)
            for t1 in tl:
                k = np.flatnonzero((t_r == t1) & (g_r <= t_r))
                wts = pg[k] / pg[k].sum()
                comps.append((f"t={t_orig[t1 - 1]}", t_orig[t1 - 1], col(k, wts),
                              wif_H(k, pg[k], a[k], gcode[k]), float(np.sum(wts * a[k]))))
            est = float(np.mean([c[4] for c in comps]))
            A = np.mean([c[2] for c in comps], axis=0)
            H = np.mean([c[3] for c in comps], axis=0)
            overall = (A, H, est)

        Amat = np.column_stack([overall[0]] + [c[2] for c in comps])
        Hmat = np.column_stack([overall[1]] + [c[3] for c in comps])
        ifo = self._if.combine(Amat, Hmat)
        se = self._ses(ifo)
        comp_df = None
        comp_if = None
        if comps:
            comp_df = pd.DataFrame({"term": [c[0] for c in comps], "value": [c[1] for c in comps],
                                    "estimate": [c[4] for c in comps], "se": se[1:]})
            comp_if = self._if.combine(Amat[:, 1:], Hmat[:, 1:])
        o = self.options
        name = {"simple": "simple weighted average of post-treatment ATT(g,t)",
                "group": "average of group-specific effects", "dynamic": "average of event-time effects e >= 0",
                "calendar": "average of calendar-time effects"}[kind]
        return AggregateResult(
            estimate=overall[2], se=float(se[0]), n=self.n, term=f"ATT ({kind})",
            method=f"Callaway-Sant'Anna aggregate ({kind}): {name}; control {o['control_group']}, "
                   f"{o['method']}" + (f", clustered by {o['cluster']}" if self.clustered else ""),
            level=1 - o["alpha"], kind=kind, components=comp_df, _parent=self, _if=comp_if,
            min_e=min_e, max_e=max_e, balance_e=balance_e,
            extra={"kind": kind})


def _column_runs(tis, bs):
    """Split the cells' (period, base) column pairs into runs that index ``Y`` by slices: periods
    consecutive and bases consecutive (varying base) or one base column (post-treatment)."""
    runs, j = [], 0
    m = len(tis)
    while j < m:
        e = j + 1
        if bs[j] == tis[j] - 1:
            while e < m and tis[e] == tis[e - 1] + 1 and bs[e] == tis[e] - 1:
                e += 1
            runs.append((j, e, slice(tis[j], tis[e - 1] + 1), slice(bs[j], bs[e - 1] + 1)))
        else:
            while e < m and tis[e] == tis[e - 1] + 1 and bs[e] == bs[j]:
                e += 1
            runs.append((j, e, slice(tis[j], tis[e - 1] + 1), slice(bs[j], bs[j] + 1)))
        j = e
    return runs


def _balanced_blocks(P, X, spec, cc, coh_idx, controls, method, nocov, att, ps_cache):
    """Estimate the ATT(g,t) of a balanced panel by blocks: all cells of a cohort with the same
    comparison units at once (:func:`evaluation.did._drdid.panel_block`), one propensity score
    per block, on units sorted by cohort.  Fills ``att``; returns which cells were done (a block
    that fails is left to the cell-by-cell loop, which reports each cell's problem) and the blocks
    of the influence function ``(cohort ranges, columns, psi)`` for :class:`BlockIF`."""
    K = len(spec)
    done = np.zeros(K, bool)
    store = []
    if np.any(cc[1:] < cc[:-1]):
        return done, store
    blocks: dict = {}
    for k, (g, ti, b, post, thr) in enumerate(spec):
        if ti == b:
            done[k] = True
            continue
        cm = controls(g, thr)
        blocks.setdefault((g, cm.tobytes()), (cm, []))[1].append(k)
    bounds = np.searchsorted(cc, np.arange(len(coh_idx) + 1))
    for (g, key), (cm, ks) in blocks.items():
        gi = coh_idx[g]
        sel = np.flatnonzero(cm | (np.arange(len(cm)) == gi))       # contiguous cohort ranges
        ranges = [(c, bounds[c], bounds[c + 1]) for c in sel if bounds[c + 1] > bounds[c]]
        take = lambda a: np.concatenate([a[lo:hi] for _, lo, hi in ranges])  # noqa: E731
        nrow = sum(hi - lo for _, lo, hi in ranges)
        D = (take(cc) == gi).astype(float)
        Xs, ws = take(X), take(P.w)
        try:
            ps = None
            if method in ("dr", "ipw", "dr_imp") and not nocov:
                ps = (_drdid.ipt_pscore(Xs, D, ws)[0] if method == "dr_imp"
                      else _drdid.logit(Xs, D, ws / ws.mean()))
                ps_cache[(g, key)] = ps
                if ps.max() >= 0.999:
                    continue
            tis = np.array([spec[k][1] for k in ks])
            bs = np.array([spec[k][2] for k in ks])
            DY = np.empty((nrow, len(ks)))          # long differences straight from the ranges
            runs = _column_runs(tis, bs)
            o = 0
            for _, lo, hi in ranges:
                Yc = P.Y[lo:hi]
                for j0, j1, ct, cb in runs:          # slices and broadcasts, not fancy gathers
                    np.subtract(Yc[:, ct], Yc[:, cb], out=DY[o:o + hi - lo, j0:j1])
                o += hi - lo
            a, inf = _drdid.quiet(_drdid.panel_block, DY, D, Xs, ws, method, ps=ps)
        except (_drdid.OverlapError, np.linalg.LinAlgError, ZeroDivisionError):
            continue
        if not np.all(np.isfinite(a)):
            continue
        ks = np.asarray(ks)
        att[ks] = a
        inf *= 1.0 / nrow
        store.append((ranges, ks, inf))
        done[ks] = True
    return done, store


def _na_small(se: np.ndarray, n: int) -> np.ndarray:
    # R sets standard errors <= sqrt(eps)*10 on its scale (sqrt(mean(IF^2)/n)) to NA
    se = np.asarray(se, float).copy()
    se[~(se > _SE_EPS)] = np.nan
    return se


# ========================================================================= the estimator
def att_gt(data: pd.DataFrame, *, outcome: str, unit: str | None = None, time: str, group: str,
           covariates=(), control_group: str = "never", method: str = "dr", anticipation: int = 0,
           base_period: str = "varying", weights: str | None = None, cluster: str | None = None,
           allow_unbalanced_panel: bool = False, panel: bool = True, bootstrap: bool = False, biters: int = 1000,
           bootstrap_weights: str = "mammen", seed: int | None = None, alpha: float = 0.05) -> ATTgtResult:
    r"""Group-time average treatment effects (Callaway & Sant'Anna 2021), as R ``did::att_gt``.

    Parameters
    ----------
    data : DataFrame
        Long panel, one row per unit and period (or, with ``panel=False``, one row per
        observation of a repeated cross-section).
    outcome, unit, time : str
        Outcome, unit id and integer-like period columns.  ``unit`` may be omitted with
        ``panel=False``.
    group : str
        First treated period of the unit (constant within unit). **Never-treated units may be coded
        0 or missing (NaN)** (``inf`` also works); both are accepted. Units first treated after the
        last observed period count as never treated (with a warning).
    covariates : sequence of str
        Time-invariant covariates (the value in each unit's first observed period is used).
    control_group : {"never", "notyet"}
        Never-treated units, or never- plus not-yet-treated units (R: ``"nevertreated"`` /
        ``"notyettreated"``; those spellings are accepted too).
    method : {"dr", "dr_imp", "ipw", "reg"}
        ``"dr"``: doubly robust, R did's default ``DRDID::drdid_panel`` (Sant'Anna & Zhao 2020,
        eq. 3.1; logit propensity score by maximum likelihood, OLS outcome regression on the
        controls).  ``"dr_imp"``: the *improved* locally efficient DR estimator of Sant'Anna & Zhao
        (2020, Section 3.1; ``DRDID::drdid_imp_panel``, and ``drdid_imp_rc`` for unbalanced panels):
        the propensity score is fitted by inverse probability tilting (Graham, Pinto & Egel 2012),
        so that the odds-weighted control covariate means equal the treated means exactly, and
        the outcome regression by least squares on the controls weighted by ``p/(1-p)``; then for
        the long difference :math:`\Delta Y = Y_t - Y_b` in the 2x2 of ``(g, t)``

        .. math:: ATT(g,t) = \frac{E_n[w (D - (1-D) \frac{p(X)}{1-p(X)})(\Delta Y - X'\hat b)]}{E_n[wD]},

        whose influence function has no estimation-effect terms (the first-order conditions of
        both nuisance fits cancel them), so the estimator is doubly robust for inference too.
        ``"ipw"``: standardised inverse probability weighting; ``"reg"``: outcome regression.
        Without covariates all four coincide.
    anticipation : int
        Number of periods before treatment in which units may react.
    base_period : {"varying", "universal"}
        R's default ``"varying"`` compares each pre-period with the period before; ``"universal"``
        uses ``g - anticipation - 1`` for all periods (that ATT is reported as 0).
    weights : str, optional
        Time-invariant sampling weights.
    cluster : str, optional
        Unit-level cluster variable. Analytic standard errors then sum the influence function within
        clusters (``sqrt(sum_c S_c^2) / n``, the quantity R's clustered multiplier bootstrap
        estimates); the bootstrap draws one multiplier per cluster.
    allow_unbalanced_panel : bool
        If False (R's default), units not observed in every period are dropped with a warning. If
        True and the panel is unbalanced, ATT(g,t) use the repeated-cross-section estimators on the
        available observations and influence functions are summed by unit (as R did; with
        ``method="dr"`` and covariates the standard errors use the corrected ``drdid_rc``
        influence function described under ``panel``).
    panel : bool
        ``False``: the data are repeated cross-sections (R did's ``panel = FALSE``): every row is a
        separate observation (its own "unit" in the influence function and the bootstrap, with its
        own covariates, weight and cluster), and each ATT(g,t) compares the four means
        (group/control x period ``t``/base period) by the repeated-cross-section estimators of
        DRDID: ``reg_did_rc`` (``"reg"``), ``std_ipw_did_rc`` (``"ipw"``), ``drdid_rc`` (``"dr"``)
        and ``drdid_imp_rc`` (``"dr_imp"``).  A unit id appearing twice in one period is an error.
        The ``"dr"`` standard errors subtract the estimation effect of the pre-period outcome
        regression where R DRDID's ``drdid_rc`` adds it (see :func:`evaluation.did._drdid.dr_rc`;
        point estimates are R's, standard errors differ by a fraction of a percent on mpdta).
    bootstrap : bool
        Report multiplier-bootstrap standard errors (R's default) instead of analytic ones.
    biters, bootstrap_weights, seed : int, str, int
        Bootstrap draws, multiplier distribution (``"mammen"`` as R, ``"rademacher"``, ``"normal"``)
        and seed. Uniform (sup-t) bands always use the bootstrap and are computed on demand.
    alpha : float
        Significance level for intervals and bands.

    Returns
    -------
    ATTgtResult
        with ``.aggregate(kind)``, ``.pretest()``, ``.gt`` (table), ``.tidy()``, ``.plot()``.

    Notes
    -----
    For each group ``g`` and period ``t`` with base period ``b`` (``g - anticipation - 1`` after
    treatment; ``t - 1`` before treatment with a varying base)

    .. math:: ATT(g,t) = E[Y_t - Y_b | G = g] - E[Y_t - Y_b | C],

    with ``C`` the never-treated (or not-yet-treated by ``max(t, b) + anticipation``) units, made
    conditional on covariates by DR/IPW/OR.  Influence functions are scaled as in R (``n/n1`` for
    the subsample), so ``se = sqrt(sum(IF^2)) / n``.  Without covariates on a balanced panel the
    estimator works on cohort sums of the units x periods outcome array.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
    periods. Journal of Econometrics 225(2), 200-230.
    Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences estimators.
    Journal of Econometrics 219(1), 101-122.
    """
    cg = {"never": "never", "nevertreated": "never", "notyet": "notyet",
          "notyettreated": "notyet"}.get(control_group)
    if cg is None:
        raise ValueError("control_group must be 'never' or 'notyet'")
    if method not in ("dr", "dr_imp", "ipw", "reg"):
        raise ValueError("method must be 'dr' (R did's default), 'dr_imp', 'ipw' or 'reg'")
    if base_period not in ("varying", "universal"):
        raise ValueError("base_period must be 'varying' or 'universal'")
    if not isinstance(panel, (bool, np.bool_)):
        raise ValueError(f"panel must be True (a panel: one row per unit and period) or False (repeated "
                         f"cross-sections: one row per observation); got {panel!r}")
    if unit is None and panel:
        raise ValueError("unit (the unit id column) is required for panel data; for repeated "
                         "cross-sections without a unit id pass panel=False")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or ())
    P = prepare_panel(data, outcome=outcome, unit=unit, time=time, group=group, covariates=covariates,
                      weights=weights, cluster=cluster, anticipation=anticipation,
                      allow_unbalanced_panel=allow_unbalanced_panel, control_group=cg, panel=bool(panel))
    tlist, G, n, T = P.tlist, P.G, P.n, len(P.tlist)
    if cluster is not None and P.n_clusters < FEW_CLUSTERS:
        warnings.warn(f"Only {P.n_clusters} clusters of {cluster!r}: cluster-robust standard errors and bands "
                      "are unreliable with few clusters (and when whole cohorts are single clusters).",
                      DiDWarning, stacklevel=2)
    coh, cc = np.unique(G, return_inverse=True)
    if coh[0] != 0:
        coh = np.concatenate([[0], coh])
        cc = cc + 1
    ncoh = len(coh)
    glist = coh[1:]
    if len(glist) == 0:
        raise ValueError("no treated groups: every unit is never treated")
    pg = np.bincount(cc, weights=P.w, minlength=ncoh) / n

    # ---- the list of (g, t, base) as R did -------------------------------------------------
    spec = []
    for g in glist:
        pre_idx = np.flatnonzero(tlist + anticipation < g)
        pret_g = int(pre_idx[-1])
        rng_t = range(1, T) if base_period == "varying" else range(T)
        for ti in rng_t:
            post = g <= tlist[ti]
            if base_period == "varying":
                b = pret_g if post else ti - 1
            else:
                b = pret_g
            thr = tlist[max(ti, b)] + anticipation
            spec.append((int(g), ti, b, bool(post), thr))
    K = len(spec)
    coh_idx = {int(c): i for i, c in enumerate(coh)}

    def controls(g, thr):
        if cg == "never":
            m = np.zeros(ncoh, bool)
            m[0] = True
        else:
            m = (coh == 0) | ((coh > thr) & (coh != g))
        return m

    att = np.full(K, np.nan)
    n_tr = np.zeros(K, dtype=np.int64)
    n_co = np.zeros(K, dtype=np.int64)
    counts = np.bincount(cc, minlength=ncoh)
    nocov = not covariates
    use_linear = nocov and P.balanced

    if use_linear:
        LD = LinearData(P.Y, P.w, cc, ncoh, cluster=P.cluster, weighted=P.unit_weights_given)
        W, SY = LD.W, LD.SY
        theta = np.zeros((K, ncoh, T + 1))
        for k, (g, ti, b, post, thr) in enumerate(spec):
            gi = coh_idx[g]
            if ti == b:
                att[k] = 0.0
                continue
            cm = controls(g, thr)
            n_tr[k], n_co[k] = counts[gi], counts[cm].sum()
            Wc = W[cm].sum()
            if Wc <= 0 or W[gi] <= 0:
                warnings.warn(f"No available control units for group {g} in period {tlist[ti]}",
                              DiDWarning, stacklevel=2)
                continue
            mg = (SY[gi, ti] - SY[gi, b]) / W[gi]
            mc = (SY[cm, ti].sum() - SY[cm, b].sum()) / Wc
            att[k] = mg - mc
            theta[k, gi, ti] += 1 / W[gi]
            theta[k, gi, b] -= 1 / W[gi]
            theta[k, gi, T] = -mg / W[gi]
            ci = np.flatnonzero(cm)
            theta[k, ci, ti] -= 1 / Wc
            theta[k, ci, b] += 1 / Wc
            theta[k, ci, T] = mc / Wc
        ifo = LinearIF(LD, theta)
    else:
        # balanced: blocks of rows written at once (C order); otherwise one column per cell (F)
        X = P.X if P.X is not None else np.ones((n, 1))
        ps_cache: dict = {}
        est_panel = _drdid.PANEL[method]
        est_rc = _drdid.RC[method]
        done = np.zeros(K, bool)
        perm = None
        if P.balanced:
            # units sorted by cohort: a comparison's rows are a few contiguous ranges
            if np.any(cc[1:] < cc[:-1]):
                perm = np.argsort(cc, kind="stable")
                cc = cc[perm]
                P.Y, P.w, X = P.Y[perm], P.w[perm], X[perm]
                if P.cluster is not None:
                    P.cluster = P.cluster[perm]
            done, store = _balanced_blocks(P, X, spec, cc, coh_idx, controls, method, nocov, att, ps_cache)
        block_if = None
        if P.balanced and done.all():
            block_if = BlockIF(n, K, store, P.w, cc, P.cluster, perm=perm)
        else:
            M = np.zeros((n, K), order="C" if P.balanced else "F")
            if P.balanced:
                BlockIF.write(M, store)
        if not P.balanced:
            obs_unit, obs_t, obs_y = P.ucode, P.tcode, P.y
            # rows of every period (one sort), so a cell touches only its two periods' rows
            by_t = np.argsort(obs_t, kind="stable")
            t_bounds = np.searchsorted(obs_t[by_t], np.arange(T + 1))
        for k, (g, ti, b, post, thr) in enumerate(spec):
            gi = coh_idx[g]
            if ti == b:
                att[k] = 0.0
                continue
            cm = controls(g, thr)
            n_tr[k], n_co[k] = counts[gi], counts[cm].sum()
            if done[k]:
                continue
            sel_u = (cc == gi) | cm[cc]
            D_u = (cc == gi).astype(float)
            try:
                if P.balanced:
                    rows = np.flatnonzero(sel_u)
                    D = D_u[rows]
                    Xs = X[rows]
                    ws = P.w[rows]
                    key = (g, cm.tobytes())
                    ps = None
                    if method in ("dr", "ipw", "dr_imp") and not nocov:
                        ps = ps_cache.get(key)
                        if ps is None:
                            ps = (_drdid.ipt_pscore(Xs, D, ws)[0] if method == "dr_imp"
                                  else _drdid.logit(Xs, D, ws / ws.mean()))
                            ps_cache[key] = ps
                        if ps.max() >= 0.999:
                            raise _drdid.OverlapError(f"overlap condition violated for group {g} in period {tlist[ti]}")
                    dy = P.Y[rows, ti] - P.Y[rows, b]
                    a, inf = _drdid.quiet(est_panel, dy, D, Xs, ws, ps=ps) if method != "reg" else \
                        _drdid.quiet(est_panel, dy, D, Xs, ws)
                    att[k] = a
                    M[rows, k] = inf / len(rows)
                else:
                    r2 = np.sort(np.concatenate([by_t[t_bounds[ti]:t_bounds[ti + 1]],
                                                 by_t[t_bounds[b]:t_bounds[b + 1]]]))
                    mo = r2[sel_u[obs_unit[r2]]]
                    ou = obs_unit[mo]
                    post_o = (obs_t[mo] == ti).astype(float)
                    D = D_u[ou]
                    if (D * post_o).sum() == 0 or (D * (1 - post_o)).sum() == 0 or \
                            ((1 - D) * post_o).sum() == 0 or ((1 - D) * (1 - post_o)).sum() == 0:
                        raise _drdid.OverlapError(f"no units of group {g} or controls observed in periods "
                                                  f"{tlist[b]} and {tlist[ti]}")
                    if nocov:     # intercept only: every method is the DiD of four weighted means
                        a, inf = _drdid.rc_means(obs_y[mo], post_o, D, P.w[ou])
                    else:
                        a, inf = _drdid.quiet(est_rc, obs_y[mo], post_o, D, X[ou], P.w[ou])
                    if not np.isfinite(a):
                        raise _drdid.OverlapError("non-finite estimate")
                    att[k] = a
                    if P.panel:       # a unit can appear in both periods of the cell: sum by unit
                        uu, inv = np.unique(ou, return_inverse=True)
                        M[uu, k] = np.bincount(inv, weights=inf) / len(ou)
                    else:
                        M[ou, k] = inf / len(ou)
            except (_drdid.OverlapError, np.linalg.LinAlgError, ZeroDivisionError) as e:
                warnings.warn(f"ATT({g},{tlist[ti]}) set to NA: {e}", DiDWarning, stacklevel=2)
                att[k] = np.nan
        ifo = block_if if block_if is not None else DenseIF(M, P.w, cc, P.cluster, perm=perm)

    opts = dict(outcome=outcome, unit=unit, time=time, group=group, covariates=covariates,
                control_group=cg, method=method, anticipation=anticipation, base_period=base_period,
                weights=weights, cluster=cluster, allow_unbalanced_panel=allow_unbalanced_panel,
                panel=bool(panel), bootstrap=bootstrap, biters=biters, bootstrap_weights=bootstrap_weights, seed=seed,
                alpha=alpha, balanced=P.balanced, dropped=P.dropped)
    return gt_result("Callaway-Sant'Anna group-time ATT", spec, tlist, att, ifo, n, opts, pg, coh,
                     n_tr, n_co, base_period, alpha, {"n_units" if panel else "n_obs": n, "dropped": P.dropped})


def gt_result(method: str, spec, tlist, att, ifo, n, opts, pg, coh, n_tr, n_co, base_period, alpha,
              extra) -> "ATTgtResult":
    """The :class:`ATTgtResult` of estimated ATT(g,t): standard errors from the influence
    functions ``ifo``, the (g,t) table and the tidy table (shared by :func:`att_gt` and
    :func:`evaluation.did.att_gt_engine`)."""
    gs = np.array([s[0] for s in spec])
    ts = tlist[[s[1] for s in spec]]
    res = ATTgtResult(table=pd.DataFrame(), method=method, gt=None, n=n, options=opts, _if=ifo, _pg=pg,
                      _coh=coh)
    se = res._ses(ifo)
    se[np.isnan(att)] = np.nan
    z = stats.norm.ppf(1 - alpha / 2)
    terms = [f"ATT({g},{t})" for g, t in zip(gs, ts)]
    res.gt = pd.DataFrame({
        "term": terms, "group": gs, "time": ts, "base_period": tlist[[s[2] for s in spec]],
        "event_time": ts - gs, "post": [s[3] for s in spec] if base_period == "varying" else
        [s[3] and s[1] != s[2] for s in spec],
        "estimate": att, "se": se, "ci_low": att - z * se, "ci_high": att + z * se,
        "n_treated": n_tr, "n_control": n_co})
    res.table = tidy_frame(terms, att, se, n=n, level=1 - alpha)
    res.extra = extra
    return res
