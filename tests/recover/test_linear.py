"""Least-squares teaching baselines: exact recovery when the model is right, negative OLS
coefficients on correlated spend, and NNLS's sign constraint that does not remove bias."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
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
