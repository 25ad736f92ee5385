"""How well a fit predicts its own training target: R², MAPE and CRPS per fit.

Read from a record's ``observed_data``, ``posterior`` and ``posterior_predictive`` groups
(:mod:`mmm_workbench.reports.contract`, format 3); NaN where a record lacks them (format 2,
least squares, a model without a likelihood of the target).

- ``fit_r2``: ``1 - sum (y - yhat)^2 / sum (y - mean y)^2`` of the posterior-mean prediction
  ``yhat`` (the posterior mean of ``baseline + sum of channel_contribution``, the model's
  expected target; the mean of the posterior predictive draws where the record lacks
  those);
- ``fit_mape``: ``mean |y - yhat| / |y|`` over the periods with ``y != 0``, a fraction (0.05 is
  5%);
- ``fit_crps``: the mean over periods of the continuous ranked probability score of the
  posterior predictive draws at ``y`` (:func:`mmm_workbench.reports.metrics.crps_draws`),
  the target's units; lower is better;
- ``holdout_mape``, ``holdout_crps``: the same of the ``predictions`` of the holdout
  periods (``train_periods < periods``) against their observed target, where the model
  predicted them (the mean of the prediction draws is the posterior-mean prediction).

The first three are in-sample measures: a fit that overfits scores well on them; the
holdout ones are not. They are aggregated
per cell (mean over the ok fits, with its Monte Carlo error) by
:func:`mmm_workbench.reports.aggregate.fit_measures` as fit-level metrics of the same names,
usable in rules (``metric = "fit_r2"``; the ``fit_`` prefix keeps them apart from the
estimand-level ``crps``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mmm_workbench.reports.contract import (
    HOLDOUT,
    OBSERVED_DATA,
    POSTERIOR,
    POSTERIOR_PREDICTIVE,
    PREDICTIONS,
    TARGET,
)
from mmm_workbench.reports.metrics import crps_draws
from mmm_workbench.reports.records import FitRecord

__all__ = ["FIT_QUALITY", "fit_quality", "mape", "r_squared"]

FIT_QUALITY = ("fit_r2", "fit_mape", "fit_crps", "holdout_mape", "holdout_crps")
"""The per-fit measures of :func:`fit_quality` (columns of the fit table)."""


def r_squared(observed: ArrayLike, predicted: ArrayLike) -> float:
    """Return ``1 - SS_res / SS_tot``; NaN for a constant or empty target."""
    y = np.asarray(observed, dtype=np.float64)
    yhat = np.asarray(predicted, dtype=np.float64)
    total = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
    if total == 0.0:
        return math.nan
    return 1.0 - float(np.sum((y - yhat) ** 2)) / total


def mape(observed: ArrayLike, predicted: ArrayLike) -> float:
    """Return the mean absolute percentage error (a fraction) over the nonzero ``observed``."""
    y = np.asarray(observed, dtype=np.float64)
    yhat = np.asarray(predicted, dtype=np.float64)
    nonzero = y != 0
    if not np.any(nonzero):
        return math.nan
    return float(np.mean(np.abs(y[nonzero] - yhat[nonzero]) / np.abs(y[nonzero])))


def _expected(record: FitRecord) -> NDArray[np.float64] | None:
    """Posterior draws of the expected target, ``(sample, date)``, or None."""
    baseline = record.group(POSTERIOR, "baseline")
    contribution = record.group(POSTERIOR, "channel_contribution")
    if baseline is None or contribution is None or contribution.shape[:2] != baseline.shape:
        return None
    return np.asarray(baseline + contribution.sum(axis=-1), dtype=np.float64)


def fit_quality(record: FitRecord) -> dict[str, float]:
    """Return the fit's :data:`FIT_QUALITY` measures (NaN where the record cannot give one)."""
    out = dict.fromkeys(FIT_QUALITY, math.nan)
    observed = record.group(OBSERVED_DATA, TARGET)
    if observed is None:
        return out
    draws = record.group(POSTERIOR_PREDICTIVE, TARGET)
    expected = _expected(record)
    if expected is None or expected.shape[1:] != observed.shape:
        expected = draws
    if expected is not None:
        prediction = expected.mean(axis=0)
        out["fit_r2"] = r_squared(observed, prediction)
        out["fit_mape"] = mape(observed, prediction)
    if draws is not None:
        out["fit_crps"] = float(np.mean(crps_draws(draws, observed)))
    later = record.group(OBSERVED_DATA, HOLDOUT)
    predicted = record.group(PREDICTIONS, HOLDOUT)
    if later is not None and predicted is not None and later.size:
        out["holdout_mape"] = mape(later, predicted.mean(axis=0))
        out["holdout_crps"] = float(np.mean(crps_draws(predicted, later)))
    return out
