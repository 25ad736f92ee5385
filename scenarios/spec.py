"""Frozen, validated specifications of a scenario: data-generating process, model, fit.

Instances are built by :func:`mmm_workbench.scenarios.load.load_scenario` (which reads every
field and names the offending path and value), never mutated, and consumed by
:func:`mmm_workbench.simulate.generate` and ``recover``. Every class is keyword-only so that
a spec reads like the TOML it came from, and checks its own invariants (ranges, lengths,
uniqueness, references between fields) in ``__post_init__``, so a spec built in Python is
as valid as one loaded from a file: a violation raises :class:`SpecError` naming the field
relative to the spec, which the loader re-raises with the file's path.

The documented maxima (``MAX_*``) keep a typo from allocating gigabytes or overflowing
the simulation; they are far beyond any marketing-mix dataset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from mmm_workbench.scenarios.errors import SpecError
from mmm_workbench.scenarios.families import (
    MAX_L_MAX,
    MAX_MAGNITUDE,
    Param,
    TransformError,
    check_params,
    fmt_value,
    get_family,
    integer_problem,
    subpath,
)
from mmm_workbench.scenarios.files import FileRef
from mmm_workbench.scenarios.truth_priors import check_truth_prior

__all__ = [
    "CALENDAR",
    "GEO_MODEL_KINDS",
    "GEO_MODEL_SPREAD",
    "GEO_MODEL_VARYING",
    "GLOBAL_PARAMETERS",
    "MAX_CHAINS",
    "MAX_DRAWS",
    "MAX_EXPONENT",
    "MAX_GEOS",
    "MAX_GEO_SPREAD",
    "MAX_LOG_EFFECT",
    "MAX_LOG_SD",
    "MAX_MAGNITUDE",
    "MAX_NAME_LENGTH",
    "MAX_PERIODS",
    "MAX_REPLICATES",
    "MAX_SCALING",
    "MAX_TUNE",
    "NO_TRANSFORM",
    "PLAN_SUFFIXES",
    "RESERVED_COLUMNS",
    "SEED_LIMIT",
    "SPEND_PATTERNS",
    "UNGRIDDED",
    "ChannelSpec",
    "ChannelTruth",
    "ConstantTrend",
    "DataSpec",
    "DemandSpec",
    "EventSpec",
    "FitSpec",
    "FlightingSpec",
    "FourierSpec",
    "GeoModelSpec",
    "GeoSpec",
    "GeoSpreadSpec",
    "GridAxis",
    "LiftTestSpec",
    "LinearTrend",
    "LogTrend",
    "MediationSpec",
    "ModelSpec",
    "NoiseSpec",
    "PatternSpec",
    "PiecewiseTrend",
    "PlanFileSpec",
    "PowerTrend",
    "PriorSpec",
    "ProxySpec",
    "Scenario",
    "ShockSpec",
    "SourceSpec",
    "SpendSpec",
    "StretchSpec",
    "TransformSpec",
    "Trend",
    "VarySpec",
    "check_run_name",
    "declared",
    "model_parameters",
    "spec_hash",
    "spec_to_dict",
]

# --------------------------------------------------------------------------- documented maxima

MAX_PERIODS = 100_000
"""``data.periods`` at most (274 years of daily data)."""
MAX_LOG_SD = 10.0
"""The largest noise sd on a log or relative scale (spend noise, log-normal and
multiplicative-model noise): ``exp(10 * z)`` is already absurd."""
MAX_EXPONENT = 3.0
"""The largest absolute exponent of a power trend, and of a root saturation in the data
(``x ** alpha``: above 1 it is no longer diminishing returns)."""
MAX_SCALING = 10.0
"""The largest factor a counterfactual or a link scales spend or an effect by: response
multipliers, ``1 + spend_change`` of a lift test, ``1 + strength`` of a mediation link."""
MAX_LOG_EFFECT = 50.0
"""Multiplicative model: the channels' terms are on the log scale; ``beta`` x the
saturation's bound is at most this (``exp(50)`` is 5e21)."""
MAX_NAME_LENGTH = 100
"""Names (the scenario's, channels', events', columns') are at most this long."""
SEED_LIMIT = 2**63
"""Seeds are in ``[0, 2**63)``: numpy's ``SeedSequence`` and the records' int64 attributes."""
MAX_REPLICATES = 100_000
MAX_DRAWS = 100_000
"""``fit.draws`` and ``fit.keep_draws`` at most (per chain for draws)."""
MAX_TUNE = 100_000
MAX_CHAINS = 64
CALENDAR = (dt.date(1900, 1, 1), dt.date(2200, 12, 31))
"""The dates a dataset may span (pandas' nanosecond timestamps end in 2262)."""
RESERVED_COLUMNS = ("date", "channel", "spend", "is_train", "experiment", "multiplier", "sample")
"""Names the dataset uses itself: no channel, target, proxy or event column may take one
(nor a name starting with ``lift_``)."""
UNGRIDDED = ("name", "description", "seed", "replicates", "grid")
"""Top-level keys a grid cannot vary: they belong to the run, not to a cell."""

GLOBAL_PARAMETERS = (
    "saturation_beta",
    "intercept",
    "sigma",
    "nu",
    "gamma_control",
    "gamma_fourier",
    "trend_slope",
)
"""Model parameters every workbench model may have, besides the transforms' own."""

_NEW_OPTIONAL = {"hash_if_set": True}
"""Field metadata: a field added after specs were first hashed; left out of
:func:`spec_to_dict` (and so of cell ids and seeds) while it is empty, so the specs that
do not use it keep their ids and data bit for bit."""

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

# --------------------------------------------------------------------------- checks


def _real(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Require a finite real number in the interval, else :class:`SpecError`."""
    param = Param(name=name, low=low, high=high, low_open=low_open, high_open=high_open)
    reason = param.problem(value)
    if reason is not None:
        raise SpecError.invalid(name, value, reason)


def _amount(
    name: str, value: object, *, low: float = -MAX_MAGNITUDE, low_open: bool = False
) -> None:
    """Require a real number in ``[low, MAX_MAGNITUDE]`` (``low`` defaults to ``-MAX_MAGNITUDE``).

    A positive amount (``low = 0``, open) is at least ``1 / MAX_MAGNITUDE``.
    """
    if low == 0 and low_open:
        low, low_open = 1 / MAX_MAGNITUDE, False
    _real(name, value, low=low, high=MAX_MAGNITUDE, low_open=low_open)


def _integer(name: str, value: object, *, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError.invalid(name, value, integer_problem(value))
    if value < low:
        raise SpecError.invalid(name, value, f"must be >= {low}")
    if high is not None and value > high:
        raise SpecError.invalid(name, value, f"must be <= {high}")


def _choice(name: str, value: object, options: Sequence[str]) -> None:
    if value not in options:
        raise SpecError.invalid(name, value, f"must be one of {', '.join(options)}")


def _column(name: str, value: object) -> None:
    """Require a column name of the dataset.

    A letter or ``_`` then letters, digits, ``_``, ``-``.
    """
    if not isinstance(value, str):
        raise SpecError.invalid(name, value, "must be a string")
    if len(value) > MAX_NAME_LENGTH:
        raise SpecError.invalid(name, value, f"longer than {MAX_NAME_LENGTH} characters")
    if not _COLUMN.fullmatch(value):
        raise SpecError.invalid(
            name, value, "must start with a letter or _ and hold only letters, digits, _ and -"
        )


def check_run_name(value: object) -> str:
    """Return a scenario name, which names its run directory (``runs/<name>``).

    Parameters
    ----------
    value
        The candidate name.

    Returns
    -------
    str
        The name: 1 to 100 ASCII letters, digits, ``.``, ``_`` or ``-``, starting with a
        letter or digit, so never empty, ``.``, ``..``, a path or a control character.

    Raises
    ------
    SpecError
        ``name = '../../z': must start with ...``.
    """
    if not isinstance(value, str):
        raise SpecError.invalid("name", value, "must be a string")
    if len(value) > MAX_NAME_LENGTH:
        raise SpecError.invalid("name", value, f"longer than {MAX_NAME_LENGTH} characters")
    if not _RUN_NAME.fullmatch(value):
        raise SpecError.invalid(
            "name",
            value,
            "must start with a letter or digit and hold only letters, digits, '.', '_' and '-' "
            "(it names the run directory; use --out to write elsewhere)",
        )
    return value


def _date(name: str, value: object) -> dt.date:
    if not isinstance(value, str):
        raise SpecError.invalid(name, value, "must be an ISO date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SpecError.invalid(name, value, "must be an ISO date (YYYY-MM-DD)") from None


def _option(name: str, value: object) -> None:
    """Require a backend option.

    A string, number or boolean, or an array or table of them (the backend checks names and
    meanings; dates mean nothing to a sampler).
    """
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _option(f"{name}[{i}]", item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _option(subpath(name, key), item)
    elif not isinstance(value, str | int | float | bool):
        raise SpecError.invalid(
            name, value, "backend options must be strings, numbers, booleans, arrays or tables"
        )


def _unique(name: str, values: Sequence[object], what: str) -> None:
    seen: set[object] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise SpecError.invalid(f"{name}[{i}]", value, f"duplicate {what}")
        seen.add(value)


def _transform(name: str, role: str, spec: TransformSpec, *, complete: bool) -> None:
    """Family declared, parameters admissible (all of them when ``complete``), ``l_max``."""
    try:
        family = get_family(role, spec.kind, name)
        if complete:
            check_params(role, spec.kind, spec.params, name)
        else:
            for key, value in spec.params.items():
                if key not in family.param_names:
                    raise TransformError(
                        f"{subpath(name, key)} = {fmt_value(value)}: unknown parameter of "
                        f"{family.name} "
                        f"{role}; expected one of: {', '.join(family.param_names)}"
                    )
                param = family.params[family.param_names.index(key)]
                if isinstance(value, tuple):  # a model's per-channel fixed values
                    if not value:
                        raise TransformError(f"{name}.{key} = []: one number, or one per channel")
                    for i, v in enumerate(value):
                        param.check(v, f"{name}.{key}[{i}]")
                else:
                    param.check(value, f"{name}.{key}")
    except TransformError as err:
        raise SpecError.below(name, str(err)) from None
    if role == "adstock":
        if not isinstance(spec.normalize, bool):
            raise SpecError.invalid(f"{name}.normalize", spec.normalize, "must be true or false")
        _integer(f"{name}.l_max", spec.l_max, low=1, high=MAX_L_MAX)
        if not spec.normalize and spec.l_max < family.min_l_max_unnormalized:
            raise SpecError.invalid(
                f"{name}.l_max",
                spec.l_max,
                f"{family.name} adstock needs l_max >= {family.min_l_max_unnormalized} "
                "unless normalize = true (degenerate kernel)",
            )


def model_parameters(adstock: str, saturation: str) -> tuple[str, ...]:
    """Names a prior may target for these transform families."""
    out = [f"adstock_{p.name}" for p in get_family("adstock", adstock, "adstock").params]
    out += [f"saturation_{p.name}" for p in get_family("saturation", saturation, "").params]
    return (*out, *GLOBAL_PARAMETERS)


@dataclass(frozen=True, kw_only=True)
class TransformSpec:
    """One media transformation: a declared family and its parameters.

    ``l_max`` and ``normalize`` apply to adstock families only (``l_max`` is the number
    of weights, lag 0 included, as in pymc-marketing). The family and parameters are
    checked by the spec that holds the transform (:class:`ChannelSpec`, :class:`ModelSpec`),
    which knows its role.
    """

    kind: str
    params: Mapping[str, Any]
    """Parameter values, floats. A model's transform (:class:`ModelSpec`) may also hold a
    tuple of floats, one per channel (fixed per channel); a data channel's may not."""
    l_max: int = 0
    normalize: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.params, Mapping):
            raise SpecError.invalid("params", self.params, "must be a mapping")


@dataclass(frozen=True, kw_only=True)
class ConstantTrend:
    """``trend_t = level``."""

    level: float = 1.0

    def __post_init__(self) -> None:
        _amount("level", self.level)


@dataclass(frozen=True, kw_only=True)
class LinearTrend:
    """``trend_t = level + slope * t`` with ``t`` the period index (0, 1, ...)."""

    level: float
    slope: float

    def __post_init__(self) -> None:
        _amount("level", self.level)
        _amount("slope", self.slope)


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

    def __post_init__(self) -> None:
        _amount("start", self.start, low=0.0)
        _amount("stop", self.stop, low=0.0)
        _real("exponent", self.exponent, low=-MAX_EXPONENT, high=MAX_EXPONENT)
        _amount("shift", self.shift)
        if self.exponent < 0 and min(self.start, self.stop) < 1 / MAX_MAGNITUDE:
            raise SpecError.invalid(
                "exponent",
                self.exponent,
                f"a negative exponent needs start and stop >= {1 / MAX_MAGNITUDE:g}",
            )


@dataclass(frozen=True, kw_only=True)
class LogTrend:
    """``trend_t = log(start + (stop - start) * s_t) + shift``, ``s_t`` = linspace(0, 1)."""

    start: float
    stop: float
    shift: float = 0.0

    def __post_init__(self) -> None:
        _amount("start", self.start, low=1 / MAX_MAGNITUDE)
        _amount("stop", self.stop, low=1 / MAX_MAGNITUDE)
        _amount("shift", self.shift)


@dataclass(frozen=True, kw_only=True)
class PiecewiseTrend:
    """Piecewise-linear trend: ``level + slope * t`` plus a slope change at each changepoint.

    ``changepoints`` holds ``(period_index, slope_change)`` pairs in increasing order.
    """

    level: float
    slope: float
    changepoints: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        _amount("level", self.level)
        _amount("slope", self.slope)
        previous = 0
        for i, point in enumerate(self.changepoints):
            if not isinstance(point, tuple) or len(point) != 2:
                raise SpecError.invalid(f"changepoints[{i}]", point, "must be a pair (at, change)")
            _integer(f"changepoints[{i}].at", point[0], low=previous + 1, high=MAX_PERIODS)
            _amount(f"changepoints[{i}].slope_change", point[1])
            previous = point[0]


Trend = ConstantTrend | LinearTrend | PowerTrend | LogTrend | PiecewiseTrend


@dataclass(frozen=True, kw_only=True)
class FourierSpec:
    """Fourier seasonality: ``sum_k sin[k] sin(2 pi (k+1) t / period) + cos[k] cos(...)``."""

    period: float
    sin: tuple[float, ...]
    cos: tuple[float, ...]

    def __post_init__(self) -> None:
        _real("period", self.period, low=0.0, high=MAX_PERIODS, low_open=True)
        if not self.sin or len(self.sin) != len(self.cos):
            raise SpecError.wrong(
                "", "give 'sin' and 'cos' coefficients of equal length (at least one)"
            )
        for key in ("sin", "cos"):
            for i, value in enumerate(getattr(self, key)):
                _amount(f"{key}[{i}]", value)


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

    def __post_init__(self) -> None:
        _amount("scale", self.scale, low=0.0, low_open=True)
        if len(self.day_of_week) not in (0, 7):
            raise SpecError.invalid(
                "day_of_week", list(self.day_of_week), "needs exactly 7 effects, Monday first"
            )
        for i, value in enumerate(self.day_of_week):
            _amount(f"day_of_week[{i}]", value)
        _amount("noise_sd", self.noise_sd, low=0.0)
        _real("rho", self.rho, low=-1.0, high=1.0, low_open=True, high_open=True)
        _amount("effect", self.effect)


@dataclass(frozen=True, kw_only=True)
class ProxySpec:
    """Observed demand proxy: ``|demand_{t-lag} * (1 + bias) * N(1, noise_sd)|``.

    ``noise_sd = 0``, ``bias = 0``, ``lag = 0`` make it a perfect control.
    """

    name: str = "demand_proxy"
    noise_sd: float = 0.0
    bias: float = 0.0
    lag: int = 0

    def __post_init__(self) -> None:
        _column("name", self.name)
        _real("noise_sd", self.noise_sd, low=0.0, high=MAX_LOG_SD)
        _amount("bias", self.bias, low=-1.0, low_open=True)
        _integer("lag", self.lag, low=0, high=MAX_PERIODS - 1)


@dataclass(frozen=True, kw_only=True)
class EventSpec:
    """A holiday or event.

    An additive pulse of ``effect`` sales units lasting ``duration`` periods from each date;
    observed by the modeller as the indicator ``event_<name>``.
    """

    name: str
    dates: tuple[str, ...]
    effect: float
    duration: int = 1

    def __post_init__(self) -> None:
        _column("name", self.name)
        for i, day in enumerate(self.dates):
            _date(f"dates[{i}]", day)
        _amount("effect", self.effect)
        _integer("duration", self.duration, low=1, high=MAX_PERIODS)


@dataclass(frozen=True, kw_only=True)
class FlightingSpec:
    """On/off bursts: a two-state Markov chain with mean run lengths in periods."""

    on_mean: float
    off_mean: float

    def __post_init__(self) -> None:
        _real("on_mean", self.on_mean, low=1.0, high=MAX_PERIODS)
        _real("off_mean", self.off_mean, low=1.0, high=MAX_PERIODS)


@dataclass(frozen=True, kw_only=True)
class StretchSpec:
    """A stretch of ``periods`` periods starting at period index ``start`` with no spend."""

    start: int
    periods: int

    def __post_init__(self) -> None:
        _integer("start", self.start, low=0, high=MAX_PERIODS - 1)
        _integer("periods", self.periods, low=1, high=MAX_PERIODS)


@dataclass(frozen=True, kw_only=True)
class ShockSpec:
    """A budget shock: spend multiplied by ``factor`` for ``periods`` periods from ``start``."""

    start: int
    periods: int
    factor: float

    def __post_init__(self) -> None:
        _integer("start", self.start, low=0, high=MAX_PERIODS - 1)
        _integer("periods", self.periods, low=1, high=MAX_PERIODS)
        _amount("factor", self.factor, low=0.0)


SPEND_PATTERNS: Mapping[str, Mapping[str, float]] = {
    "uniform": {"low": 0.0, "high": 1.0},
    "threshold": {"q": 0.9, "factor": 0.5, "level": 1.0},
    "always_on": {"level": 1.0, "noise_sd": 0.0},
    "flighted": {"level": 1.0, "on_mean": 4.0, "off_mean": 4.0, "noise_sd": 0.0},
}
"""The synthetic spend patterns and their parameters' defaults (:class:`PatternSpec`)."""


@dataclass(frozen=True, kw_only=True)
class PatternSpec:
    """A synthetic spend pattern, drawn afresh for every replicate.

    ``kind`` is one of :data:`SPEND_PATTERNS`; ``params`` holds its parameters (missing ones
    take the defaults there). With ``u_t ~ U(0, 1)`` and ``z_t ~ N(0, 1)``:

    - ``uniform``: ``spend_t ~ U(low, high)``.
    - ``threshold``: ``spend_t = level * u_t`` if ``u_t > q``, else ``level * factor * u_t``
      (pymc-marketing's example data: ``q = 0.9, factor = 0.5`` and ``q = 0.8, factor = 0``).
    - ``always_on``: ``spend_t = level * exp(noise_sd * z_t)``.
    - ``flighted``: ``level * exp(noise_sd * z_t)`` while on, 0 while off; on/off is a
      two-state Markov chain that starts on, with mean run lengths ``on_mean`` and
      ``off_mean`` periods (as :class:`FlightingSpec`).
    """

    kind: str
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _choice("kind", self.kind, tuple(SPEND_PATTERNS))
        defaults = SPEND_PATTERNS[self.kind]
        for key in self.params:
            if key not in defaults:
                raise SpecError.wrong(
                    key,
                    f"not a parameter of the {self.kind} pattern; expected one of: "
                    f"{', '.join(defaults)}",
                )
        params = {k: self.params.get(k, v) for k, v in defaults.items()}
        object.__setattr__(self, "params", MappingProxyType(params))
        for key in ("level", "low", "high"):
            if key in params:
                _amount(key, params[key], low=0.0, low_open=key != "low")
        if self.kind == "uniform" and not params["high"] > params["low"]:
            raise SpecError.invalid("high", params["high"], f"must exceed low = {params['low']:g}")
        if self.kind == "threshold":
            _real("q", params["q"], low=0.0, high=1.0, high_open=True)
            _real("factor", params["factor"], low=0.0, high=MAX_SCALING)
        if "noise_sd" in params:
            _real("noise_sd", params["noise_sd"], low=0.0, high=MAX_LOG_SD)
        for key in ("on_mean", "off_mean"):
            if key in params:
                _real(key, params[key], low=1.0, high=MAX_PERIODS)


@dataclass(frozen=True, kw_only=True)
class VarySpec:
    """How a media plan from a file varies between replicates (seeded by the replicate).

    ``block_bootstrap``: a moving-block bootstrap of the plan: blocks of ``block``
    consecutive periods, each starting at a uniformly drawn period, laid end to end and cut
    to the plan's length (the plan's level, spikes and short-run dynamics are kept, the
    order of blocks is not). ``noise``: each period multiplied by
    ``exp(sd * z - sd**2 / 2)``, ``z ~ N(0, 1)`` (mean 1, so the expected total is kept).
    """

    kind: Literal["block_bootstrap", "noise"]
    block: int = 8
    sd: float = 0.1

    def __post_init__(self) -> None:
        _choice("kind", self.kind, ("block_bootstrap", "noise"))
        _integer("block", self.block, low=1, high=MAX_PERIODS)
        _real("sd", self.sd, low=0.0, high=MAX_LOG_SD, low_open=True)


@dataclass(frozen=True, kw_only=True)
class PlanFileSpec:
    """A media plan read from a file (CSV or Parquet): one column of it is the channel's spend.

    ``spend_t = scale * column_t + shift``. Without ``date_column`` the file has one row
    per period of the data, in order; with it, its dates must be the data's calendar
    (same start, frequency and length). The file's content is checked against the data
    (columns, length, dates, values that are missing, not numeric or negative, no spend in
    the training periods) before anything is simulated
    (:func:`mmm_workbench.simulate.check_data`); ``scenarios`` never reads it.
    """

    file: FileRef
    column: str
    date_column: str | None = None
    scale: float = 1.0
    shift: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.file, FileRef):
            raise SpecError.invalid("file", self.file, "must be a FileRef (scenarios.files)")
        if not isinstance(self.column, str) or not self.column:
            raise SpecError.invalid("column", self.column, "must be a column's name")
        if self.date_column is not None and (
            not isinstance(self.date_column, str) or not self.date_column
        ):
            raise SpecError.invalid("date_column", self.date_column, "must be a column's name")
        if self.file.suffix not in PLAN_SUFFIXES:
            raise SpecError.invalid(
                "file", self.file.path, f"must be a {' or '.join(PLAN_SUFFIXES)} file"
            )
        _amount("scale", self.scale, low=0.0, low_open=True)
        _amount("shift", self.shift)


PLAN_SUFFIXES = (".csv", ".parquet")
"""The file formats a media plan or a dataset may have."""


@dataclass(frozen=True, kw_only=True)
class SpendSpec:
    """How a channel's spend is planned: driven by demand, a synthetic pattern, or a file.

    Exactly one of three forms (``scenario: data.channels[i].spend``):

    - **demand-driven** (``demand_share``): ``spend_t = |demand_share * driver_t * noise_t|``
      with ``driver_t = mean(demand) + demand_strength * (demand_t - mean(demand))``, so
      strength 1 ties spend to demand (confounding) and 0 plans it at a constant level.
      ``noise = "normal"`` draws ``N(1, noise_sd)`` (correlated across channels through
      ``DataSpec.spend_correlation``); ``"lognormal"`` draws ``exp(N(0, noise_sd))``;
      ``flighting`` switches it on and off. ``demand_share`` is positive: a channel that
      never spends has no return to estimate.
    - **a pattern** (``pattern = "uniform"`` and its parameters, :class:`PatternSpec`),
      independent of demand, drawn afresh for every replicate.
    - **a file** (``file = "plan.csv", column = "tv"``, :class:`PlanFileSpec`): the plan
      itself in every replicate, or varied per replicate by ``vary``
      (:class:`VarySpec`).

    Budget ``shocks`` and ``dark`` stretches apply to every form, in that order, then
    ``DataSpec.total_budget``.
    """

    demand_share: float | None = None
    demand_strength: float = 1.0
    noise_sd: float = 0.0
    noise: Literal["normal", "lognormal"] = "normal"
    flighting: FlightingSpec | None = None
    dark: tuple[StretchSpec, ...] = ()
    shocks: tuple[ShockSpec, ...] = ()
    pattern: PatternSpec | None = field(default=None, metadata=_NEW_OPTIONAL)
    plan: PlanFileSpec | None = field(default=None, metadata=_NEW_OPTIONAL)
    vary: VarySpec | None = field(default=None, metadata=_NEW_OPTIONAL)

    @property
    def form(self) -> Literal["demand", "pattern", "file"]:
        """Which of the three forms the plan takes."""
        if self.plan is not None:
            return "file"
        return "pattern" if self.pattern is not None else "demand"

    def __post_init__(self) -> None:
        given = [
            name
            for name, value in (("pattern", self.pattern), ("file", self.plan))
            if value is not None
        ]
        if len(given) > 1:
            raise SpecError.wrong(
                "", "give one of demand_share, pattern or file: they are alternative plans"
            )
        if given:
            demand_keys = [
                key
                for key, value, default in (
                    ("demand_share", self.demand_share, None),
                    ("demand_strength", self.demand_strength, 1.0),
                    ("noise_sd", self.noise_sd, 0.0),
                    ("noise", self.noise, "normal"),
                    ("flighting", self.flighting, None),
                )
                if value != default
            ]
            if demand_keys:
                raise SpecError.wrong(
                    demand_keys[0],
                    f"belongs to the demand-driven plan; a {given[0]} plan is an alternative "
                    "to it, not combined with it (drop one)",
                )
        else:
            if self.demand_share is None:
                raise SpecError.wrong(
                    "", "give demand_share, a pattern or a file (the channel needs a plan)"
                )
            _amount("demand_share", self.demand_share, low=0.0, low_open=True)
            _amount("demand_strength", self.demand_strength, low=0.0)
            _real("noise_sd", self.noise_sd, low=0.0, high=MAX_LOG_SD)
            _choice("noise", self.noise, ("normal", "lognormal"))
        if self.vary is not None and self.plan is None:
            raise SpecError.wrong(
                "vary", "varies a plan from a file only (patterns and demand are drawn anew)"
            )


@dataclass(frozen=True, kw_only=True)
class ChannelTruth:
    """What an external dataset's truth file says about one channel; every field optional.

    ``adstock``/``saturation`` are complete transforms (family and every parameter) of
    ``spend / x_scale`` and ``beta`` the channel's coefficient, as in :class:`ChannelSpec`;
    ``roas``, ``contribution_total`` and ``contribution_share`` are the estimands of the
    same names (docs/definitions.md). What is not given is fitted and shown, not scored.
    """

    name: str
    beta: float | None = None
    adstock: TransformSpec | None = None
    saturation: TransformSpec | None = None
    x_scale: float | Literal["max"] = "max"
    roas: float | None = None
    contribution_total: float | None = None
    contribution_share: float | None = None

    def __post_init__(self) -> None:
        _column("name", self.name)
        if self.beta is not None:
            _amount("beta", self.beta, low=0.0)
        if self.adstock is not None:
            _transform("adstock", "adstock", self.adstock, complete=True)
        if self.saturation is not None:
            _transform("saturation", "saturation", self.saturation, complete=True)
        if self.x_scale != "max":
            _real("x_scale", self.x_scale, low=1.0 / MAX_MAGNITUDE, high=MAX_MAGNITUDE)
        for key in ("roas", "contribution_total"):
            if getattr(self, key) is not None:
                _amount(key, getattr(self, key))
        if self.contribution_share is not None:
            _real("contribution_share", self.contribution_share, low=-MAX_SCALING, high=MAX_SCALING)


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """An external dataset fitted instead of a simulated one (``[data] source = {...}``).

    ``file`` (CSV or Parquet) has a ``date_column`` on the data's calendar, the target
    (``DataSpec.target``), one spend column per channel and the ``controls`` a model may
    use. ``truth`` is the TOML file beside it that names the channels (``[channels.<name>]``,
    :class:`ChannelTruth`) and optionally ``sigma`` (the noise sd) and ``contributions``, a
    CSV or Parquet of per-date channel contributions (``date_column`` and one column per
    channel; contribution totals and shares over the training periods follow from it where
    the truth does not give them). Every replicate is this one dataset.
    """

    file: FileRef
    truth: FileRef
    date_column: str = "date"
    controls: tuple[str, ...] = ()
    channels: tuple[ChannelTruth, ...]
    sigma: float | None = None
    contributions: FileRef | None = None
    contributions_date_column: str = "date"

    def __post_init__(self) -> None:
        for key in ("file", "truth"):
            if not isinstance(getattr(self, key), FileRef):
                raise SpecError.invalid(key, getattr(self, key), "must be a FileRef")
        for key, ref in (("file", self.file), ("contributions", self.contributions)):
            if ref is not None and ref.suffix not in PLAN_SUFFIXES:
                raise SpecError.invalid(
                    key, ref.path, f"must be a {' or '.join(PLAN_SUFFIXES)} file"
                )
        if not self.channels:
            raise SpecError.wrong("truth", "names no channel ([channels.<name>] tables)")
        _unique("channels", [c.name for c in self.channels], "channel")
        for i, name in enumerate(self.controls):
            _column(f"controls[{i}]", name)
        _unique("controls", self.controls, "control")
        if self.sigma is not None:
            _amount("sigma", self.sigma, low=0.0)


@dataclass(frozen=True, kw_only=True)
class ChannelSpec:
    """A media channel: spend plan, transforms and effect size.

    The transforms see ``spend / x_scale``; ``x_scale = "max"`` divides by the channel's
    maximum spend over all periods of the realized dataset (max-abs scaling, as in the
    confounded-demand article), a number divides by that fixed amount.

    ``priors`` maps ``beta``, ``adstock.<param>`` or ``saturation.<param>`` to a prior over
    that parameter (:mod:`mmm_workbench.scenarios.truth_priors`): each replicate draws it
    (:func:`mmm_workbench.simulate.priors.draw_truth`). The numeric field then holds the
    prior's mean, used by checks only, never simulated.
    """

    name: str
    spend: SpendSpec
    adstock: TransformSpec
    saturation: TransformSpec
    beta: float
    order: Literal["adstock_first", "saturation_first"] = "adstock_first"
    x_scale: float | Literal["max"] = "max"
    priors: Mapping[str, PriorSpec] = field(default_factory=dict, metadata=_NEW_OPTIONAL)

    def __post_init__(self) -> None:
        _column("name", self.name)
        for key, prior in self.priors.items():
            check_truth_prior(key, prior, self._support(key))
        _transform("adstock", "adstock", self.adstock, complete=True)
        _transform("saturation", "saturation", self.saturation, complete=True)
        for role in ("adstock", "saturation"):
            for key, value in getattr(self, role).params.items():
                if value != 0 and not 1 / MAX_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE:
                    raise SpecError.invalid(
                        f"{role}.{key}",
                        value,
                        f"must be 0 or between {1 / MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g} in "
                        "the data",
                    )
        if self.saturation.kind == "root":
            _real("saturation.alpha", self.saturation.params["alpha"], high=MAX_EXPONENT)
        _amount("beta", self.beta, low=0.0)
        _choice("order", self.order, ("adstock_first", "saturation_first"))
        if self.x_scale != "max":
            _real("x_scale", self.x_scale, low=1.0 / MAX_MAGNITUDE, high=MAX_MAGNITUDE)

    def _support(self, key: str) -> Param:
        """Return the values parameter ``key`` (``beta``, ``adstock.alpha``) may take."""
        if key == "beta":
            return Param(name="beta", low=0.0)
        role, _, name = key.partition(".")
        if role in ("adstock", "saturation"):
            family = get_family(role, getattr(self, role).kind, role)
            if name in family.param_names:
                return family.params[family.param_names.index(name)]
        raise SpecError.wrong(
            subpath("priors", key),
            "no such parameter of the channel; a prior may stand for beta, adstock.<param> "
            "or saturation.<param>",
        )


@dataclass(frozen=True, kw_only=True)
class MediationSpec:
    """Channel-to-channel effect.

    ``source``'s normalized adstocked activity ``a_t`` (in [0, 1]) multiplies ``target``'s spend or
    effect by ``1 + strength * a_t``.
    """

    source: str
    target: str
    on: Literal["spend", "effect"]
    strength: float

    def __post_init__(self) -> None:
        if self.source == self.target:
            raise SpecError.invalid("target", self.target, "a channel cannot mediate itself")
        _choice("on", self.on, ("spend", "effect"))
        _real("strength", self.strength, low=0.0, high=MAX_SCALING)


@dataclass(frozen=True, kw_only=True)
class NoiseSpec:
    """Observation noise.

    Additive model: ``normal`` and ``student_t`` are added to the mean, ``lognormal`` multiplies it
    by ``exp(N(0, sd))``. Multiplicative model: the noise is added on the log scale.
    """

    kind: Literal["normal", "student_t", "lognormal"] = "normal"
    sd: float = 0.0
    nu: float = 5.0

    def __post_init__(self) -> None:
        _choice("kind", self.kind, ("normal", "student_t", "lognormal"))
        _amount("sd", self.sd, low=0.0)
        if self.kind == "lognormal":
            _real("sd", self.sd, low=0.0, high=MAX_LOG_SD)
        _real("nu", self.nu, low=2.0, high=MAX_MAGNITUDE, low_open=True)


@dataclass(frozen=True, kw_only=True)
class LiftTestSpec:
    """A lift test.

    ``channel``'s spend changed by the fraction ``spend_change`` for ``periods`` periods from period
    index ``start``; measured with noise sd ``sigma`` (data units per period) or ``sigma_rel`` times
    the true lift.
    """

    channel: str
    start: int
    periods: int
    spend_change: float
    sigma: float | None = None
    sigma_rel: float | None = None

    def __post_init__(self) -> None:
        _integer("start", self.start, low=0, high=MAX_PERIODS - 1)
        _integer("periods", self.periods, low=1, high=MAX_PERIODS)
        _real("spend_change", self.spend_change, low=-1.0, high=MAX_SCALING - 1)
        if self.spend_change == 0:
            raise SpecError.invalid("spend_change", 0, "a lift test must change spend")
        if (self.sigma is None) == (self.sigma_rel is None):
            raise SpecError.wrong("", "give exactly one of 'sigma' or 'sigma_rel'")
        for key in ("sigma", "sigma_rel"):
            if getattr(self, key) is not None:
                _amount(key, getattr(self, key), low=0.0, low_open=True)


def _zero_spend(spend: SpendSpec, train: int) -> bool:
    """Whether dark stretches and zero shocks switch a channel off for every training period."""
    off = np.zeros(train, dtype=bool)
    for stretch in spend.dark:
        off[stretch.start : stretch.start + stretch.periods] = True
    for shock in spend.shocks:
        if shock.factor == 0:
            off[shock.start : shock.start + shock.periods] = True
    return bool(off.all())


MAX_GEOS = 1000
"""``data.geo.count`` at most."""
MAX_GEO_SPREAD = 5.0
"""The largest spread of a geo's true value around the national one (sd on the log or
logit scale): ``exp(5 * z)`` already puts geos orders of magnitude apart."""


@dataclass(frozen=True, kw_only=True)
class GeoSpreadSpec:
    """How far each geo's true values lie from the national ones (``[data.geo.spread]``).

    Each is the sd of a normal on the scale where the value's support is the real line:
    log for a positive value, logit for one in an interval (so every draw is admissible),
    the value itself where it is unbounded; 0 (the default) makes every geo the national
    value. Drawn per replicate, per geo (and per channel for ``beta``, ``adstock`` and
    ``saturation``), centred on the national value's log or logit: the national value is
    the geos' median.

    - ``beta``: the channel's effect per unit of size (``log beta_g ~ N(log beta, sd)``).
    - ``adstock``, ``saturation``: every parameter of the channel's families.
    - ``demand``: the level of the geo's demand per unit of size.
    - ``seasonality``: the amplitude of the geo's seasonality.
    """

    beta: float = 0.0
    adstock: float = 0.0
    saturation: float = 0.0
    demand: float = 0.0
    seasonality: float = 0.0

    def __post_init__(self) -> None:
        for key in ("beta", "adstock", "saturation", "demand", "seasonality"):
            _real(key, getattr(self, key), low=0.0, high=MAX_GEO_SPREAD)


@dataclass(frozen=True, kw_only=True)
class GeoSpec:
    """A panel world: the same world in ``count`` geos (``[data.geo]``).

    Each geo ``g`` has a size ``n_g`` (its population; ``sizes``, or ``n_g = (g + 1) **
    -size_decay``, equal sizes by default) and its share ``w_g = n_g / sum(n)``. What
    ``[data]`` states is the national world; a geo is its share of it:

    - demand: ``w_g * level_g * scale * (trend * (1 + amp_g * season) + e_g)``, its own
      AR(1) noise ``e_g``; ``level_g`` and ``amp_g`` spread around 1 (``spread``);
    - intercept and event effects: ``w_g`` times the national ones;
    - spend: the national plan (planned from the national demand, the sum over geos), split
      across geos by share: ``s_gct = S_ct * p_gct`` with ``p_gct`` proportional to
      ``w_g * exp(confounding * (r_gt - 1) + split_noise * z_gct)``, ``r_gt`` the geo's
      demand per unit of size relative to the nation's (geo-level confounding: spend
      follows the geos where demand is high) and ``z`` standard normal; the shares sum to
      1, so the geos' spend sums to the national plan exactly;
    - media: ``beta_gc = w_g * beta_c`` and transform parameters spread around the
      national ones (``spread``); a geo's ``x_scale`` is ``w_g`` times the national one
      (for ``"max"`` the maximum of the national spend, the geos' sum), so the curves
      mean the same per unit of size, and with no spread nor split noise the geos' media
      terms sum to the national world's;
    - noise: sd ``sigma * sqrt(w_g)`` (normal, Student-t: the national sum of normal
      noise has sd ``sigma``), ``sigma`` on the log scale (log-normal).

    ``names`` (default ``geo_01``, ``geo_02``, ...) label the geos.
    """

    count: int
    names: tuple[str, ...] = ()
    sizes: tuple[float, ...] = ()
    size_decay: float = 0.0
    split_noise: float = 0.0
    confounding: float = 0.0
    spread: GeoSpreadSpec = field(default_factory=GeoSpreadSpec)

    @property
    def geo_names(self) -> tuple[str, ...]:
        """The geos' names: ``names``, else ``geo_01``, ``geo_02``, ..."""
        if self.names:
            return self.names
        width = max(2, len(str(self.count)))
        return tuple(f"geo_{g + 1:0{width}d}" for g in range(self.count))

    @property
    def shares(self) -> tuple[float, ...]:
        """Each geo's share of the national size, ``w_g`` (they sum to 1)."""
        sizes = (
            self.sizes
            if self.sizes
            else tuple((g + 1.0) ** -self.size_decay for g in range(self.count))
        )
        total = math.fsum(sizes)
        return tuple(s / total for s in sizes)

    def __post_init__(self) -> None:
        _integer("count", self.count, low=2, high=MAX_GEOS)
        for key in ("names", "sizes"):
            values = getattr(self, key)
            if values and len(values) != self.count:
                raise SpecError.invalid(
                    key, list(values), f"one per geo: count = {self.count}, not {len(values)}"
                )
        for i, name in enumerate(self.names):
            _column(f"names[{i}]", name)
        _unique("names", self.names, "geo name")
        for i, size in enumerate(self.sizes):
            _amount(f"sizes[{i}]", size, low=0.0, low_open=True)
        _real("size_decay", self.size_decay, low=0.0, high=MAX_EXPONENT)
        if self.sizes and self.size_decay:
            raise SpecError.wrong(
                "size_decay", "give sizes or size_decay, not both (size_decay makes the sizes)"
            )
        _real("split_noise", self.split_noise, low=0.0, high=MAX_LOG_SD)
        _real("confounding", self.confounding, low=0.0, high=MAX_SCALING)
        if not isinstance(self.spread, GeoSpreadSpec):
            raise SpecError.invalid("spread", self.spread, "must be a GeoSpreadSpec")


_DATA_PRIORS = {
    "intercept": Param(name="intercept"),
    "noise.sd": Param(name="sd", low=0.0),
}
"""What a prior may stand for in ``[data]`` itself, with the values it may take."""


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Everything the data-generating process needs (the ``[data]`` table).

    With ``source`` (:class:`SourceSpec`) the data is an external dataset instead: only the
    calendar (``periods``, ``freq``, ``start``), ``train_periods``, ``target`` and
    ``response_multipliers`` describe it, its channels are the truth file's, and nothing is
    simulated; ``replicates`` must be 1 (every replicate would be the same data).
    """

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
    channels: tuple[ChannelSpec, ...] = ()
    spend_correlation: tuple[tuple[float, ...], ...] = ()
    total_budget: float | None = None
    mediation: tuple[MediationSpec, ...] = ()
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    lift_tests: tuple[LiftTestSpec, ...] = ()
    response_multipliers: tuple[float, ...] = tuple(round(0.1 * i, 10) for i in range(21))
    priors: Mapping[str, PriorSpec] = field(default_factory=dict, metadata=_NEW_OPTIONAL)
    """Priors over ``intercept`` and ``noise.sd`` (as a channel's ``priors``): drawn per
    replicate; the numeric fields hold the priors' means, for checks only."""
    source: SourceSpec | None = field(default=None, metadata=_NEW_OPTIONAL)
    """An external dataset fitted instead of a simulated one (:class:`SourceSpec`): the
    calendar, ``target`` and ``train_periods`` describe it; nothing else is simulated."""
    geo: GeoSpec | None = field(default=None, metadata=_NEW_OPTIONAL)
    """A panel world (:class:`GeoSpec`): the national world above in ``geo.count`` geos,
    each its share of it; ``None``: one national series."""

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Channel names in spec order."""
        if self.source is not None:
            return tuple(c.name for c in self.source.channels)
        return tuple(c.name for c in self.channels)

    @property
    def columns(self) -> tuple[str, ...]:
        """The observed columns besides ``date``: channels, proxy, events, target."""
        if self.source is not None:
            return (*self.channel_names, *self.source.controls, self.target)
        proxy = (self.proxy.name,) if self.proxy else ()
        events = tuple(f"event_{e.name}" for e in self.events)
        return (*self.channel_names, *proxy, *events, self.target)

    @property
    def controls(self) -> tuple[str, ...]:
        """The observed columns a model may take as controls."""
        if self.source is not None:
            return self.source.controls
        return (
            *((self.proxy.name,) if self.proxy else ()),
            *(f"event_{e.name}" for e in self.events),
        )

    def __post_init__(self) -> None:
        _integer("periods", self.periods, low=1, high=MAX_PERIODS)
        _choice("freq", self.freq, ("W", "D"))
        self._check_calendar()
        _integer("train_periods", self.train_periods, low=1)
        if self.train_periods > self.periods:
            raise SpecError.invalid(
                "train_periods", self.train_periods, f"exceeds data.periods = {self.periods}"
            )
        _column("target", self.target)
        if self.source is not None:
            self._check_source()
            return
        _choice("model", self.model, ("additive", "multiplicative"))
        _amount("intercept", self.intercept)
        if self.demand.day_of_week and self.freq != "D":
            raise SpecError.invalid(
                "demand.day_of_week",
                list(self.demand.day_of_week),
                "needs daily data (freq = 'D') and exactly 7 effects, Monday first",
            )
        for key, prior in self.priors.items():
            if key not in _DATA_PRIORS:
                raise SpecError.wrong(
                    subpath("priors", key),
                    f"no such parameter; a prior in [data] may stand for {', '.join(_DATA_PRIORS)}",
                )
            check_truth_prior(key, prior, _DATA_PRIORS[key])
        self._check_channels()
        self._check_columns()
        if self.proxy is not None and self.proxy.lag >= self.periods:
            raise SpecError.invalid(
                "proxy.lag", self.proxy.lag, f"must be less than data.periods = {self.periods}"
            )
        self._check_correlation()
        if self.total_budget is not None:
            _amount("total_budget", self.total_budget, low=0.0, low_open=True)
        self._check_mediation()
        if self.model == "multiplicative" and self.noise.kind == "lognormal":
            raise SpecError.invalid(
                "noise.kind",
                "lognormal",
                "the multiplicative model already adds noise on the log scale; use 'normal' "
                "or 'student_t'",
            )
        if self.model == "multiplicative":
            _real("noise.sd", self.noise.sd, low=0.0, high=MAX_LOG_SD)
        self._check_lift_tests()
        if self.geo is not None:
            self._check_geo()
        if (
            self.intercept == 0
            and self.demand.effect == 0
            and all(c.beta == 0 for c in self.channels)
            and all(e.effect == 0 for e in self.events)
            and self.noise.sd == 0
        ):
            raise SpecError.wrong(
                "",
                "the target is 0 in every period (intercept, demand.effect, every beta, "
                "event effects and noise.sd are all 0): shares of it are undefined",
            )
        for i, m in enumerate(self.response_multipliers):
            _real(f"response_multipliers[{i}]", m, low=0.0, high=MAX_SCALING)
        if self.model == "multiplicative":
            self._check_log_effects()

    def _check_geo(self) -> None:
        """Refuse what a panel world does not simulate (yet): each names its field."""
        if not isinstance(self.geo, GeoSpec):
            raise SpecError.invalid("geo", self.geo, "must be a GeoSpec")
        unsupported = (
            ("mediation", bool(self.mediation), "channel-to-channel links"),
            ("lift_tests", bool(self.lift_tests), "lift tests"),
            ("model", self.model != "additive", "the multiplicative model"),
        )
        for name, given, what in unsupported:
            if given:
                raise SpecError.wrong(
                    name,
                    f"{what} are not simulated in a geo world (data.geo) yet; drop one of them"
                    if name != "model"
                    else f"{what} is not simulated in a geo world (data.geo) yet; use "
                    "'additive' or drop data.geo",
                )

    def _check_source(self) -> None:
        """Refuse what describes a simulated world beside an external dataset."""
        simulated = [
            name
            for name in ("channels", "proxy", "events", "mediation", "lift_tests", "priors", "geo")
            if getattr(self, name)
        ]
        if simulated or self.total_budget is not None or self.spend_correlation:
            first = simulated[0] if simulated else "total_budget"
            raise SpecError.wrong(
                first,
                "describes a simulated world; with source = {...} the data is the file's "
                "(give the channels' truth in the truth file)",
            )
        self._check_columns()

    def _check_log_effects(self) -> None:
        """Bound each channel's log-scale effect (multiplicative model).

        A channel's term is on the log scale, so ``beta`` x the saturation's bound (``beta`` alone
        for an unbounded curve) is at most :data:`MAX_LOG_EFFECT`. What adstock, mediation and
        counterfactual spend add on top is the simulator's to check: it refuses a draw whose target
        is not finite.
        """
        for i, ch in enumerate(self.channels):
            family = get_family("saturation", ch.saturation.kind, "saturation")
            ceiling = 1.0 if family.ceiling is None else family.ceiling(ch.saturation.params)
            if ch.beta * ceiling > MAX_LOG_EFFECT:
                raise SpecError.invalid(
                    f"channels[{i}].beta",
                    ch.beta,
                    f"the multiplicative model's channel terms are on the log scale: beta x "
                    f"the saturation's bound is {ch.beta * ceiling:.3g}, above "
                    f"{MAX_LOG_EFFECT:g} (exp of it overflows)",
                )

    def _check_calendar(self) -> None:
        first = _date("start", self.start)
        step = 7 if self.freq == "W" else 1
        last = CALENDAR[1] - dt.timedelta(days=step * (self.periods - 1))
        if not CALENDAR[0] <= first <= last:
            raise SpecError.invalid(
                "start",
                self.start,
                f"the data ({self.periods} periods of {step} day{'s' * (step > 1)}) must lie "
                f"between {CALENDAR[0]} and {CALENDAR[1]}",
            )

    def _check_channels(self) -> None:
        if not self.channels:
            raise SpecError.wrong("channels", "at least one channel is required")
        names = self.channel_names
        if len(set(names)) != len(names):
            raise SpecError.wrong("channels", f"duplicate channel names in {list(names)!r}")
        for i, ch in enumerate(self.channels):
            if ch.adstock.l_max > self.periods:
                raise SpecError.invalid(
                    f"channels[{i}].adstock.l_max",
                    ch.adstock.l_max,
                    f"longer than data.periods = {self.periods}",
                )
            for key in ("dark", "shocks"):
                for j, stretch in enumerate(getattr(ch.spend, key)):
                    if stretch.start >= self.periods:
                        raise SpecError.invalid(
                            f"channels[{i}].spend.{key}[{j}].start",
                            stretch.start,
                            f"outside the data (periods 0..{self.periods - 1})",
                        )
            if _zero_spend(ch.spend, self.train_periods):
                raise SpecError.wrong(
                    f"channels[{i}].spend",
                    "dark stretches and zero shocks leave no spend in the training periods "
                    "(its return would be undefined)",
                )

    def _check_columns(self) -> None:
        columns = self.columns
        for i, e in enumerate(self.events):
            for j, day in enumerate(e.dates):
                index = (dt.date.fromisoformat(day) - dt.date.fromisoformat(self.start)).days
                index //= 7 if self.freq == "W" else 1
                if not 0 <= index < self.periods:
                    raise SpecError.invalid(
                        f"events[{i}].dates[{j}]",
                        day,
                        f"outside the data (period {index} of 0..{self.periods - 1})",
                    )
        seen: dict[str, int] = {}
        for column in columns:
            if column in RESERVED_COLUMNS or column.startswith("lift_"):
                raise SpecError.wrong(
                    self._column_field(column),
                    f"{column!r} is a name the dataset uses itself "
                    f"({', '.join(RESERVED_COLUMNS)}, lift_*)",
                )
            seen[column] = seen.get(column, 0) + 1
        for column, count in seen.items():
            if count > 1:
                raise SpecError.wrong(
                    self._column_field(column),
                    f"{column!r} names two columns of the data (channels, proxy, events and "
                    "the target must all differ)",
                )

    def _column_field(self, column: str) -> str:
        """Return the field that named a column (for error messages)."""
        if column == self.target:
            return "target"
        if self.proxy is not None and column == self.proxy.name:
            return "proxy.name"
        if self.source is not None:
            if column in self.source.controls:
                return f"source.controls[{self.source.controls.index(column)}]"
            return f"source.truth.channels.{column}"
        for i, e in enumerate(self.events):
            if column == f"event_{e.name}":
                return f"events[{i}].name"
        return f"channels[{self.channel_names.index(column)}].name"

    def _check_correlation(self) -> None:
        matrix = self.spend_correlation
        if not matrix:
            return
        n = len(self.channels)
        if len(matrix) != n or any(len(row) != n for row in matrix):
            raise SpecError.invalid(
                "spend_correlation",
                [list(row) for row in matrix],
                f"must be a symmetric {n} x {n} matrix (one row per channel)",
            )
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                _real(f"spend_correlation[{i}][{j}]", value, low=-1.0, high=1.0)
        values = np.asarray(matrix, dtype=float)
        if not np.allclose(values, values.T):
            raise SpecError.invalid(
                "spend_correlation",
                [list(row) for row in matrix],
                f"must be a symmetric {n} x {n} matrix (one row per channel)",
            )
        if not np.allclose(np.diag(values), 1.0):
            raise SpecError.invalid(
                "spend_correlation", [list(row) for row in matrix], "diagonal must be 1"
            )
        if np.linalg.eigvalsh(values).min() < -1e-10:
            raise SpecError.invalid(
                "spend_correlation",
                [list(row) for row in matrix],
                "not a valid correlation matrix (not PSD)",
            )

    def _check_mediation(self) -> None:
        names = self.channel_names
        for i, link in enumerate(self.mediation):
            for key in ("source", "target"):
                if getattr(link, key) not in names:
                    raise SpecError.invalid(
                        f"mediation[{i}].{key}",
                        getattr(link, key),
                        f"unknown channel; channels are {', '.join(names)}",
                    )
        # spend links must form a DAG (a source's spend is settled before its targets')
        edges = {(lk.source, lk.target) for lk in self.mediation if lk.on == "spend"}
        remaining = set(names)
        while remaining:
            free = {n for n in remaining if not any(t == n and s in remaining for s, t in edges)}
            if not free:
                raise SpecError.wrong(
                    "mediation", f"spend links form a cycle among {sorted(remaining)}"
                )
            remaining -= free

    def _check_lift_tests(self) -> None:
        names = self.channel_names
        for i, test in enumerate(self.lift_tests):
            if test.channel not in names:
                raise SpecError.invalid(
                    f"lift_tests[{i}].channel",
                    test.channel,
                    f"unknown channel; channels are {', '.join(names)}",
                )
            if test.start >= self.periods:
                raise SpecError.invalid(
                    f"lift_tests[{i}].start",
                    test.start,
                    f"outside the data (periods 0..{self.periods - 1})",
                )
            if test.start + test.periods > self.periods:
                raise SpecError.invalid(
                    f"lift_tests[{i}].periods", test.periods, "runs past the end of the data"
                )


@dataclass(frozen=True, kw_only=True)
class PriorSpec:
    """A prior.

    A PyMC distribution by name and its keyword arguments (numbers or arrays of numbers; validated
    against PyMC by ``recover`` before any fitting, ``scenarios`` never imports pymc).
    """

    dist: str
    args: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.dist, str) or not self.dist:
            raise SpecError.invalid("dist", self.dist, "must be a distribution's name")
        for key, value in self.args.items():
            items = value if isinstance(value, tuple) else (value,)
            for item in items:
                if isinstance(item, bool) or not isinstance(item, int | float):
                    raise SpecError.invalid(
                        subpath("", key), value, "prior arguments must be numbers"
                    )
                _real(subpath("", key), float(item))


NO_TRANSFORM = TransformSpec(kind="", params={})
"""The transform a ``[model]`` table leaves out (``kind = "python"`` may): no family declared."""


def declared(transform: TransformSpec) -> bool:
    """Return whether a model's transform names a family (is not :data:`NO_TRANSFORM`)."""
    return bool(transform.kind)


GEO_MODEL_VARYING = ("beta", "intercept")
"""What may vary by geo in the workbench's geo model (``[model.geo] vary``)."""

GEO_MODEL_KINDS = ("workbench", "pymc-marketing")
"""The model kinds that fit a panel geo by geo (``[model.geo]``): the workbench's geo model
and pymc-marketing's MMM with ``dims = ("geo",)``."""

GEO_MODEL_SPREAD = {"beta": 0.5, "intercept": 0.2}
"""Default scale of the HalfNormal prior of each spread (``[model.geo] spread``)."""


@dataclass(frozen=True, kw_only=True)
class GeoModelSpec:
    """The workbench model's geo level (``[model.geo]``): one fit of the whole panel.

    Without it a geo world is fitted as one national series (the panel summed over geos).
    With it every geo ``g`` is its own series, ``w_g`` its share of the national size (the
    dataset's geo sizes), on the national scales (``[model]`` docs: target by the national
    ``max|y|``, spend by the national ``max``), per unit of size::

        y_g / Y ~ Normal(mu_g, sigma * sqrt(w_g))
        mu_g = w_g * (intercept_g + trend + seasonality
                      + sum_c beta_gc * saturation(adstock(s_gc / (w_g * S_c))))
               + controls_g @ gamma

    Partially pooled, non-centred: ``beta_gc = beta_c * exp(tau_c * z_gc)`` (``"beta"`` in
    ``vary``) and ``intercept_g = intercept + tau * z_g`` (``"intercept"``), with ``z``
    standard normal and each spread ``tau ~ HalfNormal(spread[name])``. What is not in
    ``vary`` is the national value in every geo (complete pooling). Transform parameters,
    trend, seasonality and control coefficients are national.

    With ``kind = "pymc-marketing"`` the model is pymc-marketing's ``MMM`` with ``dims =
    ("geo",)`` on the panel, each geo on its own scales, ``vary`` partially pooled
    (:mod:`mmm_workbench.recover.models.pymc_marketing_geo`).

    - ``level``: ``"geo"`` (the default), the model above; ``"national"``, the national
      model of the panel summed over geos, as without the table (so a grid can compare
      the two on the same world: ``"model.geo.level" = ["national", "geo"]``).
    - ``vary``: a subset of :data:`GEO_MODEL_VARYING` (default both).
    - ``spread``: the HalfNormal scale of each varying parameter's spread (log scale for
      ``beta``, scaled units for ``intercept``), defaults :data:`GEO_MODEL_SPREAD`.
    """

    level: Literal["geo", "national"] = "geo"
    vary: tuple[str, ...] = GEO_MODEL_VARYING
    spread: Mapping[str, float] = field(default_factory=lambda: dict(GEO_MODEL_SPREAD))

    def spread_of(self, name: str) -> float:
        """Return the HalfNormal scale of ``name``'s spread (the default if not given)."""
        return float(self.spread.get(name, GEO_MODEL_SPREAD[name]))

    def __post_init__(self) -> None:
        _choice("level", self.level, ("geo", "national"))
        if not isinstance(self.vary, tuple):
            raise SpecError.invalid("vary", self.vary, "must be a list of parameter names")
        for i, name in enumerate(self.vary):
            _choice(f"vary[{i}]", name, GEO_MODEL_VARYING)
        _unique("vary", self.vary, "parameter")
        if not isinstance(self.spread, Mapping):
            raise SpecError.invalid("spread", self.spread, "must be a table")
        for key, value in self.spread.items():
            if key not in self.vary:
                raise SpecError.invalid(
                    subpath("spread", key),
                    value,
                    f"{key!r} does not vary by geo (vary = {list(self.vary)})",
                )
            _real(subpath("spread", key), value, low=0.0, high=MAX_GEO_SPREAD, low_open=True)


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """The model to fit (the ``[model]`` table).

    Transform parameters given in ``adstock`` / ``saturation`` are held fixed; the others
    are estimated, per channel (``pooling = "channel"``) or one shared value
    (``"shared"``). ``priors`` maps a model parameter name (``adstock_alpha``,
    ``saturation_lam``, ``saturation_beta``, ``intercept``, ``sigma``, ``nu``,
    ``gamma_control``, ``gamma_fourier``, ``trend_slope``) to a prior in the model's
    scaled units; missing ones get documented defaults. ``seasonality_order`` is at most
    half the ``seasonality_period`` (higher orders alias lower ones).

    ``adstock`` and ``saturation`` are :data:`NO_TRANSFORM` where the table leaves them out
    (:func:`declared` is false): kinds built from the transforms (``workbench``,
    ``pymc-marketing``, ``ols``, ``nnls``) refuse that before fitting; ``kind = "python"``
    takes them as a declaration of the families its builder uses (its transform parameters
    are scored only then). ``config`` is a model configuration file (pymc-marketing's
    YAML); ``builder`` (``"module:function"``), ``builder_file`` (the module's file where it
    lies next to the scenario) and ``options`` (the builder's keyword arguments) belong to
    ``kind = "python"``; ``kind = "meridian"`` reads ``options`` too (``python``: Meridian's
    interpreter; ``knots``).
    """

    kind: str = "workbench"
    adstock: TransformSpec = NO_TRANSFORM
    saturation: TransformSpec = NO_TRANSFORM
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
    target_scale: float | None = field(default=None, metadata=_NEW_OPTIONAL)
    """The workbench model's divisor of the target; ``None``: ``max|y|`` over the training
    rows (the default, data-dependent). A fixed number makes the scaled priors a prior in
    the data's units, which exact SBC needs (docs/sbc.md)."""
    config: FileRef | None = field(default=None, metadata=_NEW_OPTIONAL)
    builder: str | None = field(default=None, metadata=_NEW_OPTIONAL)
    builder_file: FileRef | None = field(default=None, metadata=_NEW_OPTIONAL)
    options: Mapping[str, Any] = field(default_factory=dict, metadata=_NEW_OPTIONAL)
    geo: GeoModelSpec | None = field(default=None, metadata=_NEW_OPTIONAL)
    """The geo (hierarchical) model of a panel world (:class:`GeoModelSpec`, ``kind =
    "workbench"`` or ``"pymc-marketing"``); ``None``: a panel is fitted as its national sum."""

    @property
    def geo_level(self) -> bool:
        """Whether the model fits a panel geo by geo (``[model.geo] level = "geo"``)."""
        return self.geo is not None and self.geo.level == "geo"

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise SpecError.invalid("kind", self.kind, "must be a model kind's name")
        if self.geo is not None:
            if not isinstance(self.geo, GeoModelSpec):
                raise SpecError.invalid("geo", self.geo, "must be a GeoModelSpec")
            if self.kind not in GEO_MODEL_KINDS:
                raise SpecError.wrong(
                    "geo",
                    f"a geo model is the workbench's or pymc-marketing's; model.kind = "
                    f"{self.kind!r}",
                )
            if self.lift_tests:
                raise SpecError.wrong(
                    "lift_tests", "the geo model does not calibrate on (national) lift tests"
                )
        if self.builder is not None and (
            not isinstance(self.builder, str) or self.builder.count(":") != 1
        ):
            raise SpecError.invalid("builder", self.builder, "must read 'module:function'")
        if not isinstance(self.options, Mapping):
            raise SpecError.invalid("options", self.options, "must be a table")
        for key, value in self.options.items():
            _option(subpath("options", key), value)
        if self.target_scale is not None:
            _amount("target_scale", self.target_scale, low=0.0, low_open=True)
        if declared(self.adstock):
            _transform("adstock", "adstock", self.adstock, complete=False)
        if declared(self.saturation):
            _transform("saturation", "saturation", self.saturation, complete=False)
        _choice("order", self.order, ("adstock_first", "saturation_first"))
        _choice("pooling", self.pooling, ("channel", "shared"))
        _unique("controls", self.controls, "control")
        _real(
            "seasonality_period", self.seasonality_period, low=0.0, high=MAX_PERIODS, low_open=True
        )
        highest = int(self.seasonality_period // 2)
        _integer("seasonality_order", self.seasonality_order, low=0)
        if self.seasonality_order > highest:
            raise SpecError.invalid(
                "seasonality_order",
                self.seasonality_order,
                f"must be <= {highest}, half the seasonality_period (higher orders alias)",
            )
        _choice("likelihood", self.likelihood, ("normal", "student_t"))
        if self.priors and not (declared(self.adstock) and declared(self.saturation)):
            raise SpecError.wrong(
                "priors", "names model parameters of [model.adstock] and [model.saturation]"
            )
        names = (
            model_parameters(self.adstock.kind, self.saturation.kind)
            if declared(self.adstock) and declared(self.saturation)
            else ()
        )
        for key in self.priors:
            if key not in names:
                raise SpecError.wrong(
                    subpath("priors", key),
                    f"no such model parameter; expected one of: {', '.join(names)}",
                )


@dataclass(frozen=True, kw_only=True)
class FitSpec:
    """How to fit (the ``[fit]`` table): backend, sampler sizes, per-backend options.

    ``keep_draws`` is how many posterior draws (over all chains, evenly thinned) each fit
    record keeps. ``min_ess`` (0: off) stops sampling early, at up to ``draws`` per chain,
    once the min bulk ESS over the free parameters reaches it (the ``nutpie`` backend only).
    Sizes are bounded (``MAX_DRAWS``, ``MAX_TUNE``, ``MAX_CHAINS``).

    ``target_accept`` defaults to 0.95 (0.8 before issue 14, 0.9 until 2026-11-30, commit 3c9f7e9):
    measured on ``bench/bench_families.py``'s worlds with the default priors, delayed + Hill
    had 0 of 4 clean fits at 0.8 (1 to 20 divergences) and 7 of 8 at 0.9
    (``bench/results/families-hill-20261130.jsonl``); on the shipped lessons without a
    ``[fit]`` table, ``mediation`` had 17 of 20 clean fits at 0.9 (1 divergence in each of
    three) and 20 of 20 at 0.95, ``correlated-spend``'s Bayesian cell 18 of 20 and 20 of 20,
    for 15% more sampling time. Changing it changes the cell ids of every scenario whose
    ``[fit]`` does not set it: their fits differ.
    """

    backend: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.95
    keep_draws: int = 400
    min_ess: int = field(default=0, metadata=_NEW_OPTIONAL)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.backend, str) or not self.backend:
            raise SpecError.invalid("backend", self.backend, "must be a backend's name")
        _integer("draws", self.draws, low=1, high=MAX_DRAWS)
        _integer("tune", self.tune, low=0, high=MAX_TUNE)
        _integer("chains", self.chains, low=1, high=MAX_CHAINS)
        _real("target_accept", self.target_accept, low=0.0, high=1.0, low_open=True, high_open=True)
        _integer("keep_draws", self.keep_draws, low=1, high=MAX_DRAWS)
        _integer("min_ess", self.min_ess, low=0, high=MAX_DRAWS * MAX_CHAINS)
        if not isinstance(self.options, Mapping):
            raise SpecError.invalid("options", self.options, "must be a table")
        for key, value in self.options.items():
            _option(subpath("options", key), value)


@dataclass(frozen=True, kw_only=True)
class GridAxis:
    """One grid axis: one or more dotted paths varied together (zipped).

    It holds one value tuple per level.
    """

    paths: tuple[str, ...]
    levels: tuple[tuple[Any, ...], ...]

    def __post_init__(self) -> None:
        if not self.paths:
            raise SpecError.wrong("", "a grid axis needs at least one path")
        for path in self.paths:
            top = path.split(".")[0].split("[")[0]
            if top in UNGRIDDED:
                raise SpecError.wrong(
                    "",
                    f"{path!r} cannot vary in a grid: {', '.join(UNGRIDDED)} belong to the "
                    "whole run, not to a cell (run the scenario again to change them)",
                )
        if not self.levels:
            raise SpecError.wrong("", f"{self.paths[0]!r}: a grid axis needs at least one value")
        if any(len(level) != len(self.paths) for level in self.levels):
            raise SpecError.wrong("", "every level needs one value per path")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A whole scenario file: identity, seeds, data, model, fit and grid.

    ``name`` names the run directory (:func:`check_run_name`). ``raw`` is the parsed TOML
    document the spec came from (grid cells re-validate a copy with their overrides
    applied); it takes no part in equality or hashing.
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

    def __post_init__(self) -> None:
        check_run_name(self.name)
        if not isinstance(self.description, str):
            raise SpecError.invalid("description", self.description, "must be a string")
        _integer("seed", self.seed, low=0, high=SEED_LIMIT - 1)
        _integer("replicates", self.replicates, low=1, high=MAX_REPLICATES)
        if self.data.source is not None and self.replicates > 1:
            raise SpecError.invalid(
                "replicates",
                self.replicates,
                "data.source is one external dataset: every replicate would fit the same "
                "data (use replicates = 1)",
            )
        if self.model is not None:
            self._check_model(self.model)
        paths = [p for axis in self.grid for p in axis.paths]
        _unique("grid", paths, "grid path (each path may vary on one axis only)")

    def _check_model(self, model: ModelSpec) -> None:
        data = self.data
        available = list(data.controls)
        for i, name in enumerate(model.controls):
            if name not in available:
                raise SpecError.invalid(
                    f"model.controls[{i}]",
                    name,
                    "the data has no such column; controls available: "
                    + (", ".join(available) or "none"),
                )
        if model.adstock.l_max > data.periods:
            raise SpecError.invalid(
                "model.adstock.l_max",
                model.adstock.l_max,
                f"longer than data.periods = {data.periods}",
            )
        if model.geo is not None and data.geo is None:
            raise SpecError(
                "model.geo",
                ": the data is one national series (no [data.geo]); a geo model fits a panel",
            )
        if model.lift_tests and not data.lift_tests:
            raise SpecError("model.lift_tests", " = true: data has no [[data.lift_tests]]")
        channels = data.channel_names
        for role in ("adstock", "saturation"):
            transform = getattr(model, role)
            for key, value in transform.params.items() if transform is not None else ():
                if isinstance(value, tuple) and len(value) != len(channels):
                    raise SpecError.invalid(
                        f"model.{role}.{key}",
                        list(value),
                        f"one value per channel: {len(channels)} ({', '.join(channels)}), "
                        f"not {len(value)}",
                    )


_SCALARS = (str, int, float, bool, type(None))


@functools.cache
def _compared_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.compare)


@functools.cache
def _hash_if_set(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls) if f.metadata.get("hash_if_set"))


def spec_to_dict(spec: Any) -> Any:
    """Plain ``dict``/``list`` form of a spec (for hashing, JSON and netCDF attributes)."""
    if isinstance(spec, _SCALARS):
        return spec
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        out = {"__type__": type(spec).__name__}
        optional = _hash_if_set(type(spec))
        out.update(
            {
                name: spec_to_dict(getattr(spec, name))
                for name in _compared_fields(type(spec))
                if name not in optional or getattr(spec, name)
            }
        )
        return out
    if isinstance(spec, tuple | list):
        return [spec_to_dict(v) for v in spec]
    if isinstance(spec, Mapping):
        return {str(k): spec_to_dict(v) for k, v in sorted(spec.items())}
    return spec


def spec_hash(spec: Any, length: int = 12) -> str:
    """Stable hex digest of a spec's canonical JSON form (identical specs, identical ids)."""
    canonical = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]
