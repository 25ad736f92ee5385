"""Shared fixtures: tiny fixed-seed specs, and the shipped confounded-demand scenario."""

from __future__ import annotations

import os

# Fits in the default suite run PyTensor without compiling (python linker): tiny models
# fit in a second or two, where a cold C or numba compile takes a minute per graph.
os.environ.setdefault("PYTENSOR_FLAGS", "mode=FAST_COMPILE")

import copy
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from mmm_workbench.scenarios import Scenario, load_scenario, parse_scenario

settings.register_profile(
    "workbench", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("workbench")


def _scratch_in_memory() -> None:
    """Tests' temporary directories on ``/dev/shm`` where it is a tmpfs with room.

    A default run writes about 4,000 files (records, reports) and pytest deletes the
    oldest of its kept runs' directories when it starts one. On a disk mounted with
    ``discard`` (this project's machines), unlinking a file already written back costs
    about 4 ms: 13 s a run. An explicit ``PYTEST_DEBUG_TEMPROOT`` or ``--basetemp`` wins;
    a small ``/dev/shm`` (a container's 64 MB default) is left alone."""
    shm = "/dev/shm"
    if "PYTEST_DEBUG_TEMPROOT" in os.environ or not os.access(shm, os.W_OK):
        return
    try:
        with open("/proc/mounts") as mounts:
            tmpfs = any(line.split()[1:3] == [shm, "tmpfs"] for line in mounts)
        room = os.statvfs(shm)
    except OSError:
        return
    if tmpfs and room.f_bavail * room.f_frsize >= 2 * 2**30:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = shm


_scratch_in_memory()

_WORKBENCH_MODEL = "mmm_workbench.recover.models.workbench"
_GEOMETRY = "recover.models.workbench.GEOMETRY"


def _workbench_settings() -> dict[str, object]:
    """The process-wide settings every later test (and every command it starts) reads: the
    ``MMM_*`` environment and the workbench model's sampling geometry, once loaded."""
    settings: dict[str, object] = {k: v for k, v in os.environ.items() if k.startswith("MMM_")}
    model = sys.modules.get(_WORKBENCH_MODEL)
    if model is not None:
        settings[_GEOMETRY] = model.GEOMETRY
    return settings


@pytest.fixture(autouse=True)
def _settings_do_not_leak() -> Iterator[None]:
    """Fail a test that leaves a workbench setting changed for the tests after it.

    The slow run of 2026-12-01 fitted tutorial 3 in the power study's geometry (``level``):
    ``bench/power.py`` pinned it for its whole process, the test session, and the
    tutorials' commands inherited it. The settings are put back, and the test fails naming
    what it left."""
    before = _workbench_settings()
    yield
    after = _workbench_settings()
    for name in set(after) - set(before):  # the environment first: the geometry reads it
        if name.startswith("MMM_"):
            os.environ.pop(name)
    for name, value in before.items():
        if name.startswith("MMM_"):
            os.environ[name] = str(value)
    model = sys.modules.get(_WORKBENCH_MODEL)
    if model is not None:
        if _GEOMETRY not in before:  # loaded by this test: what importing it gives
            try:
                before[_GEOMETRY] = model._geometry_from_env()
            except ValueError:
                before[_GEOMETRY] = model.DEFAULT_GEOMETRY
        model.GEOMETRY = before[_GEOMETRY]
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        pytest.fail(f"the test left process-wide settings changed: {', '.join(changed)}")


ROOT = Path(__file__).resolve().parents[1]
CONFOUNDED = ROOT / "scenarios" / "confounded-demand.toml"

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 7,
    "data": {
        "periods": 40,
        "train_periods": 36,
        "intercept": 50.0,
        "demand": {
            "scale": 100.0,
            "noise_sd": 0.05,
            "rho": 0.5,
            "trend": {"kind": "linear", "level": 1.0, "slope": 0.01},
            "seasonality": [{"period": 13, "sin": [0.1], "cos": [0.05]}],
        },
        "proxy": {"noise_sd": 0.1},
        "noise": {"kind": "normal", "sd": 2.0},
        "channels": [
            {
                "name": "tv",
                "spend": {"demand_share": 10.0, "noise_sd": 0.2},
                "adstock": {"kind": "geometric", "alpha": 0.6, "l_max": 6},
                "saturation": {"kind": "logistic", "lam": 1.5},
                "beta": 40.0,
            },
            {
                "name": "search",
                "spend": {"demand_share": 5.0, "noise_sd": 0.3, "demand_strength": 0.5},
                "adstock": {"kind": "delayed", "alpha": 0.5, "theta": 1.0, "l_max": 4},
                "saturation": {"kind": "hill", "slope": 1.5, "kappa": 0.5},
                "beta": 20.0,
            },
        ],
    },
}


def tiny_raw(**data_overrides: Any) -> dict[str, Any]:
    """A deep copy of the tiny scenario's raw TOML dict with ``data`` keys overridden."""
    raw = copy.deepcopy(TINY)
    raw["data"].update(data_overrides)
    return raw


@pytest.fixture
def tiny() -> Scenario:
    return parse_scenario(tiny_raw())


@pytest.fixture(scope="session")
def confounded() -> Scenario:
    return load_scenario(CONFOUNDED)


def portable_bytes(value: Any) -> bytes:
    """Return an array's bytes with floats rounded to 8 decimals of their power of ten.

    For digests of simulated data meant to hold on any x86-64 machine: numpy's exp, log, sin
    and friends take other SIMD paths on a CPU with AVX-512 (numpy's X86_V4) than on one
    without, and differ in the last bits. Measured on quickstart's data (the digests in
    ``test_truth_priors`` and ``test_geo``): the raw bytes' digest changes with
    ``NPY_DISABLE_CPU_FEATURES="X86_V4"`` and again with ``"X86_V4 X86_V3"``; this one does
    not. Each float array is divided by the power of ten at or above its largest magnitude
    (at least 1, so that cancellation noise such as 1e-14 becomes 0), rounded to 8 decimals,
    and negative zeros made positive. Other dtypes keep their bytes.
    """
    a = np.asarray(value)
    if a.dtype.kind == "f" and a.size:
        top = float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0))
        scale = 10.0 ** np.ceil(np.log10(max(top, 1.0)))
        a = np.round(a / scale, 8) + 0.0
    return np.ascontiguousarray(a).tobytes()


def load_bench(name: str) -> ModuleType:
    """Load the benchmark script ``bench/<name>.py`` as the module ``name``.

    ``bench/`` goes on ``sys.path`` first: a script may import its sibling scripts.
    """
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench_script() -> Callable[[str], ModuleType]:
    """:func:`load_bench`, for tests of a benchmark script's own logic."""
    return load_bench


@pytest.fixture(scope="session")
def power() -> ModuleType:
    """The power study's script, ``bench/power.py``, loaded as the module ``power``."""
    return load_bench("power")


@pytest.fixture
def one_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report draws one figure, the contribution shares (the cheapest), instead of all
    of them: for tests whose subject is the report's page, files or command line, not its
    figures. A small run's figures cost about 9 CPU s a report (the recovery figure 3 s);
    ``test_report``'s page test and ``test_figures_audit`` draw every figure."""
    from mmm_workbench.reports import report

    monkeypatch.setattr(report, "FIGURES", tuple(f for f in report.FIGURES if f.name == "shares"))
