"""Frozen, validated specifications of a scenario's data-generating process.

Instances are built by :func:`mmm_workbench.scenarios.load.load_scenario` (which validates every
field and names the offending path and value), never mutated, and consumed by
:func:`mmm_workbench.simulate.generate`. Every class is keyword-only so that a spec reads like the
TOML it came from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ChannelSpec",
    "ConstantTrend",
    "DataSpec",
    "DemandSpec",
    "EventSpec",
    "FitSpec",
    "FlightingSpec",
    "FourierSpec",
    "GridAxis",
    "LiftTestSpec",
    "LinearTrend",
    "LogTrend",
    "MediationSpec",
    "ModelSpec",
    "NoiseSpec",
    "PiecewiseTrend",
    "PowerTrend",
    "PriorSpec",
    "ProxySpec",
    "Scenario",
    "ShockSpec",
    "SpendSpec",
    "StretchSpec",
    "TransformSpec",
    "Trend",
    "spec_hash",
    "spec_to_dict",
]


@dataclass(frozen=True, kw_only=True)
class TransformSpec:
    """One media transformation: a registered family and its parameters.

    ``l_max`` and ``normalize`` apply to adstock families only (``l_max`` is the number
    of weights, lag 0 included, as in pymc-marketing).
    """

    kind: str
    params: Mapping[str, float]
    l_max: int = 0
    normalize: bool = True


@dataclass(frozen=True, kw_only=True)
class ConstantTrend:
    """``trend_t = level``."""

    level: float = 1.0


@dataclass(frozen=True, kw_only=True)
class LinearTrend:
    """``trend_t = level + slope * t`` with ``t`` the period index (0, 1, ...)."""

    level: float
    slope: float


@dataclass(frozen=True, kw_only=True)
class PowerTrend:
    """``trend_t = (start + (stop - start) * s_t) ** exponent + shift``, ``s_t`` = linspace(0, 1).

    The confounded-demand article's ``(linspace(0, 20) + 5) ** (1/8) - 1`` is
    ``start = 5, stop = 25, exponent = 0.125, shift = -1``.
    """

    start: float
    stop: float
    exponent: float
    shift: float = 0.0


@dataclass(frozen=True, kw_only=True)
class LogTrend:
    """``trend_t = log(start + (stop - start) * s_t) + shift``, ``s_t`` = linspace(0, 1)."""

    start: float
    stop: float
    shift: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PiecewiseTrend:
    """Piecewise-linear trend: ``level + slope * t`` plus a slope change at each changepoint.

    ``changepoints`` holds ``(period_index, slope_change)`` pairs in increasing order.
    """

    level: float
    slope: float
    changepoints: tuple[tuple[int, float], ...]


Trend = ConstantTrend | LinearTrend | PowerTrend | LogTrend | PiecewiseTrend


@dataclass(frozen=True, kw_only=True)
class FourierSpec:
    """Fourier seasonality: ``sum_k sin[k] sin(2 pi (k+1) t / period) + cos[k] cos(...)``."""

    period: float
    sin: tuple[float, ...]
    cos: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class DemandSpec:
    """Latent demand: ``scale * (trend * (1 + seasonality) + e)`` with AR(1) noise ``e``.

    ``e_t = rho * e_{t-1} + N(0, noise_sd)``, started from its stationary distribution.
    ``effect`` is demand's coefficient in the target (sales += effect * demand).
    """

    scale: float = 1.0
    trend: Trend = field(default_factory=ConstantTrend)
    seasonality: tuple[FourierSpec, ...] = ()
    day_of_week: tuple[float, ...] = ()
    noise_sd: float = 0.0
    rho: float = 0.0
    effect: float = 1.0


@dataclass(frozen=True, kw_only=True)
class ProxySpec:
    """Observed demand proxy: ``|demand_{t-lag} * (1 + bias) * N(1, noise_sd)|``.

    ``noise_sd = 0``, ``bias = 0``, ``lag = 0`` make it a perfect control.
    """

    name: str = "demand_proxy"
    noise_sd: float = 0.0
    bias: float = 0.0
    lag: int = 0


@dataclass(frozen=True, kw_only=True)
class EventSpec:
    """A holiday or event: an additive pulse of ``effect`` sales units lasting ``duration``
    periods from each date; observed by the modeller as the indicator ``event_<name>``."""

    name: str
    dates: tuple[str, ...]
    effect: float
    duration: int = 1


@dataclass(frozen=True, kw_only=True)
class FlightingSpec:
    """On/off bursts: a two-state Markov chain with mean run lengths in periods."""

    on_mean: float
    off_mean: float


@dataclass(frozen=True, kw_only=True)
class StretchSpec:
    """A stretch of ``periods`` periods starting at period index ``start`` with no spend."""

    start: int
    periods: int


@dataclass(frozen=True, kw_only=True)
class ShockSpec:
    """A budget shock: spend multiplied by ``factor`` for ``periods`` periods from ``start``."""

    start: int
    periods: int
    factor: float


@dataclass(frozen=True, kw_only=True)
class SpendSpec:
    """How a channel's spend is planned.

    ``spend_t = |demand_share * driver_t * noise_t|`` with
    ``driver_t = mean(demand) + demand_strength * (demand_t - mean(demand))``, so strength 1
    ties spend to demand (confounding) and 0 plans it at a constant level.
    ``noise = "normal"`` draws ``N(1, noise_sd)`` (correlated across channels through
    ``DataSpec.spend_correlation``); ``"lognormal"`` draws ``exp(N(0, noise_sd))``.
    """

    demand_share: float
    demand_strength: float = 1.0
    noise_sd: float = 0.0
    noise: Literal["normal", "lognormal"] = "normal"
    flighting: FlightingSpec | None = None
    dark: tuple[StretchSpec, ...] = ()
    shocks: tuple[ShockSpec, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ChannelSpec:
    """A media channel: spend plan, transforms and effect size.

    The transforms see ``spend / x_scale``; ``x_scale = "max"`` divides by the channel's
    maximum spend over all periods of the realized dataset (max-abs scaling, as in the
    confounded-demand article), a number divides by that fixed amount.
    """

    name: str
    spend: SpendSpec
    adstock: TransformSpec
    saturation: TransformSpec
    beta: float
    order: Literal["adstock_first", "saturation_first"] = "adstock_first"
    x_scale: float | Literal["max"] = "max"


@dataclass(frozen=True, kw_only=True)
class MediationSpec:
    """Channel-to-channel effect: ``source``'s normalized adstocked activity ``a_t`` (in
    [0, 1]) multiplies ``target``'s spend or effect by ``1 + strength * a_t``."""

    source: str
    target: str
    on: Literal["spend", "effect"]
    strength: float


@dataclass(frozen=True, kw_only=True)
class NoiseSpec:
    """Observation noise. Additive model: ``normal`` and ``student_t`` are added to the
    mean, ``lognormal`` multiplies it by ``exp(N(0, sd))``. Multiplicative model: the noise
    is added on the log scale."""

    kind: Literal["normal", "student_t", "lognormal"] = "normal"
    sd: float = 0.0
    nu: float = 5.0


@dataclass(frozen=True, kw_only=True)
class LiftTestSpec:
    """A lift test: ``channel``'s spend changed by the fraction ``spend_change`` for
    ``periods`` periods from period index ``start``; measured with noise sd ``sigma``
    (data units per period) or ``sigma_rel`` times the true lift."""

    channel: str
    start: int
    periods: int
    spend_change: float
    sigma: float | None = None
    sigma_rel: float | None = None


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Everything the data-generating process needs (the ``[data]`` table)."""

    periods: int
    freq: Literal["W", "D"] = "W"
    start: str = "2021-01-01"
    train_periods: int
    target: str = "sales"
    model: Literal["additive", "multiplicative"] = "additive"
    intercept: float = 0.0
    demand: DemandSpec
    proxy: ProxySpec | None = None
    events: tuple[EventSpec, ...] = ()
    channels: tuple[ChannelSpec, ...]
    spend_correlation: tuple[tuple[float, ...], ...] = ()
    total_budget: float | None = None
    mediation: tuple[MediationSpec, ...] = ()
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    lift_tests: tuple[LiftTestSpec, ...] = ()
    response_multipliers: tuple[float, ...] = tuple(round(0.1 * i, 10) for i in range(21))

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Channel names in spec order."""
        return tuple(c.name for c in self.channels)


@dataclass(frozen=True, kw_only=True)
class PriorSpec:
    """A prior: a PyMC distribution by name and its keyword arguments (validated by
    ``recover`` before any fitting; ``scenarios`` never imports pymc)."""

    dist: str
    args: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """The model to fit (the ``[model]`` table).

    Transform parameters given in ``adstock`` / ``saturation`` are held fixed; the others
    are estimated, per channel (``pooling = "channel"``) or one shared value
    (``"shared"``). ``priors`` maps a model parameter name (``adstock_alpha``,
    ``saturation_lam``, ``saturation_beta``, ``intercept``, ``sigma``, ``nu``,
    ``gamma_control``, ``gamma_fourier``, ``trend_slope``) to a prior in the model's
    scaled units; missing ones get documented defaults.
    """

    kind: str = "workbench"
    adstock: TransformSpec
    saturation: TransformSpec
    order: Literal["adstock_first", "saturation_first"] = "adstock_first"
    pooling: Literal["channel", "shared"] = "channel"
    controls: tuple[str, ...] = ()
    intercept: bool = True
    trend: bool = False
    seasonality_period: float = 52.0
    seasonality_order: int = 0
    likelihood: Literal["normal", "student_t"] = "normal"
    priors: Mapping[str, PriorSpec] = field(default_factory=dict)
    lift_tests: bool = False


@dataclass(frozen=True, kw_only=True)
class FitSpec:
    """How to fit (the ``[fit]`` table): backend, sampler sizes, per-backend options.

    ``keep_draws`` is how many posterior draws (over all chains, evenly thinned) each fit
    record keeps.
    """

    backend: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.8
    keep_draws: int = 400
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class GridAxis:
    """One grid axis: one or more dotted paths varied together (zipped), one value tuple
    per level."""

    paths: tuple[str, ...]
    levels: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A whole scenario file: identity, seeds, data, model, fit and grid.

    ``raw`` is the parsed TOML document the spec came from (grid cells re-validate a copy
    with their overrides applied); it takes no part in equality or hashing.
    """

    name: str
    description: str = ""
    seed: int = 0
    replicates: int = 1
    data: DataSpec
    model: ModelSpec | None = None
    fit: FitSpec = field(default_factory=FitSpec)
    grid: tuple[GridAxis, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def spec_to_dict(spec: Any) -> Any:
    """Plain ``dict``/``list`` form of a spec (for hashing, JSON and netCDF attributes)."""
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        out = {"__type__": type(spec).__name__}
        out.update(
            {
                f.name: spec_to_dict(getattr(spec, f.name))
                for f in dataclasses.fields(spec)
                if f.compare
            }
        )
        return out
    if isinstance(spec, Mapping):
        return {str(k): spec_to_dict(v) for k, v in sorted(spec.items())}
    if isinstance(spec, tuple | list):
        return [spec_to_dict(v) for v in spec]
    return spec


def spec_hash(spec: Any, length: int = 12) -> str:
    """Stable hex digest of a spec's canonical JSON form (identical specs, identical ids)."""
    canonical = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]
