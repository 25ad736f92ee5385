"""Model kinds behind one registered interface (``[model] kind = "..."``).

A :class:`ModelKind` validates the ``[model]`` table before any fitting and builds a
:class:`CellModel` once per cell from the first replicate's data. The cell model fits any
replicate (swapping its data into the compiled model and sampling through the ``[fit]``
backend, or fitting directly, as least squares does) and turns draws into estimands in the
data's units (:meth:`mmm_workbench.recover.models.media.MediaModel.estimands`'s contract:
over ``sample``, the truth's names and coordinates). Bayesian cell models also draw from
their prior, for posterior contraction.

Built-in kinds: ``workbench``, ``pymc-marketing``, ``ols``, ``nnls``, ``python`` (a
user's own PyMC model, :mod:`mmm_workbench.recover.models.python_builder`) and ``meridian``
(Google's Meridian in its own interpreter, :mod:`mmm_workbench.recover.models.meridian`).
More are added with :func:`register_model_kind`, or by an installed package through the
entry-point group ``mmm_workbench.model_kinds`` (``name = "module:attribute"``, the attribute a kind
instance or a class that takes no arguments), loaded the first time an unknown kind is
looked up.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pymc as pm
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.recover.inference import Backend, Posterior, get_backend
from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.linear import (
    LINEAR_KINDS,
    LinearModel,
    build_linear,
    check_linear,
)
from mmm_workbench.recover.models.priors import validate_priors
from mmm_workbench.recover.models.pymc_marketing import build_pymc_marketing, check_pymc_marketing
from mmm_workbench.recover.models.workbench import build_workbench
from mmm_workbench.recover.predictive import Predictive, Predictor, compile_predictor
from mmm_workbench.scenarios.spec import FitSpec, ModelSpec, declared

__all__ = [
    "MODEL_KIND_ENTRY_POINTS",
    "CellModel",
    "Context",
    "ModelKind",
    "PredictingModel",
    "SampledCell",
    "get_model_kind",
    "model_kinds",
    "register_model_kind",
    "require_transforms",
]

Array = NDArray[np.float64]

MODEL_KIND_ENTRY_POINTS = "mmm_workbench.model_kinds"
"""The entry-point group an installed package adds model kinds by."""


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a kind may look at while it validates a ``[model]`` table.

    Attributes
    ----------
    channels
        The data's channel names, in order.
    replicate
        Returns replicate ``i``'s :class:`ModelData` (generated on demand: a kind that
        checks a built model against data calls it; the others cost nothing).
    """

    channels: tuple[str, ...]
    replicate: Callable[[int], ModelData]


@runtime_checkable
class CellModel(Protocol):
    """A cell's model, built once, fitted to any of its replicates."""

    @property
    def method(self) -> str:
        """The fitting method recorded as the record's ``backend`` (``nutpie``, ``ols``)."""

    def posterior(self, data: ModelData, seed: int) -> Posterior:
        """Fit one replicate's data: draws ``(chain, draw, ...)``, diagnostics, timings."""

    def prior(self, count: int, seed: int) -> Mapping[str, Array] | None:
        """Return ``count`` draws from the prior (sample axis first), or ``None`` (no prior)."""

    def estimands(
        self, data: ModelData, draws: Mapping[str, Array], x_scale: Array, multipliers: Array
    ) -> xr.Dataset:
        """Return every estimand, in the data's units, over ``sample`` (as ``MediaModel``)."""


@runtime_checkable
class PredictingModel(Protocol):
    """A :class:`CellModel` that also predicts its training target (optional).

    A cell model with this method gets ``observed_data``, ``posterior_predictive`` and
    ``log_likelihood`` groups in its records; one without it (or returning None) does not.
    """

    def predictive(
        self,
        data: ModelData,
        draws: Mapping[str, Array],
        seed: int,
        series: ModelData | None = None,
    ) -> Predictive | None:
        """Return the target, its posterior predictive draws and pointwise log density.

        ``draws`` are the kept posterior draws (sample axis first); data units. ``series``:
        the whole series (training rows and holdout, with the training rows' scales), where
        the data have a holdout to predict.
        """


@runtime_checkable
class ModelKind(Protocol):
    """One kind of model (``[model] kind = name``)."""

    @property
    def name(self) -> str:
        """The kind's name, as ``[model] kind`` gives it."""

    def validate(self, model: ModelSpec, fit: FitSpec, context: Context) -> None:
        """Check the ``[model]`` (and ``[fit]``) tables before any fitting.

        Raises ``ValueError`` naming the field and its value.
        """

    def build(self, model: ModelSpec, fit: FitSpec, data: ModelData) -> CellModel:
        """Build and compile the cell's model from its first replicate's data."""


def require_transforms(model: ModelSpec) -> None:
    """Refuse a ``[model]`` table without ``[model.adstock]`` and ``[model.saturation]``.

    Raises
    ------
    ValueError
        Naming the missing table and the kind that needs it.
    """
    for role in ("adstock", "saturation"):
        if not declared(getattr(model, role)):
            raise ValueError(
                f"model.{role}: missing; model.kind = {model.kind!r} is built from "
                f"[model.adstock] and [model.saturation] (only kind = 'python' may leave them out)"
            )


def _refuse_python_keys(model: ModelSpec) -> None:
    for key in ("builder", "options"):
        if getattr(model, key):
            raise ValueError(
                f"model.{key}: only model.kind = 'python' takes it, not {model.kind!r}"
            )


class _Fitted(Protocol):
    """A built PyMC model as :class:`SampledCell` uses it (``WorkbenchModel`` and others)."""

    @property
    def model(self) -> pm.Model:
        """The built PyMC model."""

    def set_data(self, data: ModelData) -> dict[str, Array]:
        """Return one replicate's values of the data containers."""

    def estimands(
        self, data: ModelData, draws: Mapping[str, Array], x_scale: Array, multipliers: Array
    ) -> xr.Dataset:
        """Return the estimands in the data's units."""


@dataclass(kw_only=True)
class SampledCell:
    """A PyMC model sampled through a backend: compiled once, each replicate's data swapped in.

    Attributes
    ----------
    fitted
        The built model: its ``pm.Model``, data containers (``set_data``) and estimands.
    backend, fit
        The ``[fit]`` backend and settings.
    prior_names
        The variables drawn from the prior (those the model has).
    """

    fitted: _Fitted
    backend: Backend
    fit: FitSpec
    prior_names: tuple[str, ...]
    prepared: object = field(init=False)
    predictor: Predictor | None = field(init=False, default=None)
    _compiled: bool = field(init=False, default=False)
    _values: tuple[ModelData, dict[str, Array]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.prepared = self.backend.prepare(self.fitted, self.fit)

    def _data(self, data: ModelData) -> dict[str, Array]:
        """Return the replicate's container values (kept for the replicate's other calls)."""
        if self._values is None or self._values[0] is not data:
            self._values = (data, self.fitted.set_data(data))
        return self._values[1]

    @property
    def method(self) -> str:
        """The backend's name."""
        return self.fit.backend

    def posterior(self, data: ModelData, seed: int) -> Posterior:
        """Swap the replicate's data in and sample through the backend."""
        values = self._data(data)
        return self.backend.run(self.prepared, self.fitted, values, self.fit, seed)

    def predictive(
        self,
        data: ModelData,
        draws: Mapping[str, Array],
        seed: int,
        series: ModelData | None = None,
    ) -> Predictive | None:
        """Predict the target through the model's likelihood (compiled on the cell's first call).

        None where the model has no likelihood of the target (up to a scale); no holdout
        where the model cannot be evaluated on the whole ``series``: see
        :mod:`mmm_workbench.recover.predictive`.
        """
        values = self._data(data)
        if not self._compiled:
            self.predictor = compile_predictor(self.fitted.model, values, data.target)
            self._compiled = True
        if self.predictor is None:
            return None
        out = self.predictor.predict(draws, values, data.target, seed)
        rows = len(data.target)
        if out is None or series is None or len(series.target) <= rows:
            return out
        full = self.predictor.predict_series(
            draws, values, self.fitted.set_data(series), series.target, seed + 1
        )
        if full is None or full.predictive is None:
            return out
        return replace(
            out, holdout=full.predictive[:, rows:], holdout_observed=series.target[rows:]
        )

    def prior(self, count: int, seed: int) -> Mapping[str, Array] | None:
        """Draw the free parameters from their priors (data-independent: once per cell)."""
        model = self.fitted.model
        names = [n for n in self.prior_names if n in model.named_vars]
        values = pm.draw([model[n] for n in names], draws=count, random_seed=seed)
        return {n: np.asarray(v) for n, v in zip(names, values, strict=True)}

    def estimands(
        self, data: ModelData, draws: Mapping[str, Array], x_scale: Array, multipliers: Array
    ) -> xr.Dataset:
        """Return the fitted model's estimands."""
        return self.fitted.estimands(data, draws, x_scale, multipliers)


def _check_backend(model: ModelSpec, fit: FitSpec, channels: int | None) -> None:
    """Check the backend and its options, and the priors of the declared transforms."""
    get_backend(fit.backend).check_fit(fit)
    if declared(model.adstock) and declared(model.saturation):  # else priors come from a config
        validate_priors(model, channels)


class WorkbenchKind:
    """The workbench's own Bayesian MMM (:mod:`mmm_workbench.recover.models.workbench`)."""

    name = "workbench"

    def validate(self, model: ModelSpec, fit: FitSpec, context: Context) -> None:
        """Require the transforms, a known backend and options, priors valid per channel."""
        require_transforms(model)
        _refuse_python_keys(model)
        _check_backend(model, fit, len(context.channels))

    def build(self, model: ModelSpec, fit: FitSpec, data: ModelData) -> CellModel:
        """Build the PyMC model and compile it with the backend."""
        built = build_workbench(model, data, fit.backend)
        return SampledCell(
            fitted=built,
            backend=get_backend(fit.backend),
            fit=fit,
            prior_names=(*built.free, "sigma"),
        )


class PymcMarketingKind:
    """pymc-marketing's MMM (:mod:`mmm_workbench.recover.models.pymc_marketing`)."""

    name = "pymc-marketing"

    def validate(self, model: ModelSpec, fit: FitSpec, context: Context) -> None:
        """Run the adapter's own checks; require a known backend and options, valid priors."""
        if model.config is None:
            require_transforms(model)
        _refuse_python_keys(model)
        check_pymc_marketing(model, context.channels)
        _check_backend(model, fit, None)

    def build(self, model: ModelSpec, fit: FitSpec, data: ModelData) -> CellModel:
        """Build pymc-marketing's MMM and compile it with the backend."""
        built = build_pymc_marketing(model, data)
        return SampledCell(
            fitted=built,
            backend=get_backend(fit.backend),
            fit=fit,
            prior_names=(*built.free, built.sigma_name),
        )


@dataclass(frozen=True, kw_only=True)
class LinearCell:
    """Least squares fitted directly, with normal-approximation draws (no backend, no prior)."""

    fitted: LinearModel
    fit: FitSpec

    @property
    def method(self) -> str:
        """``ols`` or ``nnls``."""
        return self.fitted.kind

    def posterior(self, data: ModelData, seed: int) -> Posterior:
        """Solve and draw ``fit.draws`` normal-approximation draws."""
        t0 = time.perf_counter()
        draws, diagnostics = self.fitted.fit(data, self.fit.draws, seed)
        return Posterior(
            draws=draws,
            diagnostics=diagnostics,
            timings={"tune_s": 0.0, "draw_s": time.perf_counter() - t0},
        )

    def prior(self, count: int, seed: int) -> Mapping[str, Array] | None:
        """No prior: least squares has none."""
        return None

    def predictive(
        self,
        data: ModelData,
        draws: Mapping[str, Array],
        seed: int,
        series: ModelData | None = None,
    ) -> Predictive | None:
        """Not available: the normal-approximation draws are of the coefficients only."""
        return None

    def estimands(
        self, data: ModelData, draws: Mapping[str, Array], x_scale: Array, multipliers: Array
    ) -> xr.Dataset:
        """Return the media model's estimands."""
        return self.fitted.estimands(data, draws, x_scale, multipliers)


@dataclass(frozen=True)
class LinearKind:
    """Ordinary or non-negative least squares (:mod:`mmm_workbench.recover.models.linear`)."""

    name: str

    def validate(self, model: ModelSpec, fit: FitSpec, context: Context) -> None:
        """Every transform parameter fixed, a normal likelihood, no lift tests."""
        require_transforms(model)
        _refuse_python_keys(model)
        check_linear(model)

    def build(self, model: ModelSpec, fit: FitSpec, data: ModelData) -> CellModel:
        """Build the design's media function (nothing to compile)."""
        return LinearCell(fitted=build_linear(model, data), fit=fit)


class PythonKind:
    """A user's own PyMC model, ``builder = "module:function"`` (see ``python_builder``)."""

    name = "python"

    def validate(self, model: ModelSpec, fit: FitSpec, context: Context) -> None:
        """Import the builder, build on two replicates and check the contract."""
        from mmm_workbench.recover.models.python_builder import check_python_model

        get_backend(fit.backend).check_fit(fit)
        check_python_model(model, context.replicate(0), context.replicate(1))

    def build(self, model: ModelSpec, fit: FitSpec, data: ModelData) -> CellModel:
        """Build the user's model and compile it with the backend."""
        from mmm_workbench.recover.models.python_builder import build_python_model

        built = build_python_model(model, data)
        return SampledCell(
            fitted=built, backend=get_backend(fit.backend), fit=fit, prior_names=built.prior_names
        )


class MeridianKind:
    """Google's Meridian, fitted in its own interpreter (:mod:`.meridian`)."""

    name = "meridian"

    def validate(self, model: ModelSpec, fit: FitSpec, context: Context) -> None:
        """Check the tables, and that the configured interpreter has Meridian."""
        from mmm_workbench.recover.models.meridian import (
            check_interpreter,
            check_meridian,
            meridian_python,
        )

        check_meridian(model, fit)
        check_interpreter(meridian_python(model))

    def build(self, model: ModelSpec, fit: FitSpec, data: ModelData) -> CellModel:
        """Build the cell model (nothing is compiled in Meridian's interpreter until a fit)."""
        from mmm_workbench.recover.models.meridian import build_meridian

        return build_meridian(model, fit, data)


_KINDS: dict[str, ModelKind] = {}


def register_model_kind(kind: ModelKind) -> ModelKind:
    """Register a model kind under its ``name``.

    Raises
    ------
    ValueError
        If it lacks ``name``, ``validate`` or ``build``, or the name is taken by another kind.
    """
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind!r}: a model kind needs a name (a non-empty string)")
    if not isinstance(kind, ModelKind):
        raise ValueError(f"model kind {name!r}: needs validate(model, fit, context) and build(...)")
    known = _KINDS.get(name)
    if known is not None and known is not kind and type(known) is not type(kind):
        raise ValueError(f"model kind {name!r} is registered already ({type(known).__name__})")
    _KINDS[name] = kind
    return kind


_BUILT_IN: tuple[ModelKind, ...] = (
    WorkbenchKind(),
    PymcMarketingKind(),
    *(LinearKind(k) for k in LINEAR_KINDS),
    PythonKind(),
    MeridianKind(),
)
for _kind in _BUILT_IN:
    register_model_kind(_kind)


@functools.cache
def _entry_points() -> dict[str, metadata.EntryPoint]:
    """Return the installed packages' model kinds by name (read once; ``cache_clear`` rereads)."""
    return {ep.name: ep for ep in metadata.entry_points(group=MODEL_KIND_ENTRY_POINTS)}


def model_kinds() -> tuple[str, ...]:
    """Return the names of every model kind: registered, and installed through entry points."""
    return tuple(dict.fromkeys([*_KINDS, *_entry_points()]))


def _load(name: str) -> ModelKind | None:
    entry = _entry_points().get(name)
    if entry is None:
        return None
    try:
        loaded: Any = entry.load()
        kind = loaded() if isinstance(loaded, type) else loaded
        if getattr(kind, "name", None) != name:
            raise ValueError(f"its name is {getattr(kind, 'name', None)!r}, not {name!r}")
        return register_model_kind(kind)
    except Exception as err:  # a plugin's failure, named with its entry point
        raise ValueError(
            f"model.kind = {name!r}: its entry point {entry.value!r} "
            f"({MODEL_KIND_ENTRY_POINTS}) cannot be loaded: {type(err).__name__}: {err}"
        ) from None


def get_model_kind(name: str) -> ModelKind:
    """Return the model kind ``name``: registered, or loaded from its entry point.

    Raises
    ------
    ValueError
        ``model.kind = 'name': unknown model kind; known: ...``, saying how to add one.
    """
    kind = _KINDS.get(name) or _load(name)
    if kind is None:
        raise ValueError(
            f"model.kind = {name!r}: unknown model kind; known: {', '.join(model_kinds())} "
            f"(a package adds one through the entry-point group {MODEL_KIND_ENTRY_POINTS!r}, "
            "code through register_model_kind, or use kind = 'python' with a builder)"
        )
    return kind
