"""The layer rule of DESIGN.md, read from the source with ``ast``.

``simulate/``, ``scenarios/`` and ``reports/`` never import pymc or pytensor (the truth and
the fitted models must not share code); no package imports a layer above it. The one
exception: ``scenarios`` reads the transform registry ``mmm_workbench.simulate.transforms`` (a leaf
module, pure numpy) so that a transformation is registered in exactly one place and its
parameters are validated when a scenario is loaded.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scenarios", "simulate", "reports", "recover")
FORBIDDEN = {
    "scenarios": {"pymc", "pytensor", "pymc_marketing", "simulate", "reports", "recover"},
    "simulate": {"pymc", "pytensor", "pymc_marketing", "reports", "recover"},
    "reports": {"pymc", "pytensor", "pymc_marketing", "recover"},
    "recover": set(),
}
ALLOWED = {
    "scenarios": {"simulate.transforms"},
    "simulate": set(),
    "reports": set(),
    "recover": set(),
}


def _imports(path: Path) -> set[str]:
    """Absolute imports of a module, with the project's own ``mmm_workbench.`` prefix removed
    (``mmm_workbench.simulate.transforms`` -> ``simulate.transforms``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n.removeprefix("mmm_workbench.") for n in names}


@pytest.mark.parametrize("package", PACKAGES)
def test_layer_rule(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    for file in files:
        for name in _imports(file):
            if name in ALLOWED[package]:
                continue
            top = name.split(".")[0]
            assert top not in FORBIDDEN[package], f"{file.relative_to(ROOT)} imports {name}"


def test_transform_registry_is_a_leaf() -> None:
    own = {n.split(".")[0] for n in _imports(ROOT / "simulate" / "transforms.py")}
    assert not own & set(PACKAGES), own


def test_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import pymc as pm\nfrom mmm_workbench.recover.cli import main\n")
    assert {"pymc", "recover.cli"} <= _imports(bad)
