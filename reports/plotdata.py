"""Frames the figures draw, derived from the scored tables (so that figures compute nothing).

Coverage by level, a metric along each grid axis, contribution shares, rank histograms with binomial
bands, response curves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mmm_workbench.reports.contract import CHANNEL
from mmm_workbench.reports.sbc import rank_histogram, truth_design

__all__ = [
    "axis_frame",
    "cell_words",
    "channel_estimands",
    "coverage_frame",
    "curve_frame",
    "design_words",
    "every_cell",
    "level_words",
    "rank_histogram_frame",
    "share_frame",
]


def coverage_frame(aggregates: pd.DataFrame) -> pd.DataFrame:
    """Pooled coverage of the central intervals per (cell, estimand, level).

    ``cell_label, estimand, nominal, value, lower, upper`` (other interval kinds,
    ``coverage_hdi_90``, are left out).
    """
    rows = aggregates[
        aggregates["metric"].astype(str).str.fullmatch(r"coverage_\d+(\.\d+)?")
        & aggregates["pooled"].astype(bool)
    ]
    out = rows[["cell_label", "estimand", "metric", "value", "lower", "upper"]].copy()
    out["nominal"] = out["metric"].str.removeprefix("coverage_").astype(float) / 100
    return out.drop(columns="metric").sort_values(["cell_label", "estimand", "nominal"])


def channel_estimands(table: pd.DataFrame) -> list[str]:
    """Return the estimands with one value per channel and no other dimension.

    These are shares, ROAS, the transform parameters of whatever family a model has, in the
    order of the estimand table, which is the records' order.
    """
    if table.empty:
        return []
    pattern = re.compile(rf"{CHANNEL}=[^,]*")
    coords = table["coords"].astype(str)
    matches = {c: bool(pattern.fullmatch(c)) for c in coords.unique()}  # not once per row
    per_channel = coords.map(matches)
    every = per_channel.groupby(table["estimand"], sort=False).all()
    return [str(name) for name, ok in every.items() if ok]


def _channel(coords: str) -> str:
    parts = dict(p.split("=", 1) for p in str(coords).split(",") if "=" in p)
    return parts.get("channel", "all")


def axis_frame(
    aggregates: pd.DataFrame,
    overrides: Mapping[str, Sequence[Sequence[Any]]],
    estimands: Sequence[str],
    metric: str = "bias",
    axes: Sequence[Sequence[str]] | None = None,
) -> pd.DataFrame:
    """``metric`` of per-channel estimands against every grid axis.

    ``axis, level, order, estimand, channel, value, lower, upper`` (empty without a grid).

    ``axes`` lists each grid axis's paths (a ``[[grid.zip]]`` axis has several, varied
    together: one axis whose levels are labelled ``name=value`` per path, one per line); by
    default every overridden path is an axis of its own. ``order`` is the level's position
    along its axis in the order of ``overrides`` (the manifest's, the grid's), the x-axis
    order of :func:`mmm_workbench.reports.figures.bias_along_axis`.
    """
    rows = aggregates[
        (aggregates["metric"] == metric)
        & aggregates["estimand"].isin(estimands)
        & ~aggregates["pooled"].astype(bool)
    ]

    seen = _levels(overrides.values())  # every path's levels over the run's cells

    def levels(cell: str) -> list[tuple[str, str]]:
        values = {str(path): value for path, value in overrides.get(cell, ())}
        out = []
        for paths in axes if axes is not None else [[path] for path in values]:
            if not all(path in values for path in paths):
                continue
            if len(paths) == 1:
                out.append((paths[0], level_words(values[paths[0]], seen[paths[0]])))
            else:
                names = _short_paths(paths)
                label = "\n".join(f"{names[p]}={level_words(values[p], seen[p])}" for p in paths)
                out.append((" + ".join(paths), label))
        return out

    order: dict[str, dict[str, int]] = {}
    for cell in overrides:  # the manifest lists cells in grid order
        for axis, level in levels(str(cell)):
            order.setdefault(axis, {}).setdefault(level, len(order[axis]))
    out = []
    for _, row in rows.iterrows():
        for axis, level in levels(str(row["cell"])):
            out.append(
                {
                    "axis": axis,
                    "level": level,
                    "order": order[axis][level],
                    "estimand": row["estimand"],
                    "channel": _channel(row["coords"]),
                    "value": row["value"],
                    "lower": row["lower"],
                    "upper": row["upper"],
                }
            )
    columns = ["axis", "level", "order", "estimand", "channel", "value", "lower", "upper"]
    return pd.DataFrame(out, columns=columns)


def level_words(value: Any, levels: Sequence[Any]) -> str:
    """Return a grid level as an axis tick says it, short beside the axis's other levels.

    A number or string as it is (``0.1``, ``nnls``); a table (a ``spend`` plan, a whole
    ``[model]``) by the entries that differ between the axis's levels only, its ``kind`` or
    ``pattern`` alone where that differs (``pattern=flighted``: the level and noise shared
    by every level, and the flighting's own entries, are left out); an array of tables by
    its length (``[2 tables]``).
    """
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={value[k]}" for k in _table_keys(value, levels))
    if isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        return f"[{len(value)} tables]"
    return str(value)


SHORT_LABEL = 60
"""The longest cell label :func:`cell_words` leaves whole in every run (``quickstart``'s
``data.proxy.noise_sd=0.2``; ``design-sweep``'s are about 190 characters)."""


def _levels(overrides: Iterable[Sequence[Sequence[Any]]]) -> dict[str, list[Any]]:
    """Each override path's values over the cells (one ``[(path, value), ...]`` a cell)."""
    seen: dict[str, list[Any]] = {}
    for cell in overrides:
        for path, value in cell:
            seen.setdefault(str(path), []).append(value)
    return seen


def every_cell(named: Sequence[Any], labels: set[str]) -> str | None:
    """Say ``both cells`` or ``all N cells`` where ``named`` is every cell of the run.

    Else None. What all cells (``labels``) share names none of them: labels can be whole
    tables.
    """
    shown = {str(n) for n in named}
    if len(shown) > 1 and shown == labels:
        return "both cells" if len(shown) == 2 else f"all {len(shown)} cells"
    return None


def _table_keys(value: Mapping[str, Any], levels: Sequence[Any]) -> list[str]:
    """Return the entries of a table-valued level that differ between the levels."""
    tables = [v for v in levels if isinstance(v, Mapping)]
    keys = [k for k in value if len({repr(t.get(k)) for t in tables}) > 1]
    # a kind or pattern that differs says it (its own entries follow from it)
    return [k for k in keys if k in ("kind", "pattern")] or keys or list(value)


def cell_words(cells: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Return each cell's grid label as the verdict says it, short beside the run's others.

    ``cells`` is the manifest's (``{id: {"label", "overrides"}}``); the result maps each
    full label to its short one. Overrides equal in every cell are left out, each path is
    named by its shortest dotted suffix no other path shares (``tv.spend``), a table by
    the entries that differ between the cells (:func:`level_words`: ``tv.spend.pattern=
    flighted``), an array of tables by its length. A path of three parts or more keeps two
    (``tv.spend``, ``noise.sd``): one alone (``spend``, ``sd``) would not say whose. A label
    that would not tell its cell from another stays whole, and a run whose labels are all
    at most :data:`SHORT_LABEL` characters keeps them (they say the override's whole path,
    as ``check`` and the tables do).
    """
    rows = [(str(i.get("label", c)), list(i.get("overrides", []))) for c, i in cells.items()]
    if all(len(label) <= SHORT_LABEL for label, _ in rows):  # as check and the tables say them
        return {label: label for label, _ in rows}
    seen = _levels(overrides for _, overrides in rows)
    varied = [p for p, v in seen.items() if len({repr(x) for x in v}) > 1] or list(seen)
    names = _short_paths(varied, least=2)
    out = {}
    for label, overrides in rows:
        words = []
        for path, value in overrides:
            if path not in names:
                continue
            if isinstance(value, Mapping):
                keys = _table_keys(value, seen[path])
                words += [f"{names[path]}.{k}={value[k]}" for k in keys]
            else:
                words.append(f"{names[path]}={level_words(value, seen[path])}")
        out[label] = ", ".join(words) or label
    if len(set(out.values())) < len(out):
        return {label: label for label in out}
    return out


def _short_paths(paths: Sequence[str], least: int = 1) -> dict[str, str]:
    """Name each path by its shortest dotted suffix no other path of the axis shares.

    At least ``least`` parts where the path has more than that (the channel of
    ``data.channels.tv.spend`` at 2).
    """
    out = {}
    for path in paths:
        parts = path.split(".")
        for n in range(min(least, len(parts) - 1) or 1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(o != path and o.endswith(suffix) for o in paths):
                break
        out[path] = suffix
    return out


def share_frame(table: pd.DataFrame, ci_prob: float = 0.95) -> pd.DataFrame:
    """Return the mean true and estimated contribution share per (cell, channel).

    Means over replicates, the estimate with its normal Monte Carlo interval.
    """
    d = table[table["estimand"] == "contribution_share"]
    if d.empty:
        return pd.DataFrame(
            columns=["cell_label", "channel", "truth", "estimate", "lower", "upper"]
        )
    z = float(stats.norm.ppf(0.5 + ci_prob / 2))
    g = d.groupby(["cell_label", "channel"], sort=False)
    out = g.agg(
        truth=("truth", "mean"), estimate=("mean", "mean"), sd=("mean", "std"), n=("mean", "size")
    ).reset_index()
    half = z * out["sd"].fillna(0.0) / np.sqrt(out["n"])
    out["lower"], out["upper"] = out["estimate"] - half, out["estimate"] + half
    return out.drop(columns=["sd", "n"])


def rank_histogram_frame(
    table: pd.DataFrame,
    estimands: Sequence[str] | None = None,
    bins: int = 10,
    band: float = 0.99,
) -> pd.DataFrame:
    """Return rank counts per cell, estimand and coordinate, with each cell's truth design.

    Never pooled over cells (:func:`mmm_workbench.reports.sbc.rank_histogram`).

    Parameters
    ----------
    table
        The estimand table.
    estimands
        The estimands drawn (default: all).
    bins, band
        Bins of the fractional rank, and the binomial band's level under uniform ranks.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`~mmm_workbench.reports.sbc.rank_histogram` and ``design``:
        "SBC" where the cell's truth is drawn per replicate, "PIT at a fixed truth" (or
        partly drawn) otherwise (:func:`~mmm_workbench.reports.sbc.truth_design`).
    """
    if estimands is not None:
        table = table[table["estimand"].isin(list(estimands))]
    hist = rank_histogram(table, bins=bins, band=band)
    if hist.empty:
        return hist.assign(design=pd.Series(dtype=object))
    design = truth_design(table).set_index("cell")["label"]
    return hist.assign(design=hist["cell"].map(design).astype(str))


def design_words(table: pd.DataFrame) -> str:
    """Say in words which cells' rank statistics are SBC and which are PIT at a fixed truth.

    E.g. "SBC: a, b; PIT at a fixed truth: c", from
    :func:`~mmm_workbench.reports.sbc.truth_design`; "PIT at a fixed truth: all 12 cells"
    (or "both cells") where every cell has one design.
    """
    if table.empty:
        return ""
    design = truth_design(table)
    labels = table.drop_duplicates("cell").set_index("cell")["cell_label"]
    design["cell_label"] = design["cell"].map(labels)
    groups = design.groupby("label", sort=False)["cell_label"].agg(list)
    every = {str(c) for c in design["cell_label"]}
    return "; ".join(
        f"{label}: {every_cell(cells, every) or ', '.join(map(str, cells))}"
        for label, cells in groups.items()
    )


def curve_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Return the response curve of the first replicate of each cell, in spend units.

    ``cell_label, channel, multiplier, spend, truth, mean`` and the interval bounds.
    ``spend`` is the training window's spend at each multiplier: ``multiplier x S`` with the
    channel's observed spend ``S = response(1) / roas`` of the truth (the simulator's
    definition: the response at multiplier 1 is ROAS times the window's spend); NaN where
    that is not known (no multiplier 1 on the grid, no true ROAS, or a ROAS of 0), and the
    figure then falls back to the multiplier and says so.
    """
    columns = ["cell_label", "channel", "multiplier", "spend", "truth", "mean"]
    d = table[table["estimand"] == "response"]
    if d.empty or "multiplier" not in d:
        return pd.DataFrame(columns=columns)
    first = d.groupby("cell")["replicate"].transform("min")
    d = d[d["replicate"] == first].copy()
    d["multiplier"] = d["multiplier"].astype(float)
    keys = ["cell", "replicate", "channel"]
    at_one = d.loc[(d["multiplier"] - 1.0).abs() < 1e-9, [*keys, "truth"]]
    roas = table.loc[table["estimand"] == "roas", [*keys, "truth"]]
    observed = at_one.merge(roas, on=keys, how="inner", suffixes=("_response", "_roas"))
    ratio = observed["truth_response"].astype(float) / observed["truth_roas"].astype(float)
    usable = np.isfinite(ratio) & (observed["truth_roas"].astype(float) != 0) & (ratio >= 0)
    observed = observed.assign(observed_spend=ratio.where(usable))[[*keys, "observed_spend"]]
    # one spend per channel only: with another dimension (a geo) the spend is not known
    observed = observed.drop_duplicates(keys, keep=False)
    d = d.merge(observed, on=keys, how="left", validate="many_to_one")
    d["spend"] = d["multiplier"] * d["observed_spend"].astype(float)
    keep = [*columns, *(c for c in d.columns if c.startswith(("lower_", "upper_")))]
    return d[keep]
