"""ArviZ-native records from real fits: pymc-marketing's likelihood, and nutpie's chains.

Slow (compiles pymc-marketing's MMM; samples with nutpie): ``-m slow``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import arviz as az
import matplotlib
import numpy as np
import pytest
import xarray as xr

from mmm_workbench.recover.export import export_run
from mmm_workbench.recover.fitting import CellFitter
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.scenarios import expand_grid, load_scenario
from tests.recover.conftest import SMALL

matplotlib.use("Agg")

ONE_CELL = SMALL.replace('[grid]\n"data.proxy.noise_sd" = [0.0, 0.2]\n', "")


@pytest.mark.slow  # compiles pymc-marketing's MMM (xtensor graph: one draw at a time)
def test_pymc_marketing_records_hold_its_own_likelihood(tmp_path: Path) -> None:
    text = ONE_CELL.replace("[model]\n", '[model]\nkind = "pymc-marketing"\n')
    text = text.replace("train_periods = 30", "train_periods = 24")
    path = tmp_path / "pmm.toml"
    path.write_text(text)
    record = CellFitter(expand_grid(load_scenario(path))[0]).fit(0)
    pointwise = record["log_likelihood"]["y"].to_numpy()
    np.testing.assert_allclose(
        pointwise.sum(axis=1), record["posterior"]["log_likelihood"].to_numpy(), rtol=1e-8
    )
    assert record["posterior_predictive"]["y"].shape == (1, 24)
    assert record["predictions"]["y_holdout"].shape == (1, 6)


@pytest.mark.slow  # nutpie: 2 chains x 300 draws of the small world
def test_nutpie_records_export_with_their_chains(tmp_path: Path) -> None:
    text = ONE_CELL.replace(
        'backend = "map"',
        'backend = "nutpie"\ndraws = 300\ntune = 300\nchains = 2\nkeep_draws = 200',
    )
    summary = run_grid(text, tmp_path / "run", RunOptions(replicates=1))
    assert summary.failed == 0, summary.results
    (fit,) = export_run(tmp_path / "run", tmp_path / "nc")
    tree = xr.open_datatree(fit.path)
    assert tree["posterior"].sizes["chain"] == 2 and tree["posterior"].sizes["draw"] == 100
    table = az.summary(tree, var_names=["roas", "sigma"])
    assert float(table["r_hat"].max()) < 1.1
    with warnings.catch_warnings():  # a Pareto k warning on 300 draws is not the point here
        warnings.simplefilter("ignore", UserWarning)
        loo = az.loo(tree)
    assert loo.n_data_points == 30 and np.isfinite(loo.elpd)
    az.plot_ppc_dist(tree)
