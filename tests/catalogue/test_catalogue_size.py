"""The catalogue holds at least 100 cases (issue on trust); prints the count per category."""
import ast
from pathlib import Path

HERE = Path(__file__).parent


def _count_cases(path: Path) -> int:
    """Test functions in ``path``, each parametrised case counted (literal lists, or module-level
    names bound to literal lists)."""
    tree = ast.parse(path.read_text())
    lists = {t.id: len(node.value.elts) for node in tree.body if isinstance(node, ast.Assign)
             and isinstance(node.value, (ast.List, ast.Tuple)) for t in node.targets
             if isinstance(t, ast.Name)}
    n = 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            k = 1
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize" \
                        and len(dec.args) >= 2:
                    arg = dec.args[1]
                    if isinstance(arg, (ast.List, ast.Tuple)):
                        k *= len(arg.elts)
                    elif isinstance(arg, ast.Name) and arg.id in lists:
                        k *= lists[arg.id]
            n += k
    return n


def catalogue_sizes() -> dict[str, int]:
    return {f.stem.removeprefix("test_").removesuffix("_cases"): _count_cases(f)
            for f in sorted(HERE.glob("test_*_cases.py"))}


def test_catalogue_sizes_are_reported():
    sizes = catalogue_sizes()
    print("catalogue:", sizes, "total", sum(sizes.values()))
    assert sum(sizes.values()) >= 100, f"the catalogue needs at least 100 cases, has {sizes}"
