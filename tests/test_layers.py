"""The layers of docs/architecture.md, read from the source with ``ast``.

``scenarios`` (the language) <- ``simulate`` (the truth) <- ``reports`` (scoring) <-
``recover`` (fitting, CLI): a package never imports one above it, there are no cycles
between packages or between modules (relative imports resolved), and ``simulate``,
``scenarios`` and ``reports`` never import the modelling stack. The data-generating process
and the fitted models share no code: nothing in ``recover`` imports ``simulate`` except the
modules in :data:`MAY_SIMULATE`, each with its reason, and ``recover/models/`` never does.
The transform families are declared in ``scenarios/families.py``, a leaf, so both sides
read the declarations without reading each other.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "mmm_workbench"
LAYERS = ("scenarios", "simulate", "reports", "recover")
"""Bottom to top: each may import those before it."""
MODELLING = {"pymc", "pytensor", "pymc_marketing", "pymc_extras", "nutpie"}
FORBIDDEN = {
    "scenarios": MODELLING | {"xarray", "pandas", "h5py", "scipy"},
    "simulate": MODELLING,
    "reports": MODELLING,
    "recover": set(),
}
"""Third-party packages a layer must not import."""
MAY_SIMULATE = {
    f"{PROJECT}.recover.cli": "the `simulate` command writes one replicate's dataset "
    "(generate, write_dataset) and reports the simulator's errors",
    f"{PROJECT}.recover.fitting": "each fit draws its replicate's dataset with generate "
    "before fitting the model to it",
}
"""The only modules of ``recover`` that may import ``simulate``: they make data, they do not
model it."""

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    """``<root>/simulate/tree.py`` -> ``mmm_workbench.simulate.tree`` (``__init__`` -> the
    package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PROJECT, *parts])


def project_modules(root: Path) -> dict[str, Path]:
    """Every module of the four layers, by dotted name."""
    return {
        module_name(file, root): file
        for layer in LAYERS
        if (root / layer).is_dir()
        for file in sorted((root / layer).rglob("*.py"))
    }


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except the bodies of ``if TYPE_CHECKING:`` (never imported at run time)."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))


def imports(path: Path, name: str, modules: Iterable[str]) -> tuple[set[str], set[str]]:
    """The project modules and the third-party top-level packages a module imports.

    Relative imports are resolved against the module's package; ``from pkg import x``
    imports ``pkg.x`` when that is a module, else ``pkg`` itself; imports inside functions
    count too (a lazy import that closes a cycle is still a cycle), those under ``if
    TYPE_CHECKING:`` do not.
    """
    known = set(modules)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    own: set[str] = set()
    external: set[str] = set()

    def add(target: str) -> None:
        if target == PROJECT or target.startswith(f"{PROJECT}."):
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known:
                own.add(target)
        else:
            external.add(target.split(".")[0])

    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                add(candidate if candidate in known else source)
    own.discard(name)
    return own, external


def import_graph(root: Path) -> tuple[Graph, dict[str, set[str]]]:
    """Project module -> project modules it imports, and -> third-party packages."""
    modules = project_modules(root)
    graph: Graph = {}
    external: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name], external[name] = imports(path, name, modules)
    return graph, external


def layer(module: str) -> str:
    return module.split(".")[1]


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def package_graph(graph: Mapping[str, set[str]]) -> Graph:
    out: Graph = {name: set() for name in LAYERS}
    for src, targets in graph.items():
        out[layer(src)] |= {layer(t) for t in targets if layer(t) != layer(src)}
    return out


def violations(root: Path) -> list[str]:
    """Every breach of the layer rules under ``root``, one line each."""
    graph, external = import_graph(root)
    found = [f"module cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    found += [f"package cycle: {' <-> '.join(c)}" for c in cycles(package_graph(graph))]
    for src, targets in sorted(graph.items()):
        rank = LAYERS.index(layer(src))
        for target in sorted(targets):
            if LAYERS.index(layer(target)) > rank:
                found.append(f"{src} imports {target}: a layer above it")
            if layer(src) == "recover" and layer(target) == "simulate":
                if src.startswith(f"{PROJECT}.recover.models"):
                    found.append(f"{src} imports {target}: the model shares code with the DGP")
                elif src not in MAY_SIMULATE:
                    found.append(f"{src} imports {target}: not listed in MAY_SIMULATE")
        for package in sorted(external[src] & FORBIDDEN[layer(src)]):
            found.append(f"{src} imports {package}: forbidden in {layer(src)}/")
    return found


# --------------------------------------------------------------------------- the project


def test_the_project_keeps_its_layers() -> None:
    assert violations(ROOT) == []


def test_the_graph_sees_the_project() -> None:
    graph, _ = import_graph(ROOT)
    assert {layer(m) for m in graph} == set(LAYERS)
    assert f"{PROJECT}.scenarios.families" in graph[f"{PROJECT}.scenarios.spec"]
    assert f"{PROJECT}.simulate" in graph[f"{PROJECT}.recover.fitting"]
    packages = package_graph(graph)
    assert packages["scenarios"] == set()  # the language is a leaf layer
    assert packages["simulate"] == {"scenarios"}


def test_declarations_are_a_leaf_module() -> None:
    graph, external = import_graph(ROOT)
    families = f"{PROJECT}.scenarios.families"
    assert graph[families] == set()
    assert external[families] <= {"__future__", "collections", "dataclasses", "math"} | {
        "numbers",
        "numpy",
        "re",
        "reprlib",
        "typing",
    }


def test_every_allowed_exception_is_used() -> None:
    """MAY_SIMULATE lists what is, not what once was."""
    graph, _ = import_graph(ROOT)
    for module in MAY_SIMULATE:
        assert any(layer(t) == "simulate" for t in graph[module]), module


def _fresh_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_importing_the_scenario_package_loads_no_simulator() -> None:
    loaded = _fresh_modules("import mmm_workbench.scenarios")
    assert f"{PROJECT}.scenarios.load" in loaded
    heavy = {"xarray", "pandas", "pymc", "pytensor", f"{PROJECT}.simulate.generator"}
    assert not loaded & heavy
    assert not {m for m in loaded if m.startswith(f"{PROJECT}.simulate")}


def test_the_reports_package_loads_its_exports_on_first_use() -> None:
    loaded = _fresh_modules("from mmm_workbench.reports.contract import atomic_write")
    assert not loaded & {"scipy.stats", "arviz_stats", f"{PROJECT}.reports.gate"}
    loaded = _fresh_modules("from mmm_workbench.reports import check")
    assert {"arviz_stats", f"{PROJECT}.reports.gate"} <= loaded


def test_every_export_of_the_reports_package_resolves() -> None:
    import mmm_workbench.reports as reports

    for name in reports.__all__:
        assert getattr(reports, name).__name__ == name
    with pytest.raises(AttributeError, match="no_such_name"):
        reports.no_such_name  # noqa: B018


def test_the_numpy_transforms_load_no_generator() -> None:
    loaded = _fresh_modules("import mmm_workbench.simulate.transforms")
    assert not loaded & {"xarray", "pandas", f"{PROJECT}.simulate.generator"}
    loaded = _fresh_modules("from mmm_workbench.simulate import generate")
    assert {f"{PROJECT}.simulate.generator", "xarray"} <= loaded


# --------------------------------------------------------------------------- the rules themselves


def _plant(root: Path, files: Mapping[str, str]) -> Path:
    for layer_name in LAYERS:
        (root / layer_name).mkdir(parents=True, exist_ok=True)
        (root / layer_name / "__init__.py").write_text("")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "scenarios/spec.py": "import numpy\n",
            "simulate/gen.py": "from mmm_workbench.scenarios import spec\n",
            "recover/models/__init__.py": "",
            "recover/models/m.py": "from ...scenarios.spec import x\nimport pymc\n",
        },
    )
    assert violations(root) == []
    graph, external = import_graph(root)
    assert graph[f"{PROJECT}.recover.models.m"] == {f"{PROJECT}.scenarios.spec"}
    assert external[f"{PROJECT}.recover.models.m"] == {"pymc"}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # the model reads the DGP
            {
                "recover/models/__init__.py": "",
                "recover/models/media.py": "from mmm_workbench.simulate.transforms import X\n",
                "simulate/transforms.py": "",
            },
            "recover.models.media imports mmm_workbench.simulate.transforms: the model shares",
        ),
        (  # through a relative import
            {
                "recover/models/__init__.py": "",
                "recover/models/media.py": "from ...simulate import transforms\n",
                "simulate/transforms.py": "",
            },
            "the model shares code with the DGP",
        ),
        (  # another recover module, not listed
            {"recover/runner.py": "import mmm_workbench.simulate\n"},
            "recover.runner imports mmm_workbench.simulate: not listed in MAY_SIMULATE",
        ),
        (  # a layer importing one above it (and so a package cycle)
            {
                "scenarios/load.py": "from mmm_workbench.simulate.transforms import check\n",
                "simulate/transforms.py": "from mmm_workbench.scenarios.load import x\n",
            },
            "scenarios.load imports mmm_workbench.simulate.transforms: a layer above it",
        ),
        (  # a module cycle inside a layer, the second edge a lazy relative import
            {
                "scenarios/load.py": "from mmm_workbench.scenarios.grid import g\n",
                "scenarios/grid.py": "def f():\n    from .load import parse\n",
            },
            "module cycle: mmm_workbench.scenarios.grid <-> mmm_workbench.scenarios.load",
        ),
        (  # the truth importing the modelling stack
            {"simulate/media.py": "import pytensor.tensor as pt\n"},
            "simulate.media imports pytensor: forbidden in simulate/",
        ),
        (  # the language importing xarray
            {"scenarios/spec.py": "from xarray import Dataset\n"},
            "scenarios.spec imports xarray: forbidden in scenarios/",
        ),
    ],
)
def test_the_rules_catch_a_planted_violation(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    found = violations(_plant(tmp_path, files))
    assert any(expected in line for line in found), found


def test_package_cycle_is_reported(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "scenarios/a.py": "import mmm_workbench.simulate.b\n",
            "simulate/b.py": "import mmm_workbench.scenarios.c\n",
            "scenarios/c.py": "",
        },
    )
    assert "package cycle: scenarios <-> simulate" in violations(root)


def test_type_only_imports_make_no_cycle(tmp_path: Path) -> None:
    root = _plant(
        tmp_path,
        {
            "scenarios/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from mmm_workbench.scenarios.b import B\nelse:\n    import numpy\n",
            "scenarios/b.py": "from mmm_workbench.scenarios.a import A\n",
        },
    )
    assert violations(root) == []
    graph, external = import_graph(root)
    assert graph[f"{PROJECT}.scenarios.a"] == set() and external[f"{PROJECT}.scenarios.a"] == {
        "typing",
        "numpy",
    }
