"""Shared pieces of the catalogue of bad and hostile inputs (issue on trust).

Every catalogue case asserts two things: the clear error (or the visible note) that the input
deserves, and that no input file changed.  :func:`unchanged` is the one place for the second.

Example
-------
>>> with unchanged(tmp_path / "extracts", params_file):          # doctest: +SKIP
...     with pytest.raises(ParamsError, match="covariates.*femal"):
...         load_params(params_file)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Iterator


def tree_hashes(*paths: str | os.PathLike) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or folders), keyed by path.

    Folders list their files too, so a file added to an input folder shows up as a difference.
    """
    out: dict[str, str] = {}
    for p in map(Path, paths):
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file()) if p.exists() else []
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
        if p.is_dir():
            out[f"{p}/<listing>"] = hashlib.sha256(
                "\n".join(sorted(str(f.relative_to(p)) for f in p.rglob("*"))).encode()).hexdigest()
    return out


@contextlib.contextmanager
def unchanged(*paths: str | os.PathLike) -> Iterator[None]:
    """Assert that the files and folders in ``paths`` are byte-identical after the block,
    whether the block raises or not (a failed run must not touch a user's input either)."""
    before = tree_hashes(*paths)
    try:
        yield
    finally:
        after = tree_hashes(*paths)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"input files changed: {changed}"
