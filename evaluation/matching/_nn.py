"""Greedy nearest-neighbour matching, a re-implementation of MatchIt's ``nn_matchC_vec``.

Algorithm (MatchIt >= 4.5.4, ``method = "nearest"`` on a scalar distance, src/nn_matchC_vec.cpp):

* all units are sorted by the distance (stable, ties in data order);
* for round ``r = 1..ratio`` and each treated unit in the matching order, the nearest *available*
  control to the left and to the right in that sort order are found (controls already used up —
  ``reuse_max`` times — or already matched to this treated unit are skipped; with a caliper, the
  search on a side stops at the first candidate outside the caliper);
* the closer of the two is taken, the left one on a tie (``rule="nearest"``, the default; this is
  MatchIt >= 4.5.4, whose ``find_control_vec`` also takes the left candidate on a tie);
* with exact matching the same is done within each exact stratum.

Where this differs from MatchIt 4.7 (read in its src/internal.cpp ``find_control_vec``): with
replacement MatchIt takes a unit's ``ratio`` nearest controls at once, ordering candidates with an
unstable ``std::partial_sort``; here they are taken one round at a time, which selects the same set
except that exact ties in distance among more than ``ratio`` candidates may be broken differently.

``rule="matchit_4_5_1_bug"`` is a *bug emulation*, kept only so that analyses run with MatchIt
4.5.1-4.5.3 can be reproduced: those versions compared distances with C's integer ``abs``
(MatchIt issue #163; fixed in 4.5.4 by commit 4b5b2f8 "abs -> std::abs" in
src/nn_matchC_vec.cpp), so propensity-score differences (all below 1) truncate to 0: the left
(lower-score) candidate always wins and calipers never bind.  Do not use it for new analyses.

The "next available control to the left/right" queries use two disjoint-set forests with path
compression over the sorted control positions, so each query is amortised near O(1) and the whole
match is O((n1 * ratio) α(n0) + n log n) instead of MatchIt's linear scans.
"""
from __future__ import annotations

import numpy as np

RULES = ("nearest", "matchit_4_5_1_bug")


def _find(parent: np.ndarray, s: int) -> int:
    root = s
    while parent[root] != root:
        root = parent[root]
    while parent[s] != root:
        parent[s], s = root, parent[s]
    return root


def nn_match_1d(distance: np.ndarray, treat: np.ndarray, order: np.ndarray, ratio: int,
                discarded: np.ndarray, reuse_max: int, caliper: float | None,
                rule: str = "nearest") -> np.ndarray:
    """Match within one stratum.

    Parameters
    ----------
    distance, treat, discarded : arrays over the units of the stratum (data order).
    order : positions (0-based, among the treated units in data order) giving the matching order.
    ratio : controls per treated unit.
    reuse_max : how many times a control may be used (1 = without replacement).
    caliper : maximum |distance difference| (distance units) or None.
    rule : ``"nearest"`` (default) compares the exact differences (left on an exact tie), as
        MatchIt >= 4.5.4.  ``"matchit_4_5_1_bug"`` emulates the integer-``abs`` bug of MatchIt
        4.5.1-4.5.3 (issue #163): every difference, in the choice and in the caliper check, is
        truncated toward zero before ``abs``, so for scores in [0, 1] the left (lower-score)
        candidate is taken whenever there is one and no caliper binds.

    Returns
    -------
    (n1, ratio) int array of matched control indices (into the stratum arrays), -1 = no match.
    """
    n = distance.shape[0]
    d_ord = np.argsort(distance, kind="stable")
    pos = np.empty(n, dtype=np.int64)
    pos[d_ord] = np.arange(n)
    ind1 = np.flatnonzero(treat == 1)
    n1 = ind1.shape[0]
    mm = np.full((n1, ratio), -1, dtype=np.int64)
    ctrl = np.flatnonzero((treat == 0) & ~discarded)
    if ctrl.size == 0 or n1 == 0:
        return mm
    ctrl_sorted = ctrl[np.argsort(pos[ctrl], kind="stable")]     # controls in sort order
    ctrl_pos = pos[ctrl_sorted]
    cdist = distance[ctrl_sorted]
    n0 = ctrl_sorted.shape[0]
    # slots 1..n0 are controls in sorted order; 0 and n0+1 are sentinels
    left = np.arange(n0 + 2)
    right = np.arange(n0 + 2)
    times = np.zeros(n0 + 2, dtype=np.int64)
    n_avail = n0
    # starting slots for each treated unit: last control slot to its left
    tpos = pos[ind1]
    start_left = np.searchsorted(ctrl_pos, tpos)                # number of controls left of unit
    dist_t = distance[ind1]
    disc_t = discarded[ind1]
    use_cal = caliper is not None
    cal = float(caliper) if use_cal else 0.0
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}")
    exact_rule = rule == "nearest"

    def _gap(a: float) -> float:             # |difference| as compared by the chosen rule
        return abs(a) if exact_rule else float(abs(int(a)))
    for r in range(ratio):
        for i in order:
            if disc_t[i]:
                continue
            row = mm[i, :r]
            di = dist_t[i]
            # left
            s = _find(left, int(start_left[i]))
            while s > 0 and r > 0 and ctrl_sorted[s - 1] in row:
                s = _find(left, s - 1)
            kl = -1
            if s > 0 and not (use_cal and _gap(di - cdist[s - 1]) > cal):
                kl = s
            s = _find(right, int(start_left[i]) + 1)
            while s <= n0 and r > 0 and ctrl_sorted[s - 1] in row:
                s = _find(right, s + 1)
            kr = -1
            if s <= n0 and not (use_cal and _gap(di - cdist[s - 1]) > cal):
                kr = s
            if kl > 0 and kr > 0:
                k = kl if _gap(cdist[kl - 1] - di) <= _gap(cdist[kr - 1] - di) else kr
            elif kl > 0:
                k = kl
            elif kr > 0:
                k = kr
            else:
                continue
            mm[i, r] = ctrl_sorted[k - 1]
            times[k] += 1
            if times[k] >= reuse_max:
                left[k] = k - 1
                right[k] = k + 1
                n_avail -= 1
                if n_avail == 0:
                    return mm
    return mm


def nn_match_mahalanobis(Z: np.ndarray, treat: np.ndarray, order: np.ndarray, ratio: int,
                         discarded: np.ndarray, reuse_max: int,
                         ps: np.ndarray | None = None, caliper: float | None = None) -> np.ndarray:
    """Greedy matching on the Euclidean distance of whitened covariates ``Z`` (Mahalanobis).

    Each treated unit in ``order`` takes the nearest available control (first in data order on
    ties); an optional caliper applies to ``ps``.  O(n1 * n0 * p) vectorised per treated unit.
    """
    ind1 = np.flatnonzero(treat == 1)
    n1 = ind1.shape[0]
    mm = np.full((n1, ratio), -1, dtype=np.int64)
    ctrl = np.flatnonzero((treat == 0) & ~discarded)
    if ctrl.size == 0:
        return mm
    Zc = Z[ctrl]
    avail = np.ones(ctrl.size, dtype=bool)
    times = np.zeros(ctrl.size, dtype=np.int64)
    for r in range(ratio):
        for i in order:
            u = ind1[i]
            if discarded[u]:
                continue
            ok = avail.copy()
            if r > 0:
                used = mm[i, :r]
                ok &= ~np.isin(ctrl, used[used >= 0])
            if ps is not None and caliper is not None:
                ok &= np.abs(ps[ctrl] - ps[u]) <= caliper
            cand = np.flatnonzero(ok)
            if cand.size == 0:
                continue
            dd = np.sum((Zc[cand] - Z[u]) ** 2, axis=1)
            j = cand[int(np.argmin(dd))]
            mm[i, r] = ctrl[j]
            times[j] += 1
            if times[j] >= reuse_max:
                avail[j] = False
                if not avail.any():
                    return mm
    return mm
