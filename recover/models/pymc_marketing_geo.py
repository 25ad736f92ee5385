"""pymc-marketing's MMM with ``dims = ("geo",)``: one fit of a whole panel.

A ``pymc-marketing`` model with ``[model.geo]`` (``level = "geo"``), or whose YAML config
sets ``dims: ["geo"]``, is pymc-marketing's own multidimensional ``MMM`` built on the
panel in its input format (:func:`panel_frame`: long form, one row per date and geo, a
``geo`` column). From the ``[model]`` table (:func:`geo_mmm`), as pymc-marketing's
multidimensional examples build it:

- scales per geo: ``scaling = {channel, target: max over dates}`` (``DataDerivedScaling(
  "max", dims=())``), so each geo's spend and target are in units of its own maximum and
  a curve means the same in a large geo as in a small one;
- transform parameters national: their priors with dims ``("channel",)`` (or ``()`` with
  ``pooling = "shared"``), fixed values as in the national adapter;
- ``vary`` (default ``["beta", "intercept"]``) partially pooled, non-centred: the effect
  ``saturation_beta[geo, channel] = exp(mu_c + tau_c * z)``, ``mu_c ~ Normal(0, 1)``,
  ``tau_c ~ HalfNormal(spread.beta)``; the intercept ``Normal(mu, tau)`` per geo, ``mu ~
  Normal(0, 2)``, ``tau ~ HalfNormal(spread.intercept)``; what ``vary`` leaves out is
  national (dims ``("channel",)`` or ``()``);
- pymc-marketing's defaults for the rest: a noise sd, control coefficients and Fourier
  coefficients per geo (controls enter unscaled, so their coefficients depend on the
  geo's size).

From a YAML config the model is exactly the config's (its priors, dims and pymc-marketing's
default scaling, one scale per channel over dates and geos).

Units (:meth:`PymcMarketingGeoModel.estimands`). Geo ``g``'s contribution of channel ``c``
is ``T_g * beta_gc * f(s_gtc / S_gc)`` with ``T_g`` and ``S_gc`` the target and channel
scales (per geo, or the same in every geo), so the draws go through the workbench's media
function of the same families on each geo's scaled spend, times ``T_g``. The national
estimands are the sums over geos (ROAS and shares ratios of sums) through
:meth:`MediaModel.estimands`, the same mechanism as every national model, scored against
the national truth; ``sigma`` is the sd of the national sum of the geos' independent
noise, ``sqrt(sum_g (T_g sigma_g)^2)``, and the log density of the national target under
it is the model's own (a sum of independent normals is normal). The per-geo estimands are
:func:`~mmm_workbench.recover.models.panel.geo_estimands`, scored against ``/truth/geo``.
Transform parameters and ``saturation_beta`` are not scored: pymc-marketing's are in units
of each geo's own spend maximum and target (or of the panel's), the truth's in units of
the national spend per head, which have no common national value.

Data swapping: as the national adapter (:mod:`.pymc_marketing`), every replicate's panel
goes into the containers (``channel_data`` ``(date, geo, channel)``, ``target_data``
``(date, geo)``, ``control_data``) together with the scales recomputed by pymc-marketing's
rule (:func:`panel_scales`); the build checks the rule against the scales pymc-marketing
computed itself.

Refused before fitting (:func:`check_geo`): a likelihood other than normal (the national
noise is the sum of the geos'), lift tests, a saturation without ``beta`` in pymc-marketing
(``tanh``, ``michaelis_menten``), a ``saturation_beta`` prior with ``beta`` in ``vary``
(its hierarchy's priors are fixed above), and a config whose ``dims`` is not ``["geo"]``
or that disagrees with ``[model.geo]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import xarray as xr
from numpy.typing import NDArray
from pytensor.compile.maker import function as compile_function

from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.media import MediaModel, fixed_transform_params, media_graph
from mmm_workbench.recover.models.panel import GEO, GeoPanel, geo_estimands
from mmm_workbench.recover.models.transforms import param_names
from mmm_workbench.scenarios.spec import ModelSpec, PriorSpec

__all__ = [
    "GEO_DIMS",
    "PymcMarketingGeoModel",
    "check_geo",
    "compile_geo_media",
    "geo_model_config",
    "panel_frame",
    "panel_scales",
    "scenario_prior",
]

Array = NDArray[np.float64]

GEO_DIMS = (GEO,)
"""pymc-marketing's ``dims`` of a geo model."""


def check_geo(spec: ModelSpec) -> None:
    """Refuse what pymc-marketing's geo model cannot be converted with (module docstring).

    Raises
    ------
    ValueError
        Naming the field and its value.
    """
    geo = spec.geo
    assert geo is not None
    if spec.likelihood != "normal":
        raise ValueError(
            f"model.likelihood = {spec.likelihood!r}: a pymc-marketing geo model is scored "
            "nationally as the sum of independent normal geo noises; use 'normal'"
        )
    if spec.config is None and spec.saturation.kind in ("tanh", "michaelis_menten"):
        raise ValueError(
            f"model.saturation.kind = {spec.saturation.kind!r}: pymc-marketing's "
            f"{spec.saturation.kind} has no beta to vary or sum by geo; use a family with beta"
        )
    if "beta" in geo.vary and "saturation_beta" in spec.priors:
        raise ValueError(
            "model.priors.saturation_beta: with 'beta' in model.geo.vary the effect is "
            "exp(Normal(mu, tau)) per geo (mu ~ Normal(0, 1), tau ~ HalfNormal(spread.beta))"
        )


def panel_frame(data: ModelData, target: str | None = None, date: str = "date") -> pd.DataFrame:
    """Return a panel's training rows in pymc-marketing's multidimensional layout.

    Long form: one row per date and geo (date-major), the ``date`` and ``geo`` columns, one
    column per channel, the model's controls, the target (named ``target``, default the
    data's).
    """
    panel = _panel(data)
    periods, n_geo = panel.target.shape
    frame = pd.DataFrame(
        {date: np.repeat(data.dates, n_geo), GEO: np.tile(np.asarray(panel.names), periods)}
    )
    for i, channel in enumerate(data.channels):
        frame[channel] = panel.spend[:, :, i].reshape(-1)
    for i, control in enumerate(data.control_names):
        frame[control] = panel.controls[:, :, i].reshape(-1)
    frame[target or data.target_name] = panel.target.reshape(-1)
    return frame


def _panel(data: ModelData) -> GeoPanel:
    if data.geo is None:
        raise ValueError("model.geo: the data has no geo panel (a national series)")
    return data.geo


def panel_scales(panel: GeoPanel, channel_by_geo: bool, target_by_geo: bool) -> tuple[Array, Array]:
    """pymc-marketing's scales of a panel: the max over dates (and geos unless per geo).

    Returns
    -------
    tuple
        The channel scale, ``(geo, channel)`` or ``(channel,)``, and the target scale,
        ``(geo,)`` or ``()``: the shapes of pymc-marketing's ``channel_scale`` and
        ``target_scale`` containers.
    """
    channel = panel.spend.max(axis=0) if channel_by_geo else panel.spend.max(axis=(0, 1))
    target = panel.target.max(axis=0) if target_by_geo else np.asarray(panel.target.max())
    return np.asarray(channel, dtype=float), np.asarray(target, dtype=float)


def scenario_prior(spec: PriorSpec, dims: tuple[str, ...]) -> Any:
    """Return a scenario prior as a ``pymc_extras`` ``Prior`` with the given dims."""
    from pymc_extras.prior import Prior

    args = {
        k: np.asarray(v, dtype=float) if isinstance(v, tuple) else v for k, v in spec.args.items()
    }
    return Prior(spec.dist, dims=dims, **args)


def geo_model_config(spec: ModelSpec) -> dict[str, Any]:
    """Return the priors of the ``[model]`` table's geo model that differ from pymc-marketing's.

    ``saturation_beta`` (with ``beta`` in ``vary``) and ``intercept``, by the module
    docstring's rule; a scenario ``sigma``, ``gamma_control`` or ``gamma_fourier`` prior
    per geo.
    """
    from pymc_extras.prior import Prior

    geo = spec.geo
    assert geo is not None
    config: dict[str, Any] = {}
    if "beta" in geo.vary:
        config["saturation_beta"] = Prior(
            "Normal",
            mu=Prior("Normal", mu=0.0, sigma=1.0, dims="channel"),
            sigma=Prior("HalfNormal", sigma=geo.spread_of("beta"), dims="channel"),
            dims=(GEO, "channel"),
            centered=False,
            transform="exp",
        )
    national = scenario_prior(spec.priors["intercept"], ()) if "intercept" in spec.priors else None
    if "intercept" in geo.vary:
        config["intercept"] = Prior(
            "Normal",
            mu=national or Prior("Normal", mu=0.0, sigma=2.0),
            sigma=Prior("HalfNormal", sigma=geo.spread_of("intercept")),
            dims=GEO_DIMS,
            centered=False,
        )
    else:
        config["intercept"] = national or Prior("Normal", mu=0.0, sigma=2.0, dims=())
    if "sigma" in spec.priors:
        sigma = scenario_prior(spec.priors["sigma"], GEO_DIMS)
        config["likelihood"] = Prior("Normal", sigma=sigma, dims=("date", GEO))
    for name, dim in (("gamma_control", "control"), ("gamma_fourier", "fourier_mode")):
        if name in spec.priors:
            config[name] = scenario_prior(spec.priors[name], (GEO, dim))
    return config


def national_transform(transform: Any) -> Any:
    """Return a pymc-marketing transform whose default priors are national (per channel).

    pymc-marketing gives a prior without dims the model's ``(*dims, "channel")``: one per
    geo. The geo model's transform parameters are national, so every prior without dims
    gets ``("channel",)``.
    """
    out = deepcopy(transform)
    for prior in out.function_priors.values():
        if hasattr(prior, "create_variable") and prior.dims is None:
            prior.dims = ("channel",)
    return out


def compile_geo_media(
    spec: ModelSpec, free: tuple[str, ...], n_geo: int, n_ch: int, periods: int
) -> Any:
    """Compile the media graph per geo, batched over draws.

    ``(free params, each (S, G, C)..., spend (T, 1, G, C), scaled by each geo's channel
    scale) -> contributions (T, S, G, C)`` in units of each geo's target scale; parameters
    not in ``free`` are fixed in ``spec``.
    """
    params: dict[str, Any] = fixed_transform_params(spec)
    inputs = [pt.tensor3(name) for name in free]
    params |= dict(zip(free, inputs, strict=True))
    x = pt.tensor4("spend", shape=(None, 1, None, None))
    media = compile_function([*inputs, x], media_graph(spec, x, params))
    media(
        *(np.full((1, n_geo, n_ch), 0.5) for _ in inputs), np.zeros((periods, 1, n_geo, n_ch))
    )  # compile lazily-linked code now, not in the first fit
    return media


def _by_geo(value: Array, n_geo: int, n_ch: int, dims: tuple[str, ...]) -> Array:
    """Return draws ``(S, *dims)`` of a parameter broadcast to ``(S, geo, channel)``."""
    shape = [value.shape[0], 1, 1]
    for d, n in zip(dims, value.shape[1:], strict=True):
        shape[1 if d == GEO else 2] = n
    order = sorted(range(len(dims)), key=lambda i: 0 if dims[i] == GEO else 1)
    arranged = np.transpose(value, (0, *(i + 1 for i in order))).reshape(shape)
    return np.broadcast_to(arranged, (value.shape[0], n_geo, n_ch))


@dataclass(frozen=True, kw_only=True)
class PymcMarketingGeoModel(MediaModel):
    """A cell's pymc-marketing MMM with ``dims = ("geo",)``, built, and its media function.

    Attributes
    ----------
    model, mmm
        The ``pm.Model`` and pymc-marketing's ``MMM``.
    channel_by_geo, target_by_geo
        Whether pymc-marketing scales each geo's channels and target by its own maximum.
    dims
        Each kept variable's dims after ``sample`` (as the model names them).
    extra_draws
        Deterministics the backend keeps: the media parameters pymc-marketing computes
        from its free variables (a non-centred ``saturation_beta``).
    """

    model: Any
    mmm: Any
    channel_by_geo: bool
    target_by_geo: bool
    dims: Mapping[str, tuple[str, ...]]
    extra_draws: tuple[str, ...] = ()
    sigma_name: str = "y_sigma"

    def set_data(self, data: ModelData) -> dict[str, Array]:
        """Return one replicate's values of every data container, scales included."""
        panel = _panel(data)
        channel_scale, target_scale = panel_scales(panel, self.channel_by_geo, self.target_by_geo)
        values = {
            "channel_data": panel.spend,
            "target_data": panel.target,
            "channel_scale": channel_scale,
            "target_scale": target_scale,
        }
        if data.control_names:
            values["control_data"] = panel.controls
        return values

    def _scales(self, data: ModelData) -> tuple[Array, Array]:
        """Return the channel scale ``(geo, channel)`` and the target scale ``(geo,)``."""
        panel = _panel(data)
        channel, target = panel_scales(panel, self.channel_by_geo, self.target_by_geo)
        n_geo, n_ch = len(panel.names), len(data.channels)
        channel = np.broadcast_to(channel, (n_geo, n_ch))
        return np.where(channel != 0, channel, 1.0), np.broadcast_to(target, (n_geo,))

    def _draw(self, draws: Mapping[str, Array], name: str, n_geo: int, n_ch: int) -> Array:
        value = np.asarray(draws[name], dtype=float)
        return _by_geo(value, n_geo, n_ch, self.dims.get(name, ()))

    def media_inputs(self, draws: Mapping[str, Array]) -> list[Array]:
        """Return the free media parameters' draws, as :meth:`estimands` passes them."""
        return [np.asarray(draws[name], dtype=float) for name in self.free]

    def media_spend(self, data: ModelData) -> Array:
        """Return each geo's spend by its channel scale, ``(date, geo, channel)``.

        The training rows, the holdout's realized spend and ``l_max - 1`` periods of none
        (the causal scope of :meth:`MediaModel.media_spend`).
        """
        panel = _panel(data)
        tail = np.zeros((self.spec.adstock.l_max - 1, *panel.spend.shape[1:]))
        extended: Array = np.concatenate([panel.spend, panel.after, tail])
        return extended / self._scales(data)[0][None]

    def geo_path(self, params: list[Array], spend: Array) -> Array:
        """Return each geo's contributions ``(date, sample, geo, channel)``.

        In data units where ``params``' ``saturation_beta`` is times each geo's target
        scale, as :meth:`estimands` passes it.
        """
        return np.asarray(self.media(*params, spend[:, None]), dtype=float)

    def media_path(self, params: list[Array], spend: Array) -> Array:
        """Return the national contributions ``(date, sample, channel)``: the geos' sum."""
        summed: Array = self.geo_path(params, spend).sum(axis=2)
        return summed

    def estimands(
        self,
        data: ModelData,
        draws: Mapping[str, Array],
        x_scale: Array,
        multipliers: Array,
    ) -> xr.Dataset:
        """Posterior (or prior) draws of the national and per-geo estimands, data units.

        See the module docstring.

        Parameters
        ----------
        data, x_scale, multipliers
            As :meth:`MediaModel.estimands`; ``data`` with its panel.
        draws
            pymc-marketing's variables by name, sample axis first: the media parameters,
            ``y_sigma`` and, where sampled, its scaled ``channel_contribution`` ``(date,
            geo, channel)`` and ``mu``.
        """
        panel = _panel(data)
        channel_scale, target_scale = self._scales(data)
        n_geo, n_ch = channel_scale.shape
        ts = target_scale[None, :]
        sigma = self._draw(draws, self.sigma_name, n_geo, 1)[:, :, 0] * ts  # (S, G)
        national: dict[str, Array] = {"sigma": np.sqrt((sigma**2).sum(axis=1))}
        contribution = None
        if "channel_contribution" in draws:
            contribution = np.asarray(draws["channel_contribution"]) * ts[:, None, :, None]
            national["channel_contribution"] = contribution.sum(axis=2)
        if "mu" in draws:
            mu = np.asarray(draws["mu"])
            if self.dims.get("mu", ("date", GEO))[0] == GEO:
                mu = mu.transpose(0, 2, 1)
            national["mu"] = (mu * ts[:, None, :]).sum(axis=2)
        for name in self.free:  # the effect in data units: each geo's target scale folded in
            national[name] = self._draw(draws, name, n_geo, n_ch)
        national["saturation_beta"] = national["saturation_beta"] * ts[:, :, None]
        unit = replace(data, spend_scale=np.ones(n_ch), target_scale=1.0)
        out = MediaModel.estimands(self, unit, national, x_scale, multipliers)
        out = out.drop_vars([v for v in out.data_vars if str(v).startswith(_PARAMS)])
        spend = self.media_spend(data)
        window = len(data.spend)
        off = spend.copy()
        off[:window] = 0.0
        params = self.media_inputs(national)
        per_geo = geo_estimands(
            self.geo_path(params, spend),
            self.geo_path(params, off),
            window,
            panel,
            contribution,
        )
        return out.merge(per_geo)

    def _param(self, draws: Mapping[str, Array], name: str, n_ch: int) -> Array:
        """Per-geo parameters have no national value (not scored): their median over geos."""
        value = np.asarray(draws[name], dtype=float) if name in draws else None
        if value is not None and value.ndim == 3:
            return np.asarray(np.median(value, axis=1))
        return super()._param(draws, name, n_ch)


_PARAMS = ("adstock_", "saturation_")
"""Estimands of the national conversion that a geo model does not have (module docstring)."""


def model_dims(model: Any, names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Return each named variable's dims in a ``pm.Model`` (``()`` for scalars)."""
    return {n: tuple(model.named_vars_to_dims.get(n, ())) for n in names if n in model.named_vars}


def scaling_by_geo(mmm: Any) -> tuple[bool, bool]:
    """Whether pymc-marketing's scaling keeps a scale per geo, for the channels and target."""
    return GEO not in mmm.scaling.channel.dims, GEO not in mmm.scaling.target.dims


def per_geo_scaling() -> dict[str, Any]:
    """pymc-marketing's ``scaling`` with one scale per geo (the max over dates)."""
    from pymc_marketing.mmm.scaling import DataDerivedScaling

    return {
        "channel": DataDerivedScaling(method="max", dims=()),
        "target": DataDerivedScaling(method="max", dims=()),
    }


def free_media(spec: ModelSpec) -> tuple[str, ...]:
    """Return the media parameters the model estimates (the transforms' free ones and beta)."""
    return (
        *(
            f"{role}_{p}"
            for role, transform in (("adstock", spec.adstock), ("saturation", spec.saturation))
            for p in param_names(role, transform.kind)
            if p not in transform.params
        ),
        "saturation_beta",
    )
