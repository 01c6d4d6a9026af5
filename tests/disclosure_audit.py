"""Recovery audit of published tables, written apart from the gate it checks.

For every table the gate published (an HTML ``<table data-disclosure=...>``), the audit reads only
what a reader has: the cells as printed and the declared structure (which cells are counts, which
cells add up to which, which amounts are rounded sums of counts times prices). For every hidden
cell it solves two linear programmes (scipy.optimize.linprog, HiGHS): the smallest and the largest
value the cell can take given the published cells, the declared sums, the rounded amounts
(within half a rounding step) and non-negativity. A hidden cell is *recovered* when that interval
is narrower than the threshold (which includes pinning it to one value), unless that interval
still holds every value 1 .. threshold-1 (then it says no more than the "<threshold" printed in the
cell: hidden cells whose known sum is itself below the threshold).
"""
from __future__ import annotations

import html as _html
import json
import re
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

_TABLE = re.compile(r"""<table[^>]*data-disclosure=(?:"([^"]*)"|'([^']*)')[^>]*>(.*?)</table>""", re.S)
_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
_CELL = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.S)


def _num(text: str):
    t = text.replace("\u202f", "").replace(",", "").strip()
    try:
        return float(t)
    except ValueError:
        return None


def published_tables(page: str) -> list[dict]:
    """Structure, header and body cells of every gate table in an HTML page (or ipynb text)."""
    out = []
    for dq, sq, inner in _TABLE.findall(page):
        meta = dq or sq
        body = inner.split("<tbody>", 1)[1] if "<tbody>" in inner else inner
        head = inner.split("<tbody>", 1)[0]
        rows = [[_html.unescape(c) for c in _CELL.findall(r)] for r in _ROW.findall(body)]
        header = [_html.unescape(c) for c in _CELL.findall(head)]
        out.append({"meta": json.loads(_html.unescape(meta)), "header": header, "rows": rows})
    return out


def recovered(table: dict) -> list[str]:
    """Hidden cells of ``table`` whose feasible interval is narrower than the threshold."""
    meta, rows = table["meta"], table["rows"]
    T = float(meta["threshold"])
    hidden, known = [], {}
    for j in meta["counts"]:
        for i, r in enumerate(rows):
            v = _num(r[j])
            if v is None and r[j].startswith("<"):
                hidden.append((i, j))
            elif v is not None:
                known[(i, j)] = v
    if not hidden:
        return []
    col = {c: k for k, c in enumerate(hidden)}

    def linear(terms):
        a, c = np.zeros(len(hidden)), 0.0
        for cell, coef in terms:
            if cell in col:
                a[col[cell]] += coef
            elif cell in known:
                c += coef * known[cell]
            else:
                return None, None
        return a, c

    A_eq, b_eq, A_ub, b_ub = [], [], [], []
    for rel in meta["relations"]:
        tot = rel["total"]
        terms = [((p[0], p[1]), 1.0) for p in rel["parts"]]
        target = 0.0
        if isinstance(tot, dict):
            target = float(tot["value"])
        else:
            terms.append(((tot[0], tot[1]), -1.0))
        a, c = linear(terms)
        if a is not None and a.any():
            A_eq.append(a)
            b_eq.append(target - c)
    for am in meta.get("amounts", []):
        r, j = am["cell"]
        value = _num(rows[r][j])
        if value is None:
            continue
        a, c = linear([((t[0], t[1]), float(t[2])) for t in am["terms"]])
        if a is not None and a.any():
            half = am["step"] / 2
            A_ub += [a, -a]
            b_ub += [value + half - c, -(value - half - c)]
    kw = {}
    if A_eq:
        kw.update(A_eq=np.array(A_eq), b_eq=np.array(b_eq))
    if A_ub:
        kw.update(A_ub=np.array(A_ub), b_ub=np.array(b_ub))
    if not kw:
        return []
    found = []
    for cell, k in col.items():
        e = np.zeros(len(hidden))
        e[k] = 1.0
        lo = linprog(e, bounds=[(0, None)] * len(hidden), method="highs", **kw)
        hi = linprog(-e, bounds=[(0, None)] * len(hidden), method="highs", **kw)
        if lo.status != 0 or hi.status != 0:  # unbounded above (or inconsistent): not recovered
            continue
        low, high = lo.fun, -hi.fun
        # an interval still holding every value 1 .. T-1 says no more than the "<T" in the cell
        says_more = not (low <= 1 + 1e-9 and high >= T - 1 - 1e-9)
        if lo.status == 0 and hi.status == 0 and high - low < T - 1e-9 and says_more:
            found.append(f"row {cell[0] + 1}, column {table['header'][cell[1]]!r}: "
                         f"between {lo.fun:g} and {-hi.fun:g}")
    return found


def audit_folder(folder: Path) -> tuple[int, list[str]]:
    """(number of gate tables, recovered cells) over every HTML page under ``folder``."""
    n, found = 0, []
    for page in sorted(Path(folder).rglob("*.html")):
        for k, t in enumerate(published_tables(page.read_text(encoding="utf-8"))):
            n += 1
            found += [f"{page.relative_to(folder)} table {k + 1}: {x}" for x in recovered(t)]
    return n, found
