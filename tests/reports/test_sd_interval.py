"""The Monte Carlo interval of a standard deviation (z_sd, empirical_se) keeps its level at
the replicate count the README recommends (10), where the normal interval does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from mmm_workbench.reports import ruleset
from mmm_workbench.reports.aggregate import performance_table
from mmm_workbench.reports.metrics import chi2_sd_interval, sd_estimate

N, LEVEL, SIMS = 10, 0.99, 20000


def _samples() -> np.ndarray:
    return np.random.default_rng(5).normal(0.0, 1.0, size=(SIMS, N))


def test_the_chi_square_interval_covers_the_true_sd_at_its_level() -> None:
    sd = _samples().std(axis=1, ddof=1)
    lower, upper = chi2_sd_interval(sd, N, LEVEL)
    tail = (1 - LEVEL) / 2
    mc = 4 * np.sqrt(tail * (1 - tail) / SIMS)
    assert np.mean(upper < 1.0) == pytest.approx(tail, abs=mc)
    assert np.mean(lower > 1.0) == pytest.approx(tail, abs=mc)


def test_the_normal_interval_it_replaces_misses_from_above_far_too_often() -> None:
    """The deliberately broken case: sd +- z sd / sqrt(2 (n - 1)) at n = 10."""
    sd = _samples().std(axis=1, ddof=1)
    upper = sd + float(special.ndtri(0.5 + LEVEL / 2)) * sd / np.sqrt(2 * (N - 1))
    assert np.mean(upper < 1.0) > 3 * (1 - LEVEL) / 2


def test_sd_estimate_and_the_per_cell_table_give_the_same_interval() -> None:
    z = _samples()[0]
    one = sd_estimate(z, 0.9)
    lower, upper = chi2_sd_interval(z.std(ddof=1), N, 0.9)
    assert (one.lower, one.upper) == pytest.approx((float(lower), float(upper)))
    assert one.lower < one.value < one.upper
    assert np.isnan(chi2_sd_interval(1.0, 1, 0.9)[0])
    table = pd.DataFrame(
        {
            "cell": "c",
            "replicate": np.arange(N),
            "estimand": "sigma",
            "coords": "",
            "mean": z,
            "truth": 0.0,
            "sd": 1.0,
            "z": z,
            "crps": 0.5,
            "contraction": 0.9,
            "prior_overlap": 0.1,
        }
    )
    measures = performance_table(table, levels=(), intervals=(), ci_prob=0.9)
    row = measures[measures["metric"] == "z_sd"].iloc[0]
    assert (row["lower"], row["upper"]) == pytest.approx((one.lower, one.upper))


def test_a_rule_judges_z_sd_by_the_chi_square_interval() -> None:
    """The correct NUTS group of the power study that failed z_sd >= 0.67 under the normal
    interval (sigma's z sd 0.36 of 10 replicates, 17 measures): the chi-square interval
    reaches above the bound, so the rule cannot say the sd is too small."""
    level = 1 - 0.05 / 17
    row = {"value": 0.3629, "mcse": 0.3629 / np.sqrt(18), "n": 10, "pooled": False}
    lower, upper = ruleset._interval("z_sd", row, level)
    assert (lower, upper) == pytest.approx(tuple(map(float, chi2_sd_interval(0.3629, 10, level))))
    assert upper > 0.67
    half = float(special.ndtri(0.5 + level / 2)) * row["mcse"]
    assert row["value"] + half < 0.67  # the normal interval's false alarm
    # a posterior three times too narrow (z sd 3) is still shown above 1.5
    assert ruleset._interval("z_sd", {**row, "value": 3.0}, level)[0] > 1.5
