"""Generation in blocks of persons: in memory (:func:`generate`) or into parquet (:func:`generate_to`)."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import schema
from ._design import BUILDERS, CALIBRATION, DEFAULTS, Context, assign_strata, draw_frame
from ._extracts import extracts as block_extracts
from ._extracts import frames, tables
from ._io import (GENERATOR_VERSION, StagedFolder, extract_table, folder_status, meta_bytes,
                  parquet_bytes, read_marker, same_content, write_parquet)
from ._simulate import simulate
from ._streams import CHUNK, DESIGN, EXTRACT, FRAME, SIM, Streams
from ._tables import id_width
from ._truth import TRUTH_COLUMNS, add_accumulators, truth_frame

#: Person-months simulated per block by default (a block of 1,000-chunks holds about this many).
BLOCK_PERSON_MONTHS = 6_000_000


@dataclass
class SyntheticData:
    """Synthetic register extracts with their ground truth.

    Attributes
    ----------
    extracts : dict of str -> pandas.DataFrame
        One frame per extract in :data:`evaluation.schema.EXTRACTS`, with exactly its columns
        (strings as pandas ``str``, months/dates as ``datetime64[us]``, flags as ``bool``).
        Extracts the scenario does not have (``reoffending`` outside Back in the Ring) are
        empty frames with the right columns.
    truth : pandas.DataFrame
        True effects, one row per estimand x outcome x arm x cohort x period x event time x
        subgroup (columns :data:`TRUTH_COLUMNS`; see the package docstring).
    scenario : str
        One of :data:`evaluation.schema.SCENARIOS`.
    meta : dict
        JSON-serialisable facts: seed, window (``start_month``, ``end_month``, ``n_months``),
        offices, arms, design facts (allocation, rollout, take-up, providers), the headline
        truth and the generator's settings.
    """

    extracts: dict
    truth: pd.DataFrame
    scenario: str
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v):,}" for k, v in self.extracts.items())
        return f"SyntheticData(scenario={self.scenario!r}, {sizes}, truth={len(self.truth):,} rows)"

    def headline(self) -> float:
        """True value of the scenario's headline estimand (``meta["headline"]["value"]``)."""
        return float(self.meta["headline"]["value"])

    def truth_value(self, estimand: str, outcome: str, *, arm: str | None = None,
                    subgroup: str = "all", event_time: float | None = None,
                    cohort: float | None = None, period: float | None = None) -> float:
        """Look up one true value; raises ``KeyError`` naming the filters if none or several match."""
        t = self.truth
        m = (t["estimand"] == estimand) & (t["outcome"] == outcome) & (t["subgroup"] == subgroup)
        if arm is not None:
            m &= t["arm"] == arm
        for col, v in (("event_time", event_time), ("cohort", cohort), ("period", period)):
            if v is not None:
                m &= t[col] == v
        hit = t.loc[m, "value"]
        if len(hit) != 1:
            raise KeyError(f"{len(hit)} truth rows match estimand={estimand!r}, outcome={outcome!r}, "
                           f"arm={arm!r}, subgroup={subgroup!r}, event_time={event_time}, "
                           f"cohort={cohort}, period={period}; give the missing filters")
        return float(hit.iloc[0])

    def write(self, folder, *, overwrite: bool = False) -> Path:
        """Write the extracts (one parquet file each), ``truth.parquet`` and ``meta.json``.

        ``folder`` must be new, empty or one the generator created (see
        :func:`evaluation.synthetic.folder_status`); a folder holding other files raises
        :class:`~evaluation.synthetic.UnsafeFolderError` and nothing is written.  Writing the
        same data again changes nothing; different data raise ``FileExistsError`` unless
        ``overwrite=True``.  Files are staged and moved into place, so readers never see
        half-written files.

        Returns
        -------
        pathlib.Path
            The folder.
        """
        folder = Path(folder)
        payload = {f"{name}.parquet": parquet_bytes(extract_table(name, df))
                   for name, df in self.extracts.items()}
        payload["truth.parquet"] = parquet_bytes(pa.Table.from_pandas(self.truth, preserve_index=False))
        payload["meta.json"] = meta_bytes(self.meta)
        status = folder_status(folder)
        if status in ("ours", "legacy") and all(same_content(folder / f, b) for f, b in payload.items()) \
                and not any((folder / x).is_dir() for x in schema.EXTRACTS):
            return folder
        out = StagedFolder(folder, _marker_settings(self.meta), overwrite=overwrite)
        try:
            for fname, data in payload.items():
                out.path(fname).write_bytes(data)
            out.commit()
        except BaseException:
            out.abort()
            raise
        return folder


def _marker_settings(meta: dict) -> dict:
    return {"scenario": meta["scenario"], "seed": meta["seed"], "n_persons": meta["n_persons"],
            "start": meta["start_month"], "n_months": meta["n_months"],
            "effect_scale": meta["effect_scale"]}


# ==========================================================================================
# settings and blocks
# ==========================================================================================
def settings(scenario: str, *, n_persons=None, seed=1, effect_scale=1.0, start=None,
             n_months=None) -> dict:
    """Validated generator settings with the scenario's defaults filled in."""
    if scenario not in BUILDERS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {list(schema.SCENARIOS)}")
    dflt = DEFAULTS[scenario]
    n = int(dflt["n_persons"] if n_persons is None else n_persons)
    T = int(dflt["n_months"] if n_months is None else n_months)
    if n < 10:
        raise ValueError(f"n_persons={n} is too small; use at least 10 persons")
    if T < 6:
        raise ValueError(f"n_months={T} is too short; use at least 6 months")
    if not np.isfinite(effect_scale):
        raise ValueError("effect_scale must be a finite number (0 = no effect, 1 = default effects)")
    if int(seed) < 0:
        raise ValueError(f"seed={seed} is negative; use a seed >= 0")
    try:
        m0 = np.datetime64(str(dflt["start"] if start is None else start), "M")
    except ValueError:
        raise ValueError(f"start={start!r} is not a month; write it as 'YYYY-MM'") from None
    return {"scenario": scenario, "seed": int(seed), "n_persons": n, "start": str(m0),
            "n_months": T, "effect_scale": float(effect_scale)}


def block_ranges(n: int, T: int, block_size: int | None) -> list[tuple[int, int]]:
    """Person ranges of the blocks; sizes are multiples of :data:`CHUNK` (rounded up)."""
    if block_size is None:
        block_size = BLOCK_PERSON_MONTHS // max(T, 1)
    if int(block_size) < 1:
        raise ValueError(f"block_size={block_size} must be a positive number of persons")
    bs = max(CHUNK, -(-int(block_size) // CHUNK) * CHUNK)
    return [(lo, min(lo + bs, n)) for lo in range(0, n, bs)]


# ==========================================================================================
# the run
# ==========================================================================================
def _frame(key, scenario, n, T, blocks) -> dict:
    """Frame of every person (first pass), with the stratified arms of the RCTs."""
    parts = [draw_frame(Streams(key, FRAME, lo, hi), scenario, T) for lo, hi in blocks]
    frame = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    arm = assign_strata(frame, scenario, T, key)
    if arm is not None:
        frame["arm"] = arm
    frame.pop("key", None)
    return frame


def _design(key, st, frame, lo, hi, months, consts):
    fr = {k: v[lo:hi] for k, v in frame.items()}
    ctx = Context(Streams(key, DESIGN, lo, hi), fr, months, st["effect_scale"], consts)
    return BUILDERS[st["scenario"]](ctx)


def _constants(key, st, frame, months, blocks, *, workers: int = 1):
    """Population constants from the first ``min(n, CALIBRATION)`` persons; their design."""
    n_cal = min(st["n_persons"], CALIBRATION)
    consts: dict = {"intercepts": {}}
    d = _design(key, st, frame, 0, n_cal, months, consts)
    if d.select is not None and (blocks[0][1] < n_cal or workers > 1):
        # selection intercepts are solved on the calibration persons' entrants; unless the
        # first block holds them all (and runs first), simulate them up to the last entry month
        simulate(d, months, Streams(key, SIM, 0, n_cal), intercepts=consts["intercepts"],
                 calib=n_cal, stop=int(d.a.max()) + 1)
    consts["n_calibration"] = n_cal
    return consts, d


@dataclass
class _Job:
    """Everything a block needs, the same for every block (picklable for worker processes)."""
    st: dict
    key: tuple
    frame: dict
    consts: dict
    months: np.ndarray
    width: int


def _one_block(job: _Job, lo: int, hi: int) -> tuple[dict, dict, dict]:
    """Simulate the persons ``lo .. hi-1``: their extract columns, truth sums and counts."""
    T = job.st["n_months"]
    d = _design(job.key, job.st, job.frame, lo, hi, job.months, job.consts)
    calib = max(0, min(hi, job.consts["n_calibration"]) - lo)
    regs, acc = simulate(d, job.months, Streams(job.key, SIM, lo, hi),
                         intercepts=job.consts["intercepts"], calib=calib)
    if d.select is not None:      # matching scenarios: participants known after the simulation
        d.provider = np.where(d.participated, 0, -1).astype(np.int16)
        d.measure = np.where(d.participated, 0, -1).astype(np.int8)
    ex = block_extracts(d, regs, job.months, Streams(job.key, EXTRACT, lo, hi), offset=lo,
                        width=job.width)
    counts = {"arm": np.bincount(d.arm, minlength=len(d.arm_labels)),
              "participated": int(d.participated.sum()),
              "attrited": int((regs["last"] < T - 1).sum()), "late": int((regs["first"] > 0).sum()),
              "rows": sum(len(c["person_id"]) for c in ex.values() if c)}
    return ex, acc, counts


_WORKER_JOB: _Job | None = None


def _worker_init(job: _Job):
    global _WORKER_JOB
    _WORKER_JOB = job


def _worker_block(b: int, lo: int, hi: int, stage: str, n_blocks: int):
    """Worker process: one block straight to its parquet parts; return sums and counts."""
    ex, acc, counts = _one_block(_WORKER_JOB, lo, hi)
    write_parts(Path(stage), b, n_blocks, ex)
    return acc, counts


def write_parts(stage: Path, b: int, n_blocks: int, ex: dict):
    """Write block ``b``'s extracts: ``<name>.parquet`` (one block) or ``<name>/part-<b>.parquet``."""
    for name, table in tables(ex).items():
        rel = f"{name}.parquet" if n_blocks == 1 else f"{name}/part-{b:05d}.parquet"
        path = stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(table, path)


def run(st: dict, *, block_size=None, sink: Callable | None = None, stage: Path | None = None,
        progress=None, workers: int = 1) -> tuple[pd.DataFrame, dict]:
    """Generate block by block; hand each block's extracts to ``sink(block, extracts)``.

    With ``workers > 1`` the blocks run in that many processes, each writing its parquet parts
    into ``stage`` (``sink`` is not used).  Returns the truth and the meta of the population.
    """
    scenario, n, T = st["scenario"], st["n_persons"], st["n_months"]
    key = (st["seed"], schema.SCENARIOS.index(scenario))
    m0 = np.datetime64(st["start"], "M")
    months = np.arange(m0, m0 + T)
    blocks = block_ranges(n, T, block_size)
    workers = max(1, min(int(workers), len(blocks)))
    frame = _frame(key, scenario, n, T, blocks)
    consts, d = _constants(key, st, frame, months, blocks, workers=workers)
    job = _Job(st, key, frame, consts, months, id_width(n))
    total, counts = None, {"arm": 0, "participated": 0, "attrited": 0, "late": 0, "rows": 0}
    bar = _progress(progress, len(blocks), n, scenario)
    finished = []

    def done(b, acc, c):
        nonlocal total
        total = add_accumulators(total, acc)
        for k in counts:
            counts[k] = counts[k] + c[k]
        finished.append(b)
        if bar is not None:
            bar.set_postfix(blocks=f"{len(finished)}/{len(blocks)}", rows=f"{counts['rows']:,}",
                            refresh=False)
            bar.update(blocks[b][1] - blocks[b][0])

    try:
        if workers == 1:
            for b, (lo, hi) in enumerate(blocks):
                ex, acc, c = _one_block(job, lo, hi)
                sink(b, ex)
                del ex
                done(b, acc, c)
        else:
            _run_parallel(job, blocks, stage, workers, done)
    finally:
        if bar is not None:
            bar.close()
    truth = truth_frame(d, total)
    return truth, _meta(st, d, truth, counts, months)


def _run_parallel(job, blocks, stage, workers, done):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    # fork where there is fork (works from notebooks and scripts without a __main__ guard)
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method),
                             initializer=_worker_init, initargs=(job,)) as pool:
        futs = {pool.submit(_worker_block, b, lo, hi, str(stage), len(blocks)): b
                for b, (lo, hi) in enumerate(blocks)}
        for f in as_completed(futs):
            acc, c = f.result()
            done(futs[f], acc, c)


def _progress(progress, n_blocks: int, n: int, scenario: str):
    show = (n_blocks > 1) if progress is None else bool(progress)
    if not show:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=n, unit=" persons", desc=f"synthetic {scenario}", file=sys.stderr,
                unit_scale=True)


def _meta(st, d, truth, counts, months) -> dict:
    head = dict(d.headline)
    m = ((truth["estimand"] == head["estimand"]) & (truth["outcome"] == head["outcome"])
         & (truth["arm"] == head["arm"]) & (truth["subgroup"] == "all"))
    head["value"] = float(truth.loc[m, "value"].iloc[0]) if m.any() else float("nan")
    T = st["n_months"]
    return {
        "scenario": st["scenario"], "seed": st["seed"], "effect_scale": st["effect_scale"],
        "n_persons": st["n_persons"], "start_month": str(months[0]), "end_month": str(months[-1]),
        "n_months": T, "data_start": str(months[0]), "offices": list(d.cov["offices"]),
        "arms": list(d.arm_labels),
         "arm_counts": {d.arm_labels[a]: int(c) for a, c in enumerate(counts["arm"]) if c > 0},
        "n_participated": counts["participated"], "worlds": list(d.world_labels),
        "attrition_hazard": d.attrition, "n_attrited": counts["attrited"],
        "n_late_entry": counts["late"], "headline": head, "generator": "evaluation.synthetic",
        "generator_version": GENERATOR_VERSION, "truth_columns": TRUTH_COLUMNS, **d.meta,
    }


# ==========================================================================================
# public entry points
# ==========================================================================================
def generate(scenario: str, *, n_persons: int | None = None, seed: int = 1, effect_scale: float = 1.0,
             start: str | None = None, n_months: int | None = None,
             block_size: int | None = None) -> SyntheticData:
    """Simulate register extracts and the true effects for one programme scenario, in memory.

    Parameters
    ----------
    scenario : str
        One of :data:`evaluation.schema.SCENARIOS` (see the package docstring).
    n_persons : int, optional
        Number of persons (the whole study population: both arms, or participants plus the
        comparison pool).  Default per scenario in :data:`DEFAULTS`.
    seed : int, default 1
        Seed (>= 0); the same (scenario, arguments, seed) gives identical data, whatever the
        block size.
    effect_scale : float, default 1.0
        Multiplies every programme effect (on the index scale).  ``0`` gives a world without any
        effect: every truth value is exactly 0.
    start : str, optional
        First month of the window, ``"YYYY-MM"``.  Default per scenario in :data:`DEFAULTS`
        (REFINO: ``"2016-01"`` so that randomisation starts in 2018 after 24 baseline months).
    n_months : int, optional
        Length of the window in months.  The programme calendar (baseline, intake, rollout) is
        laid out in proportion when it differs from the default.
    block_size : int, optional
        Persons simulated at a time (rounded up to a multiple of ``CHUNK`` = 1,000); default
        about 6 million person-months per block.  Does not change the data.

    Returns
    -------
    SyntheticData
        Extracts, truth and meta.

    Notes
    -----
    Vectorised over the persons of a block.  For populations that do not fit in memory use
    :func:`generate_to`, which writes each block to parquet as it is done.
    """
    st = settings(scenario, n_persons=n_persons, seed=seed, effect_scale=effect_scale, start=start,
                  n_months=n_months)
    parts: list = []
    truth, meta = run(st, block_size=block_size, sink=lambda b, ex: parts.append(frames(ex)),
                      progress=False)
    if len(parts) == 1:
        extracts = parts[0]
    else:
        extracts = {name: pd.concat([p[name] for p in parts], ignore_index=True)
                    for name in schema.EXTRACTS}
    return SyntheticData(extracts=extracts, truth=truth, scenario=scenario, meta=meta)


def generate_to(folder, scenario: str, *, n_persons: int | None = None, seed: int = 1,
                effect_scale: float = 1.0, start: str | None = None, n_months: int | None = None,
                block_size: int | None = None, overwrite: bool = False,
                progress: bool | None = None, workers: int = 1) -> Path:
    """Generate a scenario block by block straight into parquet files in ``folder``.

    Memory is bounded by the block size, not by ``n_persons``.  With one block the layout is
    the one of :meth:`SyntheticData.write` (``<extract>.parquet``); with several blocks every
    extract is a folder of parts, ``<extract>/part-00000.parquet``, ``part-00001.parquet``, ...
    (plain parquet files with the same schema, rows in person order), plus ``truth.parquet``,
    ``meta.json`` and the generator's marker file.  The data are identical for every block
    size.

    ``folder`` must be new, empty or one the generator created; a folder holding other files
    raises :class:`~evaluation.synthetic.UnsafeFolderError` before anything is generated.
    Existing generated data are replaced only with ``overwrite=True``.  Everything is written
    into a staging folder first and moved into place at the end.

    Parameters
    ----------
    folder : str or path-like
    scenario, n_persons, seed, effect_scale, start, n_months, block_size
        As in :func:`generate`.
    overwrite : bool, default False
        Replace generated data already in ``folder``.
    progress : bool, optional
        Show a progress bar (persons, block, rows); default when there are several blocks.
    workers : int, default 1
        Processes simulating blocks at the same time (each holds one block in memory).  The
        data do not depend on it.

    Returns
    -------
    pathlib.Path
        The folder.
    """
    st = settings(scenario, n_persons=n_persons, seed=seed, effect_scale=effect_scale, start=start,
                  n_months=n_months)
    folder = Path(folder)
    n_blocks = len(block_ranges(st["n_persons"], st["n_months"], block_size))
    out = StagedFolder(folder, st, overwrite=overwrite)

    try:
        truth, meta = run(st, block_size=block_size, stage=out.stage, progress=progress,
                          workers=workers, sink=lambda b, ex: write_parts(out.stage, b, n_blocks, ex))
        write_parquet(pa.Table.from_pandas(truth, preserve_index=False), out.path("truth.parquet"))
        out.path("meta.json").write_bytes(meta_bytes(meta))
        out.commit()
    except BaseException:
        out.abort()
        raise
    return folder


def is_current(folder, st: dict) -> bool:
    """Does ``folder`` hold complete generated data of this generator version with settings ``st``?"""
    mk = read_marker(folder)
    return (mk.get("complete") is True and mk.get("generator_version") == GENERATOR_VERSION
            and all(mk.get(k) == v for k, v in st.items()))


def ensure(folder, scenario: str, *, n_persons: int | None = None, seed: int = 1,
           effect_scale: float = 1.0, start: str | None = None, n_months: int | None = None,
           force: bool = False, block_size: int | None = None, progress: bool | None = None) -> Path:
    """Generate into ``folder`` unless it already holds these data; never touch a folder of others.

    The folder is (re)generated when it is missing or empty, when it is the generator's but
    incomplete, of an older generator version or of other settings, or when ``force``.  A
    folder holding files the generator did not write raises
    :class:`~evaluation.synthetic.UnsafeFolderError`, with or without ``force``.
    """
    st = settings(scenario, n_persons=n_persons, seed=seed, effect_scale=effect_scale, start=start,
                  n_months=n_months)
    status = folder_status(folder)
    if status == "ours" and not force and is_current(folder, st):
        return Path(folder)
    return generate_to(folder, scenario, n_persons=st["n_persons"], seed=seed,
                       effect_scale=effect_scale, start=st["start"], n_months=st["n_months"],
                       block_size=block_size, overwrite=True, progress=progress)
