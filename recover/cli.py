"""The ``mmm-workbench`` command line. The CLI owns the terminal (rich); library code logs."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports.runsummary import FitStats, summarize_cells
from mmm_workbench.scenarios import (
    ScenarioError,
    check_run_name,
    read_scenario,
    replicate_rng,
)
from mmm_workbench.simulate import check_data, generate, write_dataset
from mmm_workbench.simulate.transforms import TransformError

if TYPE_CHECKING:
    from mmm_workbench.recover.runner import FitResult, RunPlan, RunSummary
    from mmm_workbench.reports.verdict import Verdict

__all__ = ["main"]


def _simulate(args: argparse.Namespace, console: Console) -> int:
    cells = read_scenario(args.scenario).cells
    if args.replicate < 0:
        raise ScenarioError(f"--replicate = {args.replicate}: must be >= 0")
    if not 0 <= args.cell < len(cells):
        raise ScenarioError(f"--cell = {args.cell}: the grid has cells 0..{len(cells) - 1}")
    chosen = cells[args.cell]
    cell, scenario = chosen.cell_id, chosen.scenario
    check_data(scenario.data)
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
    geos = obs.sizes.get("geo", 0)  # a panel: the table and the mean are national (sums)
    target = np.asarray(obs[scenario.data.target].sum("geo") if geos else obs[scenario.data.target])
    console.print(
        f"{periods} periods ({scenario.data.freq}), {ntrain} for training; "
        + (f"{geos} geos, national sums; " if geos else "")
        + f"{scenario.data.target}: mean {target.mean():,.1f}; "
        f"{tree['observed'].sizes.get('experiment', 0)} lift test(s)"
    )
    for kind, path in paths.items():
        console.print(f"  wrote {kind:<10} {path}")
    return 0


def _scenarios(args: argparse.Namespace, console: Console) -> int:
    """List the shipped scenarios, show one, or copy one to edit."""
    from mmm_workbench.scenarios.library import library, new_scenario, scenario_text

    if args.action == "show":
        sys.stdout.write(scenario_text(args.name))
        return 0
    if args.action == "new":
        written = new_scenario(args.name, args.source, args.out)
        console.print(
            f"wrote {written} (a copy of {args.source}); run it with: mmm-workbench run {written}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 0
    entries = library()
    width = max(len(e.name) for e in entries)
    for entry in entries:
        line = f"{entry.name:<{width}}  {entry.summary}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        "\nshow one: mmm-workbench scenarios show NAME; copy one to edit: "
        "mmm-workbench scenarios new MYNAME --from NAME",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _default_run_dir(name: str) -> Path:
    """Return ``runs/<name>``, for a name that is one plain directory name.

    The name is checked again here: the scenario's name must never write outside ``runs/``.

    Raises
    ------
    ScenarioError
        A name that would be a path, empty, ``.``/``..``, or hold odd characters.
    """
    return Path("runs") / check_run_name(name)


class _RunProgress:
    """The progress bar and the failed fits, on stderr, while a run lasts."""

    def __init__(self, name: str, workers: int, quiet: bool) -> None:
        self.console = Console(stderr=True)
        self.workers = workers
        self.quiet = quiet
        self.done = 0
        self.failed = 0
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "done {task.fields[done]}  failed {task.fields[failed]}  "
                "running {task.fields[running]}"
            ),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            disable=quiet,
        )
        self.bar = self.progress.add_task(escape(name), total=None, done=0, failed=0, running=0)
        self.total = 0

    def __enter__(self) -> _RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def started(self, total: int, skipped: int) -> None:
        """Show the bar, once the run directory is ready."""
        self.total = total
        self.progress.update(self.bar, total=total, running=min(self.workers, total))
        self.progress.start()

    def finished(self, result: FitResult) -> None:
        """Count a fit; print a line for one that failed."""
        total = self.total
        if result.ok:
            self.done += 1
        else:
            self.failed += 1
        finished = self.done + self.failed
        self.progress.update(
            self.bar,
            total=total,
            completed=finished,
            running=min(self.workers, total - finished),
            done=self.done,
            failed=self.failed,
        )
        if not result.ok and not self.quiet:
            first = result.error.splitlines()[0] if result.error else "?"
            self.progress.console.print(
                f"[red]{result.status}[/] cell {result.cell_id} replicate {result.replicate}: "
                f"{escape(first)}",
                highlight=False,
                soft_wrap=True,
            )


def _present(
    console: Console, plan: RunPlan, out: Path, summary: RunSummary, *, table: bool
) -> int:
    """Print the run's per-cell table (if ``table``) and totals.

    Return the failures on disk among the plan's fits.
    """
    store = RunStore(out)
    records: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for cell, rep in plan.fits:
        records[cell.cell_id] += store.has_record(cell.cell_id, rep)
        failures[cell.cell_id] += store.has_failure(cell.cell_id, rep)
    rows = summarize_cells(
        {c.cell_id: c.label for c in plan.chosen},
        (
            FitStats(
                cell_id=r.cell_id,
                seconds=r.seconds,
                max_rhat=r.max_rhat,
                divergences=r.divergences,
            )
            for r in summary.results
            if r.ok
        ),
        records,
        failures,
    )
    grid = Table(title=escape(f"{plan.scenario.name}: {out}"))
    grid.add_column("cell", no_wrap=True)
    grid.add_column("grid", overflow="fold")
    for col in ("fits", "failed", "median s", "max R-hat", "div."):
        grid.add_column(col, justify="right", no_wrap=True)
    for row in rows:
        grid.add_row(
            row.cell_id,
            escape(row.label),
            str(row.records),
            str(row.failures),
            "-" if row.median_s is None else f"{row.median_s:.1f}",
            "-" if row.max_rhat is None else f"{row.max_rhat:.3f}",
            "-" if row.divergences is None else str(row.divergences),
        )
    if table:
        console.print(grid)
    console.print(
        f"this run: {summary.done} fitted, {summary.failed} failed, "
        f"{summary.skipped} already on disk",
        highlight=False,
    )
    return sum(failures.values())


def _run(args: argparse.Namespace, console: Console) -> int:
    from mmm_workbench.recover.runner import RunOptions, plan_run, run_grid

    options = RunOptions(
        workers=args.workers,
        dask=args.dask,
        replicates=args.replicates,
        only=tuple(args.only or ()),
        retry_failed=args.retry_failed,
        fit_timeout=args.fit_timeout,
        compile_timeout=args.compile_timeout,
    )
    plan = plan_run(read_scenario(args.scenario), options)
    out = args.out if args.out is not None else _default_run_dir(plan.scenario.name)
    workers = args.workers if args.dask is None else len(plan.chosen) * plan.replicates
    try:
        with _RunProgress(plan.scenario.name, workers, args.quiet) as progress:
            summary = run_grid(plan, out, listener=progress)
    except KeyboardInterrupt:
        _error(f"interrupted: the finished fits are in {out}; run the same command to resume")
        return 130
    failed = _present(console, plan, out, summary, table=not args.quiet)
    verdict = _write_report(out, None, console) if args.report else None
    if not args.quiet:
        _print_verdict(console, out, verdict)
    return 1 if failed else 0


def _print_verdict(console: Console, run_dir: Path, verdict: Verdict | None) -> None:
    """Print the run's last lines.

    The verdict of ``check`` (default rules) and one plain sentence per cell, each cell named
    as the report's verdict names it (:func:`~mmm_workbench.reports.plotdata.cell_words`;
    ``check`` keeps whole labels); a run without a readable record says so instead.
    """
    from mmm_workbench.reports.gate import named_rules
    from mmm_workbench.reports.plotdata import cell_words
    from mmm_workbench.reports.report import cell_verdicts
    from mmm_workbench.reports.rundir import RunError
    from mmm_workbench.reports.verdict import evaluate

    if verdict is None:
        try:
            verdict = evaluate(run_dir)
        except RunError as err:
            console.print(f"verdict: none ({err})", markup=False, highlight=False, soft_wrap=True)
            return
    verdict = named_rules(verdict)  # "default rules" or a path relative to the cwd, as check
    try:
        cells = RunStore(run_dir).manifest().get("cells", {})
    except ValueError:  # the verdict read it; a manifest gone since names cells in full
        cells = {}
    short = cell_words(cells)  # as the report's verdict names them
    for line in verdict.lines(short):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    for cell in cell_verdicts(verdict):
        line = f"{short.get(cell.label, cell.label)}: {cell.text}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _write_report(run_dir: Path, out: Path | None, console: Console) -> Verdict:
    from mmm_workbench.reports.report import build_report

    paths = build_report(run_dir, out)
    for warning in paths.warnings:
        console.print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False)
    console.print(
        f"report: {paths.html}  ({len(paths.figures)} figures; summary {paths.summary}; "
        f"tables {', '.join(p.name for p in paths.tables.values())})"
    )
    return paths.verdict


def _report(args: argparse.Namespace, console: Console) -> int:
    if len(args.run_dir) == 1:
        _write_report(args.run_dir[0], args.out, console)
        return 0
    from mmm_workbench.reports.compare import build_comparison

    paths = build_comparison(args.run_dir, args.out)
    console.print(
        f"comparison: {paths.html}  ({paths.comparison.headline()})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _check(args: argparse.Namespace, console: Console) -> int:
    from mmm_workbench.reports.gate import (
        check,
        default_rules_path,
        failure_rows,
        named_rules,
        plain_table,
        verdict_json,
        verdict_junit,
    )

    if args.print_rules:
        sys.stdout.write(default_rules_path().read_text())
        return 0
    if args.run_dir is None:
        raise ValueError("check: give a run directory (or --print-rules)")
    result = named_rules(check(args.run_dir, args.rules, args.baseline))
    status = 0 if result.passed else 1
    if args.format == "json":
        sys.stdout.write(json.dumps(verdict_json(result), indent=2) + "\n")
        return status
    if args.format == "junit":
        sys.stdout.write(verdict_junit(result))
        return status
    for line in result.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if result.passed:
        return 0
    rows = failure_rows(result)
    title = f"failed: {len(result.failures)} of {result.checked} checks"
    for rule in dict.fromkeys(result.failures["rule"].astype(str)):
        console.print(f"rule {rule}", markup=False, highlight=False, soft_wrap=True)
    if not console.is_terminal:  # a CI log: one line per failure, never folded
        for line in [title, *plain_table(rows)]:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        return 1
    table = Table(title=escape(title))
    for col in rows[0]:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(escape(v) for v in row.values()))
    console.print(table)
    return 1


def _export(args: argparse.Namespace, console: Console) -> int:
    """Write fit records as ArviZ-native netCDF files, one line per file on stdout."""
    from mmm_workbench.recover.export import export_run

    if args.replicate is not None and args.replicate < 0:
        raise ValueError(f"--replicate = {args.replicate}: must be >= 0")
    chosen = None if args.replicate is None else [args.replicate]
    for fit in export_run(args.run_dir, args.out, cell=args.cell, replicates=chosen):
        line = f"{fit.path}  ({fit.label}, replicate {fit.replicate})"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmm-workbench",
        description="Simulate MMM data with known truth, fit models to it, score recovery.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {metadata.version('mmm-workbench')}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser(
        "simulate", help="generate one dataset of a scenario, with its truth", allow_abbrev=False
    )
    sim.add_argument(
        "scenario",
        help="scenario TOML file, or a shipped scenario's name (see: mmm-workbench scenarios)",
    )
    sim.add_argument("--out", required=True, type=Path, help="output directory")
    sim.add_argument("--replicate", type=int, default=0, help="replicate number (default 0)")
    sim.add_argument("--cell", type=int, default=0, help="grid cell index (default 0)")
    sim.set_defaults(func=_simulate)

    run = sub.add_parser(
        "run", help="fit the scenario's model over its grid and replicates", allow_abbrev=False
    )
    run.add_argument(
        "scenario",
        help="scenario TOML file, or a shipped scenario's name (see: mmm-workbench scenarios)",
    )
    run.add_argument("--out", type=Path, help="run directory (default runs/<scenario name>)")
    run.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    run.add_argument("--dask", help="Dask scheduler address, or local:N for a local cluster")
    run.add_argument("--replicates", type=int, help="replicates per cell (default: scenario's)")
    run.add_argument("--only", action="append", help="run only cells whose id starts with this")
    run.add_argument("--retry-failed", action="store_true", help="re-run failed fits")
    run.add_argument(
        "--fit-timeout",
        type=float,
        metavar="SECONDS",
        help="kill a fit whose sampling runs longer (a 'timeout' failure record)",
    )
    run.add_argument(
        "--compile-timeout",
        type=float,
        metavar="SECONDS",
        help="kill a fit whose model building and compilation run longer",
    )
    run.add_argument("--report", action="store_true", help="write the report after fitting")
    run.add_argument(
        "--quiet", action="store_true", help="no progress bar, no table: only the totals"
    )
    run.set_defaults(func=_run)

    rep = sub.add_parser(
        "report",
        help="score a run directory and write its HTML report; several: compare them by cell",
        allow_abbrev=False,
    )
    rep.add_argument(
        "run_dir",
        type=Path,
        nargs="+",
        help="a run directory written by 'run'; two or more: a comparison, each against the first",
    )
    rep.add_argument(
        "--out",
        type=Path,
        help="output directory (default RUN_DIR/report; for a comparison compare-A-B beside "
        "the first run, never inside a run)",
    )
    rep.set_defaults(func=_report)

    chk = sub.add_parser(
        "check", help="pass/fail gate: judge a run against rules (exit 0/1)", allow_abbrev=False
    )
    chk.add_argument("run_dir", type=Path, nargs="?", help="a run directory written by 'run'")
    chk.add_argument("--rules", type=Path, help="rules TOML file (default: the shipped rule set)")
    chk.add_argument(
        "--print-rules", action="store_true", help="print the default rule set, to copy and edit"
    )
    chk.add_argument("--baseline", type=Path, help="a summary.json to compare against")
    chk.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="text (default), json (the verdict per cell, failing and not-applicable checks) "
        "or junit (JUnit XML for CI test reports); the exit status is the same",
    )
    chk.set_defaults(func=_check)

    exp = sub.add_parser(
        "export",
        help="write fit records as ArviZ-native netCDF (xarray.open_datatree), one per fit",
        allow_abbrev=False,
    )
    exp.add_argument("run_dir", type=Path, help="a run directory written by 'run'")
    exp.add_argument(
        "--out", type=Path, required=True, help="output directory: OUT/<cell id>/<replicate>.nc"
    )
    exp.add_argument("--cell", help="only this cell: its label, its id or a unique id prefix")
    exp.add_argument("--replicate", type=int, help="only this replicate")
    exp.set_defaults(func=_export)

    lib = sub.add_parser(
        "scenarios",
        help="list the shipped scenarios; show one; copy one to edit",
        allow_abbrev=False,
    )
    lib.set_defaults(func=_scenarios, action="list")
    actions = lib.add_subparsers(dest="action")
    show = actions.add_parser("show", help="print a scenario's TOML", allow_abbrev=False)
    show.add_argument("name", help="a shipped scenario's name, or a scenario file")
    new = actions.add_parser(
        "new", help="copy a scenario under a new name, to edit", allow_abbrev=False
    )
    new.add_argument("name", help="the new scenario's name (written to NAME.toml)")
    new.add_argument(
        "--from", dest="source", required=True, help="a shipped scenario's name, or a file"
    )
    new.add_argument(
        "--out", type=Path, help="file to write (default NAME.toml; never overwritten)"
    )
    return parser


def _error(message: object) -> None:
    """One line on stderr: ``error: message`` (whitespace runs collapsed, markup escaped)."""
    text = " ".join(str(message).split())
    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mmm-workbench``.

    Returns the exit status: 0, 1 (failed fits or checks, or a run directory that fills up or
    breaks mid-run), 2 (bad input, an ``--out`` that cannot be created or written among it),
    130 (interrupted).
    """
    args = _parser().parse_args(argv)
    console = Console()
    try:
        status: int = args.func(args, console)
    except (ScenarioError, TransformError, ValueError) as err:
        _error(err)
        return 2
    except OSError as err:
        bad_out = _bad_out(args, err)
        _error(bad_out or err)
        return 1 if bad_out is None else 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    return status


_BAD_PATH = frozenset(
    {errno.ENOENT, errno.EEXIST, errno.ENOTDIR, errno.EISDIR}
    | {errno.EACCES, errno.EPERM, errno.EROFS}
)
"""The errors of a path that cannot be created or written at all: bad input, not a failure
of the run (a full disk, ``ENOSPC``, stays exit 1)."""


def _bad_out(args: argparse.Namespace, err: OSError) -> str | None:
    """Return the one-line message for an ``--out`` that cannot be written, else ``None``.

    Only an error on ``--out`` itself or a path under it, of a kind in :data:`_BAD_PATH`:
    ``--out = 'PATH': cannot write there (its reason)``.
    """
    out = getattr(args, "out", None)
    if out is None or err.filename is None or err.errno not in _BAD_PATH:
        return None
    target = Path(out).absolute()
    failed = Path(os.fsdecode(err.filename)).absolute()
    if failed != target and target not in failed.parents:
        return None
    reason = err.strerror or str(err)
    if err.errno == errno.EEXIST and not target.is_dir():
        reason = "a file is there, not a directory"
    elif err.errno == errno.ENOTDIR:
        reason = "a file is in its path, not a directory"
    return f"--out = {str(out)!r}: cannot write there ({reason})"


if __name__ == "__main__":
    sys.exit(main())
