"""The data-generating process: exact identities, determinism, counterfactual truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from mmm_workbench.scenarios import Scenario, parse_scenario, replicate_rng, spec_hash
from mmm_workbench.simulate import generate
from mmm_workbench.simulate.transforms import ADSTOCKS, SATURATIONS, Param
from tests.conftest import tiny_raw


def _draw_param(draw: st.DrawFn, p: Param) -> float:
    """A value well inside the parameter's bounds (edges are the loader's business)."""
    low = p.low if np.isfinite(p.low) else -3.0
    high = min(p.high, low + 3.0)
    margin = 0.02 * (high - low)
    return draw(st.floats(low + margin, high - margin))


@st.composite
def raw_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n_ch = draw(st.integers(1, 3))
    periods = draw(st.integers(16, 48))
    model = draw(st.sampled_from(["additive", "multiplicative"]))
    kinds = ["normal", "student_t"] + (["lognormal"] if model == "additive" else [])
    noise_kind = draw(st.sampled_from(kinds))
    channels = []
    for c in range(n_ch):
        ad = ADSTOCKS[draw(st.sampled_from(sorted(ADSTOCKS)))]
        sat = SATURATIONS[draw(st.sampled_from(sorted(SATURATIONS)))]
        spend: dict[str, Any] = {
            "demand_share": draw(st.floats(0.5, 20)),
            "demand_strength": draw(st.floats(0, 1.5)),
            "noise_sd": draw(st.floats(0, 0.5)),
            "noise": draw(st.sampled_from(["normal", "lognormal"])),
        }
        if draw(st.booleans()):
            spend["flighting"] = {"on_mean": 4.0, "off_mean": 2.0}
        if draw(st.booleans()):
            spend["shocks"] = [{"start": 3, "periods": 4, "factor": 2.5}]
            spend["dark"] = [{"start": 10, "periods": 3}]
        channels.append(
            {
                "name": f"ch{c}",
                "spend": spend,
                "adstock": {
                    "kind": ad.name,
                    "l_max": draw(st.integers(3 if ad.name == "weibull_pdf" else 1, 8)),
                    "normalize": draw(st.booleans()),
                    **{p.name: _draw_param(draw, p) for p in ad.params},
                },
                "saturation": {
                    "kind": sat.name,
                    **{p.name: _draw_param(draw, p) for p in sat.params},
                },
                "beta": draw(st.floats(0, 0.5 if model == "multiplicative" else 50)),
                "order": draw(st.sampled_from(["adstock_first", "saturation_first"])),
                "x_scale": draw(
                    st.sampled_from(["max", 100.0] if model == "additive" else ["max"])
                ),
            }
        )
    data: dict[str, Any] = {
        "periods": periods,
        "train_periods": draw(st.integers(8, periods)),
        "model": model,
        "intercept": 500.0,
        "demand": {"scale": 100.0, "noise_sd": 0.05, "rho": draw(st.floats(-0.5, 0.9))},
        "noise": {"kind": noise_kind, "sd": draw(st.floats(0, 0.1 if model != "additive" else 5))},
        "channels": channels,
        "events": [{"name": "promo", "dates": ["2021-01-29"], "effect": 30.0, "duration": 2}],
        "lift_tests": [
            {"channel": "ch0", "start": 4, "periods": 3, "spend_change": 0.5, "sigma": 1.0}
        ],
    }
    if n_ch > 1 and draw(st.booleans()):
        data["mediation"] = [
            {
                "source": "ch0",
                "target": "ch1",
                "on": draw(st.sampled_from(["spend", "effect"])),
                "strength": 0.7,
            }
        ]
        data["spend_correlation"] = 0.4
    return {"name": "random", "seed": draw(st.integers(0, 2**32)), "data": data}


def _tree(scenario: Scenario, replicate: int = 0) -> xr.DataTree:
    return generate(
        scenario.data, replicate_rng(scenario.seed, spec_hash(scenario.data), replicate)
    )


@settings(max_examples=60)
@given(raw_scenarios())
def test_target_decomposes_exactly(raw: dict[str, Any]) -> None:
    tree = _tree(parse_scenario(raw))
    truth = tree["truth"]
    parts = (
        truth["baseline"]
        + truth["channel_contribution"].sum("channel")
        + truth["interaction"]
        + truth["noise"]
    )
    np.testing.assert_allclose(parts, tree["observed"]["sales"], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        truth["baseline"],
        truth["baseline_intercept"] + truth["baseline_demand"] + truth["baseline_events"],
        rtol=1e-12,
    )
    spend = tree["observed"]["spend"].to_numpy()
    assert np.all(np.isfinite(spend)) and np.all(spend >= 0)


@settings(max_examples=40)
@given(raw_scenarios())
def test_contribution_equals_counterfactual_removal(raw: dict[str, Any]) -> None:
    """Additive model, additive noise, no channel-to-channel links: the equation's terms are
    exactly what switching a channel off (noise held fixed) takes away."""
    raw["data"].update(model="additive", mediation=[])
    if raw["data"]["noise"]["kind"] == "lognormal":
        raw["data"]["noise"]["kind"] = "normal"
    for ch in raw["data"]["channels"]:
        ch["beta"] = min(ch["beta"] * 100, 50.0)
    truth = _tree(parse_scenario(raw))["truth"]
    np.testing.assert_allclose(truth["interaction"], 0.0, atol=1e-9)
    np.testing.assert_allclose(
        truth["channel_total_effect"], truth["channel_contribution"], rtol=1e-10, atol=1e-9
    )


def test_mediation_makes_total_effect_exceed_direct_contribution(tiny: Scenario) -> None:
    for on in ("spend", "effect"):
        raw = tiny_raw(mediation=[{"source": "tv", "target": "search", "on": on, "strength": 1.0}])
        truth = _tree(parse_scenario(raw))["truth"]
        tv = truth.sel(channel="tv")
        assert float(tv["channel_total_effect"].sum()) > 1.05 * float(
            tv["channel_contribution"].sum()
        )
        search = truth.sel(channel="search")
        np.testing.assert_allclose(
            search["channel_total_effect"], search["channel_contribution"], rtol=1e-10, atol=1e-9
        )


def test_same_seed_identical_other_replicate_different(tiny: Scenario) -> None:
    a, b, c = _tree(tiny, 0), _tree(tiny, 0), _tree(tiny, 1)
    xr.testing.assert_identical(a, b)
    assert not np.allclose(a["observed"]["sales"], c["observed"]["sales"])
    assert not np.allclose(a["observed"]["spend"], c["observed"]["spend"])


def test_adding_a_lift_test_leaves_the_data_unchanged(tiny: Scenario) -> None:
    raw = tiny_raw(
        lift_tests=[{"channel": "tv", "start": 5, "periods": 3, "spend_change": -1.0, "sigma": 2.0}]
    )
    with_test = parse_scenario(raw)
    a = generate(tiny.data, np.random.default_rng(3))
    b = generate(with_test.data, np.random.default_rng(3))
    xr.testing.assert_identical(
        a["observed"].to_dataset().drop_dims("experiment"),
        b["observed"].to_dataset().drop_dims("experiment"),
    )
    assert b["observed"].sizes["experiment"] == 1


def test_multiplicative_model_needs_positive_baseline() -> None:
    raw = tiny_raw(model="multiplicative", intercept=-1000.0)
    with pytest.raises(
        ValueError, match=r"data\.model = 'multiplicative': the baseline must be positive"
    ):
        generate(parse_scenario(raw).data, np.random.default_rng(0))


def test_daily_data_with_day_of_week_and_events() -> None:
    raw = tiny_raw(
        freq="D",
        periods=28,
        train_periods=21,
        start="2024-01-01",
        events=[{"name": "sale", "dates": ["2024-01-10"], "effect": 100.0, "duration": 2}],
    )
    raw["data"]["demand"]["day_of_week"] = [0, 0, 0, 0, 0.2, 0.3, -0.1]
    tree = generate(parse_scenario(raw).data, np.random.default_rng(0))
    obs, truth = tree["observed"], tree["truth"]
    assert list(obs["event_sale"].to_numpy().nonzero()[0]) == [9, 10]
    season = truth["demand_seasonality"].to_numpy()
    dates = pd.DatetimeIndex(obs["date"].to_numpy())
    harmonic = 0.1 * np.sin(2 * np.pi * np.arange(28) / 13) + 0.05 * np.cos(
        2 * np.pi * np.arange(28) / 13
    )
    np.testing.assert_allclose(
        season - harmonic, np.array([0, 0, 0, 0, 0.2, 0.3, -0.1])[dates.day_of_week], atol=1e-12
    )


def test_trend_kinds() -> None:
    from mmm_workbench.scenarios.spec import LogTrend, PiecewiseTrend
    from mmm_workbench.simulate.baseline import trend

    np.testing.assert_allclose(trend(LogTrend(start=1, stop=np.e, shift=1), 2), [1.0, 2.0])
    piece = trend(PiecewiseTrend(level=1, slope=1, changepoints=((2, -1.0),)), 5)
    np.testing.assert_allclose(piece, [1, 2, 3, 3, 3])


def test_spend_features(tiny: Scenario) -> None:
    raw = tiny_raw(total_budget=1e5, spend_correlation=0.9)
    raw["data"]["channels"][0]["spend"].update(
        flighting={"on_mean": 3.0, "off_mean": 3.0},
        dark=[{"start": 30, "periods": 5}],
        shocks=[{"start": 20, "periods": 2, "factor": 0.0}],
    )
    spend = _tree(parse_scenario(raw))["observed"]["spend"].to_numpy()
    assert spend.sum() == pytest.approx(1e5)
    tv = spend[:, 0]
    assert np.all(tv[30:35] == 0) and np.all(tv[20:22] == 0)
    assert 5 < np.sum(tv == 0) < 35  # flighting switched it off some of the time
