"""Benchmark: ``simulate`` of a geo panel, national and 20 / 80 / 320 geos x 104 weeks x 3 channels.

The world is the shipped scenario ``geo-national`` (104 weekly periods, channels tv, search
and social), its heterogeneous cell: geos of unequal size (``size_decay`` 0.8) whose
effects, saturation points and carry-over are spread around the national values (spread
beta 0.3, saturation 0.5, adstock 0.3), spend split unevenly (split noise 0.5) and towards
the geos where demand is high (confounding 1). Only ``data.geo.count`` changes between
sizes; "national" is the same cell without ``[data.geo]``.

Per size, in this one process: ``generate`` is timed on replicates ``0 .. repeats - 1``
(each with its replicate RNG, ``replicate_rng(seed, data_id, i)``, as a run draws them) and
the median seconds reported; then replicate 0 is generated once more under ``tracemalloc``
for the peak traced memory of ``generate`` (Python and NumPy allocations; what
``tracemalloc`` sees, not the process's RSS). A small panel is generated first, untimed, so
the lazy imports are not in the first size's time. The 1-minute load average is recorded
before and after, since the seconds depend on it.

Usage: ``python bench/bench_geo_simulate.py [--geos 0,20,80,320] [--repeats 5]`` (0 is
national); writes ``bench/results/geo-simulate-<UTC time>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from mmm_workbench.scenarios import DataSpec, read_scenario, replicate_rng, spec_hash
from mmm_workbench.simulate import generate

SCENARIO = "geo-national"
GEOS = (0, 20, 80, 320)
REPEATS = 5


def heterogeneous() -> tuple[int, DataSpec]:
    """Return the scenario's seed and the data spec of its heterogeneous cell."""
    source = read_scenario(SCENARIO)
    for cell in source.cells:
        geo = cell.scenario.data.geo
        if geo is not None and geo.spread.beta > 0 and geo.confounding > 0:
            return source.scenario.seed, cell.scenario.data
    raise SystemExit(f"{SCENARIO}: no heterogeneous cell")


def sized(data: DataSpec, geos: int) -> DataSpec:
    """The spec with ``geos`` geos, or without ``[data.geo]`` for 0 (national)."""
    assert data.geo is not None
    if geos == 0:
        return dataclasses.replace(data, geo=None)
    return dataclasses.replace(data, geo=dataclasses.replace(data.geo, count=geos))


def measure(seed: int, data: DataSpec, repeats: int) -> dict[str, Any]:
    """Time ``generate`` on ``repeats`` replicates, then trace one for its peak memory."""
    data_id = spec_hash(data)
    seconds = []
    for i in range(repeats):
        rng = replicate_rng(seed, data_id, i)
        t0 = time.perf_counter()
        tree = generate(data, rng)
        seconds.append(time.perf_counter() - t0)
        assert np.all(np.isfinite(tree["truth"]["roas"].to_numpy()))
        del tree
    rng = replicate_rng(seed, data_id, 0)
    tracemalloc.start()
    try:
        tree = generate(data, rng)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del tree
    return {
        "geos": data.geo.count if data.geo is not None else 0,
        "periods": data.periods,
        "channels": len(data.channels),
        "data_id": data_id,
        "seconds": [round(s, 4) for s in seconds],
        "median_s": round(statistics.median(seconds), 3),
        "peak_traced_mib": round(peak / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--geos", default=",".join(map(str, GEOS)), help="0 is national")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="replicates timed per size")
    args = parser.parse_args()
    sizes = [int(g) for g in args.geos.split(",")]
    seed, data = heterogeneous()
    generate(sized(data, 2), replicate_rng(seed, spec_hash(sized(data, 2)), 0))  # warm-up
    load_before = os.getloadavg()[0]
    rows = [measure(seed, sized(data, g), args.repeats) for g in sizes]
    load_after = os.getloadavg()[0]
    print(
        f"Performance of the simulation (`python bench/bench_geo_simulate.py`, heterogeneous "
        f"cell, median of {args.repeats}, load {load_before:.2f} -> {load_after:.2f}):\n"
    )
    print(
        f"| geos x {data.periods} weeks x {len(data.channels)} channels "
        "| seconds per replicate | peak traced memory |"
    )
    print("|---|---|---|")
    for r in rows:
        label = "national (no geo)" if r["geos"] == 0 else str(r["geos"])
        print(f"| {label} | {r['median_s']:.3f} | {r['peak_traced_mib']:.1f} MiB |")
    result = {
        "benchmark": "geo simulate",
        "scenario": SCENARIO,
        "cell": "heterogeneous",
        "repeats": args.repeats,
        "sizes": rows,
        "load_1min": {"before": load_before, "after": load_after},
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
        },
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"geo-simulate-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
