"""National against geo: bias and 90% interval width of national ROAS and shares, per cell.

Reads a run directory of ``scenarios/geo-vs-national.toml`` (or any run whose cells fit the
same panel at different levels) and prints, per cell and channel, over its replicates: the
mean relative bias of the posterior mean of national ROAS and of the contribution share
against the national truth (with its Monte Carlo standard error), the mean width of the
central 90% interval relative to the truth, how many intervals cover the truth, and the
sampler's seconds per fit and divergences.

Usage: ``python bench/geo_vs_national.py RUN_DIR`` after ``mmm-workbench run
geo-vs-national --out RUN_DIR`` (resumable: rerun the same command to continue).

Performance (issue 16): ``python bench/geo_vs_national.py --perf [--geos 20] [--level
national|geo|pymc-marketing]`` builds geo-vs-national's heterogeneous world with ``--geos``
geos (x 104 weeks x 3 channels), one cell per model level, and for each, in a fresh
process of its own (so each peak RSS is its own): the cell's build and compile seconds
(once per cell), the sampling seconds of one fit (the scenario's NUTS settings, or
``--draws``/``--tune``), the process's CPU seconds and its peak RSS. ``pymc-marketing``
is pymc-marketing's MMM with ``dims = ("geo",)`` on the same panel. Run it through the
sampling pool, one level per command (each under 10 minutes).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mmm_workbench.recover.store import RunStore

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "geo-vs-national.toml"
LEVELS = ("national", "geo", "pymc-marketing")
HETEROGENEOUS = '"data.geo.spread" = [{ beta = 0.3, saturation = 0.5, adstock = 0.3 }]'

ESTIMANDS = ("roas", "contribution_share")


def summarize(run: Path) -> list[dict[str, object]]:
    """Return one row per cell, estimand and channel of the run's records."""
    store = RunStore(run)
    rows: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    labels: dict[str, str] = {}
    fits: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for cell, replicate, _ in sorted(store.records()):
        record = store.read_record(cell, replicate)
        labels[cell] = str(record.attrs["cell_label"])
        timings = json.loads(record.attrs["timings"])
        diagnostics = json.loads(record.attrs["diagnostics"])
        sampled = float(timings.get("tune_s", 0.0)) + float(timings.get("draw_s", 0.0))
        fits[cell].append(
            (
                sampled,
                float(diagnostics.get("divergences", np.nan)),
                float(diagnostics.get("max_rhat", np.nan)),
                float(diagnostics.get("min_ess_bulk", np.nan)),
            )
        )
        post, truth = record["posterior"], record["truth"]
        for name in ESTIMANDS:
            draws = post[name].transpose("sample", "channel").to_numpy()
            true = truth[name].to_numpy()
            low, high = np.quantile(draws, [0.05, 0.95], axis=0)
            for c, channel in enumerate(post["channel"].to_numpy()):
                row = rows[(cell, name, str(channel))]
                row["bias"].append(float(draws[:, c].mean() / true[c] - 1.0))
                row["width"].append(float((high[c] - low[c]) / true[c]))
                row["covered"].append(float(low[c] <= true[c] <= high[c]))
    out: list[dict[str, object]] = []
    for (cell, name, channel), row in rows.items():
        bias = np.asarray(row["bias"])
        seconds = np.asarray([f[0] for f in fits[cell]])
        out.append(
            {
                "cell": labels[cell],
                "estimand": name,
                "channel": channel,
                "replicates": len(bias),
                "bias": float(bias.mean()),
                "bias_se": float(bias.std(ddof=1) / np.sqrt(len(bias))) if len(bias) > 1 else 0.0,
                "width": float(np.mean(row["width"])),
                "covered": int(sum(row["covered"])),
                "seconds_per_fit": float(seconds.mean()),
                "divergences": float(np.sum([f[1] for f in fits[cell]])),
                "max_rhat": float(np.max([f[2] for f in fits[cell]])),
                "min_ess_bulk": float(np.min([f[3] for f in fits[cell]])),
            }
        )
    return out


def perf_scenario(geos: int, level: str, draws: int | None, tune: int | None) -> str:
    """Return geo-vs-national's text for one level of its heterogeneous world, ``geos`` geos."""
    text = SCENARIO.read_text().replace("count = 10", f"count = {geos}")
    text = text.replace("replicates = 4", "replicates = 1")
    head, _ = text.split("[grid]")
    if level == "pymc-marketing":
        head = head.replace('kind = "workbench"', 'kind = "pymc-marketing"')
    for key, value in (("draws", draws), ("tune", tune)):
        if value:
            head = head.replace(f"\n{key} = 500\n", f"\n{key} = {value}\n")
    level_key = "national" if level == "national" else "geo"
    return head + f'[grid]\n{HETEROGENEOUS}\n"model.geo.level" = ["{level_key}"]\n'


def perf_one(geos: int, level: str, draws: int | None, tune: int | None) -> dict[str, float]:
    """Build, compile and fit one level's cell in this process; its seconds and peak RSS."""
    from mmm_workbench.recover.fitting import CellFitter
    from mmm_workbench.scenarios import scenario_from_text

    (cell,) = scenario_from_text(perf_scenario(geos, level, draws, tune)).cells
    cpu0, wall0 = time.process_time(), time.perf_counter()
    fitter = CellFitter(cell)
    record = fitter.fit(0)
    timings = json.loads(record.attrs["timings"])
    diagnostics = json.loads(record.attrs["diagnostics"])
    return {
        "compile_s": float(fitter.compile_s),
        "sampling_s": float(timings.get("tune_s", 0.0)) + float(timings.get("draw_s", 0.0)),
        "post_s": float(timings.get("post_s", 0.0)),
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": time.process_time() - cpu0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "divergences": float(diagnostics.get("divergences", np.nan)),
        "max_rhat": float(diagnostics.get("max_rhat", np.nan)),
        "min_ess_bulk": float(diagnostics.get("min_ess_bulk", np.nan)),
    }


def perf(geos: int, levels: list[str], draws: int | None, tune: int | None) -> None:
    """Print one row per level, each measured in a fresh process (its own peak RSS)."""
    print(
        f"| model ({geos} geos x 104 weeks x 3 channels) | compile s | sampling s "
        "| wall s | CPU s | peak RSS MiB | divergences | max R-hat | min bulk ESS |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for level in levels:
        extra = [f"--draws={draws}"] * bool(draws) + [f"--tune={tune}"] * bool(tune)
        cmd = [sys.executable, __file__, "--perf-one", level, f"--geos={geos}", *extra]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"| {level} | {r['compile_s']:.0f} | {r['sampling_s']:.0f} | {r['wall_s']:.0f} "
            f"| {r['cpu_s']:.0f} | {r['peak_rss_mib']:.0f} | {r['divergences']:.0f} "
            f"| {r['max_rhat']:.3f} | {r['min_ess_bulk']:.0f} |",
            flush=True,
        )


def main() -> None:
    """Print the table (Markdown) and the rows as JSON, or the performance table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?")
    parser.add_argument("--perf", action="store_true", help="measure the fits, not a run")
    parser.add_argument("--perf-one", choices=LEVELS, help=argparse.SUPPRESS)
    parser.add_argument("--level", choices=LEVELS, action="append", help="default: all")
    parser.add_argument("--geos", type=int, default=20)
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--tune", type=int, default=None)
    args = parser.parse_args()
    if args.perf_one:
        print(json.dumps(perf_one(args.geos, args.perf_one, args.draws, args.tune)))
        return
    if args.perf:
        perf(args.geos, args.level or list(LEVELS), args.draws, args.tune)
        return
    if args.run is None:
        parser.error("RUN_DIR is required (or --perf)")
    rows = summarize(args.run)
    print("| cell | estimand | channel | bias (MC se) | 90% width / truth | covering |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['cell']} | {r['estimand']} | {r['channel']} | {r['bias']:+.1%} "
            f"({r['bias_se']:.1%}) | {r['width']:.1%} | {r['covered']} of {r['replicates']} |"
        )
    cells = {str(r["cell"]): r for r in rows}
    for cell, r in cells.items():
        print(
            f"{cell}: {r['replicates']} fits, {r['seconds_per_fit']:.0f} s sampling per fit, "
            f"{r['divergences']:.0f} divergences in all, max R-hat {r['max_rhat']:.3f}, "
            f"min bulk ESS {r['min_ess_bulk']:.0f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
