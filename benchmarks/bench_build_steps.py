"""Where a panel build spends its time: wall and CPU seconds of every engine statement.

Wraps :class:`evaluation.panel.runner.Runner`'s engine calls (``frame``, ``table``, ``write``,
``partition``, ``bucket_view``) and builds a folder of extracts with :func:`load_panel` (panel
cache off), then prints one line per build step (bucket queries summed) and the progress lines.
With ``--profile FILE`` DuckDB's profiler writes the plan of the first person-month query, with the
time of each operator, to ``FILE`` (a ``.json`` name: DuckDB's JSON profile, and the slowest
operators printed). Spark (``--engine spark``) reports the same steps.

    python benchmarks/bench_build_steps.py /path/to/refino_1000000 --memory-limit 4GB

Measured in session 19 on 1M persons x 36 months (quiet machine): validation 12 s, population
3.6 s, persons with baselines 6.6 s, flow counts 3.4 s, keyed inputs 6.6 s, 10 buckets 35 s wall
(59 CPU s). In the profile of one bucket, the hash aggregate over the sparse registers and the
two hash joins on the person-month key take most of the time. On Spark at 20k persons, analysing
the plans took most of the time until views were checkpointed (``relational._spark_view``).
Session 22 (another machine, 1M persons): 10 buckets 41 s wall (71 CPU s); in the first bucket's
profile the hash group-by of the sparse registers 1.3 s, the two hash joins on the person-month
key 1.2 and 0.9 s, the final sort 0.6 s, the job_kept window 0.4 s (CPU seconds over both threads).
Rewritten as one union of skeleton and facts grouped by key, or with the job-seeker spells merged
and range-joined instead of unnested, the bucket query was no faster (4.3 and 6.0 s against 4.3 s).
Session 23 (a faster machine, 1M persons): the job-seeker spells' months (2.8M of a bucket's 3.6M
person-months) were the bulk of the sparse group-by; with in_measure taken from runs of months
(``outcomes.measure_runs``) the first bucket's profile is two hash joins 0.5 and 0.45 s, the sort
0.4 s, the group-by 0.26 s, the two windows 0.17 s each, and all buckets 24-27 CPU s against
28-30. Employment stacked into the same group-by as the other registers (one join instead of
two) was no faster (28-29 against 26-27 CPU s), nor was a skeleton carrying only the key through
the joins (person and month taken back from it after). At 10M persons the person stage's two
temporary tables cost about 10 s each to write (DuckDB's CREATE TABLE AS of 10M wide rows) and
7 s to scan back; the first of them as a view instead took the stage from 36 to 40 s (its person
key computed three times).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


#: The build steps that write person-months: one query, or one per bucket.
_PERSON_MONTHS = ("panel_out", "panel_bucket")


def _instrument(times: list, profile: str | None) -> None:
    from evaluation.panel import runner as R

    def wrap(name):
        call = getattr(R.Runner, name)

        def timed(self, step, *args, **kw):
            first = profile and step in _PERSON_MONTHS and not any(s in _PERSON_MONTHS for _, s, _, _ in times)
            if first and self.duck:
                fmt = "json" if profile.endswith(".json") else "query_tree_optimizer"
                self.con.con.execute(f"SET enable_profiling = '{fmt}'")
                self.con.con.execute(f"SET profiling_output = '{profile}'")
            t, c = time.perf_counter(), time.process_time()
            out = call(self, step, *args, **kw)
            times.append((name, step, time.perf_counter() - t, time.process_time() - c))
            if first and self.duck:
                self.con.con.execute("RESET enable_profiling")
            return out
        setattr(R.Runner, name, timed)
    for n in ("frame", "table", "write", "partition", "bucket_view"):
        wrap(n)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", help="a folder of extracts (e.g. made by bench_scale.py --reuse)")
    ap.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--profile", default=None, help="file for DuckDB's profile of the first bucket "
                    "(a .json file: DuckDB's JSON profile, and the slowest operators printed)")
    a = ap.parse_args(argv)
    os.environ["EVALUATION_CACHE"] = "off"
    times: list = []
    _instrument(times, a.profile and str(Path(a.profile).resolve()))
    from evaluation.panel import load_panel
    t0 = time.perf_counter()
    load_panel(a.folder, engine=a.engine, memory_limit=a.memory_limit,
               progress=lambda stage, rows=None: print(f"{time.perf_counter() - t0:8.1f} s  {stage}"
                                                       + (f" ({rows:,} rows)" if rows else ""), flush=True))
    print(f"total {time.perf_counter() - t0:.1f} s wall, {time.process_time():.1f} s CPU (this process)")
    steps: dict = {}
    for _, step, wall, cpu in times:
        key = "panel_bucket (all buckets)" if step == "panel_bucket" else step
        w, c = steps.get(key, (0.0, 0.0))
        steps[key] = (w + wall, c + cpu)
    for step, (w, c) in steps.items():
        print(f"{step:40s} {w:8.1f} s wall {c:8.1f} s CPU")
    if a.profile and a.profile.endswith(".json") and Path(a.profile).is_file():
        _operators(Path(a.profile))


def _operators(path: Path) -> None:
    """The operators of the profiled query, slowest first (DuckDB's JSON profile)."""
    import json
    rows = []

    def walk(node, depth=0):
        name = node.get("name") or node.get("operator_name") or "?"
        rows.append((node.get("timing", node.get("operator_timing", 0.0)), depth, name.strip(),
                     node.get("intermediate_rows", node.get("operator_cardinality", 0))))
        for child in node.get("children", []):
            walk(child, depth + 1)
    prof = json.loads(path.read_text())
    for root in prof.get("operator", [prof]):   # DuckDB 2: {"operator": [tree], ...}
        walk(root)
    print(f"operators of the first person-month query ({path}):")
    for secs, depth, name, card in sorted(rows, reverse=True)[:15]:
        print(f"  {secs:7.2f} s  depth {depth:2d}  {name:28s} {card:>12,} rows")


if __name__ == "__main__":
    main()
