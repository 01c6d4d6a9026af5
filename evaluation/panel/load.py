"""Read, validate and build a folder of extracts into a :class:`Panel` (:func:`load_panel`)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from . import cache as _cache
from .build import build_panel
from .panel import Panel
from .read import read_extracts


def _window_from_meta(meta: dict):
    for a, b in (("window_start", "window_end"), ("start_month", "end_month"),
                 ("study_start", "study_end"), ("start", "end")):
        if a in meta and b in meta:
            return (meta[a], meta[b])
    w = meta.get("window")
    if isinstance(w, (list, tuple)) and len(w) == 2:
        return tuple(w)
    if isinstance(w, dict) and "start" in w and "end" in w:
        return (w["start"], w["end"])
    return None


def load_panel(folder, *, window=None, names: Sequence[str] | None = None,
               large_file_mb: float = 200.0, offices: Sequence[str] | None = None, **kw) -> Panel:
    """Read, validate and link the extracts in a folder into a :class:`Panel`.

    Also loads ``truth.parquet`` (:attr:`Panel.truth`) and ``meta.json`` (merged into
    :attr:`Panel.meta`) when present.  Without ``window``, the window is taken from ``meta.json``
    (keys ``window_start``/``window_end``, ``start_month``/``end_month`` or ``window``) or else
    from the coverage extract; without ``offices``, a list under ``meta.json["offices"]`` is used.

    Parameters
    ----------
    folder : str or Path
        e.g. ``data/synthetic/refino``.
    window, offices, **kw
        Passed to :func:`build_panel`.
    names, large_file_mb
        Passed to :func:`read_extracts`.

    Returns
    -------
    Panel

    Notes
    -----
    A panel built from the same files (path, size, modification time) with the same options is
    reused from the cache (:mod:`evaluation.panel.cache`), so the notebooks of one render build
    a folder once.
    """
    folder = Path(folder)
    meta: dict = {}
    if (folder / "meta.json").is_file():
        with open(folder / "meta.json", encoding="utf-8") as fh:
            meta = json.load(fh)
    truth = pd.read_parquet(folder / "truth.parquet") if (folder / "truth.parquet").is_file() else None
    if window is None:
        window = _window_from_meta(meta)
    if offices is None and isinstance(meta.get("offices"), list):
        offices = meta["offices"]
    engine = kw.get("engine") or os.environ.get("EVALUATION_ENGINE") or "duckdb"
    k = _cache.key(folder, {"window": window, "offices": offices, "names": names, **kw,
                            "engine": engine}) \
        if _cache.cache_root() is not None and kw.get("report") is None else None
    panel = _cache.lookup(k) if k is not None else None
    if panel is None:
        extracts = read_extracts(folder, names=names, large_file_mb=large_file_mb, lazy=True)
        cache_dir = _cache.cache_root() if k is not None else None
        if cache_dir is not None and "work_dir" not in kw:
            kw["work_dir"] = cache_dir / "building"
        panel = build_panel(extracts, window=window, offices=offices, **kw)
        panel.meta["panel"].update(folder=str(folder),
                                   readers={n: v.attrs.get("reader") for n, v in extracts.items()})
        if k is not None:
            _cache.save(panel, k)
    panel.meta = {**meta, "panel": panel.meta["panel"]}
    panel.truth = truth
    return panel
