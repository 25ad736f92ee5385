"""Benchmark: fitting ``confounded-demand``, against pymc-marketing's MMM with its default
sampler measured in the same invocation, and grid throughput.

Part 1 (efficiency), each on replicates of the ``confounded-demand`` world (4 chains x
1000 draws):

(a) ``baseline``: pymc-marketing's MMM (``confounded-demand-pymc-marketing``'s article
    model, on ``confounded-demand``'s data) built and fitted as a pymc-marketing user
    does, once per dataset: ``MMM``, ``build_model``, then ``pm.sample`` with PyMC's NUTS
    and its defaults (1000 tuning steps, chains on ``min(4, cores)`` processes) at
    target_accept 0.9. PyMC 6 would pick nutpie when it is installed; the baseline names
    ``nuts_sampler="pymc"``, the sampler pymc-marketing's default meant until then.
(b) ``workbench``: the workbench model through ``mmm-workbench run`` (``run_grid``) with the
    ``confounded-demand`` scenario's own [fit] (its default backend and settings).
(c) ``pymc-marketing adapter``: the same article model through ``mmm-workbench run``, with
    the fit settings of (b) (nutpie, the model compiled once per cell).

Reported per fit: compile (the cell's once, amortized over its replicates in ESS/s), tune
and draw seconds, min bulk ESS over the model's free parameters, min-ESS per wall-second
with compile amortized, and the ratio to (a); divergences, share of fits with 0
divergences and R-hat < 1.01.

Part 2 (throughput): N replicates of (b)'s cell with 1 worker (chains in parallel threads)
and 2 worker processes (chains in sequence, ``options.cores = 1``); fits per hour,
compile included, the speed-up over 1 worker and the parallel efficiency (speed-up /
workers).

Usage: ``python bench/bench_fit.py [--replicates N] [--baseline-replicates N]
[--throughput N]``; writes ``bench/results/fit-<UTC time>.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pymc as pm

from mmm_workbench.recover import tasks
from mmm_workbench.recover.inference import sampler_diagnostics
from mmm_workbench.recover.models.data import model_data
from mmm_workbench.recover.models.pymc_marketing import build_pymc_marketing
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.scenarios import expand_grid, parse_scenario, replicate_rng
from mmm_workbench.scenarios.seeds import sampler_seed
from mmm_workbench.simulate import generate

ROOT = Path(__file__).resolve().parents[1]
WORKBENCH = (ROOT / "scenarios" / "confounded-demand.toml").read_text()
PMM = WORKBENCH.replace('kind = "workbench"', 'kind = "pymc-marketing"')
"""confounded-demand with pymc-marketing's MMM: ``confounded-demand-pymc-marketing``'s
[model] table (the same families, l_max and control, pymc-marketing's priors)."""
BASELINE_FIT = {"draws": 1000, "tune": 1000, "chains": 4, "target_accept": 0.9}
"""The article's pymc-marketing sampling: PyMC's defaults with target_accept 0.9."""


def _with_cores(text: str, cores: int) -> str:
    """The scenario with ``options.cores`` added to its [fit] options."""
    fit = tomllib.loads(text)["fit"]
    options = {**fit.get("options", {}), "cores": cores}
    inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
    text = "\n".join(line for line in text.splitlines() if not line.startswith("options"))
    return text + f"\noptions = {{ {inline} }}\n"


def _row(fits: list[dict[str, float]], compile_s: float) -> dict[str, Any]:
    """Per-fit means, and min-ESS per second with ``compile_s`` (the total compilation of
    these fits, reported as such) amortized over the fits."""
    fit_s = [r["fit_s"] for r in fits]
    ess = [r["min_ess_bulk"] for r in fits]
    amortized = (sum(fit_s) + compile_s) / len(fits)
    good = [r.get("divergences", 0) == 0 and r["max_rhat"] < 1.01 for r in fits]
    return {
        "fits": len(fits),
        "compile_s": round(compile_s, 2),
        "tune_s": round(statistics.mean(r["tune_s"] for r in fits), 2),
        "draw_s": round(statistics.mean(r["draw_s"] for r in fits), 2),
        "fit_s": round(statistics.mean(fit_s), 2),
        "min_ess_bulk": round(statistics.mean(ess), 1),
        "ess_per_s": round(statistics.mean(ess) / amortized, 2),
        "divergences": int(sum(r.get("divergences", 0) for r in fits)),
        "max_rhat": round(max(r["max_rhat"] for r in fits), 4),
        "share_clean": round(sum(good) / len(good), 3),
    }


def baseline(replicates: int) -> dict[str, Any]:
    """(a): pymc-marketing's MMM built and sampled per dataset with PyMC's NUTS."""
    scenario = parse_scenario(tomllib.loads(PMM))
    cell = expand_grid(scenario)[0]
    spec = cell.scenario.model
    assert spec is not None
    fits, compile_total = [], 0.0
    for replicate in range(replicates):
        tree = generate(cell.scenario.data, replicate_rng(scenario.seed, cell.data_id, replicate))
        t0 = time.perf_counter()
        model = build_pymc_marketing(spec, model_data(tree, spec))
        with model.model:
            trace = pm.sample(
                **BASELINE_FIT,
                nuts_sampler="pymc",
                random_seed=sampler_seed(scenario.seed, cell.cell_id, replicate),
                progressbar=False,
                compute_convergence_checks=False,
                discard_tuned_samples=False,
            )
        wall = time.perf_counter() - t0
        posterior = trace["posterior"].to_dataset()
        sampling = float(posterior.attrs["sampling_time"])
        steps_tune = float(trace["warmup_sample_stats"]["n_steps"].sum())
        steps_draw = float(trace["sample_stats"]["n_steps"].sum())
        share = steps_tune / (steps_tune + steps_draw)
        free = [v.name for v in model.model.free_RVs]
        diagnostics = sampler_diagnostics(posterior, trace["sample_stats"].to_dataset(), free)
        compile_total += wall - sampling
        fits.append(
            {
                **diagnostics,
                "tune_s": sampling * share,
                "draw_s": sampling * (1 - share),
                "fit_s": sampling,
            }
        )
        print(f"  baseline replicate {replicate}: {wall:.1f} s", flush=True)
    # pymc-marketing users build and compile per dataset: compile is paid by every fit
    return _row(fits, compile_total)


def through_runner(text: str, out: Path, replicates: int, workers: int = 1) -> dict[str, Any]:
    """(b), (c) and the throughput runs: ``run_grid``, as ``mmm-workbench run`` calls it."""
    tasks._FITTERS.clear()  # each run pays its compilation, as a fresh process would
    t0 = time.perf_counter()
    summary = run_grid(text, out, RunOptions(replicates=replicates, workers=workers))
    wall = time.perf_counter() - t0
    store = RunStore(out)
    fits = []
    compile_s = 0.0
    for cell, rep, _ in store.records():
        attrs = store.read_record(cell, rep).attrs
        timings = json.loads(attrs["timings"])
        compile_s += timings["compile_s"]
        fits.append(
            {
                **json.loads(attrs["diagnostics"]),
                **timings,
                "fit_s": timings["tune_s"] + timings["draw_s"] + timings["post_s"],
            }
        )
    row = _row(fits, compile_s)
    row["wall_s"] = round(wall, 1)
    row["fits_per_hour"] = round(3600 * summary.done / wall, 1)
    row["failed"] = summary.failed
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--baseline-replicates", type=int, default=1)
    parser.add_argument("--throughput", type=int, default=20)
    args = parser.parse_args()
    result: dict[str, Any] = {"scenario": "confounded-demand", "fit": {}, "throughput": {}}
    with tempfile.TemporaryDirectory() as tmp:
        print("(a) pymc-marketing, default sampler", flush=True)
        result["fit"]["(a) pymc-marketing, PyMC NUTS (baseline)"] = baseline(
            args.baseline_replicates
        )
        print("(b) workbench model, mmm-workbench run", flush=True)
        result["fit"]["(b) workbench model, default backend"] = through_runner(
            WORKBENCH, Path(tmp) / "b", args.replicates
        )
        print("(c) pymc-marketing adapter, mmm-workbench run", flush=True)
        result["fit"]["(c) pymc-marketing adapter, fastest backend"] = through_runner(
            PMM, Path(tmp) / "c", args.replicates
        )
        for label, workers, text in (
            ("1 worker, chains in parallel", 1, WORKBENCH),
            ("2 workers, chains in sequence", 2, _with_cores(WORKBENCH, 1)),
        ):
            print(f"throughput: {label}", flush=True)
            result["throughput"][label] = through_runner(
                text, Path(tmp) / f"t{workers}", args.throughput, workers
            )
    base = result["fit"]["(a) pymc-marketing, PyMC NUTS (baseline)"]["ess_per_s"]
    print(
        f"\n{'':<46}{'compile s':>10}{'tune s':>8}{'draw s':>8}{'min ESS':>9}"
        f"{'ESS/s':>8}{'ratio':>8}{'clean':>7}"
    )
    for name, row in result["fit"].items():
        row["ratio_to_baseline"] = round(row["ess_per_s"] / base, 1) if base else None
        print(
            f"{name:<46}{row['compile_s']:>10}{row['tune_s']:>8}{row['draw_s']:>8}"
            f"{row['min_ess_bulk']:>9}{row['ess_per_s']:>8}{row['ratio_to_baseline']:>8}"
            f"{row['share_clean']:>7}"
        )
    one = result["throughput"]["1 worker, chains in parallel"]["fits_per_hour"]
    for (label, row), workers in zip(result["throughput"].items(), (1, 2), strict=True):
        row["speed_up"] = round(row["fits_per_hour"] / one, 2)
        row["parallel_efficiency"] = round(row["speed_up"] / workers, 2)
        print(
            f"{label:<32} {row['fits']} fits in {row['wall_s']} s: "
            f"{row['fits_per_hour']} fits/hour, {row['share_clean']:.0%} clean"
        )
    result["machine"] = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "versions": {
            name: metadata.version(name)
            for name in ("pymc", "pytensor", "nutpie", "pymc-marketing", "numpy")
        },
        "numpy_blas": np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"],
    }
    result["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"fit-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
