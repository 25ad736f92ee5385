"""Benchmark: cheaper gradients through JAX, against nutpie's numba default, same datasets.

Issue 14 lists, among the ways to cheaper gradients, nutpie's JAX backend and several
replicates sampled at once under a batched NUTS (JAX ``vmap`` of the log density under
blackjax). On the first ``--replicates`` datasets of ``confounded-demand`` (the workbench
model, 4 chains x 1000 draws after 500 tuning steps at target_accept 0.97, as the
scenario's [fit]):

(1) ``nutpie, numba (default)``: the runner's backend, the model compiled once and its
    data swapped per replicate, with the scenario's options (low-rank mass matrix);
(2) ``nutpie, JAX backend``: the same with ``compile_pymc_model(backend="jax",
    gradient_backend="jax")``, compiled per replicate (its compiled model has no data
    containers to swap: ``with_data`` refuses ``spend``);
(3) ``blackjax, batched``: the workbench model's log density written in JAX (the
    hand-written density of ``bench/bench_gradient.py``, checked equal to nutpie's compiled
    one within 1e-8), every replicate's 4 chains in one ``jit(vmap(...))`` of blackjax's
    window adaptation (diagonal mass matrix) and NUTS: one program for all fits.

Reported per row: wall seconds per fit with compilation amortized over the fits, min bulk
ESS (mean over fits), min-ESS per second, clean share (0 divergences, R-hat < 1.01),
leapfrog steps per draw and microseconds per gradient (wall seconds x threads / leapfrog
steps; for (3) the steps every chain needed, so the lockstep waste of ``vmap`` counts
against it). Also the microseconds of one log density + gradient on its own: JAX
(``jit(value_and_grad)``, one point, and per point of a ``vmap`` over the batch).

jax and blackjax are not dependencies of the project: run this in an environment that
has them (for example a separate venv that also sees the project's); without them it says
so and exits 0. Usage: ``python bench/bench_batched.py [--replicates N] [--rows 1,2,3]``;
writes ``bench/results/batched-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_gradient as bg  # the bench's hand-written density and cell

from mmm_workbench.recover.inference import sampler_diagnostics

Array = np.ndarray[Any, np.dtype[np.float64]]
DRAWS, TUNE, CHAINS, TARGET_ACCEPT = 1000, 500, 4, 0.97
HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))


def have_jax() -> bool:
    """Whether jax and blackjax can be imported."""
    return all(importlib.util.find_spec(n) is not None for n in ("jax", "blackjax"))


def jax_logdensity(layout: bg.Layout) -> Callable[..., Any]:
    """Return ``logp(theta, spend, target, controls)`` in JAX: the hand-written density."""
    import jax.numpy as jnp
    from jax.scipy.special import betaln, gammaln

    c, k, n_lag = layout.channels, layout.controls, layout.l_max
    lags = jnp.arange(n_lag, dtype=jnp.float64)
    sizes = (c, c, c, 1, k, 1)
    starts = np.cumsum((0, *sizes[:-1]))

    def log_prior(prior: bg.Prior, u: Any) -> Any:
        if prior.kind == "beta":
            log_x, log_1mx = -jnp.logaddexp(0.0, -u), -jnp.logaddexp(0.0, u)
            return jnp.sum(prior.a * log_x + prior.b * log_1mx - betaln(prior.a, prior.b))
        if prior.kind == "gamma":
            k_, rate = prior.a, prior.b
            return jnp.sum(k_ * jnp.log(rate) - gammaln(k_) + k_ * u - rate * jnp.exp(u))
        if prior.kind == "halfnormal":
            s = prior.b
            return jnp.sum(
                jnp.log(2.0) - HALF_LOG_2PI - jnp.log(s) - 0.5 * (jnp.exp(u) / s) ** 2 + u
            )
        zz = (u - prior.a) / prior.b
        return jnp.sum(-HALF_LOG_2PI - jnp.log(prior.b) - 0.5 * zz**2)

    def logp(theta: Any, x: Any, y: Any, z: Any) -> Any:
        periods = y.shape[0]
        alpha = 1.0 / (1.0 + jnp.exp(-theta[:c]))
        lam, beta = jnp.exp(theta[c : 2 * c]), jnp.exp(theta[2 * c : 3 * c])
        icpt, g, s_u = theta[3 * c], theta[3 * c + 1 : 3 * c + 1 + k], theta[3 * c + 1 + k]
        w = alpha[:, None] ** lags
        w = w / w.sum(axis=1, keepdims=True)
        padded = jnp.concatenate([jnp.zeros((n_lag - 1, c)), x])
        ad = sum(w[:, j] * padded[n_lag - 1 - j : n_lag - 1 - j + periods] for j in range(n_lag))
        mu = icpt + jnp.tanh(0.5 * lam * ad) @ beta + z @ g
        r = (y - mu) / jnp.exp(s_u)
        out = -periods * (HALF_LOG_2PI + s_u) - 0.5 * jnp.sum(r**2)
        for prior, start, size in zip(layout.priors, starts, sizes, strict=True):
            out = out + log_prior(prior, theta[start : start + size])
        return out

    return logp


def _row(
    fits: list[dict[str, float]], wall: float, cpu: float, steps: float, threads: int
) -> dict[str, Any]:
    """Mean diagnostics, min-ESS per wall and per CPU second (compile in ``wall`` and
    ``cpu``) and microseconds per gradient (wall x threads, and CPU, per leapfrog step)."""
    ess = float(np.mean([f["min_ess_bulk"] for f in fits]))
    clean = [f.get("divergences", 0) == 0 and f["max_rhat"] < 1.01 for f in fits]
    return {
        "fits": len(fits),
        "s_per_fit": round(wall / len(fits), 2),
        "min_ess_bulk": round(ess, 1),
        "ess_per_s": round(ess * len(fits) / wall, 2),
        "share_clean": round(sum(clean) / len(clean), 3),
        "divergences": int(sum(f.get("divergences", 0) for f in fits)),
        "max_rhat": round(max(f["max_rhat"] for f in fits), 4),
        "steps_per_draw": round(steps / (len(fits) * CHAINS * (DRAWS + TUNE)), 1),
        "us_per_gradient": round(wall * threads / steps * 1e6, 2),
        "cpu_s_per_fit": round(cpu / len(fits), 2),
        "ess_per_cpu_s": round(ess * len(fits) / cpu, 2),
        "cpu_us_per_gradient": round(cpu / steps * 1e6, 2),
    }


def nutpie_row(cells: list[bg.Cell], backend: str) -> dict[str, Any]:
    """(1) or (2): nutpie on every cell's data, compiled once (``backend`` numba or jax)."""
    import nutpie

    threads = min(CHAINS, os.cpu_count() or 1)
    t0, cpu0 = time.perf_counter(), time.process_time()
    if backend == "numba":
        compiled = nutpie.compile_pymc_model(cells[0].model.model)
    else:
        compiled = nutpie.compile_pymc_model(
            cells[0].model.model, backend="jax", gradient_backend="jax"
        )
    compile_s = time.perf_counter() - t0
    fits, steps = [], 0.0
    free = [rv.name for rv in cells[0].model.model.free_RVs]
    for replicate, cell in enumerate(cells):
        data = {k: cell.data[k] for k in ("spend", "target", "controls")}
        if backend == "numba":
            target = compiled.with_data(**data)
        elif replicate == 0:
            target = compiled
        else:  # nutpie's JAX model keeps no swappable data containers: compile each model
            target = nutpie.compile_pymc_model(
                cell.model.model, backend="jax", gradient_backend="jax"
            )
        trace = nutpie.sample(
            target,
            draws=DRAWS,
            tune=TUNE,
            chains=CHAINS,
            seed=replicate,
            progress_bar=False,
            target_accept=TARGET_ACCEPT,
            cores=threads,
            adaptation="low_rank",
            save_warmup=True,
        )
        stats = trace["sample_stats"].to_dataset()
        steps += float(stats["n_steps"].sum()) + float(
            trace["warmup_sample_stats"]["n_steps"].sum()
        )
        fits.append(sampler_diagnostics(trace["posterior"].to_dataset(), stats, free))
        print(
            f"  {backend} replicate {replicate}: min ESS {fits[-1]['min_ess_bulk']:.0f}", flush=True
        )
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    row = _row(fits, wall, cpu, steps, threads)
    row["compile_s"] = round(compile_s, 2)
    return row


def blackjax_program(
    cells: list[bg.Cell], draws: int = DRAWS, tune: int = TUNE
) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """Return the jitted, vmapped blackjax program of every replicate's chains and its
    arguments: ``run(*args)`` gives positions ``(batch, draws, n_dim)``, leapfrog steps
    (tuning and draws) and divergences per chain."""
    import blackjax
    import jax
    import jax.numpy as jnp

    logp = jax_logdensity(cells[0].layout)
    batch = len(cells) * CHAINS
    x, y, z = (
        jnp.asarray(np.stack([cell.data[k] for cell in cells for _ in range(CHAINS)]))
        for k in ("spend", "target", "controls")
    )
    inits = np.stack(
        [
            np.asarray(cells[0].compiled.initial_point_func(1000 * r + chain), dtype=float)
            for r in range(len(cells))
            for chain in range(CHAINS)
        ]
    )

    def one_chain(key: Any, init: Any, xs: Any, ys: Any, zs: Any) -> Any:
        def density(theta: Any) -> Any:
            return logp(theta, xs, ys, zs)

        warm_key, sample_key = jax.random.split(key)
        adaptation = blackjax.window_adaptation(
            blackjax.nuts, density, target_acceptance_rate=TARGET_ACCEPT
        )
        (state, parameters), warm_info = adaptation.run(warm_key, init, num_steps=tune)
        kernel = blackjax.nuts(density, **parameters).step

        def step(state: Any, key: Any) -> Any:
            state, info = kernel(key, state)
            return state, (state.position, info.num_integration_steps, info.is_divergent)

        _, (positions, n_steps, divergent) = jax.lax.scan(
            step, state, jax.random.split(sample_key, draws)
        )
        warm_steps = warm_info.info.num_integration_steps.sum()
        return positions, n_steps.sum() + warm_steps, divergent.sum()

    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    return jax.jit(jax.vmap(one_chain)), (keys, jnp.asarray(inits), x, y, z)


def blackjax_row(cells: list[bg.Cell]) -> dict[str, Any]:
    """(3): every replicate's chains in one jitted, vmapped blackjax program."""
    import jax

    batch = len(cells) * CHAINS
    t0, cpu0 = time.perf_counter(), time.process_time()
    run, arguments = blackjax_program(cells)
    positions, steps, divergent = jax.block_until_ready(run(*arguments))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    draws = np.asarray(positions).reshape(len(cells), CHAINS, DRAWS, -1)
    divergences = np.asarray(divergent).reshape(len(cells), CHAINS).sum(axis=1)
    fits = []
    for r in range(len(cells)):
        posterior = xr.Dataset({"theta": (("chain", "draw", "coordinate"), draws[r])})
        diag = sampler_diagnostics(posterior, None, ["theta"])
        diag["divergences"] = float(divergences[r])
        fits.append(diag)
        print(f"  blackjax replicate {r}: min ESS {diag['min_ess_bulk']:.0f}", flush=True)
    threads = os.cpu_count() or 1  # XLA's CPU client may use every core
    row = _row(fits, wall, cpu, float(np.asarray(steps).sum()), threads)
    return row | {"batch": batch}


def jax_gradient_us(cell: bg.Cell, batch: int, evals: int) -> dict[str, float]:
    """Microseconds of one JAX log density + gradient: one point, and per point of a batch."""
    import jax
    import jax.numpy as jnp

    logp = jax_logdensity(cell.layout)
    data = tuple(jnp.asarray(cell.data[k]) for k in ("spend", "target", "controls"))
    theta = jnp.asarray(bg.check_points(cell)[0])
    single = jax.jit(jax.value_and_grad(logp))
    many = jax.jit(jax.vmap(jax.value_and_grad(logp), in_axes=(0, None, None, None)))
    thetas = jnp.repeat(theta[None], batch, 0)
    jax.block_until_ready(single(theta, *data))
    jax.block_until_ready(many(thetas, *data))

    def per_call(fn: Callable[[], Any], n: int) -> float:
        t0 = time.process_time()  # CPU of every thread: XLA's CPU client may use several
        for _ in range(n):
            jax.block_until_ready(fn())
        return (time.process_time() - t0) / n * 1e6

    return {
        "jax, one point": round(per_call(lambda: single(theta, *data), evals), 2),
        f"jax, vmap over {batch} points, per point": round(
            per_call(lambda: many(thetas, *data), max(evals // batch, 10)) / batch, 2
        ),
    }


def main() -> None:
    """Check the JAX density, measure the rows and write the JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--rows", default="1,2,3")
    parser.add_argument("--evals", type=int, default=5000)
    args = parser.parse_args()
    if not have_jax():
        print("bench_batched: jax and blackjax are not installed here; skipped (see docstring)")
        return
    import jax

    jax.config.update("jax_enable_x64", True)
    cells = [bg.build_cell(r, compile_nutpie=(r == 0)) for r in range(args.replicates)]
    logp = jax_logdensity(cells[0].layout)
    data0 = tuple(cells[0].data[k] for k in ("spend", "target", "controls"))
    grad_fn = jax.jit(jax.value_and_grad(logp))

    def jax_pair(theta: Array) -> tuple[float, Array]:
        value, grad = grad_fn(theta, *data0)
        return float(value), np.asarray(grad)

    worst = bg.check_equal(
        lambda t: bg.compiled_logp_dlogp(cells[0].compiled, t), jax_pair, bg.check_points(cells[0])
    )
    result: dict[str, Any] = {
        "scenario": "confounded-demand",
        "replicates": args.replicates,
        "jax_max_relative_difference": worst,
        "rows": {},
    }
    load = [round(os.getloadavg()[0], 2)]
    result["us_per_gradient_alone"] = jax_gradient_us(
        cells[0], CHAINS * args.replicates, args.evals
    )
    measures = {
        "1": ("(1) nutpie, numba (default)", lambda: nutpie_row(cells, "numba")),
        "2": ("(2) nutpie, JAX backend", lambda: nutpie_row(cells, "jax")),
        "3": ("(3) blackjax, batched (vmap)", lambda: blackjax_row(cells)),
    }
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out_dir / f"batched-{stamp}.json"
    for key in args.rows.split(","):
        name, measure = measures[key.strip()]
        print(name, flush=True)
        before = round(os.getloadavg()[0], 2)
        try:
            result["rows"][name] = measure() | {"load_1min": [before, round(os.getloadavg()[0], 2)]}
        except Exception as err:  # a backend that fails is a result too
            result["rows"][name] = {"error": f"{type(err).__name__}: {err}"[:500]}
        print(f"  {result['rows'][name]}", flush=True)
        out.write_text(json.dumps(result, indent=2) + "\n")  # a killed run keeps its rows
    load.append(round(os.getloadavg()[0], 2))
    base = result["rows"].get("(1) nutpie, numba (default)", {}).get("ess_per_s")
    base_cpu = result["rows"].get("(1) nutpie, numba (default)", {}).get("ess_per_cpu_s")
    print(
        f"\n{'':<32}{'s/fit':>7}{'min ESS':>9}{'ESS/s':>8}{'ratio':>7}{'clean':>7}"
        f"{'steps':>7}{'us/grad':>9}"
    )
    for name, row in result["rows"].items():
        if "error" in row:
            print(f"{name:<32} {row['error']}")
            continue
        row["ratio_to_numba"] = round(row["ess_per_s"] / base, 2) if base else None
        row["cpu_ratio_to_numba"] = round(row["ess_per_cpu_s"] / base_cpu, 2) if base_cpu else None
        print(
            f"{name:<32}{row['s_per_fit']:>7}{row['min_ess_bulk']:>9}{row['ess_per_s']:>8}"
            f"{row['ratio_to_numba']!s:>7}{row['share_clean']:>7}{row['steps_per_draw']:>7}"
            f"{row['us_per_gradient']:>9}{row['ess_per_cpu_s']:>10}{row['cpu_us_per_gradient']:>12}"
        )
    for name, us in result["us_per_gradient_alone"].items():
        print(f"{name}: {us} us per log density + gradient")
    result["load_1min"] = load
    result["machine"] = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "versions": {
            n: metadata.version(n) for n in ("jax", "jaxlib", "blackjax", "nutpie", "pymc")
        },
    }
    result["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
