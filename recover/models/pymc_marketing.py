"""pymc-marketing's MMM as a workbench model (``[model] kind = "pymc-marketing"``).

The cell's model is pymc-marketing's own ``pymc_marketing.mmm.MMM``, built by its
``build_model(X, y)`` from the first replicate's training rows (:func:`training_frame`,
the layout of :func:`mmm_workbench.simulate.observed_frame`), so every choice pymc-marketing makes
is kept: its priors, its max scaling of target and channels, its unscaled controls, its
yearly Fourier seasonality. The ``[model]`` table selects:

- ``adstock``, ``saturation``: the pymc-marketing classes of the same family
  (``Family.pymc_marketing`` in :mod:`mmm_workbench.simulate.transforms`), with ``l_max`` and
  ``normalize``; a parameter given in the scenario is fixed (passed as a number, or as a
  ``channel``-dim array where the scenario gives one value per channel);
- ``order`` -> ``adstock_first``; ``controls`` -> ``control_columns``;
  ``seasonality_order`` -> ``yearly_seasonality`` (day-of-year Fourier modes);
- ``pooling = "shared"``: transform priors with ``dims = ()``;
- ``priors``: a scenario prior for a name pymc-marketing also has becomes a
  ``pymc_extras`` ``Prior`` (``saturation_beta`` with dims ``("channel",)``, ``sigma`` the
  likelihood's, ``gamma_control``, ``gamma_fourier``, ``intercept``); every other prior is
  pymc-marketing's default (``nu`` of a Student-t likelihood, which pymc-marketing has no
  default for, is the workbench's).

- ``lift_tests = true``: the dataset's lift tests through pymc-marketing's lift-test
  calibration (``MMM.add_lift_test_measurements``), rebuilt on data containers
  (:func:`add_lift_tests`; the Notes say why).

Or the model is the user's own pymc-marketing YAML (``[model] config = "mmm.yml"``,
:func:`build_from_config`): pymc-marketing's ``build_mmm_from_yaml`` builds it on the
training rows, so its classes, priors, seasonality and likelihood are exactly the
config's. The config's ``channel_columns`` must be the scenario's channels in their order
and its ``control_columns`` the table's ``controls`` (the data containers are filled in
that order); its ``date_column`` and ``target_column`` name the frame's columns, whatever
they are. :func:`config_spec` reads back what the workbench needs (families, ``l_max``,
``normalize``, fixed parameters, order, pooling, likelihood) and the model is then swapped
and converted exactly as below. Refused before any fitting (:func:`check_config`), each
with ``model.config = '<path>':`` and pymc-marketing's own message where it rejects the
file: what pymc-marketing rejects; MMM arguments beyond :data:`CONFIG_KWARGS` (another
``scaling``, time-varying terms, a log link: each changes what the swapped containers and
scales mean; ``dims: ["geo"]`` only with ``[model.geo]``, the geo model); sections beyond
``model`` and ``original_scale_vars``; transforms the workbench has no twin of or with
another ``prefix``; a mix of per-channel and shared priors; a ``[model]`` table that
contradicts the config (it may repeat the config's transforms; priors, order, seasonality
and likelihood are the config's).

With ``[model.geo]`` (or a config's ``dims: ["geo"]``) the model is pymc-marketing's MMM
with ``dims = ("geo",)`` on the panel: :mod:`mmm_workbench.recover.models.pymc_marketing_geo`.

Refused before any fitting (:func:`check_pymc_marketing`): ``trend = true``,
``intercept = false``, a ``saturation_beta`` prior for a
family without ``beta`` in pymc-marketing (``tanh``, ``michaelis_menten``), a seasonality
period that is not a year, and a missing pymc-marketing.

Data swapping and scales (Notes). The model is compiled once per cell. pymc-marketing
stores the raw data and the scales in ``pm.Data`` containers: ``channel_data``,
``target_data``, ``control_data`` and ``channel_scale`` (per channel), ``target_scale``
(scalar), and divides inside the graph (``channel_data / channel_scale``). The scales
are computed once, by ``build_model``, from the data it was built with, and
pymc-marketing's own ``pm.set_data`` path leaves them alone (it is meant for predicting
new periods with the fitted scales). Swapping only the data would therefore fit the next
replicate with the first replicate's scales: a different model (its priors, stated in
scaled units, would mean something else). So :meth:`PymcMarketingModel.set_data` sets the
scales too, recomputed by pymc-marketing's rule (:func:`pymc_marketing_scales`: the max
over the training rows), which makes every replicate's model identical to one built
afresh on its data; the build checks that the rule reproduces the scales pymc-marketing
computed itself.

Lift tests. ``MMM.add_lift_test_measurements(df)`` scales the tests by the model's scales
and puts the scaled ``x``, ``delta_x``, ``delta_y`` and ``sigma`` into the graph as
constants: every replicate would need a new model and a new compilation. :func:`add_lift_tests`
builds the same term, pymc-marketing's ``add_saturation_observations`` line for line (the
saturation object's ``function`` at ``x + delta_x`` minus at ``x``, each test's channel's
parameters, a ``Normal(lift, sigma)`` likelihood named ``lift_measurements``), with the four
columns in data containers (``lift_x``, ...) that :meth:`PymcMarketingModel.set_data` fills
per replicate with pymc-marketing's scaling of them (spend columns by the channel's scale,
lift columns by the target's). A test holds the model's log density equal to that of
pymc-marketing's own ``add_lift_test_measurements`` on the same data.

Estimands: pymc-marketing's parameters are the workbench's (same names, same family
math), its ``channel_contribution`` and ``mu`` are in units of ``target_scale``, and its
transforms see ``spend / channel_scale``: the workbench's convention with pymc-marketing's
scales. :meth:`PymcMarketingModel.estimands` therefore hands the draws to
:meth:`MediaModel.estimands` with the data's scales replaced by pymc-marketing's (equal to
the workbench's max-abs scales for non-negative data) and ``y_sigma`` renamed ``sigma``.
``tanh`` and ``michaelis_menten`` have no ``beta`` in pymc-marketing: their amplitude
parameter (``b``, ``alpha``) is in units of ``target_scale``. They get ``saturation_beta
= 1`` there, and the output scale ``k`` (``target_scale`` times the family's ``rescale``
factor) that :meth:`MediaModel.estimands` would put in ``saturation_beta`` is folded into
the parameters instead (``k b tanh(x / (b c)) = b' tanh(x / (b' c'))`` with ``b' = k b``,
``c' = c / k``; ``k alpha x / (lam + x)``: ``alpha' = k alpha``), with ``saturation_beta =
1``: the data-generating process's parameterization with ``beta = 1``, the one that matches
pymc-marketing (:mod:`mmm_workbench.simulate.transforms`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.recover.models import pymc_marketing_geo as geo
from mmm_workbench.recover.models.data import LIFT_CONTAINERS, ModelData
from mmm_workbench.recover.models.media import MediaModel, compile_media
from mmm_workbench.recover.models.priors import prior_for
from mmm_workbench.recover.models.transforms import param_names
from mmm_workbench.scenarios.families import ADSTOCKS, SATURATIONS
from mmm_workbench.scenarios.spec import ModelSpec, TransformSpec

__all__ = [
    "CONFIG_KWARGS",
    "MISSING_MESSAGE",
    "YEAR_PERIODS",
    "PymcMarketingModel",
    "add_lift_tests",
    "build_from_config",
    "build_pymc_marketing",
    "check_config",
    "check_pymc_marketing",
    "config_spec",
    "pymc_marketing_scales",
    "training_frame",
]

Array = NDArray[np.float64]

MISSING_MESSAGE = (
    "model.kind = 'pymc-marketing' needs pymc-marketing: "
    "pip install 'mmm-workbench[pymc-marketing]'"
)
YEAR_PERIODS = (52.0, 365.0, 365.25)
"""Seasonality periods that are a year (weekly, daily data): pymc-marketing's is yearly."""


_AMPLITUDE: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    "tanh": lambda p, k: {"b": p["b"] * k, "c": p["c"] / k},
    "michaelis_menten": lambda p, k: {"alpha": p["alpha"] * k, "lam": p["lam"]},
}
"""Saturations without ``beta`` in pymc-marketing: ``k f(x; p) == f(x; amplitude(p, k))``."""


def _has_beta(kind: str) -> bool:
    """Whether pymc-marketing's saturation class of this family has a ``beta``."""
    return kind not in _AMPLITUDE


def check_pymc_marketing(spec: ModelSpec, channels: Sequence[str] | None = None) -> None:
    """Everything about a ``pymc-marketing`` model that can be checked before fitting.

    Parameters
    ----------
    spec
        The ``[model]`` table.
    channels
        The data's channel names in order, where known: a ``config`` must name exactly
        these (:func:`check_config`).

    Raises
    ------
    ValueError
        pymc-marketing is not installed, the ``[model]`` table asks for something
        pymc-marketing's MMM does not have (named with its value), or its ``config`` is
        one pymc-marketing or the workbench refuses (:func:`check_config`).
    """
    if importlib.util.find_spec("pymc_marketing") is None:
        raise ValueError(MISSING_MESSAGE)
    if spec.geo_level:
        geo.check_geo(spec)
    if spec.config is not None:
        check_config(spec, channels)
        return
    adstock, saturation = _transforms(spec)
    for role, transform, families in (
        ("adstock", adstock, ADSTOCKS),
        ("saturation", saturation, SATURATIONS),
    ):
        if families[transform.kind].pymc_marketing is None:
            raise ValueError(
                f"model.{role}.kind = {transform.kind!r}: pymc-marketing has no such {role}; "
                'fit it with kind = "workbench"'
            )
    refused = {
        "trend": (spec.trend, "pymc-marketing's MMM has no linear trend term here"),
        "intercept": (not spec.intercept, "pymc-marketing's MMM always has an intercept"),
    }
    for field, (bad, why) in refused.items():
        if bad:
            raise ValueError(f"model.{field} = {getattr(spec, field)!r}: {why}")
    if spec.seasonality_order and spec.seasonality_period not in YEAR_PERIODS:
        raise ValueError(
            f"model.seasonality_period = {spec.seasonality_period!r}: pymc-marketing's "
            "seasonality is yearly (day of year); use 52 (weekly) or 365.25 (daily data)"
        )
    if "saturation_beta" in spec.priors and not _has_beta(saturation.kind):
        raise ValueError(
            f"model.priors.saturation_beta: pymc-marketing's {saturation.kind} "
            "saturation has no beta"
        )


def _transforms(spec: ModelSpec) -> tuple[TransformSpec, TransformSpec]:
    """Return the ``[model]`` table's adstock and saturation.

    Raises
    ------
    ValueError
        Naming the missing table (a ``pymc-marketing`` model without ``config`` is built
        from them).
    """
    if not (spec.adstock.kind and spec.saturation.kind):  # a table left out
        role = "saturation" if spec.adstock.kind else "adstock"
        raise ValueError(
            f"model.{role}: missing; model.kind = 'pymc-marketing' is built from "
            "[model.adstock] and [model.saturation], or from a pymc-marketing YAML "
            "(model.config = 'mmm.yml')"
        )
    return spec.adstock, spec.saturation


def pymc_marketing_scales(data: ModelData) -> tuple[Array, float]:
    """pymc-marketing's scales of a dataset.

    The max over the training rows of each channel (``channel_scale``) and of the target
    (``target_scale``), its default ``DataDerivedScaling(method="max")``.
    """
    return np.max(data.spend, axis=0), float(np.max(data.target))


def training_frame(data: ModelData) -> pd.DataFrame:
    """Return the training rows as pymc-marketing's MMM takes them.

    ``date``, one column per channel, the model's controls, the target
    (:func:`mmm_workbench.simulate.observed_frame`'s layout).
    """
    frame = pd.DataFrame({"date": data.dates})
    for i, channel in enumerate(data.channels):
        frame[channel] = data.spend[:, i]
    for i, control in enumerate(data.control_names):
        frame[control] = data.controls[:, i]
    frame[data.target_name] = data.target
    return frame


_prior = geo.scenario_prior


def _transform(spec: ModelSpec, role: str) -> Any:
    """Return the pymc-marketing adstock or saturation object for the model's family."""
    import pymc_marketing.mmm as pmm
    from pytensor.xtensor.type import as_xtensor

    adstock, saturation = _transforms(spec)
    transform = adstock if role == "adstock" else saturation
    family = (ADSTOCKS if role == "adstock" else SATURATIONS)[transform.kind]
    cls = getattr(pmm, family.pymc_marketing or "")
    kwargs = (
        {"l_max": transform.l_max, "normalize": transform.normalize} if role == "adstock" else {}
    )
    defaults = cls(**kwargs).default_priors
    dims: tuple[str, ...] = ("channel",) if spec.pooling == "channel" else ()
    priors: dict[str, Any] = {}
    for p in param_names(role, transform.kind):
        if p in transform.params:
            value = transform.params[p]
            priors[p] = (  # fixed: one number, or one per channel
                as_xtensor(np.asarray(value, dtype=float), dims=("channel",))
                if isinstance(value, tuple)
                else float(value)
            )
        elif f"{role}_{p}" in spec.priors:
            priors[p] = _prior(spec.priors[f"{role}_{p}"], dims)
        elif not dims:
            priors[p] = deepcopy(defaults[p])
            priors[p].dims = ()
    if role == "saturation" and "saturation_beta" in spec.priors:
        priors["beta"] = _prior(spec.priors["saturation_beta"], ("channel",))
    return cls(**kwargs, priors=priors)


def _model_config(spec: ModelSpec) -> dict[str, Any]:
    """pymc-marketing's ``model_config`` entries for the scenario's priors."""
    from pymc_extras.prior import Prior

    config: dict[str, Any] = {}
    for name, dims in (("intercept", ()), ("gamma_control", ("control",))):
        if name in spec.priors:
            config[name] = _prior(spec.priors[name], dims)
    if "gamma_fourier" in spec.priors:
        config["gamma_fourier"] = _prior(spec.priors["gamma_fourier"], ("fourier_mode",))
    if "sigma" in spec.priors or spec.likelihood == "student_t":
        sigma = (
            _prior(spec.priors["sigma"], ())
            if "sigma" in spec.priors
            else Prior("HalfNormal", sigma=2, dims=())  # pymc-marketing's default
        )
        if spec.likelihood == "student_t":
            nu = _prior(prior_for("nu", spec), ())
            config["likelihood"] = Prior("StudentT", nu=nu, sigma=sigma, dims="date")
        else:
            config["likelihood"] = Prior("Normal", sigma=sigma, dims="date")
    return config


@dataclass(frozen=True, kw_only=True)
class PymcMarketingModel(MediaModel):
    """A cell's pymc-marketing MMM (``mmm``, built), its ``pm.Model`` and media function.

    The media function is the workbench's, of the same families, for counterfactual estimands.

    Attributes
    ----------
    sigma_name
        pymc-marketing's name of the likelihood's sigma (``y_sigma``).
    """

    model: pm.Model
    mmm: Any
    sigma_name: str = "y_sigma"

    def set_data(self, data: ModelData) -> dict[str, Array]:
        """Return one replicate's values of every data container, scales included.

        See the module docstring.
        """
        channel_scale, target_scale = pymc_marketing_scales(data)
        values = {
            "channel_data": data.spend,
            "target_data": data.target,
            "channel_scale": channel_scale,
            "target_scale": np.asarray(target_scale),
        }
        if data.control_names:
            values["control_data"] = data.controls
        if self.spec.lift_tests:
            assert data.lift is not None
            values |= data.lift.scaled(channel_scale, target_scale)
        return values

    def estimands(
        self,
        data: ModelData,
        draws: Mapping[str, Array],
        x_scale: Array,
        multipliers: Array,
    ) -> xr.Dataset:
        """Posterior (or prior) draws of every estimand in the data's units, over ``sample``.

        :meth:`MediaModel.estimands` on pymc-marketing's scales.

        Parameters
        ----------
        data, x_scale, multipliers
            As :meth:`MediaModel.estimands`.
        draws
            pymc-marketing's variables by name, sample axis first: the free media
            parameters, ``y_sigma`` (or ``sigma``), and where sampled its scaled
            ``channel_contribution`` and ``mu``.
        """
        channel_scale, target_scale = pymc_marketing_scales(data)
        scaled = replace(
            data,
            spend_scale=np.where(channel_scale != 0, channel_scale, 1.0),
            target_scale=target_scale or 1.0,
        )
        renamed = dict(draws)
        if self.sigma_name in renamed:
            renamed["sigma"] = renamed.pop(self.sigma_name)
        kind = _transforms(self.spec)[1].kind
        if _has_beta(kind):
            return super().estimands(scaled, renamed, x_scale, multipliers)
        renamed["saturation_beta"] = np.ones((len(renamed["sigma"]), len(data.channels)))
        out = super().estimands(scaled, renamed, x_scale, multipliers)
        k = out["saturation_beta"]
        params = {p: out[f"saturation_{p}"] for p in param_names("saturation", kind)}
        for p, value in _AMPLITUDE[kind](params, k).items():
            out[f"saturation_{p}"] = value
        out["saturation_beta"] = xr.ones_like(k)
        return out


LIFT_NAME = "lift_measurements"
"""pymc-marketing's default name of the lift-test likelihood."""


def add_lift_tests(mmm: Any, data: ModelData) -> None:
    """Add pymc-marketing's lift-test likelihood to a built MMM, on data containers.

    pymc-marketing's ``add_saturation_observations`` (as ``add_lift_test_measurements``
    calls it with its default ``Normal`` likelihood), with the scaled lift columns in the
    containers of :data:`mmm_workbench.recover.models.data.LIFT_CONTAINERS` (see the module
    docstring).
    """
    import pymc.dims as pmd
    from pytensor.xtensor.type import as_xtensor

    assert data.lift is not None
    model = mmm.model
    dim = f"_{LIFT_NAME}_dim"
    channel_scale, target_scale = pymc_marketing_scales(data)
    values = data.lift.scaled(channel_scale, target_scale)
    index = {"channel": as_xtensor(data.lift.channel_index, dims=(dim,))}
    with model:
        model.add_coord(dim, length=len(data.lift.x))
        lift = {name: pmd.Data(name, values[name], dims=(dim,)) for name in LIFT_CONTAINERS}
        params = {
            param: model[var].isel(index, missing_dims="ignore")
            for param, var in mmm.saturation.variable_mapping.items()
        }
        before = lift["lift_x"]
        after = before + lift["lift_delta_x"]
        estimated = pmd.Deterministic(
            f"{LIFT_NAME}_model_estimated_lift",
            mmm.saturation.function(after, **params) - mmm.saturation.function(before, **params),
        )
        # pymc-marketing's default Prior("Normal") likelihood, built directly: a Prior
        # copies its sigma container into a new shared variable that pm.set_data and
        # nutpie's with_data do not reach (the swapping test fails with it)
        pmd.Normal(LIFT_NAME, mu=estimated, sigma=lift["lift_sigma"], observed=lift["lift_delta_y"])


def _build_geo(spec: ModelSpec, data: ModelData) -> geo.PymcMarketingGeoModel:
    """Build pymc-marketing's MMM with ``dims = ("geo",)`` on a panel (:mod:`.pymc_marketing_geo`).

    Raises
    ------
    RuntimeError
        If pymc-marketing's own scales differ from
        :func:`~mmm_workbench.recover.models.pymc_marketing_geo.panel_scales`.
    """
    from pymc_marketing.mmm import MMM

    assert data.geo is not None
    if spec.config is not None:
        mmm = build_from_config(spec, data)
        spec = config_spec(spec, mmm)
    else:
        mmm = MMM(
            date_column="date",
            channel_columns=list(data.channels),
            target_column=data.target_name,
            dims=geo.GEO_DIMS,
            scaling=geo.per_geo_scaling(),
            adstock=geo.national_transform(_transform(spec, "adstock")),
            saturation=geo.national_transform(_transform(spec, "saturation")),
            control_columns=list(data.control_names) or None,
            yearly_seasonality=spec.seasonality_order or None,
            adstock_first=spec.order == "adstock_first",
            model_config=geo.geo_model_config(spec),
        )
        frame = geo.panel_frame(data)
        mmm.build_model(frame.drop(columns=[data.target_name]), frame[data.target_name])
    by_geo = geo.scaling_by_geo(mmm)
    channel_scale, target_scale = geo.panel_scales(data.geo, *by_geo)
    built = mmm.scalers["_channel"].transpose(*(geo.GEO_DIMS if by_geo[0] else ()), "channel")
    built = built.sel(channel=list(data.channels))
    if not (
        np.array_equal(built.to_numpy(), channel_scale)
        and np.array_equal(mmm.scalers["_target"].to_numpy(), target_scale)
    ):
        raise RuntimeError(
            f"pymc-marketing scaled the panel by {built.to_numpy()} and "
            f"{mmm.scalers['_target'].to_numpy()}, not by the max over the training rows"
        )
    free = geo.free_media(spec)
    model = mmm.model
    periods, n_ch = data.spend.shape
    media = geo.compile_geo_media(spec, free, len(data.geo.names), n_ch, periods)
    kept = {v.name for v in model.free_RVs}
    return geo.PymcMarketingGeoModel(
        spec=spec,
        free=free,
        media=media,
        model=model,
        mmm=mmm,
        channel_by_geo=by_geo[0],
        target_by_geo=by_geo[1],
        dims=geo.model_dims(model, (*free, "y_sigma", "mu", "channel_contribution")),
        extra_draws=tuple(n for n in free if n in model.named_vars and n not in kept),
    )


def build_pymc_marketing(
    spec: ModelSpec, data: ModelData
) -> PymcMarketingModel | geo.PymcMarketingGeoModel:
    """Build pymc-marketing's MMM for a cell from its first replicate's data.

    From the ``[model]`` table's options, or with ``config`` by pymc-marketing's own YAML
    builder (:func:`build_from_config`); either way on data containers, swappable, with the
    same scales and unit conversion.

    Raises
    ------
    ValueError
        As :func:`check_pymc_marketing`; for a ``config``, also a config pymc-marketing's
        builder rejects on the data (its own message) or whose channels the data lacks.
    RuntimeError
        If pymc-marketing's own scales differ from :func:`pymc_marketing_scales` (the rule
        every later replicate's scales are computed by).
    """
    check_pymc_marketing(spec, data.channels)
    if spec.geo_level:
        return _build_geo(spec, data)
    if spec.config is not None:
        mmm = build_from_config(spec, data)
        spec = config_spec(spec, mmm)
    else:
        from pymc_marketing.mmm import MMM

        mmm = MMM(
            date_column="date",
            channel_columns=list(data.channels),
            target_column=data.target_name,
            adstock=_transform(spec, "adstock"),
            saturation=_transform(spec, "saturation"),
            control_columns=list(data.control_names) or None,
            yearly_seasonality=spec.seasonality_order or None,
            adstock_first=spec.order == "adstock_first",
            model_config=_model_config(spec),
        )
        frame = training_frame(data)
        mmm.build_model(frame.drop(columns=[data.target_name]), frame[data.target_name])
    channel_scale, target_scale = pymc_marketing_scales(data)
    built = mmm.scalers["_channel"].sel(channel=list(data.channels)).to_numpy()
    if not (np.array_equal(built, channel_scale) and float(mmm.scalers["_target"]) == target_scale):
        raise RuntimeError(
            f"pymc-marketing scaled by {built} and {float(mmm.scalers['_target'])}, "
            f"not by the max over the training rows ({channel_scale}, {target_scale})"
        )
    if spec.lift_tests:
        add_lift_tests(mmm, data)
    adstock, saturation = _transforms(spec)
    free = tuple(
        f"{role}_{p}"
        for role, transform in (("adstock", adstock), ("saturation", saturation))
        for p in param_names(role, transform.kind)
        if p not in transform.params
    )
    periods, n_ch = data.spend.shape
    free = (*free, "saturation_beta")
    media = compile_media(spec, free, spec.pooling == "shared", n_ch, periods)
    return PymcMarketingModel(spec=spec, free=free, media=media, model=mmm.model, mmm=mmm)


# --------------------------------------------------------------------------- YAML configs

CONFIG_KWARGS = (
    "date_column",
    "channel_columns",
    "target_column",
    "control_columns",
    "adstock",
    "saturation",
    "adstock_first",
    "yearly_seasonality",
    "model_config",
    "sampler_config",
)
"""The MMM arguments a config may set: the model the workbench swaps data into and converts
the units of (``dims``, ``scaling``, time-varying terms, a ``log`` link, ``cost_per_unit``
and a causal DAG change what the data containers and scales mean)."""

_CONFIG_SECTIONS = ("model", "original_scale_vars")
"""Top-level config sections the workbench fits; the data, the lift tests (``lift_tests =
true``) and the sampling are the scenario's."""

_MODEL_DEFAULTS = {
    "order": "adstock_first",
    "pooling": "channel",
    "intercept": True,
    "trend": False,
    "seasonality_order": 0,
    "likelihood": "normal",
}
"""``[model]`` keys a config decides: given beside ``config`` they must keep these values."""


def _config_error(spec: ModelSpec, detail: str) -> ValueError:
    assert spec.config is not None
    return ValueError(f"model.config = {spec.config.path!r}: {detail}")


def _one_line(err: BaseException) -> str:
    """pymc-marketing's own message, on one line."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _load_config(spec: ModelSpec) -> tuple[dict[str, Any], Any]:
    """Validate the config with pymc-marketing's schema and build its MMM, without data.

    Returns the ``model`` build spec (``class``, ``kwargs``) and the unbuilt MMM.

    Raises
    ------
    ValueError
        pymc-marketing rejects the file (its message), or it has a section the workbench
        does not fit.
    """
    from pymc_marketing.mmm import MMM
    from pymc_marketing.mmm.builders.factories import build
    from pymc_marketing.mmm.builders.schema import MMMYamlConfig

    assert spec.config is not None
    try:
        config = MMMYamlConfig.from_yaml_file(spec.config.resolved)
    except Exception as err:  # pydantic's, yaml's: pymc-marketing's verdict on the file
        raise _config_error(spec, f"pymc-marketing rejects it: {_one_line(err)}") from None
    for section in config.model_fields_set - set(_CONFIG_SECTIONS):
        if getattr(config, section):
            raise _config_error(
                spec,
                f"{section}: the workbench fits the model section only (the data, lift tests "
                "with model.lift_tests = true, and sampling with [fit] are the scenario's)",
            )
    model = config.model.model_dump(by_alias=True)
    dims = model.get("kwargs", {}).get("dims")
    if dims is not None and list(dims) != ["geo"]:
        raise _config_error(
            spec,
            f"model.kwargs.dims = {dims!r}: the workbench fits a panel of geos, dims: ['geo']",
        )
    if dims is not None and not spec.geo_level:
        raise _config_error(
            spec,
            "model.kwargs.dims = ['geo']: a geo model; add [model.geo] to the scenario to fit "
            "the panel geo by geo",
        )
    if dims is None and spec.geo_level:
        raise _config_error(
            spec, "no model.kwargs.dims: with [model.geo] the config sets dims: ['geo']"
        )
    for key in model.get("kwargs", {}):
        if key not in CONFIG_KWARGS and not (key == "dims" and dims is not None):
            raise _config_error(
                spec,
                f"model.kwargs.{key}: the workbench swaps each replicate's data into the "
                f"model and converts its units knowing only {', '.join(CONFIG_KWARGS)}",
            )
    try:
        mmm = build(model)
    except Exception as err:  # any failure of pymc-marketing's builder is its verdict
        raise _config_error(spec, f"pymc-marketing rejects it: {_one_line(err)}") from None
    if not isinstance(mmm, MMM):
        raise _config_error(
            spec, f"model.class = {model['class']!r}: must be pymc_marketing.mmm.MMM"
        )
    return model, mmm


def check_config(spec: ModelSpec, channels: Sequence[str] | None = None) -> None:
    """Check a ``[model]`` table with ``config`` (pymc-marketing's YAML), before any data.

    pymc-marketing validates the file and builds its MMM (unfitted, no data); then the
    config's names must be the scenario's: ``channel_columns`` its channels in order (where
    ``channels`` is given), ``control_columns`` the table's ``controls`` in order; its
    transforms must be families the workbench has, with the default variable names; the
    ``[model]`` table may repeat the config's transforms but not contradict them, and leaves
    what the config decides (priors, order, seasonality, likelihood) to it.

    Raises
    ------
    ValueError
        ``model.config = 'mmm.yml': ...`` with pymc-marketing's own message, or naming the
        config's key and value and what the scenario has.
    """
    _, mmm = _load_config(spec)
    names = list(mmm.channel_columns)
    if channels is not None:
        for i, name in enumerate(names):
            if name not in channels:
                raise _config_error(
                    spec,
                    f"model.kwargs.channel_columns[{i}] = {name!r}: the data has no such "
                    f"channel; channels: {', '.join(channels)}",
                )
        if names != list(channels):
            raise _config_error(
                spec,
                f"model.kwargs.channel_columns = {names}: must be the scenario's channels, "
                f"in its order: {list(channels)}",
            )
    controls = list(mmm.control_columns or [])
    if controls != list(spec.controls):
        raise _config_error(
            spec,
            f"model.kwargs.control_columns = {controls}: must equal model.controls = "
            f"{list(spec.controls)} (the workbench hands the model those columns)",
        )
    if spec.priors:
        raise _config_error(spec, "model.priors: the config's priors are used; remove them")
    for key, default in _MODEL_DEFAULTS.items():
        if getattr(spec, key) != default:
            raise _config_error(
                spec, f"model.{key} = {getattr(spec, key)!r}: the config decides it; remove it"
            )
    derived = config_spec(spec, mmm)
    for role in ("adstock", "saturation"):
        given, built = getattr(spec, role), getattr(derived, role)
        if given.kind and given != built:  # given, and not the config's
            raise _config_error(
                spec,
                f"model.{role} = {_describe(given)} contradicts the config's "
                f"{_describe(built)}; leave model.{role} out or make them agree",
            )


def _describe(transform: TransformSpec) -> str:
    fixed = {k: list(v) if isinstance(v, tuple) else v for k, v in transform.params.items()}
    extra = (
        f", l_max = {transform.l_max}, normalize = {transform.normalize}" if transform.l_max else ""
    )
    return f"{{ kind = {transform.kind!r}{extra}, fixed {fixed} }}"


def _config_transform(spec: ModelSpec, role: str, obj: Any) -> tuple[TransformSpec, bool]:
    """Return the workbench's twin of a pymc-marketing transform, and whether it is shared.

    Numbers in its priors are fixed parameters (one per channel for a ``channel``-dim
    array); every prior must have dims ``("channel",)`` or none, the same for all.
    """
    families = ADSTOCKS if role == "adstock" else SATURATIONS
    cls = type(obj).__name__
    kind = next((f.name for f in families.values() if f.pymc_marketing == cls), None)
    if kind is None:
        known = ", ".join(f.pymc_marketing for f in families.values() if f.pymc_marketing)
        raise _config_error(
            spec, f"model.kwargs.{role}.class = {cls!r}: the workbench knows {known}"
        )
    if obj.prefix != role:
        raise _config_error(
            spec, f"model.kwargs.{role}.kwargs.prefix = {obj.prefix!r}: keep the default {role!r}"
        )
    fixed: dict[str, float | tuple[float, ...]] = {}
    dims: set[tuple[str, ...]] = set()
    for p in param_names(role, kind):
        value = obj.function_priors[p]
        if hasattr(value, "create_variable"):
            dims.add(tuple(value.dims))
            continue
        array = np.asarray(getattr(value, "data", value), dtype=float)
        fixed[p] = float(array) if array.ndim == 0 else tuple(float(v) for v in array)
    if role == "saturation" and "beta" in obj.function_priors:
        beta = obj.function_priors["beta"]
        allowed = [("channel",), ("geo", "channel")] if spec.geo_level else [("channel",)]
        if not hasattr(beta, "create_variable") or tuple(beta.dims) not in allowed:
            raise _config_error(
                spec,
                f"model.kwargs.saturation.kwargs.priors.beta = {beta!r}: the workbench "
                "scores a beta per channel; give it a prior with dims "
                + " or ".join(map(str, allowed)),
            )
    if spec.geo_level and dims <= {(), ("channel",), ("geo", "channel")}:
        pass  # a geo model takes every parameter per geo and channel (broadcast)
    elif len(dims) > 1 or not dims <= {(), ("channel",)}:
        raise _config_error(
            spec,
            f"model.kwargs.{role}: prior dims {sorted(dims)}: give every free parameter "
            "dims ('channel',), or every one none (shared by all channels)",
        )
    transform = TransformSpec(
        kind=kind,
        params=MappingProxyType(fixed),
        l_max=int(obj.l_max) if role == "adstock" else 0,
        normalize=bool(obj.normalize) if role == "adstock" else True,
    )
    return transform, dims == {()}


def config_spec(spec: ModelSpec, mmm: Any) -> ModelSpec:
    """Return the ``[model]`` table the config's MMM amounts to.

    Its transforms (families, ``l_max``, ``normalize``, fixed parameters), order, pooling,
    yearly seasonality and likelihood, for the media function and the unit conversion
    the workbench shares with the TOML path.

    Raises
    ------
    ValueError
        A transform or likelihood the workbench cannot convert (see :func:`check_config`).
    """
    adstock, shared_a = _config_transform(spec, "adstock", mmm.adstock)
    saturation, shared_s = _config_transform(spec, "saturation", mmm.saturation)
    free_a = len(param_names("adstock", adstock.kind)) > len(adstock.params)
    free_s = len(param_names("saturation", saturation.kind)) > len(saturation.params)
    shared = {flag for flag, free in ((shared_a, free_a), (shared_s, free_s)) if free}
    if len(shared) > 1 and not spec.geo_level:
        raise _config_error(
            spec,
            "adstock and saturation priors: one is per channel and the other shared; "
            "give both dims ('channel',) or both none",
        )
    likelihood = mmm.model_config["likelihood"].distribution
    if likelihood not in ("Normal", "StudentT"):
        raise _config_error(
            spec,
            f"model.kwargs.model_config.likelihood: {likelihood!r}: the workbench scores "
            "Normal and StudentT likelihoods",
        )
    period = spec.seasonality_period if spec.seasonality_period in YEAR_PERIODS else 52.0
    return replace(
        spec,
        adstock=adstock,
        saturation=saturation,
        order="adstock_first" if mmm.adstock_first else "saturation_first",
        pooling="shared" if shared == {True} else "channel",
        seasonality_period=period,
        seasonality_order=int(mmm.yearly_seasonality or 0),
        likelihood="normal" if likelihood == "Normal" else "student_t",
    )


def build_from_config(spec: ModelSpec, data: ModelData) -> Any:
    """Build and return pymc-marketing's MMM from the config, on the first replicate's data.

    pymc-marketing's ``build_mmm_from_yaml`` with the training rows as ``X`` and ``y``
    (:func:`training_frame`, the date and target columns named as the config names them),
    so its priors, seasonality and likelihood are exactly the config's; the model is then
    swapped and converted like one built from the ``[model]`` table.

    Raises
    ------
    ValueError
        As :func:`check_config`, or pymc-marketing's builder fails on the data (its message).
    """
    from pymc_marketing.mmm.builders.yaml import build_mmm_from_yaml

    assert spec.config is not None
    model, _ = _load_config(spec)
    kwargs = model.get("kwargs", {})
    date, target = kwargs.get("date_column", "date"), kwargs.get("target_column", "y")
    if spec.geo_level:
        frame = geo.panel_frame(data, target=target, date=date)
    else:
        frame = training_frame(data).rename(columns={"date": date, data.target_name: target})
    try:
        return build_mmm_from_yaml(
            spec.config.resolved, X=frame.drop(columns=[target]), y=frame[target]
        )
    except Exception as err:  # pymc-marketing's builder on the data: its verdict
        raise _config_error(spec, f"pymc-marketing rejects it: {_one_line(err)}") from None
