"""Folders of generated data: ownership marker, staged atomic writes, parts, reading back.

Generated data go only into a folder the generator created.  A folder is the generator's when it
holds the marker file :data:`MARKER` (written first, when the generator creates or adopts the
folder), or when it is a folder written by an earlier version of the generator (only extract
files, ``truth.parquet`` and a ``meta.json`` naming the generator).  A folder holding anything
else is refused with :class:`UnsafeFolderError` before anything is written; an empty folder is
adopted.

Files are written into a staging folder inside the target, then moved into place one entry at a
time with :func:`os.replace` / :func:`os.rename`; entries the new data no longer have (e.g. a
single-file extract replaced by a folder of parts) are removed, and entries the generator does
not know are never touched.  An interrupted write leaves the previous data in place.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from .._io import atomic_write_bytes
from ._tables import arrow_schema

#: Marker file of a folder created by the generator (JSON: generator, settings, complete).
MARKER = ".evaluation-synthetic"
#: Version of the generator's random streams; data of another version are regenerated.
GENERATOR_VERSION = 2
_KNOWN_FILES = {f"{x}.parquet" for x in schema.EXTRACTS} | {"truth.parquet", "meta.json"}


class UnsafeFolderError(FileExistsError):
    """The target folder holds files the generator did not write; nothing was written."""


# ------------------------------------------------------------------------------------------
# ownership
# ------------------------------------------------------------------------------------------
def _is_legacy(folder: Path, entries: list[Path]) -> bool:
    """A folder written by the generator before markers existed (only its own files)."""
    if not entries or any(not p.is_file() or p.name not in _KNOWN_FILES for p in entries):
        return False
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("generator") == "evaluation.synthetic"


def folder_status(folder) -> str:
    """``"missing"``, ``"empty"``, ``"ours"`` (marker) or ``"legacy"``; refuse anything else.

    Raises
    ------
    UnsafeFolderError
        ``folder`` is a file, or a folder holding files the generator did not write.
    """
    folder = Path(folder)
    if not folder.exists():
        return "missing"
    if not folder.is_dir():
        raise UnsafeFolderError(
            f"{folder} is a file, not a folder; nothing was written. Fix: give the synthetic data "
            "a folder path that does not exist yet (data.folder in the parameter file)")
    if (folder / MARKER).is_file():
        return "ours"
    entries = sorted(folder.iterdir())
    if not entries:
        return "empty"
    if _is_legacy(folder, entries):
        return "legacy"
    shown = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:6])
    more = f" and {len(entries) - 6} more" if len(entries) > 6 else ""
    raise UnsafeFolderError(
        f"{folder} holds files the synthetic generator did not write ({shown}{more}); generated "
        f"data go only into a new folder or one the generator created (it has a {MARKER} file). "
        "Nothing was written. Fix: point data.folder (or the folder argument) to a new folder, "
        "or set data.source: extracts to analyse the files that are there")


def read_marker(folder) -> dict:
    try:
        out = json.loads((Path(folder) / MARKER).read_text())
        return out if isinstance(out, dict) else {}
    except (OSError, ValueError):
        return {}


def write_marker(folder: Path, settings: dict, *, complete: bool):
    body = {"generator": "evaluation.synthetic", "generator_version": GENERATOR_VERSION,
            "note": "folder created by evaluation.synthetic; the generator writes only here",
            **settings, "complete": complete}
    atomic_write_bytes(folder / MARKER, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())


# ------------------------------------------------------------------------------------------
# parquet
# ------------------------------------------------------------------------------------------
def extract_table(name: str, df: pd.DataFrame) -> pa.Table:
    """Arrow table of an extract frame with the same schema in every part."""
    return pa.Table.from_pandas(df, preserve_index=False).cast(arrow_schema(name))


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def write_parquet(table: pa.Table, path: Path):
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def extract_files(folder, name: str) -> list[Path]:
    """The files of extract ``name``: ``<name>.parquet`` or ``<name>/part-*.parquet`` (sorted)."""
    folder = Path(folder)
    single = folder / f"{name}.parquet"
    if single.is_file():
        return [single]
    parts = folder / name
    if parts.is_dir():
        return sorted(parts.glob("part-*.parquet"))
    return []


def read_extract(folder, name: str) -> pd.DataFrame | None:
    files = extract_files(folder, name)
    if not files:
        return None
    if len(files) == 1:
        return pd.read_parquet(files[0])
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def meta_bytes(meta: dict) -> bytes:
    return (json.dumps(meta, indent=2, sort_keys=True, default=json_default) + "\n").encode()


def same_content(path: Path, data: bytes) -> bool:
    """Is the file at ``path`` the same data as ``data`` (bytes, or equal frames / JSON)?"""
    if not path.is_file():
        return False
    old = path.read_bytes()
    if old == data:
        return True
    try:
        if path.suffix == ".parquet":
            a, b = pd.read_parquet(io.BytesIO(old)), pd.read_parquet(io.BytesIO(data))
            return a.equals(b) and list(a.dtypes) == list(b.dtypes)
        if path.suffix == ".json":
            return json.loads(old) == json.loads(data)
    except Exception:  # unreadable old file: different
        return False
    return False


# ------------------------------------------------------------------------------------------
# staged writes
# ------------------------------------------------------------------------------------------
class StagedFolder:
    """Write generated data into ``folder`` through a staging folder inside it.

    Use :meth:`path` for files to write, then :meth:`commit`; on error call :meth:`abort`
    (the previous data stay as they were).
    """

    def __init__(self, folder, settings: dict, *, overwrite: bool):
        self.folder = Path(folder)
        self.settings = settings
        status = folder_status(self.folder)          # refuses a folder that is not ours
        if status in ("ours", "legacy") and not overwrite and _has_data(self.folder):
            raise FileExistsError(
                f"{self.folder} already holds generated data; pass overwrite=True (or --force) "
                "to replace it, or write to a new folder")
        if status == "missing":
            self.folder.mkdir(parents=True)
        if status in ("missing", "empty", "legacy"):
            write_marker(self.folder, settings, complete=False)
        for old in self.folder.glob(".staging-*"):   # left by an interrupted run of ours
            shutil.rmtree(old, ignore_errors=True)
        self.stage = self.folder / f".staging-{uuid.uuid4().hex[:12]}"
        self.stage.mkdir()

    def path(self, rel: str) -> Path:
        p = self.stage / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def commit(self):
        """Move the staged entries into place and drop the generator's stale entries."""
        new = {p.name for p in self.stage.iterdir()}
        trash = self.folder / f".staging-old-{uuid.uuid4().hex[:12]}"
        trash.mkdir()
        write_marker(self.folder, self.settings, complete=False)
        known = _KNOWN_FILES | set(schema.EXTRACTS)
        for name in sorted(known - new):             # stale layout of an earlier run
            old = self.folder / name
            if old.exists():
                os.rename(old, trash / name)
        for name in sorted(new):
            target = self.folder / name
            if target.is_dir():
                os.rename(target, trash / name)
            os.replace(self.stage / name, target)
        write_marker(self.folder, self.settings, complete=True)
        shutil.rmtree(trash, ignore_errors=True)
        shutil.rmtree(self.stage, ignore_errors=True)

    def abort(self):
        shutil.rmtree(self.stage, ignore_errors=True)


def _has_data(folder: Path) -> bool:
    return any((folder / f).exists() for f in _KNOWN_FILES | set(schema.EXTRACTS))
