"""Scoring formulas against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mmm_workbench.reports.aggregate import badness, performance_table, tolerance_table
from mmm_workbench.reports.metrics import (
    Estimate,
    absolute,
    bias,
    central_interval,
    clustered_mean,
    coverage,
    crps_draws,
    empirical_se,
    hdi_covers,
    hdi_interval,
    interval_column,
    interval_score,
    jeffreys_interval,
    level_name,
    mean_estimate,
    model_se,
    posterior_contraction,
    prior_overlap,
    proportion,
    relative_bias,
    rmse,
    scaled,
    sd_estimate,
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
        "truth", "mean", "median", "sd", "error", "relative_error", "z", "contraction",
        "prior_overlap", "crps", "lower_50", "upper_50", "covered_50", "width_50",
        "interval_score_50",
    ]  # fmt: skip
    first = frame.iloc[0]
    assert first["mean"] == 1.5 and first["error"] == 0.0 and first["z"] == 0.0
    assert bool(first["covered_50"])
    second = frame.iloc[1]
    assert math.isnan(second["z"])  # sd 0
    assert math.isnan(second["relative_error"])  # truth 0
    assert not bool(second["covered_50"])
    with pytest.raises(ValueError, match="intervals = \\['widest'\\]"):
        summarize_draws(draws, [0.0, 0.0], intervals=("widest",))


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
    assert badness("contraction") is None and badness("n_ok") is None
    assert badness("uniformity_p_holm") is None and badness("prior_overlap") is None
    assert badness("tolerance_share")(0.9) < badness("tolerance_share")(0.5)  # type: ignore[misc]
    assert level_name(0.975) == "97.5" and level_name(0.9) == "90"


def test_interval_names() -> None:
    assert interval_column("covered", "central", 0.9) == "covered_90"
    assert interval_column("coverage", "hdi", 0.995) == "coverage_hdi_99.5"
    assert interval_column("covered", "left", 0.5) == "covered_left_50"


def test_hdi_opens_towards_a_boundary_it_reaches() -> None:
    """A posterior piled against 0 (a delay of 0) covers a truth of 0 with its HDI, never
    with its central interval; a symmetric posterior's HDI opens neither end."""
    rng = np.random.default_rng(4)
    piled = np.abs(rng.normal(size=(2000, 1)))
    assert hdi_covers(piled, [0.0], 0.9)[0]
    lo, hi = central_interval(piled, 0.9)
    assert not (lo[0] <= 0.0 <= hi[0])
    frame = summarize_draws(piled, [0.0], levels=(0.9,), intervals=("central", "hdi", "left"))
    assert bool(frame["covered_hdi_90"].iloc[0]) and bool(frame["covered_left_90"].iloc[0])
    assert not bool(frame["covered_90"].iloc[0])
    symmetric = rng.normal(size=(2000, 1))
    assert not hdi_covers(symmetric, [-5.0], 0.9)[0] and not hdi_covers(symmetric, [5.0], 0.9)[0]
    assert hdi_covers(symmetric, [0.0], 0.9)[0]
    assert not hdi_covers(np.zeros((1, 1)) + 1.0, [0.0], 0.9)[0]  # one draw: no opening


def test_hdi_coverage_is_calibrated_under_sbc() -> None:
    """With truth drawn from the posterior itself, the boundary-open HDI covers at the
    nominal rate (the opening adds nothing for a density away from its boundary), and a
    posterior half as wide does not."""
    rng = np.random.default_rng(5)
    truth = rng.normal(size=3000)
    draws = rng.normal(size=(400, 3000))
    rate = hdi_covers(draws, truth, 0.9).mean()
    assert abs(rate - 0.9) < 0.02
    assert hdi_covers(draws / 2, truth, 0.9).mean() < 0.7


def test_one_sided_intervals() -> None:
    draws = np.arange(101.0)[:, None]
    frame = summarize_draws(draws, [95.0], levels=(0.9,), intervals=("left", "right"))
    assert not bool(frame["covered_left_90"].iloc[0])  # (-inf, 90]
    assert bool(frame["covered_right_90"].iloc[0])  # [10, inf)
    assert frame["upper_left_90"].iloc[0] == pytest.approx(90.0)
    assert "width_left_90" not in frame


def test_prior_overlap() -> None:
    rng = np.random.default_rng(6)
    prior = rng.normal(size=(20000, 1))
    assert prior_overlap(rng.normal(size=(20000, 1)), prior)[0] == pytest.approx(0.9, abs=0.01)
    assert prior_overlap(rng.normal(3.0, 1.0, size=(20000, 1)), prior)[0] < 0.4  # moved
    assert prior_overlap(rng.normal(0, 0.1, size=(20000, 1)), prior)[0] < 0.15  # narrowed
    assert np.isnan(prior_overlap(prior, None)).all()
    frame = summarize_draws(
        np.column_stack([prior[:, 0], prior[:, 0]]),
        [0.0, 0.0],
        prior=np.column_stack([prior[:, 0], np.full(20000, np.nan)]),
    )
    assert frame["prior_overlap"].iloc[0] > 0.85 and np.isnan(frame["prior_overlap"].iloc[1])
    assert frame["contraction"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(frame["contraction"].iloc[1])


def test_clustered_mean() -> None:
    # clusters of one: the ordinary MCSE
    x = np.array([1.0, 2.0, 4.0, 7.0])
    one = clustered_mean(x, np.arange(4))
    assert one.value == pytest.approx(3.5) and one.mcse == pytest.approx(mean_estimate(x).mcse)
    # two perfectly dependent copies per cluster: the same MCSE as one copy, n = clusters
    twice = clustered_mean(np.repeat(x, 2), np.repeat(np.arange(4), 2))
    assert twice.n == 4 and twice.mcse == pytest.approx(one.mcse)
    naive = mean_estimate(np.repeat(x, 2))
    assert naive.mcse < twice.mcse  # treating dependent values as independent understates


def _random_table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for g, n in enumerate((1, 2, 5, 30, 30)):
        draws = rng.normal(size=(40, n)) * (g + 1) + 0.3
        truth = rng.normal(size=n)
        if g == 4:
            truth[:3] = 0.0
        cols = summarize_draws(
            draws,
            truth,
            prior=rng.normal(size=(50, n)),
            levels=(0.5, 0.9),
            intervals=("central", "hdi", "left"),
        )
        cols["cell"] = "c"
        cols["estimand"] = ["roas", "contribution_share"][g % 2]
        cols["coords"] = f"k{g}"
        cols["replicate"] = np.arange(n) % 4
        rows.append(cols)
    table = pd.concat(rows, ignore_index=True)
    table.loc[3, "z"] = np.nan
    return table


def test_performance_table_equals_the_scalar_measures() -> None:
    """The vectorized table gives, group by group, exactly the scalar functions' values."""
    table = _random_table()
    kinds = ("central", "hdi", "left")
    fast = performance_table(table, levels=(0.5, 0.9), intervals=kinds)
    fast = fast.set_index(["cell", "estimand", "coords", "metric"])
    for (cell, est, coords), g in table.groupby(["cell", "estimand", "coords"]):
        e, t = g["mean"].to_numpy(), g["truth"].to_numpy()
        ref = {
            "bias": bias(e, t),
            "abs_bias": absolute(bias(e, t)),
            "relative_bias": relative_bias(e, t),
            "abs_relative_bias": absolute(relative_bias(e, t)),
            "rmse": rmse(e, t),
            "empirical_se": empirical_se(e, t),
            "model_se": model_se(g["sd"]),
            "z_mean": mean_estimate(g["z"]),
            "z_sd": sd_estimate(g["z"]),
            "crps": mean_estimate(g["crps"]),
            "contraction": mean_estimate(g["contraction"]),
            "prior_overlap": mean_estimate(g["prior_overlap"]),
            "coverage_90": coverage(g["covered_90"]),
            "coverage_hdi_50": coverage(g["covered_hdi_50"]),
            "coverage_left_90": coverage(g["covered_left_90"]),
            "width_hdi_90": mean_estimate(g["width_hdi_90"]),
            "interval_score_50": mean_estimate(g["interval_score_50"]),
        }
        if est == "contribution_share":
            ref["bias_pp"] = scaled(bias(e, t), 100)
        else:
            assert (cell, est, coords, "bias_pp") not in fast.index
        for metric, r in ref.items():
            row = fast.loc[(cell, est, coords, metric)]
            got = np.array([row["value"], row["mcse"], row["lower"], row["upper"], row["n"]])
            want = np.array([r.value, r.mcse, r.lower, r.upper, r.n], dtype=float)
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=metric)


def test_pooled_measures_are_cluster_robust() -> None:
    table = _random_table()
    pooled = performance_table(table.assign(coords="*"), cluster="replicate", levels=(0.5, 0.9))
    pooled = pooled.set_index(["estimand", "metric"])
    for est, g in table.groupby("estimand"):
        for metric, x in (
            ("bias", (g["mean"] - g["truth"]).to_numpy()),
            ("z_mean", g["z"].to_numpy()),
            ("coverage_90", g["covered_90"].to_numpy(float)),
        ):
            r = clustered_mean(x, g["replicate"].to_numpy())
            row = pooled.loc[(est, metric)]
            np.testing.assert_allclose(
                [row["value"], row["mcse"], row["n"]], [r.value, r.mcse, r.n]
            )


def test_tolerance_share() -> None:
    """7 of 60 replicates off by 30% and the rest exact: the relative bias is 0.035, the
    share within a 15% tolerance is 53/60."""
    rel = np.where(np.arange(60) < 7, 0.3, 0.0)
    table = pd.DataFrame(
        {
            "cell": "c",
            "cell_label": "c",
            "estimand": "roas",
            "family": "derived",
            "coords": "channel=tv",
            "replicate": np.arange(60),
            "relative_error": rel,
        }
    )
    out = tolerance_table(table, 0.15).set_index("pooled")
    assert relative_bias(1 + rel, np.ones(60)).value == pytest.approx(0.035)
    per = out.loc[False]
    assert per["value"] == pytest.approx(53 / 60) and per["n"] == 60
    assert (per["lower"], per["upper"]) == pytest.approx(jeffreys_interval(53, 60))
    assert out.loc[True, "value"] == pytest.approx(53 / 60)
    with_zero = table.assign(relative_error=np.where(np.arange(60) == 0, np.nan, rel))
    assert tolerance_table(with_zero, 0.15).set_index("pooled").loc[False, "n"] == 59
