"""The shipped SBC scenario is exact: the model's priors, in data units, are the data's priors,
and at the true parameters the model's estimands (the log-likelihood included) are the truth.
Fast: no sampling (the model's priors are drawn with ``pm.draw``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from mmm_workbench.recover.models.data import model_data, truth_estimands
from mmm_workbench.recover.models.workbench import WorkbenchModel, build_workbench
from mmm_workbench.scenarios import read_scenario, replicate_rng
from mmm_workbench.scenarios.spec import ModelSpec
from mmm_workbench.simulate import generate
from mmm_workbench.simulate.priors import draw_prior

SCENARIO = "sbc-nuts-vs-advi"


@pytest.fixture(scope="module")
def cell() -> Any:
    return read_scenario(SCENARIO).cells[0]


def _build(cell: Any, model: ModelSpec) -> tuple[WorkbenchModel, Any, Any]:
    tree = generate(cell.scenario.data, replicate_rng(cell.scenario.seed, cell.data_id, 0))
    data = model_data(tree, model)
    return build_workbench(model, data), data, tree


# (model variable, data prior's path, channel or None): every model parameter has a data prior
PAIRS = [
    ("intercept", ("data", "intercept"), None),
    ("sigma", ("data", "noise.sd"), None),
    ("saturation_beta", ("channel", "beta"), 0),
    ("adstock_alpha", ("channel", "adstock.alpha"), 0),
    ("saturation_lam", ("channel", "saturation.lam"), 0),
]
IN_TARGET_UNITS = {"intercept", "sigma", "saturation_beta"}


def _ks_pvalues(cell: Any, model: ModelSpec) -> dict[str, float]:
    built, _, _ = _build(cell, model)
    spec = cell.scenario.data
    scale = model.target_scale
    assert scale is not None
    names = [name for name, _, _ in PAIRS]
    drawn = pm.draw([built.model[n] for n in names], draws=3000, random_seed=1)
    out = {}
    for (name, (where, key), channel), values in zip(PAIRS, drawn, strict=True):
        model_draws = np.asarray(values, dtype=float)
        if channel is not None:
            model_draws = model_draws[:, channel]
        if name in IN_TARGET_UNITS:
            model_draws = model_draws * scale  # the model's prior in the data's units
        prior = (spec.priors if where == "data" else spec.channels[0].priors)[key]
        data_draws = np.asarray(draw_prior(prior, np.random.default_rng(2), 3000))
        out[name] = float(stats.ks_2samp(model_draws, data_draws).pvalue)
    return out


def test_the_models_priors_in_data_units_are_the_data_priors(cell: Any) -> None:
    model = cell.scenario.model
    assert model.target_scale == 100
    pvalues = _ks_pvalues(cell, model)
    assert min(pvalues.values()) > 0.001, pvalues


def test_a_target_scale_other_than_the_priors_breaks_the_agreement(cell: Any) -> None:
    """Control: a target scale other than the one the priors were written for is caught."""
    pvalues = _ks_pvalues(cell, dataclasses.replace(cell.scenario.model, target_scale=60.0))
    broken = {k for k, p in pvalues.items() if p < 1e-6}
    assert broken == IN_TARGET_UNITS, pvalues


def test_at_the_true_parameters_the_models_estimands_are_the_truth(cell: Any) -> None:
    model = cell.scenario.model
    built, data, tree = _build(cell, model)
    truth = truth_estimands(tree, model)
    t = tree["truth"]
    scale = data.target_scale
    assert scale == model.target_scale == 100  # not max|y|: the model honours the fixed scale
    np.testing.assert_array_equal(data.spend_scale, t["x_scale"].to_numpy())  # same spend unit
    draws = {
        "adstock_alpha": t["adstock_alpha"].to_numpy()[None],
        "saturation_lam": t["saturation_lam"].to_numpy()[None],
        "saturation_beta": t["saturation_beta"].to_numpy()[None] / scale,
        "sigma": np.array([float(t["sigma"])]) / scale,
        "mu": t["mu"].to_numpy()[None] / scale,
        "channel_contribution": t["channel_contribution"].to_numpy()[None] / scale,
    }
    est = built.estimands(
        data, draws, t["x_scale"].to_numpy(), truth["multiplier"].to_numpy()
    ).isel(sample=0)
    for name in (
        "log_likelihood",
        "sigma",
        "saturation_beta",
        "saturation_lam",
        "adstock_alpha",
        "roas",
        "contribution_share",
    ):
        np.testing.assert_allclose(est[name], truth[name], rtol=1e-9, err_msg=name)
    # and one parameter off moves the log-likelihood off the truth's
    off = dict(draws, mu=draws["mu"] * 1.01)
    shifted = built.estimands(data, off, t["x_scale"].to_numpy(), truth["multiplier"].to_numpy())
    assert float(shifted["log_likelihood"][0]) < float(truth["log_likelihood"]) - 1.0
