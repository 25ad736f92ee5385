"""Scenario files (TOML) to frozen, validated specs.

Every value is checked where it is read, and every error names the dotted path and the
offending value, e.g. ``data.channels[1].adstock.alpha = 1.3: must be in [0, 1)``.
Unknown keys are errors, so a typo never passes silently.
"""

from __future__ import annotations

import copy
import itertools
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mmm_workbench.scenarios.grid import expand_grid, parse_grid
from mmm_workbench.scenarios.model import parse_fit, parse_model, transform_family
from mmm_workbench.scenarios.reader import Calendar, ScenarioError, Table, numbers
from mmm_workbench.scenarios.spec import (
    ChannelSpec,
    ConstantTrend,
    DataSpec,
    DemandSpec,
    EventSpec,
    FitSpec,
    FlightingSpec,
    FourierSpec,
    LiftTestSpec,
    LinearTrend,
    LogTrend,
    MediationSpec,
    NoiseSpec,
    PiecewiseTrend,
    PowerTrend,
    ProxySpec,
    Scenario,
    ShockSpec,
    SpendSpec,
    StretchSpec,
    TransformSpec,
    Trend,
)
from mmm_workbench.simulate.transforms import TransformError, adstock_weights, check_params

__all__ = ["ScenarioError", "load_scenario", "parse_scenario"]


def _transform(tab: Table, role: str) -> TransformSpec:
    family, l_max, normalize = transform_family(tab, role)
    raw = {k: v for k, v in tab.raw.items() if k not in tab.seen}
    try:
        params = check_params(role, family.name, raw, tab.path)
    except TransformError as err:
        raise ScenarioError(str(err)) from None
    if role == "adstock":
        try:
            adstock_weights(family.name, params, l_max=l_max, normalize=normalize)
        except TransformError as err:
            raise ScenarioError(f"{tab.path}: {err}") from None
    return TransformSpec(
        kind=family.name, params=MappingProxyType(dict(params)), l_max=l_max, normalize=normalize
    )


def _trend(tab: Table) -> Trend:
    kind = tab.string("kind", "constant", ("constant", "linear", "power", "log", "piecewise"))
    trend: Trend
    if kind == "constant":
        trend = ConstantTrend(level=tab.num("level", 1.0))
    elif kind == "linear":
        trend = LinearTrend(level=tab.num("level"), slope=tab.num("slope"))
    elif kind == "power":
        start, stop = tab.num("start", low=0.0), tab.num("stop", low=0.0)
        trend = PowerTrend(
            start=start, stop=stop, exponent=tab.num("exponent"), shift=tab.num("shift", 0.0)
        )
    elif kind == "log":
        start = tab.num("start", low=0.0, low_open=True)
        stop = tab.num("stop", low=0.0, low_open=True)
        trend = LogTrend(start=start, stop=stop, shift=tab.num("shift", 0.0))
    else:
        points: list[tuple[int, float]] = []
        for cp in tab.tables("changepoints"):
            points.append((cp.integer("at", low=1), cp.num("slope_change")))
            cp.done()
        if any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
            raise ScenarioError(
                f"{tab.sub('changepoints')} = {points!r}: 'at' must be strictly increasing"
            )
        trend = PiecewiseTrend(
            level=tab.num("level"), slope=tab.num("slope"), changepoints=tuple(points)
        )
    tab.done()
    return trend


def _demand(tab: Table, freq: str) -> DemandSpec:
    seasonality = []
    for s in tab.tables("seasonality"):
        sin = numbers(s, "sin", [])
        cos = numbers(s, "cos", [])
        order = max(len(sin), len(cos))
        if order == 0:
            raise ScenarioError(f"{s.path}: give 'sin' and/or 'cos' coefficients")
        seasonality.append(
            FourierSpec(
                period=s.num("period", low=0.0, low_open=True),
                sin=sin + (0.0,) * (order - len(sin)),
                cos=cos + (0.0,) * (order - len(cos)),
            )
        )
        s.done()
    dow = numbers(tab, "day_of_week", [])
    if dow and (freq != "D" or len(dow) != 7):
        raise ScenarioError(
            f"{tab.sub('day_of_week')} = {list(dow)!r}: needs daily data (freq = 'D') "
            "and exactly 7 effects, Monday first"
        )
    spec = DemandSpec(
        scale=tab.num("scale", 1.0, low=0.0, low_open=True),
        trend=_trend(tab.table("trend")) if tab.has("trend") else ConstantTrend(),
        seasonality=tuple(seasonality),
        day_of_week=dow,
        noise_sd=tab.num("noise_sd", 0.0, low=0.0),
        rho=tab.num("rho", 0.0, low=-1.0, high=1.0, low_open=True, high_open=True),
        effect=tab.num("effect", 1.0),
    )
    tab.done()
    return spec


def _stretches(tab: Table, key: str, cal: Calendar, shocks: bool) -> tuple[Any, ...]:
    out: list[Any] = []
    for s in tab.tables(key):
        start = cal.index(s.get("start"), s.sub("start"))
        periods = s.integer("periods", low=1)
        if shocks:
            out.append(ShockSpec(start=start, periods=periods, factor=s.num("factor", low=0.0)))
        else:
            out.append(StretchSpec(start=start, periods=periods))
        s.done()
    return tuple(out)


def _spend(tab: Table, cal: Calendar) -> SpendSpec:
    flighting = None
    if tab.has("flighting"):
        f = tab.table("flighting")
        flighting = FlightingSpec(
            on_mean=f.num("on_mean", low=1.0), off_mean=f.num("off_mean", low=1.0)
        )
        f.done()
    spec = SpendSpec(
        demand_share=tab.num("demand_share", low=0.0),
        demand_strength=tab.num("demand_strength", 1.0, low=0.0),
        noise_sd=tab.num("noise_sd", 0.0, low=0.0),
        noise=tab.string("noise", "normal", ("normal", "lognormal")),
        flighting=flighting,
        dark=_stretches(tab, "dark", cal, shocks=False),
        shocks=_stretches(tab, "shocks", cal, shocks=True),
    )
    tab.done()
    return spec


def _channel(tab: Table, cal: Calendar, periods: int) -> ChannelSpec:
    name = tab.string("name")
    adstock = _transform(tab.table("adstock"), "adstock")
    if adstock.l_max > periods:
        raise ScenarioError(
            f"{tab.sub('adstock.l_max')} = {adstock.l_max}: longer than data.periods = {periods}"
        )
    x_scale_raw = tab.get("x_scale", "max")
    x_scale: float | str = (
        "max" if x_scale_raw == "max" else tab.num("x_scale", low=0.0, low_open=True)
    )
    spec = ChannelSpec(
        name=name,
        spend=_spend(tab.table("spend"), cal),
        adstock=adstock,
        saturation=_transform(tab.table("saturation"), "saturation"),
        beta=tab.num("beta", low=0.0),
        order=tab.string("order", "adstock_first", ("adstock_first", "saturation_first")),
        x_scale=x_scale,  # type: ignore[arg-type]
    )
    tab.done()
    return spec


def _correlation(tab: Table, n: int) -> tuple[tuple[float, ...], ...]:
    raw = tab.get("spend_correlation", None)
    path = tab.sub("spend_correlation")
    if raw is None:
        return ()
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        r = tab.num("spend_correlation", low=-1.0, high=1.0, low_open=True, high_open=True)
        matrix = np.full((n, n), r)
        np.fill_diagonal(matrix, 1.0)
    else:
        rows = tab.array("spend_correlation")
        matrix = np.array([numbers(Table({"r": row}, path), "r") for row in rows], dtype=float)
        if matrix.shape != (n, n) or not np.allclose(matrix, matrix.T):
            raise ScenarioError(
                f"{path} = {raw!r}: must be a symmetric {n} x {n} matrix (one row per channel)"
            )
        if not np.allclose(np.diag(matrix), 1.0):
            raise ScenarioError(f"{path} = {raw!r}: diagonal must be 1")
    if np.linalg.eigvalsh(matrix).min() < -1e-10:
        raise ScenarioError(f"{path} = {raw!r}: not a valid correlation matrix (not PSD)")
    return tuple(tuple(float(v) for v in row) for row in matrix)


def _mediation(tab: Table, names: tuple[str, ...]) -> tuple[MediationSpec, ...]:
    links = []
    for m in tab.tables("mediation"):
        source, target = m.channel("source", names), m.channel("target", names)
        if source == target:
            raise ScenarioError(f"{m.sub('target')} = {target!r}: a channel cannot mediate itself")
        links.append(
            MediationSpec(
                source=source,
                target=target,
                on=m.string("on", "spend", ("spend", "effect")),
                strength=m.num("strength", low=0.0),
            )
        )
        m.done()
    # spend links must form a DAG (a source's spend is settled before its targets')
    edges = {(lk.source, lk.target) for lk in links if lk.on == "spend"}
    remaining = set(names)
    while remaining:
        free = {n for n in remaining if not any(t == n and s in remaining for s, t in edges)}
        if not free:
            raise ScenarioError(
                f"{tab.sub('mediation')}: spend links form a cycle among {sorted(remaining)}"
            )
        remaining -= free
    return tuple(links)


def _lift_tests(tab: Table, cal: Calendar, names: tuple[str, ...]) -> tuple[LiftTestSpec, ...]:
    tests = []
    for t in tab.tables("lift_tests"):
        channel = t.channel("channel", names)
        start = cal.index(t.get("start"), t.sub("start"))
        periods = t.integer("periods", low=1)
        if start + periods > cal.periods:
            raise ScenarioError(f"{t.sub('periods')} = {periods}: runs past the end of the data")
        change = t.num("spend_change", low=-1.0)
        if change == 0:
            raise ScenarioError(f"{t.sub('spend_change')} = 0: a lift test must change spend")
        sigma = t.num("sigma", None, low=0.0, low_open=True)
        sigma_rel = t.num("sigma_rel", None, low=0.0, low_open=True)
        if (sigma is None) == (sigma_rel is None):
            raise ScenarioError(f"{t.path}: give exactly one of 'sigma' or 'sigma_rel'")
        tests.append(
            LiftTestSpec(
                channel=channel,
                start=start,
                periods=periods,
                spend_change=change,
                sigma=sigma,
                sigma_rel=sigma_rel,
            )
        )
        t.done()
    return tuple(tests)


def _data(tab: Table) -> DataSpec:
    periods = tab.integer("periods", low=1)
    freq = tab.string("freq", "W", ("W", "D"))
    start = tab.string("start", "2021-01-01")
    cal = Calendar(start, freq, periods, tab.sub("start"))
    train = tab.integer("train_periods", periods, low=1)
    if train > periods:
        raise ScenarioError(
            f"{tab.sub('train_periods')} = {train}: exceeds data.periods = {periods}"
        )
    channel_tabs = tab.tables("channels")
    if not channel_tabs:
        raise ScenarioError(f"{tab.sub('channels')}: at least one channel is required")
    channels = tuple(_channel(c, cal, periods) for c in channel_tabs)
    names = tuple(c.name for c in channels)
    if len(set(names)) != len(names):
        raise ScenarioError(f"{tab.sub('channels')}: duplicate channel names in {list(names)!r}")
    proxy = None
    if tab.has("proxy"):
        p = tab.table("proxy")
        proxy = ProxySpec(
            name=p.string("name", "demand_proxy"),
            noise_sd=p.num("noise_sd", 0.0, low=0.0),
            bias=p.num("bias", 0.0, low=-1.0, low_open=True),
            lag=p.integer("lag", 0),
        )
        p.done()
    events = []
    for e in tab.tables("events"):
        dates = tuple(
            str(cal.date(d, f"{e.sub('dates')}[{i}]")) for i, d in enumerate(e.array("dates"))
        )
        events.append(
            EventSpec(
                name=e.string("name"),
                dates=dates,
                effect=e.num("effect"),
                duration=e.integer("duration", 1, low=1),
            )
        )
        e.done()
    noise = NoiseSpec()
    if tab.has("noise"):
        n = tab.table("noise")
        noise = NoiseSpec(
            kind=n.string("kind", "normal", ("normal", "student_t", "lognormal")),
            sd=n.num("sd", 0.0, low=0.0),
            nu=n.num("nu", 5.0, low=2.0, low_open=True),
        )
        n.done()
    model = tab.string("model", "additive", ("additive", "multiplicative"))
    if model == "multiplicative" and noise.kind == "lognormal":
        raise ScenarioError(
            f"{tab.sub('noise.kind')} = 'lognormal': the multiplicative model already adds noise "
            "on the log scale; use 'normal' or 'student_t'"
        )
    multipliers = (
        numbers(tab, "response_multipliers", None)
        if tab.has("response_multipliers")
        else DataSpec.__dataclass_fields__["response_multipliers"].default
    )
    if any(m < 0 for m in multipliers):  # type: ignore[union-attr]
        raise ScenarioError(f"{tab.sub('response_multipliers')} = {multipliers!r}: must be >= 0")
    spec = DataSpec(
        periods=periods,
        freq=freq,
        start=start,
        train_periods=train,
        target=tab.string("target", "sales"),
        model=model,
        intercept=tab.num("intercept", 0.0),
        demand=_demand(tab.table("demand"), freq) if tab.has("demand") else DemandSpec(),
        proxy=proxy,
        events=tuple(events),
        channels=channels,
        spend_correlation=_correlation(tab, len(channels)),
        total_budget=tab.num("total_budget", None, low=0.0, low_open=True),
        mediation=_mediation(tab, names),
        noise=noise,
        lift_tests=_lift_tests(tab, cal, names),
        response_multipliers=tuple(multipliers),  # type: ignore[arg-type]
    )
    tab.done()
    return spec


def parse_scenario(raw: Mapping[str, object]) -> Scenario:
    """Validate a parsed TOML document and return the frozen :class:`Scenario`.

    Raises
    ------
    ScenarioError
        For any invalid, missing or unknown key; the message names its path and value.
    """
    top = Table(raw, "")
    data = _data(top.table("data"))
    scenario = Scenario(
        name=top.string("name"),
        description=top.string("description", ""),
        seed=top.integer("seed", 0),
        replicates=top.integer("replicates", 1, low=1),
        data=data,
        model=parse_model(top.table("model"), data) if top.has("model") else None,
        fit=parse_fit(top.table("fit")) if top.has("fit") else FitSpec(),
        grid=parse_grid(top.table("grid")) if top.has("grid") else (),
        raw=MappingProxyType(copy.deepcopy(dict(raw))),
    )
    top.done()
    if scenario.grid:
        expand_grid(scenario)  # every cell must be valid before anything runs
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        A ``.toml`` file, or the name of a scenario in the shipped library
        (e.g. ``"confounded-demand"``).

    Raises
    ------
    ScenarioError
        Malformed TOML, or an invalid value; the message names the file, path and value.
    """
    file = Path(path)
    if not file.exists():
        shipped = Path(__file__).parent / f"{path}.toml"
        if shipped.exists():
            file = shipped
        else:
            raise ScenarioError(f"{path}: no such scenario file or shipped scenario")
    try:
        raw = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{file}: malformed TOML: {err}") from None
    return parse_scenario(raw)
