"""Shared pieces of the benchmark scripts: peak memory, atomic JSON records, and running one
tool in a single-threaded worker process that prints its result as ``@@RESULT@@{json}``."""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from evaluation._io import atomic_write_text

RESULT_TAG = "@@RESULT@@"
# one thread per tool: every library's own thread-pool setting
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS",
               "RAYON_NUM_THREADS", "NUMBA_NUM_THREADS")


def rss_gb() -> float:
    """Peak resident memory of this process so far, in GiB (Linux ru_maxrss is in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def machine_record(**fields) -> dict:
    """The head of a benchmark record: when, on what machine and Python, under what load; then
    the script's own ``fields``."""
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.platform(),
            "cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg()),
            "python": sys.version.split()[0], **fields}


def write_record(record: dict, out: str | Path, indent: int = 1) -> Path:
    """Write a benchmark record as JSON, atomically (a reader never sees half a file)."""
    return atomic_write_text(out, json.dumps(record, indent=indent, default=float) + "\n")


def run_worker(args: list[str], *, script: str, root: str | Path, timeout: float) -> dict:
    """Run ``python script *args`` single-threaded with ``root`` on PYTHONPATH and return the
    JSON it printed after :data:`RESULT_TAG`, or ``{"ok": False, "reason": ...}`` on a timeout or
    an exit without a result (the last 800 characters of stderr)."""
    env = dict(os.environ, PYTHONPATH=str(root), **{v: "1" for v in THREAD_VARS})
    try:
        p = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                           timeout=timeout, env=env, cwd=root)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"timed out after {timeout:.0f} s"}
    for line in p.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    return {"ok": False, "reason": f"exit {p.returncode}: {(p.stderr or '')[-800:]}"}
