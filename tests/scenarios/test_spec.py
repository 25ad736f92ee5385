"""The specs check their own invariants: a spec built in Python is as valid as a loaded one.

Each case builds a valid spec with one field broken (``dataclasses.replace`` runs
``__post_init__`` again) and expects a :class:`SpecError` naming the field relative to the
spec; the loader turns the same error into one naming the file's path.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from mmm_workbench.scenarios import Scenario, ScenarioError, SpecError, parse_scenario
from mmm_workbench.scenarios.spec import (
    MAX_CHAINS,
    MAX_DRAWS,
    MAX_PERIODS,
    SEED_LIMIT,
    FitSpec,
    FourierSpec,
    GridAxis,
    LiftTestSpec,
    PowerTrend,
    PriorSpec,
    TransformSpec,
)
from tests.conftest import tiny_raw

MODEL = {
    "adstock": {"kind": "geometric", "l_max": 6},
    "saturation": {"kind": "logistic"},
    "controls": ["demand_proxy"],
}


@pytest.fixture
def scenario() -> Scenario:
    raw = tiny_raw()
    raw["model"] = MODEL
    return parse_scenario(raw)


def _channel(scenario: Scenario, **changes: Any) -> Any:
    return dataclasses.replace(scenario.data.channels[0], **changes)


CASES: list[tuple[str, Any, str]] = [
    ("periods", lambda s: dataclasses.replace(s.data, periods=0), "periods = 0: must be >= 1"),
    (
        "periods max",
        lambda s: dataclasses.replace(s.data, periods=MAX_PERIODS + 1),
        f"periods = {MAX_PERIODS + 1}: must be <= {MAX_PERIODS}",
    ),
    (
        "train",
        lambda s: dataclasses.replace(s.data, train_periods=41),
        "train_periods = 41: exceeds data.periods = 40",
    ),
    ("freq", lambda s: dataclasses.replace(s.data, freq="M"), "freq = 'M': must be one of W, D"),
    (
        "alpha",
        lambda s: _channel(
            s, adstock=TransformSpec(kind="geometric", params={"alpha": 1.3}, l_max=3)
        ),
        "adstock.alpha = 1.3: must be in [0, 1)",
    ),
    (
        "unknown family",
        lambda s: _channel(s, saturation=TransformSpec(kind="sigmoid", params={})),
        "saturation.kind = 'sigmoid': unknown saturation",
    ),
    (
        "missing parameter",
        lambda s: _channel(
            s, adstock=TransformSpec(kind="delayed", params={"alpha": 0.5}, l_max=2)
        ),
        "adstock.theta: missing parameter of delayed adstock",
    ),
    (
        "l_max",
        lambda s: _channel(s, adstock=TransformSpec(kind="geometric", params={"alpha": 0.5})),
        "adstock.l_max = 0: must be >= 1",
    ),
    ("beta", lambda s: _channel(s, beta=-1.0), "beta = -1: must be in [0, 1000000000000]"),
    ("name", lambda s: _channel(s, name=""), "name = '': must start with a letter or _"),
    (
        "duplicate channels",
        lambda s: dataclasses.replace(s.data, channels=(s.data.channels[0],) * 2),
        "channels: duplicate channel names in ['tv', 'tv']",
    ),
    (
        "l_max > periods",
        lambda s: dataclasses.replace(s.data, periods=5, train_periods=5),
        "channels[0].adstock.l_max = 6: longer than data.periods = 5",
    ),
    (
        "power trend",
        lambda s: PowerTrend(start=0.0, stop=2.0, exponent=-0.5),
        "exponent = -0.5: a negative exponent needs start and stop >= 1e-12",
    ),
    (
        "fourier",
        lambda s: FourierSpec(period=52, sin=(0.1,), cos=()),
        "give 'sin' and 'cos' coefficients of equal length",
    ),
    (
        "lift test",
        lambda s: LiftTestSpec(channel="tv", start=1, periods=2, spend_change=0.5),
        "give exactly one of 'sigma' or 'sigma_rel'",
    ),
    (
        "prior",
        lambda s: PriorSpec(dist="Normal", args={"mu": "x"}),
        "mu = 'x': prior arguments must be numbers",
    ),
    (
        "prior target",
        lambda s: dataclasses.replace(
            s.model, priors={"saturation_lambda": PriorSpec(dist="Gamma", args={})}
        ),
        "priors.saturation_lambda: no such model parameter",
    ),
    (
        "duplicate controls",
        lambda s: dataclasses.replace(s.model, controls=("demand_proxy", "demand_proxy")),
        "controls[1] = 'demand_proxy': duplicate control",
    ),
    (
        "seasonality order",
        lambda s: dataclasses.replace(s.model, seasonality_order=27),
        "seasonality_order = 27: must be <= 26",
    ),
    ("draws", lambda s: FitSpec(draws=MAX_DRAWS + 1), f"draws = {MAX_DRAWS + 1}: must be <="),
    ("chains", lambda s: FitSpec(chains=MAX_CHAINS + 1), f"chains = {MAX_CHAINS + 1}: must be <="),
    (
        "seed",
        lambda s: dataclasses.replace(s, seed=SEED_LIMIT),
        f"seed = {SEED_LIMIT}: must be <= {SEED_LIMIT - 1}",
    ),
    (
        "run name",
        lambda s: dataclasses.replace(s, name="../../z"),
        "name = '../../z': must start with a letter or digit",
    ),
    (
        "controls vs data",
        lambda s: dataclasses.replace(s, model=dataclasses.replace(s.model, controls=("price",))),
        "model.controls[0] = 'price': the data has no such column",
    ),
    (
        "grid over the seed",
        lambda s: GridAxis(paths=("seed",), levels=((1,), (2,))),
        "'seed' cannot vary in a grid",
    ),
]


@pytest.mark.parametrize(("what", "build", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_spec_built_in_python_checks_its_invariants(
    scenario: Scenario, what: str, build: Any, message: str
) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        build(scenario)


def test_valid_specs_rebuild_unchanged(scenario: Scenario) -> None:
    assert dataclasses.replace(scenario) == scenario
    assert dataclasses.replace(scenario.data) == scenario.data


def test_the_loader_puts_the_path_in_front() -> None:
    raw = tiny_raw()
    raw["data"]["channels"][1]["spend"]["noise"] = "cauchy"
    with pytest.raises(
        ScenarioError,
        match=re.escape(
            "data.channels[1].spend.noise = 'cauchy': must be one of normal, lognormal"
        ),
    ):
        parse_scenario(raw)
    err = SpecError.invalid("periods", 0, "must be >= 1")
    assert str(err) == "periods = 0: must be >= 1"
    assert str(err.at("data")) == "data.periods = 0: must be >= 1"
    assert str(SpecError.wrong("", "give one").at("data.lift_tests[0]")) == (
        "data.lift_tests[0]: give one"
    )
