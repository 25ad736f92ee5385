"""Benchmark: planning a 10,000-cell grid, and how soon its first fit starts.

The scenario is generated here: the small two-channel scenario of the runner tests with a
least-squares model (``kind = "ols"``: no compilation, so the numbers are the runner's,
not a sampler's) and a 100 x 100 grid over two ``[data]`` values. Measured, from the
moment ``mmm-workbench run`` has the scenario's text:

* plan: parse, expand the grid (every cell validated from scratch), validate every
  distinct ``[model]``/``[fit]`` for fitting
  (:func:`~mmm_workbench.recover.runner.plan_run`); target under 30 s;
* first fit start: the plan, then the run directory (lock, manifest of every cell, the
  resume check of every fit), then the first fit's start; target under 60 s. The run is
  stopped once that first fit has finished (serial executor).

Usage: ``python bench/bench_scale.py [--axis 100]`` (``--axis N``: an N x N grid);
writes ``bench/results/scale-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

from mmm_workbench.recover.fitting import validate_cells
from mmm_workbench.recover.runner import FitResult, RunOptions, plan_run, run_grid
from mmm_workbench.scenarios import scenario_from_text

BASE = """
name = "scale"
seed = 3
replicates = 1

[data]
periods = 30
train_periods = 30
intercept = 100.0
demand = { scale = 100, noise_sd = 0.05 }
proxy = { noise_sd = 0.05 }
noise = { kind = "normal", sd = 5.0 }

[[data.channels]]
name = "tv"
spend = { demand_share = 10, noise_sd = 0.4 }
adstock = { kind = "geometric", alpha = 0.5, l_max = 3 }
saturation = { kind = "logistic", lam = 1.5 }
beta = 60

[[data.channels]]
name = "search"
spend = { demand_share = 5, noise_sd = 0.4 }
adstock = { kind = "geometric", alpha = 0.2, l_max = 3 }
saturation = { kind = "logistic", lam = 2.5 }
beta = 30

[model]
kind = "ols"
adstock = { kind = "geometric", l_max = 3, alpha = 0.35 }
saturation = { kind = "logistic", lam = 2.0 }
controls = ["demand_proxy"]
"""

PLAN_TARGET_S = 30.0
FIRST_FIT_TARGET_S = 60.0


def scenario(axis: int) -> str:
    """The base scenario with an ``axis`` x ``axis`` grid over two [data] values."""
    proxy = ", ".join(f"{0.001 * i:.3f}" for i in range(axis))
    noise = ", ".join(f"{1 + 0.01 * i:.2f}" for i in range(axis))
    return f'{BASE}\n[grid]\n"data.proxy.noise_sd" = [{proxy}]\n"data.noise.sd" = [{noise}]\n'


class _FirstFit(Exception):
    """Stops the run once its first fit has finished."""

    def __init__(self, result: FitResult) -> None:
        self.result = result


class _StopAfterFirst:
    def __init__(self) -> None:
        self.started_at = 0.0

    def started(self, total: int, skipped: int) -> None:
        self.started_at = time.perf_counter()

    def finished(self, result: FitResult) -> None:
        raise _FirstFit(result)


def parts(text: str) -> dict[str, float]:
    """Seconds of each part of a plan: read (parse the document, expand the grid and
    validate every cell from scratch: the scenario package) and validate for fitting
    (the runner: once per distinct [model]/[fit])."""
    t0 = time.perf_counter()
    source = scenario_from_text(text)
    t1 = time.perf_counter()
    validate_cells(source.cells)
    t2 = time.perf_counter()
    return {"read_and_expand_s": t1 - t0, "validate_for_fitting_s": t2 - t1}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--axis", type=int, default=100, help="grid of axis x axis cells")
    args = parser.parse_args()
    text = scenario(args.axis)
    t0 = time.perf_counter()
    plan = plan_run(text, RunOptions(replicates=1))
    plan_s = time.perf_counter() - t0
    listener = _StopAfterFirst()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run_grid(plan, Path(tmp) / "run", listener=listener)
            raise RuntimeError("the run ended without a fit")
        except _FirstFit as stop:
            first = stop.result
        finished = time.perf_counter()
    first_start_s = finished - first.seconds - t0
    result = {
        "cells": len(plan.cells),
        "plan_s": round(plan_s, 2),
        "directory_ready_s": round(listener.started_at - t0, 2),
        "first_fit_start_s": round(first_start_s, 2),
        "first_fit_s": round(first.seconds, 3),
        "first_fit_status": first.status,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "plan_parts": {k: round(v, 2) for k, v in parts(text).items()},
        "targets": {"plan_s": PLAN_TARGET_S, "first_fit_start_s": FIRST_FIT_TARGET_S},
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    print(f"{result['cells']:,} cells")
    for key, target in (("plan_s", PLAN_TARGET_S), ("first_fit_start_s", FIRST_FIT_TARGET_S)):
        verdict = "ok" if result[key] < target else "OVER TARGET"  # type: ignore[operator]
        print(f"  {key:<18} {result[key]:>8} s   target < {target:.0f} s   {verdict}")
    print(f"  directory ready    {result['directory_ready_s']:>8} s")
    print(f"  plan parts         {result['plan_parts']}")
    print(f"  peak RSS           {result['peak_rss_mb']:>8} MB")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"scale-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
