"""Scoring formulas at their edges, each against a value computed by hand.

The cases the mutation run of ``reports/metrics.py`` showed untested (issue 17): the HDI's
window cap, the interval score with a lower bound away from 0, badly shaped draws, the
``median`` column, the model SE of all-zero SDs, the image of an interval under ``|.|``,
and the exact draw positions at which an HDI opens towards a boundary.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from mmm_workbench.reports.metrics import (
    Estimate,
    absolute,
    central_interval,
    clustered_mean,
    coverage,
    hdi_covers,
    hdi_interval,
    interval_score,
    jeffreys_interval,
    mean_estimate,
    model_se,
    posterior_contraction,
    prior_overlap,
    proportion,
    rmse,
    scaled,
    sd_estimate,
    summarize_draws,
)

Z95 = 1.959963984540054  # the 0.975 quantile of N(0, 1)


def _nan_estimate(e: Estimate, n: int) -> None:
    assert e.n == n
    assert all(math.isnan(v) for v in (e.value, e.mcse, e.lower, e.upper))


# ------------------------------------------------------------------------- intervals


def test_hdi_at_level_one_spans_every_draw() -> None:
    """``floor(level * S)`` gaps is capped at ``S - 1``: at level 1 the window is the range."""
    x = np.array([3.0, 0.0, 7.0, 1.0, 2.0])[:, None]
    lo, hi = hdi_interval(x, 1.0)
    assert (lo[0], hi[0]) == (0.0, 7.0)
    lo, hi = hdi_interval(x, 0.99)  # floor(4.95) = 4 gaps: also every draw
    assert (lo[0], hi[0]) == (0.0, 7.0)
    lo, hi = hdi_interval(x, 0.7)  # floor(3.5) = 3 gaps: [0, 3] (width 3) beats [1, 7]
    assert (lo[0], hi[0]) == (0.0, 3.0)
    # a window over every draw opens neither end (start 0 = last 0 would open both)
    assert not hdi_covers(x, [-1.0], 1.0)[0] and not hdi_covers(x, [8.0], 1.0)[0]
    assert hdi_covers(x, [7.0], 1.0)[0] and hdi_covers(x, [0.0], 1.0)[0]


def _staircase(start: int) -> np.ndarray:
    """21 sorted draws whose 20 gaps are 1 except ten of 0.1 from gap ``start`` on.

    A 50% HDI spans 10 gaps (``floor(0.5 * 21)``), so the shortest window starts at draw
    ``start`` (width 1 against at least 1.9 elsewhere); the windows start at 0..10.
    """
    gaps = np.ones(20)
    gaps[start : start + 10] = 0.1
    return np.concatenate(([0.0], np.cumsum(gaps)))[:, None]


@pytest.mark.parametrize(
    ("start", "open_low", "open_high"),
    [(0, True, False), (1, True, False), (2, False, False), (8, False, False), (9, False, True)],
)
def test_hdi_opens_exactly_within_a_tenth_of_the_excluded_draws(
    start: int, open_low: bool, open_high: bool
) -> None:
    """11 windows (last start 10): the slack is ``10 // 10 = 1`` draw at either end."""
    x = _staircase(start)
    lo, hi = hdi_interval(x, 0.5)
    assert lo[0] == pytest.approx(x[start, 0]) and hi[0] == pytest.approx(x[start, 0] + 1.0)
    assert bool(hdi_covers(x, [lo[0] - 5.0], 0.5)[0]) is open_low
    assert bool(hdi_covers(x, [hi[0] + 5.0], 0.5)[0]) is open_high
    assert hdi_covers(x, [lo[0]], 0.5)[0] and hdi_covers(x, [hi[0]], 0.5)[0]
    frame = summarize_draws(x, [lo[0] - 5.0], levels=(0.5,), intervals=("hdi",))
    assert bool(frame["covered_hdi_50"].iloc[0]) is open_low
    assert frame["lower_hdi_50"].iloc[0] == pytest.approx(x[start, 0])
    assert frame["width_hdi_50"].iloc[0] == pytest.approx(1.0)
    # 1 wide, missed by 5 below: 1 + 2 / 0.5 * 5 (the score ignores the opening)
    assert frame["interval_score_hdi_50"].iloc[0] == pytest.approx(21.0)


def test_interval_score_with_a_lower_bound_away_from_zero() -> None:
    lo, hi = np.full(4, 2.0), np.full(4, 5.0)
    y = np.array([3.0, 1.0, 7.0, 2.0])
    # width 3; misses of 1 below and 2 above cost 2 / 0.2 = 10 per unit
    np.testing.assert_allclose(interval_score(lo, hi, y, 0.8), [3.0, 13.0, 23.0, 3.0])
    np.testing.assert_allclose(interval_score(-4.0, -1.0, 0.0, 0.5), [3.0 + 4.0 * 1.0])


def test_left_and_right_intervals_at_the_extreme_quantiles() -> None:
    draws = np.array([4.0, 1.0, 3.0, 2.0])[:, None]
    frame = summarize_draws(draws, [4.0], levels=(1.0,), intervals=("left", "right"))
    assert frame["upper_left_100"].iloc[0] == 4.0  # the 1 quantile: the largest draw
    assert frame["lower_right_100"].iloc[0] == 1.0
    assert bool(frame["covered_left_100"].iloc[0]) and bool(frame["covered_right_100"].iloc[0])
    lo, hi = central_interval(draws, 0.5)  # quantiles 0.25, 0.75: positions 0.75 and 2.25
    assert (lo[0], hi[0]) == pytest.approx((1.75, 3.25))


# ------------------------------------------------------------------ summary columns


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2)])
def test_draws_that_are_not_sample_by_quantity_are_refused(shape: tuple[int, ...]) -> None:
    message = re.escape(f"draws must be (sample, k), got shape {shape}")
    with pytest.raises(ValueError, match=message):
        summarize_draws(np.zeros(shape), [0.0])


def test_summary_values_by_hand() -> None:
    draws = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 8.0], [10.0, 5.0]])
    frame = summarize_draws(draws, [-2.0, 6.0], levels=(0.5,))
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["median"] == 1.5 and second["median"] == 5.0
    assert first["mean"] == 3.25 and second["mean"] == 5.75
    sd = math.sqrt(((3.25**2) + 2.25**2 + 1.25**2 + 6.75**2) / 3)
    assert first["sd"] == pytest.approx(sd)
    assert first["error"] == 5.25 and second["error"] == -0.25
    assert first["relative_error"] == pytest.approx(5.25 / 2.0)  # divided by |truth|
    assert second["relative_error"] == pytest.approx(-0.25 / 6.0)
    assert first["z"] == pytest.approx(5.25 / sd)
    # quantiles 0.25 / 0.75 of 0, 1, 2, 10: 0.75 and 4
    assert (first["lower_50"], first["upper_50"]) == pytest.approx((0.75, 4.0))
    assert first["width_50"] == pytest.approx(3.25)
    assert not bool(first["covered_50"])  # -2 is below 0.75
    assert first["interval_score_50"] == pytest.approx(3.25 + 4 * 2.75)
    odd = summarize_draws(np.array([[9.0], [1.0], [4.0]]), [0.0])
    assert odd["median"].iloc[0] == 4.0


def test_a_single_draw_has_a_median_and_no_spread() -> None:
    frame = summarize_draws(np.array([[2.5]]), [1.0], prior=np.array([[0.0], [4.0]]))
    row = frame.iloc[0]
    assert row["median"] == 2.5 and row["mean"] == 2.5 and row["error"] == 1.5
    assert math.isnan(row["sd"]) and math.isnan(row["z"])
    assert math.isnan(row["contraction"]) and math.isnan(row["prior_overlap"])
    assert row["crps"] == pytest.approx(1.5)  # a point mass: |x - y|


def test_contraction_and_overlap_from_two_draws() -> None:
    """Posterior draws 0, 2 (variance 2), prior draws 1, 5 (variance 8): contraction
    1 - 2 / 8; the posterior's 90% interval [0.1, 1.9] holds the prior draw 1 only."""
    post, prior = np.array([[0.0], [2.0]]), np.array([[1.0], [5.0]])
    frame = summarize_draws(post, [0.0], prior=prior)
    assert frame["contraction"].iloc[0] == pytest.approx(0.75)
    assert frame["prior_overlap"].iloc[0] == pytest.approx(0.5)
    assert posterior_contraction(post, prior) == pytest.approx([0.75])
    assert prior_overlap(post, prior) == pytest.approx([0.5])
    moved = np.array([[1.95], [5.0]])
    assert prior_overlap(post, moved)[0] == 0.0  # 1.95 is above 1.9
    assert prior_overlap(post, moved, level=0.98)[0] == 0.5  # [0.02, 1.98] holds 1.95
    # one prior draw or one posterior draw: no variance to compare
    assert np.isnan(summarize_draws(post, [0.0], prior=prior[:1])["contraction"]).all()
    assert np.isnan(posterior_contraction(post, prior[:1])).all()
    assert np.isnan(posterior_contraction(post[:1], prior)).all()
    assert np.isnan(prior_overlap(post[:1], prior)).all()
    assert np.isnan(prior_overlap(post, prior[:1])).all()


# ------------------------------------------------------------ measures over replicates


def test_model_se_of_all_zero_sds_is_undefined() -> None:
    _nan_estimate(model_se([0.0, 0.0, 0.0]), 3)
    _nan_estimate(model_se([np.nan, np.nan]), 0)
    m = model_se([3.0, 4.0, np.nan])  # NaN dropped: sqrt((9 + 16) / 2)
    assert m.value == pytest.approx(math.sqrt(12.5)) and m.n == 2
    half = Z95 * np.std([9.0, 16.0], ddof=1) / math.sqrt(2)
    assert (m.lower, m.upper) == pytest.approx((math.sqrt(12.5 - half), math.sqrt(12.5 + half)))


def test_model_se_interval_is_clipped_at_zero() -> None:
    m = model_se([0.1, 3.0])  # mean of squares 4.505, its half-width above it
    half = Z95 * np.std([0.01, 9.0], ddof=1) / math.sqrt(2)
    assert half > 4.505
    assert m.lower == 0.0 and m.upper == pytest.approx(math.sqrt(4.505 + half))


@pytest.mark.parametrize(
    ("given", "folded"),
    [
        ((0.5, 0.3, 0.7), (0.5, 0.3, 0.7)),  # positive: unchanged
        ((-0.5, -0.7, -0.3), (0.5, 0.3, 0.7)),  # negative: mirrored
        ((-0.1, -0.6, 0.2), (0.1, 0.0, 0.6)),  # straddles 0, wider below
        ((0.1, -0.2, 0.4), (0.1, 0.0, 0.4)),  # straddles 0, wider above
        ((0.2, 0.0, 0.4), (0.2, 0.0, 0.4)),  # touches 0 from above
        ((-0.2, -0.4, 0.0), (0.2, 0.0, 0.4)),  # touches 0 from below
    ],
)
def test_absolute_value_of_an_interval(
    given: tuple[float, float, float], folded: tuple[float, float, float]
) -> None:
    value, lower, upper = given
    out = absolute(Estimate(value, 0.05, lower, upper, 7))
    assert (out.value, out.lower, out.upper) == pytest.approx(folded)
    assert (out.mcse, out.n) == (0.05, 7)


def test_scaled_multiplies_everything_but_the_count() -> None:
    assert scaled(Estimate(0.5, 0.1, 0.3, 0.7, 9), 100.0) == pytest.approx(
        Estimate(50.0, 10.0, 30.0, 70.0, 9)
    )


def test_tiny_samples() -> None:
    _nan_estimate(sd_estimate([1.0]), 1)
    _nan_estimate(sd_estimate([]), 0)
    s = sd_estimate([1.0, 3.0])
    assert (s.value, s.mcse) == pytest.approx((math.sqrt(2), math.sqrt(2) / math.sqrt(2)))
    one = mean_estimate([4.0], 0.95)
    assert (one.value, one.n) == (4.0, 1) and math.isnan(one.lower) and math.isnan(one.upper)
    _nan_estimate(rmse([], []), 0)
    exact = rmse([1.0, 2.0], [1.0, 2.0])  # no error at all: the MCSE's delta method fails
    assert exact.value == 0.0 and math.isnan(exact.mcse) and (exact.lower, exact.upper) == (0, 0)
    _nan_estimate(proportion(3, 0), 0)
    assert all(math.isnan(v) for v in jeffreys_interval(0, 0))


def test_clustered_mean_edges() -> None:
    _nan_estimate(clustered_mean([np.nan, np.nan], [0, 1]), 0)
    one = clustered_mean([1.0, 3.0, np.nan], [7, 7, 8])  # the NaN drops cluster 8
    assert (one.value, one.n) == (2.0, 1)
    assert math.isnan(one.mcse) and math.isnan(one.lower) and math.isnan(one.upper)
    # clusters {1, 3} and {8}: mean 4, residual sums -4 and 4, C = 2
    two = clustered_mean([1.0, 3.0, 8.0], ["a", "a", "b"])
    mcse = math.sqrt(2 / 1 * (16 + 16)) / 3
    assert (two.value, two.mcse, two.n) == pytest.approx((4.0, mcse, 2))
    assert (two.lower, two.upper) == pytest.approx((4 - Z95 * mcse, 4 + Z95 * mcse))


def test_coverage_drops_nan_of_a_float_column_and_other_levels() -> None:
    c = coverage(np.array([1.0, np.nan, 0.0, 1.0]), ci_prob=0.9)
    assert (c.value, c.n) == pytest.approx((2 / 3, 3))
    assert c.mcse == pytest.approx(math.sqrt(2 / 3 * 1 / 3 / 3))
    assert (c.lower, c.upper) == pytest.approx(jeffreys_interval(2, 3, 0.9))
    m = mean_estimate([1.0, 3.0], ci_prob=0.5)
    half = 0.6744897501960817 * math.sqrt(2) / math.sqrt(2)
    assert (m.lower, m.upper) == pytest.approx((2 - half, 2 + half))
