"""Benchmark: the imputation estimator (Borusyak, Jaravel & Spiess 2024) against diff-diff.

Balanced synthetic staggered panels (units x 10 periods, cohorts 3/5/7/9 and never treated,
dynamic effects), the overall ATT with its conservative unit-clustered SE and the event study
e = 0..7, by ``evaluation.did.did_imputation`` and diff-diff's ``ImputationDiD`` (if installed) in
the same run.  Records seconds, the time ratio (diff-diff / ours), peak RSS and the largest
absolute difference of estimates and standard errors.

    python benchmarks/bench_imputation.py                  # 20k and 100k units
    python benchmarks/bench_imputation.py --sizes 5000     # quick

Writes benchmarks/results/imputation.json (atomic replace).
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _harness import rss_gb, write_record

from evaluation.did.imputation import did_imputation

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "imputation.json"
COHORTS = (3, 5, 7, 9)
T = 10


def make_data(n_units: int, seed: int = 20261201) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    G = np.where(rng.random(n_units) < 0.6, rng.choice(np.array(COHORTS), n_units), 0)
    t = np.arange(1, T + 1)
    e = t[None, :] - G[:, None]
    tau = np.where((G[:, None] > 0) & (e >= 0), 0.2 + 0.05 * e, 0.0)
    Y = rng.normal(size=(n_units, 1)) + 0.1 * t[None, :] + tau + rng.normal(size=(n_units, T))
    return pd.DataFrame({"unit": np.repeat(np.arange(1, n_units + 1), T), "period": np.tile(t, n_units),
                         "group": np.repeat(G, T), "y": Y.ravel()})


def ours(d):
    r = did_imputation(d, outcome="y", unit="unit", time="period", group="group", horizon=list(range(8)))
    es = r.event_study()
    return r.estimate, r.se, es["estimate"].to_numpy(), es["se"].to_numpy()


def diffdiff(d):
    from diff_diff import ImputationDiD
    r = ImputationDiD().fit(d, outcome="y", unit="unit", time="period", first_treat="group")
    es = r.aggregate("event_study")
    et = np.asarray(es.event_time)
    keep = (et >= 0) & (et <= 7)
    return r.overall_att, r.overall_se, np.asarray(es.att)[keep], np.asarray(es.se)[keep]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        d = make_data(n)
        rec = {"units": n, "rows": len(d)}
        t0 = time.perf_counter()
        o = ours(d)
        rec["ours_seconds"] = time.perf_counter() - t0
        rec["ours_att"], rec["ours_se"] = float(o[0]), float(o[1])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                p = diffdiff(d)
                rec["diffdiff_seconds"] = time.perf_counter() - t0
            rec["ratio_diffdiff_over_ours"] = rec["diffdiff_seconds"] / rec["ours_seconds"]
            rec["max_abs_diff_estimates"] = float(max(abs(o[0] - p[0]), np.abs(o[2] - p[2]).max()))
            rec["max_abs_diff_se"] = float(max(abs(o[1] - p[1]), np.abs(o[3] - p[3]).max()))
        except ImportError:
            rec["diffdiff"] = "not installed"
        rec["peak_rss_gb"] = rss_gb()
        rows.append(rec)
        print(rec, flush=True)
    record = {"benchmark": "imputation estimator (BJS 2024): overall ATT + event study e=0..7, unit-clustered SE",
              "python": platform.python_version(), "machine": platform.machine(), "results": rows}
    write_record(record, RESULTS)


if __name__ == "__main__":
    main()
