"""Calendar, latent demand, its observable proxy, and the baseline of the target.

Demand is the confounder: it drives the target (through ``DemandSpec.effect``) and the
channels' spend (``mmm_workbench.simulate.spend``); the modeller sees it only through the proxy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mmm_workbench.scenarios.spec import (
    ConstantTrend,
    DataSpec,
    DemandSpec,
    LinearTrend,
    LogTrend,
    PiecewiseTrend,
    PowerTrend,
    ProxySpec,
    Trend,
)

__all__ = ["dates", "demand", "events", "proxy", "seasonality", "trend"]

Array = NDArray[np.float64]


def dates(spec: DataSpec) -> pd.DatetimeIndex:
    """Return the period start dates: ``periods`` steps of 7 days (``W``) or 1 day (``D``)."""
    step = "7D" if spec.freq == "W" else "D"
    return pd.date_range(spec.start, periods=spec.periods, freq=step, name="date")


def trend(spec: Trend, periods: int) -> Array:
    """Deterministic trend over ``periods`` periods (see the ``*Trend`` specs for formulas)."""
    t = np.arange(periods, dtype=float)
    s = np.linspace(0.0, 1.0, periods)
    match spec:
        case ConstantTrend(level=level):
            return np.full(periods, level)
        case LinearTrend(level=level, slope=slope):
            return level + slope * t
        case PowerTrend(start=a, stop=b, exponent=p, shift=shift):
            return np.asarray((a + (b - a) * s) ** p + shift, dtype=float)
        case LogTrend(start=a, stop=b, shift=shift):
            return np.log(a + (b - a) * s) + shift
        case PiecewiseTrend(level=level, slope=slope, changepoints=points):
            out = level + slope * t
            for at, change in points:
                out = out + change * np.clip(t - at, 0.0, None)
            return out
    raise TypeError(f"unknown trend spec {spec!r}")  # pragma: no cover


def seasonality(spec: DemandSpec, index: pd.DatetimeIndex) -> Array:
    """Relative seasonality: Fourier terms over the period index plus day-of-week effects.

    Notes
    -----
    ``s_t = sum_j sum_k a_jk sin(2 pi k t / P_j) + b_jk cos(2 pi k t / P_j)`` with ``t`` the
    period index and ``P_j`` the period in data periods (52 for yearly on weekly data).
    """
    t = np.arange(len(index), dtype=float)
    out = np.zeros(len(index))
    for term in spec.seasonality:
        for k, (a, b) in enumerate(zip(term.sin, term.cos, strict=True), start=1):
            angle = 2.0 * np.pi * k * t / term.period
            out += a * np.sin(angle) + b * np.cos(angle)
    if spec.day_of_week:
        out += np.asarray(spec.day_of_week)[index.day_of_week]
    return out


def demand(spec: DemandSpec, index: pd.DatetimeIndex, rng: np.random.Generator) -> dict[str, Array]:
    """Latent demand and its components.

    Returns
    -------
    dict
        ``demand``, ``demand_trend``, ``demand_seasonality``, ``demand_noise`` (the AR(1)
        term before scaling), each of length ``len(index)``.

    Notes
    -----
    ``demand_t = scale * (trend_t * (1 + season_t) + e_t)``, ``e_t = rho e_{t-1} + N(0, sd)``
    with ``e_0`` drawn from the stationary ``N(0, sd / sqrt(1 - rho^2))``.
    """
    n = len(index)
    tr = trend(spec.trend, n)
    season = seasonality(spec, index)
    shocks = rng.normal(0.0, 1.0, n) * spec.noise_sd
    if spec.rho != 0.0:
        shocks[0] /= np.sqrt(1.0 - spec.rho**2)
        noise = np.empty(n)
        acc = 0.0
        for i in range(n):
            acc = spec.rho * acc + shocks[i]
            noise[i] = acc
    else:
        noise = shocks
    level = spec.scale * (tr * (1.0 + season) + noise)
    return {
        "demand": level,
        "demand_trend": tr,
        "demand_seasonality": season,
        "demand_noise": noise,
    }


def proxy(spec: ProxySpec, latent: Array, rng: np.random.Generator) -> Array:
    """Return the observable demand proxy ``|demand_{t-lag} * (1 + bias) * N(1, noise_sd)|``.

    The first ``lag`` periods repeat ``demand_0`` (the proxy has no earlier data).
    """
    lagged = np.concatenate([np.full(spec.lag, latent[0]), latent[: len(latent) - spec.lag]])
    return np.abs(lagged * (1.0 + spec.bias) * rng.normal(1.0, spec.noise_sd, len(latent)))


def events(spec: DataSpec, index: pd.DatetimeIndex) -> tuple[Array, Array]:
    """Event indicators ``(event, date)`` and the event effect on the target per date.

    A date falls into the period whose start is the latest one on or before it; an event
    lasts ``duration`` periods. Dates outside the data are ignored.
    """
    indicators = np.zeros((len(spec.events), len(index)))
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(days=1)
    for i, event in enumerate(spec.events):
        for day in event.dates:
            pos = (pd.Timestamp(day) - index[0]) // step
            if 0 <= pos < len(index):
                indicators[i, pos : pos + event.duration] = 1.0
    effects = np.array([e.effect for e in spec.events], dtype=float)
    return indicators, effects @ indicators
