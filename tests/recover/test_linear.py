"""Least-squares teaching baselines: exact recovery when the model is right, negative OLS
coefficients on correlated spend, and NNLS's sign constraint that does not remove bias."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmm_workbench.recover.models.data import ModelData, model_data
from mmm_workbench.recover.models.linear import LinearModel, _nnls, build_linear
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.scenarios import Scenario, ScenarioError, parse_scenario, replicate_rng
from mmm_workbench.simulate import generate
from tests.recover.conftest import SMALL

RIGHT = (
    SMALL.replace('[grid]\n"data.proxy.noise_sd" = [0.0, 0.2]\n', "")
    .replace("proxy = { noise_sd = 0.05 }", "proxy = { noise_sd = 0.0 }")
    .replace('noise = { kind = "normal", sd = 5.0 }', 'noise = { kind = "normal", sd = 0.5 }')
    .replace(
        'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }',
        'kind = "ols"\nadstock = { kind = "geometric", l_max = 3, alpha = 0.35 }\n'
        'saturation = { kind = "logistic", lam = 2.0 }',
    )
)


def _posteriors(out: Path) -> list:  # type: ignore[type-arg]
    store = RunStore(out)
    return [store.read_record(c, r) for c, r, _ in store.records()]


def test_ols_recovers_a_correctly_specified_model(tmp_path: Path) -> None:
    """Transforms fixed at their true values (tv 0.5 / 1.5, search 0.2 / 2.5 would be exact;
    one shared value per family is not), perfect proxy, little noise: ROAS and the
    converted effect sizes come back close to the truth, in the data's units."""
    exact = RIGHT.replace("alpha = 0.35", "alpha = 0.5").replace("lam = 2.0", "lam = 1.5")
    exact = exact.replace(
        'alpha = 0.2, l_max = 3 }\nsaturation = { kind = "logistic", lam = 2.5 }',
        'alpha = 0.5, l_max = 3 }\nsaturation = { kind = "logistic", lam = 1.5 }',
    )
    summary = run_grid(exact, tmp_path / "run", RunOptions(replicates=2))
    assert summary.failed == 0
    for record in _posteriors(tmp_path / "run"):
        post, truth = record["posterior"].mean("sample"), record["truth"]
        np.testing.assert_allclose(post["saturation_beta"], truth["saturation_beta"], rtol=0.05)
        np.testing.assert_allclose(post["roas"], truth["roas"], rtol=0.05)
        np.testing.assert_allclose(
            post["contribution_share"], truth["contribution_share"], rtol=0.05
        )
        assert record.attrs["backend"] == "ols"
        assert "geometry" not in record.attrs  # least squares has no sampler coordinates


def test_ols_goes_negative_on_correlated_spend_and_nnls_does_not(tmp_path: Path) -> None:
    collinear = (
        RIGHT.replace("noise_sd = 0.4 }", "noise_sd = 0.05 }")
        .replace(
            '[[data.channels]]\nname = "tv"',
            'spend_correlation = 0.99\n\n[[data.channels]]\nname = "tv"',
        )
        .replace('noise = { kind = "normal", sd = 0.5 }', 'noise = { kind = "normal", sd = 15.0 }')
    )
    assert "spend_correlation = 0.99" in collinear
    run_grid(collinear, tmp_path / "ols", RunOptions(replicates=12))
    run_grid(
        collinear.replace('kind = "ols"', 'kind = "nnls"'),
        tmp_path / "nnls",
        RunOptions(replicates=12),
    )
    ols = np.array(
        [r["posterior"]["saturation_beta"].mean("sample") for r in _posteriors(tmp_path / "ols")]
    )
    nnls = np.array(
        [r["posterior"]["saturation_beta"].mean("sample") for r in _posteriors(tmp_path / "nnls")]
    )
    truth = _posteriors(tmp_path / "ols")[0]["truth"]["saturation_beta"].to_numpy()
    assert (ols < 0).any(), "collinear spend should push some OLS coefficient below zero"
    assert (nnls >= 0).all()
    assert np.abs(nnls.mean(axis=0) - truth).max() > 0.1 * truth.min()  # still biased


def test_least_squares_needs_fixed_transforms(tmp_path: Path) -> None:
    loose = RIGHT.replace(", alpha = 0.35", "")
    with pytest.raises(
        ValueError,
        match=r"model.adstock.alpha: model.kind = 'ols' needs every transform parameter fixed",
    ):
        run_grid(loose, tmp_path / "run", RunOptions(replicates=1))


def test_least_squares_refuses_lift_tests(tmp_path: Path) -> None:
    lifted = RIGHT.replace('kind = "ols"\n', 'kind = "ols"\nlift_tests = true\n').replace(
        "[model]",
        '[[data.lift_tests]]\nchannel = "tv"\nstart = 5\nperiods = 3\nspend_change = -0.5\n'
        "sigma_rel = 0.1\n\n[model]",
    )
    with pytest.raises(ValueError, match=r"model.lift_tests = true: model.kind = 'ols' has no"):
        run_grid(lifted, tmp_path / "run", RunOptions(replicates=1))


def _scenario(text: str) -> Scenario:
    return parse_scenario(tomllib.loads(text))


def _built(text: str, replicate: int = 0) -> tuple[LinearModel, ModelData]:
    scenario = _scenario(text)
    assert scenario.model is not None
    tree = generate(scenario.data, replicate_rng(scenario.seed, "0feed", replicate))
    data = model_data(tree, scenario.model)
    return build_linear(scenario.model, data), data


PER_CHANNEL = RIGHT.replace("alpha = 0.35", "alpha = [0.5, 0.2]").replace(
    "lam = 2.0", "lam = [1.5, 2.5]"
)


def test_transforms_fixed_per_channel_give_each_channel_its_own_features() -> None:
    """``alpha = [0.5, 0.2]``: channel c's media feature is the one a single shared value
    ``alpha = a_c`` gives channel c (the compiled media function every kind shares)."""
    model, data = _built(PER_CHANNEL)
    assert model.spec.adstock.params["alpha"] == (0.5, 0.2)
    features = model.design(data)[1]
    for c, (alpha, lam) in enumerate(((0.5, 1.5), (0.2, 2.5))):
        one = RIGHT.replace("alpha = 0.35", f"alpha = {alpha}").replace("lam = 2.0", f"lam = {lam}")
        single, _ = _built(one)
        np.testing.assert_allclose(features[:, c], single.design(data)[1][:, c], rtol=1e-12)
    shared, _ = _built(RIGHT)
    assert not np.allclose(features, shared.design(data)[1])  # the values are used


def test_ols_with_true_transforms_per_channel_recovers_closer(tmp_path: Path) -> None:
    """Fixed at each channel's true values, the media model is the DGP's: ROAS within 3%,
    and closer to the truth than with one shared value per family on the same data."""

    def errors(text: str, out: Path) -> np.ndarray:
        summary = run_grid(text, out, RunOptions(replicates=2))
        assert summary.failed == 0
        return np.array(
            [
                np.abs(r["posterior"]["roas"].mean("sample") / r["truth"]["roas"] - 1)
                for r in _posteriors(out)
            ]
        )

    exact = errors(PER_CHANNEL, tmp_path / "exact")
    assert exact.max() < 0.03
    assert exact.max() < errors(RIGHT, tmp_path / "shared").max()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "alpha = 0.35",
            "alpha = [0.5]",
            r"model.adstock.alpha = \[0.5\]: one value per channel: 2 \(tv, search\), not 1",
        ),
        (
            "lam = 2.0",
            "lam = [1.5, 2.5, 3.5]",
            r"model.saturation.lam = \[1.5, 2.5, 3.5\]: one value per channel: 2 .*not 3",
        ),
        ("alpha = 0.35", "alpha = [0.5, 1.3]", r"model.adstock.alpha\[1\] = 1.3: must be in"),
        ("alpha = 0.35", 'alpha = [0.5, "x"]', r"model.adstock.alpha\[1\] = 'x': must be a"),
        ("alpha = 0.35", "alpha = []", r"model.adstock.alpha = \[\]: give one number"),
    ],
)
def test_per_channel_values_are_checked_against_the_channels(
    old: str, new: str, message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        _scenario(RIGHT.replace(old, new))


def _bound_world(drop: float) -> tuple[LinearModel, ModelData, LinearModel]:
    """NNLS and OLS on one dataset whose target is rebuilt from the model's own features
    with search's coefficient ``drop``: negative puts NNLS at the bound, positive not."""
    nnls, data = _built(PER_CHANNEL.replace('kind = "ols"', 'kind = "nnls"'))
    ols, _ = _built(PER_CHANNEL)
    base, features = nnls.design(data)
    rng = np.random.default_rng(7)
    coef = np.concatenate([np.full(base.shape[1], 0.1), [0.5, drop]])
    y = np.concatenate([base, features], axis=1) @ coef + rng.normal(0, 0.02, len(data.target))
    rebuilt = replace(data, target=y * data.target_scale)
    return nnls, rebuilt, ols


def _interval(draws: np.ndarray) -> np.ndarray:
    return np.quantile(draws, [0.025, 0.975], axis=0)


def test_a_coefficient_held_at_its_bound_keeps_an_honest_interval() -> None:
    """search's coefficient is -0.05 in the data: NNLS holds it at 0. Its draws (refits of
    the bounded estimator) give an interval from 0 with positive width, about the upper
    half of OLS's spread at 0 (a half-normal's 97.5% point is 1.96 sd); the old rule,
    normal draws on the active set clipped at 0, gave every draw exactly 0."""
    nnls, data, ols = _bound_world(-0.05)
    base, features = nnls.design(data)
    y = data.scaled()["target"]
    assert _nnls(base, features, y)[-1] == 0.0  # held at the bound
    beta = nnls.fit(data, 4000, seed=1)[0]["saturation_beta"][0]
    low, high = _interval(beta)
    assert high[1] > low[1] and low[1] <= 0.0 <= high[1]
    assert 0.3 < np.mean(beta[:, 1] == 0.0) < 0.8  # the estimator's atom at the bound
    sd = ols.fit(data, 4000, seed=1)[0]["saturation_beta"][0].std(axis=0)
    assert 1.4 * sd[1] < high[1] < 2.6 * sd[1]


def test_an_interior_coefficients_interval_is_ols() -> None:
    """Every coefficient far from the bound: the refits are the unconstrained estimator,
    N(b, s^2 (X'X)^-1), so NNLS's 95% intervals are OLS's up to Monte Carlo error, and
    would not be with the noise misstated (s doubled: the check can fail)."""
    nnls, data, ols = _bound_world(0.3)
    a = _interval(nnls.fit(data, 4000, seed=1)[0]["saturation_beta"][0])
    b = _interval(ols.fit(data, 4000, seed=2)[0]["saturation_beta"][0])
    width = b[1] - b[0]
    assert (a[0] > 0).all()
    np.testing.assert_allclose(a, b, atol=0.08 * width.max())
    centre = b.mean(axis=0)
    doubled = centre + 2 * (b - centre)
    assert not np.allclose(a, doubled, atol=0.08 * width.max())


def test_the_workbench_model_honours_per_channel_values() -> None:
    """The Bayesian workbench model with ``alpha = [0.5, 0.2]``, ``lam = [1.5, 2.5]`` fixed:
    no transform random variables, and its contribution at ``beta = 1`` is the media
    features least squares regresses on."""
    from pytensor.compile.maker import function as compile_function

    from mmm_workbench.recover.models.workbench import build_workbench

    linear, data = _built(PER_CHANNEL)
    scenario = _scenario(PER_CHANNEL.replace('kind = "ols"\n', ""))
    assert scenario.model is not None and scenario.model.kind == "workbench"
    built = build_workbench(scenario.model, data)
    m = built.model
    assert {v.name for v in m.free_RVs} & {"adstock_alpha", "saturation_lam"} == set()
    contribution = compile_function(
        [m["saturation_beta"]], m["channel_contribution"], on_unused_input="ignore"
    )(np.ones(2))
    np.testing.assert_allclose(contribution, linear.design(data)[1], rtol=1e-10)
