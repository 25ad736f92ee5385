"""An exclusive lock on a run directory, held by the ``run`` that writes into it.

The lock is an advisory ``flock`` on the directory itself, so it adds no file to the run
directory, and the operating system releases it when its holder exits, however it exits:
the lock of a run killed with SIGKILL is never stale, and the next ``run`` on the
directory takes it over. (``flock`` is per host: two runs on different machines sharing
the directory over a network file system are not excluded.)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

__all__ = ["RunDirectoryLocked", "RunLock"]


class RunDirectoryLocked(ValueError):
    """Another run holds the run directory."""


class RunLock:
    """Create ``root`` if needed and hold an exclusive lock on it (a context manager).

    Raises
    ------
    RunDirectoryLocked
        Another process holds the lock.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirectoryLocked(
                f"{self.root}: another 'mmm-workbench run' is writing to this run directory; "
                "wait for it to finish, or use another --out"
            ) from None
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
