"""Tasks shared with a forked helper (reports.parallel): the same results, in order, as one
process computes them; a task the helper failed is done again here; scoring a run in two
processes gives the same tables as in one, and a corrupt record is still logged here."""

from __future__ import annotations

import base64
import io
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from mmm_workbench.reports import parallel, report, tables
from mmm_workbench.reports.report import FigureSpec, ReportData
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


def _tiny_png(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (10 * i, 0, 0)).save(out, format="PNG")
    return out.getvalue()


@needs_two
@pytest.mark.slow  # a report of 12 records: 4 s, mostly its verdict
def test_a_report_drawn_in_two_processes_embeds_every_figure_in_order(
    small_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The figures the helper drew reach the page and the figures folder, each under its
    own name and caption, in the registry's order; a figure without data stays out."""
    monkeypatch.setenv(parallel.WORKERS_ENV, "2")
    if parallel.workers() < 2:
        pytest.skip("one usable core")
    drew = tmp_path / "drew"
    drew.mkdir()

    def build(i: int) -> Callable[[ReportData], bytes | None]:
        def draw(data: ReportData) -> bytes | None:
            (drew / str(i)).write_text(str(os.getpid()))  # a file: seen from either process
            return None if i == 2 else _tiny_png(i)

        return draw

    specs = tuple(
        FigureSpec(name=f"f{i}", build=build(i), caption=f"caption {i}") for i in range(6)
    )
    monkeypatch.setattr(report, "FIGURES", specs)
    paths = report.build_report(small_run)
    assert list(paths.figures) == ["f0", "f1", "f3", "f4", "f5"]
    for name, path in paths.figures.items():
        assert path.read_bytes() == _tiny_png(int(name[1:]))
    page = paths.html.read_text()
    places = [page.index(base64.b64encode(_tiny_png(i)).decode()) for i in (0, 1, 3, 4, 5)]
    assert places == sorted(places) and "caption 2" not in page
    assert all(f"caption {i}" in page for i in (0, 1, 3, 4, 5))
    pids = {int((drew / str(i)).read_text()) for i in range(6)}
    assert pids - {os.getpid()}  # the helper drew some while this process judged the run
