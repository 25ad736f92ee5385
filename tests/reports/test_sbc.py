"""SBC: ranks, uniformity tests, Holm, ECDF bands; the stubs' acceptance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
from mmm_workbench.reports.tables import RunScores


def test_rank_counts_draws_below_truth_after_thinning() -> None:
    draws = np.arange(10.0)[:, None]  # thinned to 5: draws 0, 2, 4, 6, 8
    rank, n, pit = sbc_rank(draws, [5.0], 5, np.random.default_rng(0))
    assert (rank[0], n) == (3, 5)
    assert 3 / 6 <= pit[0] < 4 / 6
    rank, n, _ = sbc_rank(draws, [5.5], 100, np.random.default_rng(0))
    assert (rank[0], n) == (6, 10)  # never more draws than there are


def test_ties_are_broken_at_random_and_uniformly() -> None:
    draws = np.zeros((4, 20000))  # every draw equals the truth
    rank, n, pit = sbc_rank(draws, np.zeros(20000), 4, np.random.default_rng(1))
    assert n == 4
    counts = np.bincount(rank, minlength=5) / rank.size
    assert counts == pytest.approx(np.full(5, 0.2), abs=0.015)
    assert uniformity_pvalue(pit, "chi2")[1] > 0.001


def test_rank_seeds_are_reproducible_and_distinct() -> None:
    a = rank_rng(0, "cell", 3, "roas").integers(1 << 30, size=4)
    b = rank_rng(0, "cell", 3, "roas").integers(1 << 30, size=4)
    c = rank_rng(0, "cell", 3, "mroas").integers(1 << 30, size=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_holm_by_hand() -> None:
    adjusted = holm([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])


@pytest.mark.parametrize("method", ["pot_c", "chi2", "ecdf"])
def test_uniformity_tests_separate_uniform_from_not(method: str) -> None:
    rng = np.random.default_rng(5)
    uniform = (np.arange(400) + 0.5) / 400
    humped = rng.beta(3, 3, size=400)
    assert uniformity_pvalue(uniform, method)[1] > 0.1  # type: ignore[arg-type]
    assert uniformity_pvalue(humped, method)[1] < 0.01  # type: ignore[arg-type]


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="pot_c, chi2, ecdf"):
        uniformity_pvalue(np.linspace(0.1, 0.9, 10), "ks")  # type: ignore[arg-type]


def test_ecdf_gamma_is_smaller_for_bad_samples() -> None:
    good = (np.arange(100) + 0.5) / 100
    assert ecdf_gamma(good) > ecdf_gamma(good**3)


def _by_cell(frame: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    return {c: g[column].to_numpy() for c, g in frame.groupby("cell")}


def test_stub_acceptance_sbc(stub_scores: RunScores) -> None:
    """The calibrated stub passes SBC (Holm p > 0.01 for every estimand); the
    overconfident and biased stubs fail it for every estimand."""
    result = sbc_uniformity(stub_scores.estimands)
    # cells x (roas[2], share[2], sigma, mean(baseline)): no per-date test of a series
    assert len(result) == 3 * 6
    assert "baseline" not in set(result["estimand"]) and "mean(baseline)" in set(result["estimand"])
    assert result["enough"].all()
    p = _by_cell(result, "p_holm")
    assert (p["calibrated"] > 0.01).all(), result[result["cell"] == "calibrated"]
    assert (p["overconfident"] < 0.01).all()
    assert (p["biased"] < 0.01).all()
    assert not result.loc[result["cell"] == "calibrated", "reject"].any()
    assert (result["rank_draws"] == 100).all() and (result["n"] == 300).all()
    chi2 = _by_cell(sbc_uniformity(stub_scores.estimands, method="chi2"), "p_holm")
    assert (chi2["calibrated"] > 0.01).all() and (chi2["biased"] < 0.01).all()


def test_stub_ecdf_frame(stub_scores: RunScores) -> None:
    frame = sbc_ecdf(stub_scores.estimands, estimands=["roas"])
    assert list(frame.columns) == [
        "cell", "cell_label", "estimand", "coords", "x", "ecdf_diff", "lower_diff",
        "upper_diff", "outside",
    ]  # fmt: skip
    assert len(frame) == 3 * 2 * 301  # cells x channels x (N + 1) points
    assert (frame["lower_diff"] <= frame["upper_diff"]).all()
    outside = frame.groupby("cell")["outside"].any()
    assert bool(outside["overconfident"]) and bool(outside["biased"])
    ends = frame[frame["x"].isin([0.0, 1.0])]
    assert (ends["ecdf_diff"] == 0).all()


def _table(truths: dict[str, np.ndarray], family: str = "parameter") -> pd.DataFrame:
    rows = []
    for cell, values in truths.items():
        for rep, value in enumerate(values):
            rows.append(
                {"cell": cell, "replicate": rep, "estimand": "sigma", "coords": ""}
                | {"truth": value, "family": family}
            )
    return pd.DataFrame(rows)


def test_truth_design_tells_sbc_from_a_fixed_truth() -> None:
    rng = np.random.default_rng(0)
    table = _table({"drawn": rng.normal(size=10), "fixed": np.full(10, 0.7)})
    derived = _table({"drawn": np.full(10, 1.0), "fixed": rng.normal(size=10)}, "derived")
    design = truth_design(pd.concat([table, derived])).set_index("cell")
    # parameters decide: a ROAS that varies with the spend does not make a fixed truth SBC
    assert design.loc["drawn", "truth"] == "drawn" and design.loc["drawn", "label"] == "SBC"
    assert design.loc["fixed", "truth"] == "fixed"
    assert design.loc["fixed", "label"] == "PIT at a fixed truth"
    two = pd.concat([table, table.assign(estimand="adstock_alpha", truth=0.3)])
    assert truth_design(two).set_index("cell").loc["drawn", "truth"] == "partly"
    single = _table({"one": np.array([0.2])})
    assert truth_design(single).loc[0, "truth"] == "fixed"  # one replicate shows no draw


def test_rank_histograms_are_per_cell() -> None:
    """A biased cell and a calibrated one: per cell the biased histogram leaves its band;
    pooled, half the ranks would hide the other half's pile-up."""
    rng = np.random.default_rng(1)
    good = pd.DataFrame({"pit": rng.uniform(size=500), "cell": "good"})
    bad = pd.DataFrame({"pit": rng.beta(5, 1, size=500), "cell": "bad"})
    table = pd.concat([good, bad]).assign(
        cell_label=lambda d: d["cell"], estimand="roas", coords=""
    )
    hist = rank_histogram(table, bins=10)
    assert set(hist["cell"]) == {"good", "bad"} and (hist["n"] == 500).all()
    outside = (hist["count"] < hist["band_lower"]) | (hist["count"] > hist["band_upper"])
    by_cell = outside.groupby(hist["cell"]).any()
    assert bool(by_cell["bad"]) and not bool(by_cell["good"])


def test_too_few_replicates_are_marked() -> None:
    rng = np.random.default_rng(2)
    n = MIN_UNIFORMITY_REPLICATES - 1
    table = pd.DataFrame(
        {"cell": "c", "cell_label": "c", "estimand": "roas", "coords": ""}
        | {"pit": rng.uniform(size=n), "rank_draws": 100}
    )
    out = sbc_uniformity(table)
    assert not out["enough"].iloc[0] and out["n"].iloc[0] == n
    assert sbc_uniformity(pd.concat([table] * 2))["enough"].iloc[0]
