"""Figures whose point sits a rounding error outside its interval (a fixed parameter, a point
estimate, a share of 0 or 1) still draw: matplotlib refuses negative error bars."""

from __future__ import annotations

import pandas as pd

from mmm_workbench.reports import figures

EPS = 1e-12


def _png(data: bytes | None) -> None:
    assert data is not None
    assert data.startswith(b"\x89PNG")


def test_coverage_at_its_interval_edge_draws() -> None:
    frame = pd.DataFrame(
        {
            "cell_label": ["ols"] * 2,
            "estimand": ["roas"] * 2,
            "nominal": [0.5, 0.9],
            "value": [1.0, 0.0],
            "lower": [1.0 + EPS, 0.0],
            "upper": [1.0, -EPS],
        }
    )
    _png(figures.coverage_vs_nominal(frame))


def test_a_share_estimate_outside_its_interval_by_rounding_draws() -> None:
    frame = pd.DataFrame(
        {
            "cell_label": ["nnls", "nnls"],
            "channel": ["tv", "radio"],
            "truth": [0.4, 0.1],
            "estimate": [0.4, 0.0],
            "lower": [0.4 + EPS, 0.0],
            "upper": [0.5, -EPS],
        }
    )
    _png(figures.share_true_vs_estimated(frame))


def test_bias_at_its_interval_edge_draws() -> None:
    frame = pd.DataFrame(
        {
            "axis": ["model.kind"] * 2,
            "level": ["ols", "nnls"],
            "order": [0, 1],
            "estimand": ["roas"] * 2,
            "channel": ["tv"] * 2,
            "value": [0.1, 0.2],
            "lower": [0.1 + EPS, 0.1],
            "upper": [0.3, 0.2 - EPS],
        }
    )
    _png(figures.bias_along_axis(frame))
