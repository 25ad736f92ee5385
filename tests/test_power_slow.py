"""The power study (bench/power.py). Real MCMC (slow): the default gate says no to the adstock
lag off by one and yes to the correct model, fitted with NUTS to the same datasets of the
study's world. Fast: the draws-bug doubles share one fit per dataset."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mmm_workbench.recover.inference import Posterior
from mmm_workbench.recover.models.data import ModelData


@pytest.mark.slow
def test_default_gate_fails_the_lag_off_by_one_and_passes_the_correct_model(
    power: ModuleType, tmp_path: Path
) -> None:
    """Four replicates each (8 NUTS fits, about a minute unloaded): the correct model passes
    every default rule; the planted-lag double (the model sees spend one period late) fails
    them, blamed on the model, through its ROAS or adstock calibration."""
    variants = ["nuts (correct)", "adstock lag off by one"]
    result = power.study(tmp_path / "run", variants, replicates=4, group=4)
    assert result["failed_fits"] == 0
    rows = {row["variant"]: row for row in result["rows"]}
    correct, lag = rows["nuts (correct)"], rows["adstock lag off by one"]
    assert correct["groups"] == 1 and correct["failed"] == 0, correct
    assert lag["groups"] == 1 and lag["failed"] == 1, lag
    assert "model" in lag["causes"][0], lag
    failing = " ".join(lag["top_failing_rules"][0])
    assert "coverage" in failing or "z_mean" in failing, lag


def test_draws_bug_variants_share_one_fit_of_each_dataset(
    power: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The over-confident and shifted doubles break the same posterior of a dataset (one fit,
    kept under SHARED_FITS), each in its own way; another dataset is fitted again."""
    calls: list[int] = []

    class Exact:
        method = "nutpie"

        def posterior(self, data: object, seed: int) -> object:
            calls.append(seed)
            rng = np.random.default_rng(seed)
            draws = {"saturation_lam": np.exp(rng.normal(0.5, 0.2, size=(2, 400, 2)))}
            return Posterior(draws=draws, diagnostics={"divergences": 0.0})

    monkeypatch.setattr(power, "SHARED_FITS", tmp_path / "shared")
    data = _data(power, shift=0.0)
    sd3 = power.PlantedCell(Exact(), draws_bug=power.overconfident).posterior(data, 1)
    moved = power.PlantedCell(Exact(), draws_bug=power.shifted).posterior(data, 2)
    assert calls == [1]
    fitted = Exact().posterior(data, 1).draws["saturation_lam"]
    log = np.log(fitted).reshape(-1, 2)
    assert np.allclose(np.log(sd3.draws["saturation_lam"]).reshape(-1, 2).std(0), log.std(0) / 3)
    shift = np.log(moved.draws["saturation_lam"]).reshape(-1, 2).mean(0) - log.mean(0)
    assert np.allclose(shift, log.std(0))
    power.PlantedCell(Exact(), draws_bug=power.shifted).posterior(_data(power, shift=1.0), 3)
    assert calls == [1, 1, 3]  # the reference fit above, then the new dataset's


def _data(power: ModuleType, shift: float) -> ModelData:
    """A small two-channel dataset (its target moved by ``shift``)."""
    rng = np.random.default_rng(0)
    spend = rng.gamma(2.0, 1.0, size=(20, 2))
    return ModelData(
        dates=np.arange(20).astype("datetime64[W]"),
        channels=("tv", "search"),
        control_names=(),
        spend=spend,
        target=spend.sum(axis=1) + shift,
        controls=np.zeros((20, 0)),
        spend_scale=spend.max(axis=0),
        target_scale=1.0,
        control_scale=np.ones(0),
    )
