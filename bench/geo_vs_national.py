"""National against geo: bias and 90% interval width of national ROAS and shares, per cell.

Reads a run directory of ``scenarios/geo-vs-national.toml`` (or any run whose cells fit the
same panel at different levels) and prints, per cell and channel, over its replicates: the
mean relative bias of the posterior mean of national ROAS and of the contribution share
against the national truth (with its Monte Carlo standard error), the mean width of the
central 90% interval relative to the truth, how many intervals cover the truth, and the
sampler's seconds per fit and divergences.

Usage: ``python bench/geo_vs_national.py RUN_DIR`` after ``mmm-workbench run
geo-vs-national --out RUN_DIR`` (resumable: rerun the same command to continue).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from mmm_workbench.recover.store import RunStore

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


def main() -> None:
    """Print the table (Markdown) and the rows as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    args = parser.parse_args()
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
