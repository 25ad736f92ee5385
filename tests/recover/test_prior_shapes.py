"""Prior arguments whose shape does not fit the parameter are refused before fitting
(issue 10 #11: ``sigma = [1, 2, 3]`` on two channels was accepted, then every fit failed
with a shape error)."""

from __future__ import annotations

from typing import Any

import pytest

from mmm_workbench.recover.fitting import validate_cells, validate_for_fitting
from mmm_workbench.recover.models.priors import parameter_shapes
from mmm_workbench.scenarios import expand_grid, parse_scenario
from tests.conftest import tiny_raw


def _scenario(priors: dict[str, Any], **model: Any) -> Any:
    raw = tiny_raw()
    raw["model"] = {
        "adstock": {"kind": "geometric", "l_max": 3},
        "saturation": {"kind": "logistic"},
        "priors": priors,
        **model,
    }
    raw["fit"] = {"backend": "map"}
    return parse_scenario(raw)


def test_shapes_follow_pooling_controls_and_seasonality() -> None:
    scenario = _scenario({}, controls=["demand_proxy"], seasonality_order=2)
    channels = len(scenario.data.channel_names)
    shapes = parameter_shapes(scenario.model, channels)
    assert shapes["adstock_alpha"] == (channels,)
    assert shapes["saturation_beta"] == (channels,)
    assert shapes["gamma_fourier"] == (4,)
    assert shapes["gamma_control"] == (1,)
    assert shapes["sigma"] == ()
    shared = parameter_shapes(_scenario({}, pooling="shared").model, channels)
    assert shared["adstock_alpha"] == ()
    assert shared["saturation_beta"] == (channels,)


def test_a_prior_with_one_value_per_channel_is_accepted() -> None:
    scenario = _scenario({"saturation_beta": {"dist": "HalfNormal", "sigma": [1.0, 2.0]}})
    assert len(scenario.data.channel_names) == 2
    validate_for_fitting(scenario)


@pytest.mark.parametrize(
    ("priors", "message"),
    [
        (
            {"saturation_beta": {"dist": "HalfNormal", "sigma": [1.0, 2.0, 3.0]}},
            r"^model\.priors\.saturation_beta\.sigma = \[1\.0, 2\.0, 3\.0\]: shape \(3,\) "
            r"does not fit the parameter's shape \(2,\)",
        ),
        (
            {"sigma": {"dist": "HalfNormal", "sigma": [1.0, 2.0]}},
            r"^model\.priors\.sigma\.sigma = \[1\.0, 2\.0\]: shape \(2,\) does not fit .*\(\)",
        ),
    ],
)
def test_a_prior_whose_shape_does_not_fit_is_refused(priors: dict[str, Any], message: str) -> None:
    scenario = _scenario(priors)
    with pytest.raises(ValueError, match=message):
        validate_for_fitting(scenario)
    with pytest.raises(ValueError, match=message):
        validate_cells(expand_grid(scenario))


@pytest.mark.parametrize("optimizer", ["fast_compile", "None"])
def test_a_prior_outside_its_support_is_named_in_any_compile_mode(optimizer: str) -> None:
    """``sigma = HalfNormal(sigma=-1)``: PyMC's rewrites make its log density -inf; a mode
    without rewrites raises ``sigma > 0`` instead. Either way the error names the prior."""
    import pytensor

    from mmm_workbench.recover.models.priors import validate_priors

    spec = _scenario({"sigma": {"dist": "HalfNormal", "sigma": -1}}).model
    assert spec is not None
    mode = pytensor.compile.mode.Mode(linker="py", optimizer=optimizer)
    with pytensor.config.change_flags(mode=mode), pytest.raises(ValueError) as err:
        validate_priors(spec)
    assert str(err.value) == (
        "model.priors.sigma = HalfNormal(sigma=-1): invalid arguments (log density not finite)"
    )
