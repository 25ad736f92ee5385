"""Tasks shared with a forked helper (reports.parallel): the same results, in order, as one
process computes them; a task the helper failed is done again here; scoring a run in two
processes gives the same tables as in one, and a corrupt record is still logged here."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from mmm_workbench.reports import parallel, tables
from mmm_workbench.reports.tables import score_run

needs_two = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(),
    reason="the helper is forked",
)


@needs_two
def test_the_helper_takes_tasks_and_results_come_back_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(parallel.WORKERS_ENV, "2")
    if parallel.workers() < 2:
        pytest.skip("one usable core")
    here = os.getpid()
    waited: list[str] = []
    # this process is busy for a while: the helper takes the tasks meanwhile
    out = parallel.share(
        lambda i: (i * i, os.getpid()), 6, meanwhile=[lambda: time.sleep(0.3) or waited.append("x")]
    )
    assert [value for value, _ in out] == [0, 1, 4, 9, 16, 25]
    assert waited == ["x"]  # what this process did meanwhile stays here
    assert any(pid != here for _, pid in out)


@needs_two
def test_a_task_the_helper_failed_is_done_again_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.WORKERS_ENV, "2")
    here = os.getpid()

    def fails_in_the_helper(i: int) -> int:
        if os.getpid() != here:
            raise RuntimeError("helper")
        return i + 1

    out = parallel.share(fails_in_the_helper, 5, meanwhile=[lambda: time.sleep(0.2)])
    assert out == [1, 2, 3, 4, 5]

    def always_fails(i: int) -> int:
        raise KeyError(f"task {i}")

    with pytest.raises(KeyError, match="task"):  # raised here, with its own type
        parallel.share(always_fails, 3)


def test_one_worker_keeps_everything_here_and_bad_settings_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    assert parallel.workers() == 1
    assert parallel.share(lambda i: os.getpid(), 4) == [os.getpid()] * 4
    monkeypatch.setenv(parallel.WORKERS_ENV, "2")
    if "fork" in multiprocessing.get_all_start_methods():  # a pool's worker forks no helper
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=lambda: send.send(parallel.workers()), daemon=True)
        worker.start()
        assert receive.recv() == 1
        worker.join()
    monkeypatch.setenv(parallel.WORKERS_ENV, "two")
    with pytest.raises(ValueError, match=f"{parallel.WORKERS_ENV} = 'two'"):
        parallel.workers()


def test_scoring_in_two_processes_gives_the_same_tables(
    small_run: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (small_run / "fits" / "a" / "3.arrow").write_bytes(b"not an Arrow file")
    monkeypatch.setattr(tables, "PARALLEL_RECORDS", 2)  # a fork for 12 records, not 16
    root = small_run
    scores = {}
    for workers in ("1", "2"):
        monkeypatch.setenv(parallel.WORKERS_ENV, workers)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mmm_workbench.reports.tables"):
            scores[workers] = score_run(root)
        assert caplog.text.count("corrupt fit record, skipped") == 1, workers
    one, two = scores["1"], scores["2"]
    assert len(one.estimands) > 0 and (one.fits["status"] == "corrupt").sum() == 1
    pd.testing.assert_frame_equal(one.estimands, two.estimands)
    pd.testing.assert_frame_equal(one.fits, two.fits)
    pd.testing.assert_frame_equal(one.correlations, two.correlations)
