"""Plot data: the bias-along-axis frame with independent and zipped grid axes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmm_workbench.reports.plotdata import (
    axis_frame,
    cell_words,
    design_words,
    level_words,
    rank_histogram_frame,
)


def _aggregates(cells: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "cell": cell,
                "estimand": "roas",
                "coords": "channel=tv",
                "pooled": False,
                "metric": "bias",
                "value": float(i),
                "lower": i - 0.5,
                "upper": i + 0.5,
            }
            for i, cell in enumerate(cells)
        ]
    )


OVERRIDES = {
    "a": [["data.proxy.noise_sd", 0.1], ["model.lift_tests", False]],
    "b": [["data.proxy.noise_sd", 0.0], ["model.lift_tests", False]],
    "c": [["data.proxy.noise_sd", 0.1], ["model.lift_tests", True]],
}


def test_a_zipped_axis_is_one_axis_with_its_levels_in_grid_order() -> None:
    axes = [["data.proxy.noise_sd", "model.lift_tests"]]
    frame = axis_frame(_aggregates(["c", "a", "b"]), OVERRIDES, ["roas"], axes=axes)
    assert frame["axis"].unique().tolist() == ["data.proxy.noise_sd + model.lift_tests"]
    assert frame.sort_values("order")["level"].tolist() == [
        "noise_sd=0.1\nlift_tests=False",
        "noise_sd=0.0\nlift_tests=False",
        "noise_sd=0.1\nlift_tests=True",
    ]
    assert frame.sort_values("order")["value"].tolist() == [1.0, 2.0, 0.0]


def test_a_table_level_is_named_by_what_differs_between_the_levels() -> None:
    """design-sweep's spend axis: its ticks printed two whole spend tables each, overlapping."""
    on = {"pattern": "always_on", "level": 10.0, "noise_sd": 0.15}
    off = {"pattern": "flighted", "level": 10.0, "noise_sd": 0.15, "on_mean": 8}
    assert level_words(on, [on, off]) == "pattern=always_on"
    assert level_words(off, [on, off]) == "pattern=flighted"
    low, high = {"level": 5.0, "noise_sd": 0.1}, {"level": 9.0, "noise_sd": 0.1}
    assert level_words(high, [low, high]) == "level=9.0"
    assert level_words([{"channel": "tv"}, {"channel": "search"}], []) == "[2 tables]"
    assert level_words(0.1, [0.1, 0.0]) == "0.1"
    overrides = {
        "a": [["data.channels.tv.spend", on], ["data.channels.search.spend", on]],
        "b": [["data.channels.tv.spend", off], ["data.channels.search.spend", off]],
    }
    axes = [["data.channels.tv.spend", "data.channels.search.spend"]]
    frame = axis_frame(_aggregates(["a", "b"]), overrides, ["roas"], axes=axes)
    assert frame.sort_values("order")["level"].tolist() == [
        "tv.spend=pattern=always_on\nsearch.spend=pattern=always_on",
        "tv.spend=pattern=flighted\nsearch.spend=pattern=flighted",
    ]


def test_a_cell_is_named_in_the_verdict_by_what_tells_it_from_the_others() -> None:
    """design-sweep's verdict named each cell by two whole spend tables (about 190
    characters); the short label keeps only what differs, and a label that would not tell
    two cells apart stays whole."""
    on = {"pattern": "always_on", "level": 10.0, "noise_sd": 0.15}
    off = {"pattern": "flighted", "level": 10.0, "noise_sd": 0.15, "on_mean": 8}
    lifts = [{"channel": "tv"}, {"channel": "search"}]

    def cell(periods: int, spend: dict[str, Any], lift: bool) -> dict[str, Any]:
        overrides = [
            ["data.periods", periods],
            ["data.channels.tv.spend", spend],
            ["data.seed", 3],  # equal in every cell: left out
            ["model.lift_tests", lift],
            ["data.lift_tests", lifts if lift else []],
        ]
        return {"label": repr(overrides), "overrides": overrides}

    cells = {
        "a": cell(52, on, False),
        "b": cell(52, off, True),
        "c": cell(156, on, True),
    }
    short = cell_words(cells)
    assert [short[cells[c]["label"]] for c in "abc"] == [
        "periods=52, tv.spend.pattern=always_on, model.lift_tests=False, data.lift_tests=[]",
        "periods=52, tv.spend.pattern=flighted, model.lift_tests=True, data.lift_tests=[2 tables]",
        "periods=156, tv.spend.pattern=always_on, model.lift_tests=True, "
        "data.lift_tests=[2 tables]",
    ]
    # the broken case: two cells that differ only in a table entry the short form drops
    # (the kind differs elsewhere, so only the kind is said) keep their whole labels
    same = {"kind": "a", "x": 1}
    twins = {
        "p": {"label": "p-full", "overrides": [["m.t", same]]},
        "q": {"label": "q-full", "overrides": [["m.t", {"kind": "a", "x": 2}]]},
        "r": {"label": "r-full", "overrides": [["m.t", {"kind": "b", "x": 1}]]},
    }
    assert cell_words(twins) == {"p-full": "p-full", "q-full": "q-full", "r-full": "r-full"}
    one = {"z": {"label": "base", "overrides": []}}
    assert cell_words(one) == {"base": "base"}
    # short labels (quickstart's) stay whole, as check and the tables name cells
    proxy = {
        c: {"label": f"data.proxy.noise_sd={v}", "overrides": [["data.proxy.noise_sd", v]]}
        for c, v in (("x", 0.0), ("y", 0.2))
    }
    assert cell_words(proxy) == {
        "data.proxy.noise_sd=0.0": "data.proxy.noise_sd=0.0",
        "data.proxy.noise_sd=0.2": "data.proxy.noise_sd=0.2",
    }


def test_without_axes_every_path_is_an_axis() -> None:
    frame = axis_frame(_aggregates(["a", "b", "c"]), OVERRIDES, ["roas"])
    assert sorted(frame["axis"].unique()) == ["data.proxy.noise_sd", "model.lift_tests"]
    assert len(frame) == 6


def _ranks(cell: str, pit: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cell": cell,
            "cell_label": f"label {cell}",
            "replicate": np.arange(pit.size),
            "estimand": "saturation_lam",
            "family": "parameter",
            "coords": "channel=tv",
            "truth": truth,
            "pit": pit,
        }
    )


def test_rank_histograms_are_per_cell_with_the_truth_design() -> None:
    """Two miscalibrated cells whose pooled ranks look uniform: per cell they do not."""
    n = 200
    low = np.linspace(0.0, 0.499, n)  # every rank in the lower half
    high = np.linspace(0.5, 0.999, n)  # every rank in the upper half
    drawn = np.linspace(1.0, 2.0, n)
    table = pd.concat(
        [_ranks("a", low, drawn), _ranks("b", high, np.full(n, 1.5))], ignore_index=True
    )
    frame = rank_histogram_frame(table)
    assert set(frame["cell"]) == {"a", "b"}
    a = frame[frame["cell"] == "a"].sort_values("bin")
    assert a["count"].sum() == n and (a["count"].to_numpy()[5:] == 0).all()
    assert (a["count"] > a["band_upper"]).any()  # flagged per cell
    pooled = frame.groupby("bin")["count"].sum()
    assert pooled.nunique() == 1  # pooled over cells, the ranks would look uniform
    assert dict(zip(frame["cell"], frame["design"], strict=True)) == {
        "a": "SBC",
        "b": "PIT at a fixed truth",
    }
    assert design_words(table) == "SBC: label a; PIT at a fixed truth: label b"
    both = pd.concat([_ranks("a", low, drawn), _ranks("b", high, drawn)], ignore_index=True)
    assert design_words(both) == "SBC: both cells"  # one design for all: no labels
    assert design_words(both[both["cell"] == "a"]) == "SBC: label a"
    assert rank_histogram_frame(table, ["roas"]).empty
