"""The ``mmm-workbench`` command line. The CLI owns the terminal (rich); library code logs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mmm_workbench.scenarios import ScenarioError, expand_grid, load_scenario, replicate_rng
from mmm_workbench.simulate import generate, write_dataset
from mmm_workbench.simulate.transforms import TransformError

__all__ = ["main"]


def _simulate(args: argparse.Namespace, console: Console) -> int:
    scenario = load_scenario(args.scenario)
    if args.replicate < 0:
        raise ScenarioError(f"--replicate = {args.replicate}: must be >= 0")
    cells = expand_grid(scenario)
    if not 0 <= args.cell < len(cells):
        raise ScenarioError(f"--cell = {args.cell}: the grid has cells 0..{len(cells) - 1}")
    chosen = cells[args.cell]
    cell, scenario = chosen.cell_id, chosen.scenario
    tree = generate(scenario.data, replicate_rng(scenario.seed, chosen.data_id, args.replicate))
    paths = write_dataset(tree, args.out)

    obs, truth = tree["observed"], tree["truth"]
    train = slice(0, scenario.data.train_periods)
    table = Table(
        title=f"{scenario.name}  (cell {cell}: {chosen.label}; replicate {args.replicate})"
    )
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


def _run(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from mmm_workbench.recover.runner import run_grid
    from mmm_workbench.recover.store import RunStore

    path = Path(args.scenario)
    if not path.exists():
        shipped = Path(__file__).resolve().parents[1] / "scenarios" / f"{args.scenario}.toml"
        path = shipped if shipped.exists() else path
    if not path.exists():
        raise ScenarioError(f"{args.scenario}: no such scenario file or shipped scenario")
    text = path.read_text()
    scenario = load_scenario(path)
    out = args.out or Path("runs") / scenario.name
    counts = {"done": 0, "failed": 0}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "done {task.fields[done]}  failed {task.fields[failed]}  running {task.fields[running]}"
        ),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(scenario.name, total=None, done=0, failed=0, running=0)

        def on_result(result: dict[str, object], total: int) -> None:
            counts["done" if result["status"] == "done" else "failed"] += 1
            finished = counts["done"] + counts["failed"]
            running = min(args.workers if not args.dask else total, total - finished)
            progress.update(
                bar,
                total=total,
                completed=finished,
                running=running,
                done=counts["done"],
                failed=counts["failed"],
            )
            if result["status"] == "failed":
                progress.console.print(
                    f"[red]failed[/] cell {result['cell_id']} replicate {result['replicate']}: "
                    f"{result.get('error')}",
                    highlight=False,
                )

        summary = run_grid(
            text,
            out,
            workers=args.workers,
            dask=args.dask,
            replicates=args.replicates,
            only=args.only or (),
            retry_failed=args.retry_failed,
            fit_timeout=args.fit_timeout,
            on_result=on_result,
        )
    store = RunStore(out)
    table = Table(title=f"{scenario.name}: {out}")
    table.add_column("cell", no_wrap=True)
    table.add_column("grid", overflow="fold")
    for col in ("fits", "failed", "median s", "max R-hat", "div."):
        table.add_column(col, justify="right", no_wrap=True)
    manifest = store.manifest()
    for cell_id, info in manifest["cells"].items():
        rows = [r for r in summary.results if r["cell_id"] == cell_id and r["status"] == "done"]
        on_disk = sum(1 for c, _, _ in store.records() if c == cell_id)
        failed = sum(1 for c, _, _ in store.failures() if c == cell_id)
        seconds = sorted(float(r["seconds"]) for r in rows)
        rhat = max((float(r.get("max_rhat", float("nan"))) for r in rows), default=float("nan"))
        div = sum(int(r.get("divergences", 0)) for r in rows)
        table.add_row(
            cell_id,
            str(info["label"]),
            str(on_disk),
            str(failed),
            f"{seconds[len(seconds) // 2]:.1f}" if seconds else "-",
            f"{rhat:.3f}" if rows else "-",
            str(div) if rows else "-",
        )
    console.print(table)
    console.print(
        f"this run: {summary.done} fitted, {summary.failed} failed, "
        f"{summary.skipped} already on disk"
    )
    if args.report:
        _write_report(out, None, console)
    return 1 if any(True for _ in store.failures()) else 0


def _write_report(run_dir: Path, out: Path | None, console: Console) -> None:
    from mmm_workbench.reports.report import build_report

    paths = build_report(run_dir, out)
    for warning in paths.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(
        f"report: {paths.html}  ({len(paths.figures)} figures; summary {paths.summary}; "
        f"tables {', '.join(p.name for p in paths.tables.values())})"
    )


def _report(args: argparse.Namespace, console: Console) -> int:
    _write_report(args.run_dir, args.out, console)
    return 0


def _check(args: argparse.Namespace, console: Console) -> int:
    from mmm_workbench.reports.gate import check, default_rules_path

    if args.print_rules:
        sys.stdout.write(default_rules_path().read_text())
        return 0
    if args.run_dir is None:
        raise ValueError("check: give a run directory (or --print-rules)")
    result = check(args.run_dir, args.rules, args.baseline)
    for line in result.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if result.passed:
        return 0
    table = Table(title=f"failed: {len(result.failures)} of {result.checked} checks")
    for rule in dict.fromkeys(result.failures["rule"].astype(str)):
        console.print(f"rule {rule}", highlight=False)
    result.failures["rule"] = result.failures["rule"].astype(str).str.split().str[0]
    columns = ["rule", "cell", "estimand", "coords", "metric", "value", "bound", "detail"]
    for col in columns:
        table.add_column(col, overflow="fold")
    for _, row in result.failures.iterrows():
        table.add_row(
            *[f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        )
    console.print(table)
    return 1


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
    sim.add_argument("--cell", type=int, default=0, help="grid cell index (default 0)")
    sim.set_defaults(func=_simulate)

    run = sub.add_parser("run", help="fit the scenario's model over its grid and replicates")
    run.add_argument("scenario", help="scenario TOML file, or the name of a shipped scenario")
    run.add_argument("--out", type=Path, help="run directory (default runs/<scenario name>)")
    run.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    run.add_argument("--dask", help="Dask scheduler address, or local:N for a local cluster")
    run.add_argument("--replicates", type=int, help="replicates per cell (default: scenario's)")
    run.add_argument("--only", action="append", help="run only cells whose id starts with this")
    run.add_argument("--retry-failed", action="store_true", help="re-run failed fits")
    run.add_argument("--fit-timeout", type=float, help="abandon a fit after this many seconds")
    run.add_argument("--report", action="store_true", help="write the report after fitting")
    run.set_defaults(func=_run)

    rep = sub.add_parser("report", help="score a run directory and write its HTML report")
    rep.add_argument("run_dir", type=Path, help="a run directory written by 'run'")
    rep.add_argument("--out", type=Path, help="output directory (default RUN_DIR/report)")
    rep.set_defaults(func=_report)

    chk = sub.add_parser("check", help="pass/fail gate: judge a run against rules (exit 0/1)")
    chk.add_argument("run_dir", type=Path, nargs="?", help="a run directory written by 'run'")
    chk.add_argument("--rules", type=Path, help="rules TOML file (default: the shipped rule set)")
    chk.add_argument(
        "--print-rules", action="store_true", help="print the default rule set, to copy and edit"
    )
    chk.add_argument("--baseline", type=Path, help="a summary.json to compare against")
    chk.set_defaults(func=_check)
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
