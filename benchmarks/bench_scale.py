"""National register scale: the panel built out of core (DuckDB) and on Spark (issue 11).

Each stage runs in its own process so that its peak resident memory is its own:

* ``generate`` -- the REFINO scenario's extracts written block by block as partitioned parquet
  (the synthetic generator, two workers), ``--months`` months of window (36 by default: about
  36 person-months per person, 360M at 10M persons);
* ``build`` -- ``load_panel``: validation in the engine, the relational build on DuckDB, the panel
  written to parquet (kept in a panel cache beside the data for the next stages);
* ``itt`` -- the headline ITT (Lin-adjusted, HC2) on the person frame at ``--event-month``;
* ``csdid`` -- Callaway-Sant'Anna (never-treated controls) computed in the engine (att_gt_engine);
* ``spark`` -- the same build on Spark local mode at 100k persons, its time, and equality with
  DuckDB (row for row).

Reference numbers before issue 11 (pandas panel, same machine): 1M persons 34 s and 7.9 GiB,
2.5M persons 101 s and 19.6 GiB for load_panel + headline ITT.

Usage::

    python benchmarks/bench_scale.py [--sizes 1000000 2500000 10000000] [--months 36] [--spark 100000]
                                     [--memory-limit 4GB] [--no-csdid]

Writes ``benchmarks/results/bench_scale.json``.  Besides wall time, each stage records its CPU
seconds (the machine is shared: wall time under load overstates the cost).  Check ``free -g`` first: a stage is stopped at
8 GiB (``RLIMIT_AS`` is not used: DuckDB maps memory lazily; the parent polls RSS instead).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

CAP_GIB = 8.0


def _stage_generate(folder: str, n: int, scenario: str, n_months: int | None) -> dict:
    from evaluation import synthetic
    t = time.perf_counter()
    synthetic.generate_to(folder, scenario, n_persons=n, seed=1, n_months=n_months,
                          block_size=min(n, 250_000), workers=2, overwrite=True, progress=False)
    return {"seconds": time.perf_counter() - t}


def _cache(folder: str) -> None:
    """Stages share the built panel through the panel cache (a folder beside the data)."""
    os.environ["EVALUATION_CACHE"] = str(Path(folder).parent / (Path(folder).name + "-cache"))


def _stage_build(folder: str, memory_limit: str | None, engine: str) -> dict:
    from evaluation.panel import load_panel
    _cache(folder)
    lines = []
    t0 = time.perf_counter()
    p = load_panel(folder, engine=engine, memory_limit=memory_limit,
                   progress=lambda stage, rows=None: lines.append(
                       [round(time.perf_counter() - t0, 1), stage, rows]))
    return {"seconds": time.perf_counter() - t0, "persons": p.meta["panel"]["n_persons"],
            "person_months": p.meta["panel"]["n_person_months"], "progress": lines,
            "records": sum(v["rows"] for v in p.meta["panel"]["extracts"].values())}


def _stage_itt(folder: str, event_month: int) -> dict:
    from evaluation import rct
    from evaluation.panel import load_panel
    _cache(folder)
    t0 = time.perf_counter()
    p = load_panel(folder)
    covs = ["age", "female", "immigrant", "sa_months_12", "emp_months_12", "earnings_12"]
    f = p.person_frame(event_month, columns=["arm", "employed_50", *covs])
    t1 = time.perf_counter()
    res = rct.itt(f, outcome="employed_50", treatment="arm", covariates=covs, method="lin",
                  control="control")
    tid = res.tidy()
    return {"frame_seconds": t1 - t0, "itt_seconds": time.perf_counter() - t1,
            "seconds": time.perf_counter() - t0, "frame_rows": len(f), "event_month": event_month,
            "itt": float(tid["estimate"].iloc[0]), "se": float(tid["se"].iloc[0])}


def _stage_csdid(folder: str, outcome: str = "employed") -> dict:
    """Callaway-Sant'Anna (never-treated controls, no covariates) computed in the engine from the
    built panel's parquet files (``did.att_gt_engine``: only per-cohort sums and cross-products
    come into pandas).  Persons with a missing cohort (treated before the window) and persons not
    observed in every period (R did's balanced panel) are dropped and counted."""
    from evaluation import did
    from evaluation.panel import load_panel
    _cache(folder)
    t0 = time.perf_counter()
    p = load_panel(folder)
    t1 = time.perf_counter()
    res = did.att_gt_engine(p, outcome=outcome, control_group="never")
    t2 = time.perf_counter()
    return {"load_seconds": t1 - t0, "csdid_seconds": t2 - t1, "seconds": t2 - t0,
            "units": res.n, "dropped": res.extra["dropped"], "att_gt": len(res.gt),
            "overall_att": _overall(res.aggregate("simple"))}


def _overall(agg) -> float:
    for a in ("overall_att", "estimate", "att"):
        if hasattr(agg, a):
            return float(getattr(agg, a))
    return float(agg.tidy()["estimate"].iloc[0])


def _stage_spark(folder: str) -> dict:
    """The same build on DuckDB and on Spark local mode; panels compared row for row in DuckDB
    (``EXCEPT ALL`` both ways over the two stores' parquet files), flows and persons in pandas."""
    import duckdb
    import pandas as pd

    from evaluation.panel import build_panel, read_extracts
    from evaluation.panel.engine import spark_session
    from evaluation.panel.load import _window_from_meta
    os.environ["EVALUATION_CACHE"] = "off"
    meta = json.loads((Path(folder) / "meta.json").read_text())
    ex = read_extracts(folder, lazy=True)
    w = _window_from_meta(meta)
    t = time.perf_counter()
    a = build_panel(ex, window=w, offices=meta.get("offices"))
    t_duck = time.perf_counter() - t
    t = time.perf_counter()
    spark_session()
    t_start = time.perf_counter() - t
    t = time.perf_counter()
    b = build_panel(ex, window=w, offices=meta.get("offices"), engine="spark")
    t_spark = time.perf_counter() - t
    q = "SELECT count(*) FROM (SELECT * FROM read_parquet('{}/*.parquet') EXCEPT ALL SELECT * FROM read_parquet('{}/*.parquet'))"
    pa, pb = a.store.panel_dir, b.store.panel_dir
    diff = [duckdb.sql(q.format(x, y)).fetchall()[0][0] for x, y in ((pa, pb), (pb, pa))]
    equal = True
    try:
        pd.testing.assert_frame_equal(a.flow, b.flow)
        pd.testing.assert_frame_equal(a.persons(), b.persons())
    except AssertionError as exc:
        equal = str(exc)[:500]
    return {"duckdb_seconds": t_duck, "spark_session_start_seconds": t_start,
            "spark_seconds": t_spark, "rows_only_in_one": diff, "flow_and_persons_identical": equal,
            "person_months": a.n_person_months}


STAGES = {"generate": _stage_generate, "build": _stage_build, "itt": _stage_itt,
          "csdid": _stage_csdid, "spark": _stage_spark}


def run_stage(name: str, *args) -> dict:
    """Run a stage in a child process; wall time and the child's peak RSS (GiB)."""
    code = (f"import json, sys, resource; sys.path.insert(0, {str(HERE)!r}); import bench_scale as b; "
            f"r = b.STAGES[{name!r}](*{args!r}); "
            "u = resource.getrusage(resource.RUSAGE_SELF); c = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "r['peak_rss_gib'] = u.ru_maxrss / 1024 ** 2; "
            "r['cpu_seconds'] = u.ru_utime + u.ru_stime + c.ru_utime + c.ru_stime; "
            "print('RESULT ' + json.dumps(r))")
    t = time.perf_counter()
    log = tempfile.TemporaryFile(mode="w+")     # not a pipe: a chatty child would block on it
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=log, text=True,
                            env={**os.environ, "SPARK_DRIVER_MEMORY": "3g"})
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_gib(proc.pid))
        if peak > CAP_GIB:
            proc.kill()
            return {"error": f"stopped above {CAP_GIB} GiB", "wall_seconds": time.perf_counter() - t}
        time.sleep(0.5)
    log.seek(0)
    out = log.read()
    log.close()
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    res = json.loads(line[7:]) if line else {"error": f"exit code {proc.returncode}"}
    res["wall_seconds"] = time.perf_counter() - t
    res["peak_rss_tree_gib"] = max(peak, res.get("peak_rss_gib", 0))
    print(f"  {name}{args[1:] if len(args) > 1 else ''}: {json.dumps(res)}", flush=True)
    return res


def _tree_rss_gib(pid: int) -> float:
    """RSS of a process and its children (Spark's JVM is a child), GiB."""
    try:
        out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)],
                             capture_output=True, text=True).stdout
        return sum(int(x) for x in out.split()) / 1024 ** 2
    except (OSError, ValueError):
        return 0.0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 2_500_000, 10_000_000])
    ap.add_argument("--months", type=int, default=36, help="months of the window (36: ~36 person-months each)")
    ap.add_argument("--event-month", type=int, default=12, help="event month of the headline ITT")
    ap.add_argument("--csdid", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--spark", type=int, default=100_000)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--work", default=None, help="folder for generated data (default: temp)")
    ap.add_argument("--reuse", action="store_true", help="keep data already generated in --work "
                    "(the generate stage is then not timed) and keep the data afterwards")
    ap.add_argument("--out", default=str(HERE / "results" / "bench_scale.json"))
    a = ap.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="bench-scale-"))
    rec = {"machine": {"cpus": os.cpu_count()}, "reference_before": {
        "1000000": {"seconds": 34, "peak_rss_gib": 7.9}, "2500000": {"seconds": 101, "peak_rss_gib": 19.6}},
        "memory_limit": a.memory_limit, "months": a.months, "refino": {}, "spark": {}}
    for n in a.sizes:
        folder = str(work / f"refino_{n}")
        have = a.reuse and (Path(folder) / "meta.json").is_file()
        r = rec["refino"][str(n)] = {"generate": {"reused": True} if have else
                                     run_stage("generate", folder, n, "refino", a.months)}
        r["build"] = run_stage("build", folder, a.memory_limit, "duckdb")
        r["itt"] = run_stage("itt", folder, a.event_month)
        if a.csdid:
            r["csdid"] = run_stage("csdid", folder)
        r["total_wall_seconds"] = sum(v.get("wall_seconds", 0) for v in r.values() if isinstance(v, dict))
        r["max_peak_rss_gib"] = max(v.get("peak_rss_tree_gib", 0) for v in r.values() if isinstance(v, dict))
        _write(rec, a.out)
        shutil.rmtree(folder + "-cache", ignore_errors=True)
        if not a.reuse:
            shutil.rmtree(folder, ignore_errors=True)
    if a.spark:
        folder = str(work / f"refino_spark_{a.spark}")
        rec["spark"][str(a.spark)] = {"generate": run_stage("generate", folder, a.spark, "refino", None),
                                      "compare": run_stage("spark", folder)}
        _write(rec, a.out)
    print(json.dumps(rec, indent=1))


def _write(rec, out):
    """Write this run under ``"pipeline"``, keeping the file's other records (e.g. build_only)."""
    from _harness import write_record
    try:
        whole = json.loads(Path(out).read_text())
    except (OSError, ValueError):
        whole = {}
    whole["pipeline"] = rec
    write_record(whole, out)


if __name__ == "__main__":
    main()
