"""Benchmark: the verdict (``mmm-workbench check``, default rules) and the scoring behind
``report`` on 100 fit records of about 400 coordinates each.

The run is built with the verdict stub writer (``tests/reports/verdict_stubs.py``,
through the public :class:`mmm_workbench.recover.store.RunStore`): 2 cells x 50
replicates, 3 channels, 104 weekly dates, 1,000 draws per record; per record 312
per-date contributions, 104 per-date baselines, their time means, 3 parameters and 2
derived quantities per channel and sigma: 436 coordinates; one cell is over-confident and
has 5 stuck fits, so rules are judged over all and over clean fits. Target: under 10 s for
``check`` (:func:`mmm_workbench.reports.verdict.evaluate` on the run directory: reading,
scoring, aggregating over all and clean fits, judging).

Reported: wall and CPU seconds of ``check`` per repeat (CPU time stays meaningful on a
shared machine; the 1-minute load average is recorded beside it), wall seconds of
reading, scoring and aggregating alone, and wall and CPU seconds of the whole ``report``
(:func:`mmm_workbench.reports.report.build_report`: scoring, verdict, tables, figures and
the HTML page). Target: under 10 s each. The records are scored and the figures drawn in
two processes (:mod:`mmm_workbench.reports.parallel`; ``MMM_WORKBENCH_WORKERS=1`` for
one): CPU seconds are both processes' (``*_helper_cpu_s`` the forked helper's share).

Usage: ``python bench/bench_verdict.py [--replicates N] [--draws S] [--repeats R]``;
writes ``bench/results/verdict-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reports"))

from verdict_stubs import Cell, Plant, write_run  # noqa: E402

from mmm_workbench.reports.parallel import workers  # noqa: E402
from mmm_workbench.reports.report import build_report  # noqa: E402
from mmm_workbench.reports.tables import aggregate_table, score_run  # noqa: E402
from mmm_workbench.reports.verdict import evaluate  # noqa: E402


def _helpers_cpu() -> float:
    """CPU seconds of this process's finished child processes (the forked helper)."""
    times = os.times()
    return times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=50, help="per cell (2 cells)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cells = {
        "calibrated": Cell(dates=104, channels=3),
        # five stuck fits: the verdict also judges every rule over the clean fits
        "overconfident": Cell(dates=104, channels=3, plants={"*": Plant(sd=1 / 3)}, stuck=5),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        started = time.perf_counter()
        write_run(root, cells, replicates=args.replicates, draws=args.draws)
        written = time.perf_counter() - started
        coords = int(score_run(root).estimands.groupby(["cell", "replicate"]).size().iloc[0])
        check_s, check_cpu, score_s, report_s, report_cpu = [], [], [], [], []
        check_helper, report_helper, loads = [], [], [os.getloadavg()[0]]
        verdict = None
        for _ in range(args.repeats):
            t, c, h = time.perf_counter(), time.process_time(), _helpers_cpu()
            verdict = evaluate(root)
            check_s.append(time.perf_counter() - t)
            check_helper.append(_helpers_cpu() - h)
            check_cpu.append(time.process_time() - c + check_helper[-1])
            t = time.perf_counter()
            aggregate_table(score_run(root))
            score_s.append(time.perf_counter() - t)
            t, c, h = time.perf_counter(), time.process_time(), _helpers_cpu()
            build_report(root, Path(tmp) / "report")
            report_s.append(time.perf_counter() - t)
            report_helper.append(_helpers_cpu() - h)
            report_cpu.append(time.process_time() - c + report_helper[-1])
            loads.append(os.getloadavg()[0])
    assert verdict is not None
    result = {
        "benchmark": "verdict",
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "processor": platform.processor()},
        "records": 2 * args.replicates,
        "coordinates_per_record": coords,
        "draws": args.draws,
        "write_s": round(written, 2),
        "check_s": [round(s, 2) for s in check_s],
        "check_median_s": round(float(np.median(check_s)), 2),
        "check_cpu_s": [round(s, 2) for s in check_cpu],
        "check_helper_cpu_s": [round(s, 2) for s in check_helper],
        "load_average_1min": round(os.getloadavg()[0], 2),
        "load_average_1min_per_repeat": [round(x, 2) for x in loads],
        "workers": workers(),
        "cpus": os.cpu_count(),
        "score_and_aggregate_s": [round(s, 2) for s in score_s],
        "report_s": [round(s, 2) for s in report_s],
        "report_median_s": round(float(np.median(report_s)), 2),
        "report_cpu_s": [round(s, 2) for s in report_cpu],
        "report_helper_cpu_s": [round(s, 2) for s in report_helper],
        "verdict": verdict.headline(),
        "target_s": 10.0,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"verdict-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
