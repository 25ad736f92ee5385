"""Priors over the data-generating process: parsing, validation at load, reproducible draws,
the drawn truth in the dataset and the record, and unchanged data for fixed-number specs."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

import numpy as np
import pytest

from mmm_workbench.recover.models.data import truth_estimands
from mmm_workbench.reports.sbc import truth_design
from mmm_workbench.scenarios import (
    ScenarioError,
    parse_scenario,
    read_scenario,
    replicate_rng,
    scenario_from_text,
)
from mmm_workbench.scenarios.spec import PriorSpec
from mmm_workbench.scenarios.truth_priors import DISTRIBUTIONS, support, typical_value
from mmm_workbench.simulate import generate
from mmm_workbench.simulate.priors import draw_prior, draw_truth, has_priors
from mmm_workbench.simulate.truth import DEMAND_UNOBSERVED
from tests.conftest import portable_bytes, tiny_raw

HALF = {"dist": "HalfNormal", "sigma": 300}
ALPHA = {"dist": "Beta", "alpha": 2, "beta": 2}


def _raw(**channel: Any) -> dict[str, Any]:
    raw = tiny_raw()
    raw["data"]["channels"][0].update(copy.deepcopy(channel))
    return raw


def _error(raw: dict[str, Any], pattern: str) -> str:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(raw)
    text = str(err.value)
    assert "\n" not in text, text
    assert re.search(pattern, text), text
    return text


def _adstock(alpha: object) -> dict[str, Any]:
    raw = tiny_raw()
    adstock = raw["data"]["channels"][0]["adstock"]
    adstock["alpha"] = alpha
    return raw


# --------------------------------------------------------------------------- parsing


def test_a_prior_table_stands_for_beta_and_transform_parameters() -> None:
    raw = _adstock(ALPHA)
    raw["data"]["channels"][0]["beta"] = HALF
    raw["data"]["intercept"] = {"dist": "Normal", "mu": 100, "sigma": 10}
    raw["data"]["noise"] = {"kind": "normal", "sd": {"dist": "Exponential", "lam": 0.1}}
    data = parse_scenario(raw).data
    ch = data.channels[0]
    assert set(ch.priors) == {"beta", "adstock.alpha"}
    assert ch.priors["beta"] == PriorSpec(dist="HalfNormal", args={"sigma": 300})
    assert ch.beta == pytest.approx(300 * np.sqrt(2 / np.pi))  # the mean, for checks only
    assert ch.adstock.params["alpha"] == 0.5
    assert set(data.priors) == {"intercept", "noise.sd"}
    assert (data.intercept, data.noise.sd) == (100.0, 10.0)
    assert has_priors(data)
    assert not has_priors(parse_scenario(tiny_raw()).data)


BAD = [
    ({"dist": "Cauchy", "beta": 1}, r"beta\.dist = 'Cauchy': unknown distribution .*known: Normal"),
    ({"dist": "HalfNormal"}, r"beta: HalfNormal takes sigma; got none"),
    ({"dist": "HalfNormal", "sigma": 1, "mu": 0}, r"beta: HalfNormal takes sigma; got mu, sigma"),
    ({"dist": "HalfNormal", "sigma": -1}, r"beta\.sigma = -1: must be > 0"),
    ({"dist": "HalfNormal", "sigma": "1"}, r"beta\.sigma = '1': .*must be numbers"),
    ({"dist": "HalfNormal", "sigma": [1, 2]}, r"beta\.sigma = \[1, 2\]: .*numbers"),
    ({"dist": "Normal", "mu": 0, "sigma": 1}, r"support \(-inf, inf\) reaches outside .*\(>= 0\)"),
    ({"dist": "Uniform", "lower": 2, "upper": 1}, r"lower = 2 must be below upper = 1"),
    ({"dist": "Uniform", "lower": -1, "upper": 1}, r"support \[-1, 1\] reaches outside"),
    ({"sigma": 1}, r"beta\.dist: missing required key"),
]


@pytest.mark.parametrize(("prior", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_a_bad_prior_on_beta_gets_a_path_named_error(prior: object, message: str) -> None:
    text = _error(_raw(beta=prior), r"^data\.channels\[0\]\.beta")
    assert re.search(message, text), text


def test_a_prior_reaching_outside_an_adstock_alpha_is_refused() -> None:
    text = _error(
        _adstock({"dist": "HalfNormal", "sigma": 0.3}), r"^data\.channels\[0\]\.adstock\.alpha"
    )
    assert "support [0, inf) reaches outside the parameter's values (in [0, 1))" in text
    parse_scenario(_adstock({"dist": "Uniform", "lower": 0, "upper": 1}))  # [0, 1]: no mass at 1


def test_data_priors_are_checked_against_their_support() -> None:
    raw = tiny_raw()
    raw["data"]["noise"] = {"kind": "normal", "sd": {"dist": "Normal", "mu": 5, "sigma": 1}}
    _error(raw, r"^data\.noise\.sd = \{ dist = 'Normal' \}: the prior's support")
    raw = tiny_raw()
    raw["data"]["intercept"] = {"dist": "Gamma", "mu": 1}
    _error(raw, r"^data\.intercept: Gamma takes alpha, beta or mu, sigma; got mu")


def test_a_prior_in_a_grid_cell_is_checked_with_the_cell() -> None:
    raw = tiny_raw()
    raw["grid"] = {"data.channels[0].beta": [HALF, {"dist": "Normal", "mu": 0, "sigma": 1}]}
    _error(raw, r"^grid cell .*data\.channels\[0\]\.beta = \{ dist = 'Normal' \}")


def test_every_distribution_draws_inside_its_support_around_its_mean() -> None:
    args = {
        "Normal": {"mu": 2, "sigma": 0.5},
        "HalfNormal": {"sigma": 2},
        "LogNormal": {"mu": 0.1, "sigma": 0.3},
        "Beta": {"alpha": 2, "beta": 5},
        "Gamma": {"mu": 2, "sigma": 1},
        "Uniform": {"lower": -1, "upper": 3},
        "Exponential": {"lam": 4},
        "TruncatedNormal": {"mu": 0, "sigma": 1, "lower": 0.5, "upper": 2},
    }
    assert set(args) == set(DISTRIBUTIONS)
    for dist, a in args.items():
        prior = PriorSpec(dist=dist, args=a)
        draws = np.asarray(draw_prior(prior, np.random.default_rng(0), 40_000))
        low, high = support(prior)
        assert np.all((draws >= low) & (draws <= high)), dist
        if dist != "TruncatedNormal":  # its typical value is mu clipped, not its mean
            assert draws.mean() == pytest.approx(typical_value(prior), rel=0.03), dist
    gamma = np.asarray(
        draw_prior(
            PriorSpec(dist="Gamma", args={"alpha": 4, "beta": 2}), np.random.default_rng(1), 40_000
        )
    )
    assert (gamma.mean(), gamma.var()) == pytest.approx((2.0, 1.0), rel=0.05)  # rate, as PyMC


# --------------------------------------------------------------------------- drawing


def _sbc_cell() -> Any:
    return read_scenario("sbc-nuts-vs-advi").cells[0]


def test_each_replicate_draws_its_truth_reproducibly_and_independently() -> None:
    cell = _sbc_cell()
    data = cell.scenario.data

    def truth(replicate: int) -> tuple[float, ...]:
        tree = generate(data, replicate_rng(7, cell.data_id, replicate))
        t = tree["truth"]
        return (
            float(t["intercept"]),
            float(t["sigma"]),
            *t["saturation_beta"].values,
            *t["adstock_alpha"].values,
            *t["saturation_lam"].values,
        )

    first = [truth(r) for r in range(4)]
    assert first == [truth(r) for r in range(4)]  # same seed, same truth
    assert len({x for row in first for x in row}) == 4 * 8  # every value differs
    # the truth has its own stream: drawing it consumes nothing of the data's
    rng = replicate_rng(7, cell.data_id, 0)
    drawn = draw_truth(data, rng.spawn(6)[5])
    fixed = generate(drawn, replicate_rng(7, cell.data_id, 0))
    prior = generate(data, replicate_rng(7, cell.data_id, 0))
    for name in ("spend", "sales"):
        np.testing.assert_array_equal(fixed["observed"][name], prior["observed"][name])


def test_draws_over_replicates_follow_the_prior() -> None:
    cell = _sbc_cell()
    data = cell.scenario.data
    alphas = [
        draw_truth(data, replicate_rng(7, cell.data_id, r).spawn(6)[5])
        .channels[0]
        .adstock.params["alpha"]
        for r in range(400)
    ]
    assert np.mean(alphas) == pytest.approx(0.25, abs=0.035)  # Beta(1, 3)
    assert np.quantile(alphas, 0.5) == pytest.approx(1 - 0.5 ** (1 / 3), abs=0.04)


def test_the_record_holds_the_drawn_truth_and_reports_call_it_sbc() -> None:
    cell = _sbc_cell()
    scenario = cell.scenario
    assert scenario.model is not None
    rows = []
    for r in range(3):
        tree = generate(scenario.data, replicate_rng(7, cell.data_id, r))
        truth = truth_estimands(tree, scenario.model)
        np.testing.assert_array_equal(truth["adstock_alpha"], tree["truth"]["adstock_alpha"])
        assert np.isfinite(float(truth["log_likelihood"]))
        for name in ("adstock_alpha", "saturation_lam", "saturation_beta"):
            for c, value in enumerate(truth[name].values):
                rows.append((cell.cell_id, r, name, f"channel={c}", float(value), "parameter"))
        rows.append((cell.cell_id, r, "sigma", "", float(truth["sigma"]), "parameter"))
    import pandas as pd

    table = pd.DataFrame(
        rows, columns=["cell", "replicate", "estimand", "coords", "truth", "family"]
    )
    design = truth_design(table)
    assert design["truth"].tolist() == ["drawn"] and design["label"].tolist() == ["SBC"]


def test_a_drawn_value_the_spec_refuses_is_a_path_named_error() -> None:
    raw = tiny_raw()
    raw["data"]["model"] = "multiplicative"
    raw["data"]["intercept"] = 10.0
    raw["data"]["channels"][0]["beta"] = {"dist": "Uniform", "lower": 0, "upper": 60}
    data = parse_scenario(raw).data  # its mean, 30, is within the log-scale bound
    with pytest.raises(ScenarioError, match=r"^data: a value drawn .*channels\[0\]\.beta"):
        for seed in range(200):
            draw_truth(data, np.random.default_rng(seed))


# --------------------------------------------------------------------------- unchanged


def test_fixed_number_scenarios_keep_their_cell_ids_and_data_bit_for_bit() -> None:
    """Values measured with the code before priors existed (commit 1a14343): adding the
    ``priors`` fields and the truth stream changes neither a cell's id (its seeds) nor one bit
    of its data. The digest is of :func:`portable_bytes` (rounded to 8 decimals of each
    array's scale), the same on CPUs with and without AVX-512; the raw bytes' digest,
    a95dd26abd782d23 at 1a14343 and since on a CPU without AVX-512, is b7c584bca8e75b2f on
    one with it, at 1a14343 as now."""
    # quickstart's [fit] has tuned 1000 steps since (its true-demand cell had a fit with a
    # tail ESS of 74 at 500); the ids below are those of the document at 1a14343
    text = read_scenario("quickstart").text
    assert "\ntune = 1000\n" in text
    source = scenario_from_text(text.replace("\ntune = 1000\n", "\ntune = 500\n"))
    assert [c.cell_id for c in source.cells] == ["48b633e02c7e", "92da256bb331"]
    cell = source.cells[0]
    tree = generate(cell.scenario.data, replicate_rng(source.scenario.seed, cell.data_id, 0))
    digest = hashlib.sha256()
    for group in ("observed", "truth"):
        ds = tree[group].to_dataset()
        for name in sorted(ds.data_vars):
            # added since: the SBC test quantity, and the truth of a model that does not
            # observe demand (mmm_workbench.simulate.truth.demand_unobserved)
            if name in ("log_likelihood", *DEMAND_UNOBSERVED):
                continue
            digest.update(str(name).encode())
            digest.update(portable_bytes(ds[name].to_numpy()))
    assert digest.hexdigest()[:16] == "eaa34aec913ddb9d"


@pytest.mark.parametrize("value", [0, -5, "max", True])
def test_a_bad_model_target_scale_is_a_path_named_error(value: object) -> None:
    raw = tiny_raw()
    raw["model"] = {
        "adstock": {"kind": "geometric", "l_max": 6},
        "saturation": {"kind": "logistic"},
        "target_scale": value,
    }
    _error(raw, r"^model\.target_scale = .*: must be")
    raw["model"]["target_scale"] = 250
    model = parse_scenario(raw).model
    assert model is not None and model.target_scale == 250.0
