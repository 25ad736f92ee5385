"""SBC with stub posteriors on a conjugate model: an exact posterior passes, broken ones fail,
and only the data-dependent test quantity (the log-likelihood, Modrak et al. 2023) catches a
posterior that equals the prior."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from mmm_workbench.reports.sbc import rank_rng, sbc_rank, sbc_uniformity, truth_design

N_OBS = 10
REPLICATES = 200
DRAWS = 100

Posterior = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _log_likelihood(theta: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sum_i log N(y_i | theta, 1)`` for each theta."""
    theta = np.atleast_1d(theta)[:, None]
    return np.sum(-0.5 * (y[None, :] - theta) ** 2 - 0.5 * np.log(2 * np.pi), axis=1)


def exact(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """theta ~ N(0, 1), y_i ~ N(theta, 1): the posterior is N(sum y / (n + 1), 1 / (n + 1))."""
    n = y.size
    return rng.normal(y.sum() / (n + 1), np.sqrt(1 / (n + 1)), DRAWS)


def prior(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, 1.0, DRAWS)


def overconfident(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = y.size
    return rng.normal(y.sum() / (n + 1), np.sqrt(1 / (n + 1)) / 3, DRAWS)


def _table(posterior: Posterior, seed: int = 0) -> pd.DataFrame:
    """One row per (replicate, estimand): the truth's rank among the posterior draws."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(REPLICATES):
        theta = rng.normal(0.0, 1.0)  # the truth, drawn from the prior
        y = rng.normal(theta, 1.0, N_OBS)
        draws = posterior(y, rng)
        quantities = {
            "theta": (draws, theta),
            "log_likelihood": (_log_likelihood(draws, y), _log_likelihood(np.array(theta), y)[0]),
        }
        for name, (values, truth) in quantities.items():
            _, n, pit = sbc_rank(values[:, None], [truth], DRAWS, rank_rng(seed, "c", r, name))
            rows.append(("c", "stub", r, name, "", float(np.ravel(truth)[0]), n, pit[0]))
    columns = ["cell", "cell_label", "replicate", "estimand", "coords", "truth", "rank_draws"]
    return pd.DataFrame(rows, columns=[*columns, "pit"]).assign(family="derived")


def _rejected(posterior: Posterior) -> dict[str, bool]:
    result = sbc_uniformity(_table(posterior))
    assert result["enough"].all()
    return dict(zip(result["estimand"], result["reject"], strict=True))


def test_an_exact_posterior_passes_every_test_quantity() -> None:
    assert _rejected(exact) == {"log_likelihood": False, "theta": False}


def test_the_prior_as_posterior_passes_on_parameters_and_fails_on_the_log_likelihood() -> None:
    assert _rejected(prior) == {"log_likelihood": True, "theta": False}


def test_an_overconfident_posterior_fails() -> None:
    assert _rejected(overconfident)["theta"]


def test_a_drawn_truth_is_called_sbc() -> None:
    table = _table(exact).assign(family="parameter")
    assert truth_design(table[table["estimand"] == "theta"])["label"].tolist() == ["SBC"]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_verdicts_do_not_hang_on_one_seed(seed: int) -> None:
    assert not sbc_uniformity(_table(exact, seed))["reject"].any()
    by_name = sbc_uniformity(_table(prior, seed)).set_index("estimand")["reject"]
    assert by_name["log_likelihood"] and not by_name["theta"]
