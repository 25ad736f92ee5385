"""The truth in pymc-marketing's internal units: max-abs scaled target and channels over the
training window, saturation parameters and beta converted so that pymc-marketing's forward
pass with those parameters reproduces the DGP's contributions."""

from __future__ import annotations

import numpy as np
import pytest

from mmm_workbench.scenarios import parse_scenario
from mmm_workbench.simulate import generate
from mmm_workbench.simulate.transforms import SATURATIONS, adstock, saturation
from tests.conftest import tiny_raw

SATURATION_PARAMS = {
    "logistic": {"lam": 2.0},
    "hill": {"slope": 1.7, "kappa": 0.4},
    "michaelis_menten": {"alpha": 3.0, "lam": 0.6},
    "tanh": {"b": 2.0, "c": 0.7},
    "root": {"alpha": 0.6},
}


@pytest.mark.parametrize("family", sorted(SATURATIONS))
@pytest.mark.parametrize("x_scale", ["max", 2500.0])
def test_converted_parameters_reproduce_contributions(family: str, x_scale: object) -> None:
    raw = tiny_raw(train_periods=30)  # training max differs from the full-data max
    for ch in raw["data"]["channels"]:
        ch["saturation"] = {"kind": family, **SATURATION_PARAMS[family]}
        ch["x_scale"] = x_scale
    tree = generate(parse_scenario(raw).data, np.random.default_rng(5))
    spec = parse_scenario(raw).data
    truth, pmm = tree["truth"], tree["truth/pymc_marketing"]
    spend = tree["observed"]["spend"].to_numpy()
    y = tree["observed"]["sales"].to_numpy()
    assert float(pmm["target_scale"]) == pytest.approx(np.abs(y[:30]).max())
    np.testing.assert_allclose(pmm["channel_scale"], np.abs(spend[:30]).max(axis=0))
    for c, ch in enumerate(spec.channels):
        params = {name: float(pmm[f"saturation_{name}"][c]) for name in SATURATION_PARAMS[family]}
        x_pm = spend[:, c] / float(pmm["channel_scale"][c])
        ad = ch.adstock
        adstocked = adstock(x_pm, ad.kind, ad.params, l_max=ad.l_max, normalize=ad.normalize)
        forward = float(pmm["saturation_beta"][c]) * saturation(adstocked, family, params)
        np.testing.assert_allclose(forward, pmm["channel_contribution"][:, c], rtol=1e-10)
        np.testing.assert_allclose(
            forward * float(pmm["target_scale"]),
            truth["channel_contribution"][:, c],
            rtol=1e-10,
        )
