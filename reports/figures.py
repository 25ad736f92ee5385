"""Seaborn figures of a scored run.

Each takes tidy frames (from :mod:`mmm_workbench.reports.tables`, :mod:`mmm_workbench.reports.sbc`
and :mod:`mmm_workbench.reports.plotdata`), computes nothing, and returns PNG bytes (or ``None``
when its frame is empty).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "bias_along_axis",
    "coverage_vs_nominal",
    "rank_histograms",
    "recovery_scatter",
    "response_curves",
    "sbc_ecdf_differences",
    "share_true_vs_estimated",
    "z_vs_contraction",
]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def _grid(n: int, width: float = 4.0, height: float = 3.4) -> tuple[Figure, list[Axes]]:
    """Return a figure of ``n`` panels (pyplot-free: no global state, no display backend)."""
    cols = min(n, 3)
    rows = -(-n // cols)
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def recovery_scatter(
    table: pd.DataFrame, estimands: Sequence[str], level: str = "90"
) -> bytes | None:
    """Plot the true value against the posterior mean with its ``level``% interval.

    One panel per estimand, colour by channel; the diagonal is perfect recovery.
    """
    data = table[table["estimand"].isin(estimands)]
    names = [e for e in estimands if e in set(data["estimand"])]
    if not names:
        return None
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names, strict=True):
        d = data[data["estimand"] == name]
        hue = "channel" if "channel" in d and d["channel"].notna().any() else None
        ax.errorbar(
            d["truth"],
            d["mean"],
            # clipped: with every draw equal (a fixed parameter, a point estimate) the mean
            # can differ from the interval's bounds by a rounding error of either sign
            yerr=[
                (d["mean"] - d[f"lower_{level}"]).clip(lower=0.0),
                (d[f"upper_{level}"] - d["mean"]).clip(lower=0.0),
            ],
            fmt="none",
            ecolor="0.75",
            lw=0.8,
            zorder=1,
        )
        sns.scatterplot(data=d, x="truth", y="mean", hue=hue, ax=ax, s=18, zorder=2)
        lo = float(min(d["truth"].min(), d[f"lower_{level}"].min()))
        hi = float(max(d["truth"].max(), d[f"upper_{level}"].max()))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--")
        ax.set(title=name, xlabel="true", ylabel=f"posterior mean ({level}% interval)")
    fig.suptitle("Recovery: truth against posterior")
    return _png(fig)


def coverage_vs_nominal(coverage: pd.DataFrame) -> bytes | None:
    """Plot empirical coverage against the nominal level with its Monte Carlo interval.

    The interval is Jeffreys', one panel per cell; columns ``cell_label, estimand, nominal,
    value, lower, upper``.
    """
    if coverage.empty:
        return None
    cells = list(dict.fromkeys(coverage["cell_label"]))
    fig, axes = _grid(len(cells), 4.6, 3.8)
    for ax, cell in zip(axes, cells, strict=True):
        d = coverage[coverage["cell_label"] == cell]
        for name, g in d.groupby("estimand", sort=True):
            ax.errorbar(
                g["nominal"],
                g["value"],
                yerr=[
                    (g["value"] - g["lower"]).clip(lower=0.0),
                    (g["upper"] - g["value"]).clip(lower=0.0),
                ],
                marker="o",
                ms=3,
                lw=0.8,
                capsize=2,
                label=str(name),
            )
        ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls="--")
        ax.set(xlim=(0.4, 1.0), ylim=(0, 1.02), title=cell, xlabel="nominal", ylabel="coverage")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Interval coverage against nominal (Monte Carlo 95% intervals)")
    return _png(fig)


def bias_along_axis(bias: pd.DataFrame, metric: str = "bias") -> bytes | None:
    """Return a metric against each grid axis, per estimand and channel.

    Columns ``axis, level, estimand, channel, value, lower, upper`` (and ``order``, the levels' x
    order).
    """
    if bias.empty:
        return None
    panels = list(dict.fromkeys(zip(bias["axis"], bias["estimand"], strict=True)))
    fig, axes = _grid(len(panels), 4.6, 3.6)
    for ax, (axis, name) in zip(axes, panels, strict=True):
        d = bias[(bias["axis"] == axis) & (bias["estimand"] == name)]
        for channel, g in d.groupby("channel", sort=False):
            g = g.sort_values("order" if "order" in g else "level")
            ax.errorbar(
                g["level"].astype(str),
                g["value"],
                yerr=[
                    (g["value"] - g["lower"]).clip(lower=0.0),
                    (g["upper"] - g["value"]).clip(lower=0.0),
                ],
                marker="o",
                capsize=3,
                label=str(channel),
            )
        ax.axhline(0.0, color="k", lw=0.8, ls="--")
        ax.set(title=f"{name}", xlabel=str(axis), ylabel=metric)
        ax.legend(fontsize=7)
    fig.suptitle(f"{metric} along the grid axes (Monte Carlo 95% intervals)")
    return _png(fig)


def z_vs_contraction(table: pd.DataFrame, estimands: Sequence[str]) -> bytes | None:
    """Posterior z-score against posterior contraction (Schad, Betancourt & Vasishth 2021).

    Good fits sit near contraction 1 with |z| small.
    """
    data = table[table["estimand"].isin(estimands) & table["contraction"].notna()]
    if data.empty:
        return None
    fig, (ax,) = _grid(1, 6.5, 4.5)
    sns.scatterplot(
        data=data, x="contraction", y="z", hue="estimand", style="cell_label", s=16, ax=ax
    )
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(xlim=(min(0.0, float(data["contraction"].min())), 1.0), title="z-score vs contraction")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return _png(fig)


def rank_histograms(hist: pd.DataFrame, max_panels: int = 24) -> bytes | None:
    """Plot rank histograms, one panel per cell and estimand, one line per coordinate.

    Each has the 99% binomial band under uniform ranks; columns of
    :func:`mmm_workbench.reports.plotdata.rank_histogram_frame` (each panel titled with
    its cell's design, SBC or PIT at a fixed truth); at most ``max_panels`` panels, the
    title saying how many were left out.
    """
    if hist.empty:
        return None
    every = list(dict.fromkeys(zip(hist["cell_label"], hist["estimand"], strict=True)))
    panels = every[:max_panels]
    fig, axes = _grid(len(panels), 3.6, 2.8)
    for ax, (cell, name) in zip(axes, panels, strict=True):
        d = hist[(hist["cell_label"] == cell) & (hist["estimand"] == name)]
        for coords, g in d.groupby("coords", sort=False):
            ax.step(g["bin"], g["count"], where="mid", lw=1.2, label=str(coords) or name)
        first = d.drop_duplicates("bin")
        ax.fill_between(
            first["bin"],
            first["band_lower"],
            first["band_upper"],
            color="0.6",
            alpha=0.3,
            step="mid",
        )
        design = str(d["design"].iloc[0]) if "design" in d else "SBC"
        ax.set(title=f"{cell}: {name}\n({design})", xlabel="rank bin", ylabel="count")
        ax.title.set_fontsize(9)
        if d["coords"].nunique() > 1:
            ax.legend(fontsize=7)
    shown = f", first {len(panels)} of {len(every)} panels" if len(every) > len(panels) else ""
    fig.suptitle(f"Rank histograms per cell (grey: 99% binomial band{shown})")
    return _png(fig)


def sbc_ecdf_differences(ecdf: pd.DataFrame) -> bytes | None:
    """Plot the ECDF of the ranks minus the uniform CDF with simultaneous 95% bands.

    The bands are Saeilynoja et al.'s (2022); columns of
    :func:`mmm_workbench.reports.sbc.sbc_ecdf`.
    """
    if ecdf.empty:
        return None
    names = list(dict.fromkeys(ecdf["estimand"]))
    fig, axes = _grid(len(names), 3.6, 2.8)
    for ax, name in zip(axes, names, strict=True):
        d = ecdf[ecdf["estimand"] == name]
        for _, g in d.groupby(["cell", "coords"], sort=False):
            ax.plot(g["x"], g["ecdf_diff"], lw=0.8)
        first = d.drop_duplicates("x")
        ax.fill_between(
            first["x"], first["lower_diff"], first["upper_diff"], color="0.6", alpha=0.3
        )
        ax.set(title=name, xlabel="fractional rank", ylabel="ECDF - uniform")
    fig.suptitle("Rank ECDF differences (grey: simultaneous 95% band)")
    return _png(fig)


def share_true_vs_estimated(shares: pd.DataFrame) -> bytes | None:
    """Plot the mean true and estimated contribution share per channel and cell.

    The estimate comes with its Monte Carlo interval; columns ``cell_label, channel, truth,
    estimate, lower, upper``.
    """
    if shares.empty:
        return None
    cells = list(dict.fromkeys(shares["cell_label"]))
    fig, axes = _grid(len(cells), 4.6, 3.4)
    for ax, cell in zip(axes, cells, strict=True):
        d = shares[shares["cell_label"] == cell].reset_index(drop=True)
        x = range(len(d))
        ax.bar([i - 0.2 for i in x], d["truth"], width=0.4, label="true", color="0.55")
        ax.bar(
            [i + 0.2 for i in x],
            d["estimate"],
            width=0.4,
            label="estimated",
            color="#d9822b",
            yerr=[
                (d["estimate"] - d["lower"]).clip(lower=0.0),
                (d["upper"] - d["estimate"]).clip(lower=0.0),
            ],
            capsize=3,
        )
        ax.set_xticks(list(x), d["channel"])
        ax.set(title=cell, ylabel="contribution share")
        ax.legend(fontsize=7)
    fig.suptitle("Contribution share: true vs estimated (mean over replicates)")
    return _png(fig)


def response_curves(curves: pd.DataFrame, level: str = "90") -> bytes | None:
    """Plot the true response curve against the posterior mean and ``level``% band.

    For one replicate per cell; columns ``cell_label, channel, spend, truth, mean, lower_L,
    upper_L``.
    """
    if curves.empty:
        return None
    panels = list(dict.fromkeys(zip(curves["cell_label"], curves["channel"], strict=True)))
    fig, axes = _grid(len(panels), 3.8, 3.0)
    for ax, (cell, channel) in zip(axes, panels, strict=True):
        d = curves[(curves["cell_label"] == cell) & (curves["channel"] == channel)].sort_values(
            "spend"
        )
        ax.fill_between(
            d["spend"], d[f"lower_{level}"], d[f"upper_{level}"], alpha=0.3, color="#d9822b"
        )
        ax.plot(d["spend"], d["mean"], color="#d9822b", label="posterior")
        ax.plot(d["spend"], d["truth"], color="k", ls="--", label="true")
        ax.set(title=f"{channel} | {cell}", xlabel="total spend", ylabel="incremental target")
        ax.legend(fontsize=7)
    fig.suptitle(f"Response curves, replicate 0 ({level}% band)")
    return _png(fig)
