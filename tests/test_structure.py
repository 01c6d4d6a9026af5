"""The package's structure (issue 15): imports run one way and functions read at once.

* No circle among module-level imports of ``evaluation``; a function-level import that closes a
  circle (the usual way to dodge one) is allowed only if listed in ``ALLOWED_CIRCLE_IMPORTS`` with
  a reason.  Lazy imports that close no circle (to keep ``import evaluation.x`` light) are fine.
* No function longer than ``MAX_LINES`` except those in ``LONG_FUNCTIONS``, each with a reason;
  the list may only shrink (an entry that is no longer needed fails the test, so it gets removed).

Pure ``ast`` over the source files: nothing is imported, the test takes well under a second.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "evaluation"
MAX_LINES = 120

# The layers of evaluation/__init__.py's docstring, bottom first: a module imports only from its
# own layer or below (at module level and inside functions).  A new top-level module gets a place here.
LAYERS = (("_io",), ("schema",), ("results", "disclosure", "i18n"), ("panel", "synthetic"),
          ("rct", "did", "matching"), ("contracts",), ("report", "overview"), ("params",),
          ("render", "intake", "summary"), ("cli", "__main__"))

# importer -> imported: why the import stays inside a function although it closes a circle
ALLOWED_CIRCLE_IMPORTS: dict = {}

# "path::qualified name": (lines allowed, why it is still long).  Lower a limit when a function
# shrinks; remove the entry once it is under MAX_LINES (the test below says when).
LONG_FUNCTIONS = {
    "evaluation/did/attgt.py::att_gt": (302, "did (issue 13) is rewriting att_gt's covariate path"),
    "evaluation/did/_data.py::prepare_panel": (239, "did (issue 13) owns did/_data.py"),
    "evaluation/matching/_core.py::nearest_neighbor": (158, "to split: matching options, "
                                                       "distance, matching loop, result"),
    "evaluation/did/attgt.py::ATTgtResult.aggregate": (147, "did (issue 13) owns did/attgt.py"),
    "evaluation/cli.py::main": (126, "argument parser and dispatch; cli is being changed by "
                                "plan/intake; to split into one parser builder per command"),
    "evaluation/panel/build.py::build_panel": (140, "panel (issue 11) is rewriting the build (room to "
                                                "finish it; then split and remove)"),
}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _targets(mod: str, is_pkg: bool, node, mods) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        if node.level:
            base = base[: len(base) - (node.level - 1)]
            tgt = ".".join(base + ([node.module] if node.module else []))
        else:
            tgt = node.module or ""
        names = [f"{tgt}.{a.name}" if f"{tgt}.{a.name}" in mods else tgt for a in node.names]
    out = []
    for t in names:
        while t and t not in mods:
            t = t.rpartition(".")[0]
        if t and t != mod:
            out.append(t)
    return out


@functools.lru_cache(maxsize=1)
def import_edges() -> dict[tuple[str, str], str]:
    """``(importer, imported) -> "module" | "function"`` for imports among evaluation's modules
    (``if TYPE_CHECKING:`` imports are left out; a package importing its own submodules is a
    re-export, not an edge)."""
    mods = _modules()
    edges: dict[tuple[str, str], str] = {}

    def visit(mod, is_pkg, node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for t in _targets(mod, is_pkg, child, mods):
                    if is_pkg and t.startswith(mod + "."):
                        continue
                    if edges.get((mod, t)) != "module":
                        edges[(mod, t)] = "function" if in_function else "module"
            visit(mod, is_pkg, child, inner)

    for mod, (path, is_pkg) in mods.items():
        visit(mod, is_pkg, ast.parse(path.read_text(encoding="utf-8")), False)
    return edges


def _reach(edges, start: str, kinds: set[str]) -> set[str]:
    """The modules ``start`` imports, directly or through others (edges of the given kinds)."""
    nxt: dict[str, list[str]] = {}
    for (a, b), k in edges.items():
        if k in kinds:
            nxt.setdefault(a, []).append(b)
    seen, todo = {start}, [start]
    while todo:
        for b in nxt.get(todo.pop(), ()):
            if b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def circles(edges, kinds: set[str]) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected, more than one module)."""
    nodes = sorted({n for e in edges for n in e})
    reach = {n: _reach(edges, n, kinds) for n in nodes}
    groups, done = [], set()
    for n in nodes:
        if n not in done:
            group = sorted(m for m in reach[n] if n in reach[m])
            done |= set(group)
            if len(group) > 1:
                groups.append(group)
    return groups


def test_no_circle_among_module_level_imports():
    assert circles(import_edges(), {"module"}) == []


def test_function_level_imports_do_not_dodge_circles():
    edges = import_edges()
    dodging = {(a, b) for (a, b), k in edges.items()
               if k == "function" and a in _reach(edges, b, {"module", "function"})}
    assert sorted(dodging - set(ALLOWED_CIRCLE_IMPORTS)) == [], (
        "a function-level import closes an import circle: move what both sides share down a "
        "layer (evaluation/_io.py is the ground floor; see evaluation/__init__.py)")
    assert sorted(set(ALLOWED_CIRCLE_IMPORTS) - dodging) == [], "no longer needed: remove from the list"


def _layer(module: str) -> int | None:
    top = module.split(".")[1] if "." in module else ""
    return next((i for i, names in enumerate(LAYERS) if top in names), None)


def test_imports_run_down_the_layers():
    edges = import_edges()
    modules = {m for e in edges for m in e} - {"evaluation"}   # the package itself: __version__
    unplaced = sorted({m.split(".")[1] for m in modules if _layer(m) is None})
    assert unplaced == [], f"top-level modules without a layer (add them to LAYERS and the docstring): {unplaced}"
    upward = sorted(f"{a} -> {b} ({k})" for (a, b), k in edges.items()
                    if b != "evaluation" and _layer(b) > _layer(a))
    assert upward == [], f"imports from a higher layer (move the shared code down): {upward}"


def test_ground_floor_imports_nothing_of_the_package():
    edges = import_edges()
    assert [b for (a, b) in edges if a == "evaluation._io"] == []


@functools.lru_cache(maxsize=1)
def function_lengths() -> dict[str, int]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).as_posix()

        def walk(node, prefix):
            for ch in ast.iter_child_nodes(node):
                if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = prefix + ch.name
                    if not isinstance(ch, ast.ClassDef):
                        out[f"{rel}::{name}"] = ch.end_lineno - ch.lineno + 1
                    walk(ch, name + ".")
        walk(ast.parse(path.read_text(encoding="utf-8")), "")
    return out


def test_functions_read_at_once():
    lengths = function_lengths()
    too_long = {k: n for k, n in lengths.items()
                if n > MAX_LINES and not (k in LONG_FUNCTIONS and n <= LONG_FUNCTIONS[k][0])}
    assert too_long == {}, (f"functions over {MAX_LINES} lines (split them into named steps, or "
                            f"list them with a reason in LONG_FUNCTIONS): {too_long}")


@pytest.mark.parametrize("name", sorted(LONG_FUNCTIONS))
def test_long_function_list_only_shrinks(name):
    n = function_lengths().get(name)
    assert n is not None and n > MAX_LINES, (
        f"{name} is now {n} lines: remove it from LONG_FUNCTIONS (and lower its limit as it shrinks)")
