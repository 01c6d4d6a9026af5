"""R's default random number stream (Mersenne-Twister, inversion normals), for reproducing the
simulated pieces of R packages draw for draw.

HonestDiD's least-favourable critical value simulates 1000 draws after ``set.seed(seed)``; to
reproduce its published confidence sets to the printed precision the same draws are needed.
:func:`r_rnorm` returns ``set.seed(seed); rnorm(n)`` and :func:`r_rmvnorm` returns
``set.seed(seed); mvtnorm::rmvnorm(n, sigma = sigma)`` (method ``"eigen"``, the default).

R's ``set.seed`` (src/main/RNG.c, ``RNG_Init``) scrambles the seed with the linear congruential
map ``s <- 69069 s + 1`` fifty times, then fills the 624 Mersenne-Twister words with the next 624
values of the same map and sets the position to 624 (so the first draw regenerates the state);
``unif_rand`` is the tempered 32-bit output times ``2^-32``; ``rnorm`` (inversion) uses two
uniforms ``u = floor(2^27 u1) + u2`` and returns ``qnorm(u / 2^27)``.
"""
from __future__ import annotations

import numpy as np
from scipy import special

_BIG = 134217728.0  # 2^27


def _mt_state(seed: int) -> np.random.MT19937:
    s = np.uint64(seed & 0xFFFFFFFF)
    m = np.uint64(0xFFFFFFFF)
    for _ in range(50):
        s = (np.uint64(69069) * s + np.uint64(1)) & m
    key = np.empty(625, dtype=np.uint64)
    for j in range(625):
        s = (np.uint64(69069) * s + np.uint64(1)) & m
        key[j] = s
    bg = np.random.MT19937()
    # key[0] is R's position word (dummy[0]), overwritten by FixupSeeds to 624
    bg.state = {"bit_generator": "MT19937", "state": {"key": key[1:].astype(np.uint32), "pos": 624}}
    return bg


def r_runif(n: int, seed: int) -> np.ndarray:
    """``set.seed(seed); runif(n)``."""
    raw = _mt_state(seed).random_raw(n).astype(np.float64)
    u = raw * 2.3283064365386963e-10
    return np.clip(u, 0.5 * 2.328306437080797e-10, 1.0 - 0.5 * 2.328306437080797e-10)


def r_rnorm(n: int, seed: int) -> np.ndarray:
    """``set.seed(seed); rnorm(n)`` (R's default inversion method)."""
    u = r_runif(2 * n, seed).reshape(n, 2)
    return special.ndtri((np.floor(_BIG * u[:, 0]) + u[:, 1]) / _BIG)


def r_rmvnorm(n: int, sigma: np.ndarray, seed: int) -> np.ndarray:
    """``set.seed(seed); mvtnorm::rmvnorm(n, sigma = sigma)`` (symmetric square root)."""
    sigma = np.asarray(sigma, float)
    p = sigma.shape[0]
    vals, vecs = np.linalg.eigh(sigma)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    z = r_rnorm(n * p, seed).reshape(n, p)          # matrix(rnorm(n * p), nrow = n, byrow = TRUE)
    return z @ root
