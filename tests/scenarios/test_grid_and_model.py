"""[model], [fit] and [grid]: parsing, cells, stable ids and bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mmm_workbench.scenarios import ScenarioError, expand_grid, parse_scenario
from mmm_workbench.scenarios.grid import apply_override
from tests.conftest import tiny_raw

MODEL = {
    "adstock": {"kind": "geometric", "l_max": 6},
    "saturation": {"kind": "logistic"},
    "controls": ["demand_proxy"],
    "priors": {"saturation_beta": {"dist": "HalfNormal", "sigma": 2.0}},
}


def raw_with(**top: Any) -> dict[str, Any]:
    raw = tiny_raw()
    raw["model"] = {**MODEL, **top.pop("model", {})}
    raw.update(top)
    return raw


def test_model_and_fit_parse() -> None:
    s = parse_scenario(
        raw_with(
            fit={"backend": "pymc", "draws": 50, "chains": 2, "options": {"init": "adapt_diag"}}
        )
    )
    assert s.model is not None
    assert s.model.adstock.kind == "geometric" and s.model.adstock.l_max == 6
    assert dict(s.model.adstock.params) == {}
    assert s.model.priors["saturation_beta"].dist == "HalfNormal"
    assert s.fit.backend == "pymc" and s.fit.draws == 50 and s.fit.options["init"] == "adapt_diag"


def test_fixed_transform_parameters() -> None:
    s = parse_scenario(raw_with(model={"adstock": {"kind": "geometric", "l_max": 4, "alpha": 0.3}}))
    assert s.model is not None and dict(s.model.adstock.params) == {"alpha": 0.3}


def test_grid_cells_are_the_product_of_axes_and_zips() -> None:
    raw = raw_with(
        grid={
            "data.proxy.noise_sd": [0.0, 0.2, 0.5],
            "zip": [{"data.periods": [30, 40], "data.train_periods": [24, 36]}],
        }
    )
    cells = expand_grid(parse_scenario(raw))
    assert len(cells) == 6
    assert {(c.scenario.data.periods, c.scenario.data.train_periods) for c in cells} == {
        (30, 24),
        (40, 36),
    }
    assert {c.scenario.data.proxy.noise_sd for c in cells if c.scenario.data.proxy} == {
        0.0,
        0.2,
        0.5,
    }
    assert len({c.cell_id for c in cells}) == 6
    again = expand_grid(parse_scenario(raw))
    assert [c.cell_id for c in cells] == [c.cell_id for c in again]  # stable ids


def test_grid_paths_by_index_and_by_name() -> None:
    raw = raw_with(
        grid={"data.channels.search.beta": [1.0, 2.0], "data.channels[0].adstock.alpha": [0.1]}
    )
    cells = expand_grid(parse_scenario(raw))
    assert [c.scenario.data.channels[1].beta for c in cells] == [1.0, 2.0]
    assert all(c.scenario.data.channels[0].adstock.params["alpha"] == 0.1 for c in cells)


def test_no_grid_is_one_base_cell(tiny: Any) -> None:
    (cell,) = expand_grid(tiny)
    assert cell.label == "base" and cell.overrides == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            raw_with(grid={"data.proxi.noise_sd": [0.1]}),
            r"grid path 'data.proxi.noise_sd' does not exist: data has no 'proxi'",
        ),
        (
            raw_with(grid={"data.channels.radio.beta": [1.0]}),
            r"grid path 'data.channels.radio.beta' does not exist: data.channels has no item named 'radio'",
        ),
        (raw_with(grid={"data.proxy.noise_sd": []}), r"a grid axis needs at least one value"),
        (
            raw_with(grid={"zip": [{"data.periods": [30, 40], "data.train_periods": [24]}]}),
            r"zipped paths need arrays of equal length",
        ),
        (
            raw_with(grid={"data.channels[0].adstock.alpha": [0.5, 1.3]}),
            r"grid cell \(data.channels\[0\].adstock.alpha=1.3\): data.channels\[0\].adstock.alpha = 1.3: must be in \[0, 1\)",
        ),
        (
            raw_with(grid={"data.proxy.noise_sdd": [0.1]}),
            r"data.proxy.noise_sdd = 0.1: unknown key",
        ),
        (
            raw_with(model={"controls": ["price"]}),
            r"model.controls\[0\] = 'price': the data has no such column; controls available: demand_proxy",
        ),
        (
            raw_with(
                model={"priors": {"saturation_lambda": {"dist": "Gamma", "alpha": 2, "beta": 1}}}
            ),
            r"model.priors.saturation_lambda: no such model parameter; expected one of: adstock_alpha",
        ),
        (
            raw_with(model={"priors": {"sigma": {"sigma": 2}}}),
            r"model.priors.sigma.dist: missing required key",
        ),
        (
            raw_with(model={"priors": {"sigma": {"dist": "HalfNormal", "sigma": "big"}}}),
            r"model.priors.sigma.sigma = 'big': prior arguments must be numbers",
        ),
        (
            raw_with(model={"adstock": {"kind": "geometric", "l_max": 4, "alpha": 2.0}}),
            r"model.adstock.alpha = 2: must be in \[0, 1\)",
        ),
        (
            raw_with(model={"saturation": {"kind": "hil"}}),
            r"model.saturation.kind = 'hil': unknown saturation",
        ),
        (raw_with(model={"lift_tests": True}), r"model.lift_tests = true: data has no"),
        (raw_with(fit={"draws": 0}), r"fit.draws = 0: must be >= 1"),
        (raw_with(fit={"target_accept": 1.0}), r"fit.target_accept = 1(\.0)?: must be in \(0, 1\)"),
        (raw_with(replicates=0), r"replicates = 0: must be >= 1"),
        (raw_with(fit={"sampler": "nuts"}), r"fit.sampler = 'nuts': unknown key"),
    ],
)
def test_bad_model_fit_grid(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(raw)


def test_apply_override_rejects_non_paths() -> None:
    with pytest.raises(ScenarioError, match="not a dotted path"):
        apply_override({}, "data..x", 1)


def test_cells_leave_the_base_document_unchanged() -> None:
    """Cells share the base document's unchanged tables (copy on write), never change it."""
    raw = raw_with(grid={"data.channels.tv.adstock.alpha": [0.1, 0.2], "data.periods": [40, 41]})
    scenario = parse_scenario(raw)
    before = copy.deepcopy(dict(scenario.raw))
    cells = expand_grid(scenario)
    assert dict(scenario.raw) == before
    assert [c.scenario.raw["data"]["channels"][0]["adstock"]["alpha"] for c in cells] == [
        0.1,
        0.1,
        0.2,
        0.2,
    ]
    assert [c.scenario.data.periods for c in cells] == [40, 41, 40, 41]
    assert cells[0].scenario.raw["data"]["channels"][1] is scenario.raw["data"]["channels"][1]
    again = expand_grid(parse_scenario(copy.deepcopy(raw)))
    assert [c.cell_id for c in again] == [c.cell_id for c in cells]
