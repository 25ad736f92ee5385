"""Fixtures: synthetic run directories written by the stub backends of ``reports_stubs``."""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from reports_stubs import some_divergent, write_stub_run

from mmm_workbench.reports.tables import RunScores, score_run


def once_per_run[T](
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]
) -> T:
    """``build(directory)``, once per test run: under pytest-xdist the first worker that
    asks builds it (under a file lock, in the run's shared temporary directory) and the
    others read its pickle; in one process, a plain call."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # this run's, above every worker's
    pickled = shared / f"{name}.pickle"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if pickled.is_file():
            value: T = pickle.loads(pickled.read_bytes())
            return value
        (shared / name).mkdir(exist_ok=True)
        value = build(shared / name)
        partial = shared / f"{name}.pickle.tmp"
        partial.write_bytes(pickle.dumps(value))
        partial.replace(pickled)
        return value


def _stub_run(directory: Path) -> tuple[Path, RunScores]:
    run = write_stub_run(
        directory / "run",
        {"calibrated": "calibrated", "overconfident": "overconfident", "biased": "biased"},
        replicates=300,
        diagnostics={"biased": some_divergent},
    )
    return run, score_run(run)


@pytest.fixture(scope="session")
def _stub(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunScores]:
    """The stub run and its scores, built once per test run (12 CPU s to write, 2 to
    score): the pytest-xdist workers share them."""
    return once_per_run(tmp_path_factory, "stub", _stub_run)


@pytest.fixture(scope="session")
def stub_run(_stub: tuple[Path, RunScores]) -> Path:
    """Three cells (calibrated, overconfident, biased) x 300 replicates x 200 draws; one
    fit in ten of the biased cell has divergences. Read only: tests share it."""
    return _stub[0]


@pytest.fixture(scope="session")
def small_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stub_run(
        tmp_path_factory.mktemp("small") / "run",
        {"a": "calibrated", "b": "biased"},
        replicates=6,
        draws=50,
    )


@pytest.fixture
def small_run(small_template: Path, tmp_path: Path) -> Path:
    """A calibrated and a biased cell x 6 replicates x 50 draws, a fresh copy per test."""
    return Path(shutil.copytree(small_template, tmp_path / "small"))


@pytest.fixture(scope="session")
def stub_scores(_stub: tuple[Path, RunScores]) -> RunScores:
    """The stub run, scored once for every test that reads it."""
    return _stub[1]
