"""The README's promise, on real MCMC (nutpie, compiled for real): a run's records are
identical, every variable of every group (truth, posterior, prior) bit for bit, whether the
grid runs serially, on 2 worker processes or on a local Dask cluster, and whether the
compile caches (PyTensor's, numba's for nutpie) start cold or warm (slow test); and the
comparison itself sees a one-ulp change (default tests).

Each run is a fresh ``mmm-workbench run`` process whose caches live under the test's
directory: PyTensor's ``base_compiledir`` (which holds numba's PyTensor cache as well, so
``compiledir`` alone does not make numba cold), ``NUMBA_CACHE_DIR`` and
``XDG_CACHE_HOME``. Only the attributes that describe the execution (``timings``, ``pid``
and ``compiled``: which fit of a worker paid the compilation) may differ.

Issue 10, defect 10: with PyTensor's default fast-math, a cold cache gave different
posteriors. The cause, measured without MCMC (the test
:func:`test_compiled_log_density_identical_cold_and_warm` checks it): the cell's compiled
log density and gradient, at fixed points, differed by 1e-16 to 1e-14 (relative) between a
process that compiled the per-Op kernels itself and one that loaded them from PyTensor's
numba cache; cold compiles agreed with each other, and warm loads with each other. The
workbench compiles without fast-math
(:func:`mmm_workbench.recover.inference.exact_numba_math`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.recover.store import RunStore
from tests.recover.conftest import SMALL

SCENARIO = (
    SMALL.replace("periods = 30", "periods = 52")
    .replace("train_periods = 30", "train_periods = 52")
    .replace(
        'backend = "map"',
        'backend = "nutpie"\ndraws = 150\ntune = 150\nchains = 2\nkeep_draws = 100',
    )
)
"""Two cells x 2 replicates, 2 channels x 52 weeks, nutpie with its chains in threads."""

EXECUTION = {"timings", "pid", "compiled"}
"""Record attributes that say how a fit was executed, not what it estimated."""


def _environment(cache: Path) -> dict[str, str]:
    """The environment of a process whose compile caches all live under ``cache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}  # real compilation
    return env | {
        "PYTENSOR_FLAGS": f"base_compiledir={cache / 'pytensor'}",
        "NUMBA_CACHE_DIR": str(cache / "numba"),
        "XDG_CACHE_HOME": str(cache / "xdg"),
    }


def _run(scenario: Path, out: Path, cache: Path, *extra: str) -> None:
    command = [sys.executable, "-m", "mmm_workbench.recover.cli", "run", str(scenario)]
    done = subprocess.run(
        [*command, "--out", str(out), "--quiet", *extra],
        capture_output=True,
        text=True,
        env=_environment(cache),
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


EVALUATE = """
import sys, tomllib
import numpy as np
from mmm_workbench.recover.fitting import CellFitter
from mmm_workbench.scenarios import expand_grid, parse_scenario

cell = expand_grid(parse_scenario(tomllib.loads(sys.stdin.read())))[0]
compiled = CellFitter(cell).model.prepared  # nutpie's compiled model of the cell
points = np.random.default_rng(0).normal(0.0, 0.5, (3, compiled.n_dim))
for x in [compiled.initial_point_func(0), *points]:
    logp, grad = compiled.logp_func(np.asarray(x, dtype=np.float64))
    expanded = compiled.expand_func(np.asarray(x, dtype=np.float64))[0]
    print(*(np.asarray(v, dtype=np.float64).tobytes().hex() for v in (logp, grad, expanded)))
"""
"""A fresh process: compile the scenario's first cell for nutpie, and print its log density,
gradient and deterministics at 4 fixed points, bit for bit (hex)."""


def _evaluate(cache: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", EVALUATE],
        input=SCENARIO,
        capture_output=True,
        text=True,
        env=_environment(cache),
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    return lines


@pytest.mark.slow  # 2 cold compiles of a cell (about 2 CPU minutes each) and a warm one
def test_compiled_log_density_identical_cold_and_warm(tmp_path: Path) -> None:
    """The compiled model of a cell evaluates the same bits in a process that compiles it
    with cold caches (twice, in two fresh cache folders) and in one that loads it from the
    caches the first left warm: no MCMC, so a difference is the compiled code's."""
    cold = _evaluate(tmp_path / "a")
    assert any((tmp_path / "a" / "pytensor" / "numba").iterdir()), "numba's cache was not used"
    assert _evaluate(tmp_path / "b") == cold, "two cold compiles differ"
    assert _evaluate(tmp_path / "a") == cold, "warm caches give other bits than a cold compile"


def differences(a: Path, b: Path) -> list[str]:
    """Every difference between two runs' records: record sets, groups, variables (values
    bit for bit, NaN equal to NaN; dtypes, coordinates) and attributes outside
    :data:`EXECUTION`."""
    left, right = RunStore(a), RunStore(b)
    keys = sorted((c, r) for c, r, _ in left.records())
    out = []
    if keys != sorted((c, r) for c, r, _ in right.records()):
        return [f"record sets differ: {keys} vs {sorted(right.records())}"]
    for cell, rep in keys:
        x, y = left.read_record(cell, rep), right.read_record(cell, rep)
        nodes_x = {n.path: n for n in x.subtree}
        nodes_y = {n.path: n for n in y.subtree}
        if set(nodes_x) != set(nodes_y):
            out.append(f"{cell}/{rep}: groups {sorted(nodes_x)} vs {sorted(nodes_y)}")
            continue
        for path, node in nodes_x.items():
            where = f"{cell}/{rep}{path}"
            dx = node.to_dataset(inherit=False)
            dy = nodes_y[path].to_dataset(inherit=False)
            if set(dx.variables) != set(dy.variables):
                out.append(f"{where}: variables {sorted(set(dx.variables) ^ set(dy.variables))}")
            for name in set(dx.variables) & set(dy.variables):
                u, v = dx.variables[name].values, dy.variables[name].values
                nan = u.dtype.kind in "fc"
                if u.dtype != v.dtype or not np.array_equal(u, v, equal_nan=nan):
                    out.append(f"{where}/{name} differs")
            ax = {k: v for k, v in node.attrs.items() if k not in EXECUTION}
            ay = {k: v for k, v in nodes_y[path].attrs.items() if k not in EXECUTION}
            if ax != ay:
                out.append(f"{where}: attributes {sorted(k for k in ax if ax[k] != ay.get(k))}")
    return out


def test_differences_sees_one_changed_draw(tmp_path: Path) -> None:
    """The comparison can fail: a copy of a record with one posterior draw changed by one
    ulp is reported, and the unchanged copy is not."""
    store = RunStore(tmp_path / "a")
    posterior = xr.Dataset({"roas": (("sample", "channel"), np.ones((3, 2)))})
    truth = xr.Dataset({"roas": ("channel", np.array([1.0, np.nan]))})
    tree = xr.DataTree.from_dict({"/posterior": posterior, "/truth": truth})
    tree.attrs = {"scenario": "s", "pid": 1}
    store.write_record("c", 0, tree)
    other = RunStore(tmp_path / "b")
    tree.attrs = {"scenario": "s", "pid": 2}  # execution only
    other.write_record("c", 0, tree)
    assert differences(tmp_path / "a", tmp_path / "b") == []
    changed = posterior.copy(deep=True)
    changed["roas"][1, 0] = np.nextafter(1.0, 2.0)
    other.write_record("c", 0, xr.DataTree.from_dict({"/posterior": changed, "/truth": truth}))
    found = differences(tmp_path / "a", tmp_path / "b")
    assert "c/0/posterior/roas differs" in found


@pytest.mark.slow  # real MCMC: 3 runs of 4 fits, the first compiling with cold caches
def test_records_identical_across_executors_and_compile_caches(tmp_path: Path) -> None:
    """Serial with cold caches (every function compiled in the run), then 2 processes and
    Dask (2 local workers) with the caches it left warm (every function loaded from them):
    identical records."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    cache = tmp_path / "cache"
    runs = {
        "serial, cold caches": ("serial-cold", ()),
        "2 processes, warm caches": ("processes-warm", ("--workers", "2")),
        "dask local:2, warm caches": ("dask-warm", ("--dask", "local:2")),
    }
    for name, extra in runs.values():
        _run(scenario, tmp_path / name, cache, *extra)
        assert any((cache / "pytensor" / "numba").iterdir()), "numba's cache was not used"
    reference = tmp_path / "serial-cold"
    assert len(list(RunStore(reference).records())) == 4
    for label, (name, _) in runs.items():
        assert differences(reference, tmp_path / name) == [], label
