"""Monte Carlo coverage of few-cluster inference on the Alna Aktiv design (six districts).

Usage::

    python benchmarks/bench_few_clusters.py              # 2000 simulated studies per configuration
    python benchmarks/bench_few_clusters.py --reps 300   # quick

The design is a faithful simulation of the ``alna_aktiv`` synthetic scenario (evaluation.synthetic):
six Oslo districts with its sizes (ALNA 652, STOVNER 628, GRORUD 590, BJERKE 547, NORDSTRAND 511,
SONDRE_NORDSTRAND 672 persons), 48 months, adoption in months 13, 19, 25, 31 for the first four
and never for the last two (``rollout``), or the pilot district alone (``pilot``).  Outcome SD and
the persons' persistence are estimated from the scenario's generated panel (pre-treatment and
never-treated rows; constants if the data are absent).  The generator has no district-level
shocks (its ICC is 0); real districts do, so the district ICC is varied (0, 0.01, 0.05) with
independent or AR(1) (rho = 0.8) district x month shocks.  Constant effect -0.05 (share on social
assistance).

For each configuration: coverage of 95 % intervals for TWFE with person and month effects by
CR1 (t with G - 1 df), the restricted wild cluster bootstrap (Rademacher, all 64 sign vectors; and
Webb, 999 draws, with CR1 or with the CV3 jackknife variance in its t-statistics) and randomisation inference over adoption dates (all 360 distinct assignments;
6 for the pilot), each with a Clopper-Pearson interval and whether it lies in 93-97 %.
Also: the wild bootstrap's speed against wildboottest (same regression, same run, ratio), and the
three p-values on the generated Alna panel itself.

Output: ``benchmarks/results/few_clusters.json`` (atomic).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import evaluation  # noqa: E402
from evaluation.did.power import cluster_design, coverage, variance_components  # noqa: E402
from _harness import rss_gb, write_record  # noqa: E402

SIZES = [652, 628, 590, 547, 511, 672]
DESIGNS = {"rollout": [13, 19, 25, 31, 0, 0], "pilot": [13, 0, 0, 0, 0, 0]}
EFFECT = -0.05


def calibrate():
    folder = ROOT / "data" / "synthetic" / "alna_aktiv"
    if not folder.exists():
        return {"sd": 0.43, "person_persistence": 0.40, "source": "constants (no generated data)"}
    import evaluation.panel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = evaluation.panel.load_panel(folder).data
    g = d["cohort"].fillna(0)
    pre = d[(g == 0) | (d["period"] < g)]
    vc = variance_components(pre, outcome="on_social_assistance", unit="person_id", time="period",
                             cluster="office")
    vc["source"] = "data/synthetic/alna_aktiv (pre-treatment and never-treated rows)"
    return vc, d


def clopper(k, n):
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def run_coverage(vc, reps, seed):
    out = []
    for name, dates in DESIGNS.items():
        des = cluster_design(n_clusters=6, dates=dates, persons=SIZES, periods=48)
        for icc in (0.0, 0.01, 0.05):
            for rho in (0.0, 0.8):
                kw = dict(design=des, icc=icc, effect=EFFECT, sd=vc["sd"], rho=rho,
                          person_persistence=vc["person_persistence"], n_sims=reps, seed=seed)
                t0 = time.perf_counter()
                rad = coverage(**kw, methods=("cr", "wild", "ri")).table
                webb = coverage(**kw, methods=("wild",), wild_weights="webb", B=999).table
                webb3 = coverage(**kw, methods=("wild",), wild_weights="webb", B=999, wild_variance="CV3").table
                secs = time.perf_counter() - t0
                rows = {"cr": rad.iloc[0], "wild_rademacher": rad.iloc[1], "wild_webb": webb.iloc[0],
                        "wild_webb_cv3": webb3.iloc[0], "ri": rad.iloc[2]}
                rec = {"design": name, "icc": icc, "rho": rho, "reps": reps, "seconds": round(secs, 2)}
                for m, r in rows.items():
                    k = int(round(r["coverage"] * reps))
                    lo, hi = clopper(k, reps)
                    rec[m] = {"coverage": float(r["coverage"]), "ci95": [lo, hi],
                              "in_93_97": bool(0.93 <= r["coverage"] <= 0.97)}
                out.append(rec)
                print(f"{name:8s} icc={icc:<5} rho={rho:<4} " + "  ".join(
                    f"{m} {rec[m]['coverage']:.3f}" for m in rows), flush=True)
    return out


def speed(data):
    """wild_twfe on the generated Alna panel against wildboottest on the same projected regression."""
    from evaluation.did.wild import _twfe_design, wild_cluster_test
    g = data["cohort"].fillna(0).to_numpy()
    D = ((g > 0) & (data["period"].to_numpy() >= g)).astype(float)
    y, X, _ = _twfe_design(data.assign(_D=D), "on_social_assistance", "person_id", "period", [D])
    cl = data["office"].astype("category").cat.codes.to_numpy().astype(np.int64)
    t0 = time.perf_counter()
    ours = wild_cluster_test(X, y, cl, coef=0, B=9999, ci=False)
    t_ours = time.perf_counter() - t0
    rec = {"rows": int(len(y)), "regressors": int(X.shape[1]), "ours_seconds": t_ours,
           "ours_pvalue": ours["pvalue"]}
    try:
        from wildboottest.wildboottest import WildboottestCL
        R = np.zeros(X.shape[1])
        R[0] = 1
        t0 = time.perf_counter()
        wb = WildboottestCL(X=X, Y=y, cluster=cl, R=R, B=9999, seed=1)
        wb.get_scores(bootstrap_type="11", impose_null=True)
        wb.get_weights(weights_type="rademacher")
        wb.get_numer()
        wb.get_denom()
        wb.get_tboot()
        wb.get_vcov()
        wb.get_tstat()
        wb.get_pvalue()
        t_ref = time.perf_counter() - t0
        from importlib.metadata import version
        rec.update({"wildboottest_version": version("wildboottest"),
                    "wildboottest_seconds": t_ref, "ratio_ours_over_wildboottest": t_ours / t_ref,
                    "wildboottest_pvalue_naive": float(wb.pvalue),
                    "note": "p-values differ only by the two constant draws wildboottest may count"})
    except ImportError:
        rec["wildboottest"] = "not installed (pip install '.[bench]')"
    return rec


def alna_pvalues(data):
    import evaluation.did as did
    cols = dict(outcome="on_social_assistance", unit="person_id", time="period", group="cohort")
    d = data.assign(cohort=data["cohort"].fillna(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tw = did.twfe(d, **cols, cluster="office")
        w = did.wild_twfe(d, **cols, cluster="office", weights="webb", B=9999, seed=1)
        ri = did.randomization_inference(d, outcome=cols["outcome"], time="period", group="cohort",
                                         cluster="office")
    return {"twfe": tw.estimate, "cr1_se": tw.se,
            "cr1_p_t5": float(2 * stats.t.sf(abs(tw.estimate / tw.se), 5)),
            "wcr_webb_p": w.pvalue, "wcr_webb_ci": list(w.ci()), "ri_p": ri.pvalue, "ri_ci": list(ri.ci())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20261201)
    a = ap.parse_args()
    cal = calibrate()
    vc, data = (cal if isinstance(cal, tuple) else (cal, None))
    print("calibration:", vc, flush=True)
    rec = {"benchmark": "few_clusters", "python": platform.python_version(),
           "evaluation": getattr(evaluation, "__version__", "0.1.0"), "calibration": vc, "effect": EFFECT,
           "sizes": SIZES, "designs": DESIGNS, "coverage": run_coverage(vc, a.reps, a.seed)}
    if data is not None:
        rec["speed_wild"] = speed(data)
        print("speed:", rec["speed_wild"], flush=True)
        rec["alna_generated_panel"] = alna_pvalues(data)
        print("alna:", rec["alna_generated_panel"], flush=True)
    rec["peak_rss_gb"] = rss_gb()
    out = write_record(rec, ROOT / "benchmarks" / "results" / "few_clusters.json")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
