"""Backends other than MAP on a tiny model (PyTensor uncompiled): variational inference,
Pathfinder, and refusing a backend whose packages are missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mmm_workbench.recover.inference import BACKENDS, get_backend
from mmm_workbench.recover.models.workbench import GEOMETRIES
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.contract import TRUTH_VERSION
from tests.recover.conftest import SMALL

ONE_CELL = SMALL.replace('[grid]\n"data.proxy.noise_sd" = [0.0, 0.2]\n', "")


@pytest.mark.parametrize(
    "backend",
    [
        "advi",
        pytest.param("fullrank_advi", marks=pytest.mark.slow),  # ~13 s
        pytest.param("pathfinder", marks=pytest.mark.slow),  # ~17 s
    ],
)
def test_approximate_backends_write_records(tmp_path: Path, backend: str) -> None:
    text = ONE_CELL.replace(
        'backend = "map"',
        f'backend = "{backend}"\ndraws = 50\n'
        + ("options = { iterations = 50 }" if "advi" in backend else "options = { num_paths = 2 }"),
    )
    summary = run_grid(text, tmp_path / "run", RunOptions(replicates=1))
    assert summary.failed == 0, summary.results
    store = RunStore(tmp_path / "run")
    ((cell, rep, _),) = store.records()
    record = store.read_record(cell, rep)
    assert record.attrs["backend"] == backend
    # the workbench model's resolved sampling coordinates, never the "auto" setting
    assert record.attrs["geometry"] in GEOMETRIES and record.attrs["geometry"] != "auto"
    assert record.attrs["truth_version"] == TRUTH_VERSION  # the truth's definition it holds
    assert record["posterior"].sizes["sample"] == 50
    assert np.all(np.isfinite(record["posterior"]["contribution_share"]))


def test_every_backend_is_registered_by_name() -> None:
    assert set(BACKENDS) == {
        "nutpie",
        "pymc",
        "numpyro",
        "pathfinder",
        "advi",
        "fullrank_advi",
        "map",
    }


def test_a_backend_with_missing_packages_is_refused() -> None:
    if importlib.util.find_spec("jax") is None:
        with pytest.raises(
            ValueError,
            match=r"fit.backend = 'numpyro' needs jax.*pip install 'mmm-workbench\[jax\]'",
        ):
            get_backend("numpyro")
    else:
        assert get_backend("numpyro").name == "numpyro"
