"""Benchmark: the report of a 1,000-fit run, its size and how fast a browser opens it.

Issue 13 asks that the page of a 1,000-fit run open in under 2 s and stay within a few MB,
and that ``summary.json`` be compact. The run is synthetic (no sampler): 10 grid cells x
100 replicates of stub records written by the public writer
(:class:`mmm_workbench.recover.store.RunStore`), each with a realistic set of estimands:
4 channels x 80 weeks of ``channel_contribution`` and the ``baseline``, ROAS, mROAS,
shares, totals, three transform parameters per channel, ``sigma``, ``intercept`` and a
9-point response curve per channel with its spend (so the budget decision is scored too):
466 estimand coordinates a fit, 100 posterior and prior draws. Cell ``k``'s posterior is
shifted by ``k / 10`` posterior sds (a grid from calibrated to biased).

Measured: writing the run; ``build_report`` (scoring, verdict, figures, page); the sizes
of ``index.html``, ``summary.json``, the CSVs and the figures; and the page's load time in
headless Chromium (navigation start to the load event, as the page itself reports it in
its foot line), the median of ``--loads`` loads. Targets: page under 2 s and a few MB.

Usage: ``python bench/bench_report_scale.py [--cells 10] [--replicates 100] [--loads 3]
[--workdir D] [--keep] [--run RUN]`` (``--run``: report a run kept by ``--keep``);
writes ``bench/results/report-scale-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.report import build_report

CHANNELS = np.array(["tv", "search", "social", "radio"])
DATES = np.arange("2023-01-06", 80 * 7, 7, dtype="datetime64[D]").astype("datetime64[ns]")[:80]
MULTIPLIERS = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
PER_CHANNEL = (
    "roas", "mroas", "contribution_share", "contribution_total", "adstock_alpha",
    "saturation_lam", "saturation_beta",
)  # fmt: skip


def _record(
    cell: str, label: str, replicate: int, shift: float, draws: int, rng: np.random.Generator
) -> xr.DataTree:
    c, d = len(CHANNELS), len(DATES)
    spend = rng.uniform(50.0, 500.0, size=c) * d
    roas = rng.uniform(0.2, 3.0, size=c)
    lam = rng.uniform(0.5, 3.0, size=c)
    curve = (
        roas[:, None]
        * spend[:, None]
        * (1 - np.exp(-lam[:, None] * MULTIPLIERS))
        / (1 - np.exp(-lam[:, None]))
    )
    contribution = rng.gamma(2.0, 10.0, size=(d, c))
    truth: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        "roas": (("channel",), roas),
        "mroas": (("channel",), roas * 0.6),
        "contribution_share": (("channel",), rng.dirichlet(np.ones(c))),
        "contribution_total": (("channel",), contribution.sum(axis=0)),
        "adstock_alpha": (("channel",), rng.uniform(0.1, 0.8, size=c)),
        "saturation_lam": (("channel",), lam),
        "saturation_beta": (("channel",), rng.uniform(0.5, 2.0, size=c)),
        "sigma": ((), np.array(5.0)),
        "intercept": ((), np.array(100.0)),
        "baseline": (("date",), 100 + rng.normal(0, 5, size=d)),
        "channel_contribution": (("date", "channel"), contribution),
        "response": (("channel", "multiplier"), curve),
    }
    posterior, prior = {}, {}
    for name, (dims, value) in truth.items():
        sd = 0.1 * np.abs(value) + 0.01
        centre = value + shift * sd + sd * rng.normal(size=value.shape)
        posterior[name] = (
            (("sample", *dims)),
            centre + sd * rng.normal(size=(draws, *value.shape)),
        )
        if name not in ("baseline", "channel_contribution"):
            prior[name] = (
                ("sample", *dims),
                value + 4 * sd * rng.normal(size=(draws, *value.shape)),
            )
    truth_only = {"response_spend": (("channel", "multiplier"), np.outer(spend, MULTIPLIERS))}
    coords = {"channel": CHANNELS, "date": DATES, "multiplier": MULTIPLIERS}

    def dataset(variables: dict[str, tuple[tuple[str, ...], np.ndarray]]) -> xr.Dataset:
        used = {dim for dims, _ in variables.values() for dim in dims}
        return xr.Dataset(variables, coords={k: v for k, v in coords.items() if k in used})

    tree = xr.DataTree.from_dict(
        {
            "/posterior": dataset(posterior),
            "/truth": dataset(truth | truth_only),
            "/prior": dataset(prior),
        }
    )
    diagnostics = {"draws": float(draws), "max_rhat": 1.003, "divergences": 0.0}
    diagnostics |= {"min_ess_bulk": 380.0, "min_ess_tail": 350.0}
    tree.attrs = {
        "scenario": "report-scale",
        "cell_id": cell,
        "cell_label": label,
        "replicate": replicate,
        "backend": "stub",
        "diagnostics": json.dumps(diagnostics),
        "timings": json.dumps({"compile_s": 0.0, "tune_s": 1.0, "draw_s": 1.0, "post_s": 0.1}),
        "versions": json.dumps({"python": platform.python_version()}),
    }
    return tree


def write_run(root: Path, cells: int, replicates: int, draws: int = 100) -> Path:
    """Write the synthetic run: ``cells`` grid cells (``shift = k / 10``) x ``replicates``."""
    shifts = [round(k / 10, 2) for k in range(cells)]
    ids = {f"c{k:02d}": shift for k, shift in enumerate(shifts)}
    scenario = 'name = "report-scale"\n[grid]\n"fit.shift" = ' + json.dumps(shifts) + "\n"
    manifest = {
        "scenario": "report-scale",
        "seed": 0,
        "replicates": replicates,
        "cells": {
            c: {"label": f"shift={s}", "overrides": [["fit.shift", s]]} for c, s in ids.items()
        },
    }
    store = RunStore(root)
    store.initialize(scenario, json.dumps(sorted(ids)), manifest)
    for k, (cell, shift) in enumerate(ids.items()):
        rng = np.random.default_rng([0, k])
        for rep in range(replicates):
            tree = _record(cell, f"shift={shift}", rep, shift, draws, rng)
            store.write_record(cell, rep, tree)
    return root


def load_ms(html: Path, chromium: str, profile: Path) -> tuple[float, str]:
    """Open the page in headless Chromium; return its load time (ms) and the foot line."""
    done = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--dump-dom", html.as_uri(),
        ],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    match = re.search(r"(\d+) of (\d+) figures rendered; page loaded in (\d+) ms", done.stdout)
    if match is None:
        raise RuntimeError(f"no load line in the page: {done.stdout[-500:]}")
    return float(match.group(3)), match.group(0)


def main() -> None:
    """Run the benchmark and write its result file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--cells", type=int, default=10)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument("--run", type=Path, help="report this run (kept) instead of writing one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="report-scale-", dir=args.workdir))
    result: dict[str, object] = {
        "cells": args.cells,
        "replicates": args.replicates,
        "fits": args.cells * args.replicates,
        "load_before": os.getloadavg(),
        "cpus": os.cpu_count(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    try:
        start = time.perf_counter()
        run = args.run or write_run(work / "run", args.cells, args.replicates)
        result["write_s"] = None if args.run else round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        paths = build_report(run)
        result["report_s"] = round(time.perf_counter() - start, 1)
        out = paths.html.parent
        result["html_bytes"] = paths.html.stat().st_size
        result["summary_bytes"] = paths.summary.stat().st_size
        result["csv_bytes"] = {p.name: p.stat().st_size for p in paths.tables.values()}
        result["figure_bytes"] = {n: p.stat().st_size for n, p in paths.figures.items()}
        result["report_dir_bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            result["load_ms"] = None
        else:
            loads = [load_ms(paths.html, chromium, work / "profile") for _ in range(args.loads)]
            result["load_ms"] = [ms for ms, _ in loads]
            result["load_ms_median"] = statistics.median(ms for ms, _ in loads)
            result["foot_line"] = loads[-1][1]
        result["load_after"] = os.getloadavg()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            result["workdir"] = str(work)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = Path(__file__).parent / "results" / f"report-scale-{stamp}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
