r"""Callaway & Sant'Anna group-time ATTs without covariates, computed in the engine.

:func:`att_gt_engine` is :func:`evaluation.did.att_gt` for the unconditional case (no covariates, no
weights, balanced panel, analytic standard errors) when the person x period rows live in parquet
files or any Ibis table: the rows never come into pandas.  The relational part runs through Ibis
(DuckDB by default) in two queries, and only per-cohort aggregates come back:

1. per period: rows, rows with an outcome and their sum, the smallest group value (the periods,
   the rows with a missing outcome, the period means used to centre numeric outcomes);
2. per unit (``group_by(unit)``): the number of rows, which periods are present (the sum of
   ``2**period``, a bit mask when no period repeats), the group's smallest and largest value (or
   the group joined from a person table), and the outcome by period -- for boolean outcomes the
   sum of ``outcome * 2**period`` (one aggregate for all periods; the cross-products below are
   then exact counts), else one ``CASE`` sum per period; then per ``(status, cohort)``: units
   ``W_g``, sums ``S_g[t] = sum_i Y_it`` and cross-products ``Q_g[s,t] = sum_i Y_is Y_it``
   (numeric outcomes centred on the period means, for accuracy).  ``status`` marks balanced
   units, units not observed in every period, duplicated unit-periods and groups that vary
   within a unit.

Estimator
---------
Without covariates the doubly robust, IPW and outcome-regression estimators of Sant'Anna & Zhao
(2020; ``DRDID::drdid_panel``, ``std_ipw_did_panel``, ``reg_did_panel`` with an intercept only)
coincide and ATT(g,t) is the difference of mean long differences (Callaway & Sant'Anna 2021,
J. Econometrics 225(2), Theorem 1 with ``X`` constant: the unconditional ATT(g,t) with the
never-treated or the not-yet-treated comparison group):

.. math:: ATT(g,t) = \frac{S_g[t] - S_g[b]}{W_g} - \frac{\sum_{c \in C} (S_c[t] - S_c[b])}{\sum_{c \in C} W_c},

with base period ``b = g - anticipation - 1`` for ``t >= g`` and ``b = t - 1`` before treatment
(``base_period="varying"``, R did's default; ``"universal"`` uses ``g - anticipation - 1``
throughout), and ``C`` the never-treated cohort (``control_group="never"``) or the never-treated
plus the cohorts first treated after ``max(t, b) + anticipation`` (``"notyet"``), as R did's
``compute.att_gt``.  Its influence function (R's scaling, ``se = sqrt(sum_i psi_i^2)``,
``psi = IF / n``) is linear in the unit's outcomes with one coefficient vector per cohort:

.. math:: \psi_i = \frac{D_i (\Delta Y_i - m_g)}{W_g} - \frac{C_i (\Delta Y_i - m_C)}{W_C}
          = \theta_{G_i} \cdot [Y_{i1}, \dots, Y_{iT}, 1],

``m`` the group and comparison means of ``Delta Y = Y_t - Y_b``.  Every aggregation of R
``aggte`` (simple, group, dynamic, calendar; with the estimation effect of the group-share weights)
is again of this form, so all variances are :math:`\sum_g \theta_g Q_g \theta_g'` from the
per-cohort Gram matrices of ``[Y, 1]`` (:class:`evaluation.did._influence.LinearIF`, the same
store :func:`att_gt` uses for this case).  Estimates and analytic standard errors equal
:func:`att_gt` to rounding (tests: 1e-10 on mpdta and synthetic panels).

Only portable Ibis operations are used (sums, shifts, bitwise and, ``CASE``): the same
expressions ran on Spark (PySpark local mode through Ibis) and gave :func:`att_gt`'s mpdta results
to 1e-14; the tests run DuckDB only.

Uniform bands (``crit_val``, ``bands()``) need draws of the influence function; here they are
Gaussian: ``theta_g Q_g^{1/2} Z`` per cohort, exactly the conditional distribution of the multiplier
bootstrap with normal multipliers (``bootstrap_weights="normal"``; R's default is Mammen's, so
critical values differ from R by simulation noise).  The bootstrap standard errors of R
(``bstrap=TRUE``) need unit-level draws and are not offered: use :func:`att_gt` for them, and for
covariates, weights, clusters or unbalanced panels.

References
----------
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
periods. Journal of Econometrics 225(2), 200-230.
Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences estimators.
Journal of Econometrics 219(1), 101-122.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._data import DiDDataWarning, _nonabsorbing_msg, no_never_treated, unit_rules
from ._influence import LinearIF
from .attgt import ATTgtResult, DiDWarning, gt_result

#: Most periods the engine route handles (period bit masks in 64-bit integers).
MAX_PERIODS = 62
_OK, _UNBALANCED, _DUPLICATE, _VARYING = 0, 1, 2, 3


def _warn(msg: str) -> None:
    """Warn from a helper that :func:`att_gt_engine` calls directly, pointing at the user's call."""
    warnings.warn(msg, DiDDataWarning, stacklevel=4)


# ===================================================================== influence function store
class CohortMoments:
    """Per-cohort sufficient statistics of ``[Y, 1]``: what :class:`LinearIF` reads (``n``, ``T``,
    ``n_coh``, ``gram``), without unit-level data.  ``gram`` is of the centred outcomes
    ``Y - mu``."""

    def __init__(self, W: np.ndarray, gram: np.ndarray):
        self.W = W
        self.gram = gram
        self.n = int(round(W.sum()))
        self.n_coh, T1, _ = gram.shape
        self.T = T1 - 1

    def cluster_sums(self):  # pragma: no cover - clusters are not offered here
        raise NotImplementedError("clustered standard errors need unit-level data: use att_gt")


class MomentIF(LinearIF):
    """:class:`LinearIF` whose bootstrap draws are Gaussian with the influence function's
    covariance (the normal-multiplier bootstrap's conditional distribution)."""

    def combine(self, A: np.ndarray, H: np.ndarray | None = None) -> "MomentIF":
        base = LinearIF.combine(self, A, H)
        return MomentIF(self.data, base.theta)

    def boot(self, biters: int, rng: np.random.Generator, kind: str = "normal", cluster: bool = False,
             chunk: int = 0) -> np.ndarray:
        if cluster:
            raise NotImplementedError("clustered bootstrap needs unit-level data: use att_gt")
        P, C, T1 = self.theta.shape
        out = np.zeros((biters, P))
        for c in range(C):
            val, vec = np.linalg.eigh(self.data.gram[c])
            root = vec * np.sqrt(np.clip(val, 0, None))          # gram = root @ root.T
            out += rng.standard_normal((biters, T1)) @ (root.T @ self.theta[:, c, :].T)
        return out


# ===================================================================== the engine queries
def _source(data, cols, con, memory_limit, threads):
    """Ibis tables for ``data`` (Panel, parquet path, Ibis table or DataFrame): the person x period
    rows, and for a Panel whose group is a person column (stored once per person) the person
    table, joined to the units after they are aggregated (never to every row)."""
    import ibis
    from ..panel.engine import connect
    from ..panel.panel import Panel
    unit, group = cols[0], cols[2]
    if isinstance(data, ibis.expr.types.Table):
        return data, None, None
    if isinstance(data, Panel) and data.store is None:
        return ibis.memtable(data.data[[c for c in cols if c in data.data.columns]]), None, None
    own = None
    if con is None:
        con = own = connect("duckdb", memory_limit=memory_limit, threads=threads)
    if isinstance(data, Panel):
        store = data.store
        t = con.read_parquet(str(store.panel_dir / "*.parquet"))
        if group in store.person_columns and group not in t.columns:
            path = store.persons_path if store.persons_path.is_file() else store.persons_path / "*.parquet"
            return t, con.read_parquet(str(path)).select(unit, group), own
        return t, None, own
    if isinstance(data, pd.DataFrame):
        return con.create_table("attgt_engine_input", data[[c for c in cols if c in data.columns]],
                                temp=True, overwrite=True), None, own
    if isinstance(data, (str, Path)):
        p = Path(data)
        if not p.exists():
            raise FileNotFoundError(f"att_gt_engine: {p} does not exist (give a parquet file, a folder of "
                                    "parquet files, a Panel or an Ibis table)")
        if p.is_dir():
            files = sorted(p.rglob("*.parquet"))
            if not files:
                raise ValueError(f"att_gt_engine: no *.parquet files under {p}")
            return con.read_parquet([str(f) for f in files]), None, own
        return con.read_parquet(str(p)), None, own
    raise TypeError(f"att_gt_engine: data must be a Panel, a parquet path, an Ibis table or a DataFrame; "
                    f"got {type(data).__name__}")


def _check_schema(t, persons, outcome, unit, time, group):
    sch = t.schema()
    psch = persons.schema() if persons is not None else sch
    have = list(sch.names) + [c for c in psch.names if c not in sch.names]
    for role, c in (("outcome", outcome), ("unit", unit), ("time", time), ("group", group)):
        if c not in (psch.names if role == "group" else sch.names):
            raise ValueError(f"column {c!r} (the {role}) is missing from the data; available columns: "
                             f"{', '.join(have[:30])}")
    ty, tt, tg = sch[outcome], sch[time], psch[group]
    if not (ty.is_numeric() or ty.is_boolean()):
        raise ValueError(f"outcome {outcome!r} must be numeric or boolean; it is {ty}")
    if not tt.is_numeric():
        raise ValueError(f"time column {time!r} must be integer-like (e.g. a running period 1, 2, ...); "
                         f"it is {tt}")
    if not tg.is_numeric():
        raise ValueError(f"group column {group!r} must hold the first treated period as a number "
                         f"(0 or missing for never treated); it is {tg}")
    return ty.is_boolean(), tt.is_floating(), tg.is_floating()


def _periods(t, y, tm, g, float_time, float_group, persons=None):
    """Query 1: per period rows, rows with an outcome, outcome sums; integer checks; smallest
    group (from the person table when the group is a person column)."""
    import ibis
    gsrc = persons if persons is not None else t
    gaggs = {"gmin": g.min()}
    if float_group:
        gaggs["g_nonint"] = (g.notnull() & ~g.isnan() & ~g.isinf() & (g != g.round())).sum()
    aggs = {"rows": t.count(), "rows_y": y.count(), "ysum": y.cast("float64").sum()}
    if persons is None:
        aggs.update(gaggs)
    q = t.group_by(tm.name("tm")).aggregate(**aggs)
    if float_time:
        q = q.mutate(t_nonint=ibis.ifelse(q.tm.notnull() & (q.tm != q.tm.round()), 1, 0))
    out = q.to_pandas()
    if persons is not None:
        gq = gsrc.aggregate(**gaggs).to_pandas()
        for c in gq.columns:
            out[c] = gq[c].iloc[0]
    return out


def _unit_query(t, unit, y, tm, g, tlist, binary, mu, persons=None):
    """Query 2: per unit, then per (status, cohort) counts, sums and cross-products.  ``g`` is the
    group expression on ``t``, or on ``persons`` (one row per unit, left-joined to the units)."""
    import ibis
    T = len(tlist)
    tm64 = tm.cast("int64")
    if np.all(np.diff(tlist) == 1):
        code = tm64 - int(tlist[0])
    else:
        code = ibis.cases(*[(tm64 == int(v), i) for i, v in enumerate(tlist)]).cast("int64")
    one = ibis.literal(1, "int64")
    # sums of 2**period: the bit masks of a unit's periods and of its periods with outcome 1 when
    # no period repeats (sums, not BIT_OR, which Ibis's PySpark compiler lacks); a repeated period
    # carries, so fewer bits than rows flags duplicates
    aggs = {"n_rows": t.count(), "mask": (one << code).sum()}
    if persons is None:
        aggs.update(gmin=g.min(), gmax=g.max(), g_n=g.count())
    if binary:      # one aggregate for all periods, not T
        aggs["bits"] = (y.cast("int64") << code).sum()
    else:
        yf = y.cast("float64")
        for j, v in enumerate(tlist):
            aggs[f"y{j}"] = ibis.ifelse(tm == int(v), yf, ibis.null("float64")).sum()
    u = t.group_by(unit).aggregate(**aggs)
    if persons is not None:
        pg = persons.select(persons[unit].name("_unit"), g.name("_g"))
        u = u.left_join(pg, u[unit] == pg["_unit"])
        u = u.mutate(gmin=u["_g"], gmax=u["_g"], g_n=ibis.ifelse(u["_g"].notnull(), u.n_rows, 0))
    popcount = sum(((u.mask >> j) & 1) for j in range(T))
    varying = (u.gmin != u.gmax) | ((u.g_n > 0) & (u.g_n < u.n_rows))
    balanced = (u.n_rows == T) & (u.mask == (1 << T) - 1)
    status = ibis.cases((u.n_rows > popcount, _DUPLICATE), (varying, _VARYING), (balanced, _OK),
                        else_=_UNBALANCED)
    if binary:      # below 2**T for balanced units: 64-bit (DuckDB's sums are 128-bit)
        bits = ibis.ifelse(balanced, u.bits.cast("int64"), ibis.literal(0, "int64"))
    # 0/1 as float64: DuckDB multiplies doubles ~1.7x faster than checked integers, and sums of
    # 0/1 products stay exact (counts below 2**53)
    cols = [(((bits >> j) & 1).cast("float64") if binary else (u[f"y{j}"] - float(mu[j]))).name(f"c{j}")
            for j in range(T)]
    u = u.select(status.name("status"), u.gmin.name("cohort"), *cols)
    # sums for every status (only the balanced units' are used); no FILTER clauses, which DuckDB
    # would evaluate, with the status expression, once per aggregate
    out = {"units": u.count()}
    for j in range(T):
        out[f"s{j}"] = u[f"c{j}"].sum()
    for j in range(T):
        for k in range(j, T):
            out[f"q{j}_{k}"] = (u[f"c{j}"] * u[f"c{k}"]).sum()
    return u.group_by(["status", "cohort"]).aggregate(**out).to_pandas()


def _duplicate_example(t, unit, tm, tlist):
    """One duplicated unit-period (only run when query 2 found some)."""
    d = t.group_by([unit, tm.name("tm")]).aggregate(k=t.count())
    d = d.filter(d.k > 1)
    ex = d.limit(1).to_pandas()
    n = int(d.count().to_pandas())
    return ex.iloc[0], n


# ===================================================================== the estimator
def att_gt_engine(data, *, outcome: str, unit: str = "person_id", time: str = "period",
                  group: str = "cohort", control_group: str = "never", anticipation: int = 0,
                  base_period: str = "varying", missing_group: str | None = None, alpha: float = 0.05,
                  biters: int = 1000, seed: int | None = None, con=None, memory_limit: str | None = None,
                  threads: int | None = None) -> ATTgtResult:
    r"""Unconditional Callaway & Sant'Anna ATT(g,t) computed in the engine (see the module docstring).

    Parameters
    ----------
    data : Panel, str or Path, Ibis table, or DataFrame
        A :class:`evaluation.panel.Panel` (its parquet files are read by DuckDB), a parquet file or
        folder of parquet files, an Ibis table on any backend, or a long DataFrame (copied into
        DuckDB; for tests -- :func:`att_gt` is the direct route for frames).
    outcome, unit, time, group : str
        Outcome (numeric or boolean), unit id, integer period and first-treated-period columns;
        defaults are the panel's ``person_id``, ``period`` and ``cohort``.
    control_group : {"never", "notyet"}
        Never-treated units, or never- plus not-yet-treated units (``"nevertreated"`` /
        ``"notyettreated"`` accepted).
    anticipation : int
        Periods before treatment in which units may react.
    base_period : {"varying", "universal"}
        As :func:`att_gt` (R did's default ``"varying"``).
    missing_group : {"never", "drop"}, optional
        What a missing group means.  ``"never"`` (default for tables, as :func:`att_gt`): never
        treated.  ``"drop"`` (default for a Panel, whose ``cohort`` is missing for persons treated
        before the window): the units are dropped and counted in ``extra["dropped"]``.
    alpha : float
        Significance level for intervals.
    biters, seed : int
        Draws and seed for the Gaussian uniform bands (``crit_val``, ``bands()``).
    con, memory_limit, threads
        An Ibis backend to read paths/DataFrames with (default: a DuckDB connection from
        :func:`evaluation.panel.engine.connect` with ``memory_limit`` and ``threads``).

    Returns
    -------
    ATTgtResult
        As :func:`att_gt` (``gt``, ``tidy()``, ``summary()``, ``aggregate(kind)``, ``pretest()``,
        ``plot()``); analytic standard errors.  ``extra["dropped"]`` counts what was dropped, as
        :func:`att_gt` (rows with a missing outcome, units treated in the first period, units not
        observed in every period -- R did's balancing -- and units with a missing group when
        ``missing_group="drop"``); each is also a :class:`DiDDataWarning`.

    Notes
    -----
    Balanced panel only (``allow_unbalanced_panel=False`` of :func:`att_gt` and R did): units not
    observed with an outcome in every period are dropped.  A duplicated unit-period or a group
    varying within a unit is an error, as in :func:`att_gt`.  At most :data:`MAX_PERIODS` periods.
    """
    cg = {"never": "never", "nevertreated": "never", "notyet": "notyet",
          "notyettreated": "notyet"}.get(control_group)
    if cg is None:
        raise ValueError("control_group must be 'never' or 'notyet'")
    if base_period not in ("varying", "universal"):
        raise ValueError("base_period must be 'varying' or 'universal'")
    if anticipation < 0:
        raise ValueError("anticipation must be >= 0")
    from ..panel.panel import Panel
    is_panel = isinstance(data, Panel)
    if missing_group is None:
        missing_group = "drop" if is_panel else "never"
    if missing_group not in ("never", "drop"):
        raise ValueError("missing_group must be 'never' (missing group = never treated) or 'drop'")
    if is_panel:
        data._check_columns([unit, time, group, outcome], "att_gt_engine")
    t, persons, own = _source(data, [unit, time, group, outcome], con, memory_limit, threads)
    try:
        agg, tlist, mu, dropped = _aggregates(t, persons, outcome, unit, time, group, missing_group)
    finally:
        if own is not None:
            own.disconnect()
    mom, dropped = _cohort_moments(agg, tlist, anticipation, cg, dropped)
    return _estimate(mom, mu, cg, anticipation, base_period, alpha, biters, seed, dropped,
                     dict(outcome=outcome, unit=unit, time=time, group=group, missing_group=missing_group))


def _aggregates(t, persons, outcome, unit, time, group, missing_group):
    """Checks and the two engine queries; the (status, cohort) aggregates, periods, period means
    (numeric outcomes) and what was dropped so far."""
    binary, float_time, float_group = _check_schema(t, persons, outcome, unit, time, group)
    y, tm = t[outcome], t[time]
    per = _periods(t, y, tm, (persons if persons is not None else t)[group], float_time, float_group, persons)
    if float_group and per["g_nonint"].sum():
        raise ValueError(f"group column {group!r} must be integer-like (the first treated period)")
    if float_time and per["t_nonint"].sum():
        raise ValueError(f"time column {time!r} must be integer-like; found non-integer periods such as "
                         f"{per.loc[per['t_nonint'] > 0, 'tm'].head(5).tolist()}")
    if per["gmin"].notna().any() and per["gmin"].min() < 0:
        raise ValueError(f"group column {group!r} has negative values; use 0 or missing for never treated")
    dropped: dict = {}
    n_miss = int(per["rows"].sum() - per.loc[per["tm"].notna(), "rows_y"].sum())
    if n_miss:
        _warn(f"Dropped {n_miss} rows with missing {outcome!r} or time.")
        dropped["rows with missing values"] = n_miss
    have = per[per["tm"].notna() & (per["rows_y"] > 0)]
    if len(have) == 0:
        raise ValueError("no rows left to analyse")
    tlist = np.sort(have["tm"].to_numpy().astype(np.int64))
    T = len(tlist)
    if T < 2:
        raise ValueError("difference-in-differences needs at least two time periods")
    if T > MAX_PERIODS:
        raise ValueError(f"att_gt_engine handles at most {MAX_PERIODS} periods (got {T}); use att_gt, or "
                         "coarser periods")
    # outcome means by period: numeric outcomes are centred on them (any constants would do)
    mu = np.zeros(T) if binary else (have.set_index("tm")["ysum"] / have.set_index("tm")["rows_y"]).reindex(
        tlist).to_numpy(float)
    rows = t.filter(y.notnull() & tm.notnull())
    gr = (persons if persons is not None else rows)[group]
    if float_group:
        gr = _float_group(gr)
    if missing_group == "never":
        gr = gr.fill_null(0)
    agg = _unit_query(rows, unit, rows[outcome], rows[time], gr.cast("int64"), tlist, binary, mu, persons)
    if (agg["status"] == _DUPLICATE).any():
        ex, k = _duplicate_example(rows, unit, rows[time], tlist)
        uid = ex[unit].item() if hasattr(ex[unit], "item") else ex[unit]
        raise ValueError(f"duplicate unit-period rows: unit {uid!r} appears {int(ex['k'])} times in period "
                         f"{int(ex['tm'])}; {k} unit-periods are duplicated. Aggregate or de-duplicate the "
                         "data so there is one row per unit and period.")
    if (agg["status"] == _VARYING).any():
        raise ValueError(_nonabsorbing_msg(group))
    return agg, tlist, mu, dropped


def _float_group(g):
    """Float group values: infinite or NaN means never treated (as :func:`att_gt`)."""
    import ibis
    return ibis.ifelse(g.isnan() | g.isinf(), ibis.null("float64"), g)


def _cohort_moments(agg: pd.DataFrame, tlist, anticipation, cg, dropped):
    """Apply att_gt's unit rules to the (status, cohort) aggregates; per-cohort W, S, Q."""
    T = len(tlist)
    nul = agg["cohort"].isna().to_numpy()
    if nul.any():
        k = int(agg.loc[nul, "units"].sum())
        _warn(f"Dropped {k} units with a missing group (for a panel's cohort: treated before the window).")
        dropped["units with a missing group"] = k
    a = agg[~nul]
    G = a["cohort"].to_numpy().astype(np.int64)
    units = a["units"].to_numpy().astype(np.int64)
    status = a["status"].to_numpy()
    early, G = unit_rules(G, units, tlist, anticipation, dropped)
    inc = (status == _UNBALANCED) & ~early
    if inc.any():
        k = int(units[inc].sum())
        _warn(f"Dropped {k} units while converting to a balanced panel (units not observed in all "
              f"{T} periods). Use att_gt(..., allow_unbalanced_panel=True) to keep them.")
        dropped["units not observed in every period"] = k
    keep = (status == _OK) & ~early
    if not keep.any():
        raise ValueError("no units left after dropping units treated in the first period and units not "
                         "observed in every period")
    a, G = a[keep], G[keep]
    coh = np.unique(G)
    ci = np.searchsorted(coh, G)
    ncoh = len(coh)
    W = np.bincount(ci, weights=a["units"].to_numpy(float), minlength=ncoh)
    S = np.zeros((ncoh, T))
    Q = np.zeros((ncoh, T, T))
    sv = a[[f"s{j}" for j in range(T)]].to_numpy(float)
    qv = a[[f"q{j}_{k}" for j in range(T) for k in range(j, T)]].to_numpy(float)
    ju, ku = np.triu_indices(T)
    for r in range(len(a)):
        S[ci[r]] += sv[r]
        Q[ci[r], ju, ku] += qv[r]
    Q = Q + np.triu(Q, 1).transpose(0, 2, 1)
    tidx = np.arange(T)
    if coh[0] != 0:
        gmax = int(coh[-1])
        keep_t = no_never_treated(gmax, tlist, anticipation, cg, dropped)
        order = np.r_[ncoh - 1, np.arange(ncoh - 1)]
        coh = np.r_[0, coh[:-1]]
        W, S, Q = W[order], S[order], Q[order]
        tidx = np.flatnonzero(keep_t)
        S, Q = S[:, tidx], Q[:, tidx][:, :, tidx]
    return dict(W=W, S=S, Q=Q, coh=coh, tlist=tlist[tidx], tidx=tidx), dropped


def _spec(glist, tlist, anticipation, base_period):
    """The (g, period index, base index, post, not-yet threshold) cells, in R did's order."""
    T = len(tlist)
    spec = []
    for g in glist:
        pret_g = int(np.flatnonzero(tlist + anticipation < g)[-1])
        for ti in (range(1, T) if base_period == "varying" else range(T)):
            post = bool(g <= tlist[ti])
            b = pret_g if (post or base_period == "universal") else ti - 1
            spec.append((int(g), ti, b, post, tlist[max(ti, b)] + anticipation))
    return spec


def _estimate(mom, mu, cg, anticipation, base_period, alpha, biters, seed, dropped, cols) -> ATTgtResult:
    W, Sc, Q, coh, tlist = mom["W"], mom["S"], mom["Q"], mom["coh"], mom["tlist"]
    mu = np.asarray(mu, float)[mom["tidx"]]
    ncoh, T = Sc.shape
    SY = Sc + W[:, None] * mu[None, :]              # raw outcome sums by cohort and period
    gram = np.zeros((ncoh, T + 1, T + 1))
    gram[:, :T, :T] = Q
    gram[:, :T, T] = gram[:, T, :T] = Sc
    gram[:, T, T] = W
    n = int(round(W.sum()))
    glist = coh[1:]
    if len(glist) == 0:
        raise ValueError("no treated groups: every unit is never treated")
    spec = _spec(glist, tlist, anticipation, base_period)
    K = len(spec)
    ci = {int(c): i for i, c in enumerate(coh)}
    att = np.full(K, np.nan)
    n_tr = np.zeros(K, dtype=np.int64)
    n_co = np.zeros(K, dtype=np.int64)
    theta = np.zeros((K, ncoh, T + 1))
    for k, (g, ti, b, post, thr) in enumerate(spec):
        gi = ci[g]
        if ti == b:
            att[k] = 0.0
            continue
        cm = np.zeros(ncoh, bool)
        cm[0] = True
        if cg == "notyet":
            cm |= (coh > thr) & (coh != g)
        n_tr[k], n_co[k] = W[gi], W[cm].sum()
        Wc = W[cm].sum()
        if Wc <= 0 or W[gi] <= 0:
            warnings.warn(f"No available control units for group {g} in period {tlist[ti]}", DiDWarning,
                          stacklevel=3)
            continue
        mg = (SY[gi, ti] - SY[gi, b]) / W[gi]
        mc = (SY[cm, ti].sum() - SY[cm, b].sum()) / Wc
        att[k] = mg - mc
        theta[k, gi, ti] += 1 / W[gi]
        theta[k, gi, b] -= 1 / W[gi]
        theta[k, gi, T] = -mg / W[gi]
        theta[k, cm, ti] -= 1 / Wc
        theta[k, cm, b] += 1 / Wc
        theta[k, cm, T] = mc / Wc
    theta[:, :, T] += theta[:, :, :T] @ mu            # psi in terms of the centred outcomes
    ifo = MomentIF(CohortMoments(W, gram), theta)
    opts = dict(cols, covariates=[], control_group=cg, method="none (no covariates: dr = ipw = reg)",
                anticipation=anticipation, base_period=base_period, weights=None, cluster=None,
                allow_unbalanced_panel=False, panel=True, bootstrap=False, biters=biters,
                bootstrap_weights="normal", seed=seed, alpha=alpha, balanced=True, dropped=dropped,
                engine="ibis")
    return gt_result("Callaway-Sant'Anna group-time ATT (engine, no covariates)", spec, tlist, att, ifo, n,
                     opts, W / n, coh, n_tr, n_co, base_period, alpha, {"n_units": n, "dropped": dropped})
