"""The confounded-demand scenario against an independent numpy computation of the
article's formulas ("Mastering Marketing Mix Modelling in Python", part 1), starting
from the files ``mmm-workbench simulate`` writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mmm_workbench.recover.cli import main
from mmm_workbench.scenarios import Scenario
from mmm_workbench.simulate import read_dataset

CHANNELS = {
    "tv": (0.5, 1.5, 350.0, 10),
    "social": (0.25, 2.5, 150.0, 15),
    "search": (0.05, 3.5, 50.0, 20),
}  # alpha, lam, beta, spend scalar


def article_effect(
    x: np.ndarray, scale: float, alpha: float, lam: float, beta: float
) -> np.ndarray:
    """beta * logistic(lam * geometric_adstock(x / scale, alpha, l_max=8, normalized))."""
    w = alpha ** np.arange(8)
    w = w / w.sum()
    adstocked = np.convolve(x / scale, w)[: len(x)]
    return beta * (1 - np.exp(-lam * adstocked)) / (1 + np.exp(-lam * adstocked))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, xr.DataTree, Path]:
    out = tmp_path_factory.mktemp("confounded")
    assert main(["simulate", "scenarios/confounded-demand.toml", "--out", str(out)]) == 0
    return pd.read_csv(out / "data.csv"), read_dataset(out / "dataset.nc"), out


def test_files_and_columns(written: tuple[pd.DataFrame, xr.DataTree, Path]) -> None:
    frame, _, out = written
    assert list(frame.columns) == ["date", "tv", "social", "search", "demand_proxy", "sales"]
    assert len(frame) == 156 and frame["date"].iloc[0] == "2021-01-01"
    lifts = pd.read_csv(out / "lift_tests.csv")
    assert list(lifts.columns[:5]) == ["channel", "x", "delta_x", "delta_y", "sigma"]


def test_contributions_match_the_article_formulas(
    written: tuple[pd.DataFrame, xr.DataTree, Path],
) -> None:
    frame, tree, _ = written
    truth = tree["truth"]
    total = np.zeros(len(frame))
    for ch, (alpha, lam, beta, _) in CHANNELS.items():
        x = frame[ch].to_numpy()
        effect = article_effect(x, x.max(), alpha, lam, beta)
        np.testing.assert_allclose(
            truth["channel_contribution"].sel(channel=ch), effect, rtol=1e-10
        )
        total += effect
    # sales = demand + channel effects, exactly (no extra noise in the article)
    np.testing.assert_allclose(frame["sales"], truth["demand"].to_numpy() + total, rtol=1e-10)


def test_demand_and_spend_follow_the_article(
    written: tuple[pd.DataFrame, xr.DataTree, Path],
) -> None:
    frame, tree, _ = written
    truth = tree["truth"]
    n = 156
    trend = (np.linspace(0, 20, n) + 5) ** (1 / 8) - 1
    season = 0.1 * np.sin(2 * np.pi * np.arange(n) / 52)
    np.testing.assert_allclose(truth["demand_trend"], trend, rtol=1e-12)
    np.testing.assert_allclose(truth["demand_seasonality"], season, atol=1e-12)
    demand = truth["demand"].to_numpy()
    np.testing.assert_allclose(
        demand, 1000 * (trend * (1 + season) + truth["demand_noise"].to_numpy())
    )
    assert 0.07 < np.std(truth["demand_noise"]) < 0.13  # N(0, 0.1)
    assert 0.07 < np.std(frame["demand_proxy"] / demand) < 0.13  # |demand x N(1, 0.1)|
    for ch, (*_, scalar) in CHANNELS.items():
        ratio = frame[ch] / (demand * scalar)  # |N(1, 0.3)|
        assert 0.85 < ratio.mean() < 1.15 and 0.2 < ratio.std() < 0.4


def test_roas_mroas_and_lift_tests_by_finite_differences(
    written: tuple[pd.DataFrame, xr.DataTree, Path],
) -> None:
    """Causal estimands over the whole carry-over: the 7 periods (l_max 8) past the last
    week, with no spend there, count (simulate/truth.py's scope)."""
    frame, tree, _ = written
    truth = tree["truth"]
    lifts = tree["observed"]
    assert truth.attrs["carry_over_periods"] == 7
    for ch, (alpha, lam, beta, _) in CHANNELS.items():
        x = frame[ch].to_numpy()
        long = np.pad(x, (0, 7))  # the world continues with no spend
        base = article_effect(long, x.max(), alpha, lam, beta)  # the world's scale stays fixed
        assert float(truth["roas"].sel(channel=ch)) == pytest.approx(
            base.sum() / x.sum(), rel=1e-10
        )
        assert base[156:].sum() > 1e-6 * base.sum()  # the tail matters at this tolerance
        more = article_effect(1.01 * long, x.max(), alpha, lam, beta)
        mroas = (more - base).sum() / (0.01 * x.sum())
        assert float(truth["mroas"].sel(channel=ch)) == pytest.approx(mroas, rel=1e-10)
        share = base[:156].sum() / frame["sales"].sum()
        assert float(truth["contribution_share"].sel(channel=ch)) == pytest.approx(share, rel=1e-10)
        # response curve at multiplier 1 is the whole effect, at 0 nothing
        curve = truth["response"].sel(channel=ch)
        assert float(curve.sel(multiplier=1.0)) == pytest.approx(base.sum(), rel=1e-10)
        assert float(curve.sel(multiplier=0.0)) == 0.0
    for i in range(lifts.sizes["experiment"]):
        ch = str(lifts["lift_channel"][i].item())
        alpha, lam, beta, _ = CHANNELS[ch]
        x = frame[ch].to_numpy()
        start = int(np.flatnonzero(frame["date"] == str(lifts["lift_start"][i].to_numpy())[:10])[0])
        changed = x.copy()
        changed[start : start + 4] *= 0.5
        lift = article_effect(changed, x.max(), alpha, lam, beta) - article_effect(
            x, x.max(), alpha, lam, beta
        )
        true_dy = lift[start : start + 4 + 7].sum() / 4
        assert float(truth["lift_delta_y_true"][i]) == pytest.approx(true_dy, rel=1e-10)
        assert float(lifts["lift_delta_x"][i]) == pytest.approx(-0.5 * x[start : start + 4].mean())


def test_true_shares_over_replicates(confounded: Scenario) -> None:
    """The truth the article's over-crediting is measured against: tv > social > search."""
    from mmm_workbench.scenarios import replicate_rng, spec_hash
    from mmm_workbench.simulate import generate

    cell = spec_hash(confounded.data)
    shares = np.array(
        [
            generate(confounded.data, replicate_rng(confounded.seed, cell, r))["truth"][
                "contribution_share"
            ]
            for r in range(10)
        ]
    )
    assert np.all(shares[:, 0] > shares[:, 1]) and np.all(shares[:, 1] > shares[:, 2])
    assert np.all((shares > 0.02) & (shares < 0.3))
