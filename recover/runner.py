"""Run a scenario's grid.

Every (cell, replicate) fit, resumably, serially, in local processes or on a Dask cluster.

A run is planned once (:func:`plan_run`: the scenario parsed, its grid expanded and
validated, once per distinct ``[model]``/``[fit]``), then executed
(:func:`run_grid`). Each task fits one (cell, replicate) and writes its own record (or
failure record) atomically before it reports back, so an interrupted run loses only the
fits in flight and re-running the same command skips every record on disk. A run holds
an exclusive lock on its run directory (:mod:`mmm_workbench.recover.lock`). Workers keep
each cell's compiled model for the replicates that follow, and tasks are queued cell by
cell, so a cell compiles once per worker. Local workers (``--workers N``, ``--dask local:N``)
each sample on their share of the CPUs (:func:`worker_threads`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

from mmm_workbench.recover.executors import open_executor, parse_dask_address
from mmm_workbench.recover.fitting import validate_cells, versions
from mmm_workbench.recover.inference import THREADS_ENV, fit_threads
from mmm_workbench.recover.lock import RunLock
from mmm_workbench.recover.store import RunStore
from mmm_workbench.recover.tasks import INTERRUPTED, FitResult, FitTask, Status
from mmm_workbench.scenarios import (
    Cell,
    Scenario,
    ScenarioError,
    ScenarioSource,
    scenario_from_text,
)

__all__ = [
    "FitResult",
    "FitTask",
    "RunDirectoryUnwritable",
    "RunListener",
    "RunOptions",
    "RunPlan",
    "RunSummary",
    "Status",
    "plan_run",
    "run_grid",
    "select_cells",
    "worker_threads",
]


class RunDirectoryUnwritable(OSError):
    """A fit's record could not be written (a full disk): the run stops."""


def _check_seconds(flag: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{flag} = {value}: must be a finite number of seconds > 0")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run a grid (the ``run`` command's options), checked when made.

    Attributes
    ----------
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
        Seconds of sampling after which a fit is killed, with a ``timeout`` failure record.
    compile_timeout
        Seconds of model building and compilation after which a fit is killed likewise.
    worker_module
        The module a supervised worker process runs (``python -m``).

    Raises
    ------
    ValueError
        ``--flag = value: ...`` for a value out of range.
    """

    workers: int = 1
    dask: str | None = None
    replicates: int | None = None
    only: tuple[str, ...] = ()
    retry_failed: bool = False
    fit_timeout: float | None = None
    compile_timeout: float | None = None
    worker_module: str = "mmm_workbench.recover.worker"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers = {self.workers}: must be >= 1")
        if self.replicates is not None and self.replicates < 1:
            raise ValueError(f"--replicates = {self.replicates}: must be >= 1")
        _check_seconds("--fit-timeout", self.fit_timeout)
        _check_seconds("--compile-timeout", self.compile_timeout)
        if self.dask is not None:
            if self.workers > 1:
                raise ValueError("--workers and --dask: give one of them")
            parse_dask_address(self.dask)


@dataclass(frozen=True, kw_only=True, eq=False)
class RunPlan:
    """A validated run: the scenario read once (its text, spec and cells), and the fits to do.

    Attributes
    ----------
    source
        The scenario, parsed and expanded once.
    chosen
        The cells selected by ``options.only`` (all by default), in grid order.
    replicates
        Replicates per cell.
    options
        The options it was planned with.
    """

    source: ScenarioSource
    chosen: tuple[Cell, ...]
    replicates: int
    options: RunOptions

    @property
    def text(self) -> str:
        """The scenario file's text (copied into the run directory)."""
        return self.source.text

    @property
    def scenario(self) -> Scenario:
        """The validated scenario."""
        return self.source.scenario

    @property
    def cells(self) -> tuple[Cell, ...]:
        """Every cell of the grid, in grid order."""
        return self.source.cells

    @property
    def fits(self) -> Iterator[tuple[Cell, int]]:
        """Every chosen (cell, replicate), cell by cell."""
        return ((cell, rep) for cell in self.chosen for rep in range(self.replicates))

    def manifest(self) -> dict[str, object]:
        """Return the run directory's manifest at the start of a run."""
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "cells": {c.cell_id: {"label": c.label, "overrides": c.overrides} for c in self.cells},
            "versions": versions(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def task(self, cell: Cell, replicate: int, out: Path) -> FitTask:
        """Return the task that fits ``cell``'s ``replicate`` into the run directory ``out``."""
        return FitTask(
            cell_id=cell.cell_id,
            overrides=cell.overrides,
            document=dict(cell.scenario.raw),
            replicate=replicate,
            out=str(out),
            fit_timeout=self.options.fit_timeout,
            compile_timeout=self.options.compile_timeout,
            worker_module=self.options.worker_module,
            base=self.source.base,
        )


def select_cells(cells: Sequence[Cell], only: Sequence[str] = ()) -> tuple[Cell, ...]:
    """Return the cells whose id starts with one of ``only`` (every cell when it is empty).

    Raises
    ------
    ScenarioError
        No cell matches.
    """
    chosen = tuple(c for c in cells if not only or any(c.cell_id.startswith(o) for o in only))
    if only and not chosen:
        shown = ", ".join(c.cell_id for c in cells[:10])
        more = f", ... ({len(cells)} in all)" if len(cells) > 10 else ""
        raise ScenarioError(f"--only {', '.join(only)}: no such cell; cells are {shown}{more}")
    return chosen


def plan_run(scenario: str | ScenarioSource, options: RunOptions | None = None) -> RunPlan:
    """Validate a scenario for fitting and choose its fits.

    Validation runs once per distinct ``[model]``/``[fit]``.

    Parameters
    ----------
    scenario
        A scenario read once (:func:`~mmm_workbench.scenarios.read_scenario`), or a
        scenario's text (parsed and expanded here, once).
    options
        The run's options (``replicates`` and ``only`` shape the plan).

    Raises
    ------
    ValueError
        Bad input (a :class:`~mmm_workbench.scenarios.ScenarioError` names the path and
        value), found before any fitting.
    """
    options = options if options is not None else RunOptions()
    fit_threads()  # a bad MMM_WORKBENCH_THREADS is refused before anything is fitted
    source = scenario_from_text(scenario) if isinstance(scenario, str) else scenario
    validate_cells(source.cells)
    count = options.replicates if options.replicates is not None else source.scenario.replicates
    if count > 1 and any(c.scenario.data.source is not None for c in source.cells):
        raise ValueError(
            f"--replicates = {count}: data.source is one external dataset; every replicate "
            "would fit the same data (use --replicates 1)"
        )
    return RunPlan(
        source=source,
        chosen=select_cells(source.cells, options.only),
        replicates=count,
        options=options,
    )


def worker_threads(options: RunOptions) -> int | None:
    """Return the CPU threads each local worker process samples on, or None (not capped).

    ``--workers N`` and ``--dask local:N`` run N fits at once on this machine: each gets
    ``max(1, CPUs // N)`` (or :data:`~mmm_workbench.recover.inference.THREADS_ENV` when the
    user set it). A fit's draws do not depend on its threads. With 2 workers on 2 CPUs
    every fit samples its chains in one thread: the other worker's fit keeps the second
    CPU busy while this one simulates, post-processes and writes its record, and no CPU
    idles while one chain of a pair of threads finishes (measured: one thread per fit
    also took 10% less CPU than two). In this process (1 worker) and on a remote Dask
    cluster nothing is capped.
    """
    if THREADS_ENV in os.environ:
        return fit_threads()
    at_once = options.workers
    if options.dask is not None:
        target = parse_dask_address(options.dask)
        if not isinstance(target, int):
            return None
        at_once = target
    if at_once <= 1:
        return None
    return max(1, (os.cpu_count() or 1) // at_once)


@contextlib.contextmanager
def _threads_for_workers(threads: int | None) -> Iterator[None]:
    """Set :data:`THREADS_ENV` while the block runs: the workers it starts inherit it."""
    if threads is None:
        yield
        return
    saved = os.environ.get(THREADS_ENV)
    os.environ[THREADS_ENV] = str(threads)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(THREADS_ENV, None)
        else:
            os.environ[THREADS_ENV] = saved


class RunListener(Protocol):
    """Told what a run does, as it does it (the command line's progress bar)."""

    def started(self, total: int, skipped: int) -> None:
        """Report that the run directory is locked and ready.

        ``total`` fits to do, ``skipped`` on disk already.
        """

    def finished(self, result: FitResult) -> None:
        """One fit finished (in any order)."""


@dataclass(kw_only=True)
class RunSummary:
    """What a run did: per task results, and the totals."""

    results: list[FitResult] = field(default_factory=list)
    skipped: int = 0

    @property
    def failed(self) -> int:
        """Fits of this run that did not write a record."""
        return sum(not r.ok for r in self.results)

    @property
    def done(self) -> int:
        """Fits of this run that wrote a record."""
        return sum(r.ok for r in self.results)


def _open_store(plan: RunPlan, out: Path) -> RunStore:
    """Create the run directory's files, or check that it holds this scenario's run.

    A directory left by a run of the same scenario killed between writing
    ``scenario.toml`` and ``manifest.json`` (no manifest, no fits) is initialized afresh.
    """
    store = RunStore(out)
    scenario_file = out / "scenario.toml"
    if scenario_file.exists() and not store.manifest_path.exists():
        entries = {p.name for p in out.iterdir() if not p.name.endswith(".tmp")}
        if entries == {"scenario.toml"} and scenario_file.read_bytes() == plan.text.encode():
            for partial in [scenario_file, *out.glob(".*.tmp")]:
                partial.unlink()
    store.initialize(plan.text, plan.source.identity, plan.manifest())
    return store


def _pending(plan: RunPlan, store: RunStore, out: Path) -> tuple[list[FitTask], int]:
    """Return the tasks still to do, and how many fits are skipped (already on disk)."""
    tasks, skipped = [], 0
    for cell, rep in plan.fits:
        if store.has_record(cell.cell_id, rep) or (
            store.has_failure(cell.cell_id, rep) and not plan.options.retry_failed
        ):
            skipped += 1
        else:
            tasks.append(plan.task(cell, rep, out))
    return tasks, skipped


@contextlib.contextmanager
def _sigint_marks_interrupted() -> Iterator[None]:
    """Make Ctrl-C mark the run interrupted while the block runs.

    While running, Ctrl-C sets :data:`~mmm_workbench.recover.tasks.INTERRUPTED` (so that no fit in
    progress writes anything) and raises ``KeyboardInterrupt`` as usual. Main thread only;
    elsewhere, nothing changes.
    """
    INTERRUPTED.clear()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        INTERRUPTED.set()
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_grid(
    scenario: str | RunPlan,
    out: str | Path,
    options: RunOptions | None = None,
    *,
    listener: RunListener | None = None,
) -> RunSummary:
    """Run (or resume) a scenario's grid into a run directory.

    Parameters
    ----------
    scenario
        The scenario file's text, or a plan from :func:`plan_run` (which carries its
        options).
    out
        Run directory (created; locked while the run lasts).
    options
        The run's options, with a scenario text (default :class:`RunOptions`).
    listener
        Told when the fits start, and of each fit's result.

    Raises
    ------
    ValueError
        Bad input, found before any fitting and before anything is written; or the run
        directory is locked by another run, or holds another scenario's run.
    RunDirectoryUnwritable
        A record could not be written (a full disk); the run stopped after it.
    """
    if isinstance(scenario, RunPlan):
        if options is not None:
            raise TypeError("run_grid: a RunPlan carries its options; pass them to plan_run")
        plan = scenario
    else:
        plan = plan_run(scenario, options)
    out = Path(out)
    with (
        _threads_for_workers(worker_threads(plan.options)),
        open_executor(plan.options.workers, plan.options.dask) as execute,
        RunLock(out),
    ):
        store = _open_store(plan, out)
        tasks, skipped = _pending(plan, store, out)
        summary = RunSummary(skipped=skipped)
        if listener is not None:
            listener.started(len(tasks), skipped)
        with _sigint_marks_interrupted(), contextlib.closing(execute(tasks)) as results:
            for result in results:
                summary.results.append(result)
                if listener is not None:
                    listener.finished(result)
                if result.status == "unwritable":
                    raise RunDirectoryUnwritable(
                        f"{out}: cannot write the record of cell {result.cell_id} "
                        f"replicate {result.replicate}: {result.error}; the run stops "
                        "(free some space, then run the same command to resume)"
                    )
        manifest = store.manifest()
        manifest["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        previous = manifest.get("replicates", 0)
        manifest["replicates"] = max(plan.replicates, previous if isinstance(previous, int) else 0)
        store.write_manifest(manifest)
    return summary
