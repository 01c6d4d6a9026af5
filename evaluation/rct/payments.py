"""Provider payments under REFINO's staged 20/40/40 rule, per trial arm (a simple table).

The full outcome-contract engine is :mod:`evaluation.contracts`; this is the trial notebook's
side-by-side view: what the rule would pay per arm, so that payments in the control arm show the
"deadweight" (outcomes that happen without the programme) next to the effect.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ._prep import require_columns
from ._results import RCTTable

__all__ = ["staged_payments"]


def staged_payments(data: pd.DataFrame, *, price: float, treatment: str = "arm",
                    person: str = "person_id", event_time: str = "event_time",
                    mapping: str = "mapping_month", job: str = "employed_50", kept: str = "job_kept_6m",
                    shares: Sequence[float] = (0.2, 0.4, 0.4), horizon: int | None = None,
                    assignment: pd.DataFrame | None = None) -> RCTTable:
    """Payments per arm under a staged per-participant rule (REFINO: 20 % / 40 % / 40 % of ``price``).

    Stages per person: (1) the initial mapping is done (``mapping`` column: a date/month that is not
    missing, or a 0/1 flag); (2) a job of at least a 50 % position — the first month with ``job`` true
    at ``event_time ≥ 0`` (within ``horizon`` months if given); (3) the job kept — any month with
    ``kept`` true at ``event_time ≥ 0``.  Each stage pays its share of ``price`` once.

    ``mapping`` may live in a separate ``assignment`` frame (one row per person, e.g. the assignment
    extract) if the panel does not carry it.  Returns one row per arm with persons, stage counts,
    amounts, total and payment per person.
    """
    if len(shares) != 3:
        raise ValueError("shares must have three stage shares (mapping, job, job kept)")
    require_columns(data, [treatment, person, event_time, job, kept])
    d = data.loc[data[event_time] >= 0]
    if horizon is not None:
        d = d.loc[d[event_time] <= horizon]
    base = data.drop_duplicates(person)[[person, treatment]].set_index(person)
    if mapping in data.columns:
        mp = data.drop_duplicates(person).set_index(person)[mapping]
    elif assignment is not None and mapping in assignment.columns:
        mp = assignment.drop_duplicates(person).set_index(person)[mapping]
    else:
        raise ValueError(f"mapping column '{mapping}' found neither in data nor in assignment=; pass the "
                         "assignment extract (person_id, mapping_month)")
    mp = mp.reindex(base.index)
    if pd.api.types.is_bool_dtype(mp) or pd.api.types.is_numeric_dtype(mp):
        mapped = mp.fillna(0).astype(bool)
    else:
        mapped = mp.notna()
    got_job = d.loc[d[job].astype(bool)].groupby(person)[event_time].min()
    got_kept = d.loc[d[kept].astype(bool)].groupby(person)[event_time].min()
    per = base.assign(mapped=mapped.to_numpy(),
                      job=base.index.isin(got_job.index), kept=base.index.isin(got_kept.index))
    s1, s2, s3 = (float(x) * float(price) for x in shares)
    g = per.groupby(treatment)
    table = pd.DataFrame({"n_persons": g.size(), "n_mapping": g["mapped"].sum(), "n_job": g["job"].sum(),
                          "n_job_kept": g["kept"].sum()})
    table["paid_mapping"] = table["n_mapping"] * s1
    table["paid_job"] = table["n_job"] * s2
    table["paid_job_kept"] = table["n_job_kept"] * s3
    table["paid_total"] = table[["paid_mapping", "paid_job", "paid_job_kept"]].sum(axis=1)
    table["paid_per_person"] = table["paid_total"] / table["n_persons"]
    table["share_of_max"] = table["paid_total"] / (table["n_persons"] * float(price))
    table = table.reset_index().rename(columns={treatment: "arm"})
    table["arm"] = table["arm"].astype(str)
    for c in ("n_persons", "n_mapping", "n_job", "n_job_kept"):
        table[c] = table[c].astype(int)
    return RCTTable(table, method=f"Staged payments {'/'.join(f'{x:g}' for x in shares)} of price {price:g}",
                    extra={"price": float(price), "horizon": -1 if horizon is None else int(horizon)})
