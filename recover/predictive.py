"""The model's predictions of its training target: posterior predictive draws and log density.

What a fit record's ``observed_data``, ``posterior_predictive`` and ``log_likelihood``
groups hold (:mod:`mmm_workbench.reports.contract`), for any PyMC model: the workbench's,
pymc-marketing's or a ``kind = "python"`` builder's. :func:`compile_predictor` finds the
model's likelihood of the target and compiles, once per cell, one function of a batch of
posterior draws and the replicate's data containers that returns the pointwise log density
of the observations and the likelihood's parameters per draw (of one draw at a time where
the graph does not vectorize, as pymc-marketing's xtensor graph); :meth:`Predictor.predict`
then draws the posterior predictive from those parameters with the distribution's own
numpy sampler (no PyMC call, no compilation per replicate).

The holdout (``train_periods < periods``): :meth:`Predictor.predict_series` evaluates the
same compiled function on the whole series' data containers, those with a date axis
lengthened and the others (scales, lift tests) kept as the training replicate's. The
function is compiled on containers of free shape (a container of static shape, as the
workbench's time terms, takes longer values there). Per-period terms must be containers
for this: the workbench's trend and Fourier terms are (``trend_time``, ``fourier_terms``:
:func:`mmm_workbench.recover.models.media.time_terms`, the time index continued past
the training rows); a model whose graph holds constants of the training length (a numpy
time index in a ``kind = "python"`` builder) fails the evaluation and has no holdout
prediction (None), never a wrong one.

Units: a model may see its target scaled (the workbench divides by ``max|y|``). The scale
is read off each replicate (observed container against the raw target); draws are returned
in the data's units and the log density is that of the data-unit target (``log p(y) =
log p(y / s) - log s``). A model whose observed values are not the target times one
positive number (a log-scale target, a transformed one) has no predictive here.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from numpy.typing import NDArray
from pytensor.compile.maker import function as compile_function
from pytensor.graph.replace import clone_replace, graph_replace, vectorize_graph
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.op import RandomVariable
from pytensor.tensor.random.type import RandomType

__all__ = ["Predictive", "Predictor", "compile_predictor", "observed_scale"]

Array = NDArray[np.float64]
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Predictive:
    """A fit's predictions of its training target, data units.

    Attributes
    ----------
    observed
        The training target, ``(date,)``.
    predictive
        Posterior predictive draws, ``(sample, date)``; ``None`` where the likelihood has
        no numpy sampler.
    log_likelihood
        Log density of each observation under each draw, ``(sample, date)``.
    holdout, holdout_observed
        Posterior predictive draws of the holdout periods ``(sample, holdout date)`` and their
        target; None without a holdout or where the model cannot predict it.
    """

    observed: Array
    predictive: Array | None
    log_likelihood: Array
    holdout: Array | None = None
    holdout_observed: Array | None = None


def observed_scale(observed: Array, target: Array) -> float | None:
    """Return ``s > 0`` with ``target == s * observed`` (to rounding), or None if there is none."""
    observed = np.asarray(observed, dtype=float)
    target = np.asarray(target, dtype=float)
    if observed.shape != target.shape or observed.size == 0:
        return None
    peak = float(np.max(np.abs(observed)))
    if not np.isfinite(peak) or peak == 0:
        return None
    scale = float(np.max(np.abs(target))) / peak
    if scale > 0 and np.allclose(scale * observed, target, rtol=1e-9, atol=1e-12 * scale * peak):
        return scale
    return None


@dataclass(frozen=True, kw_only=True)
class Predictor:
    """A model's likelihood of its target, compiled once per cell.

    Attributes
    ----------
    name
        The observed variable's name.
    free
        The free variables, in the compiled function's input order.
    containers
        The data containers' names, inputs after the free variables.
    defaults
        The containers' values at build time (used where a replicate gives none).
    function
        ``(free draws (S, ...)..., containers...) -> (log density (S, T), observed (T,),
        likelihood parameters (S, ...)...)``, the model's units; where ``batched`` is False
        (a graph that does not vectorize), of one draw at a time.
    sampler
        The likelihood's ``RandomVariable`` (its numpy ``rng_fn`` draws), or None.
    """

    name: str
    free: tuple[str, ...]
    containers: tuple[str, ...]
    defaults: dict[str, Array]
    function: Any
    sampler: RandomVariable | None
    batched: bool = True

    def predict(
        self,
        draws: Mapping[str, Array],
        values: Mapping[str, Array],
        target: Array,
        seed: int,
    ) -> Predictive | None:
        """Return the predictions for a replicate; None if its target is not the model's.

        Parameters
        ----------
        draws
            Posterior draws by name, sample axis first (every free variable).
        values
            The replicate's data containers (the model's ``set_data``).
        target
            The replicate's training target, data units.
        seed
            Seeds the posterior predictive draws.
        """
        inputs = [np.asarray(draws[n]) for n in self.free]
        data = [np.asarray(values.get(n, self.defaults[n])) for n in self.containers]
        if self.batched:
            logp, observed, *params = self.function(*inputs, *data)
        else:
            each = [self.function(*(x[i] for x in inputs), *data) for i in range(len(inputs[0]))]
            logp, observed = np.stack([e[0] for e in each]), each[0][1]
            params = [np.stack([e[k] for e in each]) for k in range(2, len(each[0]))]
        scale = observed_scale(observed, target)
        if scale is None:
            return None
        predictive = None
        if self.sampler is not None:
            count, shape = len(logp), np.shape(observed)
            rng = np.random.default_rng(seed)
            batched = [_lead(np.asarray(p), 1 + len(shape)) for p in params]
            drawn = self.sampler.rng_fn(rng, *batched, (count, *shape))
            predictive = np.asarray(drawn, dtype=float) * scale
        return Predictive(
            observed=np.asarray(target, dtype=float),
            predictive=predictive,
            log_likelihood=np.asarray(logp, dtype=float) - np.log(scale),
        )

    def predict_series(
        self,
        draws: Mapping[str, Array],
        train: Mapping[str, Array],
        series: Mapping[str, Array],
        target: Array,
        seed: int,
    ) -> Predictive | None:
        """Return the predictions of the whole series; None where the model cannot give them.

        Parameters
        ----------
        draws, seed
            As :meth:`predict`.
        train, series
            The data containers of the training rows and of the whole series (the model's
            ``set_data`` on each); a container whose shape is the same in both (a scale, the
            lift tests) keeps its training value.
        target
            The whole series' target, data units.
        """
        values = {}
        for name in self.containers:
            own = train.get(name, self.defaults[name])
            full = series.get(name, own)
            values[name] = full if np.shape(full) != np.shape(own) else own
        try:
            return self.predict(draws, values, target, seed)
        except Exception:  # a constant of the training length: no prediction beyond it
            return None


def _lead(param: Array, ndim: int) -> Array:
    """Insert axes after the sample axis until ``param`` broadcasts to ``(S, *obs shape)``."""
    while param.ndim < ndim:
        param = np.expand_dims(param, 1)
    return param


def _target_likelihood(model: pm.Model, values: Mapping[str, Array], target: Array) -> Any:
    """Return the observed variable whose values are the target (to a scale), or None.

    Lift-test likelihoods and any other observed variable are told apart by their values:
    only the target's are ``target / s``. Where several match, the one called ``y``.
    """
    matches = []
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        swap = {d: pt.as_tensor(np.asarray(values[d.name])) for d in model.data_vars}
        swap = {d: v for d, v in swap.items() if d.name in values}
        try:
            evaluated = graph_replace(value, swap, strict=False).eval()
        except Exception:
            continue
        if observed_scale(np.asarray(evaluated), target) is not None:
            matches.append(rv)
    if len(matches) > 1:
        matches = [rv for rv in matches if rv.name == "y"]
    return matches[0] if len(matches) == 1 else None


def compile_predictor(
    model: pm.Model, values: Mapping[str, Array], target: Array
) -> Predictor | None:
    """Compile the predictive function of a cell's model; None where it has no such likelihood.

    Parameters
    ----------
    model
        The cell's PyMC model.
    values
        The first replicate's data containers (the model's ``set_data``).
    target
        The first replicate's training target, data units.
    """
    rv = _target_likelihood(model, values, target)
    if rv is None:
        return None
    try:
        with warnings.catch_warnings():  # PyMC warns while it derives an xtensor log density
            warnings.simplefilter("ignore", UserWarning)
            return _compile(model, rv)
    except Exception as err:  # a likelihood PyMC cannot give a log density of: no predictive
        log.warning("no predictive groups: %s: %s", type(err).__name__, err)
        return None


def _compile(model: pm.Model, rv: Any) -> Predictor | None:
    name = rv.name
    node = rv.owner
    op = node.op
    core = getattr(op, "core_op", op)  # an xtensor random variable wraps its core op
    sampled = isinstance(core, RandomVariable) and hasattr(op, "dist_params")
    params = list(op.dist_params(node)) if sampled else []
    univariate = sampled and all(n == 0 for n in core.ndims_params)
    # the graph on containers of free shape, its nodes rebuilt (their static shapes
    # recomputed) where a container's shape was static (the workbench's time terms): the
    # whole series' longer containers then evaluate it for the holdout
    containers = {d: d.type.clone(shape=(None,) * d.type.ndim)() for d in model.data_vars}
    logp = pm.logp(rv, model.rvs_to_values[rv])
    free_rvs = list(model.free_RVs)
    n = len(params)
    cloned: list[Any] = clone_replace(
        [logp, model.rvs_to_values[rv], *params, rv, *free_rvs],
        replace=containers,
        rebuild_strict=False,
    )
    logp, observed, rv = cloned[0], cloned[1], cloned[2 + n]
    params, free = cloned[2 : 2 + n], cloned[3 + n :]
    node = rv.owner
    batched = {v: pt.tensor(name=v.name, shape=(None, *v.type.shape), dtype=v.dtype) for v in free}
    inputs: list[Any] = list(batched.values())
    try:
        logp_b, *rest = vectorize_graph(
            [logp, *params], replace=dict(zip(free, inputs, strict=True))
        )
        wanted = [logp_b, observed, *(rest if univariate else [])]
        batch = not _random(wanted)
    except (TypeError, ValueError, NotImplementedError):
        batch = False
    if not batch:  # a graph that does not vectorize (xtensor ops): one draw at a time
        inputs = [v.type() for v in free]
        swap = dict(zip(free, inputs, strict=True))
        # the likelihood rebuilt on the replaced inputs: its log density then refers to
        # them only (pm.logp of the original variable may keep random ancestors)
        rebuilt = node.clone_with_new_inputs(graph_replace(node.inputs, swap, strict=False))
        one = rebuilt.outputs[node.outputs.index(rv)]
        params_one = list(node.op.dist_params(rebuilt)) if sampled else []
        wanted = [pm.logp(one, observed), observed, *(params_one if univariate else [])]
        if _random(wanted):
            return None
    function = compile_function([*inputs, *containers.values()], wanted, on_unused_input="ignore")
    return Predictor(
        name=name,
        free=tuple(v.name for v in free_rvs),
        containers=tuple(d.name for d in containers),
        defaults={d.name: np.asarray(d.get_value()) for d in containers},
        function=function,
        sampler=core if univariate else None,
        batched=batch,
    )


def _random(outputs: list[Any]) -> bool:
    """Whether a graph still draws random numbers (a free variable was not replaced)."""
    return any(isinstance(v.type, RandomType) for v in ancestors(outputs))
