"""Survey: the clean-fit share of run directories, per scenario and cell (issue 14's target).

Reads run directories written by ``mmm-workbench run`` (it never fits) through the scoring
layer's reader (:func:`mmm_workbench.reports.tables.fit_table`) and prints, per cell:

* ``fits``: fit records on disk (``failed``: failure records or unreadable records);
* ``clean``: fits with 0 divergences and a max R-hat below 1.01 (issue 14's and the
  benchmarks' definition, ``bench/bench_fit.py``, ``bench/bench_families.py``);
* ``healthy``: fits the report classes ``clean`` (:func:`mmm_workbench.reports.aggregate.
  classify_fits` with the default rule set's ``[health]``: 0 divergences, R-hat <= 1.05,
  bulk and tail ESS >= 100, E-BFMI >= 0.3, finite draws);
* ``div/fit``: divergences per fit, and ``div fits``: fits with any divergence;
* ``max R-hat``, ``min bulk ESS``: the worst over the cell's fits;
* ``geometry``: the workbench model's sampling coordinates its fits recorded (several,
  comma-separated, when a run was resumed after a geometry change; ``-`` for other models
  and for records written before fits kept it).

A cell whose fits report no sampler diagnostic (least squares, ADVI, MAP) is listed as not
sampled and left out of the totals: it has no divergences or R-hat to count.

Usage: ``python bench/survey.py RUN_DIR [RUN_DIR ...] [--json FILE] [--no-json]``; writes
``bench/results/survey-<UTC time>.json`` unless told otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_workbench.reports.aggregate import CLEAN, Health, classify_fits
from mmm_workbench.reports.ruleset import load_rules
from mmm_workbench.reports.rundir import RunError, open_run
from mmm_workbench.reports.tables import fit_table

MAX_RHAT = 1.01
"""A clean fit's max R-hat is below this (issue 14)."""

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, kw_only=True)
class CellRow:
    """One cell's fit diagnostics, summed over its fits on disk."""

    scenario: str
    cell: str
    label: str
    backend: str
    geometry: str
    fits: int
    failed: int
    sampled: bool
    clean: int
    healthy: int
    divergent_fits: int
    divergences_per_fit: float
    max_rhat: float
    min_ess_bulk: float
    warnings: dict[str, int]

    @property
    def clean_share(self) -> float:
        """Clean fits of all fits, records and failures (NaN without any)."""
        total = self.fits + self.failed
        return self.clean / total if total else math.nan


def _worst(values: pd.Series, how: str) -> float:
    finite = values.to_numpy(np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return math.nan
    return float(finite.max() if how == "max" else finite.min())


def cell_rows(fits: pd.DataFrame, scenario: str, health: Health | None = None) -> list[CellRow]:
    """Count clean, healthy and divergent fits per cell of a fit table.

    Parameters
    ----------
    fits
        One row per fit, as :func:`mmm_workbench.reports.tables.fit_table` returns it
        (``cell, cell_label, status, backend`` and the diagnostics columns).
    scenario
        The scenario's name, copied to every row.
    health
        The report's thresholds for its ``clean`` class (default: the default rule set's).

    Returns
    -------
    list of CellRow
        One per cell, in the table's order of first appearance. A fit is clean when its
        status is ``ok``, its divergences are 0 and its max R-hat is finite and below
        :data:`MAX_RHAT`; a fit that reports no divergence count is not clean.
    """
    h = health if health is not None else load_rules().health
    classes = classify_fits(fits, h)
    out = []
    for cell in dict.fromkeys(fits["cell"].astype(str)):
        mask = (fits["cell"].astype(str) == cell).to_numpy()
        part = fits.loc[mask]
        ok = part["status"].astype(str) == "ok"
        rhat = part["max_rhat"].to_numpy(np.float64)
        div = part["divergences"].to_numpy(np.float64)
        with np.errstate(invalid="ignore"):
            clean = ok.to_numpy() & (div == 0) & (rhat < MAX_RHAT)
            divergent = ok.to_numpy() & (div > 0)
        reasons = classes.loc[mask & (classes["health"] != CLEAN).to_numpy(), "health_reason"]
        warnings: dict[str, int] = {}
        for text in reasons:
            for reason in str(text).split("; "):
                warnings[reason] = warnings.get(reason, 0) + 1
        n_ok = int(ok.sum())
        div_ok = div[ok.to_numpy() & np.isfinite(div)]
        out.append(
            CellRow(
                scenario=scenario,
                cell=cell,
                label=str(part["cell_label"].iloc[0]),
                backend=",".join(sorted({str(b) for b in part.loc[ok, "backend"] if b})),
                geometry=",".join(
                    sorted({g for g in part.loc[ok, "geometry"] if isinstance(g, str) and g})
                )
                if "geometry" in part
                else "",
                fits=n_ok,
                failed=len(part) - n_ok,
                sampled=bool(np.isfinite(rhat[ok.to_numpy()]).any()),
                clean=int(clean.sum()),
                healthy=int((classes.loc[mask, "health"] == CLEAN).sum()),
                divergent_fits=int(divergent.sum()),
                divergences_per_fit=float(div_ok.mean()) if div_ok.size else math.nan,
                max_rhat=_worst(part.loc[ok, "max_rhat"], "max"),
                min_ess_bulk=_worst(part.loc[ok, "min_ess_bulk"], "min"),
                warnings=dict(sorted(warnings.items())),
            )
        )
    return out


def survey_run(path: str | Path, health: Health | None = None) -> list[CellRow]:
    """Read one run directory and count its fits per cell (:func:`cell_rows`).

    Raises
    ------
    mmm_workbench.reports.rundir.RunError
        ``path`` is not a run directory, or it holds no fit.
    """
    run = open_run(path)
    return cell_rows(fit_table(run), run.name, health)


def totals(rows: Iterable[CellRow]) -> dict[str, dict[str, int]]:
    """Per scenario: sampled fits (records and failures) and how many of them were clean."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        if not row.sampled:
            continue
        t = out.setdefault(row.scenario, {"fits": 0, "clean": 0, "healthy": 0})
        t["fits"] += row.fits + row.failed
        t["clean"] += row.clean
        t["healthy"] += row.healthy
    return out


def _num(value: float, digits: int) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def format_table(rows: Sequence[CellRow]) -> str:
    """Render the rows as a Markdown table, a cell per line, with per-scenario totals."""
    lines = [
        "| scenario | cell | label | geometry | fits | clean | healthy | div fits | div/fit "
        "| max R-hat | min bulk ESS | warnings |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r.sampled:
            clean = healthy = "not sampled"
        else:
            clean = f"{r.clean}/{r.fits + r.failed}"
            healthy = f"{r.healthy}/{r.fits + r.failed}"
        label = r.label if len(r.label) <= 60 else r.label[:57] + "..."
        warn = ", ".join(f"{k} {v}" for k, v in r.warnings.items())
        lines.append(
            f"| {r.scenario} | {r.cell[:8]} | {label} | {r.geometry or '-'} | {r.fits}"
            + (f" (+{r.failed} failed)" if r.failed else "")
            + f" | {clean} | {healthy} | {r.divergent_fits} | {_num(r.divergences_per_fit, 2)} "
            f"| {_num(r.max_rhat, 3)} | {_num(r.min_ess_bulk, 0)} | {warn} |"
        )
    for name, t in totals(rows).items():
        share = t["clean"] / t["fits"] if t["fits"] else math.nan
        lines.append(
            f"| **{name}** | all sampled | | | {t['fits']} | {t['clean']}/{t['fits']} "
            f"({_num(100 * share, 0)}%) | {t['healthy']}/{t['fits']} | | | | | |"
        )
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Print the survey of the run directories given; write its JSON (exit 2 on bad input)."""
    parser = argparse.ArgumentParser(description="Clean-fit share of run directories.")
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    parser.add_argument("--json", type=Path, help="where to write the JSON")
    parser.add_argument("--no-json", action="store_true", help="print only")
    args = parser.parse_args(argv)
    rows: list[CellRow] = []
    for path in args.runs:
        try:
            rows += survey_run(path)
        except RunError as exc:
            print(f"survey: {exc}", file=sys.stderr)
            return 2
    print(format_table(rows))
    if not args.no_json:
        now = dt.datetime.now(dt.UTC)
        target = args.json or RESULTS / f"survey-{now:%Y%m%dT%H%M%SZ}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "created": now.isoformat(timespec="seconds"),
            "definition": f"clean: status ok, 0 divergences, max R-hat < {MAX_RHAT}",
            "load": [round(x, 2) for x in os.getloadavg()],
            "runs": [str(p) for p in args.runs],
            "totals": totals(rows),
            "cells": [_jsonable(asdict(r)) for r in rows],
        }
        target.write_text(json.dumps(document, indent=1) + "\n")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
