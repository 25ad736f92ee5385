"""Benchmark: ``[fit]`` variants (tuning length, ``min_ess``) on the same replicates of one cell.

The cell's model is built and compiled once (``CellFitter``, the runner's path); every
replicate is then fitted once per variant, variants interleaved per replicate, so a load
that changes during the study weighs on every variant alike. Each fit appends one JSON
line to ``OUT`` (its diagnostics: divergences, R-hat, bulk and tail ESS, draws kept,
``leapfrog_steps``, ``ess_stop``; its timings: ``sample_cpu_s``, the process's CPU seconds
while sampling, comparable on a loaded machine where wall seconds are not; and the load);
a rerun skips the fits already in ``OUT``, so a long study runs in chunks.

Usage: ``python bench/bench_tuning.py SOURCE OUT FIRST N VARIANT...`` where ``SOURCE`` is
a scenario (file or shipped name) or ``family:NAME`` (a world of
``bench/bench_families.py``), ``VARIANT`` is ``tune:min_ess`` (the scenario's other
``[fit]`` settings kept), and ``--summarize OUT`` prints one row per source and variant.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import statistics
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from mmm_workbench.recover.fitting import CellFitter
from mmm_workbench.scenarios import expand_grid, parse_scenario
from mmm_workbench.scenarios.load import find_scenario, load_scenario
from mmm_workbench.scenarios.spec import Scenario


def _scenario(source: str) -> Scenario:
    if source.startswith("family:"):
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_families import world

        return parse_scenario(tomllib.loads(world(source.split(":", 1)[1])))
    return load_scenario(find_scenario(source))


def study(source: str, out: Path, first: int, count: int, variants: list[tuple[int, int]]) -> None:
    """Fit replicates ``first .. first + count - 1`` once per ``(tune, min_ess)`` variant."""
    cell = expand_grid(_scenario(source))[0]
    fitter = CellFitter(cell)
    base = fitter.model.fit  # type: ignore[attr-defined]
    done = set()
    if out.exists():
        for text in out.read_text().splitlines():
            seen = json.loads(text)
            done.add((seen["src"], seen["replicate"], seen["tune"], seen["min_ess"]))
    for replicate in range(first, first + count):
        for tune, min_ess in variants:
            if (source, replicate, tune, min_ess) in done:
                continue
            fit = dataclasses.replace(base, tune=tune, min_ess=min_ess)
            fitter.model.fit = fit  # type: ignore[attr-defined]
            cpu, wall = time.process_time(), time.perf_counter()
            record = fitter.fit(replicate)
            line: dict[str, Any] = {
                "src": source,
                "replicate": replicate,
                "tune": tune,
                "min_ess": min_ess,
                "fit": repr(fit),
                "cpu_all": time.process_time() - cpu,
                "wall_all": time.perf_counter() - wall,
                "load": os.getloadavg()[0],
                **json.loads(record.attrs["diagnostics"]),
                **json.loads(record.attrs["timings"]),
            }
            with out.open("a") as sink:
                sink.write(json.dumps(line) + "\n")
            print(
                f"{replicate} tune {tune} min_ess {min_ess}: {line['sample_cpu_s']:.2f} CPU s, "
                f"min ESS {line['min_ess_bulk']:.0f}, {line['draws']:.0f} draws, "
                f"{line.get('divergences', 0):.0f} divergences, R-hat {line['max_rhat']:.4f}",
                flush=True,
            )


def summarize(out: Path) -> list[dict[str, Any]]:
    """Return one row per (source, tune, min_ess) of ``out``'s fits."""
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = collections.defaultdict(list)
    for text in out.read_text().splitlines():
        line = json.loads(text)
        groups[(line["src"], line["tune"], line["min_ess"])].append(line)
    rows = []
    for (source, tune, min_ess), fits in sorted(groups.items()):
        rows.append(
            {
                "src": source,
                "tune": tune,
                "min_ess": min_ess,
                "fits": len(fits),
                "clean": sum(f.get("divergences", 0) == 0 and f["max_rhat"] < 1.01 for f in fits),
                "divergences_median": statistics.median(f.get("divergences", 0) for f in fits),
                "max_rhat": round(max(f["max_rhat"] for f in fits), 4),
                "min_ess_bulk": round(min(f["min_ess_bulk"] for f in fits)),
                "mean_min_ess_bulk": round(statistics.mean(f["min_ess_bulk"] for f in fits)),
                "min_ess_tail": round(min(f["min_ess_tail"] for f in fits)),
                "draws": round(statistics.mean(f["draws"] for f in fits)),
                "leapfrog_steps": round(statistics.mean(f["leapfrog_steps"] for f in fits)),
                "sample_cpu_s": round(statistics.mean(f["sample_cpu_s"] for f in fits), 2),
                "load": round(statistics.mean(f["load"] for f in fits), 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--summarize", type=Path, default=None, help="print OUT's table")
    parser.add_argument("args", nargs="*", help="SOURCE OUT FIRST N VARIANT...")
    args = parser.parse_args()
    if args.summarize is not None:
        for row in summarize(args.summarize):
            print(json.dumps(row))
        return
    if len(args.args) < 5:
        parser.error("need SOURCE OUT FIRST N and at least one VARIANT (tune:min_ess)")
    source, out, first, count, *variants = args.args
    try:
        pairs = [(int(t), int(e)) for t, e in (v.split(":") for v in variants)]
    except ValueError:
        parser.error(f"VARIANT: expected tune:min_ess (two integers), got {variants}")
    study(source, Path(out), int(first), int(count), pairs)


if __name__ == "__main__":
    main()
