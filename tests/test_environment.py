"""environment.yml mirrors pyproject.toml's dependencies (names and version bounds)."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI names
CONDA_NAMES = {"python-duckdb": "duckdb"}


def _split(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_mirrors_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pip_deps = dict(_split(s) for s in pyproject["project"]["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {}
    for s in env["dependencies"]:
        if isinstance(s, str):
            name, ver = _split(s)
            if name in ("python", "pip"):
                continue
            conda[CONDA_NAMES.get(name, name)] = ver
    assert conda == pip_deps, (
        "environment.yml and pyproject.toml disagree: only in pyproject "
        f"{sorted(set(pip_deps) - set(conda))}, only in environment.yml "
        f"{sorted(set(conda) - set(pip_deps))}, different bounds "
        f"{sorted(k for k in set(conda) & set(pip_deps) if conda[k] != pip_deps[k])}")


def test_python_requirement_matches():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    py = [s for s in env["dependencies"] if isinstance(s, str) and s.startswith("python")
          and not s.startswith("python-")]
    assert py == ["python" + pyproject["project"]["requires-python"]]
