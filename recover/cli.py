"""The ``mmm-workbench`` command line. The CLI owns the terminal (rich); library code logs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from scenarios import ScenarioError, load_scenario, replicate_rng, spec_hash
from simulate import generate, write_dataset
from simulate.transforms import TransformError

__all__ = ["main"]


def _simulate(args: argparse.Namespace, console: Console) -> int:
    scenario = load_scenario(args.scenario)
    if args.replicate < 0:
        raise ScenarioError(f"--replicate = {args.replicate}: must be >= 0")
    cell = spec_hash(scenario.data)
    tree = generate(scenario.data, replicate_rng(scenario.seed, cell, args.replicate))
    paths = write_dataset(tree, args.out)

    obs, truth = tree["observed"], tree["truth"]
    train = slice(0, scenario.data.train_periods)
    table = Table(title=f"{scenario.name}  (cell {cell}, replicate {args.replicate})")
    for col in ("channel", "spend (train)", "true share", "ROAS", "mROAS"):
        table.add_column(col, justify="left" if col == "channel" else "right")
    for ch in scenario.data.channel_names:
        spend = float(obs["spend"].sel(channel=ch).isel(date=train).sum())
        table.add_row(
            ch,
            f"{spend:,.0f}",
            f"{float(truth['contribution_share'].sel(channel=ch)):.3f}",
            f"{float(truth['roas'].sel(channel=ch)):.4g}",
            f"{float(truth['mroas'].sel(channel=ch)):.4g}",
        )
    console.print(table)
    periods, ntrain = scenario.data.periods, scenario.data.train_periods
    target = np.asarray(obs[scenario.data.target])
    console.print(
        f"{periods} periods ({scenario.data.freq}), {ntrain} for training; "
        f"{scenario.data.target}: mean {target.mean():,.1f}; "
        f"{tree['observed'].sizes.get('experiment', 0)} lift test(s)"
    )
    for kind, path in paths.items():
        console.print(f"  wrote {kind:<10} {path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmm-workbench",
        description="Simulate MMM data with known truth, fit models to it, score recovery.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="generate one dataset of a scenario, with its truth")
    sim.add_argument("scenario", help="scenario TOML file, or the name of a shipped scenario")
    sim.add_argument("--out", required=True, type=Path, help="output directory")
    sim.add_argument("--replicate", type=int, default=0, help="replicate number (default 0)")
    sim.set_defaults(func=_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mmm-workbench``; returns the exit status (2 for bad input)."""
    args = _parser().parse_args(argv)
    console = Console()
    try:
        status: int = args.func(args, console)
    except (ScenarioError, TransformError, ValueError) as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
