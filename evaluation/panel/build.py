"""Stage 2: link the validated extracts by person id into the person-month panel.

:func:`build_panel` validates the extracts, registers them in the engine and runs the relational
definition (:mod:`.relational`, :mod:`.outcomes`): who enters the panel, the person table, the
person-month rows with outcomes; it writes both to parquet (:mod:`.store`) and assembles the
sample flow (:mod:`.flow`) from counts computed in the engine.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from typing import TYPE_CHECKING, Mapping, Sequence

import pandas as pd

from .. import schema
from . import engine as _engine
from . import relational as rel
from ._constants import CONTROL_ARMS, MONTHLY_KEYS, OUTCOMES
from ._convert import _month_str, _parse_window
from .flow import Flow
from .outcomes import baselines
from .runner import Runner
from .problems import ValidationReport
from .store import PanelStore
from .narrow import register_narrow
from .validate import validate_extracts

if TYPE_CHECKING:  # pragma: no cover
    from .panel import Panel



def build_panel(extracts: Mapping[str, pd.DataFrame], *, window=None,
                outcomes: Sequence[str] | None = None, baseline_months: Sequence[int] = (12, 24),
                offices: Sequence[str] | None = None, lookback_months: int | None = None,
                outside_window: str = "error", linkage: str = "exclude",
                include_person_columns: bool = True, job_kept_min_share: float | None = None,
                report: ValidationReport | None = None, ranges: Mapping | None = None,
                min_link_rate: float | None = None, engine: str | None = None,
                memory_limit: str | None = None, work_dir=None, progress=None,
                data_row_limit: int | None = None, spark_master: str | None = None) -> Panel:
    """Link register extracts by person id into a person-month panel.

    Parameters
    ----------
    extracts : dict of str to DataFrame
        Register extracts (:func:`read_extracts`, or the synthetic generator's ``.extracts``).
        Not modified.
    window : (start, end), optional
        Study window, inclusive months, e.g. ``("2018-01", "2022-12")``.  Default: earliest
        ``coverage.first_month`` to latest ``coverage.last_month``.
    outcomes : sequence of str, optional
        Outcome columns to include (default: all of :data:`OUTCOMES`).
    baseline_months : sequence of int, default (12, 24)
        Baseline windows ``k``: columns ``sa_months_k`` and ``emp_months_k`` for each ``k``, and
        ``earnings_k`` and ``sa_amount_k`` for the smallest ``k``.
    offices : sequence of str, optional
        Allowed office codes (validation).
    lookback_months : int, optional
        Months of history before the window that records may have (default
        ``max(baseline_months)``).
    outside_window : {"error", "exclude"}
        Whether records dated outside the window (plus look-back) are errors or counted
        exclusions.
    linkage : {"exclude", "error"}
        Whether persons missing from an extract are counted exclusions or errors.
    include_person_columns : bool, default True
        Repeat covariates and baseline histories on every row (the :data:`schema.PANEL` layout).
        ``False`` keeps only identifiers, time, assignment and outcomes in ``data`` (the rest is in
        :meth:`Panel.persons`), which saves memory for millions of persons.
    job_kept_min_share : float, optional
        Position share a month needs to count towards ``job_kept_6m``.  Default ``None``: any
        employment (``position_share > 0``); e.g. ``0.5`` counts only months in at least a 50 %
        position (the REFINO payment condition), making ``job_kept_6m`` "in a >= 50 % position
        this month and each of the previous 5 months".
    ranges, min_link_rate
        Plausible value ranges and minimum link rate, passed to :func:`validate_extracts`.
    report : ValidationReport, optional
        A report from :func:`validate_extracts` to reuse (otherwise validation runs here).
    engine : {"duckdb", "spark", "bigquery"}, optional
        Engine that runs the relational build (:mod:`evaluation.panel.relational`); see
        :mod:`evaluation.panel.engine`.  Default ``$EVALUATION_ENGINE`` (set by a render from
        ``data.engine`` in the params file or ``--engine``), else ``"duckdb"``.
    memory_limit : str, optional
        DuckDB memory limit, e.g. ``"4GB"``; beyond it DuckDB spills to the work folder.
        Default ``$EVALUATION_MEMORY_LIMIT`` (``data.memory_limit``), else :data:`evaluation.panel.engine.DEFAULT_MEMORY_LIMIT`.
    work_dir : str or Path, optional
        Where the panel's parquet files go (default: a new folder under ``$EVALUATION_WORK`` or
        the system temp folder; never the data folder).
    progress : callable, optional
        Called with ``(stage, rows)`` as the build goes; default: a line on stderr for panels of
        more than a million person-months.
    data_row_limit : int, optional
        Largest panel :attr:`Panel.data` materialises in pandas (default
        :data:`evaluation.panel.panel.DATA_ROW_LIMIT`); use the frame methods above it.
    spark_master : str, optional
        Spark master URL for ``engine="spark"`` (else ``SPARK_MASTER`` / ``SPARK_REMOTE`` or
        local mode).

    Returns
    -------
    Panel

    Raises
    ------
    PanelValidationError
        If the extracts fail validation (every error is listed).

    Notes
    -----
    Definitions of every column are in the :mod:`evaluation.panel` docstring.  Validation runs
    on the extracts; the build itself is relational (joins, spell expansion, windows, group-bys)
    and runs in the engine, which writes the panel to parquet (:mod:`.store`); pandas only sees
    the frames asked for.
    """
    ks, outs, lookback = _options(outcomes, baseline_months, lookback_months)
    engine = _engine.check_engine(engine or os.environ.get("EVALUATION_ENGINE") or "duckdb")
    memory_limit = memory_limit or os.environ.get("EVALUATION_MEMORY_LIMIT") or _engine.DEFAULT_MEMORY_LIMIT
    n_records = sum(len(v) for k, v in extracts.items() if v is not None and k in schema.EXTRACTS)
    say = _progress(progress, n_records)
    store = PanelStore(_engine.work_dir(work_dir))
    spill = _engine.work_dir(work_dir)
    try:
        con = _engine.connect(engine, memory_limit=memory_limit, temp_dir=spill, spark_master=spark_master)
        if report is None:
            vcon = con if engine == "duckdb" else _engine.connect(
                "duckdb", memory_limit=memory_limit, temp_dir=spill)
            report = validate_extracts(extracts, window=window, offices=offices, lookback_months=lookback,
                                       outside_window=outside_window, linkage=linkage, raise_errors=True,
                                       ranges=ranges, min_link_rate=min_link_rate, con=vcon, progress=say)
        else:
            report.raise_for_errors()
        win = _parse_window(window) if window is not None else report.window
        if win is None:
            win = _coverage_window(report)
        say("narrow tables", None)
        t = register_narrow(con, report, spill)
        counts = _run(con, t, win, ks, outs, job_kept_min_share, include_person_columns, store, say)
        if engine == "duckdb":
            con.disconnect()
    except Exception as exc:
        if _engine.out_of_memory(exc):
            raise _engine.EngineError(
                f"{engine} ran out of memory building the panel (memory_limit={memory_limit!r}): "
                f"{str(exc).splitlines()[0][:200]}. Fix: raise memory_limit (data: memory_limit: in "
                "the params file), free memory, or use engine: spark for data beyond one machine") from None
        raise
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    ex = {k: v for k, v in report.rows.items() if k in schema.EXTRACTS}
    meta = {"panel": {
        "window": [_month_str(win[0]), _month_str(win[1])], "n_periods": win[1] - win[0] + 1,
        "n_persons": counts["K"], "n_person_months": counts["total"],
        "data_start": _month_str(counts["data_start"]), "baseline_months": ks,
        "lookback_months": lookback, "outcomes": outs, "job_kept_min_share": job_kept_min_share,
        "extracts": {k: {"rows": int(n), "source": extracts[k].attrs.get("source") if k in extracts else None}
                     for k, n in ex.items()},
        "missing_extracts": [n_ for n_ in schema.EXTRACTS if n_ not in ex],
        "control_arms": list(CONTROL_ARMS),
        "warnings": [str(p) for p in report.warnings],
        "engine": engine, "store": str(store.folder),
    }}
    from .panel import Panel
    return Panel.from_store(store, counts["flow"], meta, report=report, data_row_limit=data_row_limit)


def _progress(progress, n_records):
    if progress is not None:
        return progress
    if n_records < 1_000_000:
        return lambda stage, rows=None: None
    t0 = time.perf_counter()

    def say(stage, rows=None):
        extra = f", {rows:,} rows" if rows is not None else ""
        print(f"[panel {time.perf_counter() - t0:6.1f}s] {stage}{extra}", file=sys.stderr, flush=True)
    return say


def _coverage_window(report) -> tuple[int, int]:
    """Earliest first_month to latest last_month (month indices), computed in the engine."""
    from .validate import month_index
    c = report.extracts["coverage"]
    r = c.aggregate(a=month_index(c.first_month).min(), b=month_index(c.last_month).max()).to_pandas().iloc[0]
    return int(r["a"]), int(r["b"])


def _run(con, t, win, ks, outs, min_share, include_person_columns, store, say) -> dict:
    """The relational build in the engine, from the registered narrow extracts ``t`` (name ->
    engine table with the columns and types of :data:`.relational._TYPES`, as
    :func:`.narrow.register_narrow` makes them): population, persons, person-months, flow counts."""
    ws, we = win
    shape = {"engine": con.name, "win": win, "ks": ks, "outs": outs, "min_share": min_share,
             "person_cols": include_person_columns, "extracts": sorted(t),
             "columns": {k: list(v.columns) for k, v in t.items()}}
    run = Runner(con, shape)

    F = run.table("population", "_ev_F", lambda: rel.population(t, ws, we)[0])
    pop = run.frame("population_counts", lambda: rel.population_counts(F).cross_join(rel.data_start(t))).iloc[0]
    say("population", _int(pop["total"]))
    start = ws if pd_isna(pop["start"]) else int(pop["start"])
    run.shape += f"-start{start}"
    P0 = run.table("persons0", "_ev_P0", lambda: rel.person_table(
        t, F.filter(F.step == 5).select("person_id"), ws, we, ks, start))
    P = run.table("persons", "_ev_P", lambda: baselines(t, P0, ks))
    run.drop("_ev_P0", "_ev_F", "_ev_ids")    # validation's id table too: only the population used it
    counts = run.frame("counts", lambda: rel.record_flow(t, P, ws, we).cross_join(
        rel.person_month_flow(P, ws, we)))
    pmf = counts.iloc[0]
    say("persons", int(pmf["K"]))
    order = [*MONTHLY_KEYS, "jobseeker_spells"]
    rec = {r["extract"]: r for _, r in counts.sort_values(
        "extract", key=lambda s: s.map(order.index)).iterrows()}
    run.write("persons_out", lambda: rel.persons_out(P, ks), store.persons_path)
    _person_months(run, t, P, win, (ks, outs, min_share, include_person_columns), store, say,
                   int(pmf["K"]), _int(pmf["total"]))
    say("person-months written", _int(pmf["total"]))
    flow = _flow(pop, pmf, rec, we - ws + 1)
    return {"K": int(pmf["K"]), "total": _int(pmf["total"]), "data_start": start, "flow": flow}


#: Bytes of engine memory a person-month row of a bucket may take (DuckDB): the persons are
#: cut into buckets of at most ``memory_limit / BUCKET_ROW_BYTES`` person-months, each built by
#: one query and written as its own part file (see :func:`_person_months`).  At 10M persons and
#: memory_limit 4GB, 400 gives 37 buckets of 270k persons: the buckets took 162 s against 183 s
#: for 91 buckets with 1000 (same machine, back to back), at the same peak (4.1 GiB; DuckDB
#: holds the limit).
BUCKET_ROW_BYTES = 400


def _n_buckets(run, total: int) -> int:
    """Buckets for ``total`` person-months: enough to keep each under the memory limit
    (one on engines without a limit, e.g. Spark)."""
    limit = run.memory_limit()
    if limit is None or total <= 0:
        return 1
    return max(1, -(-total * BUCKET_ROW_BYTES // limit))


def _person_months(run, t, P, win, opts, store, say, K: int, total: int) -> None:
    """The person-month rows written to ``panel/part-NNNNN.parquet``, sorted by person and month.

    With one bucket the panel is one query.  With more, the keyed inputs (:func:`.relational.keyed`)
    are first written once, partitioned by bucket of persons (consecutive ranks of
    ``person_id``); then each bucket is one query over its own files, writing one part file
    already sorted, so the part files in name order are the panel in person and month order and
    no join or sort ever holds more than one bucket.
    """
    ws, we = win
    ks, outs, min_share, person_cols = opts
    store.write_layout(*rel.panel_columns(ks, outs, person_cols))
    n = _n_buckets(run, total)
    per = max(1, -(-K // n))
    n = max(1, -(-K // per))
    if n == 1:
        run.write("panel_out", lambda: rel.panel_rows(rel.keyed(t, P, ks), ws, we, outs, min_share),
                  store.panel_dir / "part-00000.parquet", folder=True)
        return
    say(f"person-months in {n} buckets of {per:,} persons", total)
    tmp = store.folder / "_buckets"
    names = list(rel.keyed(t, P, ks, per))
    for name in names:
        run.partition(f"keyed-{name}-{per}", lambda name=name: rel.keyed(t, P, ks, per)[name], tmp / name,
                      row_group_size=max(2048, per // 16) if name == "P" else 122_880)
        say(f"keyed {name} written by bucket")
    try:
        done = 0
        for i in range(n):
            b = {name: run.bucket_view(f"keyed-{name}-{per}", lambda name=name: rel.keyed(t, P, ks, per)[name],
                                       tmp / name, i, f"_ev_b_{name}") for name in names}
            done += run.write("panel_bucket", lambda: rel.panel_rows(b, ws, we, outs, min_share),
                              store.panel_dir / f"part-{i:05d}.parquet") or 0
            say(f"bucket {i + 1}/{n} written", done)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pd_isna(v) -> bool:
    import pandas as pd
    return v is None or bool(pd.isna(v))


def _int(v) -> int:
    return 0 if pd_isna(v) else int(v)


def _flow(pop, pmf, rec, T):
    """The sample-flow table from the engine's counts (order and wording as documented)."""
    fl = Flow()
    fl.add("persons", "total", "persons in any extract", _int(pop["total"]), _int(pop["total_pm"]))
    for k, reason in ((1, "no assignment record"), (2, "no covariates (not in persons)"),
                      (3, "no coverage record")):
        fl.add("persons", "excluded", reason, _int(pop[f"n{k}"]), _int(pop[f"pm{k}"]))
    fl.add("persons", "excluded", "coverage does not overlap the study window", _int(pop["n4"]), 0)
    K, total = _int(pmf["K"]), _int(pmf["total"])
    fl.add("persons", "kept", "persons in the panel", K, total)
    fl.add("person-months", "total", "kept persons x window months", K, K * T)
    fl.add("person-months", "excluded", "months before first_month (late entry, not observed)",
           _int(pmf["late_p"]), _int(pmf["late_n"]))
    fl.add("person-months", "excluded", "months after last_month (attrition, not observed)",
           _int(pmf["attr_p"]), _int(pmf["attr_n"]))
    fl.add("person-months", "kept", "person-months in the panel", K, total)
    if _int(pmf["out_n"]):
        fl.add("records", "info", "coverage months of kept persons outside the study window (not in panel)",
               _int(pmf["out_p"]), _int(pmf["out_n"]))
    for name, r in rec.items():
        if name == "jobseeker_spells":
            continue
        for key, kind, reason in (("notin", "excluded", "records of persons not in the panel"),
                                  ("before", "info", "records before the window (baseline history only)"),
                                  ("after", "excluded", "records after the window end"),
                                  ("outcov", "excluded", "records in months outside the person's coverage")):
            if _int(r[f"{key}_n"]):
                fl.add("records", kind, f"{name}: {reason}", _int(r[f"{key}_p"]), _int(r[f"{key}_n"]))
    if "jobseeker_spells" in rec and _int(rec["jobseeker_spells"]["notin_n"]):
        r = rec["jobseeker_spells"]
        fl.add("records", "excluded", "jobseeker_spells: spells of persons not in the panel",
               _int(r["notin_p"]), _int(r["notin_n"]))
    if _int(pmf["coh_p"]):
        fl.add("persons", "info", "treated persons assigned before the window or without assigned_month "
               "(cohort missing)", _int(pmf["coh_p"]), _int(pmf["coh_n"]))
    return fl.frame()


def _options(outcomes, baseline_months, lookback_months):
    """Checked baseline windows (sorted), outcome list and look-back."""
    ks = sorted({int(k) for k in baseline_months})
    if not ks or ks[0] < 1:
        raise ValueError(f"baseline_months must be positive integers, got {baseline_months!r}")
    if outcomes is None:
        outs = list(OUTCOMES)
    else:
        outs = list(outcomes)
        unknown = [o for o in outs if o not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}; available: {list(OUTCOMES)}")
    lookback = ks[-1] if lookback_months is None else int(lookback_months)
    return ks, outs, lookback


