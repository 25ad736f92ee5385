"""The media part every model shares.

The transform graph, its compiled batched form for counterfactual spend, and the conversion of
posterior draws into estimands in the data's units (``MediaModel.estimands``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytensor.tensor as pt
import xarray as xr
from numpy.typing import NDArray
from pytensor.compile.maker import function as compile_function
from scipy import special

from mmm_workbench.recover.models.data import ModelData
from mmm_workbench.recover.models.transforms import adstock, param_names, saturation
from mmm_workbench.scenarios.families import SATURATIONS
from mmm_workbench.scenarios.spec import ModelSpec

__all__ = [
    "MROAS_STEP",
    "CompiledMedia",
    "MediaModel",
    "compile_media",
    "fixed_transform_params",
    "fourier_features",
    "lift_graph",
    "media_graph",
    "time_terms",
]

Array = NDArray[np.float64]
MROAS_STEP = 0.01


def fourier_features(periods: int, period: float, order: int) -> Array:
    """``[sin(2 pi k t / period), cos(2 pi k t / period)]`` for k = 1..order, ``(T, 2 order)``."""
    t = np.arange(periods, dtype=float)[:, None]
    k = np.arange(1, order + 1, dtype=float)[None, :]
    angle = 2.0 * np.pi * k * t / period
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


def time_terms(spec: ModelSpec, periods: int, train_periods: int) -> dict[str, Array]:
    """Return the model's per-period design containers over ``periods`` rows.

    Parameters
    ----------
    spec
        The model: ``trend`` gives ``trend_time``, ``seasonality_order > 0`` gives
        ``fourier_terms``; a term the model does not have gives no container.
    periods
        Rows to return: the training rows, or the whole series with its holdout.
    train_periods
        The training rows' count: ``trend_time`` is 0 on the first and 1 on the last of
        them (numpy's ``linspace``, bit for bit) and goes on at the same step past them.

    Returns
    -------
    dict[str, Array]
        ``trend_time`` ``(periods,)`` and ``fourier_terms`` ``(periods, 2 order)`` (of the
        row index, so the holdout's phase continues the training rows'). The first
        ``train_periods`` rows do not depend on ``periods``.
    """
    out: dict[str, Array] = {}
    if spec.trend:
        t = np.arange(periods, dtype=float) * (1.0 / max(train_periods - 1, 1))
        if 1 < train_periods <= periods:
            t[train_periods - 1] = 1.0  # as linspace(0, 1, train_periods) sets its end
        out["trend_time"] = t
    if spec.seasonality_order:
        out["fourier_terms"] = fourier_features(
            periods, spec.seasonality_period, spec.seasonality_order
        )
    return out


def _adstock_graph(spec: ModelSpec, x: Any, params: Mapping[str, Any]) -> Any:
    ad = {p: params[f"adstock_{p}"] for p in param_names("adstock", spec.adstock.kind)}
    l_max, norm = spec.adstock.l_max, spec.adstock.normalize
    return adstock(x, spec.adstock.kind, ad, l_max=l_max, normalize=norm)


def _saturation_graph(spec: ModelSpec, x: Any, params: Mapping[str, Any]) -> Any:
    sat = {p: params[f"saturation_{p}"] for p in param_names("saturation", spec.saturation.kind)}
    return saturation(x, spec.saturation.kind, sat)


def media_graph(spec: ModelSpec, spend: Any, params: Mapping[str, Any]) -> Any:
    """``beta * saturation(adstock(x))`` (or the reverse order) for the model's families."""
    if spec.order == "adstock_first":
        x = _saturation_graph(spec, _adstock_graph(spec, spend, params), params)
    else:
        x = _adstock_graph(spec, _saturation_graph(spec, spend, params), params)
    return params["saturation_beta"] * x


def lift_graph(
    spec: ModelSpec, params: Mapping[str, Any], channel_index: Any, x: Any, delta_x: Any
) -> Any:
    """Return the model's per-period lift of each lift test, scaled units.

    The steady-state contribution at spend ``x + delta_x`` per period minus that at ``x`` (what
    :func:`mmm_workbench.simulate.truth.lift_test_truth`'s ``delta_y`` measures, up to the adstock's
    ramp-up), for the test's channel (``channel_index``).

    The steady state is :func:`media_graph` itself on ``l_max`` periods of constant spend,
    last period: ``beta * saturation(x * sum(w))`` (adstock first) or ``beta *
    saturation(x) * sum(w)`` (saturation first), ``sum(w) = 1`` for a normalized kernel.
    """
    per_test = {
        name: value[channel_index] if getattr(value, "ndim", 0) == 1 else value
        for name, value in params.items()
    }
    l_max = spec.adstock.l_max

    def steady(level: Any) -> Any:
        constant = pt.repeat(level[None, :], l_max, axis=0)  # (l_max, test)
        return media_graph(spec, constant, per_test)[-1]

    return steady(x + delta_x) - steady(x)


@dataclass(frozen=True, kw_only=True)
class MediaModel:
    """A model's media transform and what is needed to turn its draws into estimands.

    Attributes
    ----------
    free
        Names of the estimated media parameters (inputs of ``media``).
    media
        Compiled ``(free params with a leading sample axis..., spend (T, 1, C)) ->
        contributions (T, S, C)`` in scaled units, for counterfactual spend.
    """

    spec: ModelSpec
    free: tuple[str, ...]
    media: Any

    def estimands(
        self,
        data: ModelData,
        draws: Mapping[str, Array],
        x_scale: Array,
        multipliers: Array,
    ) -> xr.Dataset:
        """Posterior draws of every estimand, in the data's units, over ``sample``.

        Parameters
        ----------
        data
            The replicate's data (for its scales and spend).
        draws
            Draws by variable name, sample axis first: the free media parameters and
            ``sigma``; ``channel_contribution`` and ``mu`` where the sampler computed them
            (prior draws lack them: contributions are then computed here and ``baseline``
            is left out).
        x_scale
            The data-generating process's spend unit per channel (``truth.x_scale``):
            transform parameters are expressed in its parameterization.
        multipliers
            Spend multipliers of the response curve.
        """
        ys = data.target_scale
        spend_total = data.spend.sum(axis=0)
        params = self.media_inputs(draws)
        window = len(data.spend)
        extended = self.media_spend(data)
        if "channel_contribution" in draws:
            contrib = np.asarray(draws["channel_contribution"]) * ys  # (S, T, C)
        else:
            contrib = (self.media_path(params, extended[:window]) * ys).transpose(1, 0, 2)
        total = contrib.sum(axis=1)

        scales = [0.0, 1.0, 1.0 + MROAS_STEP, *(float(m) for m in multipliers)]
        summed = self.window_totals(params, extended, window, scales) * ys  # (K, S, C)
        effects = summed[1:] - summed[0]  # minus the window's spend switched off
        factual, plus = effects[0], effects[1]
        response = np.moveaxis(effects[2:], 0, -1)  # (S, C, M)
        sample, chan, date = ("sample",), ("sample", "channel"), ("sample", "date", "channel")
        out: dict[str, Any] = {
            "channel_contribution": (date, contrib),
            "contribution_total": (chan, total),
            "contribution_share": (chan, total / data.target.sum()),
            "roas": (chan, factual / spend_total),
            "mroas": (chan, (plus - factual) / (MROAS_STEP * spend_total)),
            "response": (("sample", "channel", "multiplier"), response),
            "sigma": (sample, np.asarray(draws["sigma"]) * ys),
        }
        if "mu" in draws:
            mu = np.asarray(draws["mu"]) * ys
            out["baseline"] = (("sample", "date"), mu - contrib.sum(axis=-1))
            loglik = self._log_likelihood(data.target, mu, out["sigma"][1], draws)
            if loglik is not None:
                out["log_likelihood"] = (sample, loglik)
        n_ch = len(data.channels)
        for p in param_names("adstock", self.spec.adstock.kind):
            out[f"adstock_{p}"] = (chan, self._param(draws, f"adstock_{p}", n_ch))
        sat = {
            p: self._param(draws, f"saturation_{p}", n_ch)
            for p in param_names("saturation", self.spec.saturation.kind)
        }
        rescale = SATURATIONS[self.spec.saturation.kind].rescale
        assert rescale is not None
        converted, factor = rescale(sat, data.spend_scale / x_scale)
        for p, value in converted.items():
            out[f"saturation_{p}"] = (chan, np.broadcast_to(value, total.shape))
        beta = self._param(draws, "saturation_beta", n_ch)
        out["saturation_beta"] = (chan, beta * ys * factor)
        return xr.Dataset(
            out,
            coords={"date": data.dates, "channel": list(data.channels), "multiplier": multipliers},
        )

    def media_inputs(self, draws: Mapping[str, Array]) -> list[Array]:
        """Return the compiled media function's parameter inputs from the draws (``free``)."""
        return [np.asarray(draws[name]) for name in self.free]

    def media_spend(self, data: ModelData) -> Array:
        """Return the scaled spend the estimands' counterfactuals scale, ``(date, channel)``.

        The causal scope of the truth (``simulate/truth.py``): the training window's spend
        (the first ``len(data.spend)`` rows, which the counterfactuals scale by ``m``), then
        the holdout's realized spend and ``l_max - 1`` periods of none, so that the
        window's carry-over into the holdout and past the data's end is counted (the
        model's own kernel length).
        """
        after = data.after if data.after.size else np.zeros((0, len(data.channels)))
        tail = np.zeros((self.spec.adstock.l_max - 1, len(data.channels)))
        extended: Array = np.concatenate([data.spend, after, tail]) / data.spend_scale
        return extended

    def media_path(self, params: list[Array], spend: Array) -> Array:
        """Return every channel's contribution, ``(date, sample, channel)``, scaled units.

        ``spend`` is :meth:`media_spend`'s (its rows possibly cut or scaled); ``params``
        :meth:`media_inputs`'.
        """
        return np.asarray(self.media(*params, spend[:, None, :]), dtype=float)

    def window_totals(
        self, params: list[Array], spend: Array, window: int, scales: list[float]
    ) -> Array:
        """Return the summed contributions with the window's spend scaled, ``(K, S, C)``.

        For each of ``scales`` (``K`` of them): :meth:`media_path` of ``spend``
        (:meth:`media_spend`'s) with its first ``window`` rows times that scale, summed over
        time, scaled units.

        Where the media transform is adstock first and compiled by :func:`compile_media`
        (``media.halves``), the adstock, a linear convolution, runs twice and not once per
        scale: ``adstock(s x_window + x_after) = s adstock(x_window) + adstock(x_after)``,
        so only the saturation is evaluated per scale (the same numbers to rounding,
        ``tests/recover/test_media_totals.py``; on ``confounded-demand``'s 400 draws and 24
        scales, 126 against 303 CPU ms). Models that compute their own paths (the geo
        models override :meth:`media_path`) take every scale through :meth:`media_path`.
        """
        halves = getattr(self.media, "halves", None)
        if halves is None or type(self).media_path is not MediaModel.media_path:
            out = []
            for scale in scales:
                x = spend.copy()
                x[:window] *= scale
                out.append(self.media_path(params, x).sum(axis=0))
            return np.stack(out)
        adstocked, summed = halves
        inside, after = spend.copy(), spend.copy()
        inside[window:] = 0.0
        after[:window] = 0.0
        a_in = np.asarray(adstocked(*params, inside[:, None, :]), dtype=float)
        a_after = np.asarray(adstocked(*params, after[:, None, :]), dtype=float)
        totals = [np.asarray(summed(*params, a_in, a_after, s), dtype=float) for s in scales]
        return np.stack(totals)

    def _log_likelihood(
        self, y: Array, mu: Array, sigma: Array, draws: Mapping[str, Array]
    ) -> Array | None:
        """Return the log density of the training target per draw, data units, ``(sample,)``.

        The SBC test quantity of Modrak et al. (2023), the twin of the truth's
        ``log_likelihood`` (:func:`mmm_workbench.simulate.truth.log_likelihood`): the
        model's likelihood at each draw's ``mu`` and ``sigma`` (and ``nu`` for a Student-t
        likelihood; ``None`` where the draws lack it).
        """
        s = sigma[:, None]
        z = (y[None, :] - mu) / s
        if self.spec.likelihood == "student_t":
            if "nu" not in draws:
                return None
            nu = np.asarray(draws["nu"], dtype=float)[:, None]
            const = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
            density = const - 0.5 * np.log(nu * np.pi) - (nu + 1) / 2 * np.log1p(z**2 / nu)
        else:
            density = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
        result: Array = (density - np.log(s)).sum(axis=1)
        return result

    def _param(self, draws: Mapping[str, Array], name: str, n_ch: int) -> Array:
        role, param = name.split("_", 1)
        fixed = (self.spec.adstock if role == "adstock" else self.spec.saturation).params
        if name != "saturation_beta" and param in fixed:
            first = np.asarray(draws["sigma"])
            return np.full((len(first), n_ch), fixed[param])
        value = np.asarray(draws[name], dtype=float)
        return value if value.ndim == 2 else np.repeat(value[:, None], n_ch, axis=1)


def fixed_transform_params(spec: ModelSpec) -> dict[str, Any]:
    """Return the transform parameters the model fixes, by estimand name (``adstock_alpha``).

    Parameters
    ----------
    spec
        The model's specification; a parameter given in its adstock or saturation table
        is fixed (one number, or one per channel).

    Returns
    -------
    dict
        ``{role_param: float array}`` for every fixed parameter; free ones are absent.
    """
    fixed: dict[str, Any] = {}
    for role, transform in (("adstock", spec.adstock), ("saturation", spec.saturation)):
        for p in param_names(role, transform.kind):
            if p in transform.params:
                fixed[f"{role}_{p}"] = np.asarray(transform.params[p], dtype=float)
    return fixed


def compile_media(
    spec: ModelSpec, free: tuple[str, ...], shared: bool, n_ch: int, periods: int
) -> Any:
    """Compile the media graph batched over posterior draws.

    ``(free params with a leading sample axis..., spend (T, 1, C)) -> contributions (T, S, C)``,
    scaled units.

    ``shared`` transform parameters have shape ``(S,)``, per-channel ones (and
    ``saturation_beta``) ``(S, C)``; parameters not in ``free`` are fixed in ``spec``
    (one number, or one per channel).
    """
    params: dict[str, Any] = fixed_transform_params(spec)
    inputs = []
    for name in free:
        one = shared and name != "saturation_beta"
        var = pt.vector(name) if one else pt.matrix(name)
        inputs.append(var)
        params[name] = var[:, None] if one else var
    x = pt.tensor3("spend", shape=(None, 1, None))
    whole = compile_function([*inputs, x], media_graph(spec, x, params))
    probe = [np.full((1,) if i.ndim == 1 else (1, n_ch), 0.5) for i in inputs]
    whole(*probe, np.zeros((periods, 1, n_ch)))  # link lazily-linked code now, not in a fit
    if spec.order != "adstock_first":
        return CompiledMedia(whole=whole)
    adstock_out = _adstock_graph(spec, x, params)
    adstocked = compile_function([*inputs, x], adstock_out, on_unused_input="ignore")
    # the adstocked spend's own type: its sample axis is static 1 where no adstock
    # parameter is free, and broadcasts against beta's draws
    inside, after = adstock_out.type("inside"), adstock_out.type("after")
    scale = pt.dscalar("scale")
    contributions = _saturation_graph(spec, scale * inside + after, params)
    summed = compile_function(  # one fused loop: saturation and the sum over time
        [*inputs, inside, after, scale],
        (params["saturation_beta"] * contributions).sum(axis=0),
        on_unused_input="ignore",
    )
    zeros = np.zeros((periods, 1, n_ch))
    adstocked(*probe, zeros)
    summed(*probe, zeros, zeros, 1.0)
    return CompiledMedia(whole=whole, halves=(adstocked, summed))


@dataclass(frozen=True)
class CompiledMedia:
    """The compiled media transform: called as the whole, with its halves where they split.

    Attributes
    ----------
    whole
        ``(free params..., spend (T, 1, C)) -> contributions (T, S, C)``, scaled units.
    halves
        For an adstock-first model, ``whole`` in two halves: ``(free params..., spend) ->
        adstocked spend (T, S, C)`` and ``(free params..., inside, after, scale) ->`` the
        contributions of the adstocked spend ``scale * inside + after``, summed over time
        ``(S, C)`` (:meth:`MediaModel.window_totals` runs the linear adstock twice, not once
        for every scale); ``None`` for saturation first.
    """

    whole: Any
    halves: tuple[Any, Any] | None = None

    def __call__(self, *args: Any) -> Any:
        """Return ``whole(*args)``."""
        return self.whole(*args)
