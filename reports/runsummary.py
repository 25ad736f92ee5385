"""Per-cell statistics of one ``run``: what the command line shows when a run ends.

The runner hands over one :class:`FitStats` per fit it finished in this run; the counts
of records and failures come from the run directory. The statistics are computed here,
in the scoring layer, so that the command line only presents them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["CellSummary", "FitStats", "summarize_cells"]


@dataclass(frozen=True, kw_only=True)
class FitStats:
    """What one finished fit contributes to its cell's line: wall time and diagnostics."""

    cell_id: str
    seconds: float
    max_rhat: float = math.nan
    divergences: int = 0


@dataclass(frozen=True, kw_only=True)
class CellSummary:
    """One cell's line: records and failures on disk, and this run's fits.

    ``median_s``, ``max_rhat`` and ``divergences`` are ``None`` when the cell had no
    successful fit in this run; ``max_rhat`` is also ``None`` when no fit reported one.
    """

    cell_id: str
    label: str
    records: int
    failures: int
    fitted: int
    median_s: float | None
    max_rhat: float | None
    divergences: int | None


def summarize_cells(
    labels: Mapping[str, str],
    fits: Iterable[FitStats],
    records: Mapping[str, int],
    failures: Mapping[str, int],
) -> list[CellSummary]:
    """One :class:`CellSummary` per cell, in the order of ``labels``.

    Parameters
    ----------
    labels
        Cell id to its grid label, in grid order.
    fits
        The successful fits of this run (fits of cells not in ``labels`` are ignored).
    records, failures
        Cell id to the number of fit records and failure records on disk (absent: 0).

    Returns
    -------
    list of CellSummary
        ``median_s`` is the median wall time (the mean of the middle two for an even
        count); ``max_rhat`` ignores fits without an R-hat (a point estimate has none).
    """
    by_cell: dict[str, list[FitStats]] = {cell: [] for cell in labels}
    for fit in fits:
        if fit.cell_id in by_cell:
            by_cell[fit.cell_id].append(fit)
    out = []
    for cell, label in labels.items():
        done = by_cell[cell]
        rhats = [f.max_rhat for f in done if math.isfinite(f.max_rhat)]
        out.append(
            CellSummary(
                cell_id=cell,
                label=label,
                records=records.get(cell, 0),
                failures=failures.get(cell, 0),
                fitted=len(done),
                median_s=statistics.median(f.seconds for f in done) if done else None,
                max_rhat=max(rhats) if rhats else None,
                divergences=sum(f.divergences for f in done) if done else None,
            )
        )
    return out
