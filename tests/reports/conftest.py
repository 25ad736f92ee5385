"""Fixtures: synthetic run directories written by the stub backends of ``reports_stubs``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from reports_stubs import some_divergent, write_stub_run

from mmm_workbench.reports.tables import RunScores, score_run


@pytest.fixture(scope="session")
def stub_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three cells (calibrated, overconfident, biased) x 300 replicates x 200 draws; one
    fit in ten of the biased cell has divergences."""
    return write_stub_run(
        tmp_path_factory.mktemp("stub") / "run",
        {"calibrated": "calibrated", "overconfident": "overconfident", "biased": "biased"},
        replicates=300,
        diagnostics={"biased": some_divergent},
    )


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
def stub_scores(stub_run: Path) -> RunScores:
    """The stub run, scored once for every test that reads it."""
    return score_run(stub_run)
