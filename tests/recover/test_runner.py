"""The runner: records, resumption after SIGKILL, failure records, determinism across
executors, compile once per cell, and bad input caught before any fitting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.recover import inference, tasks
from mmm_workbench.recover.cli import main
from mmm_workbench.recover.models.data import ESTIMANDS as MODEL_ESTIMANDS
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.records import read_record
from mmm_workbench.scenarios.seeds import sampler_seed
from tests.recover.conftest import SMALL

ESTIMANDS = {*MODEL_ESTIMANDS, "adstock_alpha", "saturation_lam"}


def _records(out: Path) -> dict[tuple[str, int], xr.DataTree]:
    store = RunStore(out)
    return {(c, r): store.read_record(c, r) for c, r, _ in store.records()}


QUICK_MAXEVAL = 10
"""The MAP backend's cap on log-density evaluations in these tests: they are about records,
resumption and failures, which any point serves; under the tests' FAST_COMPILE mode the
full optimizations (about 200 evaluations a fit, 25 ms each) were most of their cost."""


@pytest.fixture
def quick_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cap the MAP backend at :data:`QUICK_MAXEVAL` log-density evaluations."""
    monkeypatch.setattr(inference.Map, "maxeval", QUICK_MAXEVAL)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The two-cell MAP run of ``SMALL`` through the CLI, from an empty worker cache (so its
    first fit per cell compiles), and the cache it leaves: its compiled cells, which the
    failure test reuses (the same cells; compiling them again cost 10 CPU s)."""
    root = tmp_path_factory.mktemp("small_run")
    small = root / "small.toml"
    small.write_text(SMALL)
    out = root / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inference.Map, "maxeval", QUICK_MAXEVAL)
        patch.setattr(tasks, "_FITTERS", {})
        assert main(["run", str(small), "--out", str(out)]) == 0
        return out, dict(tasks._FITTERS)


def test_run_writes_a_record_per_fit_compiles_once_per_cell_and_resumes(
    small_run: tuple[Path, dict[str, object]],
) -> None:
    out, _ = small_run
    records = _records(out)
    assert len(records) == 4 and {r for _, r in records} == {0, 1}
    for record in records.values():
        assert set(record["posterior"].data_vars) >= ESTIMANDS
        assert set(record["truth"].data_vars) >= ESTIMANDS
        assert record["posterior"].sizes["sample"] == 1  # MAP: one point
        assert np.all(np.isfinite(record["posterior"]["roas"]))
        assert ESTIMANDS - {"baseline"} <= set(record["prior"].data_vars)
        assert record["prior"].sizes["sample"] == 400  # keep_draws prior draws
        assert float(record["prior"]["roas"].std("sample").min()) > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["cells"]) == 2 and "finished" in manifest
    assert (out / "scenario.toml").read_text() == SMALL
    # one compilation per cell (2 cells x 2 MAP fits), then reuse: only the first fit of
    # each cell's fitter carries a compile time
    compiled = {
        (cell, replicate): json.loads(record.attrs["timings"])["compile_s"] > 0
        for (cell, replicate), record in records.items()
    }
    assert sorted(compiled.values()) == [False] * 2 + [True] * 2
    assert {cell for (cell, _), first in compiled.items() if first} == {c for c, _ in records}
    again = run_grid(SMALL, out, RunOptions(replicates=2))  # resumes: nothing left to fit
    assert again.results == [] and again.skipped == 4


def test_a_fit_record_holds_the_predictive_of_its_own_likelihood(
    small_run: tuple[Path, dict[str, object]],
) -> None:
    """The workbench model (MAP, one draw), in every record of the run as the store reads
    it back: the pointwise log likelihood, found through the PyMC graph, sums to the model's
    own log likelihood estimand (its numpy formula). (``small_run``'s records: fitting the
    same cell again for this cost 6.5 CPU s.)"""
    out, _ = small_run
    records = _records(out)
    assert len(records) == 4
    for record in records.values():
        groups = set(record.children)
        assert {"observed_data", "posterior_predictive", "log_likelihood"} <= groups
        pointwise = record["log_likelihood"]["y"].to_numpy()
        summed = record["posterior"]["log_likelihood"].to_numpy()
        np.testing.assert_allclose(pointwise.sum(axis=1), summed, rtol=1e-8)
        assert record["observed_data"].attrs["target"] == "sales"
        assert record["posterior"]["chain"].values.tolist() == [0]
        assert record["posterior_predictive"]["y"].shape == (1, 30)


@pytest.mark.slow  # about 30-60 s: two CLI processes with a kill between them
def test_killed_run_resumes_without_losing_or_refitting(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "mmm_workbench.recover.cli",
        "run",
        str(small),
        "--out",
        str(out),
        "--replicates",
        "6",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy()
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(out.glob("fits/*/*.arrow"))) < 3:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {p: p.stat().st_mtime_ns for p in out.glob("fits/*/*.arrow")}
    assert 3 <= len(before) < 12, "kill the run mid-way"
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    after = sorted(out.glob("fits/*/*.arrow"))
    assert len(after) == 12
    for path, mtime in before.items():
        assert path.stat().st_mtime_ns == mtime  # finished fits were not refitted
    for path in after:  # and none is corrupt
        assert read_record(path).estimand("roas").draws.size > 0
    assert not list(out.glob("**/*.tmp"))


def test_failing_fit_leaves_a_failure_record(
    small_run: tuple[Path, dict[str, object]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    quick_map: None,
) -> None:
    """The MAP backend raises for one sampler seed (one replicate of the second cell); the
    cells are ``small_run``'s, already compiled in this process."""
    from mmm_workbench.scenarios import expand_grid, load_scenario

    scenario_file = tmp_path / "flaky.toml"
    scenario_file.write_text(SMALL)
    cells = expand_grid(load_scenario(scenario_file))
    monkeypatch.setattr(tasks, "_FITTERS", dict(small_run[1]))
    bad_seed = [sampler_seed(3, cells[1].cell_id, 1)]
    fit = inference.Map.run

    def fail_on_one(self, prepared, model, data, spec, seed):  # type: ignore[no-untyped-def]
        if seed in bad_seed:
            raise RuntimeError("backend exploded")
        return fit(self, prepared, model, data, spec, seed)

    monkeypatch.setattr(inference.Map, "run", fail_on_one)
    out = tmp_path / "run"
    assert main(["run", str(scenario_file), "--out", str(out)]) == 1
    failures = list(RunStore(out).failures())
    assert [(c, r) for c, r, _ in failures] == [(cells[1].cell_id, 1)]
    info = failures[0][2]
    assert "RuntimeError: backend exploded" in info["error"] and "Traceback" in info["traceback"]
    assert len(list(RunStore(out).records())) == 3
    assert "failed" in capsys.readouterr().out
    # without --retry-failed the failure stands; with it, only that fit runs again
    bad_seed.clear()
    assert run_grid(SMALL, out).results == []
    retried = run_grid(SMALL, out, RunOptions(retry_failed=True))
    assert [(r.cell_id, r.replicate, r.status) for r in retried.results] == [
        (cells[1].cell_id, 1, "done")
    ]
    assert list(RunStore(out).failures()) == []


@pytest.mark.slow  # about 40-90 s: starts worker processes and a local Dask cluster
def test_same_results_serial_processes_and_dask(small: Path, tmp_path: Path) -> None:
    run_grid(SMALL, tmp_path / "serial")
    run_grid(SMALL, tmp_path / "procs", RunOptions(workers=2))
    run_grid(SMALL, tmp_path / "dask", RunOptions(dask="local:2"))
    serial = _records(tmp_path / "serial")
    for other in ("procs", "dask"):
        records = _records(tmp_path / other)
        assert records.keys() == serial.keys()
        for key, record in records.items():
            xr.testing.assert_identical(
                record["truth"].to_dataset(), serial[key]["truth"].to_dataset()
            )
            xr.testing.assert_allclose(
                record["posterior"].to_dataset(), serial[key]["posterior"].to_dataset(), rtol=1e-6
            )
            assert record.attrs["sampler_seed"] == serial[key].attrs["sampler_seed"]


def test_a_different_scenario_in_the_directory_is_refused(small: Path, tmp_path: Path) -> None:
    """Least-squares fits (milliseconds): the refusal is the run directory's, not the
    model's."""
    ols = SMALL.replace(
        'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }',
        'kind = "ols"\nadstock = { kind = "geometric", l_max = 3, alpha = 0.35 }\n'
        'saturation = { kind = "logistic", lam = 2.0 }',
    )
    assert ols != SMALL
    out = tmp_path / "run"
    run_grid(ols, out, RunOptions(replicates=1))
    assert run_grid(ols, out, RunOptions(replicates=1)).skipped == 2  # the same one resumes
    with pytest.raises(ValueError, match="holds a run of a different scenario"):
        run_grid(ols.replace("seed = 3", "seed = 4"), out, RunOptions(replicates=1))


BAD = [
    ('backend = "map"', 'backend = "hmc"', "fit.backend = 'hmc': unknown backend; known: nutpie"),
    (
        'controls = ["demand_proxy"]',
        'controls = ["demand_proxy"]\npriors = { sigma = { dist = "HalfNormall", sigma = 1 } }',
        "model.priors.sigma.dist = 'HalfNormall': not a PyMC distribution",
    ),
    (
        'controls = ["demand_proxy"]',
        'controls = ["demand_proxy"]\npriors = { sigma = { dist = "HalfNormal", sigma = -1 } }',
        "model.priors.sigma = HalfNormal(sigma=-1): invalid arguments",
    ),
    (
        'controls = ["demand_proxy"]',
        'controls = ["demand_proxy"]\npriors = { sigma = { dist = "HalfNormal", mu = 1 } }',
        "model.priors.sigma = HalfNormal(mu=1): invalid arguments: HalfNormal takes sigma, tau, not mu",
    ),
    (
        'controls = ["demand_proxy"]',
        'controls = ["demand_proxy"]\npriors = { adstock_alpha = { dist = "Normal", mu = 0, sigma = 1 } }',
        "model.priors.adstock_alpha = Normal(mu=0, sigma=1): draws fall outside the parameter's support [0, 1]",
    ),
    (
        '"data.proxy.noise_sd" = [0.0, 0.2]',
        '"data.proxy.noise" = [0.0, 0.2]',
        "data.proxy.noise = 0: unknown key",
    ),
    (
        '"data.proxy.noise_sd" = [0.0, 0.2]',
        '"data.channels.radio.beta" = [1.0]',
        "grid path 'data.channels.radio.beta' does not exist",
    ),
    (
        '"data.proxy.noise_sd" = [0.0, 0.2]',
        '"data.proxy.noise_sd" = []',
        "a grid axis needs at least one value",
    ),
    (
        'controls = ["demand_proxy"]',
        'controls = ["price"]',
        "model.controls[0] = 'price': the data has no such column",
    ),
    ("replicates = 2", "replicates = 0", "replicates = 0: must be >= 1"),
    (
        'kind = "workbench"' if False else "[model]\n",
        '[model]\nkind = "prophet"\n',
        "model.kind = 'prophet': unknown model",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD, ids=[m.split(":")[0] for *_, m in BAD])
def test_bad_input_is_refused_before_fitting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    assert old in SMALL
    path = tmp_path / "bad.toml"
    path.write_text(SMALL.replace(old, new))
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out)]) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (out / "fits").exists()


def test_replicates_below_one_on_the_command_line(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(small), "--out", str(tmp_path / "r"), "--replicates", "0"]) == 2
    assert "--replicates = 0: must be >= 1" in capsys.readouterr().err


def test_root_saturation_end_to_end(tmp_path: Path, quick_map: None) -> None:
    """Root (power) saturation: the one unbounded family, whose unit conversion moves the
    effect size (m = c ** -alpha) rather than a parameter. (Through the whole pipeline at
    any point: the capped MAP, not its optimum, which took 293 evaluations.)"""
    text = (
        SMALL.replace('kind = "logistic", lam = 1.5', 'kind = "root", alpha = 0.6')
        .replace('kind = "logistic", lam = 2.5', 'kind = "root", alpha = 0.4')
        .replace('saturation = { kind = "logistic" }', 'saturation = { kind = "root" }')
        .replace('[grid]\n"data.proxy.noise_sd" = [0.0, 0.2]\n', "")  # one cell is enough
    )
    summary = run_grid(text, tmp_path / "run", RunOptions(replicates=1))
    assert summary.failed == 0, summary.results
    for record in _records(tmp_path / "run").values():
        assert np.all(np.isfinite(record["posterior"]["saturation_beta"]))
        assert {"saturation_alpha"} <= set(record["truth"].data_vars)
