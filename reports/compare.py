"""Runs side by side: ``mmm-workbench report RUN_A RUN_B ...``.

Runs are aligned by cell **label** (a cell's id is a hash of its scenario, which a change
to a transformation changes; its label, the grid's words for it, stays). A cell present
in some runs only is shown as such. Every run is judged by the same (default) rules, and
each later run is compared with the first:

- **verdicts**: each cell's plain-words verdict per run, side by side
  (:func:`mmm_workbench.reports.report.cell_verdicts`);
- **checks**: the checks whose outcome changed (newly failing, newly passing, no longer
  judged, newly judged), matched by cell label, rule, estimand, coordinate and metric;
- **headline measures**: relative bias, bias and 90% coverage of the headline estimands
  per cell and channel, and the budget decision's regret share where the records hold
  response curves, each with its Monte Carlo interval; a difference *exceeds the
  Monte Carlo error* when its own interval, ``d +- z sqrt(se_a^2 + se_b^2)`` with each
  run's ``se`` the half-width of its interval over ``z``, excludes 0. An identical run
  has difference 0 everywhere and is never flagged.

A cell is **changed** when its verdict, a check's outcome or a headline measure (beyond
its Monte Carlo error) changed, or when it is missing from a run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mmm_workbench.reports import contract
from mmm_workbench.reports import figures as fig
from mmm_workbench.reports.contract import atomic_write
from mmm_workbench.reports.html import TEXT_TABLE, Banner, Section, render_report
from mmm_workbench.reports.report import cell_verdicts
from mmm_workbench.reports.ruleset import FAIL, NA, PASS
from mmm_workbench.reports.rundir import open_run
from mmm_workbench.reports.tables import RunScores, aggregate_table, score_run
from mmm_workbench.reports.verdict import Verdict, evaluate, named_rules, score_options

__all__ = [
    "COMPARED_ESTIMANDS",
    "COMPARED_METRICS",
    "CompareError",
    "ComparePaths",
    "Comparison",
    "RunSide",
    "build_comparison",
    "check_changes",
    "check_compare_paths",
    "compare_sides",
    "default_out",
    "metric_changes",
    "run_side",
]

COMPARED_METRICS = ("relative_bias", "bias", "coverage_90")
"""The headline measures compared between runs, per cell, estimand and channel."""
COMPARED_ESTIMANDS = (*contract.HEADLINE, "regret_share")
"""The estimands compared: the headline ones, and the budget decision's regret (its bias is
the mean share of the best achievable outcome lost; :mod:`mmm_workbench.reports.decision`)."""

NEWLY_FAILING = "newly failing"
NEWLY_PASSING = "newly passing"
NO_LONGER_JUDGED = "no longer judged"
NEWLY_JUDGED = "newly judged"
_CHECK_KEY = ["cell", "rule", "estimand", "coords", "metric"]


class CompareError(ValueError):
    """Runs that cannot be compared: one given twice, or an output inside a run."""


@dataclass(frozen=True, kw_only=True)
class RunSide:
    """One run of a comparison, scored and judged.

    ``cells`` maps each cell's key (its label; ``label (id)`` where two cells of the run
    share a label) to its id.
    """

    name: str
    root: Path
    scores: RunScores
    verdict: Verdict
    aggregates: pd.DataFrame
    cells: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Runs aligned by cell and what changed against the first.

    Attributes
    ----------
    runs
        The runs' names, the first being the one the others are compared with.
    cells
        One row per aligned cell: ``cell`` (its label), per run ``<run>`` (the verdict in
        words, or "not in this run") and ``<run> passed`` (True, False, or None where
        absent), then ``changed`` (bool) and ``what changed`` (words).
    checks
        The checks whose outcome changed: ``run`` (the later run), ``cell, rule, estimand,
        coords, metric``, ``outcome_before, value_before, outcome_after, value_after`` and
        ``change`` (newly failing, newly passing, no longer judged, newly judged).
    metrics
        The headline measures: ``cell, estimand, coords, metric``, per run ``value, lower,
        upper`` as ``<run>: value`` etc., and for each later run ``<run>: difference`` and
        ``<run>: exceeds`` (beyond the combined Monte Carlo error).
    """

    runs: list[str]
    cells: pd.DataFrame
    checks: pd.DataFrame
    metrics: pd.DataFrame

    @property
    def changed(self) -> list[str]:
        """The labels of the changed cells."""
        return [str(c) for c in self.cells.loc[self.cells["changed"], "cell"]]

    def headline(self) -> str:
        """One line: how many cells changed, and the checks newly failing and passing."""
        failing = int((self.checks["change"] == NEWLY_FAILING).sum())
        passing = int((self.checks["change"] == NEWLY_PASSING).sum())
        base = self.runs[0]
        return (
            f"compared with {base}: {len(self.changed)} of {len(self.cells)} cells changed; "
            f"{failing} checks newly failing, {passing} newly passing"
        )


@dataclass(frozen=True, kw_only=True)
class ComparePaths:
    """What :func:`build_comparison` wrote, and the comparison."""

    html: Path
    summary: Path
    tables: dict[str, Path]
    figures: dict[str, Path]
    comparison: Comparison


def _names(roots: Sequence[Path]) -> list[str]:
    """Name each run by its directory's name, or by its path where two names clash."""
    names = [r.name for r in roots]
    if len(set(names)) == len(names):
        return names
    return [str(r) for r in roots]


def check_compare_paths(run_dirs: Sequence[str | Path], out: str | Path | None) -> None:
    """Refuse a comparison of a run with itself, or an output directory inside a run.

    Raises
    ------
    CompareError
        A run directory given twice (after resolving links), fewer than two runs, or
        ``out`` inside (or equal to) one of the runs.
    """
    roots = [Path(r) for r in run_dirs]
    if len(roots) < 2:
        raise CompareError(f"a comparison needs two or more runs, got {len(roots)}")
    seen: dict[Path, Path] = {}
    for root in roots:
        real = root.resolve()
        if real in seen:
            raise CompareError(f"run {root} is given twice (as {seen[real]} and {root})")
        seen[real] = root
    if out is None:
        return
    target = Path(out).resolve()
    for real, root in seen.items():
        if target == real or target.is_relative_to(real):
            raise CompareError(
                f"--out {out} lies inside run {root}: a comparison is written outside the runs"
            )


def default_out(run_dirs: Sequence[str | Path]) -> Path:
    """Return ``compare-<A>-<B>...`` beside the first run (``runs/compare-a-b``)."""
    roots = [Path(r) for r in run_dirs]
    return roots[0].resolve().parent / ("compare-" + "-".join(r.resolve().name for r in roots))


def _cell_keys(verdict: Verdict) -> dict[str, str]:
    fits = verdict.fits
    labels = [str(v) for v in fits["cell_label"]]
    ids = [str(v) for v in fits["cell"]]
    twice = {label for label in labels if labels.count(label) > 1}
    return {
        (f"{label} ({cell})" if label in twice else label): cell
        for label, cell in zip(labels, ids, strict=True)
    }


def run_side(root: str | Path, name: str | None = None, *, ci_prob: float = 0.95) -> RunSide:
    """Score and judge one run for a comparison (default rules).

    Raises
    ------
    mmm_workbench.reports.rundir.RunError
        Not a run directory, or an empty run.
    """
    path = Path(root)
    scores = score_run(open_run(path), **score_options())
    verdict = named_rules(evaluate(scores, ci_prob=ci_prob))
    return RunSide(
        name=name or path.name,
        root=path,
        scores=scores,
        verdict=verdict,
        aggregates=aggregate_table(scores, ci_prob=ci_prob),
        cells=_cell_keys(verdict),
    )


def _keyed(frame: pd.DataFrame, cells: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with its ``cell`` column (ids) replaced by the cells' keys (labels)."""
    key = {cell: k for k, cell in cells.items()}
    out = frame[frame["cell"].astype(str).isin(key)].copy()
    out["cell"] = out["cell"].astype(str).map(key)
    return out


def check_changes(before: pd.DataFrame, after: pd.DataFrame, cells: Sequence[str]) -> pd.DataFrame:
    """Return the checks whose outcome differs between two runs' checks.

    Parameters
    ----------
    before, after
        :attr:`Verdict.checks` over all fits, ``cell`` already the aligned key.
    cells
        The cells present in both runs (others are reported as missing, not checked).

    Returns
    -------
    pandas.DataFrame
        ``cell, rule, estimand, coords, metric, outcome_before, value_before,
        outcome_after, value_after, change``, newly failing first.
    """
    columns = [*_CHECK_KEY, "outcome_before", "value_before", "outcome_after", "value_after"]

    def side(frame: pd.DataFrame, when: str) -> pd.DataFrame:
        d = frame[(frame["subset"] == "all") & frame["cell"].isin(list(cells))]
        d = d[[*_CHECK_KEY, "outcome", "value"]].astype({k: str for k in _CHECK_KEY})
        d = d.drop_duplicates(_CHECK_KEY)
        return d.rename(columns={"outcome": f"outcome_{when}", "value": f"value_{when}"})

    both = side(before, "before").merge(side(after, "after"), on=_CHECK_KEY, how="outer")
    was = both["outcome_before"].fillna(NA)
    now = both["outcome_after"].fillna(NA)
    change = np.select(
        [
            (now == FAIL) & (was != FAIL),
            (was == FAIL) & (now == PASS),
            (was != NA) & (now == NA),
            (was == NA) & (now != NA),
        ],
        [NEWLY_FAILING, NEWLY_PASSING, NO_LONGER_JUDGED, NEWLY_JUDGED],
        default="",
    )
    out = both.reindex(columns=columns).assign(change=change)
    out = out[out["change"] != ""]
    rank = out["change"].map(
        {NEWLY_FAILING: 0, NEWLY_PASSING: 1, NO_LONGER_JUDGED: 2, NEWLY_JUDGED: 3}
    )
    return out.assign(rank=rank).sort_values(["rank", *_CHECK_KEY]).drop(columns="rank")


def _headline_rows(agg: pd.DataFrame) -> pd.DataFrame:
    d = agg[
        agg["estimand"].isin(COMPARED_ESTIMANDS)
        & agg["metric"].isin(COMPARED_METRICS)
        & ~agg["pooled"].astype(bool)
    ]
    return d[["cell", "estimand", "coords", "metric", "value", "lower", "upper", "mcse"]]


def _standard_error(frame: pd.DataFrame, z: float) -> pd.Series:
    """Return a measure's Monte Carlo standard error: its interval's half-width over ``z``."""
    width = (frame["upper"].astype(float) - frame["lower"].astype(float)) / (2 * z)
    return width.where(np.isfinite(width), frame["mcse"].astype(float))


def metric_changes(
    sides: Sequence[tuple[str, pd.DataFrame]], cells: Sequence[str], ci_prob: float = 0.95
) -> pd.DataFrame:
    """Return the headline measures of several runs side by side, each later run against the first.

    Parameters
    ----------
    sides
        ``(run name, aggregates)`` per run, the aggregates' ``cell`` column already the
        aligned key (:func:`mmm_workbench.reports.tables.aggregate_table`).
    cells
        The aligned cells, in page order.
    ci_prob
        The level of the aggregates' Monte Carlo intervals.

    Returns
    -------
    pandas.DataFrame
        ``cell, estimand, coords, metric``; per run ``<run>: value``, ``<run>: lower``,
        ``<run>: upper``; per later run ``<run>: difference`` (it minus the first run) and
        ``<run>: exceeds`` (the difference's ``ci_prob`` interval, with the two runs'
        standard errors combined in quadrature, excludes 0; False where a run lacks the
        measure). Rows where a later run exceeds come first.
    """
    z = float(stats.norm.ppf(0.5 + ci_prob / 2))
    keys = ["cell", "estimand", "coords", "metric"]
    merged: pd.DataFrame | None = None
    for name, agg in sides:
        d = _headline_rows(agg)
        d = d.assign(se=_standard_error(d, z)).drop(columns="mcse").drop_duplicates(keys)
        d = d.rename(columns={c: f"{name}: {c}" for c in ("value", "lower", "upper", "se")})
        merged = d if merged is None else merged.merge(d, on=keys, how="outer")
    assert merged is not None
    merged = merged[merged["cell"].isin(list(cells))]
    base = sides[0][0]
    exceeds_any = pd.Series(False, index=merged.index)
    for name, _ in sides[1:]:
        diff = merged[f"{name}: value"].astype(float) - merged[f"{base}: value"].astype(float)
        se = pd.Series(
            np.hypot(merged[f"{name}: se"].astype(float), merged[f"{base}: se"].astype(float)),
            index=merged.index,
        )
        exceeds = (diff.abs() > z * se.fillna(0.0)) & diff.notna() & (diff != 0)
        merged[f"{name}: difference"] = diff
        merged[f"{name}: exceeds"] = exceeds
        exceeds_any |= exceeds
    merged = merged.drop(columns=[c for c in merged.columns if c.endswith(": se")])
    order = {c: i for i, c in enumerate(cells)}
    estimands = {e: i for i, e in enumerate(COMPARED_ESTIMANDS)}
    metrics = {m: i for i, m in enumerate(COMPARED_METRICS)}
    merged = merged.assign(
        _first=~exceeds_any,
        _cell=merged["cell"].map(order),
        _est=merged["estimand"].map(estimands),
        _metric=merged["metric"].map(metrics),
    )
    merged = merged.sort_values(["_first", "_cell", "_est", "coords", "_metric"], kind="stable")
    return merged.drop(columns=["_first", "_cell", "_est", "_metric"]).reset_index(drop=True)


def compare_sides(sides: Sequence[RunSide], ci_prob: float = 0.95) -> Comparison:
    """Align judged runs by cell label and say what changed against the first.

    Parameters
    ----------
    sides
        Two or more runs (:func:`run_side`), the first the reference.
    ci_prob
        The level of the Monte Carlo intervals.

    Returns
    -------
    Comparison
    """
    names = [s.name for s in sides]
    cells = list(dict.fromkeys(k for s in sides for k in s.cells))
    words = {s.name: {c.cell: c for c in cell_verdicts(s.verdict)} for s in sides}
    base = sides[0]
    frames = []
    for side in sides[1:]:
        shared = [c for c in cells if c in base.cells and c in side.cells]
        changes = check_changes(
            _keyed(base.verdict.checks, base.cells), _keyed(side.verdict.checks, side.cells), shared
        )
        frames.append(changes.assign(run=side.name))
    checks = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    checks = checks.reindex(columns=["run", *checks.columns.drop("run", errors="ignore")])
    metrics = metric_changes(
        [(s.name, _keyed(s.aggregates, s.cells)) for s in sides], cells, ci_prob
    )
    rows = []
    for cell in cells:
        row: dict[str, Any] = {"cell": cell}
        what = []
        for side in sides:
            if cell not in side.cells:
                row[side.name], row[f"{side.name} passed"] = "not in this run", None
                what.append(f"not in {side.name}")
                continue
            verdict = words[side.name][side.cells[cell]]
            row[side.name], row[f"{side.name} passed"] = verdict.text, verdict.passed
        for side in sides[1:]:
            if cell not in side.cells or cell not in base.cells:
                continue
            before, after = row[f"{base.name} passed"], row[f"{side.name} passed"]
            if before != after:
                what.append(
                    f"{side.name}: {'trustworthy' if after else 'not trustworthy'} "
                    f"(was {'trustworthy' if before else 'not trustworthy'})"
                )
            mine = checks[(checks["run"] == side.name) & (checks["cell"] == cell)]
            counts = mine["change"].value_counts()
            for change in (NEWLY_FAILING, NEWLY_PASSING, NO_LONGER_JUDGED, NEWLY_JUDGED):
                if counts.get(change, 0):
                    what.append(f"{side.name}: {counts[change]} checks {change}")
            moved = int(metrics.loc[metrics["cell"] == cell, f"{side.name}: exceeds"].sum())
            if moved:
                what.append(f"{side.name}: {moved} headline measures moved beyond MC error")
        row["changed"] = bool(what)
        row["what changed"] = "; ".join(what) if what else "unchanged"
        rows.append(row)
    return Comparison(runs=names, cells=pd.DataFrame(rows), checks=checks, metrics=metrics)


def _interval(value: float, lower: float, upper: float, metric: str) -> str:
    if not math.isfinite(value):
        return ""
    percent = metric == "relative_bias"

    def fmt(v: float) -> str:
        return f"{100 * v:+.1f}%" if percent else f"{v:.3g}"

    text = fmt(value)
    if math.isfinite(lower) and math.isfinite(upper):
        text += f" [{fmt(lower)}, {fmt(upper)}]"
    return text


def _metrics_page(c: Comparison) -> pd.DataFrame:
    m = c.metrics
    out = pd.DataFrame(
        {
            "cell": m["cell"],
            "estimand": m["estimand"],
            "channel": m["coords"].astype(str).str.split("=", n=1).str[-1],
            "metric": m["metric"],
        }
    )
    for name in c.runs:
        out[name] = [
            _interval(float(v), float(lo), float(hi), str(metric))
            for v, lo, hi, metric in zip(
                m[f"{name}: value"], m[f"{name}: lower"], m[f"{name}: upper"], m["metric"],
                strict=True,
            )
        ]  # fmt: skip
    for name in c.runs[1:]:
        out[f"{name} - {c.runs[0]}"] = m[f"{name}: difference"]
        out[f"{name}: beyond MC error"] = m[f"{name}: exceeds"].map({True: "yes", False: ""})
    return out


def _bias_frame(c: Comparison) -> pd.DataFrame:
    """Relative bias (bias where there is none) per cell, run and headline coordinate."""
    m = c.metrics
    rows = []
    for cell, per_cell in m.groupby("cell", sort=False):
        metric = "relative_bias" if (per_cell["metric"] == "relative_bias").any() else "bias"
        d = per_cell[per_cell["metric"] == metric]
        for r in d.to_dict("records"):
            channel = str(r["coords"]).split("=", 1)[-1]
            for name in c.runs:
                rows.append(
                    {
                        "cell": cell,
                        "item": f"{r['estimand']}\n{channel}",
                        "metric": metric,
                        "run": name,
                        "value": r[f"{name}: value"],
                        "lower": r[f"{name}: lower"],
                        "upper": r[f"{name}: upper"],
                    }
                )
    columns = ["cell", "item", "metric", "run", "value", "lower", "upper"]
    return pd.DataFrame(rows, columns=columns)


def _banner(c: Comparison, sides: Sequence[RunSide]) -> Banner:
    verdicts = c.cells[["cell", *c.runs]].copy()
    verdicts.attrs[TEXT_TABLE] = True
    worse = (c.checks["change"] == NEWLY_FAILING).any() if len(c.checks) else False
    cells = [
        (str(r["cell"]), not r["changed"], str(r["what changed"]))
        for r in c.cells.to_dict("records")
    ]
    lines = [f"{s.name} ({s.root}): {s.verdict.headline()}" for s in sides]
    return Banner(
        headline=c.headline(),
        passed=not worse and not c.changed,
        cells=cells,
        lines=lines,
        tables=[(verdicts, "each cell's verdict per run (default rules), side by side")],
    )


def _json(c: Comparison, sides: Sequence[RunSide]) -> dict[str, Any]:
    def clean(records: list[dict[Hashable, Any]]) -> list[dict[str, Any]]:
        return [
            {
                str(k): (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in r.items()
            }
            for r in records
        ]

    moved = c.metrics[c.metrics[[f"{n}: exceeds" for n in c.runs[1:]]].any(axis=1)]
    return {
        "runs": [{"name": s.name, "path": str(s.root), "passed": s.verdict.passed} for s in sides],
        "headline": c.headline(),
        "cells": clean(c.cells.to_dict("records")),
        "checks": clean(c.checks.to_dict("records")),
        "moved": clean(moved.to_dict("records")),
        "all_measures": "metrics.csv",
    }


def build_comparison(
    run_dirs: Sequence[str | Path], out: str | Path | None = None, *, ci_prob: float = 0.95
) -> ComparePaths:
    """Compare runs and write the comparison page.

    ``index.html`` (the verdicts side by side and what changed first), ``compare.json``
    (the cells, the changed checks and the measures beyond Monte Carlo error),
    ``checks.csv`` and ``metrics.csv`` (every headline measure) and the figure.

    Parameters
    ----------
    run_dirs
        Two or more run directories; the first is the one the others are compared with.
    out
        Output directory, outside every run (default ``compare-<A>-<B>`` beside the first).
    ci_prob
        Level of the Monte Carlo intervals.

    Returns
    -------
    ComparePaths

    Raises
    ------
    CompareError
        A run given twice, fewer than two runs, ``out`` inside a run.
    mmm_workbench.reports.rundir.RunError
        A directory that is not a run, or an empty run.
    """
    check_compare_paths(run_dirs, out)
    roots = [Path(r) for r in run_dirs]
    for root in roots:  # every path is checked before any run is scored
        open_run(root)
    sides = [
        run_side(root, name, ci_prob=ci_prob)
        for root, name in zip(roots, _names(roots), strict=True)
    ]
    comparison = compare_sides(sides, ci_prob)
    out_dir = Path(out) if out is not None else default_out(roots)
    tables = {"checks": comparison.checks, "metrics": comparison.metrics}
    paths = {}
    for name, frame in tables.items():
        paths[name] = out_dir / f"{name}.csv"
        atomic_write(paths[name], partial(_write_csv, frame))
    summary_path = out_dir / "compare.json"
    text = json.dumps(_json(comparison, sides), default=str)
    atomic_write(summary_path, lambda p: p.write_text(text))
    figure_paths: dict[str, Path] = {}
    shown = []
    png = fig.compare_bias(_bias_frame(comparison))
    if png is not None:
        figure_paths["bias"] = out_dir / "figures" / "bias.png"
        atomic_write(figure_paths["bias"], partial(_write_bytes, png))
        shown.append(
            (png, "Relative bias (bias where the truth is near 0) of the headline estimands "
             "per cell, one series per run, with 95% Monte Carlo intervals.")
        )  # fmt: skip
    checks_page = comparison.checks.copy()
    sections = [
        Section(
            title="What changed: checks",
            text=(
                "Checks of the default rules whose outcome differs from the first run's, "
                "matched by cell label, rule, estimand, coordinate and metric."
                if len(checks_page)
                else "No check changed outcome."
            ),
            tables=[(checks_page, "checks whose outcome changed")] if len(checks_page) else [],
        ),
        Section(
            title="What changed: headline measures",
            text="Relative bias, bias and 90% coverage of the headline estimands per cell and "
            "channel, and the bias of the budget plan's regret share, in each run, with 95% "
            "Monte Carlo intervals; the difference from the first run is beyond Monte Carlo "
            "error when its interval (the two runs' errors combined) excludes 0. Measures "
            "beyond their error come first.",
            tables=[(_metrics_page(comparison), "headline measures per run (metrics.csv)")],
        ),
        Section(title="Figures", figures=shown),
    ]
    metadata = {
        f"run {i + 1}": f"{s.name}: {s.root} ({s.scores.run.name}, {len(s.scores.fits)} fits)"
        for i, s in enumerate(sides)
    }
    page = render_report(
        title=f"compare: {' vs '.join(comparison.runs)}",
        description="",
        metadata=metadata,
        verdict=_banner(comparison, sides),
        errors=[],
        sections=sections,
        kind="comparison of runs",
    )
    html_path = out_dir / "index.html"
    atomic_write(html_path, lambda p: p.write_text(page))
    return ComparePaths(
        html=html_path,
        summary=summary_path,
        tables=paths,
        figures=figure_paths,
        comparison=comparison,
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def _write_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)
