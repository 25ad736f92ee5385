"""Scoring formulas against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mmm_workbench.reports.aggregate import badness, performance_table
from mmm_workbench.reports.metrics import (
    Estimate,
    absolute,
    bias,
    central_interval,
    coverage,
    crps_draws,
    empirical_se,
    hdi_interval,
    interval_score,
    jeffreys_interval,
    level_name,
    mean_estimate,
    model_se,
    posterior_contraction,
    proportion,
    relative_bias,
    rmse,
    summarize_draws,
)

EST = np.array([1.0, 2.0, 3.0])
TRUTH = np.zeros(3)


def test_bias_and_its_mcse() -> None:
    b = bias(EST, TRUTH)
    assert b.value == pytest.approx(2.0)
    assert b.mcse == pytest.approx(1 / math.sqrt(3))  # sd(e) = 1, n = 3
    assert b.n == 3
    assert (b.lower, b.upper) == pytest.approx(
        (2 - 1.959964 / math.sqrt(3), 2 + 1.959964 / math.sqrt(3))
    )


def test_bias_with_varying_truth_uses_errors() -> None:
    assert bias([1.0, 3.0], [0.0, 2.0]).value == pytest.approx(1.0)
    assert bias([1.0, 3.0], [0.0, 2.0]).mcse == pytest.approx(0.0)


def test_relative_bias_drops_zero_truth() -> None:
    rb = relative_bias([2.0, 3.0, 5.0], [1.0, 2.0, 0.0])
    assert rb.n == 2
    assert rb.value == pytest.approx((1.0 + 0.5) / 2)
    assert rb.mcse == pytest.approx(np.std([1.0, 0.5], ddof=1) / math.sqrt(2))
    assert relative_bias([1.0], [-2.0]).value == pytest.approx(1.5)  # over-estimate: positive


def test_rmse_and_its_mcse() -> None:
    r = rmse(EST, TRUTH)
    mse = 14 / 3
    mcse_mse = np.std([1.0, 4.0, 9.0], ddof=1) / math.sqrt(3)
    assert r.value == pytest.approx(math.sqrt(mse))
    assert r.mcse == pytest.approx(mcse_mse / (2 * math.sqrt(mse)))
    assert r.lower == pytest.approx(math.sqrt(max(mse - 1.959964 * mcse_mse, 0)), rel=1e-5)


def test_empirical_se_and_its_mcse() -> None:
    e = empirical_se(EST, TRUTH)
    assert e.value == pytest.approx(1.0)
    assert e.mcse == pytest.approx(1 / math.sqrt(2 * 2))


def test_model_se() -> None:
    m = model_se([1.0, 1.0, 1.0, 1.0])
    assert m.value == pytest.approx(1.0)
    assert m.mcse == pytest.approx(0.0)
    m = model_se([1.0, 2.0])
    assert m.value == pytest.approx(math.sqrt(2.5))
    assert m.mcse == pytest.approx(np.std([1.0, 4.0], ddof=1) / math.sqrt(2) / (2 * math.sqrt(2.5)))


def test_coverage_and_jeffreys_interval() -> None:
    c = coverage([True, True, False, True])
    assert c.value == 0.75
    assert c.mcse == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert (c.lower, c.upper) == pytest.approx(
        (stats.beta.ppf(0.025, 3.5, 1.5), stats.beta.ppf(0.975, 3.5, 1.5))
    )
    # the boundary convention of Brown, Cai & DasGupta (2001)
    assert jeffreys_interval(0, 10) == pytest.approx((0.0, stats.beta.ppf(0.975, 0.5, 10.5)))
    assert jeffreys_interval(10, 10) == pytest.approx((stats.beta.ppf(0.025, 10.5, 0.5), 1.0))
    assert jeffreys_interval(0, 10)[1] == pytest.approx(0.2172, abs=1e-4)
    assert math.isnan(proportion(0, 0).value)


def test_mean_estimate_ignores_nan_and_handles_tiny_samples() -> None:
    m = mean_estimate([1.0, np.nan, 3.0])
    assert (m.value, m.n) == (2.0, 2)
    one = mean_estimate([5.0])
    assert one.value == 5.0 and math.isnan(one.mcse)
    assert mean_estimate([]).n == 0


def test_absolute_folds_the_interval() -> None:
    assert absolute(Estimate(-0.5, 0.1, -0.7, -0.3, 9)) == Estimate(0.5, 0.1, 0.3, 0.7, 9)
    assert absolute(Estimate(0.1, 0.1, -0.2, 0.4, 9)) == Estimate(0.1, 0.1, 0.0, 0.4, 9)


def test_crps_known_cases() -> None:
    two = np.array([[0.0], [1.0]])
    # E|X - 0| = 0.5, E|X - X'| = 0.5: CRPS = 0.25 = integral of (F - 1{x >= 0})^2
    assert crps_draws(two, [0.0]) == pytest.approx([0.25])
    assert crps_draws(two, [0.5]) == pytest.approx([0.25])
    assert crps_draws(two, [2.0]) == pytest.approx([1.25])
    # a point mass: CRPS = |x - y|
    assert crps_draws(np.full((5, 1), 3.0), [1.0]) == pytest.approx([2.0])
    # N(0, 1) at 0: 2 phi(0) - 1 / sqrt(pi) (Gneiting & Raftery 2007)
    q = stats.norm.ppf((np.arange(20000) + 0.5) / 20000)[:, None]
    assert crps_draws(q, [0.0]) == pytest.approx(
        [2 * stats.norm.pdf(0) - 1 / math.sqrt(math.pi)], abs=1e-4
    )


def test_interval_score_known_cases() -> None:
    lo, hi = np.zeros(3), np.ones(3)
    y = np.array([0.5, 2.0, -0.5])
    # width 1, plus 2 / 0.1 times the miss
    assert interval_score(lo, hi, y, 0.9) == pytest.approx([1.0, 21.0, 11.0])


def test_central_and_hdi_intervals() -> None:
    x = np.array([0, 0, 0, 0, 1, 2, 3, 10], dtype=float)[:, None]
    lo, hi = hdi_interval(x, 0.5)
    assert (lo[0], hi[0]) == (0.0, 1.0)
    lo, hi = central_interval(x, 0.5)
    assert (lo[0], hi[0]) == pytest.approx(np.quantile(x[:, 0], [0.25, 0.75]))


def test_posterior_contraction() -> None:
    rng = np.random.default_rng(0)
    post = rng.normal(scale=np.sqrt(0.5), size=(20000, 1))
    prior = rng.normal(size=(20000, 1))
    assert posterior_contraction(post, prior) == pytest.approx([0.5], abs=0.02)
    assert np.isnan(posterior_contraction(post, None)).all()
    assert np.isnan(posterior_contraction(post, np.ones((10, 1)))).all()  # no prior spread


def test_summarize_draws_columns_and_values() -> None:
    draws = np.array([[0.0, 10.0], [1.0, 10.0], [2.0, 10.0], [3.0, 10.0]])
    frame = summarize_draws(draws, [1.5, 0.0], levels=(0.5,))
    assert list(frame.columns) == [
        "truth", "mean", "median", "sd", "error", "relative_error", "z", "contraction", "crps",
        "lower_50", "upper_50", "covered_50", "width_50", "interval_score_50",
    ]  # fmt: skip
    first = frame.iloc[0]
    assert first["mean"] == 1.5 and first["error"] == 0.0 and first["z"] == 0.0
    assert bool(first["covered_50"])
    second = frame.iloc[1]
    assert math.isnan(second["z"])  # sd 0
    assert math.isnan(second["relative_error"])  # truth 0
    assert not bool(second["covered_50"])
    with pytest.raises(ValueError, match="interval"):
        summarize_draws(draws, [0.0, 0.0], interval="widest")  # type: ignore[arg-type]


def test_performance_table_long_form_and_percentage_points() -> None:
    table = pd.DataFrame(
        {
            "cell": "c",
            "estimand": ["contribution_share"] * 3 + ["roas"] * 3,
            "coords": "channel=tv",
        }
    )
    rng = np.random.default_rng(1)
    cols = summarize_draws(rng.normal(size=(50, 6)) + 0.1, np.zeros(6))
    frame = performance_table(pd.concat([table, cols], axis=1))
    share = frame[frame["estimand"] == "contribution_share"].set_index("metric")
    assert share.loc["bias_pp", "value"] == pytest.approx(100 * share.loc["bias", "value"])
    assert "bias_pp" not in set(frame.loc[frame["estimand"] == "roas", "metric"])
    assert {"coverage_90", "width_95", "interval_score_50", "crps", "rmse"} <= set(share.index)
    assert list(frame.columns) == [
        "cell",
        "estimand",
        "coords",
        "metric",
        "value",
        "mcse",
        "lower",
        "upper",
        "n",
    ]


def test_badness_directions() -> None:
    assert badness("bias")(-0.3) == 0.3  # type: ignore[misc]
    assert badness("coverage_90")(0.85) == pytest.approx(0.05)  # type: ignore[misc]
    assert badness("rmse")(2.0) == 2.0  # type: ignore[misc]
    assert badness("z_sd")(0.5) == 0.5  # type: ignore[misc]
    assert (
        badness("contraction") is None and badness("n_ok") is None and badness("sbc_p_holm") is None
    )
    assert level_name(0.975) == "97.5" and level_name(0.9) == "90"
