"""Random streams that belong to persons, not to blocks.

Persons are numbered ``0 .. n-1`` and cut into fixed *chunks* of :data:`CHUNK` persons.  Every
chunk has its own numpy ``Generator`` per purpose (frame, design, simulation, extracts), seeded
by ``SeedSequence([seed, scenario, purpose, chunk])``.  A block of persons (any range that starts
at a multiple of :data:`CHUNK`) draws for each chunk from that chunk's generator and
concatenates, so a person's random numbers are the same whatever block they are simulated in:
the same seed gives the same data for every block size.

Draws for a subset of a block's persons (``idx``, sorted block positions) are made per chunk
for the chunk's members of the subset; chunks without members draw nothing, so the draws made
from a chunk's stream depend only on that chunk's persons.
"""
from __future__ import annotations

import numpy as np

#: Persons per random stream.  Block sizes are rounded up to a multiple of it.
CHUNK = 1000

#: Purposes, each an independent family of streams.
FRAME, DESIGN, SIM, EXTRACT, CONSTANT = 0, 1, 2, 3, 4


class Streams:
    """Random draws for the persons ``lo .. hi-1`` from their chunks' own generators.

    Parameters
    ----------
    key : tuple of int
        ``(seed, scenario index)``.
    purpose : int
        One of :data:`FRAME`, :data:`DESIGN`, :data:`SIM`, :data:`EXTRACT`.
    lo, hi : int
        First person and one past the last; ``lo`` must be a multiple of :data:`CHUNK`.
    """

    def __init__(self, key: tuple, purpose: int, lo: int, hi: int):
        if lo % CHUNK:
            raise ValueError(f"a block must start at a multiple of {CHUNK} persons, not {lo}")
        c0, c1 = lo // CHUNK, -(-hi // CHUNK)
        self.gens = [np.random.default_rng([*map(int, key), purpose, c]) for c in range(c0, c1)]
        self.edges = np.clip(np.arange(c0, c1 + 1, dtype=np.int64) * CHUNK, lo, hi) - lo
        self.n = hi - lo

    # ------------------------------------------------------------------------------------
    def _sizes(self, idx) -> np.ndarray:
        if idx is None:
            return np.diff(self.edges)
        return np.diff(np.searchsorted(idx, self.edges))

    def _draw(self, method: str, args=(), arrays=(), lead=(), idx=None, **kw) -> np.ndarray:
        """``Generator.<method>`` per chunk, concatenated along the last axis.

        ``arrays`` are per-person parameters aligned with the persons drawn for (the block or
        ``idx``); they are cut at the chunk boundaries.  Without ``arrays`` the size per chunk
        is ``(*lead, members)``.
        """
        sizes = self._sizes(idx)
        parts = []
        pos = 0
        for g, m in zip(self.gens, sizes):
            if m == 0:
                continue
            if arrays:
                parts.append(getattr(g, method)(*args, *(x[..., pos:pos + m] for x in arrays), **kw))
            else:
                parts.append(getattr(g, method)(*args, size=(*lead, int(m)), **kw))
            pos += m
        if not parts:
            dtype = kw.get("dtype")
            return np.empty((*lead, 0), dtype=dtype if dtype is not None else np.float64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    # ------------------------------------------------------------------------------------
    def random(self, *, lead=(), dtype=np.float64, idx=None) -> np.ndarray:
        return self._draw("random", lead=lead, idx=idx, dtype=dtype)

    def standard_normal(self, *, lead=(), dtype=np.float64, idx=None) -> np.ndarray:
        return self._draw("standard_normal", lead=lead, idx=idx, dtype=dtype)

    def integers(self, low: int, high: int, *, idx=None) -> np.ndarray:
        return self._draw("integers", (low, high), idx=idx)

    def beta(self, a: float, b: float) -> np.ndarray:
        return self._draw("beta", (a, b))

    def gamma(self, shape: float, scale: float) -> np.ndarray:
        return self._draw("gamma", (shape, scale))

    def geometric(self, p: float, *, idx=None) -> np.ndarray:
        return self._draw("geometric", (p,), idx=idx)

    def poisson(self, lam: np.ndarray, *, idx=None) -> np.ndarray:
        return self._draw("poisson", arrays=(lam,), idx=idx).astype(np.int64)

    def binomial(self, n: np.ndarray, p: np.ndarray, *, idx=None) -> np.ndarray:
        return self._draw("binomial", arrays=(n, p), idx=idx).astype(np.int64)

    def choice(self, probs, *, idx=None) -> np.ndarray:
        """Categorical draw per person; ``probs`` is (k,) or (persons, k)."""
        p = np.asarray(probs, dtype=np.float64)
        cum = np.cumsum(p, axis=-1)
        cum = cum / cum[..., -1:]
        u = self.random(idx=idx)
        if p.ndim == 1:
            return np.searchsorted(cum, u, side="right").astype(np.int8)
        return (u[:, None] >= cum).sum(axis=1).astype(np.int8)


def constant_rng(key: tuple, name: int) -> np.random.Generator:
    """Generator for draws that belong to the population, not to a person (e.g. per stratum)."""
    return np.random.default_rng([*map(int, key), CONSTANT, int(name)])
