"""Faults during a run (issue 10): limits on compilation and sampling, enforced alike
serially, in local processes and under Dask; a killed worker; a second run on the same
directory; a full disk; Ctrl-C; bad --dask addresses; interrupted start-ups; the Dask
dashboard; a scenario parsed, expanded and validated once per run.

The fits here are least-squares fits (``kind = "ols"``: no compilation, milliseconds),
slowed down where a test needs it by the stub worker (``tests/recover/stub_worker.py``).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mmm_workbench.recover import executors, tasks
from mmm_workbench.recover.cli import main
from mmm_workbench.recover.lock import RunLock
from mmm_workbench.recover.models import kinds
from mmm_workbench.recover.runner import RunOptions, plan_run, run_grid
from mmm_workbench.recover.store import RunStore
from tests.recover.conftest import SMALL

ROOT = Path(__file__).resolve().parents[2]
STUB = "tests.recover.stub_worker"

FAST = SMALL.replace(
    'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }',
    'kind = "ols"\nadstock = { kind = "geometric", l_max = 3, alpha = 0.35 }\n'
    'saturation = { kind = "logistic", lam = 2.0 }',
)
"""Two cells of least-squares fits."""

ONE_CELL = FAST.replace('[grid]\n"data.proxy.noise_sd" = [0.0, 0.2]\n', "")


@pytest.fixture
def stub_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Worker processes find ``tests.recover.stub_worker`` and start without stub delays."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{path}" if path else str(ROOT))
    for name in ("STUB_COMPILE_S", "STUB_SAMPLE_S", "STUB_SLOW_REPLICATE", "STUB_DIE_REPLICATE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _failures(out: Path) -> dict[tuple[str, int], dict[str, object]]:
    return {(c, r): info for c, r, info in RunStore(out).failures()}


def _records(out: Path) -> set[tuple[str, int]]:
    return {(c, r) for c, r, _ in RunStore(out).records()}


# --- limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "executor",
    ["serial", "processes", pytest.param("dask", marks=pytest.mark.slow)],  # Dask: ~20 s start
)
def test_fit_timeout_limits_sampling_only_under_every_executor(
    stub_env: pytest.MonkeyPatch, tmp_path: Path, executor: str
) -> None:
    """Compilation (3 s) longer than --fit-timeout (2 s) does not count against it; a
    replicate whose sampling would run 300 s is killed at 2 s with a ``timeout`` record."""
    stub_env.setenv("STUB_COMPILE_S", "3")
    stub_env.setenv("STUB_SAMPLE_S", "300")
    stub_env.setenv("STUB_SLOW_REPLICATE", "1")
    where = {"serial": {}, "processes": {"workers": 2}, "dask": {"dask": "local:1"}}[executor]
    options = RunOptions(replicates=2, fit_timeout=2.0, worker_module=STUB, **where)  # type: ignore[arg-type]
    out = tmp_path / "run"
    t0 = time.monotonic()
    summary = run_grid(ONE_CELL, out, options)
    assert time.monotonic() - t0 < 250, "the 300 s sampler was not killed"
    by_replicate = {r.replicate: r for r in summary.results}
    assert by_replicate[0].status == "done", by_replicate[0].error
    assert by_replicate[1].status == "timeout"
    assert by_replicate[1].seconds < 30  # compilation (3 s, if not cached) + 2 s
    assert "sampling exceeded --fit-timeout = 2 s" in by_replicate[1].error
    (info,) = _failures(out).values()
    assert info["status"] == "timeout" and info["replicate"] == 1
    assert {r for _, r in _records(out)} == {0}


def test_compile_timeout_kills_compilation(stub_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A compilation that would take 300 s is killed at --compile-timeout: the limit is
    never lost, whatever the compiling code does with signals."""
    stub_env.setenv("STUB_COMPILE_S", "300")
    out = tmp_path / "run"
    options = RunOptions(replicates=1, compile_timeout=1.0, fit_timeout=100.0, worker_module=STUB)
    summary = run_grid(ONE_CELL, out, options)
    (result,) = summary.results
    assert result.status == "timeout" and result.seconds < 60
    assert "compilation exceeded --compile-timeout = 1 s" in result.error
    assert _records(out) == set()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--fit-timeout", "-1"),
        ("--fit-timeout", "0"),
        ("--fit-timeout", "nan"),
        ("--fit-timeout", "inf"),
        ("--compile-timeout", "-5"),
        ("--workers", "0"),
    ],
)
def test_bad_limits_are_refused_on_the_command_line(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    out = tmp_path / "run"
    assert main(["run", str(small), "--out", str(out), flag, value]) == 2
    err = capsys.readouterr().err
    assert f"{flag} = " in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


# --- workers ----------------------------------------------------------------------------


def test_a_killed_worker_costs_only_its_fit(stub_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Replicate 1 of each cell kills its worker process (SIGKILL): those two fits get
    failure records, the pool replaces the workers, and every other fit is written."""
    stub_env.setenv("STUB_DIE_REPLICATE", "1")
    out = tmp_path / "run"
    summary = run_grid(FAST, out, RunOptions(replicates=3, workers=2, worker_module=STUB))
    assert sorted((r.replicate, r.status) for r in summary.results) == [
        (0, "done"),
        (0, "done"),
        (1, "failed"),
        (1, "failed"),
        (2, "done"),
        (2, "done"),
    ]
    failures = _failures(out)
    assert {r for _, r in failures} == {1}
    assert all("killed by SIGKILL" in str(info["error"]) for info in failures.values())
    assert len(_records(out)) == 4


# --- the run directory ------------------------------------------------------------------


def test_a_second_run_on_a_locked_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While another process holds the run directory, ``run`` is refused with one line;
    once that process is killed (SIGKILL: its lock file-less lock dies with it), the
    next ``run`` takes the directory over."""
    scenario = tmp_path / "fast.toml"
    scenario.write_text(ONE_CELL)
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom mmm_workbench.recover.lock import RunLock\n"
            f"with RunLock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert main(["run", str(scenario), "--out", str(out), "--replicates", "1"]) == 2
        err = capsys.readouterr().err
        assert "another 'mmm-workbench run' is writing to this run directory" in err
        assert len(err.strip().splitlines()) == 1
        assert list(out.iterdir()) == []  # nothing written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()  # an unclosed pipe is a ResourceWarning, an error here
    assert main(["run", str(scenario), "--out", str(out), "--replicates", "1"]) == 0
    assert len(_records(out)) == 1


def test_the_lock_is_exclusive_within_a_process_too(tmp_path: Path) -> None:
    with RunLock(tmp_path / "run"), pytest.raises(ValueError, match="another"):
        RunLock(tmp_path / "run").__enter__()
    with RunLock(tmp_path / "run"):  # released on exit
        pass


def test_a_full_disk_stops_the_run_with_one_line_and_a_failure_record(
    small: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = tmp_path / "fast.toml"
    scenario.write_text(FAST)

    def no_space(self: RunStore, cell_id: str, replicate: int, record: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RunStore, "write_record", no_space)
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "No space left on device" in line and "the run stops" in line
    assert "Traceback" not in err
    (info,) = _failures(out).values()  # the first fit's; the run stopped there
    assert info["status"] == "unwritable"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_really_full_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 64 KiB tmpfs: the scenario and manifest fit, a record does not. ``run`` exits 1
    with one line (in this process: a crash in the writer would end the test run)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        scenario = tmp_path / "fast.toml"
        scenario.write_text(
            FAST.replace("periods = 30", "periods = 400").replace(
                "train_periods = 30", "train_periods = 400"
            )
        )
        code = main(["run", str(scenario), "--out", str(mount / "run"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 1, err[-2000:]
        errors = [x for x in err.splitlines() if x.startswith("error:")]
        assert len(errors) == 1 and "No space left on device" in errors[0], err[-2000:]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_corrupt_manifest_is_named(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "scenario.toml").write_text(SMALL)
    (out / "manifest.json").write_text('{"scenario": "small", "ident')
    assert main(["run", str(small), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out / "manifest.json") in " ".join(err.split())
    assert len(err.strip().splitlines()) == 1


def test_a_run_killed_before_its_manifest_resumes(tmp_path: Path) -> None:
    """``scenario.toml`` written, ``manifest.json`` not (the run was killed between the
    two): the next run starts the directory afresh instead of refusing it."""
    scenario = tmp_path / "fast.toml"
    scenario.write_text(ONE_CELL)
    out = tmp_path / "run"
    out.mkdir()
    (out / "scenario.toml").write_text(ONE_CELL)
    (out / ".manifest.json.x1y2.tmp").write_text("{")  # the killed writer's temporary file
    assert main(["run", str(scenario), "--out", str(out), "--replicates", "1"]) == 0
    assert json.loads((out / "manifest.json").read_text())["scenario"] == "small"
    assert len(_records(out)) == 1


def test_a_directory_with_only_another_scenario_is_still_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "scenario.toml").write_text(ONE_CELL.replace("seed = 3", "seed = 4"))
    with pytest.raises(ValueError, match="not a run directory"):
        run_grid(ONE_CELL, out, RunOptions(replicates=1))


@pytest.mark.parametrize("name", ["../escape", "/abs/olute", ".", "a/b", "x" * 101, "new\nline"])
def test_the_scenario_name_never_writes_outside_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    scenario = tmp_path / "named.toml"
    scenario.write_text(ONE_CELL.replace('name = "small"', f"name = {json.dumps(name)}"))
    assert main(["run", str(scenario), "--replicates", "1"]) == 2
    err = capsys.readouterr().err
    assert "name" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["named.toml", "work"]
    assert list(work.iterdir()) == []
    assert not Path("/abs").exists()


# --- Ctrl-C -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "executor",
    [
        ["--workers", "1"],
        pytest.param(["--workers", "2"], marks=pytest.mark.slow, id="workers-2"),
        pytest.param(["--dask", "local:1"], marks=pytest.mark.slow, id="dask"),
    ],
    ids=lambda e: "-".join(e).strip("-"),
)
def test_ctrl_c_stops_cleanly_and_loses_no_finished_record(
    tmp_path: Path, executor: list[str]
) -> None:
    scenario = tmp_path / "fast.toml"
    scenario.write_text(FAST)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "mmm_workbench.recover.cli", "run", str(scenario)]
    command += ["--out", str(out), "--replicates", "400", *executor]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(_records(out)) < 3:
        time.sleep(0.05)
    workers_started = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted: the finished fits are in" in err
    store = RunStore(out)
    finished = list(store.records())
    assert 3 <= len(finished) < 800
    for cell, rep, _ in finished:  # every record on disk is whole
        assert store.read_record(cell, rep)["posterior"]["roas"].size > 0
    assert _failures(out) == {}  # the interrupt is not a failure
    _, alive = psutil.wait_procs(workers_started, timeout=5)
    assert alive == []  # no worker process outlives the run


# --- Dask -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("local:abc", "--dask = 'local:abc': local:N needs a whole number of workers"),
        ("local:0", "--dask = 'local:0': local:N needs a whole number of workers"),
        ("local:-2", "--dask = 'local:-2': local:N needs a whole number of workers"),
        ("not an address", "--dask = 'not an address': not a scheduler address"),
        ("tcp://127.0.0.1:1", "--dask = 'tcp://127.0.0.1:1': cannot reach the scheduler"),
    ],
)
def test_bad_dask_addresses_leave_nothing_behind(
    small: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    address: str,
    message: str,
) -> None:
    monkeypatch.setattr(executors, "DASK_CONNECT_TIMEOUT_S", 2.0)
    out = tmp_path / "run"
    t0 = time.monotonic()
    assert main(["run", str(small), "--out", str(out), "--dask", address]) == 2
    assert time.monotonic() - t0 < 60
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_the_local_dask_cluster_has_no_dashboard() -> None:
    with executors.open_executor(1, "local:1"):
        listening = {
            c.laddr.port
            for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN
        }
    assert listening and 8787 not in listening


# --- planning ---------------------------------------------------------------------------


def test_a_run_parses_expands_and_validates_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One parse and one grid expansion per run (workers get each cell's own document,
    not the grid), and one validation per distinct [model]/[fit], not per cell."""
    from mmm_workbench.scenarios import load

    calls = {"parse": 0, "expand": 0, "priors": 0}

    def counting(name: str, function):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(load, "_parse", counting("parse", load._parse))
    monkeypatch.setattr(load, "expand_grid", counting("expand", load.expand_grid))
    monkeypatch.setattr(kinds, "validate_priors", counting("priors", kinds.validate_priors))
    two_data_cells = SMALL  # the grid varies [data] only
    plan = plan_run(two_data_cells)
    # the document, then each of the 2 cells from scratch; one expansion
    assert len(plan.cells) == 2 and calls == {"parse": 3, "expand": 1, "priors": 1}
    task = plan.task(plan.cells[0], 0, tmp_path)
    assert "grid" not in task.document
    calls.update(parse=0, expand=0, priors=0)
    two_models = SMALL.replace(
        '"data.proxy.noise_sd" = [0.0, 0.2]', '"model.adstock.l_max" = [2, 3]'
    )
    plan_run(two_models)
    assert calls == {"parse": 3, "expand": 1, "priors": 2}


def test_run_grid_takes_a_plan(tmp_path: Path) -> None:
    plan = plan_run(FAST, RunOptions(replicates=1, only=(plan_run(FAST).cells[1].cell_id,)))
    summary = run_grid(plan, tmp_path / "run")
    assert [(r.cell_id, r.status) for r in summary.results] == [(plan.cells[1].cell_id, "done")]
    with pytest.raises(TypeError, match="carries its options"):
        run_grid(plan, tmp_path / "run", RunOptions())


def test_workers_keep_few_compiled_cells(tmp_path: Path) -> None:
    grid = FAST.replace(
        '"data.proxy.noise_sd" = [0.0, 0.2]',
        '"data.proxy.noise_sd" = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]',
    )
    run_grid(grid, tmp_path / "run", RunOptions(replicates=1))
    assert len(tasks._FITTERS) == tasks.FITTERS_KEPT


def test_only_names_a_few_cells_when_none_matches() -> None:
    values = ", ".join(f"{0.01 * i:.2f}" for i in range(12))
    grid = FAST.replace('"data.proxy.noise_sd" = [0.0, 0.2]', f'"data.proxy.noise_sd" = [{values}]')
    with pytest.raises(
        ValueError, match=r"--only zzz: no such cell; cells are .*, \.\.\. \(12 in all\)"
    ):
        plan_run(grid, RunOptions(only=("zzz",)))
