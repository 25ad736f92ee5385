"""Benchmark: 1,000 replicate datasets of ``confounded-demand`` on one core.

Baseline, measured in the same run: the article's bare data-generating process in plain
numpy (demand, proxy, spend, adstock, saturation, sales: no counterfactuals, no truth,
no DataTree). The subject: ``mmm_workbench.simulate.generate``, which also re-simulates the world
for every counterfactual estimand (channel removal, +1% spend, 21-point response curves,
lift tests), converts the truth to pymc-marketing's units and builds the DataTree.
Target: under 5 s for the subject.

Usage: ``python bench/bench_generate.py [--replicates N]``; writes
``bench/results/generate-<UTC time>.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path

import numpy as np

from mmm_workbench.scenarios import load_scenario, replicate_rng, spec_hash
from mmm_workbench.simulate import generate


def article_dgp(rng: np.random.Generator, n: int = 156) -> np.ndarray:
    """The article's own formulas, written the direct way (the baseline)."""
    trend = (np.linspace(0, 20, n) + 5) ** (1 / 8) - 1
    season = 0.1 * np.sin(2 * np.pi * np.arange(n) / 52)
    demand = (trend * (1 + season) + rng.normal(0, 0.1, n)) * 1000
    proxy = np.abs(demand * rng.normal(1, 0.1, n))
    sales = demand.copy()
    for scalar, alpha, lam, beta in (
        (10, 0.5, 1.5, 350),
        (15, 0.25, 2.5, 150),
        (20, 0.05, 3.5, 50),
    ):
        spend = np.abs(demand * scalar * rng.normal(1, 0.3, n))
        w = alpha ** np.arange(8)
        adstocked = np.convolve(spend / spend.max(), w / w.sum())[:n]
        sales += beta * (1 - np.exp(-lam * adstocked)) / (1 + np.exp(-lam * adstocked))
    return np.stack([sales, proxy])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=1000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    scenario = load_scenario("confounded-demand")
    cell = spec_hash(scenario.data)
    generate(scenario.data, replicate_rng(scenario.seed, cell, 0))  # warm imports and caches

    t0 = time.perf_counter()
    for r in range(args.replicates):
        article_dgp(replicate_rng(scenario.seed, cell, r))
    baseline = time.perf_counter() - t0

    t0 = time.perf_counter()
    for r in range(args.replicates):
        generate(scenario.data, replicate_rng(scenario.seed, cell, r))
    subject = time.perf_counter() - t0

    result = {
        "benchmark": "generate confounded-demand",
        "replicates": args.replicates,
        "baseline_s": round(baseline, 4),
        "generate_s": round(subject, 4),
        "generate_ms_per_dataset": round(1000 * subject / args.replicates, 3),
        "ratio_to_baseline": round(subject / baseline, 2),
        "target_s_per_1000": 5.0,
        "meets_target": subject * 1000 / args.replicates < 5.0,
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor(),
            "cores_used": 1,
            "numpy": np.__version__,
        },
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    print(f"{'':<34}{'seconds':>10}{'ms/dataset':>12}{'ratio':>8}")
    print(
        f"{'baseline (article DGP, bare numpy)':<34}{baseline:>10.3f}"
        f"{1000 * baseline / args.replicates:>12.3f}{1.0:>8.2f}"
    )
    print(
        f"{'generate (full truth, DataTree)':<34}{subject:>10.3f}"
        f"{1000 * subject / args.replicates:>12.3f}{subject / baseline:>8.2f}"
    )
    print(
        f"{args.replicates} datasets: {subject:.2f} s (target < 5 s per 1,000: "
        f"{'met' if result['meets_target'] else 'NOT met'})"
    )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"generate-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
