"""Every third-party module the four packages import at module level comes from a
distribution in ``[project] dependencies``: a plain ``pip install -e .`` (the README's
main job) must have everything. Imports inside functions are the optional extras'."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata

from tests.conftest import ROOT

PACKAGES = ("scenarios", "simulate", "recover", "reports")


def _top_level_imports() -> dict[str, str]:
    """Top-level module name -> the first file importing it at module level."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.parse(path.read_text()).body:
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_module_level_imports_are_declared_dependencies() -> None:
    declared = {
        _normalize(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0])
        for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    distributions = metadata.packages_distributions()
    missing = []
    for module, where in _top_level_imports().items():
        own = module == "mmm_workbench"
        if own or module in sys.stdlib_module_names or module == "__future__":
            continue
        dists = {_normalize(d) for d in distributions.get(module, [module])}
        if not dists & declared:
            missing.append(f"{module} ({where}; from {sorted(dists)})")
    assert not missing, f"imported at module level but not in dependencies: {missing}"
