"""One fit as a unit of work.

The task a worker receives, the typed result it returns, and the function that fits it and writes
its record (or its failure record).

A task is plain data (it pickles): the cell's own scenario document (the base scenario
with the cell's overrides applied, no grid), so a worker parses one cell, never the
whole grid. A worker keeps the compiled models of the cells it fitted last
(:class:`~mmm_workbench.recover.fitting.CellFitter`) for the replicates that follow.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mmm_workbench.recover.fitting import CellFitter, Phase, record_summary
from mmm_workbench.recover.store import RunStore
from mmm_workbench.scenarios import Cell, parse_scenario
from mmm_workbench.scenarios.grid import cell_id

__all__ = [
    "INTERRUPTED",
    "FitResult",
    "FitTask",
    "Status",
    "failure_result",
    "fit_task",
]

Status = Literal["done", "failed", "timeout", "unwritable"]
"""``done``: a record was written. ``failed``: the fit raised (or its worker died).
``timeout``: compilation or sampling ran past its limit. ``unwritable``: the fit finished
but its record could not be written (a full disk): the run stops."""

FITTERS_KEPT = 4
"""Compiled cell models a worker keeps (the most recently used): tasks arrive cell by cell,
so a handful suffices, and memory stays bounded on grids of thousands of cells."""

INTERRUPTED = threading.Event()
"""Set by the runner's SIGINT handler: a fit in progress then neither writes a record
(a sampler that returns early on Ctrl-C would leave a truncated one) nor a failure."""


@dataclass(frozen=True, kw_only=True, eq=False)
class FitTask:
    """One (cell, replicate) fit, as sent to a worker.

    Attributes
    ----------
    cell_id, overrides
        The cell's id and grid overrides (as in :class:`~mmm_workbench.scenarios.Cell`).
    document
        The cell's scenario document (TOML tables; no grid).
    replicate
        Replicate number.
    out
        Run directory.
    fit_timeout, compile_timeout
        Limits in seconds on sampling and on building/compiling the cell's model; ``None``
        for none. With either set, the fit runs in a supervised child process
        (:mod:`mmm_workbench.recover.worker`) that is killed at the limit.
    worker_module
        The module run as ``python -m`` for a supervised child process.
    base
        The folder the scenario's relative file paths are relative to (``None``: the
        working directory).
    """

    cell_id: str
    overrides: tuple[tuple[str, Any], ...]
    document: Mapping[str, object]
    replicate: int
    out: str
    fit_timeout: float | None = None
    compile_timeout: float | None = None
    worker_module: str = "mmm_workbench.recover.worker"
    base: str | None = None

    @property
    def supervised(self) -> bool:
        """Whether a limit applies, so that the fit must run in a killable child process."""
        return self.fit_timeout is not None or self.compile_timeout is not None


@dataclass(frozen=True, kw_only=True)
class FitResult:
    """What one fit did, as the runner reports it.

    ``diagnostics`` and ``timings`` are the record's (sampler diagnostics such as
    ``max_rhat`` and ``divergences``; ``compile_s``, ``tune_s``, ``draw_s``, ``post_s``);
    ``error`` is ``"Type: message"`` for a fit that did not succeed.
    """

    cell_id: str
    replicate: int
    status: Status
    seconds: float
    compiled: bool = False
    diagnostics: Mapping[str, float] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the fit wrote its record."""
        return self.status == "done"

    @property
    def max_rhat(self) -> float:
        """The fit's max R-hat (NaN when the backend reports none)."""
        return float(self.diagnostics.get("max_rhat", float("nan")))

    @property
    def divergences(self) -> int:
        """The fit's divergent transitions (0 when the backend reports none)."""
        return int(self.diagnostics.get("divergences", 0))


_FITTERS: dict[str, CellFitter] = {}


def _fitter(task: FitTask) -> CellFitter:
    """Return the task's cell model.

    Reused when this worker fitted the cell recently, else built (and the least recently used one
    dropped).
    """
    fitter = _FITTERS.pop(task.cell_id, None)
    if fitter is None:
        scenario = parse_scenario(task.document, base=task.base)
        if cell_id(scenario) != task.cell_id:
            raise ValueError(
                f"cell {task.cell_id}: its scenario's files changed since the run was planned "
                "(a plan, dataset or config now has other content); run again to refit"
            )
        cell = Cell(cell_id=task.cell_id, overrides=task.overrides, scenario=scenario)
        fitter = CellFitter(cell)
    _FITTERS[task.cell_id] = fitter  # (re)inserted last: the most recently used
    while len(_FITTERS) > FITTERS_KEPT:
        del _FITTERS[next(iter(_FITTERS))]
    return fitter


def _ignore(phase: Phase) -> None:
    """Ignore a phase: the default phase callback."""


def failure_result(
    task: FitTask, status: Status, error: str, seconds: float, trace: str = ""
) -> FitResult:
    """Write the task's failure record and return its result.

    Never raises for a failure record that cannot be written (a full disk): the result
    is returned all the same, with ``unwritable`` status.
    """
    info = {
        "cell_id": task.cell_id,
        "replicate": task.replicate,
        "status": status,
        "error": error,
        "traceback": trace,
        "seconds": seconds,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    try:
        RunStore(task.out).write_failure(task.cell_id, task.replicate, info)
    except OSError as err:
        status = "unwritable"
        error = f"{error}; and its failure record could not be written: {err}"
    return FitResult(
        cell_id=task.cell_id,
        replicate=task.replicate,
        status=status,
        seconds=seconds,
        error=error,
    )


def _write_errno(err: OSError) -> bool:
    """Whether an error writing the run directory means no later write can succeed."""
    return err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)


def fit_task(task: FitTask, on_phase: Callable[[Phase], None] = _ignore) -> FitResult:
    """Fit one (cell, replicate) in this process and write its record, or its failure record.

    Parameters
    ----------
    task
        The fit.
    on_phase
        Called with ``"compiled"`` once the cell's model is ready, and with ``"sampling"``
        and ``"sampled"`` around the sampler (a supervisor's limits start and stop there).

    Returns
    -------
    FitResult
        Never raises for a failing fit: the error, traceback and timing go to
        ``failures/<cell>/<replicate>.json`` and the result says ``failed``; a record that
        cannot be written (a full disk) gives ``unwritable``.

    Raises
    ------
    KeyboardInterrupt
        When :data:`INTERRUPTED` is set: nothing is written for this fit.
    """
    t0 = time.perf_counter()
    try:
        fitter = _fitter(task)
        on_phase("compiled")
        record = fitter.fit(task.replicate, on_phase)
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt
        RunStore(task.out).write_record(task.cell_id, task.replicate, record)
    except OSError as err:
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt from None
        if _write_errno(err):  # one line: h5py's messages run over several
            assert err.errno is not None
            error = f"{type(err).__name__}: [Errno {err.errno}] {os.strerror(err.errno)}"
            return failure_result(
                task, "unwritable", error, time.perf_counter() - t0, traceback.format_exc()
            )
        return failure_result(
            task,
            "failed",
            f"{type(err).__name__}: {err}",
            time.perf_counter() - t0,
            traceback.format_exc(),
        )
    except Exception as err:
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt from None
        return failure_result(
            task,
            "failed",
            f"{type(err).__name__}: {err}",
            time.perf_counter() - t0,
            traceback.format_exc(),
        )
    diagnostics, timings = record_summary(record)
    return FitResult(
        cell_id=task.cell_id,
        replicate=task.replicate,
        status="done",
        seconds=time.perf_counter() - t0,
        compiled=bool(record.attrs["compiled"]),
        diagnostics=diagnostics,
        timings=timings,
    )
