"""Loading scenario files: the shipped library, and a clear error for every bad input."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from mmm_workbench.scenarios import (
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
    spec_hash,
)
from mmm_workbench.scenarios.spec import PowerTrend
from tests.conftest import CONFOUNDED, tiny_raw


def test_confounded_demand_matches_the_article(confounded: Scenario) -> None:
    data = confounded.data
    assert (data.periods, data.freq, data.start) == (156, "W", "2021-01-01")
    assert data.demand.scale == 1000 and data.demand.noise_sd == 0.1
    assert data.demand.trend == PowerTrend(start=5, stop=25, exponent=0.125, shift=-1)
    assert data.proxy is not None and data.proxy.noise_sd == 0.1
    assert data.channel_names == ("tv", "social", "search")
    assert [c.spend.demand_share for c in data.channels] == [10, 15, 20]
    assert [c.adstock.params["alpha"] for c in data.channels] == [0.5, 0.25, 0.05]
    assert all(c.adstock.l_max == 8 and c.adstock.normalize for c in data.channels)
    assert [c.saturation.params["lam"] for c in data.channels] == [1.5, 2.5, 3.5]
    assert [c.beta for c in data.channels] == [350, 150, 50]
    assert data.noise.sd == 0.0


def test_shipped_scenario_by_name() -> None:
    assert load_scenario("confounded-demand") == load_scenario(CONFOUNDED)


def test_specs_are_frozen_and_hash_stably(tiny: Scenario) -> None:
    with pytest.raises(AttributeError):
        tiny.data.periods = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        tiny.data.channels[0].adstock.params["alpha"] = 0.1  # type: ignore[index]
    assert spec_hash(tiny.data) == spec_hash(parse_scenario(tiny_raw()).data)
    assert spec_hash(tiny.data) != spec_hash(parse_scenario(tiny_raw(periods=41)).data)


def test_dates_become_period_indices() -> None:
    raw = tiny_raw(
        lift_tests=[
            {
                "channel": "tv",
                "start": "2021-01-15",
                "periods": 2,
                "spend_change": 0.5,
                "sigma": 1.0,
            }
        ]
    )
    assert parse_scenario(raw).data.lift_tests[0].start == 2


def _channel(raw: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return raw["data"]["channels"][i]  # type: ignore[no-any-return]


def _set(path: str, value: Any) -> dict[str, Any]:
    raw = tiny_raw()
    node: Any = raw
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    node[keys[-1]] = value
    return raw


BAD = [
    (
        "data.channels.0.adstock.alpha",
        1.3,
        r"data\.channels\[0\]\.adstock\.alpha = 1\.3: must be in \[0, 1\)",
    ),
    (
        "data.channels.1.adstock.alpha",
        1.3,
        r"data\.channels\[1\]\.adstock\.alpha = 1\.3: must be in \(0, 1\)",
    ),
    (
        "data.channels.0.adstock.alpha",
        -0.1,
        r"data\.channels\[0\]\.adstock\.alpha = -0\.1: must be in \[0, 1\)",
    ),
    (
        "data.channels.0.adstock.alpha",
        math.nan,
        r"data\.channels\[0\]\.adstock\.alpha = nan: must be a finite number",
    ),
    (
        "data.channels.0.saturation.lam",
        math.inf,
        r"data\.channels\[0\]\.saturation\.lam = inf: must be a finite number",
    ),
    (
        "data.channels.0.saturation.lam",
        -2.0,
        r"data\.channels\[0\]\.saturation\.lam = -2(\.0)?: must be",
    ),
    ("data.channels.0.beta", -5.0, r"data\.channels\[0\]\.beta = -5(\.0)?: must be"),
    ("data.channels.0.beta", math.nan, r"data\.channels\[0\]\.beta = nan: must be a finite number"),
    (
        "data.channels.0.spend.demand_share",
        -1.0,
        r"data\.channels\[0\]\.spend\.demand_share = -1(\.0)?: must be",
    ),
    (
        "data.channels.0.spend.noise_sd",
        math.inf,
        r"data\.channels\[0\]\.spend\.noise_sd = inf: must be a finite",
    ),
    ("data.demand.scale", 0.0, r"data\.demand\.scale = 0(\.0)?: must be"),
    ("data.channels.0.adstock.l_max", 0, r"data\.channels\[0\]\.adstock\.l_max = 0: must be >= 1"),
    (
        "data.channels.0.adstock.l_max",
        50,
        r"data\.channels\[0\]\.adstock\.l_max = 50: longer than data\.periods = 40",
    ),
    (
        "data.channels.0.adstock.kind",
        "geometrik",
        r"data\.channels\[0\]\.adstock\.kind = 'geometrik': unknown adstock; known: .*geometric",
    ),
    (
        "data.channels.1.saturation.kind",
        "sigmoidal",
        r"data\.channels\[1\]\.saturation\.kind = 'sigmoidal': unknown saturation",
    ),
    (
        "data.channels.0.adstock.alpah",
        0.5,
        r"data\.channels\[0\]\.adstock\.alpah = 0\.5: unknown parameter of geometric adstock",
    ),
    (
        "data.channels.0.spend.demand_shre",
        3.0,
        r"data\.channels\[0\]\.spend\.demand_shre = 3(\.0)?: unknown key",
    ),
    ("data.train_periods", 41, r"data\.train_periods = 41: exceeds data\.periods = 40"),
    ("data.freq", "M", r"data\.freq = 'M': must be one of W, D"),
    ("data.start", "2021-13-01", r"data\.start = '2021-13-01': must be an ISO date"),
    ("data.demand.rho", 1.0, r"data\.demand\.rho = 1(\.0)?: must be in \(-1, 1\)"),
    (
        "data.noise.kind",
        "cauchy",
        r"data\.noise\.kind = 'cauchy': must be one of normal, student_t, lognormal",
    ),
    ("data.colour", "red", r"data\.colour = 'red': unknown key"),
    (
        "data.spend_correlation",
        [[1.0, 0.5]],
        r"data\.spend_correlation = .*: must be a symmetric 2 x 2 matrix",
    ),
    (
        "data.spend_correlation",
        [[1.0, 2.0], [2.0, 1.0]],
        r"data\.spend_correlation\[0\]\[1\] = 2: must be in \[-1, 1\]",
    ),
    (
        "data.spend_correlation",
        [[1.0, 0.5], [0.5]],
        r"data\.spend_correlation = \[\[1\.0, 0\.5\], \[0\.5\]\]: must be a symmetric 2 x 2",
    ),
    (
        "data.mediation",
        [{"source": "tv", "target": "radio", "strength": 0.5}],
        r"data\.mediation\[0\]\.target = 'radio': unknown channel; channels are tv, search",
    ),
    (
        "data.mediation",
        [
            {"source": "tv", "target": "search", "strength": 0.5},
            {"source": "search", "target": "tv", "strength": 0.5},
        ],
        r"data\.mediation: spend links form a cycle",
    ),
    (
        "data.lift_tests",
        [{"channel": "tv", "start": 38, "periods": 4, "spend_change": 0.5, "sigma": 1}],
        r"data\.lift_tests\[0\]\.periods = 4: runs past the end of the data",
    ),
    (
        "data.lift_tests",
        [{"channel": "tv", "start": 3, "periods": 4, "spend_change": 0.5}],
        r"data\.lift_tests\[0\]: give exactly one of 'sigma' or 'sigma_rel'",
    ),
    (
        "data.channels.0.spend.dark",
        [{"start": "2019-01-01", "periods": 2}],
        r"data\.channels\[0\]\.spend\.dark\[0\]\.start = '2019-01-01': outside the data",
    ),
    ("seed", "one", r"seed = 'one': must be an integer"),
    ("replicates", 0, r"replicates = 0: must be >= 1"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_bad_input_names_path_and_value(path: str, value: Any, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(_set(path, value))


def test_periods_shorter_than_l_max() -> None:
    with pytest.raises(ScenarioError, match=r"adstock\.l_max = 6: longer than data\.periods = 3"):
        parse_scenario(tiny_raw(periods=3, train_periods=3))


def test_degenerate_adstock_kernel() -> None:
    """A kernel the declarations know is degenerate is refused at load; one that only
    computing it shows is refused by ``simulate.check_kernels`` (tests/simulate)."""
    raw = _set(
        "data.channels.0.adstock",
        {"kind": "weibull_pdf", "lam": 1.0, "k": 1.0, "l_max": 1, "normalize": False},
    )
    with pytest.raises(
        ScenarioError,
        match=re.escape(
            "data.channels[0].adstock.l_max = 1: weibull_pdf adstock needs l_max >= 2 unless "
            "normalize = true (degenerate kernel)"
        ),
    ):
        parse_scenario(raw)


def test_not_a_correlation_matrix() -> None:
    raw = tiny_raw()
    third = {**_channel(raw, 0), "name": "radio"}
    raw["data"]["channels"].append(third)
    raw["data"]["spend_correlation"] = [[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]]
    with pytest.raises(ScenarioError, match=r"data\.spend_correlation = .*not a valid correlation"):
        parse_scenario(raw)


def test_missing_required_keys() -> None:
    raw = tiny_raw()
    del _channel(raw)["beta"]
    with pytest.raises(ScenarioError, match=r"data\.channels\[0\]\.beta: missing required key"):
        parse_scenario(raw)
    raw = tiny_raw()
    del _channel(raw)["adstock"]["alpha"]
    with pytest.raises(
        ScenarioError, match=r"data\.channels\[0\]\.adstock\.alpha: missing parameter"
    ):
        parse_scenario(raw)


def test_unknown_top_level_key_and_duplicate_channels() -> None:
    raw = tiny_raw()
    raw["replicate"] = 3
    with pytest.raises(ScenarioError, match=r"^replicate = 3: unknown key"):
        parse_scenario(raw)
    raw = tiny_raw()
    _channel(raw, 1)["name"] = "tv"
    with pytest.raises(ScenarioError, match="duplicate channel names"):
        parse_scenario(raw)


def test_malformed_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[data\nperiods = 3\n')
    with pytest.raises(ScenarioError, match=r"bad\.toml: malformed TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_multiplicative_model_rejects_lognormal_noise() -> None:
    raw = tiny_raw(model="multiplicative", noise={"kind": "lognormal", "sd": 0.1})
    with pytest.raises(ScenarioError, match=r"data\.noise\.kind = 'lognormal'"):
        parse_scenario(raw)
