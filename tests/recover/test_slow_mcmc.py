"""Real MCMC from the command line (``nox -s slow``): a 2-channel, 52-week scenario with
2 cells x 3 replicates, with nutpie and with PyMC's NUTS; and nutpie's draws identical
whether the grid runs serially or on 2 workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.recover.models.data import ESTIMANDS as MODEL_ESTIMANDS
from mmm_workbench.recover.store import RunStore
from tests.recover.conftest import SMALL

pytestmark = pytest.mark.slow

SCENARIO = (
    SMALL.replace("periods = 30", "periods = 52")
    .replace("train_periods = 30", "train_periods = 52")
    .replace("replicates = 2", "replicates = 3")
)
ESTIMANDS = {*MODEL_ESTIMANDS, "adstock_alpha", "saturation_lam"}


def _run(scenario: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}  # real compilation
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mmm_workbench.recover.cli",
            "run",
            str(scenario),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )


@pytest.mark.parametrize("backend", ["nutpie", "pymc"])
def test_real_mcmc_from_the_cli(tmp_path: Path, backend: str) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        SCENARIO.replace(
            'backend = "map"',
            f'backend = "{backend}"\ndraws = 300\ntune = 300\nchains = 2\nkeep_draws = 200',
        )
    )
    done = _run(scenario, tmp_path / "run")
    assert done.returncode == 0, done.stdout + done.stderr
    store = RunStore(tmp_path / "run")
    records = list(store.records())
    assert len(records) == 6
    for cell, rep, _ in records:
        record = store.read_record(cell, rep)
        assert (
            ESTIMANDS
            <= set(record["posterior"].data_vars)
            <= set(record["truth"].data_vars) | {"response"}
        )
        assert record["posterior"].sizes["sample"] == 200
        assert "max_rhat" in record.attrs["diagnostics"]


def test_nutpie_draws_identical_serial_and_parallel(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        SCENARIO.replace(
            'backend = "map"',
            'backend = "nutpie"\n'
            "draws = 200\ntune = 200\nchains = 2\nkeep_draws = 100\n"
            "options = { cores = 1 }",
        )
    )
    assert _run(scenario, tmp_path / "serial").returncode == 0
    assert _run(scenario, tmp_path / "parallel", "--workers", "2").returncode == 0
    serial, parallel = RunStore(tmp_path / "serial"), RunStore(tmp_path / "parallel")
    for cell, rep, _ in serial.records():
        a, b = serial.read_record(cell, rep), parallel.read_record(cell, rep)
        xr.testing.assert_identical(a["truth"].to_dataset(), b["truth"].to_dataset())
        np.testing.assert_array_equal(a["posterior"]["roas"], b["posterior"]["roas"])
