"""Benchmark: trial estimators (evaluation.rct.itt, difference_in_means) against peer OLS libraries.

Simulated person-level trials (n persons, binary treatment, 8 numeric covariates, 2,000 clusters),
written once per size and read by every tool in its own subprocess (clean peak RSS).  Specs:

* ``ancova``  ITT  ``y ~ z + x1..x8``, HC2.
* ``lin``     ITT  ``y ~ z + xc1..xc8 + z:xc1..z:xc8`` (covariates centred, Lin 2013), HC2.
* ``dim``     difference in means (Neyman SE = HC2 of ``y ~ z``).
* ``ancova_cl`` (smallest size only) cluster-randomised ``yc ~ zc + x1..x8`` with 2,000 clusters:
  ours with CR2 (estimatr default, Bell-McCaffrey df) and with CR1 (= Stata/statsmodels "cluster");
  peers with their CR1.
* ``dim_cl`` (smallest size only) clustered difference in means (ours CR2) vs peers' CR1 of
  ``yc ~ zc``.

Peers: statsmodels ``OLS`` (``cov_type="HC2"`` / ``"cluster"``), linearmodels ``OLS``
(``"robust"`` / ``"clustered"``, ``debiased=True``, i.e. HC1 / CR1 — linearmodels has no HC2),
pyfixest ``feols`` (``vcov="HC2"`` with ``ssc(k_adj=False)`` — its default multiplies HC2 by
n/(n-k) — and ``{"CRV1": cl}``).  Peers get the design as numpy arrays / plain columns built
inside the timed region (the centring and interactions for ``lin`` included), which is the
cheapest way to call them; ours takes the DataFrame and column names.

Agreement: the treatment coefficient of every peer is compared with ours (must agree to 1e-8);
the SE is compared where the peer computes the same quantity (HC2: statsmodels, pyfixest;
CR1: statsmodels, linearmodels, pyfixest vs our CR1); other SE differences are recorded for
information only.

    python benchmarks/bench_rct.py                  # 100k and 1M persons
    python benchmarks/bench_rct.py --sizes 20000    # quick

Writes benchmarks/results/rct.json (atomic replace).  Times exclude reading the data file and
include everything from the DataFrame to the estimate and SE; peak RSS is the subprocess's
maximum resident set size (including the data), with the RSS after loading recorded separately.
One BLAS thread everywhere (OMP/OPENBLAS/MKL_NUM_THREADS=1).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
from _harness import RESULT_TAG, machine_record, rss_gb, run_worker, write_record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "rct.json"
K = 8
N_CLUSTERS = 2000
COVS = [f"x{j}" for j in range(1, K + 1)]
SPECS = ["ancova", "lin", "dim"]
CL_SPECS = ["ancova_cl", "dim_cl"]
LIBS = ["ours", "statsmodels", "linearmodels", "pyfixest"]
# SE of the peer is the same quantity as ours (ours_cr1 for the CR1 peers)
SAME_SE = {("statsmodels", "ancova"), ("statsmodels", "lin"), ("statsmodels", "dim"),
           ("pyfixest", "ancova"), ("pyfixest", "lin"), ("pyfixest", "dim")}
PEER_SE = {"statsmodels": {"ancova": "HC2", "lin": "HC2", "dim": "HC2", "ancova_cl": "CR1", "dim_cl": "CR1"},
           "linearmodels": {"ancova": "HC1", "lin": "HC1", "dim": "HC1", "ancova_cl": "CR1", "dim_cl": "CR1"},
           "pyfixest": {"ancova": "HC2", "lin": "HC2", "dim": "HC2", "ancova_cl": "CR1", "dim_cl": "CR1"}}


def make_data(n: int, path: Path, seed: int = 20261124) -> None:
    import pandas as pd
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, K))
    X[:, 0] = rng.integers(18, 65, n)                      # age-like
    X[:, 1] = (rng.random(n) < 0.4).astype(float)          # binary
    X[:, 2] = rng.gamma(2.0, 1.5, n)                       # skewed (earnings-like)
    b = np.linspace(0.3, -0.2, K) / np.r_[15.0, np.ones(K - 1)]
    z = (rng.random(n) < 0.5).astype(float)
    cl = rng.integers(0, N_CLUSTERS, n)
    zc = (rng.random(N_CLUSTERS) < 0.5).astype(float)[cl]
    u = rng.normal(size=n) * (1 + 0.3 * X[:, 1])            # heteroskedastic
    y = 1.0 + 0.1 * z + X @ b + 0.05 * z * (X[:, 3]) + u
    yc = 1.0 + 0.1 * zc + X @ b + 0.3 * rng.normal(size=N_CLUSTERS)[cl] + u
    df = pd.DataFrame(X, columns=COVS)
    df["z"], df["y"], df["cl"], df["zc"], df["yc"] = z, y, cl, zc, yc
    df.to_parquet(path)


def _cols(spec: str):
    return ("yc", "zc") if spec.endswith("_cl") else ("y", "z")


def _design(df, spec: str) -> np.ndarray:
    """Numpy design for the peers: intercept, treatment (column 1), covariates [, interactions]."""
    y, z = _cols(spec)
    n = len(df)
    zz = df[z].to_numpy(dtype=float)
    if spec.startswith("dim"):
        return np.column_stack([np.ones(n), zz])
    Xc = df[COVS].to_numpy(dtype=float)
    if spec == "lin":
        Xc = Xc - Xc.mean(axis=0)
        return np.column_stack([np.ones(n), zz, Xc, zz[:, None] * Xc])
    return np.column_stack([np.ones(n), zz, Xc])


# ---------------------------------------------------------------------------- workers
def run_ours(df, spec, se_type=None):
    from evaluation.rct import difference_in_means, itt
    y, z = _cols(spec)
    cl = "cl" if spec.endswith("_cl") else None
    t0 = time.perf_counter()
    if spec.startswith("dim"):
        r = difference_in_means(df, outcome=y, treatment=z, clusters=cl)
    else:
        method = "lin" if spec == "lin" else "ancova"
        r = itt(df, outcome=y, treatment=z, covariates=COVS, method=method,
                se_type=se_type or ("CR2" if cl else "HC2"), clusters=cl)
    el = time.perf_counter() - t0
    return el, float(r.estimate), float(r.se), r.design


def run_ours_cr1(df, spec):
    return run_ours(df, spec, se_type="CR1")


def run_statsmodels(df, spec):
    import statsmodels.api as sm
    y, _ = _cols(spec)
    t0 = time.perf_counter()
    X = _design(df, spec)
    m = sm.OLS(df[y].to_numpy(dtype=float), X)
    if spec.endswith("_cl"):
        f = m.fit(cov_type="cluster", cov_kwds={"groups": df["cl"].to_numpy()})
    else:
        f = m.fit(cov_type="HC2")
    est, se = float(f.params[1]), float(f.bse[1])
    return time.perf_counter() - t0, est, se, PEER_SE["statsmodels"][spec]


def run_linearmodels(df, spec):
    from linearmodels import OLS
    y, _ = _cols(spec)
    t0 = time.perf_counter()
    X = _design(df, spec)
    m = OLS(df[y].to_numpy(dtype=float), X)
    if spec.endswith("_cl"):
        f = m.fit(cov_type="clustered", clusters=df["cl"].to_numpy(), debiased=True)
    else:
        f = m.fit(cov_type="robust", debiased=True)
    est, se = float(np.asarray(f.params)[1]), float(np.asarray(f.std_errors)[1])
    return time.perf_counter() - t0, est, se, PEER_SE["linearmodels"][spec]


def run_pyfixest(df, spec):
    import pyfixest as pf
    y, z = _cols(spec)
    t0 = time.perf_counter()
    if spec.startswith("dim"):
        d, rhs = df[[y, z, "cl"]], z
    elif spec == "lin":
        d = df[[y, z]].copy()
        xc = df[COVS] - df[COVS].mean()
        for c in COVS:
            d[f"{c}c"] = xc[c]
            d[f"z_{c}c"] = xc[c] * df[z]
        rhs = " + ".join([z] + [f"{c}c" for c in COVS] + [f"z_{c}c" for c in COVS])
    else:
        d, rhs = df[[y, z, "cl"] + COVS], " + ".join([z] + COVS)
    if spec.endswith("_cl"):
        f = pf.feols(f"{y} ~ {rhs}", data=d, vcov={"CRV1": "cl"})
    else:
        f = pf.feols(f"{y} ~ {rhs}", data=d, vcov="HC2", ssc=pf.ssc(k_adj=False))
    est, se = float(f.coef()[z]), float(f.se()[z])
    return time.perf_counter() - t0, est, se, PEER_SE["pyfixest"][spec]


WORKERS = {"ours": run_ours, "ours_cr1": run_ours_cr1, "statsmodels": run_statsmodels,
           "linearmodels": run_linearmodels, "pyfixest": run_pyfixest}


def worker(tool: str, spec: str, path: str) -> None:
    import warnings
    warnings.simplefilter("ignore")
    import pandas as pd
    df = pd.read_parquet(path)
    base = rss_gb()
    try:
        # warm-up on a small slice (imports, JIT compilation) so the timing measures the fit
        small = df.iloc[:5000].reset_index(drop=True)
        WORKERS[tool](small, spec)
        el, est, se, se_type = WORKERS[tool](df, spec)
        out = {"ok": True, "seconds": el, "estimate": est, "se": se, "se_type": se_type}
    except Exception as e:  # noqa: BLE001
        out = {"ok": False, "reason": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]}
    out.update({"peak_rss_gib": rss_gb(), "rss_after_load_gib": base})
    print(RESULT_TAG + json.dumps(out))


def call(tool: str, spec: str, path: Path, timeout: float) -> dict:
    return run_worker(["--worker", tool, "--spec", spec, "--data", str(path)],
                      script=__file__, root=ROOT, timeout=timeout)


def compare(ref: dict, other: dict, same_se: bool) -> dict:
    if not (ref.get("ok") and other.get("ok")):
        return {}
    out = {"estimate_abs_diff": abs(other["estimate"] - ref["estimate"]),
           "se_rel_diff": abs(other["se"] / ref["se"] - 1), "se_same_quantity": same_se,
           "se_compared": f"{other['se_type']} vs ours {ref['se_type']}"}
    out["estimate_agree_1e-8"] = bool(out["estimate_abs_diff"] < 1e-8)
    if same_se:
        out["se_agree_1e-8_rel"] = bool(out["se_rel_diff"] < 1e-8)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--spec")
    ap.add_argument("--data")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--libs", nargs="+", default=LIBS)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    if a.worker:
        worker(a.worker, a.spec, a.data)
        return
    t_start = time.perf_counter()
    record = machine_record(covariates=K, clusters=N_CLUSTERS, threads=1,
              notes=["clustered specs (ancova_cl with CR2 and CR1, dim_cl with CR2) only at the "
                        "smallest size",
                        "linearmodels has no HC2: its 'robust' with debiased=True is HC1, so its SE is "
                        "not compared (recorded for information)",
                        "pyfixest HC2 is called with ssc(k_adj=False); its default multiplies HC2 by n/(n-k)",
                        "peers' CR1 is compared with our CR1 (ours_cr1); our CR2 is timed as ours"],
              sizes={})
    versions = {}
    for mod in ("statsmodels", "linearmodels", "pyfixest", "pandas", "numpy", "scipy"):
        try:
            from importlib.metadata import version
            versions[mod] = version(mod)
        except Exception:  # noqa: BLE001
            versions[mod] = None
    record["versions"] = versions
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(a.sizes):
            path = Path(tmp) / f"trial_{n}.parquet"
            make_data(n, path)
            specs = SPECS + (CL_SPECS if i == 0 else [])
            block = {}
            for spec in specs:
                tools = list(a.libs) + (["ours_cr1"] if spec == "ancova_cl" and "ours" in a.libs else [])
                res = {}
                for tool in tools:
                    print(f"[{n}] {spec} {tool} ...", file=sys.stderr, flush=True)
                    r = res[tool] = call(tool, spec, path, a.timeout)
                    print(f"    {'ok' if r.get('ok') else 'FAILED'} {r.get('seconds', float('nan')):.3f}s "
                          f"peak {r.get('peak_rss_gib', float('nan')):.2f} GiB est {r.get('estimate')} "
                          f"se {r.get('se')} {r.get('reason', '')[:200]}", file=sys.stderr, flush=True)
                ours = res.get("ours", {})
                ratios = {}
                for tool, r in res.items():
                    if tool in ("ours", "ours_cr1") or not r.get("ok"):
                        continue
                    if spec.endswith("_cl"):
                        ref = res.get("ours_cr1") if spec == "ancova_cl" else ours
                        same = spec == "ancova_cl"
                    else:
                        ref, same = ours, (tool, spec) in SAME_SE
                    r["agreement"] = compare(ref or {}, r, same)
                    if ours.get("ok"):
                        ratios[f"{tool}_over_ours_seconds"] = r["seconds"] / ours["seconds"]
                        ratios[f"{tool}_over_ours_peak_rss"] = r["peak_rss_gib"] / ours["peak_rss_gib"]
                        d_ours = ours["peak_rss_gib"] - ours["rss_after_load_gib"]
                        d_peer = r["peak_rss_gib"] - r["rss_after_load_gib"]
                        if d_ours > 0.005:
                            ratios[f"{tool}_over_ours_rss_above_load"] = d_peer / d_ours
                if spec == "ancova_cl" and ours.get("ok") and res.get("ours_cr1", {}).get("ok"):
                    ratios["ours_cr2_over_ours_cr1_seconds"] = ours["seconds"] / res["ours_cr1"]["seconds"]
                    res["ours_cr1"]["agreement"] = compare(ours, res["ours_cr1"], False)
                for r in res.values():
                    r.pop("trace", None) if r.get("ok") else None
                block[spec] = {"tools": res, "ratios": ratios}
                print(json.dumps(ratios, indent=1), file=sys.stderr, flush=True)
            record["sizes"][str(n)] = block
    record["total_wall_seconds"] = time.perf_counter() - t_start
    record["load_average_at_end"] = list(os.getloadavg())   # other jobs on the machine distort times
    out = write_record(record, a.out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
