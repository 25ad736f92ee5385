"""Fit one cell's replicates.

Simulate, swap the data into the cell's compiled model, sample, and turn the draws into a fit record
(posterior and truth of every estimand; where the model predicts its target, the observed data, the
posterior predictive and the pointwise log likelihood). The kept draws remember their chain and draw
(:func:`kept_draws`). What a model is, how it is checked, built and fitted is its kind's
(:mod:`mmm_workbench.recover.models.kinds`); this module knows no kind by name.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from importlib import metadata
from typing import Literal

import numpy as np
import xarray as xr

from mmm_workbench.recover.inference import Posterior
from mmm_workbench.recover.models.data import ModelData, model_data, scored_spec, truth_estimands
from mmm_workbench.recover.models.kinds import Context, get_model_kind
from mmm_workbench.recover.predictive import Predictive
from mmm_workbench.recover.store import FORMAT_VERSION
from mmm_workbench.reports.contract import (
    CHAIN,
    DATE,
    DRAW,
    HOLDOUT,
    HOLDOUT_DATE,
    LOG_LIKELIHOOD,
    OBSERVED_DATA,
    POSTERIOR_PREDICTIVE,
    PREDICTIONS,
    SAMPLE,
    TARGET,
    TRUTH_VERSION,
)
from mmm_workbench.scenarios import Cell, Scenario, replicate_rng, spec_hash
from mmm_workbench.scenarios.seeds import prior_seed, sampler_seed
from mmm_workbench.simulate import check_data, generate

__all__ = [
    "CellFitter",
    "Phase",
    "kept_draws",
    "record_summary",
    "thin",
    "validate_cells",
    "validate_for_fitting",
    "versions",
]

Phase = Literal["compiled", "sampling", "sampled"]
"""Where a fit is: its cell's model is ready; the sampler starts; the sampler returned."""


def versions() -> dict[str, str]:
    """Versions of the packages a fit depends on (looked up once per process)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    """Look the versions up: 9 package metadata reads (about 25 ms), once per process."""
    out = {"python": platform.python_version()}
    for name in (
        "mmm-workbench",
        "numpy",
        "xarray",
        "pymc",
        "pytensor",
        "nutpie",
        "arviz-stats",
        "pymc-marketing",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def validate_for_fitting(scenario: Scenario) -> None:
    """Everything that can be checked before any fitting.

    A model to fit, a known model kind, and what that kind checks (backend and options,
    priors; a ``kind = "python"`` builder's contract, on the first two replicates' data).

    Raises
    ------
    ValueError
        With the offending field and value.
    """
    if scenario.model is None:
        raise ValueError(f"{scenario.name}: the scenario has no [model] table; nothing to fit")
    _validate_model(scenario, _replicates(scenario, None))


def _replicates(scenario: Scenario, data_id: str | None) -> Callable[[int], ModelData]:
    """Return a function of ``i`` that generates replicate ``i``'s data for the model."""
    key = data_id if data_id is not None else spec_hash(scenario.data)

    def replicate(i: int) -> ModelData:
        assert scenario.model is not None
        tree = generate(scenario.data, replicate_rng(scenario.seed, key, i))
        return model_data(tree, scenario.model)

    return replicate


def _validate_model(scenario: Scenario, replicate: Callable[[int], ModelData]) -> None:
    assert scenario.model is not None
    kind = get_model_kind(scenario.model.kind)
    context = Context(channels=scenario.data.channel_names, replicate=replicate)
    kind.validate(scenario.model, scenario.fit, context)


def validate_cells(cells: Iterable[Cell]) -> None:
    """Run :func:`validate_for_fitting` for every cell of a grid, once per distinct model and fit.

    Once per distinct ``[model]``/``[fit]`` pair (what the checks depend on): cells that vary only
    the data share one validation, so a grid of thousands of cells validates its priors once. Each
    distinct ``[data]`` table is checked once with the simulator's own formulas
    (:func:`~mmm_workbench.simulate.check_data`: degenerate adstock kernels, demand that is zero
    everywhere, a multiplicative baseline that is not positive).

    Raises
    ------
    ValueError
        With the offending field and value.
    """
    seen: set[str] = set()
    checked: set[str] = set()
    for cell in cells:
        scenario = cell.scenario
        if cell.data_id not in checked:  # the simulator's own checks, once per [data] table
            check_data(scenario.data)
            checked.add(cell.data_id)
        if scenario.model is None:
            validate_for_fitting(scenario)  # raises: nothing to fit
            continue
        channels = scenario.data.channel_names
        key = spec_hash({"model": scenario.model, "fit": scenario.fit, "channels": channels})
        if key not in seen:
            _validate_model(scenario, _replicates(scenario, cell.data_id))
            seen.add(key)


def kept_draws(chains: int, draws: int, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``(chain, draw)`` indices that thinning keeps, chain by chain.

    The same ``max(1, keep // chains)`` evenly spaced draws (all of them if fewer) of every
    chain, so the kept draws form a ``(chain, draw)`` grid: ``keep`` draws, rounded down to
    a multiple of the chains (at least one per chain).
    """
    per = max(1, min(draws, keep // max(chains, 1)))
    index = np.unique(np.linspace(0, draws - 1, per).round().astype(np.int64))
    return np.repeat(np.arange(chains, dtype=np.int64), len(index)), np.tile(index, chains)


def thin(draws: dict[str, np.ndarray], keep: int) -> dict[str, np.ndarray]:
    """Keep the draws :func:`kept_draws` picks: ``(chain, draw, ...)`` to ``(sample, ...)``."""
    chains, count = next(iter(draws.values())).shape[:2]
    chain, draw = kept_draws(chains, count, keep)
    return {k: v[chain, draw] for k, v in draws.items()}


def whole_series(tree: xr.DataTree, data: ModelData) -> ModelData | None:
    """Return the whole series of a dataset as model data with the training rows' scales.

    None when the data have no holdout (``train_periods == periods``).
    """
    obs = tree["observed"].to_dataset()
    if len(obs["date"]) <= len(data.dates):
        return None
    controls = [obs[c].to_numpy().astype(float) for c in data.control_names]
    return replace(
        data,
        dates=obs["date"].to_numpy(),
        spend=obs["spend"].to_numpy().astype(float),
        target=obs[data.target_name].to_numpy().astype(float),
        controls=np.stack(controls, axis=-1) if controls else np.zeros((len(obs["date"]), 0)),
        after=np.zeros((0, len(data.channels))),
    )


def _predictive_groups(
    predictive: Predictive,
    data: ModelData,
    sample: dict[str, tuple[str, np.ndarray]],
    series: ModelData | None,
) -> dict[str, xr.Dataset]:
    """Return the record's ``observed_data``, ``posterior_predictive``, ``log_likelihood``.

    And ``predictions`` of the holdout, where the model predicted it.
    """
    dates = {DATE: data.dates}
    observed = xr.Dataset({TARGET: (DATE, predictive.observed)}, coords=dates)
    observed.attrs = {"target": data.target_name}
    drawn = {LOG_LIKELIHOOD: predictive.log_likelihood}
    if predictive.predictive is not None:
        drawn[POSTERIOR_PREDICTIVE] = predictive.predictive
    groups = {}
    for group, values in drawn.items():
        groups[f"/{group}"] = xr.Dataset(
            {TARGET: ((SAMPLE, DATE), values)}, coords={**dates, **sample}
        )
    if predictive.holdout is not None and series is not None:
        later = {HOLDOUT_DATE: series.dates[len(data.dates) :]}
        observed = observed.assign({HOLDOUT: (HOLDOUT_DATE, predictive.holdout_observed)})
        observed = observed.assign_coords(later)
        groups[f"/{PREDICTIONS}"] = xr.Dataset(
            {HOLDOUT: ((SAMPLE, HOLDOUT_DATE), predictive.holdout)}, coords={**later, **sample}
        )
    return {f"/{OBSERVED_DATA}": observed, **groups}


class CellFitter:
    """A cell's model, built and compiled once, fitted to any of its replicates.

    Attributes
    ----------
    model
        The kind's :class:`~mmm_workbench.recover.models.kinds.CellModel`.
    prior
        Draws of the model's parameters from their priors (once per cell: data-independent),
        or ``None`` for a model without a prior; each replicate turns them into prior
        estimands for posterior contraction.
    """

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        scenario = cell.scenario
        assert scenario.model is not None
        first = model_data(self._dataset(0), scenario.model)
        t0 = time.perf_counter()
        kind = get_model_kind(scenario.model.kind)
        self.model = kind.build(scenario.model, scenario.fit, first)
        # the transforms the built model uses (a pymc-marketing YAML config's), not only
        # those the scenario declares: the truth's transform parameters are scored on them
        self.spec = scored_spec(self.model, scenario.model)
        seed = prior_seed(scenario.seed, cell.cell_id)
        self.prior = self.model.prior(scenario.fit.keep_draws, seed)
        self.compile_s = time.perf_counter() - t0
        self.fits = 0

    def _dataset(self, replicate: int) -> xr.DataTree:
        scenario = self.cell.scenario
        return generate(scenario.data, replicate_rng(scenario.seed, self.cell.data_id, replicate))

    def _posterior(self, data: ModelData, seed: int) -> Posterior:
        """Fit one replicate's data with the cell's model (the fault tests slow this down)."""
        return self.model.posterior(data, seed)

    def fit(self, replicate: int, on_phase: Callable[[Phase], None] | None = None) -> xr.DataTree:
        """Fit one replicate and return its record.

        ``on_phase`` is called with ``"sampling"`` and ``"sampled"`` around the sampler
        (for backends that compile inside their sampling call, such as ``pymc``, that
        compilation is part of sampling).

        Raises
        ------
        FloatingPointError
            When the posterior draws of an estimand contain NaN or inf.
        """
        scenario = self.cell.scenario
        assert scenario.model is not None
        tree = self._dataset(replicate)
        data = model_data(tree, scenario.model)
        seed = sampler_seed(scenario.seed, self.cell.cell_id, replicate)
        t0 = time.perf_counter()
        if on_phase is not None:
            on_phase("sampling")
        posterior = self._posterior(data, seed)
        if on_phase is not None:
            on_phase("sampled")
        sampled = time.perf_counter() - t0
        chains, count = next(iter(posterior.draws.values())).shape[:2]
        chain, draw = kept_draws(chains, count, scenario.fit.keep_draws)
        draws = {k: v[chain, draw] for k, v in posterior.draws.items()}
        truth = truth_estimands(tree, self.spec)
        estimates = self.model.estimands(
            data, draws, tree["truth"]["x_scale"].to_numpy(), truth["multiplier"].to_numpy()
        )
        bad = [str(k) for k, v in estimates.data_vars.items() if not np.all(np.isfinite(v))]
        if bad:
            raise FloatingPointError(f"posterior draws of {', '.join(bad)} are not finite")
        sample = {CHAIN: (SAMPLE, chain), DRAW: (SAMPLE, draw)}
        estimates = estimates.assign_coords(sample)
        t1 = time.perf_counter()
        predicting = getattr(self.model, "predictive", None)
        predictive = None
        series = whole_series(tree, data)
        if predicting is not None:
            pp_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
            predictive = predicting(data, draws, pp_seed, series)
        predictive_s = time.perf_counter() - t1
        compiled_here = self.fits == 0
        self.fits += 1
        timings = {
            "compile_s": self.compile_s if compiled_here else 0.0,
            **posterior.timings,
            "post_s": time.perf_counter() - t0 - sampled,
            "predictive_s": predictive_s,
        }
        groups = {"/posterior": estimates, "/truth": truth}
        if predictive is not None:
            groups |= _predictive_groups(predictive, data, sample, series)
        if self.prior is not None:
            groups["/prior"] = self.model.estimands(
                data,
                self.prior,
                tree["truth"]["x_scale"].to_numpy(),
                truth["multiplier"].to_numpy(),
            )
        record = xr.DataTree.from_dict(groups)
        record.attrs = {
            "format_version": FORMAT_VERSION,
            "scenario": scenario.name,
            "cell_id": self.cell.cell_id,
            "cell_label": self.cell.label,
            "overrides": json.dumps(self.cell.overrides, default=str),
            "replicate": replicate,
            "backend": self.model.method,
            # the sampler's coordinates (the workbench model's resolved geometry), if any
            **_geometry(self.model),
            "seed": scenario.seed,
            "sampler_seed": seed,
            "truth_version": TRUTH_VERSION,
            "compiled": int(compiled_here),
            "pid": os.getpid(),
            "diagnostics": json.dumps(posterior.diagnostics),
            "timings": json.dumps(timings),
            "versions": json.dumps(versions()),
        }
        return record


def _geometry(model: object) -> dict[str, str]:
    """Return ``{"geometry": ...}`` for a model that reports its sampling geometry, else ``{}``.

    A ``"+lr"`` geometry (the workbench's low-rank mass matrix) is a setting only nutpie
    reads, and ``[fit].options``' ``adaptation`` overrides it: where the fit did not sample
    with it (another backend, or another adaptation asked for) the record names the
    coordinates alone, so that it says what the sampler did.
    """
    from mmm_workbench.recover.models.workbench import LOW_RANK

    geometry = getattr(getattr(model, "fitted", None), "geometry", "")
    if not (isinstance(geometry, str) and geometry):
        return {}
    fit = getattr(model, "fit", None)
    if geometry.endswith(LOW_RANK) and fit is not None:
        adaptation = fit.options.get("adaptation", "low_rank")
        if fit.backend != "nutpie" or adaptation != "low_rank":
            geometry = geometry.removesuffix(LOW_RANK)
    return {"geometry": geometry}


def record_summary(record: xr.DataTree) -> tuple[dict[str, float], dict[str, float]]:
    """Return a record's sampler diagnostics and its timings (s), as plain numbers."""
    diagnostics = json.loads(record.attrs["diagnostics"])
    timings = json.loads(record.attrs["timings"])
    return (
        {str(k): float(v) for k, v in diagnostics.items()},
        {str(k): float(v) for k, v in timings.items()},
    )
