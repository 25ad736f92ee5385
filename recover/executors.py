"""Where the fits of a run execute.

In this process, in local worker processes, or on a Dask cluster. Every executor takes the run's
tasks in order and yields one :class:`~mmm_workbench.recover.tasks.FitResult` per task as it
finishes.

* serial: one fit after another in this process; a task with a limit runs in a
  supervised child process (:class:`~mmm_workbench.recover.worker.FitProcess`).
* ``--workers N``: N supervised child processes, each fed the next task as it finishes.
  A child that dies costs its fit a failure record and is replaced.
* ``--dask ADDRESS`` (``local:N`` for a local cluster): tasks run through
  :func:`~mmm_workbench.recover.worker.run_task` on the workers; a task that the cluster
  cannot run (its worker died repeatedly) gets a failure record.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING

from mmm_workbench.recover.tasks import FitResult, FitTask, failure_result, fit_task
from mmm_workbench.recover.worker import Cancelled, FitProcess, run_task

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DASK_CONNECT_TIMEOUT_S", "Execute", "open_executor", "parse_dask_address"]

Results = Generator[FitResult, None, None]
Execute = Callable[[Sequence[FitTask]], Results]
"""Runs tasks, yielding each one's result as it finishes (in any order)."""

DASK_CONNECT_TIMEOUT_S = 10.0
"""How long to try to reach a Dask scheduler before giving up."""

MAX_LOCAL_DASK_WORKERS = 1024

_ADDRESS = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::\d{1,5})?$"
)


def parse_dask_address(address: str) -> int | str:
    """``local:N`` as the number of local workers ``N``, or a scheduler address as is.

    Raises
    ------
    ValueError
        ``--dask = '...'``: not ``local:N`` with ``1 <= N <= 1024``, nor an address such as
        ``tcp://host:8786``.
    """
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or not 1 <= int(count) <= MAX_LOCAL_DASK_WORKERS:
            raise ValueError(
                f"--dask = {address!r}: local:N needs a whole number of workers "
                f"N from 1 to {MAX_LOCAL_DASK_WORKERS}"
            )
        return int(count)
    if not _ADDRESS.match(address):
        raise ValueError(
            f"--dask = {address!r}: not a scheduler address (e.g. tcp://host:8786) nor local:N"
        )
    return address


@contextlib.contextmanager
def open_executor(workers: int, dask: str | None) -> Iterator[Execute]:
    """Open the executor for ``--workers``/``--dask``, ready to run.

    A Dask scheduler is reached here, before the caller writes anything.

    Raises
    ------
    ValueError
        A Dask address that cannot be reached within :data:`DASK_CONNECT_TIMEOUT_S`.
    """
    if dask is not None:
        with _dask_client(dask) as client:
            yield lambda tasks: _dask(client, tasks)
    elif workers > 1:
        yield lambda tasks: _local(tasks, workers)
    else:
        yield _serial


def _serial(tasks: Sequence[FitTask]) -> Results:
    proc: FitProcess | None = None
    try:
        for task in tasks:
            if task.supervised:
                if proc is None:
                    proc = FitProcess(task.worker_module)
                yield proc.run(task)
            else:
                yield fit_task(task)
    finally:
        if proc is not None:
            proc.shutdown()


def _local(tasks: Sequence[FitTask], workers: int) -> Results:
    if not tasks:
        return
    pending: queue.SimpleQueue[FitTask] = queue.SimpleQueue()
    for task in tasks:
        pending.put(task)
    results: queue.SimpleQueue[FitResult | BaseException] = queue.SimpleQueue()
    procs = [FitProcess(tasks[0].worker_module) for _ in range(min(workers, len(tasks)))]

    def work(proc: FitProcess) -> None:
        try:
            while True:
                try:
                    task = pending.get_nowait()
                except queue.Empty:
                    return
                results.put(proc.run(task))
        except Cancelled:
            return
        except BaseException as err:  # handed to the consuming thread, which raises it
            results.put(err)

    threads = [threading.Thread(target=work, args=(p,), daemon=True) for p in procs]
    for thread in threads:
        thread.start()
    try:
        for _ in range(len(tasks)):
            while True:
                try:
                    item = results.get(timeout=0.5)  # a timeout keeps Ctrl-C responsive
                    break
                except queue.Empty:
                    continue
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for proc in procs:
            proc.shutdown()
        for thread in threads:
            thread.join()


@contextlib.contextmanager
def _dask_client(address: str) -> Iterator[Client]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - depends on the optional extra
        raise ValueError(
            "--dask needs the optional extra: pip install 'mmm-workbench[dask]'"
        ) from err
    target = parse_dask_address(address)
    if isinstance(target, int):
        # No dashboard; the scheduler's own HTTP endpoint on a free local port, not 8787.
        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=target,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    try:
        client = Client(target, timeout=DASK_CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"--dask = {address!r}: cannot reach the scheduler: {message}") from None
    with client:
        yield client


def _dask(client: Client, tasks: Sequence[FitTask]) -> Results:
    from distributed import as_completed

    futures = client.map(run_task, tasks, pure=False)
    task_of = {future.key: task for future, task in zip(futures, tasks, strict=True)}
    try:
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            try:
                yield future.result()
            except Exception as err:  # e.g. KilledWorker: its worker died, repeatedly
                task = task_of[future.key]
                yield failure_result(task, "failed", f"{type(err).__name__}: {err}", 0.0)
    finally:
        client.cancel(futures)  # type: ignore[no-untyped-call]
