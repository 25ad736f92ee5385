"""``[data.geo]``: panel worlds in the scenario language; every bad value named by its path."""

from __future__ import annotations

import tomllib

import pytest

from mmm_workbench.scenarios import ScenarioError, parse_scenario
from mmm_workbench.scenarios.spec import GeoSpec, GeoSpreadSpec, SpecError, spec_to_dict

BASE = """
name = "geo"
[data]
periods = 30
[data.noise]
sd = 1.0
[[data.channels]]
name = "tv"
beta = 2.0
spend = { demand_share = 0.5 }
adstock = { kind = "geometric", alpha = 0.5, l_max = 4 }
saturation = { kind = "logistic", lam = 2.0 }
"""


def _load(geo: str, extra: str = "") -> object:
    return parse_scenario(tomllib.loads(BASE + extra + "[data.geo]\n" + geo))


def test_a_geo_table_reads_every_field() -> None:
    spec = _load(
        'count = 3\nnames = ["n", "s", "w"]\nsizes = [2.0, 1.0, 1.0]\nsplit_noise = 0.1\n'
        "confounding = 0.5\nspread = { beta = 0.2, adstock = 0.1, saturation = 0.3, "
        "demand = 0.05, seasonality = 0.4 }\n"
    ).data.geo  # type: ignore[attr-defined]
    assert spec == GeoSpec(
        count=3,
        names=("n", "s", "w"),
        sizes=(2.0, 1.0, 1.0),
        split_noise=0.1,
        confounding=0.5,
        spread=GeoSpreadSpec(beta=0.2, adstock=0.1, saturation=0.3, demand=0.05, seasonality=0.4),
    )
    assert spec.shares == (0.5, 0.25, 0.25)
    assert spec.geo_names == ("n", "s", "w")


def test_count_follows_names_or_sizes_and_default_names_and_sizes() -> None:
    assert _load("sizes = [1.0, 3.0]\n").data.geo.count == 2  # type: ignore[attr-defined]
    geo = _load("count = 12\nsize_decay = 1.0\n").data.geo  # type: ignore[attr-defined]
    assert geo.geo_names[0] == "geo_01" and geo.geo_names[-1] == "geo_12"
    assert geo.shares[0] == pytest.approx(2 * geo.shares[1])  # (g + 1) ** -1
    assert sum(geo.shares) == pytest.approx(1.0)
    equal = _load("count = 4\n").data.geo  # type: ignore[attr-defined]
    assert equal.shares == (0.25,) * 4


def test_a_national_spec_is_hashed_as_before() -> None:
    """``geo`` is left out of the canonical form while it is empty: ids and seeds of every
    national scenario stay what they were."""
    national = parse_scenario(tomllib.loads(BASE))
    assert "geo" not in spec_to_dict(national.data)
    assert "geo" in spec_to_dict(_load("count = 2\n").data)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("geo", "extra", "message"),
    [
        ("count = 1\n", "", "data.geo.count = 1: must be >= 2"),
        ("count = 1001\n", "", "data.geo.count = 1001: must be <= 1000"),
        ("size_decay = 1.0\n", "", "data.geo.count: missing required key"),
        ("count = 3\nsizes = [1.0, 2.0]\n", "", "data.geo.sizes = [1.0, 2.0]: one per geo"),
        ("count = 2\nsizes = [1.0, -2.0]\n", "", "data.geo.sizes[1] = -2: must be in"),
        ("count = 2\nnames = ['a', 'a']\n", "", "data.geo.names[1] = 'a': duplicate geo name"),
        ("count = 2\nnames = ['a', 'b c']\n", "", "data.geo.names[1] = 'b c': must start"),
        ("sizes = [1.0, 2.0]\nsize_decay = 1.0\n", "", "data.geo.size_decay: give sizes or"),
        ("count = 2\nsplit_noise = -0.1\n", "", "data.geo.split_noise = -0.1: must be in"),
        ("count = 2\nconfounding = 11\n", "", "data.geo.confounding = 11: must be in"),
        ("count = 2\nspread = { beta = -1 }\n", "", "data.geo.spread.beta = -1: must be in"),
        ("count = 2\nspread = { betta = 1 }\n", "", "data.geo.spread.betta = 1: unknown key"),
        ("count = 2\nspread = 3\n", "", "data.geo.spread = 3: must be a table"),
        ("count = 2\ncolour = 3\n", "", "data.geo.colour = 3: unknown key"),
        (
            "count = 2\n",
            '[[data.lift_tests]]\nchannel = "tv"\nstart = 3\nperiods = 2\nspend_change = 0.5\n'
            "sigma = 1.0\n",
            "data.lift_tests: lift tests are not simulated in a geo world",
        ),
        (
            "count = 2\n",
            "[data.demand]\nscale = 1.0\n",  # harmless: shows extra tables still parse
            None,
        ),
    ],
)
def test_bad_geo_values_are_named(geo: str, extra: str, message: str | None) -> None:
    if message is None:
        assert _load(geo, extra).data.geo is not None  # type: ignore[attr-defined]
        return
    with pytest.raises(ScenarioError) as err:
        _load(geo, extra)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_what_a_geo_world_does_not_simulate_is_refused() -> None:
    multiplicative = BASE.replace("periods = 30", 'periods = 30\nmodel = "multiplicative"\n'
                                  "intercept = 5.0")  # fmt: skip
    with pytest.raises(ScenarioError, match=r"^data.model: the multiplicative model is not"):
        parse_scenario(tomllib.loads(multiplicative + "[data.geo]\ncount = 2\n"))
    two = BASE + (
        '[[data.channels]]\nname = "search"\nbeta = 1.0\nspend = { demand_share = 0.5 }\n'
        'adstock = { kind = "geometric", alpha = 0.5, l_max = 4 }\n'
        'saturation = { kind = "logistic", lam = 2.0 }\n'
        '[[data.mediation]]\nsource = "tv"\ntarget = "search"\nstrength = 0.5\n'
    )
    with pytest.raises(ScenarioError, match=r"^data.mediation: channel-to-channel links"):
        parse_scenario(tomllib.loads(two + "[data.geo]\ncount = 2\n"))


def test_a_spec_built_in_python_checks_itself() -> None:
    with pytest.raises(SpecError, match=r"^count = 0: must be >= 2"):
        GeoSpec(count=0)
    with pytest.raises(SpecError, match=r"^seasonality = 6: must be in \[0, 5\]"):
        GeoSpreadSpec(seasonality=6)
