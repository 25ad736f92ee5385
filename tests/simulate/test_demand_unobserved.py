"""The truth of a model that does not observe demand (``simulate.truth.demand_unobserved``).

White demand noise is, to a model without a demand proxy, more observation noise: its
``sigma`` and log-likelihood are scored against the noise it can see. Autocorrelated demand
noise is not white, so nothing is written for it (``noise.sd`` stays the truth).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from mmm_workbench.recover.models.data import truth_estimands
from mmm_workbench.scenarios import expand_grid, parse_scenario, replicate_rng
from mmm_workbench.simulate import generate
from mmm_workbench.simulate.truth import DEMAND_UNOBSERVED
from tests.conftest import tiny_raw

PERIODS = 3000
SD, SCALE, DEMAND_SD = 2.0, 100.0, 0.05
EFFECTIVE = float(np.hypot(SD, SCALE * DEMAND_SD))  # 5.385


def _tree(rho: float, controls: tuple[str, ...] = (), **data: Any) -> tuple[Any, Any]:
    raw = tiny_raw(periods=PERIODS, train_periods=PERIODS - 20, **data)
    raw["data"]["demand"] = {"scale": SCALE, "noise_sd": DEMAND_SD, "rho": rho}
    raw["model"] = {
        "adstock": {"kind": "geometric", "l_max": 6},
        "saturation": {"kind": "logistic"},
        "controls": list(controls),
    }
    (cell,) = expand_grid(parse_scenario(raw))
    tree = generate(cell.scenario.data, replicate_rng(cell.scenario.seed, cell.data_id, 0))
    assert cell.scenario.model is not None
    return tree, cell.scenario.model


def _residual(tree: Any) -> Any:
    """``y`` less everything a model without demand can predict (the world's ``mu`` less the
    demand's noise, ``effect * scale * e_t``)."""
    truth = tree["truth"]
    noise = SCALE * float(truth["demand_effect"]) * truth["demand_noise"].to_numpy()
    return truth["y"].to_numpy() - (truth["mu"].to_numpy() - noise)


def _sd_interval(r: Any, level: float = 0.999) -> tuple[float, float]:
    """The chi-square interval of a normal sample's sd."""
    n = len(r)
    s2 = float(np.var(r, ddof=1))
    hi, lo = stats.chi2.ppf([(1 + level) / 2, (1 - level) / 2], n - 1)
    return float(np.sqrt((n - 1) * s2 / hi)), float(np.sqrt((n - 1) * s2 / lo))


def _lag1(r: Any) -> float:
    r = r - r.mean()
    return float(np.sum(r[1:] * r[:-1]) / np.sum(r * r))


def test_white_demand_noise_is_noise_to_a_model_that_does_not_see_demand() -> None:
    tree, _ = _tree(rho=0.0)
    truth = tree["truth"]
    sd = float(truth["sigma_demand_unobserved"])
    assert sd == pytest.approx(EFFECTIVE)
    r = _residual(tree)
    low, high = _sd_interval(r)
    assert low <= sd <= high, (low, sd, high)
    assert not low <= float(truth["sigma"]) <= high  # noise.sd alone: the truth before
    assert abs(_lag1(r)) < 3.3 / np.sqrt(len(r))  # white: one noise to the model
    np.testing.assert_allclose(
        truth["baseline_noise"], SCALE * truth["demand_noise"], rtol=1e-12, atol=0.0
    )
    train = int(tree["observed"].attrs["train_periods"])
    mean = truth["mu"].to_numpy()[:train] - truth["baseline_noise"].to_numpy()[:train]
    expected = stats.norm.logpdf(truth["y"].to_numpy()[:train], mean, sd).sum()
    assert float(truth["log_likelihood_demand_unobserved"]) == pytest.approx(expected, rel=1e-10)


def test_autocorrelated_demand_noise_gets_no_such_truth() -> None:
    """The broken case of the claim above: AR(1) demand noise left in the residual is not
    white, so no single noise sd describes it and none is written."""
    tree, model = _tree(rho=0.8)
    assert not set(DEMAND_UNOBSERVED) & set(tree["truth"].data_vars)
    assert _lag1(_residual(tree)) > 0.3
    assert float(truth_estimands(tree, model)["sigma"]) == SD


def test_student_t_noise_gets_no_such_truth() -> None:
    tree, _ = _tree(rho=0.0, noise={"kind": "student_t", "sd": SD, "nu": 5.0})
    assert not set(DEMAND_UNOBSERVED) & set(tree["truth"].data_vars)


def test_a_model_scored_on_the_noise_it_can_see() -> None:
    """Without the demand proxy, sigma, baseline and log-likelihood are the values a model
    can reach; with it (the proxy sees demand's noise), the world's own."""
    blind, model = _tree(rho=0.0)
    truth = blind["truth"]
    train = int(blind["observed"].attrs["train_periods"])
    scored = truth_estimands(blind, model)
    assert float(scored["sigma"]) == pytest.approx(EFFECTIVE)
    np.testing.assert_allclose(
        scored["baseline"],
        (truth["baseline"] - truth["baseline_noise"]).to_numpy()[:train],
        rtol=1e-12,
    )
    assert float(scored["log_likelihood"]) == float(truth["log_likelihood_demand_unobserved"])

    seeing, model = _tree(rho=0.0, controls=("demand_proxy",))
    scored = truth_estimands(seeing, model)
    assert float(scored["sigma"]) == SD
    np.testing.assert_array_equal(scored["baseline"], seeing["truth"]["baseline"][:train])
    assert float(scored["log_likelihood"]) == float(seeing["truth"]["log_likelihood"])
