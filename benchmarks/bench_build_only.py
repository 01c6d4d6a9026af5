"""The relational panel build alone (issue 11): from the narrow engine tables to the panel files.

Validation and reading are left out (measured by ``bench_scale.py``): the extracts of a folder
written by :func:`evaluation.synthetic.generate_to` are registered in DuckDB as views of the
build's narrow tables (:func:`evaluation.panel.narrow.narrow_tables` over the parquet parts, no
copy), then :func:`evaluation.panel.build._run` builds the persons, the person-months (in
buckets when they exceed the memory limit) and the flow counts, writing parquet.  A folder of
narrow parquet (one sub-folder per narrow table, e.g. made with
:func:`evaluation.panel.relational.narrow_frames`) is registered as it is.

Usage::

    python benchmarks/bench_build_only.py FOLDER [--memory-limit 4GB] [--out DIR]

Prints the progress (stage, rows, peak RSS) and one JSON line: persons, person-months, wall and
CPU seconds, peak RSS.  The machine is shared: report CPU seconds and the load beside wall time.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def _tables(con, src: Path) -> dict:
    folders = sorted(p for p in src.iterdir() if p.is_dir())
    if (src / ".evaluation-synthetic").exists():
        from evaluation.panel.narrow import narrow_tables
        raw = {d.name: con.read_parquet(f"{d}/*.parquet") for d in folders}
        exprs = narrow_tables(raw, {k: set(v.columns) for k, v in raw.items()})
        sql = {name: con.compile(e) for name, e in exprs.items()}
    else:
        sql = {d.name: f"SELECT * FROM read_parquet('{d}/*.parquet')" for d in folders}
    for name, q in sql.items():
        con.raw_sql(f'CREATE OR REPLACE TEMP VIEW "_ev_{name}" AS {q}')
    return {name: con.table(f"_ev_{name}") for name in sql}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    from evaluation.panel import build, engine
    from evaluation.panel._constants import OUTCOMES
    from evaluation.panel._convert import _parse_window
    from evaluation.panel.store import PanelStore
    src = Path(a.folder)
    meta = json.loads((src / "meta.json").read_text())
    win = _parse_window((meta["start_month"], meta["end_month"]))
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench-build-"))
    spill = Path(tempfile.mkdtemp(prefix="bench-build-spill-"))
    t0, c0 = time.perf_counter(), time.process_time()

    def say(stage, rows=None):
        extra = f" {rows:,}" if rows is not None else ""
        print(f"[{time.perf_counter() - t0:7.1f}s peak {_peak_gib():5.2f} GiB] {stage}{extra}", flush=True)
    try:
        con = engine.connect("duckdb", memory_limit=a.memory_limit, temp_dir=spill)
        t = _tables(con, src)
        counts = build._run(con, t, win, [12, 24], list(OUTCOMES), None, True, PanelStore(out, keep=True), say)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    res = {"persons": counts["K"], "person_months": counts["total"], "memory_limit": a.memory_limit,
           "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
           "peak_rss_gib": round(_peak_gib(), 2), "out": str(out)}
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
