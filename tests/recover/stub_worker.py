"""The real fit worker (``mmm_workbench.recover.worker``) with phases that tests control,
for fault tests: run a grid with ``RunOptions(worker_module="tests.recover.stub_worker")``.

Environment variables (read in the worker process, so they reach Dask workers too):

``STUB_COMPILE_S``
    Seconds that building a cell's model takes longer (the compile phase).
``STUB_SAMPLE_S`` and ``STUB_SLOW_REPLICATE``
    Seconds that sampling takes longer, for that replicate only (every replicate when
    ``STUB_SLOW_REPLICATE`` is unset).
``STUB_DIE_REPLICATE``
    The replicate whose fit kills its own worker process with SIGKILL while sampling.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from mmm_workbench.recover import fitting
from mmm_workbench.recover.worker import main


def _number(name: str) -> float | None:
    value = os.environ.get(name)
    return None if value is None else float(value)


def install() -> None:
    """Patch :class:`~mmm_workbench.recover.fitting.CellFitter` in this process."""
    build = fitting.CellFitter.__init__
    sample = fitting.CellFitter._posterior

    def slow_build(self: fitting.CellFitter, cell: Any) -> None:
        time.sleep(_number("STUB_COMPILE_S") or 0.0)
        build(self, cell)

    def slow_sample(self: fitting.CellFitter, data: Any, seed: int) -> Any:
        replicate = self._stub_replicate  # type: ignore[attr-defined]
        if replicate == _number("STUB_DIE_REPLICATE"):
            os.kill(os.getpid(), signal.SIGKILL)
        slow = _number("STUB_SLOW_REPLICATE")
        if slow is None or replicate == slow:
            time.sleep(_number("STUB_SAMPLE_S") or 0.0)
        return sample(self, data, seed)

    fit = fitting.CellFitter.fit

    def fit_remembering_replicate(self: fitting.CellFitter, replicate: int, *args: Any) -> Any:
        self._stub_replicate = replicate  # type: ignore[attr-defined]
        return fit(self, replicate, *args)

    fitting.CellFitter.__init__ = slow_build  # type: ignore[method-assign]
    fitting.CellFitter._posterior = slow_sample  # type: ignore[method-assign]
    fitting.CellFitter.fit = fit_remembering_replicate  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    main()
