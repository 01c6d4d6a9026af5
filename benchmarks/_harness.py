"""Shared pieces of the benchmark scripts: peak memory and atomic JSON records."""
from __future__ import annotations

import json
import resource
from pathlib import Path

from evaluation.report import atomic_write_text


def rss_gb() -> float:
    """Peak resident memory of this process so far, in GiB (Linux ru_maxrss is in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def write_record(record: dict, out: str | Path, indent: int = 1) -> Path:
    """Write a benchmark record as JSON, atomically (a reader never sees half a file)."""
    return atomic_write_text(out, json.dumps(record, indent=indent, default=float) + "\n")
