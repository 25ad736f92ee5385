"""Scenario files (TOML) to frozen, validated specs.

Every value is checked where it is read, and every error names the dotted path and the
offending value, e.g. ``data.channels[1].adstock.alpha = 1.3: must be in [0, 1)``.
Unknown keys are errors, so a typo never passes silently.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from scenarios.spec import (
    ChannelSpec,
    ConstantTrend,
    DataSpec,
    DemandSpec,
    EventSpec,
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
from simulate.transforms import Param, TransformError, adstock_weights, check_params, get_family

__all__ = ["ScenarioError", "load_scenario", "parse_scenario"]

_MISSING: Any = object()
_INF = math.inf


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the path and the value."""


class _Table:
    """A TOML table being read, with its dotted path; reports unknown keys at the end."""

    def __init__(self, raw: object, path: str) -> None:
        if not isinstance(raw, Mapping):
            raise ScenarioError(f"{path} = {raw!r}: must be a table")
        self.raw: Mapping[str, object] = raw
        self.path = path
        self.seen: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self.seen.add(key)
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            raise ScenarioError(f"{self.sub(key)}: missing required key")
        return default

    def has(self, key: str) -> bool:
        return key in self.raw

    def num(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        low: float = -_INF,
        high: float = _INF,
        low_open: bool = False,
        high_open: bool = False,
    ) -> float:
        value = self.get(key, default)
        if value is default and default is not _MISSING:
            return value  # type: ignore[no-any-return]
        param = Param(name=key, low=low, high=high, low_open=low_open, high_open=high_open)
        try:
            return param.check(value, self.sub(key))
        except TransformError as err:
            raise ScenarioError(str(err)) from None

    def integer(self, key: str, default: Any = _MISSING, *, low: int = 0) -> int:
        value = self.get(key, default)
        if value is default and default is not _MISSING:
            return value  # type: ignore[no-any-return]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be an integer")
        if value < low:
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be >= {low}")
        return value

    def string(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] = ()) -> Any:
        value = self.get(key, default)
        if not isinstance(value, str):
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be a string")
        if choices and value not in choices:
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be one of {', '.join(choices)}")
        return value

    def channel(self, key: str, names: tuple[str, ...]) -> str:
        value: str = self.string(key)
        if value not in names:
            raise ScenarioError(
                f"{self.sub(key)} = {value!r}: unknown channel; channels are {', '.join(names)}"
            )
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be true or false")
        return value

    def array(self, key: str, default: Any = _MISSING) -> list[Any]:
        value = self.get(key, default)
        if not isinstance(value, list):
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be an array")
        return value

    def table(self, key: str) -> _Table:
        return _Table(self.get(key), self.sub(key))

    def tables(self, key: str) -> list[_Table]:
        return [_Table(item, f"{self.sub(key)}[{i}]") for i, item in enumerate(self.array(key, []))]

    def done(self) -> None:
        unknown = [k for k in self.raw if k not in self.seen]
        if unknown:
            key = unknown[0]
            expected = ", ".join(sorted(self.seen))
            raise ScenarioError(
                f"{self.sub(key)} = {self.raw[key]!r}: unknown key; expected one of: {expected}"
            )


def _numbers(tab: _Table, key: str, default: Any = _MISSING) -> tuple[float, ...]:
    values = tab.array(key, default)
    path = tab.sub(key)
    param = Param(name=key)
    try:
        return tuple(param.check(v, f"{path}[{i}]") for i, v in enumerate(values))
    except TransformError as err:
        raise ScenarioError(str(err)) from None


class _Calendar:
    """Turns ``start`` values (a period index or an ISO date) into period indices."""

    def __init__(self, start: str, freq: str, periods: int, path: str) -> None:
        try:
            self.origin = dt.date.fromisoformat(start)
        except ValueError:
            raise ScenarioError(f"{path} = {start!r}: must be an ISO date (YYYY-MM-DD)") from None
        self.step = 7 if freq == "W" else 1
        self.periods = periods

    def date(self, value: object, path: str) -> dt.date:
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ScenarioError(f"{path} = {value!r}: must be an ISO date (YYYY-MM-DD)") from None

    def index(self, value: object, path: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            idx = value
        elif isinstance(value, str | dt.date):
            idx = (self.date(value, path) - self.origin).days // self.step
        else:
            raise ScenarioError(f"{path} = {value!r}: must be a period index or an ISO date")
        if not 0 <= idx < self.periods:
            raise ScenarioError(
                f"{path} = {value!r}: outside the data (period {idx} of 0..{self.periods - 1})"
            )
        return idx


def _transform(tab: _Table, role: str) -> TransformSpec:
    kind = tab.get("kind")
    try:
        family = get_family(role, kind, tab.path)
    except TransformError as err:
        raise ScenarioError(str(err)) from None
    l_max, normalize = 0, True
    if role == "adstock":
        l_max = tab.integer("l_max", low=1)
        normalize = tab.boolean("normalize", True)
    tab.seen.add("kind")
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


def _trend(tab: _Table) -> Trend:
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


def _demand(tab: _Table, freq: str) -> DemandSpec:
    seasonality = []
    for s in tab.tables("seasonality"):
        sin = _numbers(s, "sin", [])
        cos = _numbers(s, "cos", [])
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
    dow = _numbers(tab, "day_of_week", [])
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


def _stretches(tab: _Table, key: str, cal: _Calendar, shocks: bool) -> tuple[Any, ...]:
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


def _spend(tab: _Table, cal: _Calendar) -> SpendSpec:
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


def _channel(tab: _Table, cal: _Calendar, periods: int) -> ChannelSpec:
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


def _correlation(tab: _Table, n: int) -> tuple[tuple[float, ...], ...]:
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
        matrix = np.array([_numbers(_Table({"r": row}, path), "r") for row in rows], dtype=float)
        if matrix.shape != (n, n) or not np.allclose(matrix, matrix.T):
            raise ScenarioError(
                f"{path} = {raw!r}: must be a symmetric {n} x {n} matrix (one row per channel)"
            )
        if not np.allclose(np.diag(matrix), 1.0):
            raise ScenarioError(f"{path} = {raw!r}: diagonal must be 1")
    if np.linalg.eigvalsh(matrix).min() < -1e-10:
        raise ScenarioError(f"{path} = {raw!r}: not a valid correlation matrix (not PSD)")
    return tuple(tuple(float(v) for v in row) for row in matrix)


def _mediation(tab: _Table, names: tuple[str, ...]) -> tuple[MediationSpec, ...]:
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


def _lift_tests(tab: _Table, cal: _Calendar, names: tuple[str, ...]) -> tuple[LiftTestSpec, ...]:
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


def _data(tab: _Table) -> DataSpec:
    periods = tab.integer("periods", low=1)
    freq = tab.string("freq", "W", ("W", "D"))
    start = tab.string("start", "2021-01-01")
    cal = _Calendar(start, freq, periods, tab.sub("start"))
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
        _numbers(tab, "response_multipliers", None)
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
    top = _Table(raw, "")
    scenario = Scenario(
        name=top.string("name"),
        description=top.string("description", ""),
        seed=top.integer("seed", 0),
        replicates=top.integer("replicates", 1, low=1),
        data=_data(top.table("data")),
    )
    top.done()
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
