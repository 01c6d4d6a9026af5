"""Validation and reshaping of long unit-period data for the DiD estimators.

The estimators work on a units x periods array.  :func:`prepare_panel` checks the input (integer-like
time, absorbing treatment, no duplicate unit-periods), recodes never-treated units (group ``0``,
``NaN`` or ``inf``) to ``0``, drops what R ``did`` drops (units already treated in the first period,
units not observed in every period unless unbalanced panels are allowed, rows with missing values)
with a warning that counts them, and pivots the outcome once.  A panel that is already sorted by
unit and period and balanced is recognised in O(rows) without sorting or hashing.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


class DiDDataWarning(UserWarning):
    """Rows or units were dropped (the message says which and how many)."""


@dataclass
class Panel:
    tlist: np.ndarray                 # sorted period values (int64)
    G: np.ndarray                     # group (first treated period, 0 = never) per unit, int64
    w: np.ndarray                     # sampling weight per unit (float64)
    n: int                            # number of units
    balanced: bool
    Y: np.ndarray | None = None       # (n, T) outcome, balanced panels
    X: np.ndarray | None = None       # (n, k) covariates incl. intercept, or None
    cluster: np.ndarray | None = None  # cluster code per unit
    n_clusters: int = 0
    unit_ids: np.ndarray | None = None
    # unbalanced panels (long form)
    ucode: np.ndarray | None = None
    tcode: np.ndarray | None = None
    y: np.ndarray | None = None
    dropped: dict = field(default_factory=dict)
    unit_weights_given: bool = False
    panel: bool = True                # False: repeated cross-sections (every row its own unit)


def _warn(msg: str) -> None:
    warnings.warn(msg, DiDDataWarning, stacklevel=4)


def _warn_user(msg: str) -> None:
    """Warn from :func:`unit_rules` / :func:`no_never_treated`, pointing at the user's call of
    ``att_gt`` or ``att_gt_engine`` (both call them two frames below themselves)."""
    warnings.warn(msg, DiDDataWarning, stacklevel=5)


def unit_rules(G: np.ndarray, units: np.ndarray, tlist: np.ndarray, anticipation: int,
               dropped: dict) -> tuple[np.ndarray, np.ndarray]:
    """R did's rules on the units' groups, shared by :func:`att_gt` (one entry per unit) and
    :func:`evaluation.did.att_gt_engine` (one entry per cohort aggregate of ``units`` units).

    Units already treated in the first period (``0 < G <= t_1 + anticipation``) are dropped;
    units first treated after the last period are recoded as never treated (``G = 0``).  Both
    are warned about and counted in ``dropped``.  Returns the mask of dropped entries and the
    recoded groups.
    """
    early = (G > 0) & (G <= tlist[0] + anticipation)
    if early.any():
        k = int(units[early].sum())
        _warn_user(f"Dropped {k} units that were already treated in the first period"
                   + (f" (accounting for anticipation = {anticipation})" if anticipation else "") + ".")
        dropped["units treated in the first period"] = k
    late = G > tlist[-1]
    if late.any():
        k = int(units[late].sum())
        _warn_user(f"{k} units are first treated after the last period ({int(tlist[-1])}); they are "
                   "treated as never treated within the observation window.")
        dropped["units treated after the last period recoded as never treated"] = k
        G = np.where(late, 0, G)
    return early, G


def no_never_treated(gmax: int, tlist: np.ndarray, anticipation: int, control_group: str,
                     dropped: dict) -> np.ndarray:
    """R did's rule when no unit is never treated: with not-yet-treated controls the periods
    from the last cohort's adoption (``gmax - anticipation``) on are dropped and that cohort
    serves as the never-treated comparison group; with ``control_group="never"`` it is an error.
    Returns the mask of the periods kept (the caller recodes cohort ``gmax`` to 0)."""
    if control_group == "never":
        raise ValueError("there are no never-treated units (group 0 or missing), so "
                         "control_group='never' has no comparison group; use "
                         "control_group='notyet' (the last-treated cohort then serves as control "
                         "until it is treated).")
    keep_t = tlist < gmax - anticipation
    if keep_t.sum() < 2:
        raise ValueError("no never-treated units and fewer than two periods before the last "
                         "cohort is treated; cannot form comparisons")
    _warn_user(f"No never-treated units: periods from {gmax - anticipation} on are dropped and the "
               f"cohort first treated in {gmax} is used as the never-treated comparison group (as R did).")
    dropped["periods dropped (no never-treated units)"] = int((~keep_t).sum())
    return keep_t


def _require_columns(data: pd.DataFrame, cols: dict[str, str | None]) -> None:
    for role, col in cols.items():
        if col is None:
            continue
        if col not in data.columns:
            raise ValueError(f"column {col!r} (the {role}) is missing from the data; available columns: "
                             f"{', '.join(map(str, data.columns[:30]))}")


def integer_time(values: np.ndarray, name: str) -> np.ndarray:
    """Return ``values`` as int64, or raise if they are not integer-like numbers."""
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.timedelta64):
        raise ValueError(f"time column {name!r} must be integer-like (e.g. 2004 or a running month number "
                         f"1, 2, ...); got dtype {values.dtype}. Convert dates to integer periods first, "
                         "e.g. year*12 + month or the panel's 'period' column.")
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64, copy=False)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"time column {name!r} has missing or infinite values")
    r = np.round(values)
    if not np.array_equal(r, values):
        bad = values[r != values][:5]
        raise ValueError(f"time column {name!r} must be integer-like; found non-integer values such as "
                         f"{bad.tolist()}")
    return r.astype(np.int64)


def group_codes(values: np.ndarray, name: str) -> np.ndarray:
    """First-treatment period as int64 with never-treated (0, NaN or inf) coded 0."""
    if values.dtype == object or not np.issubdtype(values.dtype, np.number):
        try:
            values = pd.to_numeric(pd.Series(values), errors="raise").to_numpy(dtype=float)
        except (ValueError, TypeError):
            raise ValueError(f"group column {name!r} must hold the first treated period as a number "
                             "(0 or missing for never treated)") from None
    if np.issubdtype(values.dtype, np.integer):
        g = values.astype(np.int64, copy=False)
    else:
        v = values.astype(float, copy=False)
        never = ~np.isfinite(v)
        v = np.where(never, 0.0, v)
        if not np.array_equal(np.round(v), v):
            raise ValueError(f"group column {name!r} must be integer-like (the first treated period)")
        g = v.astype(np.int64)
    if (g < 0).any():
        raise ValueError(f"group column {name!r} has negative values; use 0 or NaN for never treated")
    return g


class _LazyCodes:
    pass


def _time_codes(t: np.ndarray, sorted_balanced_ok: bool = True):
    """Sorted distinct periods and the period code of every row.

    If the rows are a balanced panel sorted by unit then period (``t`` repeats ``tlist``), the
    codes are returned as ``None`` (they are ``tile(arange(T), N)``), saving passes over the data.
    """
    tmin, tmax = int(t.min()), int(t.max())
    span = tmax - tmin + 1
    small = span <= 4 * len(t) + 1_000_000
    if small:
        tt = t - tmin if tmin else t
        present = np.bincount(tt, minlength=span) > 0
        tlist = np.flatnonzero(present) + tmin
    else:  # pragma: no cover - very sparse time values
        tlist = np.unique(t)
    T = len(tlist)
    if sorted_balanced_ok and len(t) % T == 0 and (t.reshape(-1, T) == tlist[None, :]).all():
        return tlist.astype(np.int64), None
    if small:
        lookup = np.cumsum(present) - 1
        code = lookup[tt]
    else:  # pragma: no cover
        code = np.searchsorted(tlist, t)
    dt = np.int16 if T < 30000 else np.int64
    return tlist.astype(np.int64), code.astype(dt)


def prepare_panel(data: pd.DataFrame, *, outcome: str, unit: str, time: str, group: str,
                  covariates=(), weights: str | None = None, cluster: str | None = None,
                  anticipation: int = 0, allow_unbalanced_panel: bool = False,
                  control_group: str = "never", need_long: bool = False, panel: bool = True) -> Panel:
    """Validate long data and return a :class:`Panel`.

    With ``panel=False`` (repeated cross-sections, as R ``did``) every row is its own observation:
    ``unit`` may be ``None``; if a unit column is given, a unit appearing twice in one period is an
    error (a duplicate), while the same unit in different periods is allowed (a panel analysed as
    repeated cross-sections).  Covariates, weights and clusters are taken row by row.
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or ())
    _require_columns(data, {"outcome": outcome, "unit": unit, "time": time, "group": group,
                            "weights": weights, "cluster": cluster,
                            **{f"covariate {c}": c for c in covariates}})
    if anticipation < 0:
        raise ValueError("anticipation must be >= 0")
    dropped: dict = {}

    y = data[outcome].to_numpy()
    if not np.issubdtype(y.dtype, np.number):
        if y.dtype == bool:
            y = y.astype(np.float64)
        else:
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"outcome {outcome!r} must be numeric") from None
    y = y.astype(np.float64, copy=False)
    t_raw = data[time].to_numpy()
    g_raw = data[group].to_numpy()
    u = data[unit].to_numpy() if unit is not None else np.arange(len(data))
    Xl = data[covariates].to_numpy(dtype=np.float64) if covariates else None
    wl = data[weights].to_numpy(dtype=np.float64) if weights else None
    cl = data[cluster].to_numpy() if cluster else None

    # ---- rows with missing values (never silently) --------------------------------------
    bad = ~np.isfinite(y)
    if Xl is not None:
        bad |= ~np.isfinite(Xl).all(axis=1)
    if wl is not None:
        bad |= ~np.isfinite(wl)
    if np.issubdtype(t_raw.dtype, np.floating):
        bad |= ~np.isfinite(t_raw)
    if bad.any():
        nb = int(bad.sum())
        _warn(f"Dropped {nb} rows with missing {outcome!r}, covariates, weights or time.")
        dropped["rows with missing values"] = nb
        keep = ~bad
        y, t_raw, g_raw, u = y[keep], t_raw[keep], g_raw[keep], u[keep]
        Xl = None if Xl is None else Xl[keep]
        wl = None if wl is None else wl[keep]
        cl = None if cl is None else cl[keep]
    if len(y) == 0:
        raise ValueError("no rows left to analyse")

    t = integer_time(t_raw, time)
    g = group_codes(g_raw, group)
    if wl is not None and (wl < 0).any():
        raise ValueError(f"weights column {weights!r} has negative values")
    tlist, tcode = _time_codes(t)
    T = len(tlist)
    if T < 2:
        raise ValueError("difference-in-differences needs at least two time periods")

    # ---- fast path: balanced panel sorted by unit then time ------------------------------
    nrow = len(y)
    fast = False
    if tcode is None and panel and np.issubdtype(u.dtype, np.number):
        N = nrow // T
        u2 = u.reshape(N, T)
        if (u2 == u2[:, :1]).all() and (N == 1 or (u2[1:, 0] > u2[:-1, 0]).all()):
            fast = True
    if tcode is None and not fast:
        tcode = np.tile(np.arange(T, dtype=np.int16 if T < 30000 else np.int64), nrow // T)
    if fast:
        ucode = None
        unit_ids = u2[:, 0]
        g2 = g.reshape(N, T)
        G = g2[:, 0].copy()
        if not (g2 == G[:, None]).all():
            raise ValueError(_nonabsorbing_msg(group))
        first_row = np.arange(N) * T
    elif not panel:
        if unit is not None:
            _check_rc_unit_repeats(u, tcode, tlist, unit)
        N = nrow
        ucode = np.arange(N, dtype=np.int64)
        unit_ids = np.asarray(u)
        G = g.copy()
        first_row = ucode
    else:
        codes, uniq = pd.factorize(u, sort=False)
        ucode = codes.astype(np.int64)
        N = len(uniq)
        unit_ids = np.asarray(uniq)
        key = ucode * T + tcode
        cnt = np.bincount(key, minlength=N * T)
        if (cnt > 1).any():
            k = int(np.flatnonzero(cnt > 1)[0])
            raise ValueError(f"duplicate unit-period rows: unit {unit_ids[k // T]!r} appears "
                             f"{int(cnt[k])} times in period {int(tlist[k % T])}; "
                             f"{int((cnt > 1).sum())} unit-periods are duplicated. Aggregate or "
                             "de-duplicate the data so there is one row per unit and period.")
        G = np.zeros(N, dtype=np.int64)
        G[ucode] = g
        if not np.array_equal(G[ucode], g):
            raise ValueError(_nonabsorbing_msg(group))
        # first observed row of every unit (for time-invariant covariates, weights, clusters)
        order = np.argsort(tcode, kind="stable")[::-1]
        first_row = np.empty(N, dtype=np.int64)
        first_row[ucode[order]] = order

    def per_unit(arr, name, kind):
        v = arr[first_row]
        back = v[ucode] if ucode is not None else np.repeat(v, T, axis=0)
        same = (back == arr) if arr.ndim == 1 else (back == arr).all(axis=1)
        if not np.all(same):
            if kind == "error":
                raise ValueError(f"{name} must not vary over time within a unit")
            _warn(f"{name} varies over time within units; using each unit's value in its first "
                  "observed period (covariates must be time-invariant, as in R did).")
        return v

    w = per_unit(wl, f"weights {weights!r}", "error").astype(np.float64) if wl is not None else np.ones(N)
    X = None
    if Xl is not None:
        X = np.column_stack([np.ones(N), per_unit(Xl, "covariates", "warn")])
    ccode = None
    if cl is not None:
        cv = per_unit(cl, f"cluster variable {cluster!r}", "error")
        ccode = pd.factorize(cv)[0].astype(np.int64)

    # ---- balance ------------------------------------------------------------------------
    if fast:
        balanced = True
        Y = y.reshape(N, T)
        obs_per_unit = None
    else:
        obs_per_unit = np.bincount(ucode, minlength=N)
        balanced = bool((obs_per_unit == T).all())
        Y = None

    keep_units = np.ones(N, dtype=bool)
    early, G = unit_rules(G, np.ones(N, dtype=np.int64), tlist, anticipation, dropped)
    keep_units &= ~early
    if not balanced and not allow_unbalanced_panel and panel:
        inc = obs_per_unit < T
        inc_new = inc & keep_units
        k = int(inc_new.sum())
        if k:
            _warn(f"Dropped {k} units while converting to a balanced panel (units not observed in all "
                  f"{T} periods). Pass allow_unbalanced_panel=True to keep them.")
            dropped["units not observed in every period"] = k
        keep_units &= ~inc
        balanced = True

    # no never-treated units with not-yet-treated controls: R drops periods from the last cohort on
    if not ((G[keep_units] == 0).any()):
        gmax = int(G[keep_units].max())
        keep_t = no_never_treated(gmax, tlist, anticipation, control_group, dropped)
        G = np.where(G == gmax, 0, G)
        tidx = np.flatnonzero(keep_t)
        if Y is not None:
            Y = Y[:, tidx]
        else:
            mask_rows = keep_t[tcode]
            y, tcode, ucode = y[mask_rows], tcode[mask_rows], ucode[mask_rows]
            remap = np.cumsum(keep_t) - 1
            tcode = remap[tcode].astype(tcode.dtype)
        tlist = tlist[tidx]
        T = len(tlist)

    if not keep_units.all():
        idx = np.flatnonzero(keep_units)
        G, w = G[idx], w[idx]
        X = None if X is None else X[idx]
        unit_ids = unit_ids[idx]
        if ccode is not None:
            ccode = pd.factorize(ccode[idx])[0].astype(np.int64)
        if Y is not None:
            Y = Y[idx]
        else:
            newcode = np.full(N, -1, dtype=np.int64)
            newcode[idx] = np.arange(len(idx))
            rk = keep_units[ucode]
            y, tcode, ucode = y[rk], tcode[rk], newcode[ucode[rk]]
        N = len(idx)
    if N == 0:
        raise ValueError("no units left after dropping units treated in the first period")

    if not panel:
        balanced = False
    if Y is None and balanced:
        Y = np.empty((N, T))
        Y[ucode, tcode] = y
    if balanced:
        ucode_l = tcode_l = y_l = None
        if need_long:
            ucode_l = np.repeat(np.arange(N), T)
            tcode_l = np.tile(np.arange(T), N)
            y_l = Y.ravel()
    else:
        # still unbalanced after drops? (allow_unbalanced_panel=True)
        cnt = np.bincount(ucode, minlength=N)
        if panel and (cnt == T).all():
            balanced = True
            Y = np.empty((N, T))
            Y[ucode, tcode] = y
        ucode_l, tcode_l, y_l = ucode, tcode.astype(np.int64), y
    return Panel(tlist=tlist, G=G, w=w, n=N, balanced=balanced, Y=Y, X=X, cluster=ccode,
                 n_clusters=0 if ccode is None else int(ccode.max()) + 1, unit_ids=unit_ids,
                 ucode=ucode_l, tcode=tcode_l, y=y_l, dropped=dropped,
                 unit_weights_given=weights is not None, panel=panel)


def _check_rc_unit_repeats(u: np.ndarray, tcode: np.ndarray, tlist: np.ndarray, unit: str) -> None:
    """Repeated cross-sections: a unit id may recur across periods, never within one."""
    codes, uniq = pd.factorize(u, sort=False)
    T = len(tlist)
    key = codes.astype(np.int64) * T + np.asarray(tcode, dtype=np.int64)
    k, cnt = np.unique(key, return_counts=True)
    rep = cnt > 1
    if rep.any():
        j = int(k[np.flatnonzero(rep)[0]])
        raise ValueError(
            f"panel=False (repeated cross-sections) but unit {uniq[j // T]!r} of column {unit!r} appears "
            f"{int(cnt[rep][0])} times in period {int(tlist[j % T])}; {int(rep.sum())} unit-periods are "
            "repeated. In a repeated cross-section each row is one observation of one period: remove "
            "the duplicate rows, or pass unit=None if the column is not a person or unit id.")


def _nonabsorbing_msg(group: str) -> str:
    return (f"group column {group!r} varies over time within a unit. The group must be the unit's "
            "first treated period, constant over time (absorbing, staggered treatment). If you have a "
            "treatment indicator, build it with evaluation.did.first_treatment_period(); treatment "
            "that switches off again (non-absorbing) is not supported by these estimators.")


def first_treatment_period(data: pd.DataFrame, *, unit: str, time: str, treatment: str,
                           name: str = "first_treat") -> pd.Series:
    """Per-row first treated period from a 0/1 treatment indicator (0 = never treated).

    Raises ``ValueError`` if the treatment is not absorbing (a unit treated in one period and
    untreated in a later one).
    """
    _require_columns(data, {"unit": unit, "time": time, "treatment": treatment})
    t = integer_time(data[time].to_numpy(), time)
    d = data[treatment].to_numpy()
    if not np.isin(d, [0, 1, True, False]).all():
        raise ValueError(f"treatment {treatment!r} must be 0/1")
    d = d.astype(bool)
    df = pd.DataFrame({"u": data[unit].to_numpy(), "t": t, "d": d})
    first = df[df["d"]].groupby("u")["t"].min()
    ft = df["u"].map(first).fillna(0).astype(np.int64).to_numpy()
    switched_off = (ft > 0) & (t >= ft) & ~d
    if switched_off.any():
        uu = df.loc[switched_off, "u"].iloc[0]
        raise ValueError(f"treatment {treatment!r} is not absorbing: unit {uu!r} is treated and later "
                         f"untreated ({int(pd.unique(df.loc[switched_off, 'u']).size)} units switch "
                         "off). Staggered-adoption DiD needs treatment that stays on once started.")
    return pd.Series(ft, index=data.index, name=name)
