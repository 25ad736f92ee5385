"""Benchmark: clean fits and sampling cost of the workbench model, per transform family.

For each family pair (geometric + logistic, delayed + Hill, Weibull CDF + Michaelis-Menten,
geometric + Hill) a small well-specified world is built here in code: 3 channels, 104
weeks, spend planned independently of demand (no confounding), a demand with a linear trend
and yearly seasonality, and a model of the same families with ``trend = true`` and
``seasonality_order = 2``. Its scenario sets no ``[fit]`` table, so every fit runs with the
shipped defaults, through the runner's path (``CellFitter``: the cell's model built and
compiled once, each replicate's data swapped in).

Reported per family, over ``--replicates`` fits:

* ``clean``: share of fits with 0 divergences and max R-hat < 1.01 over the free parameters;
* ``min ESS/s``: mean min bulk ESS over the free parameters per second of sampling
  (tune + draw), and the same with the cell's compilation amortized over its fits;
* ``steps/draw``: leapfrog steps (gradient evaluations) per draw, tuning included, averaged
  over chains (nutpie's ``n_steps``);
* ``us/grad``: microseconds of one core per gradient: sampling wall time x threads / all
  leapfrog steps of all chains (nutpie records no per-gradient time; this includes its own
  per-step overhead);
* ``s/fit``: sampling seconds per fit, and ``max R-hat``, ``divergences`` in total.

Usage: ``python bench/bench_families.py [--replicates N] [--first K] [--families a,b]
[--fit TOML] [--priors TOML] [--geometry auto|level|sd+hill1|...] [--log FILE]``
(``--fit 'target_accept = 0.9'`` adds a ``[fit]`` table and ``--priors 'saturation_kappa = {
dist = "LogNormal", mu = -0.7, sigma = 0.5 }'`` a ``[model.priors]`` table, for experiments
on the defaults; ``--geometry`` chooses the
coordinates the sampler moves in, :data:`~mmm_workbench.recover.models.workbench.GEOMETRY`,
default the model's own, for before/after measurements; ``--first K`` starts at replicate
K, so a long study runs in chunks; ``--log FILE`` appends every fit to a JSON-lines file as
it ends, and ``--summarize FILE`` prints that file's table per family, geometry, ``[fit]``
and priors); writes ``bench/results/families-<UTC time>.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from mmm_workbench.recover.fitting import CellFitter
from mmm_workbench.recover.models import workbench
from mmm_workbench.scenarios import expand_grid, parse_scenario

CHANNELS = ("tv", "social", "search")
SHARES = (10.0, 15.0, 20.0)
BETAS = (300.0, 150.0, 100.0)

FAMILIES: dict[str, dict[str, Any]] = {
    "geometric+logistic": {
        "adstock": "geometric",
        "saturation": "logistic",
        "truth": (
            ({"alpha": 0.5}, {"lam": 1.5}),
            ({"alpha": 0.3}, {"lam": 2.5}),
            ({"alpha": 0.1}, {"lam": 3.5}),
        ),
    },
    "delayed+hill": {
        "adstock": "delayed",
        "saturation": "hill",
        "truth": (
            ({"alpha": 0.5, "theta": 2.0}, {"slope": 1.5, "kappa": 0.5}),
            ({"alpha": 0.4, "theta": 1.0}, {"slope": 2.0, "kappa": 0.4}),
            ({"alpha": 0.3, "theta": 0.0}, {"slope": 1.2, "kappa": 0.6}),
        ),
    },
    "weibull_cdf+michaelis_menten": {
        "adstock": "weibull_cdf",
        "saturation": "michaelis_menten",
        "truth": (
            ({"lam": 2.0, "k": 1.5}, {"alpha": 1.0, "lam": 0.5}),
            ({"lam": 3.0, "k": 1.0}, {"alpha": 1.0, "lam": 0.3}),
            ({"lam": 1.5, "k": 2.0}, {"alpha": 1.0, "lam": 0.8}),
        ),
    },
    "geometric+hill": {
        "adstock": "geometric",
        "saturation": "hill",
        "truth": (
            ({"alpha": 0.5}, {"slope": 1.5, "kappa": 0.5}),
            ({"alpha": 0.3}, {"slope": 2.0, "kappa": 0.4}),
            ({"alpha": 0.1}, {"slope": 1.2, "kappa": 0.6}),
        ),
    },
}
L_MAX = 8


def _inline(params: dict[str, float]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in params.items())


def world(family: str, fit: str = "", priors: str = "") -> str:
    """Return the scenario TOML of one family's world (no ``[fit]`` table unless ``fit``).

    Parameters
    ----------
    family
        A key of :data:`FAMILIES`.
    fit
        Lines of a ``[fit]`` table to add (empty: the shipped defaults).
    priors
        Lines of a ``[model.priors]`` table to add (empty: the model's default priors).
    """
    spec = FAMILIES[family]
    lines = [
        f'name = "bench-{family.replace("+", "-").replace("_", "-")}"',
        "seed = 14",
        "replicates = 1",
        "[data]",
        "periods = 104",
        'freq = "W"',
        'start = "2022-01-07"',
        "train_periods = 104",
        "intercept = 200.0",
        "[data.demand]",
        "scale = 1000",
        'trend = { kind = "linear", level = 1.0, slope = 0.002 }',
        "seasonality = [{ period = 52, sin = [0.1], cos = [0.05] }]",
        "[data.noise]",
        'kind = "normal"',
        "sd = 25.0",
    ]
    for name, share, beta, (ad, sat) in zip(CHANNELS, SHARES, BETAS, spec["truth"], strict=True):
        lines += [
            "[[data.channels]]",
            f'name = "{name}"',
            f"spend = {{ demand_share = {share}, demand_strength = 0.0, noise_sd = 0.4 }}",
            f'adstock = {{ kind = "{spec["adstock"]}", {_inline(ad)}, l_max = {L_MAX} }}',
            f'saturation = {{ kind = "{spec["saturation"]}", {_inline(sat)} }}',
            f"beta = {beta}",
        ]
    lines += [
        "[model]",
        f'adstock = {{ kind = "{spec["adstock"]}", l_max = {L_MAX} }}',
        f'saturation = {{ kind = "{spec["saturation"]}" }}',
        "trend = true",
        "seasonality_order = 2",
    ]
    if priors:
        lines += ["[model.priors]", priors]
    if fit:
        lines += ["[fit]", fit]
    return "\n".join(lines) + "\n"


def _worst(trace: Any) -> dict[str, Any]:
    """Return the parameters with the highest R-hat and lowest bulk ESS, for diagnosis."""
    import arviz as az

    posterior = trace["posterior"].to_dataset()
    names = [n for n in posterior.data_vars if n not in ("mu", "channel_contribution")]
    names = [n for n in names if n != "lift_model"]
    r_hat = az.rhat(posterior[names])
    bulk = az.ess(posterior[names], method="bulk")
    worst_r = max(names, key=lambda n: float(r_hat[n].max()))
    worst_e = min(names, key=lambda n: float(bulk[n].min()))
    return {
        "worst_rhat": f"{worst_r} {float(r_hat[worst_r].max()):.3f}",
        "worst_ess": f"{worst_e} {float(bulk[worst_e].min()):.0f}",
    }


def _instrument() -> Callable[[], list[dict[str, Any]]]:
    """Record each ``nutpie.sample`` call's leapfrog steps, threads and wall time.

    The backend calls ``nutpie.sample`` through the module, so wrapping the module's
    attribute sees every fit without changing the runner's path.
    """
    import nutpie

    calls: list[dict[str, Any]] = []
    original = nutpie.sample

    def sample(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        trace = original(*args, **kwargs)
        wall = time.perf_counter() - t0
        chains = int(kwargs.get("chains") or 4)
        per_chain = int(kwargs.get("draws") or 0) + int(kwargs.get("tune") or 0)
        call: dict[str, Any] = {
            "wall_s": wall,
            "steps": None,  # a raw (Arrow) trace: the fit record's ``leapfrog_steps``
            "threads": float(min(int(kwargs.get("cores") or chains), chains)),
            "iterations": float(chains * per_chain),
            "worst_rhat": "",
            "worst_ess": "",
        }
        if not kwargs.get("return_raw_trace"):
            draw = trace["sample_stats"]["n_steps"]
            steps = float(draw.sum())
            if "warmup_sample_stats" in trace:
                steps += float(trace["warmup_sample_stats"]["n_steps"].sum())
            call |= {"steps": steps, **_worst(trace)}
        calls.append(call)
        return trace

    nutpie.sample = sample
    return lambda: calls


def bench_family(
    family: str,
    replicates: int,
    fit: str,
    first: int = 0,
    log: Path | None = None,
    priors: str = "",
) -> dict[str, Any]:
    """Fit replicates ``first, ..., first + replicates - 1`` of one family's world and summarize.

    With ``log``, each fit's diagnostics, leapfrog steps and seconds are appended to that
    JSON-lines file as soon as the fit ends (a chunk cut short by a timeout keeps its fits).
    """
    scenario = parse_scenario(tomllib.loads(world(family, fit, priors)))
    cell = expand_grid(scenario)[0]
    calls = _instrument()
    t0 = time.perf_counter()
    fitter = CellFitter(cell)
    compile_s = time.perf_counter() - t0
    fits = []
    for replicate in range(first, first + replicates):
        record = fitter.fit(replicate)
        diagnostics = json.loads(record.attrs["diagnostics"])
        timings = json.loads(record.attrs["timings"])
        fits.append({**diagnostics, "fit_s": timings["tune_s"] + timings["draw_s"]})
        worst = calls()[-1]
        if worst["steps"] is None:
            worst["steps"] = float(diagnostics["leapfrog_steps"])
        fits[-1] |= {"worst_rhat": worst["worst_rhat"], "worst_ess": worst["worst_ess"]}
        if log is not None:
            line = {"family": family, "replicate": replicate, "geometry": workbench.GEOMETRY}
            line |= {"fit": fit, "priors": priors, "compile_s": compile_s, **fits[-1]}
            line |= {k: worst[k] for k in ("wall_s", "steps", "threads", "iterations")}
            line["load"] = os.getloadavg()[0]
            with log.open("a") as out:
                out.write(json.dumps(line) + "\n")
        print(
            f"  {family} replicate {replicate}: {fits[-1]['fit_s']:.1f} s, "
            f"{int(diagnostics.get('divergences', 0))} divergences, "
            f"R-hat {diagnostics['max_rhat']:.3f}, min ESS {diagnostics['min_ess_bulk']:.0f}, "
            f"E-BFMI {diagnostics.get('ebfmi', float('nan')):.2f}, "
            f"steps/draw {worst['steps'] / worst['iterations']:.0f}; "
            f"worst R-hat {worst['worst_rhat']}, worst ESS {worst['worst_ess']}",
            flush=True,
        )
    sampled = calls()
    assert len(sampled) == replicates, "every fit samples once with nutpie"
    fit_s = [f["fit_s"] for f in fits]
    ess = [f["min_ess_bulk"] for f in fits]
    clean = [f.get("divergences", 0) == 0 and f["max_rhat"] < 1.01 for f in fits]
    healthy = [  # the project's health class (reports/rules/default.toml [health])
        f.get("divergences", 0) == 0
        and f["max_rhat"] <= 1.05
        and min(f["min_ess_bulk"], f.get("min_ess_tail", f["min_ess_bulk"])) >= 100
        and f.get("ebfmi", 1.0) >= 0.3
        for f in fits
    ]
    steps = sum(c["steps"] for c in sampled)
    thread_s = sum(c["wall_s"] * c["threads"] for c in sampled)
    return {
        "fits": replicates,
        "clean": round(sum(clean) / replicates, 3),
        "healthy": round(sum(healthy) / replicates, 3),
        "divergences": int(sum(f.get("divergences", 0) for f in fits)),
        "max_rhat": round(max(f["max_rhat"] for f in fits), 4),
        "min_ess_bulk": round(statistics.mean(ess), 1),
        "min_ess_bulk_lowest": round(min(ess), 1),
        "ess_per_s": round(statistics.mean(ess) / statistics.mean(fit_s), 1),
        "ess_per_s_amortized": round(
            statistics.mean(ess) / ((sum(fit_s) + compile_s) / replicates), 1
        ),
        "steps_per_draw": round(steps / sum(c["iterations"] for c in sampled), 1),
        "us_per_grad": round(1e6 * thread_s / steps, 1),
        "fit_s": round(statistics.mean(fit_s), 2),
        "compile_s": round(compile_s, 2),
        "steps": steps,
        "per_fit": fits,
    }


def summarize_log(path: Path) -> list[dict[str, Any]]:
    """Return one row per (family, geometry, ``[fit]``, priors) of a ``--log`` file's fits.

    The latest line of each replicate counts (a rerun replaces an earlier fit). Rows carry
    the columns of :func:`bench_family` that do not need the compile time, and the mean
    1-minute load average during the fits.
    """
    latest: dict[tuple[str, str, str, str, int], dict[str, Any]] = {}
    for text in path.read_text().splitlines():
        if text.strip():
            line = json.loads(text)
            key = (line["family"], line["geometry"], line["fit"], line.get("priors", ""))
            latest[(*key, line["replicate"])] = line
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for (family, geometry, fit, priors, _), line in sorted(latest.items()):
        groups.setdefault((family, geometry, fit, priors), []).append(line)
    rows = []
    for (family, geometry, fit, priors), fits in groups.items():
        ess = [f["min_ess_bulk"] for f in fits]
        fit_s = [f["fit_s"] for f in fits]
        steps = sum(f["steps"] for f in fits)
        rows.append(
            {
                "family": family,
                "geometry": geometry,
                "fit": fit,
                "priors": priors,
                "fits": len(fits),
                "replicates": [f["replicate"] for f in fits],
                "clean": round(
                    sum(f.get("divergences", 0) == 0 and f["max_rhat"] < 1.01 for f in fits)
                    / len(fits),
                    3,
                ),
                "divergences": [int(f.get("divergences", 0)) for f in fits],
                "max_rhat": round(max(f["max_rhat"] for f in fits), 4),
                "min_ess_bulk": round(min(ess), 1),
                "ess_per_s": round(statistics.mean(ess) / statistics.mean(fit_s), 1),
                "steps_per_draw": round(steps / sum(f["iterations"] for f in fits), 1),
                "us_per_grad": round(
                    1e6 * sum(f["wall_s"] * f["threads"] for f in fits) / steps, 1
                ),
                "fit_s": round(statistics.mean(fit_s), 2),
                "load": round(statistics.mean(f["load"] for f in fits), 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=8)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--fit", default="", help="lines of a [fit] table (default: none)")
    parser.add_argument(
        "--priors", default="", help="lines of a [model.priors] table (default: none)"
    )
    parser.add_argument("--label", default="", help="a note stored with the results")
    parser.add_argument("--first", type=int, default=0, help="the first replicate")
    parser.add_argument("--log", type=Path, default=None, help="append each fit to this JSONL")
    parser.add_argument("--geometry", choices=workbench.GEOMETRIES, default=workbench.GEOMETRY)
    parser.add_argument("--summarize", type=Path, default=None, help="print a --log's table")
    args = parser.parse_args()
    if args.summarize is not None:
        for row in summarize_log(args.summarize):
            print(json.dumps(row))
        return
    workbench.GEOMETRY = args.geometry  # this process's fits (CellFitter samples in-process)
    names = [n.strip() for n in args.families.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        parser.error(f"--families: unknown {unknown[0]!r}; known: {', '.join(FAMILIES)}")
    result: dict[str, Any] = {
        "families": {},
        "fit": args.fit,
        "priors": args.priors,
        "label": args.label,
        "geometry": args.geometry,
        "first": args.first,
    }
    for name in names:
        print(name, flush=True)
        result["families"][name] = bench_family(
            name, args.replicates, args.fit, args.first, args.log, args.priors
        )
    header = (
        f"\n{'family':<30}{'clean':>7}{'div':>5}{'R-hat':>8}{'min ESS':>9}{'ESS/s':>8}"
        f"{'steps/draw':>11}{'us/grad':>9}{'s/fit':>7}"
    )
    print(header)
    for name, row in result["families"].items():
        print(
            f"{name:<30}{row['clean']:>7.0%}{row['divergences']:>5}{row['max_rhat']:>8}"
            f"{row['min_ess_bulk']:>9}{row['ess_per_s']:>8}{row['steps_per_draw']:>11}"
            f"{row['us_per_grad']:>9}{row['fit_s']:>7}"
        )
    result["machine"] = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "versions": {n: metadata.version(n) for n in ("pymc", "pytensor", "nutpie", "numpy")},
    }
    result["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"families-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
