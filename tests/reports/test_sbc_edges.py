"""Rank statistics at their edges, each against a value computed by hand.

The cases the mutation run of ``reports/sbc.py`` showed untested (issue 17): where exactly
the ECDF band's ``outside`` flag is set, the band's end points, chi-square with fewer than
100 values, Holm on all-NaN input and Holm's cap at 1; and the small cases around them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mmm_workbench.reports.sbc import (
    MIN_UNIFORMITY_REPLICATES,
    ecdf_gamma,
    holm,
    rank_histogram,
    rank_rng,
    sbc_ecdf,
    sbc_rank,
    sbc_uniformity,
    truth_design,
    uniformity_pvalue,
)


def _pits(values: np.ndarray, cell: str = "c", estimand: str = "roas") -> pd.DataFrame:
    return pd.DataFrame(
        {"cell": cell, "cell_label": cell.upper(), "estimand": estimand, "coords": ""}
        | {"pit": values, "rank_draws": 100}
    )


# ---------------------------------------------------------------------------- Holm


def test_holm_caps_at_one() -> None:
    """Sorted 0.01, 0.7, 0.8 (m = 3): 0.03, min(1, 1.4) = 1, then the running max keeps 1."""
    np.testing.assert_array_equal(holm([0.8, 0.01, 0.7]), [1.0, 0.03, 1.0])
    np.testing.assert_allclose(holm([0.6, 0.01]), [0.6, 0.02])  # 1 * 0.6: below the cap
    np.testing.assert_allclose(holm([0.3]), [0.3])  # one test: unchanged


def test_holm_of_nothing_finite_is_all_nan() -> None:
    out = holm([np.nan, np.nan, np.inf])
    assert out.shape == (3,) and np.isnan(out).all()
    assert holm([]).shape == (0,)
    np.testing.assert_allclose(holm([[0.02, np.nan], [0.01, 0.5]])[[0, 2, 3]], [0.04, 0.03, 0.5])


# ------------------------------------------------------------------ uniformity tests


def test_chi2_with_fewer_than_100_values() -> None:
    """30 values: min(20, 30 // 5) = 6 bins, 5 expected in each; counts 10, 5, 5, 5, 5, 0."""
    edges = np.arange(6) / 6
    counts = [10, 5, 5, 5, 5, 0]
    pit = np.concatenate([np.full(c, e + 1 / 12) for e, c in zip(edges, counts, strict=True)])
    statistic, p = uniformity_pvalue(pit, "chi2")
    assert statistic == pytest.approx((25 + 25) / 5)
    assert p == pytest.approx(stats.chi2.sf(10.0, 5))
    # 7 values: 7 // 5 = 1 bin is raised to 2; 5 below 1/2, 2 above, 3.5 expected
    seven = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.9])
    statistic, p = uniformity_pvalue(seven, "chi2")
    assert statistic == pytest.approx(2 * 1.5**2 / 3.5)
    assert p == pytest.approx(stats.chi2.sf(2 * 1.5**2 / 3.5, 1))
    # bins given: 4 bins of 7 values, counts 3, 2, 1, 1
    statistic, p = uniformity_pvalue(seven, "chi2", bins=4)
    expected = sum((c - 1.75) ** 2 / 1.75 for c in (3, 2, 1, 1))
    assert (statistic, p) == pytest.approx((expected, stats.chi2.sf(expected, 3)))


def test_chi2_uses_twenty_bins_from_100_values_on() -> None:
    """200 values, 10 in each of 20 bins: chi2 = 0; with 40 bins (200 // 5) it would not be."""
    pit = (np.arange(200) // 10 + 0.25) / 20
    statistic, p = uniformity_pvalue(pit, "chi2")
    assert statistic == 0.0 and p == 1.0


def test_fewer_than_two_finite_values_have_no_test() -> None:
    for method in ("pot_c", "chi2", "ecdf"):
        for pit in ([0.3], [0.3, np.nan], []):
            statistic, p = uniformity_pvalue(pit, method)
            assert math.isnan(statistic) and math.isnan(p)
    # NaN is dropped, not counted: the same as the two finite values alone
    assert uniformity_pvalue([0.2, np.nan, 0.7], "chi2") == uniformity_pvalue([0.2, 0.7], "chi2")


def test_pot_c_has_no_statistic_and_a_probability() -> None:
    statistic, p = uniformity_pvalue(np.full(30, 0.999), "pot_c")
    assert math.isnan(statistic) and 0.0 <= p < 1e-6


def test_ecdf_p_value_counts_the_simulated_null() -> None:
    """Every value at 0.999: no uniform sample of 9 simulations is as extreme, p = 1 / 10."""
    gamma, p = uniformity_pvalue(np.full(20, 0.999), "ecdf", n_simulations=9)
    assert p == pytest.approx(1 / 10)
    assert gamma == pytest.approx(ecdf_gamma(np.full(20, 0.999)))
    _, p_uniform = uniformity_pvalue((np.arange(20) + 0.5) / 20, "ecdf", n_simulations=9)
    assert p_uniform == pytest.approx(round(p_uniform * 10) / 10) and p_uniform > 0.5


def test_ecdf_null_distribution_is_seeded_with_0_by_default() -> None:
    """The simulated null of the ECDF test is reproducible: seed 0 unless told otherwise
    (a p-value a multiple of 1 / 100 with 99 simulations, and another seed draws another)."""
    pit = ((np.arange(20) + 0.5) / 20) ** 1.3
    default = uniformity_pvalue(pit, "ecdf", n_simulations=99)
    assert default == uniformity_pvalue(pit, "ecdf", n_simulations=99, seed=0)
    assert default[1] != uniformity_pvalue(pit, "ecdf", n_simulations=99, seed=1)[1]
    assert default[1] * 100 == pytest.approx(round(default[1] * 100))


def test_ecdf_gamma_by_hand() -> None:
    # N = 2 at z = 1/2: one value at or below it; P(X <= 1) = P(X >= 1) = 3/4 for Bin(2, 1/2)
    assert ecdf_gamma([0.25, 0.75]) == pytest.approx(1.5)
    # both values below 1/2: P(X <= 2) = 1, P(X >= 2) = 1/4
    assert ecdf_gamma([0.1, 0.2], z=[0.5]) == pytest.approx(0.5)
    # both above: P(X <= 0) = 1/4
    assert ecdf_gamma([0.7, 0.8]) == pytest.approx(0.5)
    # N = 3, z = 1/3, 2/3, values 0.1, 0.5, 0.9: counts 1, 2; Bin(3, 1/3) and Bin(3, 2/3)
    p_le_1 = (2 / 3) ** 3 + 3 * (1 / 3) * (2 / 3) ** 2
    p_ge_1 = 1 - (2 / 3) ** 3
    assert ecdf_gamma([0.9, 0.1, 0.5]) == pytest.approx(2 * min(p_le_1, p_ge_1))


# ----------------------------------------------------------------- the ECDF and its band


def _ecdf(values: np.ndarray) -> pd.DataFrame:
    frame = sbc_ecdf(_pits(values))
    return frame.assign(
        lower=frame["lower_diff"] + frame["x"], upper=frame["upper_diff"] + frame["x"]
    )


def test_ecdf_band_end_points_and_grid() -> None:
    frame = _ecdf((np.arange(20) + 0.5) / 20)
    np.testing.assert_allclose(frame["x"], np.arange(21) / 20)
    ends = frame.iloc[[0, -1]]
    np.testing.assert_array_equal(ends["lower"], [0.0, 1.0])
    np.testing.assert_array_equal(ends["upper"], [0.0, 1.0])
    np.testing.assert_array_equal(ends["ecdf_diff"], [0.0, 0.0])
    assert not frame["outside"].any()  # a perfectly even sample is inside everywhere
    # the uniform ECDF of (i + 1/2) / 20 at i / 20 is i / 20: difference 0 at every point
    np.testing.assert_allclose(frame["ecdf_diff"], 0.0, atol=1e-12)
    # a simultaneous band is at least as wide as the pointwise 95% binomial band
    inner = frame.iloc[1:-1]
    x = inner["x"].to_numpy()
    assert (inner["lower"] <= stats.binom.ppf(0.025, 20, x) / 20 + 1e-12).all()
    assert (inner["upper"] >= stats.binom.ppf(0.975, 20, x) / 20 - 1e-12).all()
    assert (frame["lower"] <= frame["upper"]).all()
    assert list(frame[["cell", "cell_label", "estimand", "coords"]].iloc[0]) == [
        "c",
        "C",
        "roas",
        "",
    ]


def test_ecdf_outside_flag_is_set_exactly_where_the_ecdf_leaves_its_band() -> None:
    """All 20 values at 0.999: the ECDF is 0 at every inner point, so it is outside exactly
    where the band's lower edge is above 0: never at 1/20 (P(no value below) = 0.95^20 =
    0.36), always from 1/2 on (P = 0.5^20); and never at the ends."""
    frame = _ecdf(np.full(20, 0.999))
    inner = frame.iloc[1:-1]
    np.testing.assert_allclose(inner["ecdf_diff"], -inner["x"])
    np.testing.assert_array_equal(inner["outside"], inner["lower"] > 0)
    assert inner["lower"].iloc[0] == 0.0 and not inner["outside"].iloc[0]
    assert inner.loc[inner["x"] >= 0.5, "outside"].all()
    assert not frame["outside"].iloc[0] and not frame["outside"].iloc[-1]


def test_ecdf_outside_above_the_band() -> None:
    """All 20 values at 0.001: the ECDF is 1 from 1/20 on, outside where the upper edge is
    below 1: at 1/20 (P(all below) = 0.05^20) but not near 1."""
    frame = _ecdf(np.full(20, 0.001))
    inner = frame.iloc[1:-1]
    np.testing.assert_allclose(inner["ecdf_diff"], 1 - inner["x"])
    np.testing.assert_array_equal(inner["outside"], inner["upper"] < 1)
    assert inner["outside"].iloc[0] and not inner["outside"].iloc[-1]


def test_ecdf_ends_are_pinned_even_for_values_on_the_boundary() -> None:
    """Values of exactly 0 would put the raw ECDF at 1 in x = 0; the ends are 0 and 1."""
    frame = _ecdf(np.array([0.0, 0.0, 0.5, 0.75]))
    np.testing.assert_allclose(frame["x"], [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(frame["ecdf_diff"], [0.0, 0.25, 0.25, 0.25, 0.0])
    assert not frame["outside"].iloc[0]


def test_ecdf_groups_need_two_finite_values() -> None:
    table = pd.concat(
        [
            _pits(np.array([0.3, np.nan, np.nan]), cell="one"),
            _pits(np.array([0.3, np.nan, 0.6]), cell="two"),
            _pits(np.array([0.5, 0.5]), cell="two", estimand="mroas"),
        ]
    )
    frame = sbc_ecdf(table)
    assert set(frame["cell"]) == {"two"} and len(frame) == 2 * 3  # N = 2: x = 0, 1/2, 1
    only = sbc_ecdf(table, estimands=["mroas"])
    assert set(only["estimand"]) == {"mroas"} and len(only) == 3
    empty = sbc_ecdf(table, estimands=["nothing"])
    assert empty.empty and list(empty.columns) == [
        "cell", "cell_label", "estimand", "coords", "x", "ecdf_diff", "lower_diff",
        "upper_diff", "outside",
    ]  # fmt: skip


# --------------------------------------------------------------- per-cell uniformity


def test_uniformity_table_by_hand() -> None:
    """Two cells of 30 values with chi2 counts (10, 5, 5, 5, 5, 0) and even: Holm within a
    cell only; ``reject`` is ``p_holm < alpha``; ``enough`` is n >= 20."""
    edges = np.arange(6) / 6
    lumpy = np.concatenate(
        [np.full(c, e + 1 / 12) for e, c in zip(edges, (10, 5, 5, 5, 5, 0), strict=True)]
    )
    even = np.repeat(edges + 1 / 12, 5)
    p_lumpy = stats.chi2.sf(10.0, 5)
    table = pd.concat(
        [
            _pits(lumpy, "a", "roas"),
            _pits(even, "a", "share"),
            _pits(lumpy, "b", "roas").assign(rank_draws=[50] + [100] * 29),
            _pits(even[:10], "c", "roas"),
            _pits(lumpy, "a", "baseline").assign(family="series"),
        ]
    ).assign(
        family=lambda d: d.get("family", pd.Series("parameter", index=d.index)).fillna("parameter")
    )
    out = sbc_uniformity(table, method="chi2", alpha=0.1).set_index(["cell", "estimand"])
    assert list(out.index) == [("a", "roas"), ("a", "share"), ("b", "roas"), ("c", "roas")]
    assert out.loc[("a", "roas"), "p_value"] == pytest.approx(p_lumpy)
    assert out.loc[("a", "share"), "p_value"] == pytest.approx(1.0)
    assert out.loc[("a", "roas"), "p_holm"] == pytest.approx(2 * p_lumpy)  # 2 tests in a
    assert out.loc[("b", "roas"), "p_holm"] == pytest.approx(p_lumpy)  # 1 test in b
    assert out.loc[("b", "roas"), "rank_draws"] == 50  # the fewest draws of the group
    # c: 10 values, max(2, 10 // 5) = 2 bins, all 10 in the first: chi2 = 2 * 25 / 5, 1 df
    assert out.loc[("c", "roas"), "p_value"] == pytest.approx(stats.chi2.sf(10.0, 1))
    assert list(out["reject"]) == [False, False, True, True]
    assert list(out["n"]) == [30, 30, 30, 10]
    assert list(out["enough"]) == [True, True, True, False]
    assert (out["method"] == "chi2").all()
    assert out.loc[("a", "roas"), "statistic"] == pytest.approx(10.0)
    assert 2 * p_lumpy > 0.1 > p_lumpy  # the cells' Holm corrections decide differently


def test_enough_starts_at_the_minimum() -> None:
    rng = np.random.default_rng(3)
    at = sbc_uniformity(_pits(rng.uniform(size=MIN_UNIFORMITY_REPLICATES)))
    assert bool(at["enough"].iloc[0]) and at["n"].iloc[0] == MIN_UNIFORMITY_REPLICATES


# ------------------------------------------------------------------ rank histograms


def test_rank_histogram_counts_and_band_by_hand() -> None:
    """10 values in 5 bins: 99% band of Bin(10, 0.2) is [0, 6] (P(X <= 5) = 0.9936 <
    0.995 <= P(X <= 6) = 0.9991)."""
    pit = np.array([0.05, 0.1, 0.15, 0.3, 0.5, 0.55, 0.7, 0.9, 0.95, 0.99])
    hist = rank_histogram(_pits(pit), bins=5)
    assert list(hist["bin"]) == [0, 1, 2, 3, 4]
    assert list(hist["count"]) == [3, 1, 2, 1, 3]
    assert (hist["band_lower"] == 0).all() and (hist["band_upper"] == 6).all()
    assert (hist["n"] == 10).all() and (hist["cell_label"] == "C").all()
    assert rank_histogram(_pits(pit[:4]), bins=5).empty  # fewer values than bins
    assert len(rank_histogram(_pits(pit[:5]), bins=5)) == 5


# -------------------------------------------------------------------- ranks and truth


def test_rank_thinning_and_pit_by_hand() -> None:
    draws = np.arange(12.0)[:, None]  # thinned to 4: i * 12 // 4 = draws 0, 3, 6, 9
    rank, n, pit = sbc_rank(draws, [7.0], 4, np.random.default_rng(0))
    assert (rank[0], n) == (3, 4)
    assert 3 / 5 <= pit[0] < 4 / 5
    rank, n, _ = sbc_rank(draws, [7.0], 0, np.random.default_rng(0))  # at least one draw
    assert (rank[0], n) == (1, 1)
    rank, n, _ = sbc_rank(draws, [-1.0], 3, np.random.default_rng(0))  # draws 0, 4, 8
    assert (rank[0], n) == (0, 3)
    rank, n, pit = sbc_rank(draws, [11.5], 12, np.random.default_rng(0))  # above every draw
    assert (rank[0], n) == (12, 12) and 12 / 13 <= pit[0] < 1.0


def test_rank_rng_depends_on_every_word() -> None:
    base = rank_rng(0, "cell", 3, "roas").integers(1 << 30, size=4)
    for other in (
        rank_rng(1, "cell", 3, "roas"),
        rank_rng(0, "cel", 3, "roas"),
        rank_rng(0, "cell", 4, "roas"),
        rank_rng(0, "cell", 3, "roa"),
    ):
        assert not np.array_equal(base, other.integers(1 << 30, size=4))


def _truths(values: dict[str, list[float]], family: str = "parameter") -> pd.DataFrame:
    rows = [
        {"cell": cell, "replicate": rep, "estimand": "sigma", "coords": "", "truth": v}
        | {"family": family}
        for cell, vs in values.items()
        for rep, v in enumerate(vs)
    ]
    return pd.DataFrame(rows)


def test_truth_design_tolerance_is_relative_to_the_truth() -> None:
    """Truths within 1e-9 * max(1, |truth|) are the same truth."""
    table = _truths(
        {
            "big_same": [1000.0, 1000.0 + 5e-7],  # within 1e-9 * 1000
            "big_drawn": [1000.0, 1000.0 + 2e-6],
            "small_same": [0.1, 0.1 + 5e-10],  # within 1e-9 * 1 (not 1e-9 * 0.1)
            "small_drawn": [0.1, 0.1 + 2e-9],
        }
    )
    design = truth_design(table).set_index("cell")
    assert design.loc["big_same", "truth"] == "fixed"
    assert design.loc["big_drawn", "truth"] == "drawn"
    assert design.loc["small_same", "truth"] == "fixed"
    assert design.loc["small_drawn", "truth"] == "drawn"
    assert list(design.columns) == ["truth", "label", "n_varying", "n_fixed", "replicates"]
    assert tuple(design.loc["big_drawn", ["n_varying", "n_fixed", "replicates"]]) == (1, 0, 2)


def test_truth_design_without_parameters_reads_other_estimands_but_not_series() -> None:
    derived = _truths({"c": [1.0, 2.0]}, "derived")
    series = _truths({"c": [5.0, 5.0]}, "series")
    assert truth_design(derived).loc[0, "truth"] == "drawn"
    both = truth_design(pd.concat([derived, series.assign(estimand="baseline")]))
    assert both.loc[0, "truth"] == "drawn" and both.loc[0, "n_fixed"] == 0  # the series is ignored
    partly = pd.concat([derived, _truths({"c": [3.0, 3.0]}, "derived").assign(estimand="mu")])
    row = truth_design(partly).iloc[0]
    assert (row["truth"], row["label"]) == ("partly", "PIT at a partly fixed truth")
    assert (row["n_varying"], row["n_fixed"]) == (1, 1)
