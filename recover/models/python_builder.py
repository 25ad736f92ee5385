"""Your own PyMC model: ``[model] kind = "python", builder = "module:function"``.

The contract
------------
The module is found next to the scenario file (``module.py`` in its folder; its content is
part of the cell's identity, so editing it refits) or on the import path. The builder is
called as ``function(data, **options)`` with ``options`` the ``[model.options]`` table and
``data`` a :class:`~mmm_workbench.recover.models.data.ModelData`: ``spend`` (date, channel),
``target``, ``controls`` (the ``[model] controls``), ``dates``, ``channels``, all in the
data's units, with the workbench's scaling at hand (``spend_scale``, ``target_scale``,
``control_scale``, ``data.scaled()``). It returns a ``pm.Model``, or ``(model, response)``.

The model

- takes every input that varies between replicates through ``pm.Data`` containers (the
  model is compiled once per cell and each replicate's data is put in with
  ``pm.set_data``; the builder is called again on that replicate to compute the
  containers' values, so it must name them the same on every call);
- has ``pm.Deterministic("channel_contribution", ..., dims=("date", "channel"))`` in the
  data's units, with the ``channel`` coordinate in the data's channel order;
- may name ``mu`` (the expected target, data units: gives ``baseline``), ``sigma`` (the
  noise scale, data units) and transform variables as the truth names them
  (``adstock_alpha``, ``saturation_lam``, ``saturation_beta``, ...; free or
  deterministic, per channel or shared). Transform parameters are scored where
  ``[model.adstock]``/``[model.saturation]`` declare the families the builder uses:
  saturation parameters act on ``spend / data.spend_scale`` and ``saturation_beta`` is in
  the target's units (the contribution is ``saturation_beta * saturation(...)``).

Everything derivable is derived by the workbench: contribution totals and shares from
``channel_contribution``; ROAS as the contribution per unit of spend over the training
window. ``response(data, spend, draws)`` adds the causal estimands: given the replicate's
model data (for its scales), spend ``(T, C)`` in the data's units (any number of periods)
and the draws by name (sample axis first: free variables and the named deterministics),
it returns the contributions ``(S, T, C)`` in the data's units. With it, ROAS, mROAS and
the response curves follow the truth's causal scope (the training spend scaled, its
carry-over into the holdout and past the data's end counted), as for the built-in models.

Breaches are refused before any fitting (:func:`check_python_model`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr
from numpy.typing import NDArray
from pytensor.compile.maker import function as compile_function
from pytensor.graph.replace import graph_replace

from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.media import MROAS_STEP
from mmm_workbench.scenarios.families import SATURATIONS
from mmm_workbench.scenarios.spec import ModelSpec, declared

__all__ = [
    "CONTRIBUTION",
    "PythonModel",
    "ResponseFn",
    "build_python_model",
    "call_builder",
    "check_python_model",
    "load_builder",
]

Array = NDArray[np.float64]
ResponseFn = Callable[[ModelData, Array, Mapping[str, Array]], Array]
"""``response(data, spend (T, C), draws) -> contributions (S, T, C)``, data units."""

CONTRIBUTION = "channel_contribution"
_DIMS = ("date", "channel")
_NAMED = ("mu", "sigma")
_ROLES = ("adstock_", "saturation_")


def _where(spec: ModelSpec) -> str:
    return f"model.builder = {spec.builder!r}"


def _module(spec: ModelSpec) -> ModuleType:
    """Import the builder's module: from its file next to the scenario, else by name."""
    assert spec.builder is not None
    name = spec.builder.partition(":")[0]
    if spec.builder_file is None:
        return importlib.import_module(name)
    # one module per content: an edited file is a new module, never a stale one
    unique = f"_mmm_workbench_builder_{spec.builder_file.sha256[:16]}"
    if unique in sys.modules:
        return sys.modules[unique]
    found = importlib.util.spec_from_file_location(unique, spec.builder_file.resolved)
    if found is None or found.loader is None:
        raise ImportError(f"cannot load {spec.builder_file.resolved}")
    module = importlib.util.module_from_spec(found)
    sys.modules[unique] = module
    try:
        found.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique]
        raise
    return module


def load_builder(spec: ModelSpec) -> Callable[..., Any]:
    """Return the builder function ``spec.builder`` names.

    Raises
    ------
    ValueError
        No builder, a module that cannot be imported (with the import's error), no such
        attribute, or an attribute that is not callable.
    """
    if spec.builder is None:
        raise ValueError(
            "model.builder: missing; model.kind = 'python' needs builder = 'module:function'"
        )
    module_name, _, function = spec.builder.partition(":")
    try:
        module = _module(spec)
    except Exception as err:
        where = spec.builder_file.resolved if spec.builder_file else "the import path"
        raise ValueError(
            f"{_where(spec)}: cannot import {module_name!r} (from {where}): "
            f"{type(err).__name__}: {err}"
        ) from None
    if not hasattr(module, function):
        raise ValueError(f"{_where(spec)}: module {module_name!r} has no {function!r}")
    builder = getattr(module, function)
    if not callable(builder):
        raise ValueError(
            f"{_where(spec)}: {function!r} is a {type(builder).__name__}, not a function"
        )
    return builder  # type: ignore[no-any-return]


def call_builder(spec: ModelSpec, data: ModelData) -> tuple[pm.Model, ResponseFn | None]:
    """Call the builder on ``data`` with ``[model.options]`` and check what it returns.

    Raises
    ------
    ValueError
        The builder raised, or returned something other than a ``pm.Model`` or
        ``(pm.Model, response function)``.
    """
    builder = load_builder(spec)
    try:
        result = builder(data, **dict(spec.options))
    except Exception as err:
        raise ValueError(
            f"{_where(spec)}: the builder raised {type(err).__name__}: {err}"
        ) from None
    response: Any = None
    if isinstance(result, tuple) and len(result) == 2:
        result, response = result
    if not isinstance(result, pm.Model):
        raise ValueError(
            f"{_where(spec)}: returned {type(result).__name__}; it must return a pm.Model "
            "or (pm.Model, response function)"
        )
    if response is not None and not callable(response):
        raise ValueError(
            f"{_where(spec)}: the response function is a {type(response).__name__}, not callable"
        )
    return result, response


def _containers(model: pm.Model) -> dict[str, Array]:
    return {v.name: np.asarray(v.get_value()) for v in model.data_vars}


def _check_structure(spec: ModelSpec, model: pm.Model, data: ModelData) -> None:
    """``channel_contribution`` a deterministic of dims (date, channel); data containers."""
    where = _where(spec)
    if CONTRIBUTION not in model.named_vars or model[CONTRIBUTION] not in model.deterministics:
        raise ValueError(
            f"{where}: the model has no deterministic {CONTRIBUTION!r}; add "
            f"pm.Deterministic({CONTRIBUTION!r}, ..., dims=('date', 'channel')) in data units"
        )
    dims = tuple(model.named_vars_to_dims.get(CONTRIBUTION) or ())
    if dims != _DIMS:
        raise ValueError(f"{where}: {CONTRIBUTION!r} has dims {dims}; it must have {_DIMS}")
    channels = tuple(str(c) for c in model.coords.get("channel") or ())
    if channels != data.channels:
        raise ValueError(
            f"{where}: the model's channel coordinate is {list(channels)}; it must be the "
            f"data's channels in order, {list(data.channels)}"
        )
    shape = tuple(pm.draw(model[CONTRIBUTION].shape))
    if shape != data.spend.shape:
        raise ValueError(
            f"{where}: {CONTRIBUTION!r} has shape {shape}; the data's (date, channel) is "
            f"{data.spend.shape}"
        )
    if not model.data_vars:
        raise ValueError(
            f"{where}: the model has no data containers; pass spend, target and controls "
            "through pm.Data so each replicate's data can be swapped in"
        )
    if not model.observed_RVs:
        raise ValueError(f"{where}: the model observes nothing (no observed= variable)")


def _evaluate(model: pm.Model, point: Mapping[str, Array]) -> list[Array]:
    outs = model.replace_rvs_by_values([model[CONTRIBUTION], model.logp()])
    values = model.compile_fn(outs, point_fn=True)(point)
    return [np.asarray(v) for v in values]


def check_python_model(spec: ModelSpec, first: ModelData, second: ModelData) -> None:
    """Check the builder's contract on two replicates, before any fitting.

    Importable and callable; returns a model (and optionally a response function) with a
    deterministic ``channel_contribution[date, channel]`` and data containers; and a model
    built on ``first`` with ``second``'s container values set equals one built on
    ``second`` (contribution and log density at the same point): every input that varies
    is a data container.

    Raises
    ------
    ValueError
        Naming ``model.builder`` and the breach.
    """
    if spec.priors:
        raise ValueError(
            "model.priors: model.kind = 'python' takes its priors from the builder's model"
        )
    if spec.lift_tests:
        raise ValueError("model.lift_tests = true: model.kind = 'python' has no lift tests")
    model, _ = call_builder(spec, first)
    _check_structure(spec, model, first)
    other, _ = call_builder(spec, second)
    _check_structure(spec, other, second)
    before, after = _containers(model), _containers(other)
    if set(before) != set(after) or any(before[k].shape != after[k].shape for k in before):
        raise ValueError(
            f"{_where(spec)}: the data containers differ between replicates "
            f"({sorted(before)} against {sorted(after)}); their names and shapes must "
            "depend on the cell only"
        )
    point = model.initial_point(0)
    pm.set_data(after, model=model)
    try:
        swapped = _evaluate(model, point)
    finally:
        pm.set_data(before, model=model)
    fresh = _evaluate(other, point)
    for name, a, b in zip((CONTRIBUTION, "log density"), swapped, fresh, strict=True):
        if not np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True):
            raise ValueError(
                f"{_where(spec)}: inputs that are not data containers: with the second "
                f"replicate's data set (pm.set_data), the model's {name} differs from a "
                "model built on that data; pass every input that varies (spend, target, "
                "controls) through pm.Data"
            )


@dataclass(frozen=True, kw_only=True)
class PythonModel:
    """A cell's model from a user's builder, with what its estimands need.

    Attributes
    ----------
    spec
        The ``[model]`` table.
    model
        The builder's ``pm.Model`` on the cell's first replicate.
    response
        The builder's response function, or ``None``.
    extra_draws
        Deterministics kept from the sampler besides ``channel_contribution`` and ``mu``
        (``sigma`` and named transform variables).
    prior_names
        The free random variables (drawn from the prior for contraction).
    complete
        Compiled once: ``(free variables' values...) -> (channel_contribution,
        *extra_draws)`` on the current data containers, for draws that lack them.
    """

    spec: ModelSpec
    model: pm.Model
    response: ResponseFn | None
    extra_draws: tuple[str, ...]
    prior_names: tuple[str, ...]
    complete: Any

    def set_data(self, data: ModelData) -> dict[str, Array]:
        """Return one replicate's container values: the builder's, called on its data."""
        model, _ = call_builder(self.spec, data)
        return _containers(model)

    def _complete(self, data: ModelData, draws: Mapping[str, Array]) -> dict[str, Array]:
        """Add ``channel_contribution`` and the named deterministics where draws lack them."""
        out = dict(draws)
        wanted = (CONTRIBUTION, *self.extra_draws)
        if all(name in out for name in wanted):
            return out
        pm.set_data(self.set_data(data), model=self.model)
        inputs = [np.asarray(out[name]) for name in self.prior_names]
        count = len(inputs[0]) if inputs else 0
        per_draw = [self.complete(*(x[i] for x in inputs)) for i in range(count)]
        for j, name in enumerate(wanted):
            if name not in out:
                out[name] = np.stack([np.asarray(values[j]) for values in per_draw])
        return out

    def estimands(
        self, data: ModelData, draws: Mapping[str, Array], x_scale: Array, multipliers: Array
    ) -> xr.Dataset:
        """Every estimand the draws allow, in the data's units, over ``sample``.

        Parameters
        ----------
        data, x_scale, multipliers
            As :meth:`mmm_workbench.recover.models.media.MediaModel.estimands`.
        draws
            The model's variables by name, sample axis first; ``channel_contribution``
            (data units) is computed from the free variables where it is missing.
        """
        values = self._complete(data, draws)
        contrib = np.asarray(values[CONTRIBUTION], dtype=float)  # (S, T, C), data units
        total = contrib.sum(axis=1)
        spend_total = data.spend.sum(axis=0)
        sample, chan = ("sample",), ("sample", "channel")
        out: dict[str, Any] = {
            CONTRIBUTION: (("sample", "date", "channel"), contrib),
            "contribution_total": (chan, total),
            "contribution_share": (chan, total / data.target.sum()),
        }
        if self.response is None:
            out["roas"] = (chan, total / spend_total)
        else:
            out |= _causal(self, data, values, multipliers)
        if "mu" in values:
            out["baseline"] = (("sample", "date"), np.asarray(values["mu"]) - contrib.sum(-1))
        if "sigma" in values:
            out["sigma"] = (sample, np.asarray(values["sigma"], dtype=float).reshape(-1))
        out |= _parameters(self.spec, data, values, x_scale, total.shape)
        return xr.Dataset(
            out,
            coords={"date": data.dates, "channel": list(data.channels), "multiplier": multipliers},
        )


def _causal(
    model: PythonModel, data: ModelData, draws: Mapping[str, Array], multipliers: Array
) -> dict[str, Any]:
    """ROAS, mROAS and response curves through the response function (the truth's scope).

    The training window's spend scaled by ``m``, the holdout's as it was, and zero spend
    past the data's end for the declared adstock's ``l_max - 1`` periods (the training
    length where none is declared), the effect summed over all of them.
    """
    respond = model.response
    assert respond is not None
    window, n_ch = data.spend.shape
    after = data.after if data.after.size else np.zeros((0, n_ch))
    tail_rows = model.spec.adstock.l_max - 1 if declared(model.spec.adstock) else window
    extended = np.concatenate([data.spend, after, np.zeros((tail_rows, n_ch))])
    spend_total = data.spend.sum(axis=0)
    samples = len(np.asarray(draws[CONTRIBUTION]))

    def summed(scale: float) -> Array:
        x = extended.copy()
        x[:window] *= scale
        result = np.asarray(respond(data, x, draws), dtype=float)
        if result.shape != (samples, len(x), n_ch):
            raise ValueError(
                f"{_where(model.spec)}: the response function returned shape {result.shape}; "
                f"expected (sample, date, channel) = {(samples, len(x), n_ch)}"
            )
        total: Array = result.sum(axis=1)
        return total

    without = summed(0.0)
    factual = summed(1.0) - without
    plus = summed(1.0 + MROAS_STEP) - without
    response = np.stack([summed(float(m)) - without for m in multipliers], axis=-1)
    chan = ("sample", "channel")
    return {
        "roas": (chan, factual / spend_total),
        "mroas": (chan, (plus - factual) / (MROAS_STEP * spend_total)),
        "response": (("sample", "channel", "multiplier"), response),
    }


def _parameters(
    spec: ModelSpec,
    data: ModelData,
    draws: Mapping[str, Array],
    x_scale: Array,
    shape: tuple[int, ...],
) -> dict[str, Any]:
    """Named transform variables, per channel; saturation ones in the truth's spend unit.

    Saturation parameters (acting on ``spend / spend_scale``) are converted by the declared
    family's rule, as the built-in models' are; undeclared, they are kept as they are (their
    truth is then not comparable).
    """
    chan = ("sample", "channel")
    out: dict[str, Any] = {}
    named = {
        k: np.broadcast_to(np.asarray(v, dtype=float).reshape(shape[0], -1), shape)
        for k, v in draws.items()
        if k.startswith(_ROLES) and np.asarray(v).size in (shape[0], shape[0] * shape[1])
    }
    sat = {k.removeprefix("saturation_"): v for k, v in named.items() if k != "saturation_beta"}
    sat = {k: v for k, v in sat.items() if f"saturation_{k}" in named}
    factor: Any = 1.0
    family = SATURATIONS.get(spec.saturation.kind) if declared(spec.saturation) else None
    if family is not None and family.rescale is not None and set(family.param_names) <= set(sat):
        converted, factor = family.rescale(
            {p: sat[p] for p in family.param_names}, data.spend_scale / x_scale
        )
        for p, value in converted.items():
            named[f"saturation_{p}"] = np.broadcast_to(value, shape)
    for name, value in named.items():
        if name == "saturation_beta":
            value = value * factor
        out[name] = (chan, np.array(value))
    return out


def _named_deterministics(model: pm.Model) -> tuple[str, ...]:
    return tuple(
        v.name
        for v in model.deterministics
        if v.name != CONTRIBUTION and (v.name in _NAMED or v.name.startswith(_ROLES))
    )


def build_python_model(spec: ModelSpec, data: ModelData) -> PythonModel:
    """Build the user's model on the cell's first replicate and compile its completions.

    Raises
    ------
    ValueError
        As :func:`check_python_model`'s structural checks.
    """
    model, response = call_builder(spec, data)
    _check_structure(spec, model, data)
    extra = _named_deterministics(model)
    free = tuple(v.name for v in model.free_RVs)
    inputs = [rv.type() for rv in model.free_RVs]
    outs = graph_replace(
        [model[n] for n in (CONTRIBUTION, *extra)],
        dict(zip(model.free_RVs, inputs, strict=True)),
        strict=False,
    )
    complete = compile_function(inputs, outs, on_unused_input="ignore")
    return PythonModel(
        spec=spec,
        model=model,
        response=response,
        extra_draws=extra,
        prior_names=free,
        complete=complete,
    )
