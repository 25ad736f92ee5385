"""Share a list of independent tasks with one forked process.

The report's scoring (one task per fit record) and its figures (one task per figure) are
independent, deterministic and pure Python and numpy: on two cores a second process does
half of them. :func:`share` forks one helper; both processes claim the next task from a
shared counter until none is left, so a slow task (the recovery figure) does not leave
one process idle. The helper sends what it computed when it has no task left, and the
parent returns every result in task order, as one process would have computed them.

Off Linux (``fork`` is missing on Windows, and unsafe on macOS, where system frameworks
do not survive it), with one usable core, with
:data:`WORKERS_ENV` set to 1, in a daemonic process (a pool's worker), or for fewer than
``min_tasks`` tasks, everything runs in the calling process. A task the helper failed
(an exception, a helper killed) is computed again in the calling process, so that its
error is raised there, with its traceback.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["WORKERS_ENV", "share", "workers"]

WORKERS_ENV = "MMM_WORKBENCH_WORKERS"
"""Environment variable: ``1`` keeps the report's scoring and figures in one process."""


def workers() -> int:
    """Return how many processes :func:`share` uses: 2, or 1 (see the module's notes).

    Raises
    ------
    ValueError
        :data:`WORKERS_ENV` is set to something other than a positive integer.
    """
    given = os.environ.get(WORKERS_ENV, "").strip()
    if given:
        try:
            wanted = int(given)
        except ValueError:
            wanted = 0
        if wanted < 1:
            raise ValueError(f"{WORKERS_ENV} = {given!r}: must be a positive integer")
    else:
        wanted = 2
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if (
        not sys.platform.startswith("linux")
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    if multiprocessing.current_process().daemon:  # a pool's worker may not fork a helper
        return 1
    return max(1, min(wanted, cores, 2))


def _helper(
    task: Callable[[int], Any],
    n: int,
    counter: Any,
    conn: multiprocessing.connection.Connection,
) -> None:
    done: dict[int, tuple[bool, Any]] = {}
    try:
        while (i := _claim(counter, n)) is not None:
            try:
                done[i] = (True, task(i))
            except Exception:  # computed again by the parent, which raises it
                done[i] = (False, None)
    finally:
        conn.send(done)
        conn.close()


def _claim(counter: Any, n: int) -> int | None:
    with counter.get_lock():
        i = int(counter.value)
        if i >= n:
            return None
        counter.value = i + 1
    return i


def share[T](
    task: Callable[[int], T],
    n: int,
    *,
    meanwhile: Sequence[Callable[[], object]] = (),
    min_tasks: int = 2,
) -> list[T]:
    """Compute ``task(i)`` for ``i`` in ``range(n)``, half of them in a forked process.

    Parameters
    ----------
    task
        Computes task ``i``; deterministic, its result picklable. It runs in either
        process: what it writes to memory stays in the process that ran it.
    n
        The number of tasks.
    meanwhile
        Work of the calling process's own, done (in order) while the helper starts on
        the tasks; then the calling process takes tasks too.
    min_tasks
        Fewer tasks than this run in the calling process (a fork is not worth it).

    Returns
    -------
    list
        ``task(i)`` for every ``i``, in order.
    """
    if n < max(min_tasks, 2) or workers() < 2:
        for work in meanwhile:
            work()
        return [task(i) for i in range(n)]
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    receive, send = ctx.Pipe(duplex=False)
    helper = ctx.Process(target=_helper, args=(task, n, counter, send), daemon=True)
    with warnings.catch_warnings():
        # The parent's other threads are numpy's BLAS and Arrow's pools, which both
        # reinitialize in a forked child; the helper runs Python, numpy, pandas and
        # matplotlib code only.
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        helper.start()
    send.close()
    results: dict[int, T] = {}
    try:
        for work in meanwhile:
            work()
        while (i := _claim(counter, n)) is not None:
            results[i] = task(i)
        try:
            theirs: dict[int, tuple[bool, T]] = receive.recv()
        except EOFError:  # the helper died: its tasks are done again below
            theirs = {}
    except BaseException:
        helper.terminate()
        raise
    finally:
        receive.close()
        helper.join()
    for i, (ok, value) in theirs.items():
        if ok:
            results[i] = value
    return [results[i] if i in results else task(i) for i in range(n)]
