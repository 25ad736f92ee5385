"""Benchmark: ``simulate`` at scale, 20,000 daily periods x 50 channels.

Each size is generated in a fresh subprocess, which reports its peak resident memory
(``resource.getrusage``: ``ru_maxrss``, the whole process), the same after imports
only (so the difference is what ``generate`` itself needed) and the wall time of
``generate``. Sizes vary periods at 50 channels and channels at 20,000 periods, so the
printed MiB per million channel-periods shows whether memory is linear in channels x
periods. Target (issue 10): 20,000 x 50 within 4 GB.

Usage: ``python bench/bench_simulate_scale.py [--sizes 20000x50,5000x50]``; writes
``bench/results/simulate-scale-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

SIZES = ((5000, 50), (10000, 50), (20000, 10), (20000, 25), (20000, 50))
TARGET_MIB = 4096.0


def scenario(periods: int, channels: int) -> dict[str, Any]:
    """A daily scenario with ``channels`` channels (geometric and delayed adstock, logistic
    and Hill saturation in turn), every response multiplier and two lift tests."""
    kinds = (
        ({"kind": "geometric", "alpha": 0.6, "l_max": 14}, {"kind": "logistic", "lam": 1.5}),
        (
            {"kind": "delayed", "alpha": 0.5, "theta": 2.0, "l_max": 10},
            {"kind": "hill", "slope": 1.5, "kappa": 0.5},
        ),
    )
    chans = [
        {
            "name": f"ch{c}",
            "spend": {"demand_share": 1.0 + c % 7, "noise_sd": 0.3},
            "adstock": kinds[c % 2][0],
            "saturation": kinds[c % 2][1],
            "beta": 20.0,
        }
        for c in range(channels)
    ]
    return {
        "name": "scale",
        "seed": 1,
        "data": {
            "periods": periods,
            "train_periods": periods - periods // 10,
            "freq": "D",
            "start": "1970-01-01",
            "intercept": 500.0,
            "demand": {"scale": 100.0, "noise_sd": 0.05, "rho": 0.5},
            "noise": {"kind": "normal", "sd": 5.0},
            "channels": chans,
            "lift_tests": [
                {"channel": "ch0", "start": 100, "periods": 28, "spend_change": -0.5, "sigma": 5},
                {
                    "channel": "ch1",
                    "start": periods - 20,
                    "periods": 20,
                    "spend_change": 0.5,
                    "sigma_rel": 0.1,
                },
            ],
        },
    }


def child(periods: int, channels: int) -> None:
    """Generate one dataset of the given size and print its measurements as JSON."""
    import resource
    import time

    import numpy as np

    from mmm_workbench.scenarios import parse_scenario
    from mmm_workbench.simulate import generate

    spec = parse_scenario(scenario(periods, channels)).data
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    tree = generate(spec, np.random.default_rng(0))
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert np.all(np.isfinite(tree["truth"]["roas"].to_numpy()))
    result = {
        "periods": periods,
        "channels": channels,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak, 1),
        "rss_after_imports_mib": round(before, 1),
        "generate_mib": round(peak - before, 1),
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default=",".join(f"{t}x{c}" for t, c in SIZES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        periods, channels = map(int, args.child.split("x"))
        child(periods, channels)
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    rows = []
    for size in args.sizes.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--child", size],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"{'periods':>8}{'channels':>10}{'seconds':>9}{'peak RSS MiB':>14}"
        f"{'generate MiB':>14}{'MiB / 1e6 ch-periods':>22}"
    )
    for r in rows:
        per = r["generate_mib"] / (r["periods"] * r["channels"] / 1e6)
        print(
            f"{r['periods']:>8}{r['channels']:>10}{r['seconds']:>9.1f}"
            f"{r['peak_rss_mib']:>14.0f}{r['generate_mib']:>14.0f}{per:>22.1f}"
        )
    big = [r for r in rows if (r["periods"], r["channels"]) == (20000, 50)]
    if big:
        ok = big[0]["peak_rss_mib"] < TARGET_MIB
        print(
            f"20,000 x 50: peak {big[0]['peak_rss_mib']:.0f} MiB, {big[0]['seconds']:.1f} s "
            f"(target < {TARGET_MIB:.0f} MiB: {'met' if ok else 'NOT met'})"
        )
    result = {
        "benchmark": "simulate at scale",
        "sizes": rows,
        "target_peak_rss_mib": TARGET_MIB,
        "machine": {"python": platform.python_version(), "processor": platform.processor()},
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"simulate-scale-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
