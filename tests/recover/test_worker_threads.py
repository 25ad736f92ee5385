"""Threads per fit: local workers share the CPUs (``MMM_WORKBENCH_THREADS``), nutpie's default
``cores`` follows, and a bad value is refused before any fitting. No sampling here: nutpie's
draws not depending on ``cores`` is measured (README, Benchmarks), not tested."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.recover import inference, runner
from mmm_workbench.recover.inference import THREADS_ENV, Nutpie, fit_threads
from mmm_workbench.recover.runner import RunOptions, plan_run, run_grid, worker_threads
from mmm_workbench.scenarios.spec import FitSpec
from tests.recover.conftest import SMALL


@pytest.fixture(autouse=True)
def _no_threads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)


def test_fit_threads_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert fit_threads() == 6
    monkeypatch.setenv(THREADS_ENV, "2")
    assert fit_threads() == 2
    for bad in ("0", "x", "-1", "1.5"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ValueError, match=rf"^{THREADS_ENV} = '{bad}': must be an integer >= 1"):
            fit_threads()


@pytest.mark.parametrize(
    ("cpus", "options", "expected"),
    [
        (2, RunOptions(), None),  # this process: every CPU
        (2, RunOptions(workers=2), 1),
        (2, RunOptions(workers=3), 1),
        (8, RunOptions(workers=2), 4),
        (8, RunOptions(dask="local:4"), 2),
        (8, RunOptions(dask="local:1"), None),
        (8, RunOptions(dask="tcp://scheduler:8786"), None),  # other machines: not capped
    ],
)
def test_workers_share_the_cpus(
    monkeypatch: pytest.MonkeyPatch, cpus: int, options: RunOptions, expected: int | None
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert worker_threads(options) == expected
    monkeypatch.setenv(THREADS_ENV, "3")  # the user's setting wins
    assert worker_threads(options) == 3


def test_workers_inherit_the_threads_and_the_parent_is_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[str | None] = []

    @contextlib.contextmanager
    def executor(workers: int, dask: str | None) -> Iterator[Any]:
        seen.append(os.environ.get(THREADS_ENV))  # what a worker started here inherits
        yield lambda tasks: (result for result in ())

    monkeypatch.setattr(runner, "open_executor", executor)
    monkeypatch.setattr(runner, "validate_cells", lambda cells: None)  # not under test: slow
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    run_grid(SMALL, tmp_path / "two", RunOptions(workers=2))
    run_grid(SMALL, tmp_path / "one", RunOptions())
    assert seen == ["1", None]
    assert THREADS_ENV not in os.environ


def test_a_bad_threads_setting_is_refused_before_fitting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match=rf"^{THREADS_ENV} = 'many'"):
        plan_run(SMALL)


def _groups(raw: object, skip: object) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """The converted trace of a fake sampler: 4 chains x 5 draws of 3 leapfrog steps each."""
    steps = xr.Dataset({"n_steps": (("chain", "draw"), np.full((4, 5), 3))})
    return xr.Dataset({"x": (("chain", "draw"), np.zeros((4, 5)))}), steps, steps


@pytest.mark.parametrize(("threads", "cores"), [(None, 2), ("1", 1), ("8", 4)])
def test_nutpie_samples_on_the_fit_threads(
    monkeypatch: pytest.MonkeyPatch, threads: str | None, cores: int
) -> None:
    asked: list[int] = []

    def sample(target: object, **kwargs: Any) -> object:
        asked.append(kwargs["cores"])
        return object()

    monkeypatch.setitem(sys.modules, "nutpie", SimpleNamespace(sample=sample))  # no import
    monkeypatch.setattr(inference, "_from_raw_trace", _groups)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    if threads is not None:
        monkeypatch.setenv(THREADS_ENV, threads)
    model = SimpleNamespace(model=SimpleNamespace(free_RVs=[SimpleNamespace(name="x")]))
    result = Nutpie().sample(object(), model, FitSpec(chains=4), seed=1)
    assert asked == [cores]  # at most the chains
    assert result.diagnostics["leapfrog_steps"] == 2 * 4 * 5 * 3
    Nutpie().sample(object(), model, FitSpec(chains=4, options={"cores": 3}), seed=1)
    assert asked[-1] == 3  # the scenario's own setting wins
