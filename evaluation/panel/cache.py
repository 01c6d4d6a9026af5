"""Built panels kept on disk between calls, so the notebooks of one render build a folder once.

:func:`evaluation.panel.load_panel` looks a panel up by a key made of the extract files (path,
size, modification time), the build options and the panel code; on a miss it builds and stores
the parquet files with the sample flow, meta and validation findings.  The cache lives in
``$EVALUATION_CACHE`` (default ``~/.cache/evaluation/panels``; ``EVALUATION_CACHE=off`` turns it
off), never in a data folder.  Entries unused for a week are removed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from .problems import Problem, ValidationReport
from .store import PanelStore

_MAX_AGE_S = 7 * 24 * 3600


def cache_root() -> Path | None:
    env = os.environ.get("EVALUATION_CACHE")
    if env is not None and env.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    root = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) \
        / "evaluation" / "panels"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return root


def _code_hash() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for f in sorted(here.glob("*.py")) + [here.parent / "schema.py"]:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def key(folder: Path, options: dict) -> str:
    """Cache key of a folder's extract files and the build options."""
    files = []
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.suffix in (".csv", ".parquet", ".gz", ".json"):
            st = p.stat()
            files.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    opts = {k: v for k, v in options.items() if not callable(v) and k not in
            ("progress", "work_dir", "memory_limit", "data_row_limit", "spark_master")}
    from .mapping import active          # the data.columns mapping a render made active
    blob = json.dumps({"files": files, "options": opts, "code": _code_hash(),
                       "columns": active(folder)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def lookup(k: str):
    """The cached panel for key ``k``, or None."""
    from .panel import Panel
    root = cache_root()
    d = root / k if root is not None else None
    if d is None or not (d / "done").is_file():
        return None
    try:
        meta = json.loads((d / "meta.json").read_text())
        flow = pd.read_parquet(d / "flow.parquet")
        flow["person_months"] = flow["person_months"].astype("Int64")
        probs = [Problem(**p) for p in json.loads((d / "problems.json").read_text())]
        os.utime(d / "done")
    except (OSError, ValueError, TypeError):
        return None
    return Panel.from_store(PanelStore(d, keep=True), flow, meta, report=ValidationReport(probs))


def save(panel, k: str) -> None:
    """Move a freshly built panel's files into the cache under key ``k`` (atomic rename)."""
    root = cache_root()
    store = panel.store
    if root is None or store is None:
        return
    src, dest = store.folder, root / k
    panel.meta["panel"]["store"] = str(dest)
    (src / "meta.json").write_text(json.dumps({"panel": panel.meta["panel"]}, default=str))
    panel.flow.to_parquet(src / "flow.parquet", index=False)
    probs = panel.report.problems if panel.report is not None else []
    (src / "problems.json").write_text(json.dumps([dataclasses.asdict(p) for p in probs], default=str))
    (src / "done").write_text("")
    try:
        src.rename(dest)
    except OSError:          # another render stored the same panel first: keep ours (temporary)
        panel.meta["panel"]["store"] = str(src)
        return
    store._finalizer.detach()
    panel.store = PanelStore(dest, keep=True)
    _evict(root)


def _evict(root: Path) -> None:
    now = time.time()
    for d in root.iterdir():
        try:
            if d.is_dir() and now - (d / "done").stat().st_mtime > _MAX_AGE_S:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue
