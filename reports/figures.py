"""Seaborn figures of a scored run.

Each takes tidy frames (from :mod:`mmm_workbench.reports.tables`, :mod:`mmm_workbench.reports.sbc`
and :mod:`mmm_workbench.reports.plotdata`), computes nothing, and returns PNG bytes (or ``None``
when its frame is empty).

Conventions every figure keeps:

- **one colour per channel**: a channel is drawn in its colour of :func:`channel_colours`
  (built once per run from its channel order) in every figure, and that palette is used for
  nothing else; other series (estimands, runs) take :data:`SERIES_PALETTE`;
- **a legend on every panel** that draws more than one series, or a reference (a band, the
  truth);
- **at most** :data:`MAX_SERIES` **series per panel**: more are split over further panels;
- **faceted by cell**: no panel mixes the cells of a grid (a good and a biased cell
  overplotted hide each other).
"""

from __future__ import annotations

import io
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from numpy.typing import NDArray
from PIL import Image

__all__ = [
    "CHANNEL_PALETTE",
    "MAX_SERIES",
    "SERIES_PALETTE",
    "bias_along_axis",
    "channel_colours",
    "compare_bias",
    "coverage_vs_nominal",
    "rank_histograms",
    "recovery_scatter",
    "response_curves",
    "sbc_ecdf_differences",
    "share_true_vs_estimated",
    "z_vs_contraction",
]

MAX_SERIES = 8
"""The most series one panel draws; more are split over further panels."""
CHANNEL_PALETTE = (
    "#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#56b4e9",
    "#ece133", "#949494",
)  # fmt: skip
"""Channel colours (seaborn's colour-blind palette), in the run's channel order."""
SERIES_PALETTE = (
    "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666", "#332288",
)  # fmt: skip
"""Colours of series that are not channels (estimands, runs): Dark2 with indigo for its
orange, one per series up to :data:`MAX_SERIES`."""
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def channel_colours(channels: Sequence[Hashable]) -> dict[str, str]:
    """Give each channel its colour, by its place in the run's channel order.

    Parameters
    ----------
    channels
        The run's channels, in order (repeats ignored).

    Returns
    -------
    dict
        Channel name to a hex colour: :data:`CHANNEL_PALETTE` for up to ten channels, an
        evenly spaced HUSL palette beyond.
    """
    unique = list(dict.fromkeys(str(c) for c in channels))
    if len(unique) <= len(CHANNEL_PALETTE):
        palette: Sequence[str] = CHANNEL_PALETTE
    else:
        palette = sns.color_palette("husl", len(unique)).as_hex()
    return dict(zip(unique, palette, strict=False))


def _colour_of(colours: Mapping[str, str], channel: object) -> str:
    return colours.get(str(channel), "0.3")


def _series_colour(i: int) -> str:
    return SERIES_PALETTE[i % len(SERIES_PALETTE)]


def _chunks[T](items: Sequence[T], size: int = MAX_SERIES) -> list[list[T]]:
    """Split ``items`` into runs of at most ``size`` (one panel's series each)."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)] or [[]]


def _part(i: int, n: int) -> str:
    return f" ({i + 1}/{n})" if n > 1 else ""


def _capped[T](panels: list[T], max_panels: int) -> tuple[list[T], str]:
    """Return the first ``max_panels`` panels, and the title's words for those left out."""
    if len(panels) <= max_panels:
        return panels, ""
    return panels[:max_panels], f"; first {max_panels} of {len(panels)} panels"


def _png(fig: Figure) -> bytes:
    """Return the figure as a PNG of at most 256 colours.

    A plot has few colours but antialiasing; the palette PNG is about a third of the
    true-colour one's size (the page of a 1,000-fit run embeds every figure). The figure is
    drawn once, straight into a pixel buffer: ``savefig(bbox_inches="tight")`` drew it a
    second time to find its bounding box (constrained layout already fills the canvas) and
    wrote a true-colour PNG only to decode it again, and the median-cut quantizer took
    about ten times the fast octree's time; together about half of each figure's time on
    a 20-panel figure.
    """
    fig.set_dpi(90)
    _lighten_layout(fig)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # type: ignore[no-untyped-call]
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())  # type: ignore[no-untyped-call]
    palette = rgba.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    palette.save(out, format="PNG")  # zlib's default level: optimize=True took 6 times as
    return out.getvalue()  # long (5% of the figures' time) for files 8% smaller


def _lighten_layout(fig: Figure) -> None:
    """Spare constrained layout work that cannot move anything on these figures.

    Constrained layout measures every panel twice before the figure is drawn, and each
    measure recomputed each axis's ticks up to eleven times: once per spine (a spine's
    extent includes its axis's ticks) and through the automatic title position, which
    measures the y axis again to lift the title above an offset text ("1e6"). With no tick
    marks (seaborn's whitegrid style) the spines lie on the panel's edge, inside what is
    measured anyway, so they are left out of the layout, as is a legend inside its panel
    (measuring it searched the "best" place for it each time); a title is pinned where the
    automatic position puts it (``y = 1``) unless its panel's y axis has an offset text
    (and no panel has ticks on top, which would lift it too). On the report of 100 records
    this took a quarter of each figure's drawing time; the pixels are the same.
    """
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for spine in ax.spines.values():
            spine.set_in_layout(False)
        legend = ax.get_legend()
        if legend is not None and legend.get_bbox_to_anchor() is ax.bbox:
            legend.set_in_layout(False)  # inside the panel, wherever "best" puts it
        if not ax.get_title():
            continue
        formatter = ax.yaxis.get_major_formatter()
        formatter.set_locs(list(ax.yaxis.get_majorticklocs()))
        if not formatter.get_offset():
            ax.set_title(ax.get_title(), y=1.0, fontsize=ax.title.get_fontsize())


def _grid(
    n: int, width: float = 4.0, height: float = 3.4, cols: int = 3
) -> tuple[Figure, list[Axes]]:
    """Return a figure of ``n`` panels (pyplot-free: no global state, no display backend)."""
    cols = max(1, min(n, cols))
    rows = -(-n // cols)
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
        grid = fig.add_gridspec(rows, cols)
        # only the panels drawn: an empty place of the grid takes no part in the layout,
        # as a hidden panel did not, and a panel costs its axes and ticks to make
        axes = [fig.add_subplot(grid[i // cols, i % cols]) for i in range(n)]
    return fig, axes


def _errors(d: pd.DataFrame, value: str, lower: str, upper: str) -> list[NDArray[np.float64]]:
    # clipped: with every draw equal (a fixed parameter, a point estimate) the value can
    # differ from the interval's bounds by a rounding error of either sign
    v, lo, hi = (d[c].to_numpy(np.float64) for c in (value, lower, upper))
    return [np.clip(v - lo, 0.0, None), np.clip(hi - v, 0.0, None)]


def _unique(values: pd.Series) -> list[Any]:
    """Return the distinct values in order of appearance.

    As ``dict.fromkeys``, without a Python loop over every row of the estimand table.
    """
    return list(pd.unique(values))


def _channels_of(frame: pd.DataFrame) -> list[str]:
    if "channel" not in frame:
        return []
    return [str(c) for c in _unique(frame["channel"].dropna())]


def recovery_scatter(
    table: pd.DataFrame,
    estimands: Sequence[str],
    level: str = "90",
    colours: Mapping[str, str] | None = None,
    max_panels: int = 24,
) -> bytes | None:
    """Plot the true value against the posterior mean with its ``level``% interval.

    One panel per cell and estimand (a biased cell never hides behind a good one), one
    colour per channel (:func:`channel_colours`); the diagonal is perfect recovery.
    """
    columns = ["cell_label", "estimand", "truth", "mean", f"lower_{level}", f"upper_{level}"]
    columns += ["channel"] if "channel" in table else []
    data = table.loc[table["estimand"].isin(estimands), columns]  # not the other 50 columns
    names = [e for e in estimands if e in set(_unique(data["estimand"]))]
    if not names:
        return None
    colours = colours if colours is not None else channel_colours(_channels_of(data))
    panels = []
    for cell in _unique(data["cell_label"]):
        mine = data[data["cell_label"] == cell]
        for name in names:
            d = mine[mine["estimand"] == name]
            if d.empty:
                continue
            groups = _chunks(_channels_of(d)) if "channel" in d else [[]]
            for i, chunk in enumerate(groups):
                panels.append((str(cell), name, chunk, _part(i, len(groups))))
    shown, more = _capped(panels, max_panels)
    fig, axes = _grid(len(shown), 3.8, 3.3, cols=min(len(names), 4))
    for ax, (cell, name, chunk, part) in zip(axes, shown, strict=True):
        d = data[(data["cell_label"] == cell) & (data["estimand"] == name)]
        series: list[tuple[str, pd.DataFrame]] = (
            [(c, d[d["channel"] == c]) for c in chunk] if chunk else [("", d)]
        )
        for channel, g in series:
            ax.errorbar(
                g["truth"],
                g["mean"],
                yerr=_errors(g, "mean", f"lower_{level}", f"upper_{level}"),
                fmt="none",
                ecolor="0.75",
                lw=0.8,
                zorder=1,
            )
            colour = _colour_of(colours, channel) if channel else _series_colour(0)
            ax.scatter(g["truth"], g["mean"], s=14, color=colour, label=channel or name, zorder=2)
        lo = float(min(d["truth"].min(), d[f"lower_{level}"].min()))
        hi = float(max(d["truth"].max(), d[f"upper_{level}"].max()))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--", label="truth = estimate")
        ax.set(title=f"{cell}: {name}{part}", xlabel="true", ylabel=f"posterior mean ({level}%)")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.suptitle(f"Recovery per cell: truth against posterior{more}")
    return _png(fig)


def coverage_vs_nominal(coverage: pd.DataFrame, max_panels: int = 24) -> bytes | None:
    """Plot empirical coverage against the nominal level with its Monte Carlo interval.

    The interval is Jeffreys', one panel per cell (and per :data:`MAX_SERIES` estimands);
    columns ``cell_label, estimand, nominal, value, lower, upper``.
    """
    if coverage.empty:
        return None
    every = list(dict.fromkeys(coverage["estimand"].astype(str)))
    panels = []
    for cell in dict.fromkeys(coverage["cell_label"]):
        present = set(coverage.loc[coverage["cell_label"] == cell, "estimand"].astype(str))
        groups = _chunks([e for e in every if e in present])
        panels += [(cell, chunk, _part(i, len(groups))) for i, chunk in enumerate(groups)]
    shown, more = _capped(panels, max_panels)
    fig, axes = _grid(len(shown), 4.6, 3.8)
    for ax, (cell, chunk, part) in zip(axes, shown, strict=True):
        d = coverage[coverage["cell_label"] == cell]
        for name in chunk:
            g = d[d["estimand"].astype(str) == name]
            i = every.index(name)
            ax.errorbar(
                g["nominal"],
                g["value"],
                yerr=_errors(g, "value", "lower", "upper"),
                marker=_MARKERS[i % len(_MARKERS)],
                color=_series_colour(i),
                ms=3,
                lw=0.8,
                capsize=2,
                label=name,
            )
        ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls="--", label="nominal")
        ax.set(
            xlim=(0.4, 1.0), ylim=(0, 1.02), title=f"{cell}{part}", xlabel="nominal",
            ylabel="coverage",
        )  # fmt: skip
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Interval coverage against nominal (Monte Carlo 95% intervals){more}")
    return _png(fig)


def bias_along_axis(
    bias: pd.DataFrame, metric: str = "bias", colours: Mapping[str, str] | None = None
) -> bytes | None:
    """Return a metric against each grid axis, per estimand and channel.

    Columns ``axis, level, estimand, channel, value, lower, upper`` (and ``order``, the levels' x
    order); one colour per channel (:func:`channel_colours`).
    """
    if bias.empty:
        return None
    colours = colours if colours is not None else channel_colours(_channels_of(bias))
    panels = []
    for axis, name in dict.fromkeys(zip(bias["axis"], bias["estimand"], strict=True)):
        d = bias[(bias["axis"] == axis) & (bias["estimand"] == name)]
        groups = _chunks(_channels_of(d))
        panels += [(axis, name, chunk, _part(i, len(groups))) for i, chunk in enumerate(groups)]
    fig, axes = _grid(len(panels), 4.6, 3.6)
    several = False
    for ax, (axis, name, chunk, part) in zip(axes, panels, strict=True):
        d = bias[(bias["axis"] == axis) & (bias["estimand"] == name)]
        ticks = d.drop_duplicates("level")
        ticks = ticks.sort_values("order") if "order" in ticks else ticks.sort_values("level")
        x_of = {str(level): float(i) for i, level in enumerate(ticks["level"])}
        for k, channel in enumerate(chunk):
            g = d[d["channel"].astype(str) == channel]
            g = g.sort_values("order" if "order" in g else "level")
            x = g["level"].astype(str).map(x_of).to_numpy(dtype=float)
            # other grid axes vary too: one point per cell at a level, side by side and not
            # joined (a line through them would zigzag between unrelated cells)
            crowded = g["level"].duplicated().any()
            if crowded:
                several = True
                rank = g.groupby("level", sort=False).cumcount().to_numpy(dtype=float)
                count = g.groupby("level", sort=False)["level"].transform("size").to_numpy()
                x = x + 0.5 * ((rank + 0.5) / count - 0.5) + 0.04 * (k - (len(chunk) - 1) / 2)
            ax.errorbar(
                x,
                g["value"],
                yerr=_errors(g, "value", "lower", "upper"),
                marker="o",
                ms=4 if crowded else 6,
                ls="none" if crowded else "-",
                capsize=2 if crowded else 3,
                color=_colour_of(colours, channel),
                label=channel,
            )
        ax.set_xticks(list(x_of.values()), list(x_of), fontsize=7)
        ax.set_xlim(-0.5, len(x_of) - 0.5)
        ax.axhline(0.0, color="k", lw=0.8, ls="--")
        ax.set(title=f"{name}{part}", xlabel=str(axis), ylabel=metric)
        ax.legend(fontsize=7)
    cells = "; one point per cell where other axes vary" if several else ""
    fig.suptitle(f"{metric} along the grid axes (Monte Carlo 95% intervals{cells})")
    return _png(fig)


def z_vs_contraction(
    table: pd.DataFrame, estimands: Sequence[str], max_panels: int = 12
) -> bytes | None:
    """Posterior z-score against posterior contraction (Schad, Betancourt & Vasishth 2021).

    One panel per cell (and per :data:`MAX_SERIES` estimands), one colour and marker per
    estimand. Good fits sit near contraction 1 with |z| small.
    """
    data = table.loc[
        table["estimand"].isin(estimands) & table["contraction"].notna(),
        ["cell_label", "estimand", "contraction", "z"],
    ]
    if data.empty:
        return None
    every = [e for e in estimands if e in set(_unique(data["estimand"]))]
    panels = []
    for cell in _unique(data["cell_label"]):
        present = set(_unique(data.loc[data["cell_label"] == cell, "estimand"]))
        groups = _chunks([e for e in every if e in present])
        panels += [(cell, chunk, _part(i, len(groups))) for i, chunk in enumerate(groups)]
    shown, more = _capped(panels, max_panels)
    fig, axes = _grid(len(shown), 4.4, 3.6)
    low = min(0.0, float(data["contraction"].min()))
    for ax, (cell, chunk, part) in zip(axes, shown, strict=True):
        d = data[data["cell_label"] == cell]
        for name in chunk:
            g = d[d["estimand"] == name]
            i = every.index(name)
            ax.scatter(
                g["contraction"],
                g["z"],
                s=12,
                color=_series_colour(i),
                marker=_MARKERS[i % len(_MARKERS)],
                label=name,
            )
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set(xlim=(low, 1.0), title=f"{cell}{part}", xlabel="contraction", ylabel="z")
        ax.legend(fontsize=7)
    fig.suptitle(f"z-score vs contraction per cell{more}")
    return _png(fig)


def _coords_colour(coords: str, colours: Mapping[str, str], i: int) -> str:
    """Colour a coordinate: its channel's where it is ``channel=X``, else a series colour."""
    key, _, value = str(coords).partition("=")
    if key == "channel" and value in colours:
        return colours[value]
    return _series_colour(i)


def rank_histograms(
    hist: pd.DataFrame, max_panels: int = 24, colours: Mapping[str, str] | None = None
) -> bytes | None:
    """Plot rank histograms, one panel per cell and estimand, one line per coordinate.

    Each has the 99% binomial band under uniform ranks; columns of
    :func:`mmm_workbench.reports.plotdata.rank_histogram_frame` (each panel titled with
    its cell's design, SBC or PIT at a fixed truth); at most ``max_panels`` panels, the
    title saying how many were left out; a channel's line in its colour.
    """
    if hist.empty:
        return None
    colours = colours if colours is not None else {}
    every = []
    for cell, name in dict.fromkeys(zip(hist["cell_label"], hist["estimand"], strict=True)):
        d = hist[(hist["cell_label"] == cell) & (hist["estimand"] == name)]
        groups = _chunks(list(dict.fromkeys(d["coords"].astype(str))))
        every += [(cell, name, chunk, _part(i, len(groups))) for i, chunk in enumerate(groups)]
    panels, more = _capped(every, max_panels)
    fig, axes = _grid(len(panels), 3.6, 2.8)
    for ax, (cell, name, chunk, part) in zip(axes, panels, strict=True):
        d = hist[(hist["cell_label"] == cell) & (hist["estimand"] == name)]
        for i, coords in enumerate(chunk):
            g = d[d["coords"].astype(str) == coords]
            ax.step(
                g["bin"],
                g["count"],
                where="mid",
                lw=1.2,
                color=_coords_colour(coords, colours, i),
                label=coords or name,
            )
        first = d.drop_duplicates("bin")
        ax.fill_between(
            first["bin"],
            first["band_lower"],
            first["band_upper"],
            color="0.6",
            alpha=0.3,
            step="mid",
            label="99% band",
        )
        design = str(d["design"].iloc[0]) if "design" in d else "SBC"
        ax.set(title=f"{cell}: {name}{part}\n({design})", xlabel="rank bin", ylabel="count")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=6)
    fig.suptitle(f"Rank histograms per cell (grey: 99% binomial band{more})")
    return _png(fig)


def sbc_ecdf_differences(
    ecdf: pd.DataFrame, max_panels: int = 24, colours: Mapping[str, str] | None = None
) -> bytes | None:
    """Plot the ECDF of the ranks minus the uniform CDF with simultaneous 95% bands.

    The bands are Saeilynoja et al.'s (2022); columns of
    :func:`mmm_workbench.reports.sbc.sbc_ecdf`. One panel per cell and estimand (each with
    its own band: cells differ in replicates), one line per coordinate with a legend.
    """
    if ecdf.empty:
        return None
    colours = colours if colours is not None else {}
    label = "cell_label" if "cell_label" in ecdf else "cell"
    every = []
    for cell, name in dict.fromkeys(zip(ecdf[label], ecdf["estimand"], strict=True)):
        d = ecdf[(ecdf[label] == cell) & (ecdf["estimand"] == name)]
        groups = _chunks(list(dict.fromkeys(d["coords"].astype(str))))
        every += [(cell, name, chunk, _part(i, len(groups))) for i, chunk in enumerate(groups)]
    panels, more = _capped(every, max_panels)
    fig, axes = _grid(len(panels), 3.6, 2.8)
    for ax, (cell, name, chunk, part) in zip(axes, panels, strict=True):
        d = ecdf[(ecdf[label] == cell) & (ecdf["estimand"] == name)]
        for i, coords in enumerate(chunk):
            g = d[d["coords"].astype(str) == coords]
            ax.plot(
                g["x"],
                g["ecdf_diff"],
                lw=0.9,
                color=_coords_colour(coords, colours, i),
                label=coords or name,
            )
        first = d[d["coords"].astype(str) == chunk[0]]
        ax.fill_between(
            first["x"],
            first["lower_diff"],
            first["upper_diff"],
            color="0.6",
            alpha=0.3,
            label="95% band",
        )
        ax.set(title=f"{cell}: {name}{part}", xlabel="fractional rank", ylabel="ECDF - uniform")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=6)
    fig.suptitle(f"Rank ECDF differences per cell (grey: simultaneous 95% band{more})")
    return _png(fig)


def share_true_vs_estimated(
    shares: pd.DataFrame, colours: Mapping[str, str] | None = None
) -> bytes | None:
    """Plot the mean true and estimated contribution share per channel and cell.

    The estimate (a bar in its channel's colour) comes with its Monte Carlo interval, the
    truth is the black outline beside it; columns ``cell_label, channel, truth, estimate,
    lower, upper``.
    """
    if shares.empty:
        return None
    colours = colours if colours is not None else channel_colours(_channels_of(shares))
    cells = list(dict.fromkeys(shares["cell_label"]))
    fig, axes = _grid(len(cells), 4.6, 3.4)
    for ax, cell in zip(axes, cells, strict=True):
        d = shares[shares["cell_label"] == cell].reset_index(drop=True)
        x = range(len(d))
        ax.bar([i - 0.2 for i in x], d["truth"], width=0.4, facecolor="none", edgecolor="k", lw=1.0)
        ax.bar(
            [i + 0.2 for i in x],
            d["estimate"],
            width=0.4,
            color=[_colour_of(colours, c) for c in d["channel"]],
            yerr=_errors(d, "estimate", "lower", "upper"),
            capsize=3,
        )
        ax.set_xticks(list(x), d["channel"].astype(str))
        ax.set(title=str(cell), ylabel="contribution share")
        ax.legend(
            handles=[
                Patch(facecolor="none", edgecolor="k", label="true"),
                Patch(facecolor="0.5", label="estimated (channel colour)"),
            ],
            fontsize=7,
        )
    fig.suptitle("Contribution share: true vs estimated (mean over replicates)")
    return _png(fig)


def response_curves(
    curves: pd.DataFrame,
    level: str = "90",
    colours: Mapping[str, str] | None = None,
    max_panels: int = 24,
) -> bytes | None:
    """Plot the true response curve against the posterior mean and ``level``% band.

    For one replicate per cell; columns ``cell_label, channel, spend, multiplier, truth,
    mean, lower_L, upper_L`` (:func:`mmm_workbench.reports.plotdata.curve_frame`). The x
    axis is the training window's spend where ``spend`` is known for the whole panel, else
    the spend multiplier, and says which; a dotted line marks the observed spend.
    """
    if curves.empty:
        return None
    colours = colours if colours is not None else channel_colours(_channels_of(curves))
    every = list(dict.fromkeys(zip(curves["cell_label"], curves["channel"], strict=True)))
    panels, more = _capped(every, max_panels)
    fig, axes = _grid(len(panels), 3.8, 3.0)
    for ax, (cell, channel) in zip(axes, panels, strict=True):
        d = curves[(curves["cell_label"] == cell) & (curves["channel"] == channel)]
        spend = "spend" in d and bool(d["spend"].notna().all())
        x = "spend" if spend else "multiplier"
        d = d.sort_values(x)
        colour = _colour_of(colours, channel)
        ax.fill_between(
            d[x], d[f"lower_{level}"], d[f"upper_{level}"], alpha=0.3, color=colour,
            label=f"posterior {level}%",
        )  # fmt: skip
        ax.plot(d[x], d["mean"], color=colour, label="posterior mean")
        ax.plot(d[x], d["truth"], color="k", ls="--", label="true")
        observed = d.loc[(d["multiplier"].astype(float) - 1.0).abs() < 1e-9, x]
        if len(observed):
            ax.axvline(float(observed.iloc[0]), color="0.4", lw=0.8, ls=":", label="observed")
        xlabel = "spend, training window" if spend else "spend multiplier (x observed spend)"
        ax.set(title=f"{channel} | {cell}", xlabel=xlabel, ylabel="incremental target")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=6)
    fig.suptitle(f"Response curves, replicate 0 ({level}% band{more})")
    return _png(fig)


def compare_bias(bias: pd.DataFrame, max_panels: int = 24) -> bytes | None:
    """Plot a headline measure per cell, one series per run, with Monte Carlo intervals.

    Columns ``cell, item, metric, run, value, lower, upper`` (one row per cell, item, run);
    one panel per cell (and per :data:`MAX_SERIES` runs), runs dodged along each item.
    """
    d = bias[pd.to_numeric(bias["value"], errors="coerce").notna()] if len(bias) else bias
    if d.empty:
        return None
    runs = list(dict.fromkeys(d["run"].astype(str)))
    groups = _chunks(runs)
    every = [
        (cell, chunk, _part(i, len(groups)))
        for cell in dict.fromkeys(d["cell"])
        for i, chunk in enumerate(groups)
    ]
    panels, more = _capped(every, max_panels)
    fig, axes = _grid(len(panels), 5.0, 3.4, cols=2)
    for ax, (cell, chunk, part) in zip(axes, panels, strict=True):
        mine = d[d["cell"] == cell]
        items = list(dict.fromkeys(mine["item"]))
        width = 0.8 / max(len(chunk), 1)
        for j, run in enumerate(chunk):
            g = mine[mine["run"].astype(str) == run].set_index("item").reindex(items)
            xs = [k - 0.4 + width * (j + 0.5) for k in range(len(items))]
            i = runs.index(run)
            ax.errorbar(
                xs,
                g["value"].astype(float),
                yerr=_errors(g.astype({"value": float, "lower": float, "upper": float}),
                             "value", "lower", "upper"),
                fmt=_MARKERS[i % len(_MARKERS)],
                color=_series_colour(i),
                capsize=2,
                ms=4,
                label=run,
            )  # fmt: skip
        ax.axhline(0.0, color="k", lw=0.8, ls="--")
        ax.set_xticks(range(len(items)), items, fontsize=7)
        metric = str(mine["metric"].iloc[0])
        ax.set(title=f"{cell}{part}", ylabel=metric.replace("_", " "))
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.suptitle(f"Headline bias per cell and run (Monte Carlo 95% intervals{more})")
    return _png(fig)
