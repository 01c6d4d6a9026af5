"""Monte Carlo coverage of the 95 % intervals of evaluation.rct on simulated trials with a known effect.

Usage::

    python benchmarks/bench_rct_coverage.py --reps 2000          # large run
    python benchmarks/bench_rct_coverage.py --reps 300 --quick   # moderate run

Designs (each draw re-randomises and redraws outcomes; the true effect is fixed):

* ``dim``          individual trial, n = 200, heteroskedastic outcomes — difference in means (Neyman/Welch)
* ``lin_hc2``      same data — Lin (2013) with one covariate, HC2
* ``ancova_hc2``   same data — ANCOVA, HC2
* ``blocked``      10 blocks of 20 with varying block effects and effects — blocked difference in means
* ``cluster_cr2``  30 clusters of varying size, cluster-randomised, ICC ≈ 0.2 — ITT with CR2 and
  Bell–McCaffrey df
* ``late``         one-sided non-compliance (60 % take-up), 2SLS LATE, n = 400
* ``monthly_supt`` person panel, 12 months, person effects — share of draws in which the sup-t band
  covers the *whole* true path (uniform coverage), and pointwise coverage of the monthly CIs
* ``synthetic_refino`` (skipped with ``--quick``) — ITT on employed_50 at month 24 on synthetic REFINO
  data against the truth file's ``itt`` value, a fresh seed per draw.

Output: ``benchmarks/results/rct_coverage.json`` (written atomically) with coverage, the number of
draws, a Clopper–Pearson 95 % interval for the coverage and whether it lies in 93–97 %.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import evaluation  # noqa: E402
import evaluation.rct as rct  # noqa: E402
from _harness import write_record

TAU = 0.5


def _individual(rng, n=200):
    x = rng.normal(size=n)
    z = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int)
    y = x + TAU * z + rng.normal(size=n) * (1 + 0.8 * z) + 0.3 * x * z
    # true sample ATE = TAU + 0.3 * mean(x) (effect heterogeneity in x); use the population value
    return pd.DataFrame({"y": y, "z": z, "x": x}), TAU


def _blocked(rng):
    rows = []
    for b in range(10):
        z = rng.permutation(np.r_[np.ones(10), np.zeros(10)]).astype(int)
        y = b * 0.3 + (TAU + 0.05 * (b - 4.5)) * z + rng.normal(size=20)
        rows.append(pd.DataFrame({"y": y, "z": z, "b": b}))
    return pd.concat(rows, ignore_index=True), TAU


def _clustered(rng, S=30):
    sizes = rng.integers(3, 15, S)
    g = np.repeat(np.arange(S), sizes)
    zc = rng.permutation(np.r_[np.ones(S // 2), np.zeros(S - S // 2)]).astype(int)
    x = rng.normal(size=len(g))
    y = x + TAU * zc[g] + rng.normal(size=S)[g] * 0.5 + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "z": zc[g], "x": x, "g": g}), TAU


def _late(rng, n=400):
    z = rng.integers(0, 2, n)
    u = rng.normal(size=n)
    p = ((z == 1) & (rng.random(n) < 0.6)).astype(int)
    y = 1.0 * p + u + rng.normal(size=n)
    return pd.DataFrame({"y": y, "z": z, "p": p}), 1.0


def _panel(rng, n=400, months=12):
    arm = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    pid = np.repeat(np.arange(n), months)
    et = np.tile(np.arange(1, months + 1), n)
    path = 0.3 * np.arange(1, months + 1) / months
    y = (np.repeat(x, months) + np.repeat(rng.normal(size=n), months)
         + np.repeat(arm, months) * path[et - 1] + rng.normal(size=n * months))
    return pd.DataFrame({"person_id": pid, "event_time": et, "arm": np.repeat(arm, months),
                         "x": np.repeat(x, months), "y": y}), path


def _covers(res, truth):
    lo, hi = res.ci()
    return bool(lo <= truth <= hi)


def run(reps: int, seed: int, quick: bool, synthetic_reps: int) -> dict:
    rng = np.random.default_rng(seed)
    hits = {k: 0 for k in ("dim", "lin_hc2", "ancova_hc2", "blocked", "cluster_cr2", "late")}
    t0 = time.perf_counter()
    for _ in range(reps):
        d, tau = _individual(rng)
        hits["dim"] += _covers(rct.difference_in_means(d, outcome="y", treatment="z"), tau)
        hits["lin_hc2"] += _covers(rct.itt(d, outcome="y", treatment="z", covariates=["x"], method="lin"), tau)
        hits["ancova_hc2"] += _covers(rct.itt(d, outcome="y", treatment="z", covariates=["x"]), tau)
        d, tau = _blocked(rng)
        hits["blocked"] += _covers(rct.difference_in_means(d, outcome="y", treatment="z", blocks="b"), tau)
        d, tau = _clustered(rng)
        hits["cluster_cr2"] += _covers(rct.itt(d, outcome="y", treatment="z", covariates=["x"], clusters="g"), tau)
        d, tau = _late(rng)
        hits["late"] += _covers(rct.late(d, outcome="y", treatment="z", participation="p"), tau)
    out = {k: _summary(v, reps) for k, v in hits.items()}
    # sup-t bands (fewer draws: each fits 12 months)
    mreps = max(50, reps // 4)
    band, point, npoint = 0, 0, 0
    for s in range(mreps):
        d, path = _panel(rng)
        t = rct.effects_by_month(d, outcome="y", covariates=["x"], draws=2000, seed=s).tidy()
        truth = path[t.event_time.to_numpy() - 1]
        band += bool(((t.band_low <= truth) & (truth <= t.band_high)).all())
        point += int(((t.ci_low <= truth) & (truth <= t.ci_high)).sum())
        npoint += len(t)
    out["monthly_supt_uniform"] = _summary(band, mreps)
    out["monthly_pointwise"] = _summary(point, npoint)
    if not quick and synthetic_reps > 0:
        out["synthetic_refino_itt24"] = _synthetic(synthetic_reps, seed)
    return {"results": out, "seconds": time.perf_counter() - t0}


def _synthetic(reps, seed):
    import evaluation.panel as panel_mod
    import evaluation.synthetic as synthetic
    hit = 0
    for r in range(reps):
        sim = synthetic.generate("refino", n_persons=2000, seed=seed * 1000 + r)
        data = panel_mod.build_panel(sim.extracts).data
        tr = sim.truth
        truth = tr[(tr.estimand == "itt") & (tr.outcome == "employed_50") & (tr.event_time == 24)
                   & (tr.subgroup == "all")]["value"].iloc[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = rct.itt(rct.at_month(data, 24), outcome="employed_50", treatment="arm",
                          covariates=["age", "immigrant", "emp_months_24"], method="lin")
        hit += _covers(res, truth)
    return _summary(hit, reps)


def _summary(hits, n):
    ci = stats.binomtest(int(hits), int(n)).proportion_ci(0.95, method="exact")
    cov = hits / n
    return {"coverage": cov, "draws": int(n), "ci95_low": ci.low, "ci95_high": ci.high,
            "in_93_97": bool(0.93 <= cov <= 0.97)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--quick", action="store_true", help="skip the synthetic-REFINO design")
    ap.add_argument("--synthetic-reps", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rct_coverage.json"))
    args = ap.parse_args(argv)
    res = run(args.reps, args.seed, args.quick, args.synthetic_reps)
    record = {"benchmark": "rct_coverage", "reps": args.reps, "seed": args.seed, "level": 0.95,
              "true_effect": TAU, "package_version": evaluation.__version__,
              "python": platform.python_version(), "numpy": np.__version__, **res}
    out = write_record(record, args.out, indent=2)
    for k, v in res["results"].items():
        print(f"{k:26s} coverage {v['coverage']:.3f}  [{v['ci95_low']:.3f}, {v['ci95_high']:.3f}]  "
              f"draws {v['draws']}  in 93-97%: {v['in_93_97']}")
    print(f"{res['seconds']:.0f} s -> {out}")


if __name__ == "__main__":
    main()
