"""Benchmark: Callaway-Sant'Anna ATT(g,t) + four aggregations, and TWFE, against peer libraries.

Balanced synthetic staggered panels (units x 10 periods, cohorts 3/5/7/9 and never treated, a
time-invariant covariate ``x`` that shifts the cohort probability and the trend), written once per
size and read by every tool in its own subprocess (clean peak RSS).  Each tool fits ATT(g,t)
(never-treated controls, DR, analytic SEs) and the simple, group, dynamic and calendar
aggregations, without covariates (mode ``nocov``) and with ``x`` (mode ``cov``, issue 13 item 9);
estimates are compared with ours (max abs difference).  The
baseline is one pandas ``groupby(["group", "period"])["y"].mean()``.  TWFE with unit-clustered SEs
is compared with pyfixest ``feols("y ~ treated | unit + period", vcov={"CRV1": "unit"})``.

    python benchmarks/bench_did.py                 # 100k and 1M units
    python benchmarks/bench_did.py --sizes 20000   # quick
    python benchmarks/bench_did.py --modes cov     # with the covariate only

Writes benchmarks/results/did.json (atomic replace).  Times (wall and CPU; every tool runs on one
thread, so CPU time is the work and less exposed to other jobs on a shared machine) exclude
reading the data file; peak
RSS is the subprocess's maximum resident set size (including the data), with the RSS after
loading the data recorded separately.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
from _harness import rss_gb, write_record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "did.json"
COHORTS = (3, 5, 7, 9)
T = 10
CS_TOOLS = ["ours", "diff-diff", "csdid", "moderndid", "differences"]
TWFE_TOOLS = ["ours_twfe", "pyfixest"]


def make_data(n_units: int, path: Path, seed: int = 20261123) -> None:
    import pandas as pd
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_units)
    treated = rng.random(n_units) < 1 / (1 + np.exp(-(0.3 + 0.5 * x)))
    G = np.where(treated, rng.choice(np.array(COHORTS), n_units), 0)
    t = np.arange(1, T + 1)
    e = t[None, :] - G[:, None]
    tau = np.where((G[:, None] > 0) & (e >= 0), 0.2 + 0.05 * e * (1 + (G[:, None] == 3)), 0.0)
    Y = (rng.normal(size=(n_units, 1)) + 0.1 * t[None, :] + 0.05 * x[:, None] * t[None, :] + tau
         + rng.normal(size=(n_units, T)))
    df = pd.DataFrame({"unit": np.repeat(np.arange(1, n_units + 1), T), "period": np.tile(t, n_units),
                       "group": np.repeat(G, T), "y": Y.ravel(), "x": np.repeat(x, T)})
    df["treated"] = ((df["group"] > 0) & (df["period"] >= df["group"])).astype(np.float64)
    df.to_parquet(path)


# ---------------------------------------------------------------------------- workers
COV = False     # set by the worker: fit with the covariate x


def run_ours(df):
    from evaluation.did import att_gt
    t0 = time.perf_counter()
    r = att_gt(df, outcome="y", unit="unit", time="period", group="group", covariates=["x"] if COV else [])
    aggs = {k: r.aggregate(k) for k in ("simple", "group", "dynamic", "calendar")}
    el = time.perf_counter() - t0
    gt = [[int(g), int(t), float(a)] for g, t, a in r.gt[["group", "time", "estimate"]].itertuples(index=False)]
    return el, gt, {k: [a.estimate, a.se] for k, a in aggs.items()}


def run_diffdiff(df):
    from diff_diff import CallawaySantAnna
    t0 = time.perf_counter()
    r = CallawaySantAnna(control_group="never_treated", estimation_method="dr").fit(
        df, outcome="y", unit="unit", time="period", first_treat="group", aggregate="all",
        covariates=["x"] if COV else None)
    el = time.perf_counter() - t0
    gt = [[int(g), int(t), float(v["effect"])] for (g, t), v in r.group_time_effects.items()]
    ag = {"simple": [float(r.overall_att), float(r.overall_se)]}
    es = {int(e): v["effect"] for e, v in (r.event_study_effects or {}).items()}
    pos = [v for e, v in es.items() if e >= 0]
    if pos:
        ag["dynamic"] = [float(np.mean(pos)), None]
    ge = r.group_effects or {}
    if ge:
        ag["group_components"] = {str(int(g)): float(v["effect"]) for g, v in ge.items()}
    return el, gt, ag


def run_csdid(df):
    from csdid.att_gt import ATTgt
    t0 = time.perf_counter()
    m = ATTgt(yname="y", tname="period", idname="unit", gname="group", data=df,
              control_group=["nevertreated"], xformla="y~x" if COV else None).fit(est_method="dr", bstrap=False)
    ag = {}
    for k in ("simple", "group", "dynamic", "calendar"):
        m.aggte(typec=k, bstrap=False, cband=False)
        a = m.atte
        ag[k] = [float(np.asarray(a["overall_att"]).ravel()[0]), float(np.asarray(a["overall_se"]).ravel()[0])]
    el = time.perf_counter() - t0
    res = m.results
    gt = [[int(g), int(t), float(a)] for g, t, a in zip(res["group"], res["year"], res["att"])]
    return el, gt, ag


def run_moderndid(df):
    import moderndid
    t0 = time.perf_counter()
    r = moderndid.att_gt(df, yname="y", tname="period", idname="unit", gname="group", est_method="dr",
                         control_group="nevertreated", boot=False, cband=False, xformla="~x" if COV else None)
    ag = {}
    for k in ("simple", "group", "dynamic", "calendar"):
        a = moderndid.aggte(r, type=k, boot=False, cband=False)
        ag[k] = [float(a.overall_att), float(a.overall_se)]
    el = time.perf_counter() - t0
    gt = [[int(g), int(t), float(a)] for g, t, a in zip(r.groups, r.times, r.att_gt)]
    return el, gt, ag


def run_differences(df):
    from differences import ATTgt
    d = df.copy()
    d["group"] = d["group"].replace(0, np.nan)
    d = d.set_index(["unit", "period"])
    t0 = time.perf_counter()
    att = ATTgt(data=d, cohort_column="group")
    res = att.fit(formula="y ~ x" if COV else "y", est_method="dr", control_group="never_treated",
                  progress_bar=False)
    ag = {}
    for k, name in (("simple", "simple"), ("group", "cohort"), ("dynamic", "event"), ("calendar", "time")):
        try:
            a = att.aggregate(name, overall=(k != "simple"))
            ag[k] = [float(a.iloc[0, 0]), float(a.iloc[0, 1])]
        except Exception as e:  # noqa: BLE001
            ag[k] = [None, None, f"{type(e).__name__}: {e}"]
    el = time.perf_counter() - t0
    tab = res.to_pandas()
    gt = [[int(g), int(t), float(v)] for (g, _b, t), v in zip(tab.index, tab.iloc[:, 0])]
    return el, gt, ag


def run_groupby(df):
    t0 = time.perf_counter()
    df.groupby(["group", "period"])["y"].mean()
    return time.perf_counter() - t0, None, None


def run_ours_twfe(df):
    from evaluation.did import twfe
    t0 = time.perf_counter()
    r = twfe(df, outcome="y", unit="unit", time="period", treatment="treated")
    return time.perf_counter() - t0, None, {"twfe": [r.estimate, r.se]}


def run_pyfixest(df):
    import pyfixest as pf
    t0 = time.perf_counter()
    f = pf.feols("y ~ treated | unit + period", data=df, vcov={"CRV1": "unit"})
    est, se = float(f.coef()["treated"]), float(f.se()["treated"])
    return time.perf_counter() - t0, None, {"twfe": [est, se]}


WORKERS = {"ours": run_ours, "diff-diff": run_diffdiff, "csdid": run_csdid, "moderndid": run_moderndid,
           "differences": run_differences, "pandas_groupby": run_groupby, "ours_twfe": run_ours_twfe,
           "pyfixest": run_pyfixest}


def worker(tool: str, path: str, cov: bool = False) -> None:
    global COV
    COV = cov
    import warnings
    warnings.simplefilter("ignore")
    import pandas as pd
    df = pd.read_parquet(path)
    base = rss_gb()
    try:
        # warm-up on a small slice (imports, JIT compilation) so the timing measures the fit
        small = df[df["unit"] <= 300].reset_index(drop=True)
        if tool != "pandas_groupby":
            WORKERS[tool](small)
        c0 = time.process_time()
        el, gt, ag = WORKERS[tool](df)
        cpu = time.process_time() - c0          # one thread: the work, less exposed to a shared machine
        out = {"ok": True, "seconds": el, "cpu_seconds": cpu, "gt": gt, "aggregates": ag}
    except Exception as e:  # noqa: BLE001
        out = {"ok": False, "reason": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]}
    out.update({"peak_rss_gib": rss_gb(), "rss_after_load_gib": base})
    print("@@RESULT@@" + json.dumps(out))


REF_ROOT = None   # --ref-root: a checkout timed as tool "ours_before" (e.g. main before a change)


def call(tool: str, path: Path, timeout: float, cov: bool = False) -> dict:
    root = ROOT
    if tool == "ours_before":
        tool, root = "ours", REF_ROOT
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", POLARS_MAX_THREADS="1", RAYON_NUM_THREADS="1")
    try:
        p = subprocess.run([sys.executable, __file__, "--worker", tool, "--data", str(path)] + (["--cov"] if cov else []),
                           capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"timed out after {timeout:.0f} s"}
    for line in p.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):])
    return {"ok": False, "reason": f"exit {p.returncode}: {(p.stderr or '')[-800:]}"}


def compare(ours: dict, other: dict) -> dict:
    if not other.get("ok") or other.get("gt") is None:
        return {}
    a = {(g, t): v for g, t, v in ours["gt"]}
    diffs = [abs(a[(g, t)] - v) for g, t, v in other["gt"] if (g, t) in a and v is not None and np.isfinite(v)]
    out = {"att_gt_max_abs_diff": max(diffs) if diffs else None, "att_gt_matched": len(diffs),
           "att_gt_ours": len(a)}
    for k, v in (other.get("aggregates") or {}).items():
        if k in ours["aggregates"] and isinstance(v, list) and v and v[0] is not None:
            out[f"{k}_abs_diff"] = abs(ours["aggregates"][k][0] - v[0])
            if len(v) > 1 and v[1] is not None:
                out[f"{k}_se_abs_diff"] = abs(ours["aggregates"][k][1] - v[1])
    out["agree_1e-8"] = bool(out["att_gt_max_abs_diff"] is not None and out["att_gt_max_abs_diff"] < 1e-8
                             and all(v < 1e-8 for k, v in out.items() if k.endswith("_abs_diff")
                                     and "_se_" not in k))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--data")
    ap.add_argument("--cov", action="store_true")
    ap.add_argument("--modes", nargs="+", default=["nocov", "cov"], choices=["nocov", "cov"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--tools", nargs="+", default=CS_TOOLS + ["pandas_groupby"] + TWFE_TOOLS)
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--ref-root", help="another checkout to time as 'ours_before' (before/after ratios)")
    a = ap.parse_args()
    global REF_ROOT
    if a.ref_root:
        REF_ROOT = a.ref_root
        a.tools = ["ours_before"] + a.tools
    if a.worker:
        worker(a.worker, a.data, a.cov)
        return
    record = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.platform(),
              "cpus": os.cpu_count(), "python": sys.version.split()[0], "periods": T, "cohorts": COHORTS,
              "threads": 1, "sizes": {}}
    versions = {}
    for mod in ("diff_diff", "csdid", "moderndid", "differences", "pyfixest", "pandas", "numpy"):
        try:
            from importlib.metadata import version
            versions[mod] = version(mod.replace("_", "-"))
        except Exception:  # noqa: BLE001
            versions[mod] = None
    record["versions"] = versions
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.sizes:
            path = Path(tmp) / f"panel_{n}.parquet"
            make_data(n, path)
            for mode in a.modes:
                cov = mode == "cov"
                res = {}
                for tool in (a.tools if not cov else [t for t in a.tools if t in CS_TOOLS + ["ours_before"]]):
                    print(f"[{n} {mode}] {tool} ...", file=sys.stderr, flush=True)
                    res[tool] = call(tool, path, a.timeout, cov)
                    r = res[tool]
                    print(f"    {'ok' if r.get('ok') else 'FAILED'} {r.get('seconds', float('nan')):.3f}s "
                          f"(cpu {r.get('cpu_seconds', float('nan')):.3f}s) "
                          f"peak {r.get('peak_rss_gib', float('nan')):.2f} GiB {r.get('reason', '')[:200]}",
                          file=sys.stderr, flush=True)
                ours = res.get("ours", {})
                summary = {}
                if ours.get("ok"):
                    for tool in a.tools:
                        if tool in CS_TOOLS and tool != "ours":
                            res[tool]["agreement"] = compare(ours, res[tool])
                            if res[tool].get("ok"):
                                summary[f"{tool}_over_ours"] = res[tool]["seconds"] / ours["seconds"]
                                summary[f"{tool}_over_ours_cpu"] = res[tool]["cpu_seconds"] / ours["cpu_seconds"]
                    if res.get("ours_before", {}).get("ok"):
                        summary["ours_before_over_ours"] = res["ours_before"]["seconds"] / ours["seconds"]
                        summary["ours_before_over_ours_cpu"] = (res["ours_before"]["cpu_seconds"]
                                                                / ours["cpu_seconds"])
                    gb = res.get("pandas_groupby", {})
                    if gb.get("ok"):
                        summary["ours_over_groupby"] = ours["seconds"] / gb["seconds"]
                if res.get("ours_twfe", {}).get("ok") and res.get("pyfixest", {}).get("ok"):
                    summary["pyfixest_over_ours_twfe"] = res["pyfixest"]["seconds"] / res["ours_twfe"]["seconds"]
                    summary["twfe_estimate_abs_diff"] = abs(res["pyfixest"]["aggregates"]["twfe"][0]
                                                            - res["ours_twfe"]["aggregates"]["twfe"][0])
                    summary["twfe_se_rel_diff"] = abs(res["pyfixest"]["aggregates"]["twfe"][1]
                                                      / res["ours_twfe"]["aggregates"]["twfe"][1] - 1)
                for r in res.values():
                    r.pop("gt", None)
                    r.pop("trace", None) if r.get("ok") else None
                record["sizes"][f"{n}_{mode}"] = {"tools": res, "ratios": summary}
                print(json.dumps(summary, indent=1), file=sys.stderr, flush=True)
    out = write_record(record, a.out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
