"""The workbench model's default Hill and delayed-adstock priors keep the curves inside the
data (issue 14): their mass sits away from the flat corners where the sampler diverged
(Hill's ``kappa`` near 0 or a slope near 0; delayed adstock's ``alpha`` near 0), while the
bench worlds' and the shipped scenarios' true values lie well inside them. A scenario's own
prior still wins, and geometric adstock keeps its ``Beta(1, 3)``."""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy import stats

from mmm_workbench.recover.models.priors import DEFAULT_PRIORS, prior_for
from mmm_workbench.scenarios import parse_scenario
from mmm_workbench.scenarios.spec import ModelSpec, PriorSpec
from tests.conftest import tiny_raw


def _model(adstock: str, saturation: str, priors: dict[str, Any] | None = None) -> ModelSpec:
    raw = tiny_raw()
    raw["model"] = {
        "adstock": {"kind": adstock, "l_max": 4},
        "saturation": {"kind": saturation},
        "priors": priors or {},
    }
    raw["fit"] = {"backend": "map"}
    model = parse_scenario(raw).model
    assert model is not None
    return model


def _scipy(prior: PriorSpec) -> Any:
    """The prior as a frozen scipy distribution (PyMC's parameterizations; exact, no draws)."""
    a = {k: float(v) for k, v in prior.args.items()}
    if prior.dist == "LogNormal":
        return stats.lognorm(s=a["sigma"], scale=math.exp(a["mu"]))
    if prior.dist == "Gamma" and "mu" in a:
        return stats.gamma(a["mu"] ** 2 / a["sigma"] ** 2, scale=a["sigma"] ** 2 / a["mu"])
    if prior.dist == "Gamma":
        return stats.gamma(a["alpha"], scale=1.0 / a["beta"])
    if prior.dist == "HalfNormal":
        return stats.halfnorm(scale=a["sigma"])
    assert prior.dist == "Beta", prior
    return stats.beta(a["alpha"], a["beta"])


def _corner_and_bulk(prior: PriorSpec, corner: float, truths: list[float]) -> tuple[float, float]:
    """The prior's mass below ``corner`` and the widest central interval reaching a truth.

    A truth at the prior's quantile ``F`` needs the central interval of mass
    ``1 - 2 * min(F, 1 - F)``: 0 at the median, near 1 in a tail.
    """
    dist = _scipy(prior)
    tails = [min(dist.cdf(t), dist.sf(t)) for t in truths]
    return float(dist.cdf(corner)), 1.0 - 2.0 * float(min(tails))


# true values of the bench worlds (bench/bench_families.py) and of scenarios/delayed-hill
# (kappa in units of the channel's maximum spend, the model's scaled units)
KAPPAS = [0.4, 0.5, 0.6]
SLOPES = [1.2, 1.5, 2.0]
DELAYED_ALPHAS = [0.3, 0.4, 0.5, 0.6]


@pytest.mark.parametrize(
    ("name", "corner", "truths"),
    [("saturation_kappa", 0.1, KAPPAS), ("saturation_slope", 0.4, SLOPES)],
)
def test_hill_defaults_avoid_the_flat_corners_and_cover_the_truths(
    name: str, corner: float, truths: list[float]
) -> None:
    prior = prior_for(name, _model("geometric", "hill"))
    assert prior == DEFAULT_PRIORS[name]
    below, coverage = _corner_and_bulk(prior, corner, truths)
    assert below < 0.005, (name, below)
    assert coverage < 0.8, (name, coverage)  # every truth inside the central 80%


def test_the_old_hill_defaults_fail_the_same_check() -> None:
    """pymc-marketing's ``kappa ~ HalfNormal(1.5)`` and the old ``slope ~ Gamma(3, 2)``,
    the defaults before issue 14, put their mass on the corners: the check above fails."""
    kappa = PriorSpec(dist="HalfNormal", args={"sigma": 1.5})
    slope = PriorSpec(dist="Gamma", args={"alpha": 3, "beta": 2})
    assert _corner_and_bulk(kappa, 0.1, KAPPAS)[0] > 0.05
    assert _corner_and_bulk(slope, 0.4, SLOPES)[0] > 0.03


def test_delayed_adstock_alpha_gets_its_own_default() -> None:
    delayed = prior_for("adstock_alpha", _model("delayed", "hill"))
    assert (delayed.dist, dict(delayed.args)) == ("Beta", {"alpha": 3, "beta": 3})
    below, coverage = _corner_and_bulk(delayed, 0.05, DELAYED_ALPHAS)
    assert below < 0.005 and coverage < 0.8
    geometric = prior_for("adstock_alpha", _model("geometric", "logistic"))
    assert geometric == DEFAULT_PRIORS["adstock_alpha"]
    assert _corner_and_bulk(geometric, 0.05, DELAYED_ALPHAS)[0] > 0.1  # Beta(1, 3) at 0


def test_a_scenarios_prior_wins_over_the_kind_default() -> None:
    own = {"adstock_alpha": {"dist": "Beta", "alpha": 1, "beta": 3}}
    prior = prior_for("adstock_alpha", _model("delayed", "hill", own))
    assert (prior.dist, dict(prior.args)) == ("Beta", {"alpha": 1, "beta": 3})
