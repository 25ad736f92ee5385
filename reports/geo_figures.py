"""The report's per-geo part: a geo model's estimands per geo, faceted, after the national verdict.

A run whose records hold per-geo estimands (a geo model's ``geo_roas``,
``geo_contribution_share``, ...: family ``geo``, scored against ``/truth/geo``) gets one
section, placed after the national headline (the verdict and the national recovery come
first; the default rules judge the national estimands only). It holds:

- a figure faceted by estimand (rows: per-geo ROAS, per-geo contribution share) and cell
  (columns): per geo, the relative bias of the posterior mean, mean over replicates, with
  its 95% Monte Carlo interval, one colour per channel (:func:`~.figures.channel_colours`),
  and the same channel's national relative bias as a dashed line;
- a table per cell and channel: the median and largest absolute relative bias over geos,
  and the share of the geos' 90% intervals that held the truth, beside the national
  estimand's bias and coverage.

Pure pandas and matplotlib, like :mod:`~mmm_workbench.reports.figures`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmm_workbench.reports.html import Section
from mmm_workbench.reports.tables import GEO_FAMILY

__all__ = ["GEO_SHOWN", "geo_bias_figure", "geo_section", "geo_summary", "geo_table"]

GEO_SHOWN = {"geo_roas": "roas", "geo_contribution_share": "contribution_share"}
"""The per-geo estimands the section shows, each with its national counterpart."""
MAX_CELLS = 4
"""The most cells (columns) one figure facets; further cells get further figures."""


def geo_table(estimands: pd.DataFrame) -> pd.DataFrame:
    """Return the per-geo estimands of the shown kinds, one row per fit and coordinate.

    Parameters
    ----------
    estimands
        The run's estimand table (:func:`mmm_workbench.reports.tables.estimand_table`).

    Returns
    -------
    pandas.DataFrame
        ``cell, cell_label, replicate, estimand, geo, channel, truth, mean, covered_90``
        of the :data:`GEO_SHOWN` estimands and their national counterparts (``geo`` NaN),
        in the cells that have per-geo estimands; empty where none has.
    """
    columns = ["cell", "cell_label", "replicate", "estimand", "geo", "channel"]
    values = ["truth", "mean", "covered_90"]
    if "family" not in estimands or "geo" not in estimands:
        return pd.DataFrame(columns=[*columns, *values])
    per_geo = estimands["family"].astype(str) == GEO_FAMILY
    cells = set(estimands.loc[per_geo, "cell"].astype(str))
    wanted = estimands["estimand"].astype(str).isin([*GEO_SHOWN, *GEO_SHOWN.values()])
    rows = estimands[wanted & estimands["cell"].astype(str).isin(cells)]
    return rows.reindex(columns=[*columns, *values]).reset_index(drop=True)


def geo_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Return the relative bias per cell, estimand, geo and channel, over replicates.

    ``rel_bias`` is the mean over replicates of ``mean / truth - 1``, ``mcse`` its Monte
    Carlo standard error (sd over replicates over the root of their number; NaN for one),
    ``coverage_90`` the share of replicates whose 90% interval held the truth. National
    rows have ``geo`` NaN.
    """
    if table.empty:
        return pd.DataFrame(
            columns=["cell", "cell_label", "estimand", "geo", "channel", "rel_bias", "mcse"]
        )
    rel = table.assign(
        rel=table["mean"].astype(float) / table["truth"].astype(float) - 1.0,
        covered=table["covered_90"].astype(float),
        geo=table["geo"].astype(object).where(table["geo"].notna(), ""),
    )
    keys = ["cell", "cell_label", "estimand", "geo", "channel"]
    grouped = rel.groupby(keys, sort=False, observed=True)
    out = grouped.agg(
        rel_bias=("rel", "mean"),
        sd=("rel", "std"),
        n=("rel", "size"),
        coverage_90=("covered", "mean"),
    ).reset_index()
    out["mcse"] = out["sd"] / np.sqrt(out["n"])
    return out.drop(columns="sd")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)  # an Agg canvas: no pyplot, no display
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90)
    return out.getvalue()


def geo_bias_figure(
    summary: pd.DataFrame, colours: Mapping[str, str], cells: list[str]
) -> bytes | None:
    """Draw the per-geo relative bias, faceted by estimand (rows) and cell (columns).

    Parameters
    ----------
    summary
        :func:`geo_summary`'s table.
    colours
        Each channel's colour.
    cells
        The cells (labels) to draw, in order: one column each.

    Returns
    -------
    bytes or None
        A PNG, or None where ``summary`` has no per-geo row.
    """
    per_geo = summary[summary["geo"].astype(str) != ""]
    if per_geo.empty or not cells:
        return None
    geos = list(dict.fromkeys(per_geo["geo"].astype(str)))
    channels = list(dict.fromkeys(per_geo["channel"].astype(str)))
    n_rows, n_cols = len(GEO_SHOWN), len(cells)
    fig = Figure(figsize=(max(4.5 * n_cols, 6.0), 3.2 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True)
    width = 0.8 / max(len(channels), 1)
    x = np.arange(len(geos))
    for i, (estimand, national) in enumerate(GEO_SHOWN.items()):
        for j, cell in enumerate(cells):
            ax = axes[i][j]
            ax.axhline(0.0, color="0.5", lw=0.8)
            here = summary[summary["cell_label"].astype(str) == cell]
            for k, channel in enumerate(channels):
                colour = colours.get(channel, "0.3")
                rows = here[
                    (here["estimand"] == estimand) & (here["channel"].astype(str) == channel)
                ].set_index("geo")
                rows = rows.reindex(geos)
                offset = x + (k - (len(channels) - 1) / 2) * width
                ax.errorbar(
                    offset,
                    100 * rows["rel_bias"].to_numpy(float),
                    yerr=100 * 1.96 * rows["mcse"].fillna(0.0).to_numpy(float),
                    fmt="o",
                    ms=4,
                    color=colour,
                    label=channel,
                )
                nat = here[
                    (here["estimand"] == national) & (here["channel"].astype(str) == channel)
                ]
                if len(nat):
                    ax.axhline(100 * float(nat["rel_bias"].iloc[0]), color=colour, ls="--", lw=1)
            ax.set_title(f"{cell}: {estimand.removeprefix('geo_').replace('_', ' ')} per geo")
            ax.set_ylabel("relative bias (%)" if j == 0 else "")
            ax.set_xticks(x, geos, rotation=90, fontsize=7)
            ax.legend(fontsize=7, title="channel (dashed: national)", title_fontsize=7)
    return _png(fig)


def _cell_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per cell and channel: per-geo bias and coverage beside the national estimand's."""
    rows = []
    for (label, channel), group in summary.groupby(["cell_label", "channel"], sort=False):
        for estimand, national in GEO_SHOWN.items():
            geo = group[(group["estimand"] == estimand) & (group["geo"].astype(str) != "")]
            nat = group[group["estimand"] == national]
            if geo.empty:
                continue
            absolute = geo["rel_bias"].abs()
            rows.append(
                {
                    "cell": label,
                    "channel": channel,
                    "estimand": estimand,
                    "geos": len(geo),
                    "median |bias| over geos": f"{100 * absolute.median():.1f}%",
                    "largest |bias|": f"{100 * absolute.max():.1f}%",
                    "90% covered, geos": f"{100 * geo['coverage_90'].mean():.0f}%",
                    "national bias": f"{100 * nat['rel_bias'].iloc[0]:+.1f}%" if len(nat) else "",
                    "90% covered, national": (
                        f"{100 * nat['coverage_90'].iloc[0]:.0f}%" if len(nat) else ""
                    ),
                }
            )
    return pd.DataFrame(rows)


def geo_section(estimands: pd.DataFrame, colours: Mapping[str, str]) -> list[Section]:
    """Return the report's per-geo section, or none where the run has no per-geo estimands.

    Parameters
    ----------
    estimands
        The run's estimand table.
    colours
        Each channel's colour.

    Returns
    -------
    list of Section
        One section (figures faceted by cell, :data:`MAX_CELLS` a figure, and a table), or
        an empty list.
    """
    summary = geo_summary(geo_table(estimands))
    if summary.empty or not (summary["geo"].astype(str) != "").any():
        return []
    cells = list(dict.fromkeys(summary["cell_label"].astype(str)))
    figures = []
    for start in range(0, len(cells), MAX_CELLS):
        png = geo_bias_figure(summary, colours, cells[start : start + MAX_CELLS])
        if png is not None:
            figures.append(
                (
                    png,
                    "Per geo: relative bias of the posterior mean (mean over replicates, 95% "
                    "Monte Carlo interval) of each geo's ROAS and contribution share, scored "
                    "against the per-geo truth; dashed, the same channel's national bias.",
                )
            )
    return [
        Section(
            title="Per geo",
            text="The geo models' estimands per geo, against each geo's own truth. The "
            "verdict above judges the national estimands only (the default rules leave the "
            "per-geo family out, so many geos do not multiply its checks); a rules file may "
            'judge them with family = "geo".',
            figures=figures,
            tables=[(_cell_table(summary), "per-geo recovery per cell and channel")],
        )
    ]
