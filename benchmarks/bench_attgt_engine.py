"""Callaway-Sant'Anna without covariates: computed in the engine (att_gt_engine) vs in pandas (att_gt).

For each size, the REFINO scenario is generated in person blocks and built into a panel
(``load_panel``, kept in the panel cache so both estimators read the same parquet files); then,
each in its own process so that its peak resident memory is its own:

* ``engine`` -- :func:`evaluation.did.att_gt_engine` on the Panel (DuckDB over the parquet files);
* ``pandas`` -- ``Panel.person_period`` into pandas and :func:`evaluation.did.att_gt` (balanced
  panel, no covariates), skipped above ``--pandas-max`` persons.

Both use the never-treated comparison (control arm, cohort 0), persons with a missing cohort
dropped.  Reported: seconds and peak RSS per stage, their ratios, and the largest differences of
the ATT(g,t), their standard errors and the four aggregations.

Usage::

    python benchmarks/bench_attgt_engine.py --sizes 100000 1000000 [--work /work/bench/x]

Writes ``benchmarks/results/bench_attgt_engine.json``.  Check ``free -g`` first.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
KINDS = ("simple", "group", "dynamic", "calendar")


def _summary(res) -> dict:
    out = {"gt": res.gt[["estimate", "se"]].to_numpy().tolist()}
    for k in KINDS:
        a = res.aggregate(k)
        out[k] = [a.estimate, a.se] + a.tidy()[["estimate", "se"]].to_numpy().ravel().tolist() \
            if k != "simple" else [a.estimate, a.se]
    return out


def stage(kind: str, folder: str, outcome: str, control_group: str, memory_limit: str) -> dict:
    import warnings
    from evaluation import did
    warnings.simplefilter("ignore")
    p = _panel(folder)
    t0 = time.perf_counter()
    if kind == "engine":
        res = did.att_gt_engine(p, outcome=outcome, control_group=control_group, memory_limit=memory_limit)
    else:
        f = p.person_period(["cohort", outcome])
        f = f[f["cohort"].notna()]
        f["cohort"] = f["cohort"].astype(int)
        f["person_id"] = f["person_id"].cat.codes
        res = did.att_gt(f, outcome=outcome, unit="person_id", time="period", group="cohort",
                         control_group=control_group)
    secs = time.perf_counter() - t0
    out = {"seconds": secs, "n_units": res.n, "dropped": res.extra["dropped"], "k_gt": len(res.gt)}
    out.update(_summary(res))
    return out


def _panel(folder: str):
    """A built panel: ``load_panel`` of an extract folder, or a folder holding ``panel/*.parquet``
    (e.g. a replicated panel for sizes the build cannot reach on a shared machine)."""
    from evaluation.panel import load_panel
    from evaluation.panel.panel import Panel
    from evaluation.panel.store import PanelStore
    if (Path(folder) / "meta.json").exists():
        return load_panel(folder)
    store = PanelStore(Path(folder), keep=True)
    import pyarrow.parquet as pq
    n = sum(pq.ParquetFile(f).metadata.num_rows for f in store.panel_dir.glob("*.parquet"))
    return Panel.from_store(store, None, {"panel": {"n_person_months": n}})


def _hwm_gib() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it does not carry the
    parent's peak over a fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024 ** 2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def run(kind: str, *args) -> dict:
    code = (f"import json, sys, resource; sys.path.insert(0, {str(HERE)!r}); import bench_attgt_engine as b; "
            f"r = b.stage({kind!r}, *{args!r}); "
            "u = resource.getrusage(resource.RUSAGE_SELF); r['peak_rss_gib'] = b._hwm_gib(); "
            "r['cpu_seconds'] = u.ru_utime + u.ru_stime; "
            "print('RESULT ' + json.dumps(r))")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    res = json.loads(line[7:]) if line else {"error": out[-2000:]}
    res["wall_seconds"] = time.perf_counter() - t
    return res


def _maxdiff(a, b) -> float:
    import numpy as np
    return float(np.nanmax(np.abs(np.asarray(a, float) - np.asarray(b, float))))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--pandas-max", type=int, default=1_000_000)
    ap.add_argument("--outcome", default="employed")
    ap.add_argument("--control-group", default="never")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--work", default=None, help="folder for generated data (default: temp)")
    ap.add_argument("--panels", nargs="*", default=[], help="folders with panel/*.parquet to run as well "
                    "(label=folder), e.g. replicated panels")
    ap.add_argument("--out", default=str(HERE / "results" / "bench_attgt_engine.json"))
    a = ap.parse_args(argv)
    import tempfile
    from evaluation.panel import load_panel
    from evaluation.synthetic import generate_to
    work = Path(a.work or tempfile.mkdtemp(prefix="bench-attgt-engine-"))
    os.environ.setdefault("EVALUATION_CACHE", str(work / "cache"))
    rec = {"machine": {"cpus": os.cpu_count()}, "outcome": a.outcome, "control_group": a.control_group,
           "memory_limit": a.memory_limit, "sizes": {}}
    jobs = [(str(n), str(work / f"refino_{n}"), n) for n in a.sizes]
    jobs += [(lab, f, int(float(lab.rstrip("mM")) * 1e6) if lab[-1] in "mM" else 0)
             for lab, f in (x.split("=", 1) for x in a.panels)]
    for label, folder, n in jobs:
        r = rec["sizes"][label] = {"folder": folder}
        if label.isdigit():
            if not (Path(folder) / "meta.json").exists():
                t = time.perf_counter()
                generate_to(folder, "refino", n_persons=n, n_months=36, block_size=250_000, workers=2)
                r["generate_seconds"] = time.perf_counter() - t
            t = time.perf_counter()
            load_panel(folder)                       # built once, kept in the cache for both stages
            r["build_seconds"] = time.perf_counter() - t
        r["engine"] = run("engine", folder, a.outcome, a.control_group, a.memory_limit)
        show = ("seconds", "cpu_seconds", "peak_rss_gib", "n_units")
        print(label, "engine", {k: v for k, v in r["engine"].items() if k in show}, flush=True)
        if n <= a.pandas_max:
            r["pandas"] = run("pandas", folder, a.outcome, a.control_group, a.memory_limit)
            e, p = r["engine"], r["pandas"]
            print(label, "pandas", {k: v for k, v in p.items() if k in show}, flush=True)
            if "error" not in e and "error" not in p:
                r["ratio_seconds_pandas_over_engine"] = p["seconds"] / e["seconds"]
                r["ratio_rss_pandas_over_engine"] = p["peak_rss_gib"] / e["peak_rss_gib"]
                r["max_abs_diff"] = {k: _maxdiff(e[k], p[k]) for k in ("gt", *KINDS)}
                r["same_units_and_drops"] = e["n_units"] == p["n_units"] and e["dropped"] == p["dropped"]
        for s in ("engine", "pandas"):
            for k in ("gt", *KINDS):
                r.get(s, {}).pop(k, None)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec, indent=1))


if __name__ == "__main__":
    main()
