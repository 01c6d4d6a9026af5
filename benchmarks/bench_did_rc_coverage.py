"""Monte Carlo check of the repeated-cross-section DR DiD standard error (issue 13, item 7).

R DRDID's ``drdid_rc`` adds the estimation effect of the pre-period control outcome regression to
the influence function where the derivation subtracts it.  This script draws two-period repeated
cross-sections with a known ATT (= 1) and compares, over many draws, the standard deviation of
the estimates with the mean standard error and the coverage of the 95 % interval from

* ``correct``: :func:`evaluation.did._drdid.dr_rc` (the derivation's sign, as csdid), and
* ``R``: the same with R's sign (``r_pre_sign=+1``).

Designs (x ~ N(0, 1); outcome regression linear in x, so DR is consistent in all of them):

* ``ps_correct``   propensity score logit-linear in x (correctly specified): the two agree
  asymptotically (the difference is the pre-period covariate imbalance after weighting);
* ``ps_misspec``   propensity score quadratic in x, fitted linear; noisy pre-period controls;
* ``ps_misspec_big`` the same with n = 4000.

Usage::

    python benchmarks/bench_did_rc_coverage.py --reps 5000

Output: ``benchmarks/results/did_rc_coverage.json`` (atomic) with, per design and variant, the
mean SE / Monte Carlo SD, the coverage and its Clopper-Pearson 95 % interval.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._harness import write_record  # noqa: E402
from evaluation.did import _drdid  # noqa: E402


def draw(rng, n, misspec):
    x = rng.normal(size=n)
    idx = (-1.0 + 1.5 * x ** 2 - x) if misspec else (-0.5 + 0.8 * x)
    D = (rng.random(n) < 1 / (1 + np.exp(-idx))).astype(float)
    post = (rng.random(n) < 0.5).astype(float)
    sd = np.where((D == 0) & (post == 0), 3.0, 1.0)
    y = 1 + x + 0.5 * post + D * (0.3 + 1.0 * post) + sd * rng.normal(size=n)
    return y, post, D, np.column_stack([np.ones(n), x])


def clopper_pearson(k, n, level=0.95):
    a = 1 - level
    lo = stats.beta.ppf(a / 2, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def run(design, n, misspec, reps, seed):
    rng = np.random.default_rng(seed)
    att, se, se_r = np.empty(reps), np.empty(reps), np.empty(reps)
    for r in range(reps):
        y, post, D, X = draw(rng, n, misspec)
        w = np.ones(n)
        att[r], inf = _drdid.dr_rc(y, post, D, X, w)
        inf_r = _drdid.dr_rc(y, post, D, X, w, r_pre_sign=1.0)[1]
        se[r], se_r[r] = np.sqrt(np.mean(inf ** 2) / n), np.sqrt(np.mean(inf_r ** 2) / n)
    sd = float(att.std(ddof=1))
    z = stats.norm.ppf(0.975)
    out = {"n": n, "reps": reps, "true_att": 1.0, "mean_att": float(att.mean()), "mc_sd": sd}
    for name, s in (("correct", se), ("R", se_r)):
        k = int(np.sum(np.abs(att - 1.0) <= z * s))
        out[name] = {"mean_se": float(s.mean()), "se_over_sd": float(s.mean() / sd),
                     "coverage": k / reps, "coverage_ci": clopper_pearson(k, reps)}
    print(f"{design:15s} n={n:5d} sd={sd:.4f}  correct: se/sd={out['correct']['se_over_sd']:.3f} "
          f"cov={out['correct']['coverage']:.3f}   R: se/sd={out['R']['se_over_sd']:.3f} "
          f"cov={out['R']['coverage']:.3f}", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "did_rc_coverage.json"))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    designs = {"ps_correct": (1000, False), "ps_misspec": (1000, True), "ps_misspec_big": (4000, True)}
    res = {k: run(k, n, m, a.reps, seed=i + 1) for i, (k, (n, m)) in enumerate(designs.items())}
    write_record({"benchmark": "did_rc_coverage", "python": platform.python_version(),
                  "seconds": time.perf_counter() - t0, "designs": res}, a.out)


if __name__ == "__main__":
    main()
