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
(d) ``pymc-marketing default``: the same as (a) but without ``nuts_sampler``, so
    ``pm.sample`` chooses as it does by default on the installed stack. PyMC 6.3
    (``pymc/sampling/mcmc.py``, ``sample``) picks ``"nutpie"`` when nutpie is installed,
    NUTS is the only step needed, ``init="auto"``, no trace backend or callback, and the
    default PyTensor mode's linker is numba's or JAX's (PyTensor 3's default mode is
    numba's); it then compiles the model with ``nutpie.compile_pymc_model(model,
    backend="numba")`` on every call and samples with nutpie's defaults (diagonal mass
    matrix, chains in ``min(4, cores)`` threads) at target_accept 0.9. The sampler PyMC
    chose is recorded per fit (``sampler``). Compile is paid by every fit, as in (a).
(b) ``workbench``: the workbench model through ``mmm-workbench run`` (``run_grid``) with the
    ``confounded-demand`` scenario's own [fit] (its default backend and settings).
(c) ``pymc-marketing adapter``: the same article model through ``mmm-workbench run``, with
    the fit settings of (b) (nutpie, the model compiled once per cell).

Reported per fit: compile (the cell's once, amortized over its replicates in ESS/s), tune
and draw seconds, min bulk ESS over the model's free parameters, min-ESS per wall-second
with compile amortized, and its ratios to (a) and to (d); divergences, share of fits with 0
divergences and R-hat < 1.01.

Part 2 (throughput): N replicates of (b)'s cell with 1 worker (chains in parallel threads)
and 2 worker processes (each fit's chains in sequence on one thread: the runner gives each
of N local workers CPUs // N threads); fits per hour, compile included, the speed-up over
1 worker and the parallel efficiency (speed-up / workers).

Usage: ``python bench/bench_fit.py [--replicates N] [--baseline-replicates N]
[--default-replicates N] [--throughput N]`` (``--throughput 0`` skips part 2); the load
average before and after each row is recorded beside it; writes
``bench/results/fit-<UTC time>.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
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
from mmm_workbench.recover.models import workbench
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
BASELINE = "(a) pymc-marketing, PyMC NUTS (baseline)"
DEFAULT = "(d) pymc-marketing, pm.sample's default sampler"
WORKBENCH_ROW = "(b) workbench model, default backend"


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


def _chosen_sampler(trace: Any) -> str:
    """The sampler that produced ``trace``: ``pm.sample`` records it in the posterior's
    attributes (``inference_library``: ``"nutpie"`` or ``"pymc"``)."""
    attrs = trace["posterior"].attrs
    return str(attrs.get("inference_library", attrs.get("sampler", "unknown")))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the runner's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load() -> float:
    """The 1-minute load average (timings beside it are inflated when it exceeds the cores)."""
    return round(os.getloadavg()[0], 2)


def baseline(replicates: int, nuts_sampler: str | None = "pymc") -> dict[str, Any]:
    """(a) and (d): pymc-marketing's MMM built and sampled per dataset with ``pm.sample``.

    ``nuts_sampler="pymc"`` for (a), PyMC's NUTS; ``None`` for (d), the sampler
    ``pm.sample`` picks by default (nutpie, compiled on every call, when it is installed).
    """
    scenario = parse_scenario(tomllib.loads(PMM))
    cell = expand_grid(scenario)[0]
    spec = cell.scenario.model
    assert spec is not None
    fits, compile_total = [], 0.0
    for replicate in range(replicates):
        tree = generate(cell.scenario.data, replicate_rng(scenario.seed, cell.data_id, replicate))
        t0 = time.perf_counter()
        model = build_pymc_marketing(spec, model_data(tree, spec))
        chosen = {} if nuts_sampler is None else {"nuts_sampler": nuts_sampler}
        with model.model:
            trace = pm.sample(
                **BASELINE_FIT,
                **chosen,
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
        sampler = _chosen_sampler(trace)
        fits.append(
            {
                **diagnostics,
                "tune_s": sampling * share,
                "draw_s": sampling * (1 - share),
                "fit_s": sampling,
            }
        )
        print(
            f"  replicate {replicate} ({sampler}): {wall:.1f} s, of which sampling "
            f"{sampling:.1f} s; min ESS {diagnostics['min_ess_bulk']:.0f}",
            flush=True,
        )
    # pymc-marketing users build and compile per dataset: compile is paid by every fit
    row = _row(fits, compile_total)
    row["sampler"] = sampler
    return row


def through_runner(text: str, out: Path, replicates: int, workers: int = 1) -> dict[str, Any]:
    """(b), (c) and the throughput runs: ``run_grid``, as ``mmm-workbench run`` calls it."""
    tasks._FITTERS.clear()  # each run pays its compilation, as a fresh process would
    t0 = time.perf_counter()
    summary = run_grid(text, out, RunOptions(replicates=replicates, workers=workers))
    wall = time.perf_counter() - t0
    store = RunStore(out)
    fits = []
    geometries: set[str] = set()
    compile_s = 0.0
    for cell, rep, _ in store.records():
        attrs = store.read_record(cell, rep).attrs
        geometries.add(str(attrs.get("geometry", "")))
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
    # the coordinates the fits were sampled in (auto resolved; empty for other models)
    row["geometry"] = ", ".join(sorted(g for g in geometries if g))
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--baseline-replicates", type=int, default=1)
    parser.add_argument("--default-replicates", type=int, default=3)
    parser.add_argument("--throughput", type=int, default=20)
    parser.add_argument(
        "--rows",
        default="a,d,b,c",
        help="rows to measure, comma-separated (a, d, b, c); default all, in one run",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        help="an earlier fit-*.json whose rows this run's are added to (rows measured in "
        "chunks, e.g. under a 10-minute limit on a loaded machine; each row keeps its load)",
    )
    args = parser.parse_args()
    result: dict[str, Any] = {"scenario": "confounded-demand", "fit": {}, "throughput": {}}
    if args.merge is not None:
        result = json.loads(args.merge.read_text())
        result["merged_from"] = [*result.get("merged_from", []), args.merge.name]
    measures: dict[str, tuple[str, Any]] = {
        "a": (BASELINE, lambda tmp: baseline(args.baseline_replicates, "pymc")),
        "d": (DEFAULT, lambda tmp: baseline(args.default_replicates, None)),
        "b": (
            WORKBENCH_ROW,
            lambda tmp: through_runner(WORKBENCH, tmp / "b", args.replicates),
        ),
        "c": (
            "(c) pymc-marketing adapter, fastest backend",
            lambda tmp: through_runner(PMM, tmp / "c", args.replicates),
        ),
    }
    wanted = [key.strip() for key in args.rows.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in measures]
    if unknown:
        parser.error(f"--rows {args.rows}: unknown rows {unknown}; choose from a, d, b, c")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"fit-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    with tempfile.TemporaryDirectory() as tmp:
        for key in wanted:
            name, measure = measures[key]
            print(name, flush=True)
            load, cpu0 = _load(), _cpu()
            result["fit"][name] = measure(Path(tmp))
            result["fit"][name]["load_1min"] = [load, _load()]
            result["fit"][name]["cpu_s"] = round(_cpu() - cpu0, 1)
            result["fit"][name]["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            out.write_text(json.dumps(result, indent=2) + "\n")  # a killed run keeps its rows
        for label, workers, text in (
            ("1 worker, chains in parallel", 1, WORKBENCH),
            ("2 workers, chains in sequence", 2, WORKBENCH),
        ):
            if args.throughput <= 0:
                break
            print(f"throughput: {label}", flush=True)
            load = _load()
            result["throughput"][label] = through_runner(
                text, Path(tmp) / f"t{workers}", args.throughput, workers
            )
            result["throughput"][label]["load_1min"] = [load, _load()]
    order = [measures[k][0] for k in "adbc"]
    result["fit"] = dict(sorted(result["fit"].items(), key=lambda kv: order.index(kv[0])))
    base = result["fit"].get(BASELINE, {}).get("ess_per_s")
    default = result["fit"].get(DEFAULT, {}).get("ess_per_s")
    print(
        f"\n{'':<46}{'compile s':>10}{'tune s':>8}{'draw s':>8}{'min ESS':>9}"
        f"{'ESS/s':>8}{'vs (a)':>8}{'vs (d)':>8}{'clean':>7}{'load':>12}"
    )
    for row in result["fit"].values():
        if "cpu_s" in row:  # CPU seconds per fit, compile amortized: less load-sensitive
            row["ess_per_cpu_s"] = round(row["min_ess_bulk"] * row["fits"] / row["cpu_s"], 2)
    base_cpu = result["fit"].get(BASELINE, {}).get("ess_per_cpu_s")
    default_cpu = result["fit"].get(DEFAULT, {}).get("ess_per_cpu_s")
    for name, row in result["fit"].items():
        row["ratio_to_baseline"] = round(row["ess_per_s"] / base, 1) if base else None
        row["ratio_to_default"] = round(row["ess_per_s"] / default, 1) if default else None
        if "ess_per_cpu_s" in row:
            cpu = row["ess_per_cpu_s"]
            row["cpu_ratio_to_baseline"] = round(cpu / base_cpu, 1) if base_cpu else None
            row["cpu_ratio_to_default"] = round(cpu / default_cpu, 1) if default_cpu else None
        print(
            f"{name:<46}{row['compile_s']:>10}{row['tune_s']:>8}{row['draw_s']:>8}"
            f"{row['min_ess_bulk']:>9}{row['ess_per_s']:>8}{row['ratio_to_baseline']!s:>8}"
            f"{row['ratio_to_default']!s:>8}{row['share_clean']:>7}"
            f"{'-'.join(str(v) for v in row['load_1min']):>12}"
        )
    one = result["throughput"].get("1 worker, chains in parallel", {}).get("fits_per_hour")
    for (label, row), workers in zip(result["throughput"].items(), (1, 2), strict=False):
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
        # the setting ("auto" unless MMM_WORKBENCH_GEOMETRY says otherwise); each runner
        # row's "geometry" is what it resolved to, read off its fit records
        "workbench_geometry": workbench.GEOMETRY,
    }
    result["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
