"""Design checks of a trial: balance, attrition, assignment shares, compliance (take-up)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..results import _records
from ._linalg import ols
from ._prep import code_treatment, covariate_matrix, drop_missing, factorize, require_columns
from ._results import RCTTable
from .estimators import _as_list, difference_in_means

__all__ = ["balance_table", "attrition", "assignment_check", "compliance_table", "persons",
           "BalanceResult"]


def persons(data: pd.DataFrame, *, person: str = "person_id", event_time: str = "event_time",
            columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per person from a person-month panel (first row per person; for time-invariant columns).

    The person id column is kept for joins; never display it (use ``evaluation.report.show_table``).
    """
    require_columns(data, [person])
    d = data.sort_values([person, event_time]) if event_time in data.columns else data
    first = d.drop_duplicates(person, keep="first")
    if columns is not None:
        first = first[[person] + [c for c in columns if c != person]]
    return first.reset_index(drop=True)


@dataclass
class BalanceResult:
    """Balance table (one row per covariate/level) and joint tests (one row per arm).

    ``table`` columns: ``covariate``, ``mean_<arm>`` for each arm, ``smd_<arm>`` and ``var_ratio_<arm>``
    for each non-control arm, ``n_missing``, ``flag`` (|SMD| above the threshold).  ``joint``: the
    omnibus test per arm — F test that all covariates' coefficients are zero in the regression of the
    arm indicator on the covariates (robust HC2 Wald, df ``q`` and ``N − q − 1``).
    """

    table: pd.DataFrame
    joint: pd.DataFrame
    threshold: float = 0.1
    method: str = "Balance by arm"
    extra: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        return (f"{self.method}\n" + self.table.to_string(index=False, float_format=lambda x: f"{x:.4g}")
                + "\n\nJoint test\n" + self.joint.to_string(index=False, float_format=lambda x: f"{x:.4g}"))

    def _repr_html_(self) -> str:
        return (f"<p><b>{self.method}</b></p>" + self.table.to_html(index=False, float_format=lambda x: f"{x:.4g}")
                + "<p>Joint test</p>" + self.joint.to_html(index=False, float_format=lambda x: f"{x:.4g}"))

    def to_dict(self) -> dict:
        return {"method": self.method, "threshold": self.threshold, "table": _records(self.table),
                "joint": _records(self.joint)}

    @property
    def max_abs_smd(self) -> float:
        cols = [c for c in self.table.columns if c.startswith("smd_")]
        return float(np.nanmax(np.abs(self.table[cols].to_numpy()))) if cols else float("nan")


def balance_table(data: pd.DataFrame, *, treatment: str, covariates: Sequence[str], control=None,
                  threshold: float = 0.1) -> BalanceResult:
    """Means by arm, standardised mean differences, variance ratios and a joint test.

    SMD: ``(mean_a − mean_control) / sqrt((s²_a + s²_control)/2)``; variance ratio ``s²_a / s²_control``.
    Strings/categoricals are shown as one row per level (shares).  Missing covariate values are
    counted per covariate (``n_missing``) and left out of that covariate's means; the joint test uses
    the rows complete on all covariates (its ``n`` shows how many).
    """
    covariates = _as_list(covariates)
    require_columns(data, [treatment] + covariates)
    d, n_tr_missing = drop_missing(data, [treatment], where="balance_table: ")
    arms = code_treatment(d[treatment], control, column=treatment)
    A = arms.n_arms
    rows = []
    for c in covariates:
        s = d[c]
        miss = int(s.isna().sum())
        ok = s.notna().to_numpy()
        X, names = covariate_matrix(d.loc[ok, [c]], [c])
        if not (pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s)):
            # all levels, including the first, for a balance table
            codes, uniq = factorize(s[ok])
            X = (codes[:, None] == np.arange(len(uniq))[None, :]).astype(float)
            names = [f"{c}[{u}]" for u in uniq]
        ac = arms.codes[ok]
        for j, name in enumerate(names):
            x = X[:, j]
            row = {"covariate": name}
            means, vars_ = [], []
            for k in range(A + 1):
                xs = x[ac == k]
                means.append(xs.mean() if xs.size else np.nan)
                vars_.append(xs.var(ddof=1) if xs.size > 1 else np.nan)
                row[f"mean_{arms.names[k]}"] = means[-1]
            for k in range(1, A + 1):
                pooled = np.sqrt((vars_[k] + vars_[0]) / 2)
                row[f"smd_{arms.names[k]}"] = (means[k] - means[0]) / pooled if pooled > 0 else 0.0
                row[f"var_ratio_{arms.names[k]}"] = vars_[k] / vars_[0] if vars_[0] > 0 else np.nan
            row["n_missing"] = miss
            rows.append(row)
    table = pd.DataFrame(rows)
    smd_cols = [c for c in table.columns if c.startswith("smd_")]
    table["flag"] = (table[smd_cols].abs() > threshold).any(axis=1)
    # joint tests
    dd, n_joint_drop = drop_missing(d, covariates, where="balance_table (joint test): ")
    ar = code_treatment(dd[treatment], arms.names[0], column=treatment) if len(dd) else None
    Xall, _ = covariate_matrix(dd, covariates)
    joint = []
    for a in range(1, A + 1):
        m = (ar.codes == 0) | (ar.codes == a)
        Xa = Xall[m]
        keep = Xa.std(axis=0) > 0
        Xa = Xa[:, keep]
        q = Xa.shape[1]
        z = (ar.codes[m] == a).astype(float)
        n = int(m.sum())
        X = np.hstack([np.ones((n, 1)), Xa])
        fit = ols(X, z, se_type="HC2")
        b = fit.beta[1:]
        V = fit.vcov[1:, 1:]
        F = float(b @ np.linalg.lstsq(V, b, rcond=None)[0] / q) if q else float("nan")
        df2 = n - q - 1
        joint.append({"term": str(ar.names[a]), "F": F, "df1": q, "df2": df2,
                      "pvalue": float(stats.f.sf(F, q, df2)) if q else float("nan"), "n": n})
    return BalanceResult(table=table, joint=pd.DataFrame(joint), threshold=threshold,
                         extra={"n_missing_treatment": n_tr_missing, "n_dropped_joint": n_joint_drop})


def attrition(data: pd.DataFrame, *, treatment: str = "arm", months: Sequence[int] = (12, 24, 36, 48),
              person: str = "person_id", event_time: str = "event_time", control=None) -> RCTTable:
    """Attrition by arm: share of persons not observed at each event month, and the difference vs control.

    A person counts as assigned if present in ``data`` at all; as observed at month ``m`` if the
    panel has their row at ``event_time == m``.  The difference in attrition rates is the
    difference in means (Welch) of the attrition indicator.
    """
    require_columns(data, [treatment, person, event_time])
    per = persons(data, person=person, event_time=event_time, columns=[treatment])
    arms = code_treatment(per[treatment], control, column=treatment)
    rows = []
    for m in months:
        seen = set(data.loc[data[event_time] == m, person].unique())
        lost = (~per[person].isin(seen)).astype(float).to_numpy()
        for k in range(arms.n_arms + 1):
            sel = arms.codes == k
            rows.append({"event_time": m, "arm": str(arms.names[k]), "n_assigned": int(sel.sum()),
                         "n_observed": int(sel.sum() - lost[sel].sum()), "attrition": float(lost[sel].mean())})
        if lost.std() > 0:
            frame = pd.DataFrame({"lost": lost, "t": per[treatment].to_numpy()})
            r = difference_in_means(frame, outcome="lost", treatment="t", control=arms.names[0])
            diffs = r.tidy()
            for i, row in enumerate(rows[-arms.n_arms:]):
                row["difference"] = float(diffs["estimate"].iloc[i])
                row["pvalue"] = float(diffs["pvalue"].iloc[i])
    table = pd.DataFrame(rows)
    for c in ("difference", "pvalue"):
        if c not in table:
            table[c] = np.nan
    return RCTTable(table, method="Attrition by arm (not observed at the event month)")


def assignment_check(data: pd.DataFrame, *, treatment: str = "arm", shares: Mapping | None = None,
                     strata: str | None = None, person: str | None = "person_id") -> RCTTable:
    """Do the assignment counts match the design's shares?

    ``shares`` maps arm -> design share (default: equal).  Two arms: exact binomial test of the
    treated count; more arms: chi-square goodness of fit.  With ``strata``: the chi-square summed over
    strata (df ``S × (A − 1)``) is in ``tests`` too — within-stratum counts should match the design
    when randomisation was stratified.  A panel is reduced to one row per ``person`` first.
    """
    require_columns(data, [treatment] + _as_list(strata))
    d = data
    if person is not None and person in data.columns:
        d = data.drop_duplicates(person)
    d, n_drop = drop_missing(d, [treatment, strata], where="assignment_check: ")
    counts = d[treatment].astype(str).value_counts()
    levels = sorted(counts.index.tolist(), key=lambda v: (v != "control", v))   # control first
    if shares is None:
        shares = {lv: 1 / len(levels) for lv in levels}
    shares = {str(k): float(v) for k, v in shares.items()}
    unknown = set(levels) - set(shares)
    if unknown:
        raise ValueError(f"arms {sorted(unknown)} are in the data but not in the design shares {shares}")
    tot = sum(shares.values())
    shares = {k: v / tot for k, v in shares.items()}
    arms_ = sorted(shares, key=lambda v: (v != "control", v))
    obs = np.array([counts.get(a, 0) for a in arms_], dtype=float)
    n = obs.sum()
    exp = np.array([shares[a] for a in arms_]) * n
    table = pd.DataFrame({"arm": arms_, "n": obs.astype(int), "share": obs / n,
                          "design_share": [shares[a] for a in arms_], "expected_n": exp})
    tests = []
    if len(arms_) == 2:
        bt = stats.binomtest(int(obs[1]), int(n), shares[arms_[1]])
        tests.append({"test": f"binomial ({arms_[1]})", "statistic": float(obs[1]), "df": np.nan,
                      "pvalue": float(bt.pvalue)})
    chi = float(((obs - exp) ** 2 / exp).sum())
    tests.append({"test": "chi-square", "statistic": chi, "df": len(arms_) - 1,
                  "pvalue": float(stats.chi2.sf(chi, len(arms_) - 1))})
    if strata is not None:
        ct = pd.crosstab(d[strata], d[treatment].astype(str)).reindex(columns=arms_, fill_value=0)
        ns = ct.sum(axis=1).to_numpy(dtype=float)[:, None]
        e = ns * np.array([shares[a] for a in arms_])[None, :]
        chis = float(((ct.to_numpy() - e) ** 2 / e).sum())
        dfs = ct.shape[0] * (len(arms_) - 1)
        tests.append({"test": f"chi-square within {strata}", "statistic": chis, "df": dfs,
                      "pvalue": float(stats.chi2.sf(chis, dfs))})
    return RCTTable(table, method="Assignment shares vs design", tests=pd.DataFrame(tests),
                    extra={"n_missing_dropped": n_drop})


def compliance_table(data: pd.DataFrame, *, treatment: str = "arm", participation: str = "participated",
                     control=None, person: str | None = "person_id") -> RCTTable:
    """Take-up by arm: persons assigned, persons participating, share; and the first stage vs control.

    ``first_stage`` is the difference in participation rates (arm − control) with its Welch SE —
    the compliance rate that scales the ITT to the LATE.  A panel is reduced to one row per person.
    """
    require_columns(data, [treatment, participation])
    d = data
    if person is not None and person in data.columns:
        d = data.drop_duplicates(person)
    d, n_drop = drop_missing(d, [treatment, participation], where="compliance_table: ")
    arms = code_treatment(d[treatment], control, column=treatment)
    p = d[participation].astype(float).to_numpy()
    rows = []
    for k in range(arms.n_arms + 1):
        sel = arms.codes == k
        rows.append({"arm": str(arms.names[k]), "n_assigned": int(sel.sum()),
                     "n_participated": int(p[sel].sum()), "participation_rate": float(p[sel].mean())})
    table = pd.DataFrame(rows)
    frame = pd.DataFrame({"p": p, "t": d[treatment].to_numpy()})
    if p.std() > 0:
        r = difference_in_means(frame, outcome="p", treatment="t", control=arms.names[0]).tidy()
        table["first_stage"] = [np.nan] + r["estimate"].tolist()
        table["first_stage_se"] = [np.nan] + r["se"].tolist()
    return RCTTable(table, method="Compliance (take-up) by arm", extra={"n_missing_dropped": n_drop})
