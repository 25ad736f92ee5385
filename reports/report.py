"""Build a run's report.

``report/index.html`` (self-contained), ``summary.json``, the tables as CSV and the figures as PNG,
each written atomically (a failed write, a full disk, leaves no truncated file under its name).

The figures are a registry, :data:`FIGURES`: each a name (its PNG's file name), a builder
from the scored run (:class:`ReportData`) to PNG bytes or None, and a caption. A new figure
is one more entry. The estimands drawn come from the records: the per-channel panels show
every estimand with one value per channel (whatever the transform families' parameters are
called), the headline ones those of :data:`mmm_workbench.reports.contract.HEADLINE` present.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_workbench.reports import contract, plotdata
from mmm_workbench.reports import figures as fig
from mmm_workbench.reports.contract import atomic_write
from mmm_workbench.reports.decision import DECISION_ESTIMANDS, bound_words, decision_summary
from mmm_workbench.reports.geo_figures import geo_section
from mmm_workbench.reports.html import TEXT_TABLE, Banner, Section, render_report
from mmm_workbench.reports.parallel import share
from mmm_workbench.reports.sbc import sbc_ecdf
from mmm_workbench.reports.tables import (
    RunScores,
    aggregate_table,
    model_fit_table,
    score_run,
    summary_json,
)
from mmm_workbench.reports.verdict import (
    Verdict,
    evaluate,
    named_rules,
    score_options,
    unlearned_words,
)

__all__ = [
    "FIGURES",
    "CellVerdict",
    "FigureSpec",
    "ReportData",
    "ReportPaths",
    "build_report",
    "cell_verdicts",
]

FIT_COLUMNS = (
    "cell", "replicate", "status", "max_rhat", "min_ess_bulk", "divergences", "tune_s",
    "draw_s", "error",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ReportPaths:
    """What :func:`build_report` wrote."""

    html: Path
    summary: Path
    tables: dict[str, Path]
    figures: dict[str, Path]
    warnings: list[str]
    verdict: Verdict


@dataclass(frozen=True, kw_only=True)
class CellVerdict:
    """One cell's verdict in plain words.

    ``text`` starts with "trustworthy" or "not trustworthy" and gives the failed checks with their
    numbers, the fit health, the calibration design and the quantities not learned from the data.
    """

    cell: str
    label: str
    passed: bool
    text: str

    def line(self) -> str:
        """``label: text``, one line."""
        return f"{self.label}: {self.text}"


def _num(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _failure_words(row: Mapping[Hashable, Any]) -> str:
    coords = f"[{row['coords']}]" if row["coords"] else ""
    interval = ""
    if isinstance(row["lower"], float) and math.isfinite(row["lower"]):
        interval = f" [{_num(row['lower'])}, {_num(row['upper'])}]"
    why = str(row["detail"]).split(" (")[0]
    return f"{row['estimand']}{coords} {row['metric']} {_num(row['value'])}{interval}, {why}"


def cell_verdicts(verdict: Verdict, shown: int = 2) -> list[CellVerdict]:
    """Each cell's verdict in one plain sentence, from the run's verdict.

    Nothing is judged here: the checks, fit health, calibration design and identifiability
    flags are those of :func:`mmm_workbench.reports.verdict.evaluate`.

    Parameters
    ----------
    verdict
        The run's verdict.
    shown
        Failed checks named per cell (the rest are counted).

    Returns
    -------
    list of CellVerdict
        In the verdict's cell order.
    """
    checks = verdict.checks[verdict.checks["subset"] == "all"]
    out = []
    for fit in verdict.fits.to_dict("records"):
        cell = str(fit["cell"])
        mine = checks[checks["cell"] == cell]
        judged = int(mine["outcome"].isin(["pass", "fail", "warn"]).sum())
        warned = mine[mine["outcome"] == "warn"]
        failed = verdict.failures[verdict.failures["cell"] == cell]
        unlearned = verdict.unlearned
        unlearned = unlearned[unlearned["cell"] == cell]
        if len(failed):
            causes = ", ".join(dict.fromkeys(failed["cause"].astype(str)))
            head = f"not trustworthy ({causes}): {len(failed)} of {judged} checks failed"
            # the unlearned quantities are named below; headline estimands first
            named = failed[failed["cause"] != "identifiability"]
            first = ~named["estimand"].isin(contract.HEADLINE)
            named = named.iloc[first.to_numpy().argsort(kind="stable")]
            rows = named.head(shown).to_dict("records")
            if rows:
                head += ": " + "; ".join(_failure_words(r) for r in rows)
            if len(named) > shown:
                head += f"; and {len(named) - shown} more"
        elif judged:
            head = f"trustworthy: {judged} checks passed"
        else:
            head = "not judged: no check applied"
        parts = [head]
        if len(warned):
            rows = warned.head(shown).to_dict("records")
            more = f"; and {len(warned) - shown} more" if len(warned) > shown else ""
            parts.append(
                f"{len(warned)} warned (a severity = 'warn' rule, not failed): "
                + "; ".join(_failure_words(r) for r in rows)
                + more
            )
        parts.append(
            f"fits {fit['n_clean']} clean, {fit['n_warning']} sampler warning, "
            f"{fit['n_failed']} failed"
            + (f", {fit['n_corrupt']} corrupt" if fit["n_corrupt"] else "")
        )
        design = verdict.calibration[verdict.calibration["cell"] == cell]
        if len(design):
            parts.append(str(design["label"].iloc[0]))
        parts += unlearned_words(unlearned)
        decision = _decision_words(mine, verdict.decisions)
        if decision:
            parts.append(decision)
        for r in verdict.ridges[verdict.ridges["cell"] == cell].to_dict("records"):
            parts.append(
                f"posterior ridge {r['a']} ~ {r['b']} (|corr| {abs(float(r['corr'])):.2f})"
            )
        out.append(
            CellVerdict(
                cell=cell,
                label=str(fit["cell_label"]),
                passed=failed.empty and judged > 0,
                text="; ".join(parts),
            )
        )
    return out


def _decision_words(checks: pd.DataFrame, decisions: pd.DataFrame) -> str:
    """Say the budget decision's regret of a cell's checks, if a rule judged it.

    And, from the run's ``decisions``, the channels whose spend the grid's bound set in
    both plans (:func:`mmm_workbench.reports.decision.bound_words`): a regret of 0 there is
    not the model's merit.
    """
    rows = checks[(checks["estimand"] == "regret_share") & (checks["metric"] == "bias")]
    rows = rows[rows["value"].astype(float).notna()]
    if rows.empty:
        return ""
    r = rows.iloc[0]
    interval = ""
    lower, upper = float(r["lower"]), float(r["upper"])
    if math.isfinite(lower) and math.isfinite(upper) and lower != upper:
        interval = f" [{100 * lower:.2g}%, {100 * upper:.2g}%]"
    words = (
        f"the model's budget plan loses {100 * float(r['value']):.2g}%{interval} of the "
        "best achievable incremental outcome"
    )
    if "cell" in decisions:
        bound = bound_words(decisions[decisions["cell"] == r["cell"]])
        words += f" within the grid's range, but {bound}" if bound else ""
    return words


@dataclass(frozen=True, kw_only=True)
class ReportData:
    """A scored run and what its figures need.

    The estimand and aggregate tables, the grid (per-cell overrides, axes) and the estimand names
    taken from the records.
    """

    scores: RunScores
    aggregates: pd.DataFrame
    overrides: dict[str, Any]
    axes: list[list[str]] | None
    headline: tuple[str, ...]
    per_channel: tuple[str, ...]
    colours: dict[str, str]
    """Each channel's colour, the same in every figure (:func:`~.figures.channel_colours`)."""

    @property
    def estimands(self) -> pd.DataFrame:
        """The estimand table (one row per fit and estimand coordinate)."""
        return self.scores.estimands


@dataclass(frozen=True, kw_only=True)
class FigureSpec:
    """One figure of the report: ``build`` returns PNG bytes, or None to leave it out."""

    name: str
    build: Callable[[ReportData], bytes | None]
    caption: str
    design: bool = False
    """Rank statistics: the page's caption adds which cells are SBC and which PIT at a
    fixed truth (:func:`mmm_workbench.reports.plotdata.design_words`)."""


def _ranked(d: ReportData) -> list[str]:
    """Return the estimands of the rank figures: the headline, and the log-likelihood.

    The log-likelihood of the data is SBC's data-dependent test quantity (docs/sbc.md).
    """
    present = d.estimands["estimand"].unique()
    test_quantity = ["log_likelihood"] if "log_likelihood" in set(present) else []
    return [*d.headline, *test_quantity]


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        name="recovery",
        build=lambda d: fig.recovery_scatter(d.estimands, d.per_channel, colours=d.colours),
        caption="True value against posterior mean with 90% intervals, one panel per cell and "
        "estimand, every replicate, one colour per channel.",
    ),
    FigureSpec(
        name="shares",
        build=lambda d: fig.share_true_vs_estimated(
            plotdata.share_frame(d.estimands), colours=d.colours
        ),
        caption="Contribution share per channel: mean truth and mean estimate over replicates.",
    ),
    FigureSpec(
        name="coverage",
        build=lambda d: fig.coverage_vs_nominal(plotdata.coverage_frame(d.aggregates)),
        caption="Coverage of central intervals at 50/80/90/95% against nominal.",
    ),
    FigureSpec(
        name="bias_axes",
        build=lambda d: fig.bias_along_axis(
            plotdata.axis_frame(d.aggregates, d.overrides, d.headline, axes=d.axes),
            colours=d.colours,
        ),
        caption="Bias of the headline estimands along each grid axis.",
    ),
    FigureSpec(
        name="z_contraction",
        build=lambda d: fig.z_vs_contraction(d.estimands, d.per_channel),
        caption="Posterior z-score against posterior contraction.",
    ),
    FigureSpec(
        name="sbc_ranks",
        build=lambda d: fig.rank_histograms(
            plotdata.rank_histogram_frame(d.estimands, _ranked(d)), colours=d.colours
        ),
        caption="Rank histograms of the headline estimands and the log-likelihood of the "
        "data (docs/sbc.md) per cell and coordinate, never pooled over cells.",
        design=True,
    ),
    FigureSpec(
        name="sbc_ecdf",
        build=lambda d: fig.sbc_ecdf_differences(
            sbc_ecdf(d.estimands, estimands=_ranked(d)), colours=d.colours
        ),
        caption="Rank ECDF differences with simultaneous 95% bands, per cell and estimand.",
        design=True,
    ),
    FigureSpec(
        name="response",
        build=lambda d: fig.response_curves(plotdata.curve_frame(d.estimands), colours=d.colours),
        caption="Response curves in spend units (the training window's spend; the dotted "
        "line the observed spend): the true curve against the posterior mean and 90% band, "
        "replicate 0 of each cell.",
    ),
)
"""The report's figures, in page order."""


def _grid_axes(scenario_text: str) -> list[list[str]] | None:
    """Return the run's grid axes, each a list of paths; None when unreadable.

    Several paths for a ``[[grid.zip]]`` axis; read from the scenario text the run directory
    keeps.
    """
    try:
        grid = tomllib.loads(scenario_text).get("grid", {})
    except tomllib.TOMLDecodeError:
        return None
    axes = [[str(path)] for path in grid if path != "zip"]
    return axes + [[str(path) for path in zipped] for zipped in grid.get("zip", [])]


def _description(scenario_text: str) -> str:
    try:
        return str(tomllib.loads(scenario_text).get("description", ""))
    except tomllib.TOMLDecodeError:
        return ""


def _scenario_text(run_dir: Path) -> str:
    try:
        return (run_dir / contract.SCENARIO_FILE).read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def _errors(scores: RunScores) -> list[str]:
    """List failed fits and unreadable records, with the first error.

    The verdict counts them; this says why.
    """
    fits = scores.fits
    errors = []
    failed = fits[fits["status"] == "failed"]
    corrupt = fits[fits["status"] == "corrupt"]
    if len(failed):
        errors.append(
            f"{len(failed)} of {len(fits)} fits failed and are not scored; first: "
            f"cell {failed.iloc[0]['cell']} replicate {failed.iloc[0]['replicate']}: "
            f"{failed.iloc[0]['error']}"
        )
    if len(corrupt):
        errors.append(
            f"{len(corrupt)} fit records could not be read and were skipped; first: "
            f"{corrupt.iloc[0]['error']}"
        )
    return errors


def _banner(verdict: Verdict, cells: Mapping[str, Mapping[str, Any]]) -> Banner:
    """Return the verdict first on the page, each cell named by its short label.

    :func:`~mmm_workbench.reports.plotdata.cell_words` of the manifest's ``cells``, in the
    cells' sentences and the verdict's lines alike; the whole label, as the tables give it,
    on hover.
    """
    verdict = named_rules(verdict)  # "default rules", not a path into site-packages
    short = plotdata.cell_words(cells)
    said = [(short.get(c.label, c.label), c) for c in cell_verdicts(verdict)]
    return Banner(
        headline=verdict.headline(),
        passed=verdict.passed,
        cells=[(label, c.passed, c.text) for label, c in said],
        lines=verdict.lines(short)[1:],
        full_labels={label: c.label for label, c in said if label != c.label},
    )


def _percent(value: float) -> str:
    scaled = 100 * value
    return f"{scaled:+.0f}%" if abs(scaled) >= 10 else f"{scaled:+.1f}%"


def _bias_words(row: Mapping[Hashable, Any] | None, absolute: Mapping[Hashable, Any] | None) -> str:
    """Say the relative bias with its Monte Carlo interval (the bias where there is none)."""
    if row is not None and math.isfinite(float(row["value"])):
        text = f"bias {_percent(float(row['value']))}"
        if math.isfinite(float(row["lower"])) and math.isfinite(float(row["upper"])):
            text += f" [{_percent(float(row['lower']))}, {_percent(float(row['upper']))}]"
        return text
    if absolute is not None and math.isfinite(float(absolute["value"])):
        text = f"bias {float(absolute['value']):+.3g}"
        if math.isfinite(float(absolute["lower"])) and math.isfinite(float(absolute["upper"])):
            text += f" [{float(absolute['lower']):.3g}, {float(absolute['upper']):.3g}]"
        return text
    return ""


def _coverage_words(row: Mapping[Hashable, Any] | None) -> str:
    """Say the 90% intervals' coverage: covered of n, and the share with its Jeffreys interval."""
    if row is None or not math.isfinite(float(row["value"])) or not float(row["n"]) > 0:
        return ""
    n = int(row["n"])
    covered = round(float(row["value"]) * n)
    return (
        f"coverage 90: {covered} of {n}, {float(row['value']):.2f} "
        f"[{float(row['lower']):.2f}, {float(row['upper']):.2f}]"
    )


def _headline(
    agg: pd.DataFrame, headline: Sequence[str], order: Sequence[str] = ()
) -> pd.DataFrame:
    """Return the headline table: estimand and channel in rows, one column per cell.

    Each entry is the relative bias with its Monte Carlo interval and the 90% intervals'
    coverage, counted and with its Jeffreys interval (``aggregate_table``'s intervals), so
    models of one scenario read side by side. Cells in ``order`` (ids) come first, in it.
    """
    d = agg[
        agg["estimand"].isin(headline)
        & agg["metric"].isin(["bias", "relative_bias", "coverage_90"])
        & ~agg["pooled"].astype(bool)
    ]
    present = list(dict.fromkeys(d["cell"].astype(str)))
    cells = [c for c in order if c in set(present)] + [c for c in present if c not in order]
    labels = dict(zip(d["cell"].astype(str), d["cell_label"].astype(str), strict=False))
    names = {c: labels[c] for c in cells}
    if len(set(names.values())) < len(names):  # two cells with one label: add the id
        names = {c: f"{labels[c]} ({c})" for c in cells}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    by = {
        (str(r["cell"]), str(r["estimand"]), str(r["coords"]), str(r["metric"])): r
        for r in d.to_dict("records")
    }
    order = [e for e in headline if e in set(d["estimand"])]
    for estimand in order:
        coords = list(dict.fromkeys(d.loc[d["estimand"] == estimand, "coords"].astype(str)))
        for coord in coords:
            channel = coord.split("=", 1)[1] if "=" in coord else coord
            entry: dict[str, Any] = {"estimand": estimand, "channel": channel}
            for cell in cells:
                key = (cell, estimand, coord)
                parts = [
                    _bias_words(by.get((*key, "relative_bias")), by.get((*key, "bias"))),
                    _coverage_words(by.get((*key, "coverage_90"))),
                ]
                entry[names[cell]] = ";\n".join(p for p in parts if p)
            rows[(estimand, coord)] = entry
    table = pd.DataFrame(list(rows.values()), columns=["estimand", "channel", *names.values()])
    table.attrs[TEXT_TABLE] = True  # words, one measure a line
    return table


def _without_dates(agg: pd.DataFrame) -> pd.DataFrame:
    """Leave out the per-date rows of time-indexed estimands (pooled rows stay)."""
    per_date = (agg["family"].astype(str) == "series") & ~agg["pooled"].astype(bool)
    return agg[~per_date]


def _decision_table(estimands: pd.DataFrame) -> pd.DataFrame:
    """Return the budget decision per cell and channel, for the page."""
    d = decision_summary(estimands)
    if d.empty:
        return d
    return pd.DataFrame(
        {
            "cell": d["cell_label"],
            "channel": d["channel"],
            "model plan share": d["plan_share"].map(lambda v: f"{100 * v:.1f}%"),
            "true optimal share": d["true_share"].map(lambda v: f"{100 * v:.1f}%"),
            "model plan x spend": d["plan_multiplier"].map(lambda v: f"{v:.2f}"),
            "true optimum x spend": d["true_multiplier"].map(lambda v: f"{v:.2f}"),
            "at the grid's edge": [
                f"{int(e)} of {n}" if pd.notna(e) else ""
                for e, n in zip(d["at_edge"], d["fits"], strict=True)
            ],
            "regret": d["regret"].map(lambda v: f"{v:.4g}"),
            "regret share": d["regret_share"].map(lambda v: f"{100 * v:.2f}%"),
            "fits": d["fits"],
        }
    )


def report_data(scores: RunScores, scenario_text: str) -> ReportData:
    """Return what the figures and tables of a scored run's report are built from."""
    cells = scores.run.manifest.get("cells", {})
    est = scores.estimands
    present = set(est["estimand"].unique())
    return ReportData(
        scores=scores,
        aggregates=aggregate_table(scores),
        overrides={c: info.get("overrides", []) for c, info in cells.items()},
        axes=_grid_axes(scenario_text),
        headline=tuple(e for e in contract.HEADLINE if e in present),
        per_channel=tuple(  # a plan is not a posterior: no intervals to draw
            e for e in plotdata.channel_estimands(est) if e not in DECISION_ESTIMANDS
        ),
        colours=fig.channel_colours(
            est["channel"].dropna().unique().tolist() if "channel" in est else []
        ),
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV that ``pandas.read_csv`` reads back as pandas' own CSV.

    Through Arrow's writer: on 100 records of 436 coordinates the estimands table took
    6.0 s of CPU in ``DataFrame.to_csv`` and 0.5 s here. Dates are written as ISO dates
    (as pandas writes midnight timestamps); strings are quoted and booleans lower case. A
    table Arrow cannot type (a column of mixed objects) is written by pandas.
    """
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.csv as pa_csv  # type: ignore[import-untyped]

    out = frame.copy(deep=False)
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            midnight = bool((column.dropna() == column.dropna().dt.normalize()).all())
            out[name] = column.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")
    try:
        table = pa.Table.from_pandas(out, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        frame.to_csv(path, index=False)
        return
    pa_csv.write_csv(table, str(path))


def _write_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)


def _write_tables(out_dir: Path, data: ReportData) -> dict[str, Path]:
    tables = {
        "estimands": data.estimands,
        "fits": data.scores.fits,
        "aggregates": data.aggregates,
    }
    paths = {}
    for name, frame in tables.items():
        paths[name] = out_dir / f"{name}.csv"
        atomic_write(paths[name], partial(_write_csv, frame))
    return paths


def _figures(
    out_dir: Path, data: ReportData, pngs: Sequence[bytes | None]
) -> tuple[dict[str, Path], list[tuple[bytes, str]]]:
    paths, shown = {}, []
    for spec, png in zip(FIGURES, pngs, strict=True):
        if png is None:
            continue
        paths[spec.name] = out_dir / "figures" / f"{spec.name}.png"
        atomic_write(paths[spec.name], partial(_write_bytes, png))
        caption = spec.caption
        if spec.design:
            caption += f" {plotdata.design_words(data.estimands)}."
        shown.append((png, caption))
    return paths, shown


def _metadata(scores: RunScores) -> dict[str, Any]:
    manifest = scores.run.manifest
    counts = scores.fits["status"].value_counts().to_dict()
    backends = (
        ", ".join(sorted(set(scores.fits["backend"].dropna().astype(str))))
        if "backend" in scores.fits
        else ""
    )
    # the workbench model's sampling coordinates (not part of a cell's id: a resumed run
    # may hold fits of two); other models record none
    geometries = (
        sorted({g for g in scores.fits["geometry"].dropna().astype(str) if g})
        if "geometry" in scores.fits
        else []
    )
    return {
        "scenario": manifest.get("scenario", ""),
        "cells": len(manifest.get("cells", {})),
        "replicates": manifest.get("replicates", ""),
        "fits": ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
        "backend": backends,
        **({"geometry": ", ".join(geometries)} if geometries else {}),
        "started": manifest.get("started", ""),
        "finished": manifest.get("finished", ""),
        "versions": ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items()),
    }


def _sections(data: ReportData, figures: list[tuple[bytes, str]]) -> list[Section]:
    fits = data.scores.fits
    cells = pd.DataFrame(
        [
            {"cell": c, "grid": info.get("label", "")}
            for c, info in data.scores.run.manifest.get("cells", {}).items()
        ]
    )
    decision = _decision_table(data.estimands)
    first = (
        [
            Section(
                title="Budget decision",
                text="The allocation of the observed budget that maximises the model's "
                "posterior expected response against the true optimum, per cell (means over "
                "replicates): the budget share per channel, and the regret, the true "
                "incremental outcome lost by following the model's plan (data units and "
                "share of the optimum). A channel at the grid's edge (its lowest or highest "
                "spend multiplier) may have its optimum beyond the grid, which hides regret. "
                "Channels' curves are added as if independent: "
                "with mediation or a multiplicative model this is an approximation.",
                tables=[(decision, "budget decision per cell and channel")],
            )
        ]
        if len(decision)
        else []
    )
    return [
        *first,
        Section(
            title="Headline: recovery of shares, ROAS and mROAS",
            text="One column per cell, one row per estimand and channel: the relative bias of "
            "the posterior mean with its 95% Monte Carlo interval, and how many 90% intervals "
            "held the truth, with the share's 95% Jeffreys interval. Every measure is in the "
            "last table and in aggregates.csv.",
            tables=[
                (
                    _headline(data.aggregates, data.headline, list(data.scores.run.cells)),
                    "relative bias and 90% coverage per cell (columns)",
                ),
                (cells, "grid cells"),
            ],
        ),
        *geo_section(data.estimands, data.colours),  # geo models: per geo, after the national
        Section(title="Figures", figures=figures),
        Section(
            title="Fits",
            text="Model fit: how well the fitted model predicts its target, per cell (means "
            "over fits, 95% Monte Carlo interval): R², MAPE (a fraction) and CRPS (the "
            "target's units) of the posterior predictive on the training periods (in-sample: "
            "an overfitted model scores well), and MAPE and CRPS on the holdout periods "
            "where the data have them and the model can predict them.",
            tables=[
                (model_fit_table(data.aggregates), "in-sample model fit per cell"),
                (fits[[c for c in FIT_COLUMNS if c in fits]], "one row per fit"),
            ],
        ),
        Section(
            title="All measures",
            tables=[(_without_dates(data.aggregates), "aggregates.csv (per-date rows in the CSV)")],
        ),
    ]


def build_report(run_dir: str | Path, out: str | Path | None = None) -> ReportPaths:
    """Score a run and write its report.

    Parameters
    ----------
    run_dir
        The run directory.
    out
        Output directory (default ``RUN_DIR/report``).

    Returns
    -------
    ReportPaths
        The files written and the run's verdict (shown first on the page).

    Raises
    ------
    mmm_workbench.reports.rundir.RunError
        Not a run directory, another format version, or a run without a single record.
    """
    root = Path(run_dir)
    scores = score_run(root, **score_options())
    scenario_text = _scenario_text(root)
    data = report_data(scores, scenario_text)  # its aggregate table is the verdict's too
    out_dir = Path(out) if out is not None else root / contract.REPORT_DIR
    summary_path = out_dir / "summary.json"
    done: dict[str, Any] = {}

    def judge() -> None:
        done["verdict"] = evaluate(scores)

    def write_tables() -> None:
        done["tables"] = _write_tables(out_dir, data)
        # compact: per-date rows in the CSV; no spaces between items (8% smaller)
        summary = json.dumps(summary_json(scores), default=str, separators=(",", ":"))
        atomic_write(summary_path, lambda p: p.write_text(summary))

    # the figures are drawn in a second process while this one judges the run and writes
    # the tables, and then takes the figures left (parallel.share): the figures are half
    # of the report's time
    pngs = share(lambda i: FIGURES[i].build(data), len(FIGURES), meanwhile=(judge, write_tables))
    verdict: Verdict = done["verdict"]
    table_paths: dict[str, Path] = done["tables"]
    figure_paths, figures = _figures(out_dir, data, pngs)
    errors = _errors(scores)
    page = render_report(
        title=f"{scores.run.manifest.get('scenario', 'run')}: recovery report",
        description=_description(scenario_text),
        metadata=_metadata(scores),
        verdict=_banner(verdict, scores.run.manifest.get("cells", {})),
        errors=errors,
        sections=_sections(data, figures),
    )
    html_path = out_dir / "index.html"
    atomic_write(html_path, lambda p: p.write_text(page))
    return ReportPaths(
        html=html_path,
        summary=summary_path,
        tables=table_paths,
        figures=figure_paths,
        warnings=errors,
        verdict=verdict,
    )
