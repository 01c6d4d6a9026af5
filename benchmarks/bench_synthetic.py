"""Benchmark: synthetic generation in person blocks, straight to parquet, at 1M and 10M persons.

For each run (persons : worker processes), :func:`evaluation.synthetic.generate_to` writes one
scenario (REFINO by default, 36 months) into a temporary folder, in a fresh subprocess; peak
memory is the peak of the summed resident memory of that process and its workers (sampled every
0.2 s with psutil) and the process's own maximum RSS.  For comparison, the generator as it was before block generation (``--old-commit``,
read from git and run unchanged: everything in memory, then ``SyntheticData.write``) runs at
the smallest size in the same session.  The record (wall time, peak RSS, parquet size, rows,
blocks, load average) goes to ``benchmarks/results/synthetic.json`` (written atomically).

Usage::

    python benchmarks/bench_synthetic.py [--runs 1000000:1 1000000:2 10000000:2]
                                         [--scenario refino] [--n-months 36]
                                         [--old-commit dc55774] [--no-old]

Wall times are from a shared 2-core machine (see ``load_average``); the ratio between the old
and the new generator at the same size, measured in the same run, is the number to compare.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _tree_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2 ** 20


class _TreeRss:
    """Peak of the summed RSS of this process and its children, sampled in a thread."""

    def __init__(self, every: float = 0.2):
        import threading
        self.peak, self.every, self._stop = 0.0, every, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            import psutil
        except ImportError:            # pragma: no cover
            return
        me = psutil.Process()
        while not self._stop.is_set():
            rss = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, rss / 2 ** 20)
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _one_new(args) -> dict:
    """Child: generate_to at one size; print a JSON record."""
    import pyarrow.parquet as pq

    from evaluation import schema, synthetic
    base = _peak_rss_mib()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp, _TreeRss() as tree:
        folder = Path(tmp) / args.scenario
        t0 = time.perf_counter()
        synthetic.generate_to(folder, args.scenario, n_persons=args.one, n_months=args.n_months,
                              seed=args.seed, block_size=args.block_size, progress=False,
                              workers=args.workers)
        secs = time.perf_counter() - t0
        cpu = _cpu_seconds()
        rows = {name: sum(pq.ParquetFile(f).metadata.num_rows
                          for f in synthetic.extract_files(folder, name)) for name in schema.EXTRACTS}
        parts = len(synthetic.extract_files(folder, "persons"))
        size = _tree_mib(folder)
    return {"generator": "new (blocks, generate_to)", "n_persons": args.one, "workers": args.workers,
            "seconds": round(secs, 1), "cpu_seconds": round(cpu, 1),
            "peak_rss_mib": round(_peak_rss_mib(), 1),
            "peak_rss_mib_with_workers": round(tree.peak, 1),
            "rss_mib_after_imports": round(base, 1), "parquet_mib": round(size, 1),
            "blocks": parts, "rows": rows, "person_months": args.one * args.n_months}


def _one_old(args) -> dict:
    """Child: the generator of ``--old-commit`` (in memory, then write) at one size."""
    src = subprocess.run(["git", "show", f"{args.old_commit}:evaluation/synthetic.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    src = src.replace("from . import schema", "from evaluation import schema")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        mod = Path(tmp) / "old_synthetic.py"
        mod.write_text(src)
        sys.path.insert(0, tmp)
        import old_synthetic
        base = _peak_rss_mib()
        t0 = time.perf_counter()
        data = old_synthetic.generate(args.scenario, n_persons=args.one, n_months=args.n_months,
                                      seed=args.seed)
        t_gen = time.perf_counter() - t0
        data.write(Path(tmp) / "out")
        secs = time.perf_counter() - t0
        cpu = _cpu_seconds()
        size = _tree_mib(Path(tmp) / "out")
        rows = {k: int(len(v)) for k, v in data.extracts.items()}
    return {"generator": f"old (in memory, commit {args.old_commit})", "n_persons": args.one,
            "seconds": round(secs, 1), "generate_seconds": round(t_gen, 1), "cpu_seconds": round(cpu, 1),
            "peak_rss_mib": round(_peak_rss_mib(), 1), "rss_mib_after_imports": round(base, 1),
            "parquet_mib": round(size, 1), "rows": rows, "person_months": args.one * args.n_months}


def _child(flag: str, n: int, args, workers: int = 1) -> dict:
    cmd = [sys.executable, __file__, flag, "--one", str(n), "--workers", str(workers),
           "--scenario", args.scenario,
           "--n-months", str(args.n_months), "--seed", str(args.seed), "--old-commit", args.old_commit]
    if args.block_size:
        cmd += ["--block-size", str(args.block_size)]
    if args.tmp:
        cmd += ["--tmp", args.tmp]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"n_persons": n, "error": out.stderr.strip().splitlines()[-1:],
                "seconds_until_failure": round(time.perf_counter() - t0, 1)}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=["1000000:1", "1000000:2", "10000000:2"],
                    help="persons:workers of each run of the new generator")
    ap.add_argument("--scenario", default="refino")
    ap.add_argument("--n-months", type=int, default=36)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--block-size", type=int, default=None)
    ap.add_argument("--old-commit", default="dc55774")
    ap.add_argument("--no-old", action="store_true", help="skip the old generator")
    ap.add_argument("--tmp", default=None, help="folder for the temporary output")
    ap.add_argument("--out", default=str(HERE / "results" / "synthetic.json"))
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--new", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--old", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(_one_old(args) if args.old else _one_new(args)))
        return {}

    sys.path.insert(0, str(HERE))
    import numpy as np
    import pandas as pd

    import evaluation
    from _harness import write_record
    record = {"benchmark": "synthetic generation in blocks (generate_to) vs the old in-memory generator",
              "scenario": args.scenario, "n_months": args.n_months, "seed": args.seed,
              "block_size": args.block_size or "default (6M person-months per block)",
              "load_average_at_start": list(os.getloadavg()), "runs": []}
    runs = [tuple(map(int, r.split(":"))) for r in args.runs]
    if not args.no_old:
        record["runs"].append(_child("--old", min(n for n, _ in runs), args))
        print(json.dumps(record["runs"][-1]), file=sys.stderr)
    for n, w in runs:
        record["runs"].append(_child("--new", n, args, workers=w))
        print(json.dumps(record["runs"][-1]), file=sys.stderr)
    old = next((r for r in record["runs"] if r.get("generator", "").startswith("old")), None)
    new = next((r for r in record["runs"] if r.get("generator", "").startswith("new")
                and old and r["n_persons"] == old["n_persons"] and r.get("workers") == 1), None)
    if old and new and "seconds" in old and "seconds" in new:
        record["ratio_old_over_new_same_size_one_process"] = {
            "seconds": round(old["seconds"] / new["seconds"], 2),
            "cpu_seconds": round(old["cpu_seconds"] / new["cpu_seconds"], 2),
            "peak_rss": round(old["peak_rss_mib"] / new["peak_rss_mib"], 2)}
    record.update({"load_average_at_end": list(os.getloadavg()),
                   "package_version": evaluation.__version__, "python": platform.python_version(),
                   "numpy": np.__version__, "pandas": pd.__version__, "machine": platform.machine(),
                   "cpus": os.cpu_count(), "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   "note": "each run in its own process; wall time on a shared machine (see the load "
                           "averages; cpu_seconds is user + system time of the run and its workers); "
                           "peak memory is the process maximum RSS, with workers their summed RSS"})
    write_record(record, args.out, indent=2)
    print(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
