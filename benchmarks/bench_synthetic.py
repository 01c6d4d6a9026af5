"""Benchmark: time and peak memory of :func:`evaluation.synthetic.generate` at scale.

Generates one scenario for 1,000,000 persons x 36 months (by default), then writes the extracts
as parquet to a temporary folder, and records wall time, peak resident memory and row counts in
``benchmarks/results/synthetic.json`` (written atomically).

Usage::

    python benchmarks/bench_synthetic.py [--scenario refino] [--n-persons 1000000] [--n-months 36]

Peak memory is the process's maximum resident set size (``resource.getrusage``), reported both
in total and above the level after imports.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from _harness import write_record


def _rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2 ** 20


def _current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:  # pragma: no cover - non-Linux
        return float("nan")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="refino")
    ap.add_argument("--n-persons", type=int, default=1_000_000)
    ap.add_argument("--n-months", type=int, default=36)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-write", action="store_true", help="skip the parquet write timing")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "synthetic.json"))
    args = ap.parse_args(argv)

    import numpy as np
    import pandas as pd

    import evaluation
    from evaluation import synthetic

    base = _current_rss_mib()
    t0 = time.perf_counter()
    data = synthetic.generate(args.scenario, n_persons=args.n_persons, n_months=args.n_months,
                              seed=args.seed)
    t_gen = time.perf_counter() - t0
    peak_gen = _rss_mib()
    t_write = None
    if not args.no_write:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            data.write(tmp)
            t_write = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    peak = _rss_mib()
    record = {
        "benchmark": "synthetic.generate",
        "scenario": args.scenario, "n_persons": args.n_persons, "n_months": args.n_months,
        "person_months": args.n_persons * args.n_months, "seed": args.seed,
        "generate_seconds": round(t_gen, 2),
        "write_parquet_seconds": None if t_write is None else round(t_write, 2),
        "parquet_mib": None if t_write is None else round(size / 2 ** 20, 1),
        "peak_rss_mib_generate": round(peak_gen, 1),
        "peak_rss_mib_total": round(peak, 1),
        "rss_mib_after_imports": round(base, 1),
        "peak_rss_mib_above_imports": round(peak - base, 1),
        "rows": {k: int(len(v)) for k, v in data.extracts.items()},
        "truth_rows": int(len(data.truth)),
        "package_version": evaluation.__version__,
        "python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "note": "wall time on a shared machine; peak memory is the process maximum RSS",
    }
    write_record(record, args.out, indent=2)
    print(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
