"""Benchmark: fitting ``confounded-demand`` with each MCMC backend, and grid throughput.

Part 1 (backend choice): the same replicates fitted by ``pymc`` (PyMC's NUTS, the
baseline, measured in this run) and ``nutpie``, with the scenario's own settings
(4 chains x 1000 draws after 1000 tuning steps, target_accept 0.9). Reported per backend:
compile (once per cell), tune and draw seconds per fit, min bulk ESS over the free
parameters, and min-ESS per second of fit wall time with the compile amortized over the
replicates, with the ratio to the baseline.

Part 2 (executor choice): N replicates with nutpie, (a) one worker sampling its 4 chains
in parallel threads, (b) two worker processes each sampling chains in sequence
(``options.cores = 1``); fits per hour, compile included.

Usage: ``python bench/bench_fit.py [--replicates N] [--pymc-replicates N] [--throughput N]``;
writes ``bench/results/fit-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from recover.runner import run_grid
from recover.store import RunStore

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "confounded-demand.toml"


def _fit_stats(out: Path) -> dict[str, Any]:
    store = RunStore(out)
    rows = []
    for cell, rep, _ in store.records():
        attrs = store.read_record(cell, rep).attrs
        rows.append({**json.loads(attrs["timings"]), **json.loads(attrs["diagnostics"])})
    compile_s = sum(r["compile_s"] for r in rows)
    fit_s = [r["tune_s"] + r["draw_s"] + r["post_s"] for r in rows]
    ess = [r["min_ess_bulk"] for r in rows]
    amortized = (sum(fit_s) + compile_s) / len(rows)
    return {
        "fits": len(rows),
        "compile_s": round(compile_s, 2),
        "tune_s": round(statistics.mean(r["tune_s"] for r in rows), 2),
        "draw_s": round(statistics.mean(r["draw_s"] for r in rows), 2),
        "fit_s": round(statistics.mean(fit_s), 2),
        "min_ess_bulk": round(statistics.mean(ess), 1),
        "ess_per_s": round(statistics.mean(ess) / amortized, 2),
        "divergences": sum(int(r.get("divergences", 0)) for r in rows),
        "max_rhat": round(max(r["max_rhat"] for r in rows), 4),
    }


def _scenario(backend: str, cores: int | None = None) -> str:
    text = SCENARIO.read_text().replace('backend = "nutpie"', f'backend = "{backend}"')
    if cores is not None:
        text += f"options = {{ cores = {cores} }}\n"
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=4)
    parser.add_argument("--pymc-replicates", type=int, default=2)
    parser.add_argument("--throughput", type=int, default=8)
    args = parser.parse_args()
    result: dict[str, Any] = {"scenario": "confounded-demand", "backends": {}, "throughput": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for backend, reps in (("pymc", args.pymc_replicates), ("nutpie", args.replicates)):
            out = Path(tmp) / backend
            run_grid(_scenario(backend), out, replicates=reps)
            result["backends"][backend] = _fit_stats(out)
        for label, workers, cores in (
            ("1 worker, parallel chains", 1, None),
            ("2 workers, chains in sequence", 2, 1),
        ):
            out = Path(tmp) / f"throughput-{workers}"
            t0 = time.perf_counter()
            summary = run_grid(
                _scenario("nutpie", cores), out, replicates=args.throughput, workers=workers
            )
            wall = time.perf_counter() - t0
            result["throughput"][label] = {
                "fits": summary.done,
                "wall_s": round(wall, 1),
                "fits_per_hour": round(3600 * summary.done / wall, 1),
            }
    base = result["backends"]["pymc"]["ess_per_s"]
    print(
        f"{'backend':<10}{'compile s':>10}{'tune s':>8}{'draw s':>8}{'min ESS':>9}"
        f"{'ESS/s':>8}{'ratio':>7}"
    )
    for name, row in result["backends"].items():
        row["ratio_to_pymc"] = round(row["ess_per_s"] / base, 2) if base else None
        print(
            f"{name:<10}{row['compile_s']:>10}{row['tune_s']:>8}{row['draw_s']:>8}"
            f"{row['min_ess_bulk']:>9}{row['ess_per_s']:>8}{row['ratio_to_pymc']:>7}"
        )
    for label, row in result["throughput"].items():
        print(
            f"{label:<32} {row['fits']} fits in {row['wall_s']} s: {row['fits_per_hour']} fits/hour"
        )
    result["machine"] = {"python": platform.python_version(), "cores": 2}
    result["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"fit-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
