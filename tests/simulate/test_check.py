"""``simulate.check_data``: what only the simulator's formulas can tell about a data spec,
checked before anything is drawn, with errors that name the path."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from mmm_workbench.scenarios import ScenarioError, parse_scenario
from mmm_workbench.simulate import check_data
from tests.conftest import tiny_raw


def _data(**changes: Any) -> Any:
    raw = tiny_raw()
    for key, value in changes.items():
        raw["data"][key] = copy.deepcopy(value)
    if raw["data"].get("model") == "multiplicative":  # log-scale effects
        for channel in raw["data"]["channels"]:
            channel["beta"] = 0.1
    return parse_scenario(raw).data


def test_a_valid_spec_passes() -> None:
    check_data(_data())


def test_demand_that_is_zero_everywhere_is_refused() -> None:
    """Spend follows demand: nothing would be spent, every return undefined (it gave NaN
    shares and a RuntimeWarning in the simulator)."""
    flat = {"scale": 5.0, "trend": {"kind": "constant", "level": 0.0}}
    with pytest.raises(ScenarioError, match=r"^data\.demand: zero in every period"):
        check_data(_data(demand=flat))
    check_data(_data(demand={**flat, "noise_sd": 0.1}))  # noisy demand is not zero
    season = {"period": 1, "sin": [0.0], "cos": [-1.0]}  # 1 + cos(2 pi t) = 0 at every t
    with pytest.raises(ScenarioError, match=r"^data\.demand: zero in every period"):
        check_data(_data(demand={"scale": 5.0, "seasonality": [season]}))


def test_a_multiplicative_baseline_must_be_positive_before_noise() -> None:
    trend = {"kind": "linear", "level": 1.0, "slope": -0.1}  # negative from period 11
    spec = _data(model="multiplicative", intercept=0.0, demand={"scale": 10.0, "trend": trend})
    with pytest.raises(
        ScenarioError,
        match=re.escape("data.intercept = 0: the multiplicative model needs a positive baseline"),
    ):
        check_data(spec)
    check_data(
        _data(model="multiplicative", intercept=50.0, demand={"scale": 10.0, "trend": trend})
    )


def test_a_degenerate_kernel_is_refused_with_the_channel_path() -> None:
    raw = tiny_raw()
    raw["data"]["channels"][1]["adstock"] = {
        "kind": "delayed",
        "alpha": 0.01,
        "theta": 30.0,
        "l_max": 2,
    }
    with pytest.raises(ScenarioError, match=r"^data\.channels\[1\]\.adstock: delayed adstock"):
        check_data(parse_scenario(raw).data)
