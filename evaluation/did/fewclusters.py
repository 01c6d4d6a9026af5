"""Few-cluster inference for a Callaway-Sant'Anna headline, side by side, and the pilot district's
panel for synthetic control: the two calls the DiD notebook makes.

* :func:`few_cluster_inference` - the CS aggregate with its cluster-robust (influence-function)
  interval, the restricted wild cluster bootstrap (:func:`evaluation.did.wild_att_gt`) and
  randomisation inference over adoption dates (:func:`evaluation.did.randomization_inference`),
  on the balanced panel att_gt uses.
* :func:`pilot_panel` - district x period means for the pilot district and the districts not yet
  treated while it is the only one treated (the window synthetic control / SDID can use).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..results import Result, TableResult
from ._data import _require_columns, group_codes, integer_time
from .randomization import randomization_inference
from .wild import wild_att_gt


def balanced_rows(data: pd.DataFrame, *, unit: str, time: str) -> pd.DataFrame:
    """Rows of the units observed in every period (what att_gt keeps by default)."""
    _require_columns(data, {"unit": unit, "time": time})
    T = data[time].nunique()
    return data[data.groupby(unit, observed=True)[time].transform("size").to_numpy() == T]


@dataclass
class FewClusterResult(TableResult):
    """One row per inference method for the same estimate; :meth:`result` returns one of them."""

    results: dict = field(default_factory=dict, repr=False)

    def result(self, which: str) -> Result:
        """``"cluster"``, ``"wild"`` or ``"randomization"``."""
        if which not in self.results:
            raise ValueError(f"inference must be one of {list(self.results)}, got {which!r}")
        return self.results[which]


def few_cluster_inference(res, data: pd.DataFrame, *, cluster: str, aggregate: str = "simple",
                          wild_weights: str = "webb", wild_draws: int = 9999,
                          ri_permutations: int | None = None, seed: int | None = None,
                          level: float = 0.95) -> FewClusterResult:
    """The CS ``aggregate`` of ``res`` with three kinds of inference (see the module docstring).

    ``data`` is the long panel ``res`` was estimated on (rows of units not observed in every
    period are left out, as att_gt does).  Randomisation inference uses the CS statistic
    (``cs_simple`` or ``cs_dynamic``) with ``res``'s control group and anticipation.
    """
    o = res.options
    if aggregate not in ("simple", "dynamic"):
        raise ValueError("aggregate must be 'simple' or 'dynamic'")
    bal = balanced_rows(data, unit=o["unit"], time=o["time"])
    agg = res.aggregate(aggregate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        wild = wild_att_gt(res, bal, cluster=cluster, aggregate=aggregate, weights=wild_weights,
                           B=wild_draws, seed=seed, level=level)
    ri = randomization_inference(bal, outcome=o["outcome"], time=o["time"], group=o["group"], cluster=cluster,
                                 statistic=f"cs_{aggregate}", control_group=o["control_group"],
                                 anticipation=o["anticipation"], n_permutations=ri_permutations, seed=seed,
                                 level=level)
    ri.n = res.n                                    # persons, as the CS result counts them
    cl_per_cohort = bal.assign(_g=group_codes(bal[o["group"]].to_numpy(), o["group"])).groupby(
        "_g", observed=True)[cluster].nunique()
    single = bool((cl_per_cohort[cl_per_cohort.index > 0] == 1).all())
    warn = ("every adoption cohort is a single cluster: cluster-based intervals rest on the comparison "
            "clusters alone and are unreliable" if single else "")
    rows = []
    for name, r, how in (("cluster", agg, f"cluster-robust (influence function) by {cluster}, normal"),
                         ("wild", wild, wild.method.split("; ", 1)[-1]),
                         ("randomization", ri, ri.method)):
        lo, hi = r.ci()
        rows.append({"inference": name, "estimate": r.estimate, "ci_low": lo, "ci_high": hi,
                     "pvalue": r.pvalue, "how": how,
                     "note": "; ".join(x for x in (warn if name != "randomization" else "",
                                                   "confidence set has gaps: interval shown is its hull"
                                                   if getattr(r, "ci_disjoint", False) else "") if x)})
    return FewClusterResult(table=pd.DataFrame(rows), method=f"CS {aggregate} aggregate, inference with "
                                                          f"{wild.n_clusters} clusters",
                            results={"cluster": agg, "wild": wild, "randomization": ri},
                            extra={"single_cluster_cohorts": single})


def pilot_panel(data: pd.DataFrame, *, outcome: str, time: str, group: str, district: str,
                pilot: str) -> pd.DataFrame:
    """District x period means (``district``, ``time``, ``outcome``, ``n`` persons, ``treated``)
    of the pilot district and every district untreated until the next district adopts.

    The window ends the period before the second adoption date (so the comparison districts are
    untreated throughout); ``treated`` is 1 for the pilot from its adoption.
    """
    _require_columns(data, {"outcome": outcome, "time": time, "group": group, "district": district})
    g = group_codes(data[group].to_numpy(), group)
    t = integer_time(data[time].to_numpy(), time)
    dist = data[district].astype(str).to_numpy()
    if pilot not in set(dist):
        raise ValueError(f"pilot district {pilot!r} not in column {district!r}; districts are {sorted(set(dist))}")
    gp = np.unique(g[dist == pilot])
    if len(gp) != 1 or gp[0] == 0:
        raise ValueError(f"the pilot district {pilot!r} must have one adoption period; found {gp.tolist()}")
    later = np.unique(g[(dist != pilot) & (g > 0)])
    if (later <= gp[0]).any():
        raise ValueError(f"district(s) adopting no later than the pilot ({gp[0]}): {later[later <= gp[0]].tolist()}; "
                         "synthetic control for the pilot needs it to be the first adopter")
    end = later.min() - 1 if len(later) else t.max()
    keep = t <= end
    cells = (pd.DataFrame({"district": dist[keep], "time": t[keep], "y": data[outcome].to_numpy(float)[keep]})
             .groupby(["district", "time"]).agg(y=("y", "mean"), n=("y", "size")).reset_index())
    cells["treated"] = ((cells["district"] == pilot) & (cells["time"] >= gp[0])).astype(int)
    return cells.rename(columns={"y": outcome, "time": time, "district": district})
