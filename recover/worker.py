"""Supervised fits: a child interpreter that fits tasks and is killed at a deadline.

A fit cannot be interrupted reliably from inside its own process: nutpie samples in Rust
threads, compilation runs in C, and a Dask worker runs tasks in a thread where no signal
can be delivered. So a fit with a limit runs in a child process
(``python -m mmm_workbench.recover.worker``) that reports its phases over a pipe; the
parent kills it when a phase runs past its limit and writes the failure record itself:

* ``--compile-timeout``: from the task's start until the cell's model is ready (a cell
  already compiled by this child is ready at once);
* ``--fit-timeout``: from the sampler's start until it returns.

The same :class:`FitProcess` serves every executor: the serial loop and each local
worker (``--workers N``) own one, and under Dask each worker thread owns one. A child
that dies (a SIGKILL, a segfault) costs only its fit, which gets a failure record; the
next task starts a fresh child. A child keeps its compiled cell models between tasks,
exits when its input closes, and exits when its parent dies.

Protocol: length-prefixed pickles; the parent sends :class:`FitTask` objects on the
child's stdin, the child answers ``("ready", pid)`` once, then ``("phase", name)`` and
``("result", FitResult)`` per task on a private copy of its stdout (its own stdout is
redirected to stderr, so a library that prints cannot corrupt the protocol).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Literal

from mmm_workbench.recover.fitting import Phase
from mmm_workbench.recover.tasks import FitResult, FitTask, failure_result, fit_task

__all__ = ["Cancelled", "FitProcess", "main", "run_task"]

_HEADER = struct.Struct("!Q")
POLL_S = 0.25
"""How often a wait for the child looks for a shutdown from another thread (seconds)."""
Message = (
    tuple[Literal["ready"], int]
    | tuple[Literal["phase"], Phase]
    | tuple[Literal["result"], FitResult]
)


class ChildDied(Exception):
    """The child process exited (or closed its pipe) unexpectedly."""


class Cancelled(Exception):
    """The :class:`FitProcess` was shut down (the run is stopping).

    No result, and no failure record, for the fit it was running.
    """


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "closed its pipe"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class FitProcess:
    """A supervised child process that fits tasks, started on first use.

    Parameters
    ----------
    module
        Run as ``python -m module`` (default: this module).
    """

    def __init__(self, module: str = "mmm_workbench.recover.worker") -> None:
        self.module = module
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._lock = threading.Lock()
        self._stopped = False
        self._sent = 0.0

    @property
    def pid(self) -> int | None:
        """The running child's process id, if one is running."""
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._stopped:
            raise Cancelled
        proc = self._proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches the parent only; the parent kills it
        )
        self._buffer = b""
        message = self._receive(proc, None)
        if message[0] != "ready":  # pragma: no cover - protocol violation
            raise ChildDied(f"sent {message[0]!r} before 'ready'")
        return proc

    def _receive(self, proc: subprocess.Popen[bytes], deadline: float | None) -> Message:
        """Return the next message.

        Raises :class:`TimeoutError` at the deadline (monotonic time), :class:`ChildDied` when
        the child's pipe closes and :class:`Cancelled` once :meth:`shutdown` was called.

        The wait wakes every :data:`POLL_S` seconds to look for a shutdown: another thread's
        :meth:`close` may close the pipe while this one waits on it, and a closed descriptor
        silently leaves the selector, which would then wait forever (Ctrl-C under
        ``--workers N`` hung that way).
        """
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                if len(self._buffer) >= _HEADER.size:
                    (size,) = _HEADER.unpack_from(self._buffer)
                    end = _HEADER.size + size
                    if len(self._buffer) >= end:
                        message: Message = pickle.loads(self._buffer[_HEADER.size : end])
                        self._buffer = self._buffer[end:]
                        return message
                if self._stopped:
                    raise Cancelled
                wait = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
                if deadline is not None and wait <= 0:
                    raise TimeoutError
                if not selector.select(wait):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    try:
                        code = proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        code = None
                    raise ChildDied(_describe_exit(code))
                self._buffer += chunk

    def run(self, task: FitTask) -> FitResult:
        """Fit ``task`` in the child, enforcing the task's limits.

        Returns
        -------
        FitResult
            The child's result; or, written here, a failure record with status
            ``timeout`` (a limit was reached: the child is killed) or ``failed`` (the
            child died during the fit).

        Raises
        ------
        Cancelled
            :meth:`shutdown` was called (from another thread) while it ran.
        """
        with self._lock:
            self._sent = time.perf_counter()
            try:
                return self._run(task)
            except (ChildDied, OSError) as err:
                self.close()
                if self._stopped:
                    raise Cancelled from None
                why = str(err) if isinstance(err, ChildDied) else f"could not be reached ({err})"
                return self._died(task, why, time.perf_counter() - self._sent)

    def _run(self, task: FitTask) -> FitResult:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            proc = self._start()
        assert proc.stdin is not None
        try:
            _send(proc.stdin, task)
        except BrokenPipeError:  # died while idle: start a fresh one, once
            self.close()
            proc = self._start()
            assert proc.stdin is not None
            _send(proc.stdin, task)
        self._sent = time.perf_counter()  # a fit's seconds exclude the child's start-up
        limit: tuple[str, float] | None = None
        if task.compile_timeout is not None:
            limit = ("compilation exceeded --compile-timeout", task.compile_timeout)
        started = time.monotonic()
        while True:
            try:
                message = self._receive(proc, None if limit is None else started + limit[1])
            except TimeoutError:
                assert limit is not None
                self.close()
                error = f"FitTimeout: {limit[0]} = {limit[1]:g} s"
                return failure_result(task, "timeout", error, time.perf_counter() - self._sent)
            if message[0] == "result":
                return message[1]
            if message[0] == "phase":
                started = time.monotonic()
                limit = None
                if message[1] == "sampling" and task.fit_timeout is not None:
                    limit = ("sampling exceeded --fit-timeout", task.fit_timeout)

    def _died(self, task: FitTask, why: str, seconds: float) -> FitResult:
        from mmm_workbench.recover.store import RunStore

        if RunStore(task.out).has_record(task.cell_id, task.replicate):
            # it died after writing its record: the fit is done, its summary lost
            return FitResult(
                cell_id=task.cell_id, replicate=task.replicate, status="done", seconds=seconds
            )
        return failure_result(task, "failed", f"WorkerDied: the worker process {why}", seconds)

    def shutdown(self) -> None:
        """Kill the child for good.

        This is safe from another thread while :meth:`run` waits on it: that call then raises
        :class:`Cancelled`.
        """
        self._stopped = True
        self.close()

    def close(self) -> None:
        """Kill the child (if any) and reap it; the next :meth:`run` starts a fresh one."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


_LOCAL = threading.local()


def run_task(task: FitTask) -> FitResult:
    """Fit ``task``.

    In this process, or, when it has a limit, in this thread's supervised child process (the entry
    point of Dask workers).
    """
    if not task.supervised:
        return fit_task(task)
    proc: FitProcess | None = getattr(_LOCAL, "proc", None)
    if proc is None or proc.module != task.worker_module:
        if proc is not None:
            proc.close()
        proc = _LOCAL.proc = FitProcess(task.worker_module)
    return proc.run(task)


def _exit_with_parent() -> None:
    """Exit when the parent dies (its pid changes): never leave an orphan fitting."""
    parent = os.getppid()
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(1)


def main() -> None:
    """Run the child's loop: read tasks from stdin until it closes, fit each, answer."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, not into the protocol
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    _send(channel, ("ready", os.getpid()))
    stdin = sys.stdin.buffer
    while True:
        header = _read_exactly(stdin, _HEADER.size)
        if header is None:
            return
        (size,) = _HEADER.unpack(header)
        body = _read_exactly(stdin, size)
        if body is None:
            return
        task: FitTask = pickle.loads(body)

        def report(phase: Phase) -> None:
            try:
                _send(channel, ("phase", phase))
            except OSError:  # the parent is gone: write nothing more
                os._exit(1)

        result = fit_task(task, report)
        try:
            _send(channel, ("result", result))
        except OSError:
            os._exit(1)


if __name__ == "__main__":
    main()
