"""Build a run's report: ``report/index.html`` (self-contained), ``summary.json``, the tables
as CSV and the figures as PNG."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_workbench.reports import figures as fig
from mmm_workbench.reports import plotdata
from mmm_workbench.reports.html import Section, render_report
from mmm_workbench.reports.sbc import sbc_ecdf
from mmm_workbench.reports.tables import RunScores, aggregate_table, score_run, summary_json

__all__ = ["ReportPaths", "build_report"]

PER_CHANNEL = (
    "contribution_share", "contribution_total", "roas", "mroas", "saturation_beta",
    "adstock_alpha", "saturation_lam",
)  # fmt: skip
HEADLINE = ("contribution_share", "roas", "mroas")


@dataclass(frozen=True, kw_only=True)
class ReportPaths:
    """What :func:`build_report` wrote."""

    html: Path
    summary: Path
    tables: dict[str, Path]
    figures: dict[str, Path]
    warnings: list[str]


def _grid_axes(scenario: Path) -> list[list[str]] | None:
    """The run's grid axes, each a list of paths (several for a ``[[grid.zip]]`` axis), from
    the scenario text the run directory keeps; None when it is missing or unreadable."""
    try:
        grid = tomllib.loads(scenario.read_text()).get("grid", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    axes = [[str(path)] for path in grid if path != "zip"]
    return axes + [[str(path) for path in zipped] for zipped in grid.get("zip", [])]


def _warnings(scores: RunScores) -> tuple[list[str], list[str]]:
    fits = scores.fits
    errors, warnings = [], []
    failed = fits[fits["status"] == "failed"]
    corrupt = fits[fits["status"] == "corrupt"]
    if len(failed):
        errors.append(
            f"{len(failed)} of {len(fits)} fits failed and are not scored; first: "
            f"cell {failed.iloc[0]['cell']} replicate {failed.iloc[0]['replicate']}: "
            f"{failed.iloc[0]['error']}"
        )
    if len(corrupt):
        errors.append(f"{len(corrupt)} fit records could not be read and were skipped")
    ok = fits[fits["status"] == "ok"]
    if "divergences" in ok and (ok["divergences"].fillna(0) > 0).any():
        n = int((ok["divergences"].fillna(0) > 0).sum())
        warnings.append(f"{n} of {len(ok)} fits had divergent transitions")
    if "max_rhat" in ok and (ok["max_rhat"].fillna(1.0) > 1.01).any():
        n = int((ok["max_rhat"].fillna(1.0) > 1.01).sum())
        warnings.append(f"{n} of {len(ok)} fits had a max R-hat above 1.01")
    return errors, warnings


def _headline(agg: pd.DataFrame) -> pd.DataFrame:
    metrics = ("bias", "relative_bias", "rmse", "coverage_50", "coverage_90", "coverage_95")
    d = agg[
        agg["estimand"].isin(HEADLINE) & agg["metric"].isin(metrics) & ~agg["pooled"].astype(bool)
    ]
    d = d.assign(
        text=[
            f"{v:.3g} ± {m:.2g}" if isinstance(m, float) and math.isfinite(m) else f"{v:.3g}"
            for v, m in zip(d["value"], d["mcse"], strict=True)
        ]
    )
    wide = d.pivot_table(
        index=["cell_label", "estimand", "coords"], columns="metric", values="text", aggfunc="first"
    )
    wide.columns.name = None
    return wide.reset_index()[
        ["cell_label", "estimand", "coords", *[m for m in metrics if m in wide]]
    ]


def build_report(run_dir: str | Path, out: str | Path | None = None) -> ReportPaths:
    """Score a run and write its report.

    Parameters
    ----------
    run_dir
        The run directory.
    out
        Output directory (default ``RUN_DIR/report``).

    Raises
    ------
    mmm_workbench.reports.records.RunError
        Not a run directory, or a run without a single record.
    """
    scores = score_run(run_dir)
    agg = aggregate_table(scores)
    out_dir = Path(out) if out is not None else Path(run_dir) / "report"
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = json.loads((Path(run_dir) / "manifest.json").read_text())
    overrides = {c: info.get("overrides", []) for c, info in manifest.get("cells", {}).items()}
    axes = _grid_axes(Path(run_dir) / "scenario.toml")

    tables = {"estimands": scores.estimands, "fits": scores.fits, "aggregates": agg}
    table_paths = {}
    for name, frame in tables.items():
        table_paths[name] = out_dir / f"{name}.csv"
        frame.to_csv(table_paths[name], index=False)
    summary = summary_json(scores)
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, default=str))

    est = scores.estimands
    ecdf = sbc_ecdf(est, estimands=list(HEADLINE))
    made = {
        "recovery": (
            fig.recovery_scatter(est, PER_CHANNEL),
            "True value against posterior mean with 90% intervals, every replicate and channel.",
        ),
        "shares": (
            fig.share_true_vs_estimated(plotdata.share_frame(est)),
            "Contribution share per channel: mean truth and mean estimate over replicates.",
        ),
        "coverage": (
            fig.coverage_vs_nominal(plotdata.coverage_frame(agg)),
            "Coverage of central intervals at 50/80/90/95% against nominal.",
        ),
        "bias_axes": (
            fig.bias_along_axis(plotdata.axis_frame(agg, overrides, HEADLINE, axes=axes)),
            "Bias of the headline estimands along each grid axis.",
        ),
        "z_contraction": (
            fig.z_vs_contraction(est, PER_CHANNEL),
            "Posterior z-score against posterior contraction.",
        ),
        "sbc_ranks": (
            fig.rank_histograms(plotdata.rank_histogram_frame(est)),
            "SBC rank histograms, pooled over cells and channels.",
        ),
        "sbc_ecdf": (
            fig.sbc_ecdf_differences(ecdf),
            "SBC ECDF differences with simultaneous 95% bands.",
        ),
        "response": (
            fig.response_curves(plotdata.curve_frame(est)),
            "Response curves: truth against the posterior, replicate 0 of each cell.",
        ),
    }
    figure_paths, figures = {}, []
    for name, (png, caption) in made.items():
        if png is None:
            continue
        figure_paths[name] = out_dir / "figures" / f"{name}.png"
        figure_paths[name].write_bytes(png)
        figures.append((png, caption))

    errors, warnings = _warnings(scores)
    counts = scores.fits["status"].value_counts().to_dict()
    metadata = {
        "scenario": manifest.get("scenario", ""),
        "cells": len(manifest.get("cells", {})),
        "replicates": manifest.get("replicates", ""),
        "fits": ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
        "backend": ", ".join(sorted(set(scores.fits["backend"].dropna().astype(str))))
        if "backend" in scores.fits
        else "",
        "started": manifest.get("started", ""),
        "finished": manifest.get("finished", ""),
        "versions": ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items()),
    }
    cells = pd.DataFrame(
        [
            {"cell": c, "grid": info.get("label", "")}
            for c, info in manifest.get("cells", {}).items()
        ]
    )
    fit_cols = [
        c
        for c in (
            "cell",
            "replicate",
            "status",
            "max_rhat",
            "min_ess_bulk",
            "divergences",
            "tune_s",
            "draw_s",
            "error",
        )
        if c in scores.fits
    ]
    sections = [
        Section(
            title="Headline: recovery of shares, ROAS and mROAS",
            text="Per cell and channel, each measure with its Monte Carlo standard error.",
            tables=[
                (_headline(agg), "bias, relative bias, RMSE and coverage"),
                (cells, "grid cells"),
            ],
        ),
        Section(title="Figures", figures=figures),
        Section(title="Fits", tables=[(scores.fits[fit_cols], "one row per fit")]),
        Section(title="All measures", tables=[(agg, "aggregates.csv")]),
    ]
    scenario_text = (Path(run_dir) / "scenario.toml").read_text()
    description = _description(scenario_text)
    page = render_report(
        title=f"{manifest.get('scenario', 'run')}: recovery report",
        description=description,
        metadata=metadata,
        warnings=warnings,
        errors=errors,
        sections=sections,
    )
    html_path = out_dir / "index.html"
    html_path.write_text(page)
    return ReportPaths(
        html=html_path,
        summary=summary_path,
        tables=table_paths,
        figures=figure_paths,
        warnings=errors + warnings,
    )


def _description(scenario_text: str) -> str:
    import tomllib

    try:
        return str(tomllib.loads(scenario_text).get("description", ""))
    except tomllib.TOMLDecodeError:
        return ""
