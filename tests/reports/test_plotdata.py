"""Plot data: the bias-along-axis frame with independent and zipped grid axes."""

from __future__ import annotations

import pandas as pd

from mmm_workbench.reports.plotdata import axis_frame


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


def test_without_axes_every_path_is_an_axis() -> None:
    frame = axis_frame(_aggregates(["a", "b", "c"]), OVERRIDES, ["roas"])
    assert sorted(frame["axis"].unique()) == ["data.proxy.noise_sd", "model.lift_tests"]
    assert len(frame) == 6
