"""Run a scenario's grid: every (cell, replicate) fit, resumably, serially, in local
processes or on a Dask cluster.

Each task fits one (cell, replicate) and writes its own record (or failure record)
atomically before it reports back, so an interrupted run loses only the fits in flight
and re-running the same command skips every record on disk. A worker keeps each cell's
compiled model (:class:`~mmm_workbench.recover.fitting.CellFitter`) for the replicates that follow,
and tasks are queued cell by cell, so a cell compiles once per worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import signal
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmm_workbench.recover.fitting import CellFitter, record_summary, validate_for_fitting, versions
from mmm_workbench.recover.store import RunStore
from mmm_workbench.scenarios import Cell, Scenario, ScenarioError, expand_grid, parse_scenario

__all__ = ["FitTask", "RunSummary", "fit_task", "plan", "run_grid"]


@dataclass(frozen=True, kw_only=True)
class FitTask:
    """One fit, as sent to a worker (plain data, so it pickles)."""

    scenario_text: str
    cell_id: str
    replicate: int
    out: str
    fit_timeout: float | None = None


@dataclass(kw_only=True)
class RunSummary:
    """What a run did: per task results, and the totals."""

    results: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    @property
    def failed(self) -> int:
        return sum(r["status"] == "failed" for r in self.results)

    @property
    def done(self) -> int:
        return sum(r["status"] == "done" for r in self.results)


_CELLS: dict[str, dict[str, Cell]] = {}
_FITTERS: dict[str, CellFitter] = {}


def _cells(text: str) -> dict[str, Cell]:
    key = hashlib.sha256(text.encode()).hexdigest()
    if key not in _CELLS:
        _CELLS[key] = {c.cell_id: c for c in expand_grid(parse_scenario(tomllib.loads(text)))}
    return _CELLS[key]


class FitTimeout(Exception):
    """A fit ran past ``--fit-timeout``."""


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`FitTimeout` after ``seconds`` (main thread only; else no limit)."""
    if not seconds:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise FitTimeout(f"fit exceeded --fit-timeout = {seconds} s")

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread (e.g. a Dask worker thread)
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fit_task(task: FitTask) -> dict[str, Any]:
    """Fit one (cell, replicate) and write its record, or its failure record.

    Never raises for a failing fit: the error, traceback and any diagnostics go to
    ``failures/<cell>/<replicate>.json`` and the result says ``failed``.
    """
    store = RunStore(task.out)
    t0 = time.perf_counter()
    result = {"cell_id": task.cell_id, "replicate": task.replicate}
    try:
        with _deadline(task.fit_timeout):
            fitter = _FITTERS.get(task.cell_id)
            if fitter is None:
                fitter = _FITTERS[task.cell_id] = CellFitter(
                    _cells(task.scenario_text)[task.cell_id]
                )
            record = fitter.fit(task.replicate)
        store.write_record(task.cell_id, task.replicate, record)
        return {
            **result,
            "status": "done",
            "seconds": time.perf_counter() - t0,
            **record_summary(record),
            "compiled": record.attrs["compiled"],
        }
    except Exception as err:
        info = {
            **result,
            "status": "failed",
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
            "seconds": time.perf_counter() - t0,
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        store.write_failure(task.cell_id, task.replicate, info)
        return {k: v for k, v in info.items() if k != "traceback"}


def plan(
    cells: Sequence[Cell], replicates: int, only: Sequence[str] = ()
) -> list[tuple[Cell, int]]:
    """Every (cell, replicate), cell by cell; ``only`` keeps the cells whose id starts with
    one of its entries."""
    chosen = [c for c in cells if not only or any(c.cell_id.startswith(o) for o in only)]
    if only and not chosen:
        raise ScenarioError(
            f"--only {', '.join(only)}: no such cell; cells are "
            + ", ".join(c.cell_id for c in cells)
        )
    return [(c, r) for c in chosen for r in range(replicates)]


def run_grid(
    scenario_text: str,
    out: str | Path,
    *,
    workers: int = 1,
    dask: str | None = None,
    replicates: int | None = None,
    only: Sequence[str] = (),
    retry_failed: bool = False,
    fit_timeout: float | None = None,
    on_result: Callable[[dict[str, Any], int], None] | None = None,
) -> RunSummary:
    """Run (or resume) a scenario's grid into a run directory.

    Parameters
    ----------
    scenario_text
        The scenario file's text (copied into the run directory).
    out
        Run directory.
    workers
        Local worker processes; 1 fits in this process.
    dask
        A Dask scheduler address (``tcp://host:port``) or ``local:N`` for a local cluster.
    replicates
        Overrides the scenario's ``replicates``.
    only
        Cell id prefixes to run.
    retry_failed
        Re-run fits that have a failure record (others with one are skipped).
    fit_timeout
        Seconds after which a fit is abandoned with a failure record.
    on_result
        Called with each task's result and the number of tasks in this run.

    Raises
    ------
    ValueError
        Bad input, found before any fitting.
    """
    scenario: Scenario = parse_scenario(tomllib.loads(scenario_text))
    count = replicates if replicates is not None else scenario.replicates
    if count < 1:
        raise ScenarioError(f"--replicates = {count}: must be >= 1")
    cells = expand_grid(scenario)
    for cell in cells:
        validate_for_fitting(cell.scenario)
    store = RunStore(out)
    identity = json.dumps({"seed": scenario.seed, "cells": [c.cell_id for c in cells]})
    store.initialize(
        scenario_text,
        identity,
        {
            "scenario": scenario.name,
            "seed": scenario.seed,
            "cells": {c.cell_id: {"label": c.label, "overrides": c.overrides} for c in cells},
            "versions": versions(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    summary = RunSummary()
    todo = []
    for cell, rep in plan(cells, count, only):
        if store.has_record(cell.cell_id, rep) or (
            store.has_failure(cell.cell_id, rep) and not retry_failed
        ):
            summary.skipped += 1
            continue
        todo.append(
            FitTask(
                scenario_text=scenario_text,
                cell_id=cell.cell_id,
                replicate=rep,
                out=str(out),
                fit_timeout=fit_timeout,
            )
        )
    for result in _execute(todo, workers=workers, dask=dask):
        summary.results.append(result)
        if on_result is not None:
            on_result(result, len(todo))
    manifest = store.manifest()
    manifest["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    manifest["replicates"] = max(count, int(manifest.get("replicates", 0)))
    store.write_manifest(manifest)
    return summary


def _execute(tasks: list[FitTask], *, workers: int, dask: str | None) -> Iterator[dict[str, Any]]:
    if not tasks:
        return
    if dask is not None:
        yield from _execute_dask(tasks, dask)
    elif workers <= 1:
        for task in tasks:
            yield fit_task(task)
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(fit_task, t) for t in tasks]
            for future in as_completed(futures):
                yield future.result()


def _execute_dask(tasks: list[FitTask], address: str) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError as err:  # pragma: no cover - depends on the optional extra
        raise ValueError(
            "--dask needs the optional extra: pip install 'mmm-workbench[dask]'"
        ) from err
    cluster = None
    if address.startswith("local:"):
        n = int(address.split(":", 1)[1])
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = client.map(fit_task, tasks, pure=False)
        for future in dask_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
