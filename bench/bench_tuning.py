"""Benchmark: ``[fit]`` variants (tuning, ``min_ess``, sampler settings) on the same replicates.

The cell's model is built and compiled once (``CellFitter``, the runner's path); every
replicate is then fitted once per variant, variants interleaved per replicate, so a load
that changes during the study weighs on every variant alike. Each fit appends one JSON
line to ``OUT`` (its diagnostics: divergences, R-hat, bulk and tail ESS, draws kept,
``leapfrog_steps``, ``ess_stop``; its timings: ``sample_cpu_s``, the process's CPU seconds
while sampling, comparable on a loaded machine where wall seconds are not; and the load);
a rerun skips the fits already in ``OUT``, so a long study runs in chunks.

Usage: ``python bench/bench_tuning.py SOURCE OUT FIRST N VARIANT...`` where ``SOURCE`` is
a scenario (file or shipped name) or ``family:NAME`` (a world of
``bench/bench_families.py``), ``VARIANT`` is ``tune:min_ess`` optionally followed by
``,name=value`` pairs (``300:0,target_accept=0.9,adaptation=diag,draws=500``): a name of
``[fit]`` (``draws``, ``chains``, ``target_accept``, ``keep_draws``) replaces that setting,
any other name is a ``fit.options`` entry (``adaptation``, ``cores``; ``options=none``
drops the scenario's options); the scenario's other ``[fit]`` settings are kept.
``--summarize OUT`` prints one row per source, geometry and variant. The model's geometry
is the process's (``MMM_WORKBENCH_GEOMETRY``), recorded with every fit.
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
from mmm_workbench.recover.models import workbench
from mmm_workbench.scenarios import expand_grid, parse_scenario
from mmm_workbench.scenarios.load import find_scenario, load_scenario
from mmm_workbench.scenarios.spec import FitSpec, Scenario


def _scenario(source: str) -> Scenario:
    if source.startswith("family:"):
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_families import world

        return parse_scenario(tomllib.loads(world(source.split(":", 1)[1])))
    return load_scenario(find_scenario(source))


_FIELDS = {"draws": int, "chains": int, "target_accept": float, "keep_draws": int}


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def variant_fit(base: FitSpec, variant: str) -> FitSpec:
    """Return ``base`` with a ``tune:min_ess[,name=value...]`` variant's settings.

    Raises
    ------
    ValueError
        A variant that is not of that form.
    """
    head, *pairs = variant.split(",")
    tune, min_ess = (int(v) for v in head.split(":"))
    fields: dict[str, Any] = {"tune": tune, "min_ess": min_ess}
    options = dict(base.options)
    for pair in pairs:
        name, text = pair.split("=", 1)
        if name in _FIELDS:
            fields[name] = _FIELDS[name](text)
        elif name == "options" and text == "none":
            options = {}
        else:
            options[name] = _value(text)
    return dataclasses.replace(base, options=options, **fields)


def _variant(line: dict[str, Any]) -> str:
    return str(line.get("variant", f"{line['tune']}:{line['min_ess']}"))


def study(source: str, out: Path, first: int, count: int, variants: list[str]) -> None:
    """Fit replicates ``first .. first + count - 1`` once per variant (:func:`variant_fit`)."""
    cell = expand_grid(_scenario(source))[0]
    base = cell.scenario.fit
    fits = {v: variant_fit(base, v) for v in variants}  # bad variants fail before compiling
    geometry = workbench.GEOMETRY
    done = set()
    if out.exists():
        for text in out.read_text().splitlines():
            seen = json.loads(text)
            done.add(
                (seen["src"], seen.get("geometry", "level"), seen["replicate"], _variant(seen))
            )
    fitter = CellFitter(cell)
    for replicate in range(first, first + count):
        for variant, fit in fits.items():
            if (source, geometry, replicate, variant) in done:
                continue
            tune, min_ess = fit.tune, fit.min_ess
            fitter.model.fit = fit  # type: ignore[attr-defined]
            cpu, wall = time.process_time(), time.perf_counter()
            record = fitter.fit(replicate)
            line: dict[str, Any] = {
                "src": source,
                "geometry": geometry,
                "variant": variant,
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
                f"{replicate} {variant}: {line['sample_cpu_s']:.2f} CPU s, "
                f"min ESS {line['min_ess_bulk']:.0f}, {line['draws']:.0f} draws, "
                f"{line.get('divergences', 0):.0f} divergences, R-hat {line['max_rhat']:.4f}",
                flush=True,
            )


def summarize(out: Path) -> list[dict[str, Any]]:
    """Return one row per (source, geometry, variant) of ``out``'s fits."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for text in out.read_text().splitlines():
        line = json.loads(text)
        groups[(line["src"], line.get("geometry", "level"), _variant(line))].append(line)
    rows = []
    for (source, geometry, variant), fits in sorted(groups.items()):
        rows.append(
            {
                "src": source,
                "geometry": geometry,
                "variant": variant,
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
                "sample_wall_s": round(statistics.mean(f["tune_s"] + f["draw_s"] for f in fits), 2),
                "cpu_all_s": round(statistics.mean(f["cpu_all"] for f in fits), 2),
                "wall_all_s": round(statistics.mean(f["wall_all"] for f in fits), 2),
                "min_ess_per_sample_wall_s": round(
                    statistics.mean(f["min_ess_bulk"] for f in fits)
                    / statistics.mean(f["tune_s"] + f["draw_s"] for f in fits),
                    1,
                ),
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
    for variant in variants:
        try:
            variant_fit(FitSpec(), variant)
        except (ValueError, TypeError) as err:
            parser.error(f"VARIANT {variant!r}: expected tune:min_ess[,name=value...] ({err})")
    study(source, Path(out), int(first), int(count), variants)


if __name__ == "__main__":
    main()
