"""Scenario files (TOML) to frozen, validated specs and their grid cells, read once.

Every value is checked where it is read or by the spec it builds, and every error names the
dotted path and the offending value, e.g. ``data.channels[1].adstock.alpha = 1.3: must be
in [0, 1)``. Unknown keys are errors, so a typo never passes silently.

:func:`read_scenario` is the one entry point for a file or a shipped scenario's name: it
reads the file, parses it and expands and validates its grid once, and returns a
:class:`ScenarioSource` holding the text, the spec and the cells, so a caller never parses
twice. :func:`load_scenario` and :func:`parse_scenario` return the spec alone.
"""

from __future__ import annotations

import copy
import itertools
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mmm_workbench.scenarios.families import Param, TransformError, check_params
from mmm_workbench.scenarios.files import FileRef, file_ref, resolving
from mmm_workbench.scenarios.grid import Cell, apply_override, cell_id, cell_label, parse_grid
from mmm_workbench.scenarios.model import parse_fit, parse_model, transform_family
from mmm_workbench.scenarios.reader import (
    MISSING,
    Calendar,
    ScenarioError,
    Table,
    build,
    numbers,
)
from mmm_workbench.scenarios.spec import (
    MAX_PERIODS,
    SPEND_PATTERNS,
    ChannelSpec,
    ChannelTruth,
    ConstantTrend,
    DataSpec,
    DemandSpec,
    EventSpec,
    FitSpec,
    FlightingSpec,
    FourierSpec,
    GeoSpec,
    GeoSpreadSpec,
    LiftTestSpec,
    LinearTrend,
    LogTrend,
    MediationSpec,
    NoiseSpec,
    PatternSpec,
    PiecewiseTrend,
    PlanFileSpec,
    PowerTrend,
    PriorSpec,
    ProxySpec,
    Scenario,
    ShockSpec,
    SourceSpec,
    SpendSpec,
    StretchSpec,
    TransformSpec,
    Trend,
    VarySpec,
)
from mmm_workbench.scenarios.truth_priors import check_truth_prior

__all__ = [
    "MAX_DEPTH",
    "SHIPPED",
    "ScenarioError",
    "ScenarioSource",
    "expand_grid",
    "find_scenario",
    "load_scenario",
    "parse_scenario",
    "read_scenario",
    "scenario_from_text",
    "shipped_scenarios",
]

SHIPPED = Path(__file__).resolve().parent
"""The folder of the shipped scenario library (``<name>.toml``)."""
MAX_DEPTH = 12
"""The deepest nesting of tables and arrays a scenario document may have (the format
needs 6): deeper documents are refused before anything recurses into them."""


# --------------------------------------------------------------------------- [data]


def _truth_prior(value: object, path: str) -> tuple[PriorSpec, float]:
    """Read a prior that stands for a number of the true world, and its mean.

    ``path`` is the number's (``data.channels[0].beta``). Distribution and arguments are
    checked here (:func:`~mmm_workbench.scenarios.truth_priors.check_truth_prior`); the
    support against the parameter's by the spec that holds the prior.
    """
    tab = Table(value, path)
    dist = tab.get("dist")
    args = {k: v for k, v in tab.raw.items() if k != "dist"}
    parent, _, key = path.rpartition(".")
    prior = build(path, PriorSpec, dist=dist, args=MappingProxyType(args))
    mean = build(parent, check_truth_prior, name=key, prior=prior, param=Param(name=key))
    return prior, mean


def _numbers_or_priors(
    tab: Table, keys: list[str], prefix: str
) -> tuple[dict[str, object], dict[str, PriorSpec]]:
    """Return the values of ``keys`` (a prior table by its mean) and the priors (``prefix.key``)."""
    values: dict[str, object] = {}
    priors: dict[str, PriorSpec] = {}
    for key in keys:
        value = tab.get(key)
        if isinstance(value, Mapping):
            priors[f"{prefix}{key}"], values[key] = _truth_prior(value, tab.sub(key))
        else:
            values[key] = value
    return values, priors


def _transform(tab: Table, role: str) -> tuple[TransformSpec, dict[str, PriorSpec]]:
    """Return a data transform and the priors that stand for its parameters (``role.key``)."""
    family, l_max, normalize = transform_family(tab, role)
    raw, priors = _numbers_or_priors(tab, [k for k in tab.raw if k not in tab.seen], f"{role}.")
    try:
        params = check_params(role, family.name, raw, tab.path)
    except TransformError as err:
        raise ScenarioError(str(err)) from None
    spec = build(
        tab.path,
        TransformSpec,
        kind=family.name,
        params=MappingProxyType(dict(params)),
        l_max=l_max,
        normalize=normalize,
    )
    return spec, priors


def _trend(tab: Table) -> Trend:
    kind = tab.string("kind", "constant", ("constant", "linear", "power", "log", "piecewise"))
    trend: Trend
    if kind == "constant":
        trend = build(tab.path, ConstantTrend, level=tab.num("level", 1.0))
    elif kind == "linear":
        trend = build(tab.path, LinearTrend, level=tab.num("level"), slope=tab.num("slope"))
    elif kind == "power":
        trend = build(
            tab.path,
            PowerTrend,
            start=tab.num("start"),
            stop=tab.num("stop"),
            exponent=tab.num("exponent"),
            shift=tab.num("shift", 0.0),
        )
    elif kind == "log":
        trend = build(
            tab.path,
            LogTrend,
            start=tab.num("start"),
            stop=tab.num("stop"),
            shift=tab.num("shift", 0.0),
        )
    else:
        points: list[tuple[int, float]] = []
        for cp in tab.tables("changepoints"):
            points.append((cp.integer("at", low=1), cp.num("slope_change")))
            cp.done()
        trend = build(
            tab.path,
            PiecewiseTrend,
            level=tab.num("level"),
            slope=tab.num("slope"),
            changepoints=tuple(points),
        )
    tab.done()
    return trend


def _demand(tab: Table) -> DemandSpec:
    seasonality = []
    for s in tab.tables("seasonality"):
        sin = numbers(s, "sin", [])
        cos = numbers(s, "cos", [])
        order = max(len(sin), len(cos))
        if order == 0:
            raise ScenarioError(f"{s.path}: give 'sin' and/or 'cos' coefficients")
        seasonality.append(
            build(
                s.path,
                FourierSpec,
                period=s.num("period"),
                sin=sin + (0.0,) * (order - len(sin)),
                cos=cos + (0.0,) * (order - len(cos)),
            )
        )
        s.done()
    spec = build(
        tab.path,
        DemandSpec,
        scale=tab.num("scale", 1.0),
        trend=_trend(tab.table("trend")) if tab.has("trend") else ConstantTrend(),
        seasonality=tuple(seasonality),
        day_of_week=numbers(tab, "day_of_week", []),
        noise_sd=tab.num("noise_sd", 0.0),
        rho=tab.num("rho", 0.0),
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
            out.append(
                build(s.path, ShockSpec, start=start, periods=periods, factor=s.num("factor"))
            )
        else:
            out.append(build(s.path, StretchSpec, start=start, periods=periods))
        s.done()
    return tuple(out)


def _pattern(tab: Table) -> PatternSpec:
    """Read ``pattern = "<kind>"`` and the pattern's parameters from a spend table."""
    kind = tab.string("pattern", choices=tuple(SPEND_PATTERNS))
    params = {key: tab.num(key) for key in SPEND_PATTERNS[kind] if tab.has(key)}
    return build(tab.path, PatternSpec, kind=kind, params=MappingProxyType(params))


def _plan_file(tab: Table) -> PlanFileSpec:
    """Read ``file``, ``column`` and the plan's options from a spend table."""
    ref = file_ref(tab.sub("file"), tab.get("file"), pinned=tab.get("sha256", None))
    date_column = tab.get("date_column", None)
    return build(
        tab.path,
        PlanFileSpec,
        file=ref,
        column=tab.string("column"),
        date_column=None if date_column is None else tab.string("date_column"),
        scale=tab.num("scale", 1.0),
        shift=tab.num("shift", 0.0),
    )


def _vary(tab: Table) -> VarySpec:
    """Read ``vary = { kind = ..., block | sd }``."""
    v = tab.table("vary")
    kind = v.string("kind", choices=("block_bootstrap", "noise"))
    spec = build(
        v.path,
        VarySpec,
        kind=kind,
        **({"block": v.integer("block", 8, low=1)} if kind == "block_bootstrap" else {}),
        **({"sd": v.num("sd", 0.1)} if kind == "noise" else {}),
    )
    v.done()
    return spec


def _spend(tab: Table, cal: Calendar) -> SpendSpec:
    """Read a channel's spend plan: demand-driven, a pattern or a file (:class:`SpendSpec`)."""
    forms = [key for key in ("demand_share", "pattern", "file") if tab.has(key)]
    if len(forms) > 1:
        raise ScenarioError(
            f"{tab.sub(forms[1])}: give one of demand_share, pattern or file ({forms[0]} is "
            "given too): they are alternative plans, not combined"
        )
    if not forms:
        raise ScenarioError(
            f"{tab.path}: give demand_share, pattern or file (the channel needs a spend plan)"
        )
    form = forms[0]
    if form != "demand_share":
        own = SPEND_PATTERNS.get(str(tab.raw["pattern"]), {}) if form == "pattern" else {}
        for key in ("demand_strength", "noise_sd", "noise", "flighting"):
            if tab.has(key) and key not in own:
                raise ScenarioError(
                    f"{tab.sub(key)}: belongs to the demand-driven plan (demand_share); a "
                    f"{form} plan is an alternative to it, not combined with it"
                )
        extra = {
            "pattern": _pattern(tab) if form == "pattern" else None,
            "plan": _plan_file(tab) if form == "file" else None,
            "vary": _vary(tab) if tab.has("vary") else None,
        }
        spec = build(
            tab.path,
            SpendSpec,
            dark=_stretches(tab, "dark", cal, shocks=False),
            shocks=_stretches(tab, "shocks", cal, shocks=True),
            **extra,
        )
        tab.done()
        return spec
    flighting = None
    if tab.has("flighting"):
        f = tab.table("flighting")
        flighting = build(
            f.path, FlightingSpec, on_mean=f.num("on_mean"), off_mean=f.num("off_mean")
        )
        f.done()
    spec = build(
        tab.path,
        SpendSpec,
        demand_share=tab.num("demand_share"),
        demand_strength=tab.num("demand_strength", 1.0),
        noise_sd=tab.num("noise_sd", 0.0),
        noise=tab.string("noise", "normal"),
        flighting=flighting,
        dark=_stretches(tab, "dark", cal, shocks=False),
        shocks=_stretches(tab, "shocks", cal, shocks=True),
        vary=_vary(tab) if tab.has("vary") else None,
    )
    tab.done()
    return spec


_CHANNELS: dict[tuple[str, object, int, int], ChannelSpec] = {}
"""Channels parsed before, by their table's ``repr`` and the calendar: the cells of a grid
share most channels, and a spec is immutable (only successes are kept)."""


def _channel(tab: Table, cal: Calendar) -> ChannelSpec:
    spend = tab.raw.get("spend")
    if isinstance(spend, Mapping) and "file" in spend:
        return _parse_channel(tab, cal)  # the same text may name another file, or new content
    key = (repr(tab.raw), cal.origin, cal.step, cal.periods)
    if key not in _CHANNELS:
        if len(_CHANNELS) > 4096:
            _CHANNELS.clear()
        _CHANNELS[key] = _parse_channel(tab, cal)
    return _CHANNELS[key]


def _parse_channel(tab: Table, cal: Calendar) -> ChannelSpec:
    x_scale_raw = tab.get("x_scale", "max")
    adstock, adstock_priors = _transform(tab.table("adstock"), "adstock")
    saturation, saturation_priors = _transform(tab.table("saturation"), "saturation")
    beta, beta_prior = _numbers_or_priors(tab, ["beta"], "")
    spec = build(
        tab.path,
        ChannelSpec,
        name=tab.string("name"),
        spend=_spend(tab.table("spend"), cal),
        adstock=adstock,
        saturation=saturation,
        beta=beta["beta"] if beta_prior else tab.num("beta"),
        order=tab.string("order", "adstock_first"),
        x_scale="max" if x_scale_raw == "max" else tab.num("x_scale"),
        priors=MappingProxyType(adstock_priors | saturation_priors | beta_prior),
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
        return tuple(tuple(1.0 if i == j else r for j in range(n)) for i in range(n))
    rows = tab.array("spend_correlation")
    return tuple(numbers(Table({"r": row}, path), "r") for row in rows)


def _mediation(tab: Table) -> tuple[MediationSpec, ...]:
    links = []
    for m in tab.tables("mediation"):
        links.append(
            build(
                m.path,
                MediationSpec,
                source=m.string("source"),
                target=m.string("target"),
                on=m.string("on", "spend"),
                strength=m.num("strength"),
            )
        )
        m.done()
    return tuple(links)


def _lift_tests(tab: Table, cal: Calendar) -> tuple[LiftTestSpec, ...]:
    tests = []
    for t in tab.tables("lift_tests"):
        tests.append(
            build(
                t.path,
                LiftTestSpec,
                channel=t.string("channel"),
                start=cal.index(t.get("start"), t.sub("start")),
                periods=t.integer("periods", low=1),
                spend_change=t.num("spend_change"),
                sigma=t.num("sigma", None),
                sigma_rel=t.num("sigma_rel", None),
            )
        )
        t.done()
    return tuple(tests)


def _events(tab: Table) -> tuple[EventSpec, ...]:
    events = []
    for e in tab.tables("events"):
        events.append(
            build(
                e.path,
                EventSpec,
                name=e.string("name"),
                dates=tuple(e.date_list("dates")),
                effect=e.num("effect"),
                duration=e.integer("duration", 1, low=1),
            )
        )
        e.done()
    return tuple(events)


def _geo(tab: Table) -> GeoSpec:
    """Read ``[data.geo]``: the geos, their sizes, the spend split and the spread."""
    spread = GeoSpreadSpec()
    if tab.has("spread"):
        s = tab.table("spread")
        keys = ("beta", "adstock", "saturation", "demand", "seasonality")
        spread = build(s.path, GeoSpreadSpec, **{k: s.num(k) for k in keys if s.has(k)})
        for key in keys:
            s.get(key, None)  # known keys, for the message about an unknown one
        s.done()
    names = tab.array("names", [])
    sizes = numbers(tab, "sizes", [])
    implied = len(names) or len(sizes)  # count may be left to the names or the sizes
    spec = build(
        tab.path,
        GeoSpec,
        count=tab.integer("count", implied or MISSING, low=2),
        names=tuple(names),
        sizes=sizes,
        size_decay=tab.num("size_decay", 0.0),
        split_noise=tab.num("split_noise", 0.0),
        confounding=tab.num("confounding", 0.0),
        spread=spread,
    )
    tab.done()
    return spec


_SOURCE_KEYS = (
    "source",
    "periods",
    "freq",
    "start",
    "train_periods",
    "target",
    "response_multipliers",
)
"""The ``[data]`` keys that describe an external dataset (``source = {...}``)."""


def _truth_file(ref: FileRef, where: str) -> dict[str, Any]:
    """Read an external dataset's truth file (TOML) into :class:`SourceSpec` fields."""
    try:
        raw = tomllib.loads(Path(ref.resolved).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{where} = {ref.path!r}: cannot read it: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{where} = {ref.path!r}: malformed TOML: {err}") from None
    top = Table(raw, where)  # its keys read as below the path that named it
    channels = []
    for name, value in Table(top.get("channels"), top.sub("channels")).raw.items():
        c = Table(value, f"{top.sub('channels')}.{name}")
        fields: dict[str, Any] = {"name": name}
        for key in ("beta", "roas", "contribution_total", "contribution_share"):
            fields[key] = c.num(key, None)
        for role in ("adstock", "saturation"):
            if c.has(role):
                fields[role], priors = _transform(c.table(role), role)
                if priors:
                    raise ScenarioError(f"{c.sub(role)}: the truth holds numbers, not priors")
        x_scale = c.get("x_scale", "max")
        fields["x_scale"] = "max" if x_scale == "max" else c.num("x_scale")
        c.done()
        channels.append(build(c.path, ChannelTruth, **fields))
    fields = {"channels": tuple(channels), "sigma": top.num("sigma", None)}
    if top.has("contributions"):
        t = top.table("contributions")
        with resolving(Path(ref.resolved).parent):  # beside the truth file
            fields["contributions"] = file_ref(
                t.sub("file"), t.get("file"), pinned=t.get("sha256", None)
            )
        fields["contributions_date_column"] = t.string("date_column", "date")
        t.done()
    top.done()
    return fields


def _source(tab: Table) -> SourceSpec:
    """Read ``[data] source = { file, truth, date_column, controls }`` and the truth file."""
    s = tab.table("source")
    file = file_ref(s.sub("file"), s.get("file"), pinned=s.get("sha256", None))
    truth = file_ref(s.sub("truth"), s.get("truth"), pinned=s.get("truth_sha256", None))
    controls = s.array("controls", [])
    spec = build(
        s.path,
        SourceSpec,
        file=file,
        truth=truth,
        date_column=s.string("date_column", "date"),
        controls=tuple(controls),
        **_truth_file(truth, s.sub("truth")),
    )
    s.done()
    return spec


def _multipliers(tab: Table) -> tuple[float, ...]:
    """Return ``response_multipliers``, or the spec's default grid."""
    if tab.has("response_multipliers"):
        return numbers(tab, "response_multipliers")
    return DataSpec.response_multipliers  # the dataclass field's default


def _external(tab: Table) -> DataSpec:
    """Read a ``[data]`` table that names an external dataset (``source = {...}``)."""
    for key in tab.raw:
        if key not in _SOURCE_KEYS:
            raise ScenarioError(
                f"{tab.sub(key)}: describes a simulated world; with data.source the data "
                f"is the file's (keys here: {', '.join(_SOURCE_KEYS)})"
            )
    periods = tab.integer("periods", low=1)
    if periods > MAX_PERIODS:
        raise ScenarioError(f"{tab.sub('periods')} = {periods}: must be <= {MAX_PERIODS}")
    multipliers = _multipliers(tab)
    spec = build(
        tab.path,
        DataSpec,
        periods=periods,
        freq=tab.string("freq", "W", ("W", "D")),
        start=tab.date("start", "2021-01-01"),
        train_periods=tab.integer("train_periods", periods, low=1),
        target=tab.string("target", "sales"),
        demand=DemandSpec(),
        source=_source(tab),
        response_multipliers=multipliers,
    )
    tab.done()
    return spec


def _data(tab: Table) -> DataSpec:
    if tab.has("source"):
        return _external(tab)
    periods = tab.integer("periods", low=1)
    if periods > MAX_PERIODS:
        raise ScenarioError(f"{tab.sub('periods')} = {periods}: must be <= {MAX_PERIODS}")
    freq = tab.string("freq", "W", ("W", "D"))
    start = tab.date("start", "2021-01-01")
    cal = Calendar(start, freq, periods, tab.sub("start"))
    channels = tuple(_channel(c, cal) for c in tab.tables("channels"))
    proxy = None
    if tab.has("proxy"):
        p = tab.table("proxy")
        proxy = build(
            p.path,
            ProxySpec,
            name=p.string("name", "demand_proxy"),
            noise_sd=p.num("noise_sd", 0.0),
            bias=p.num("bias", 0.0),
            lag=p.integer("lag", 0),
        )
        p.done()
    noise = NoiseSpec()
    priors: dict[str, PriorSpec] = {}
    if tab.has("noise"):
        n = tab.table("noise")
        sd, sd_prior = _numbers_or_priors(n, ["sd"] if n.has("sd") else [], "noise.")
        priors |= sd_prior
        noise = build(
            n.path,
            NoiseSpec,
            kind=n.string("kind", "normal", ("normal", "student_t", "lognormal")),
            sd=sd["sd"] if sd_prior else n.num("sd", 0.0),
            nu=n.num("nu", 5.0),
        )
        n.done()
    intercept, intercept_prior = _numbers_or_priors(
        tab, ["intercept"] if tab.has("intercept") else [], ""
    )
    priors |= intercept_prior
    multipliers = _multipliers(tab)
    spec = build(
        tab.path,
        DataSpec,
        periods=periods,
        freq=freq,
        start=start,
        train_periods=tab.integer("train_periods", periods, low=1),
        target=tab.string("target", "sales"),
        model=tab.string("model", "additive"),
        intercept=intercept["intercept"] if intercept_prior else tab.num("intercept", 0.0),
        demand=_demand(tab.table("demand")) if tab.has("demand") else DemandSpec(),
        proxy=proxy,
        events=_events(tab),
        channels=channels,
        spend_correlation=_correlation(tab, len(channels)),
        total_budget=tab.num("total_budget", None),
        mediation=_mediation(tab),
        noise=noise,
        lift_tests=_lift_tests(tab, cal),
        response_multipliers=multipliers,
        priors=MappingProxyType(priors),
        geo=_geo(tab.table("geo")) if tab.has("geo") else None,
    )
    tab.done()
    return spec


# --------------------------------------------------------------------------- documents


def _check_depth(raw: Mapping[str, object]) -> None:
    """Refuse documents nested deeper than :data:`MAX_DEPTH`, naming the deep value's path.

    This runs before anything, copying included, recurses into them.
    """
    stack: list[tuple[object, str, int]] = [(raw, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if type(node) in (str, int, float, bool):
            continue
        if depth > MAX_DEPTH:
            raise ScenarioError(f"{path}: tables and arrays nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, Mapping):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))


def _parse(raw: Mapping[str, object], *, cell: bool = False) -> Scenario:
    """One document to its scenario, every value checked except the grid's cells.

    The scenario keeps a deep copy of ``raw``; a grid cell's document (``cell``, built by
    :func:`expand_grid` from a checked base, unchanged parts shared with it) is kept as is.
    """
    if not cell:
        _check_depth(raw)
    top = Table(raw, "")
    data = _data(top.table("data"))
    scenario = build(
        "",
        Scenario,
        name=top.get("name"),
        description=top.string("description", ""),
        seed=top.integer("seed", 0),
        replicates=top.integer("replicates", 1, low=1),
        data=data,
        model=parse_model(top.table("model")) if top.has("model") else None,
        fit=parse_fit(top.table("fit")) if top.has("fit") else FitSpec(),
        grid=parse_grid(top.table("grid")) if top.has("grid") else (),
        raw=MappingProxyType(dict(raw) if cell else copy.deepcopy(dict(raw))),
    )
    top.done()
    return scenario


def _cell_label(overrides: Sequence[tuple[str, Any]]) -> str:
    return cell_label(overrides)


def expand_grid(scenario: Scenario) -> list[Cell]:
    """All cells of a scenario's grid (one ``base`` cell, the scenario itself, without one).

    Each cell is the base document with its overrides applied, validated from scratch; a
    cell's ``raw`` shares its unchanged tables with the base's (treat it as read-only).
    :func:`read_scenario` expands the grid once and keeps the cells: prefer its ``cells``
    to calling this again.

    Parameters
    ----------
    scenario
        A scenario from :func:`parse_scenario` or :func:`load_scenario`.

    Raises
    ------
    ScenarioError
        A path that does not exist, a value the cell's validation rejects (the message
        names the cell's overrides), or two cells with identical specs.
    """
    if not scenario.grid:
        return [Cell(cell_id=cell_id(scenario), overrides=(), scenario=scenario)]
    axes = scenario.grid
    cells = []
    for combo in itertools.product(*(axis.levels for axis in axes)):
        overrides = tuple(
            (path, value)
            for axis, level in zip(axes, combo, strict=True)
            for path, value in zip(axis.paths, level, strict=True)
        )
        raw = dict(scenario.raw)  # unchanged tables stay shared with the base (read-only)
        raw.pop("grid", None)
        try:
            for path, value in overrides:
                apply_override(raw, path, value, shared=True)
            cell_scenario = _parse(raw, cell=True)
        except ScenarioError as err:
            raise ScenarioError(f"grid cell ({_cell_label(overrides)}): {err}") from None
        cells.append(
            Cell(cell_id=cell_id(cell_scenario), overrides=overrides, scenario=cell_scenario)
        )
    first: dict[str, Cell] = {}
    for cell in cells:
        if cell.cell_id in first:
            raise ScenarioError(
                f"grid: cells ({_cell_label(first[cell.cell_id].overrides)}) and "
                f"({_cell_label(cell.overrides)}) have identical specs (a value repeated on "
                "an axis?)"
            )
        first[cell.cell_id] = cell
    return cells


def parse_scenario(raw: Mapping[str, object], base: str | Path | None = None) -> Scenario:
    """Validate a parsed TOML document and return the frozen :class:`Scenario`.

    Every cell of its grid is validated too (and dropped: :func:`scenario_from_text` keeps
    them). Relative file paths in it are relative to ``base`` (default: the working
    directory).

    Raises
    ------
    ScenarioError
        For any invalid, missing or unknown key; the message names its path and value.
    """
    with resolving(base):
        scenario = _parse(raw)
        expand_grid(scenario)
    return scenario


# --------------------------------------------------------------------------- files


@dataclass(frozen=True, kw_only=True, eq=False)
class ScenarioSource:
    """A scenario read, parsed and expanded once.

    Attributes
    ----------
    origin : str
        Where it came from: the file's path, or the name given for a text.
    text : str
        The document's text (what a run directory keeps as ``scenario.toml``).
    scenario : Scenario
        The validated spec.
    cells : tuple of Cell
        Every cell of its grid, validated, in grid order (one ``base`` cell without a grid).
    base : str or None
        The folder relative file paths in it are resolved against (the scenario file's
        folder), ``None`` for the working directory.
    """

    origin: str
    text: str
    scenario: Scenario
    cells: tuple[Cell, ...]
    base: str | None = None

    @property
    def identity(self) -> str:
        """What makes two scenario files the same run.

        The root seed and the set of cell ids (JSON). The order of a grid axis's values does not
        matter.
        """
        return json.dumps(
            {"seed": self.scenario.seed, "cells": sorted(c.cell_id for c in self.cells)}
        )


def shipped_scenarios() -> tuple[str, ...]:
    """Return the names of the shipped scenarios (``quickstart``, ``confounded-demand``, ...)."""
    return tuple(sorted(p.stem for p in SHIPPED.glob("*.toml")))


def find_scenario(source: str | Path) -> Path:
    """Return the file of a scenario.

    ``source`` itself if it exists, else the shipped scenario of that name (the one place names are
    looked up).

    Raises
    ------
    ScenarioError
        Neither a file nor a shipped scenario's name; the message lists the shipped ones.
    """
    file = Path(source)
    if file.exists():
        return file
    if str(source) in shipped_scenarios():
        return SHIPPED / f"{source}.toml"
    raise ScenarioError(
        f"{source}: no such scenario file or shipped scenario; shipped: "
        + ", ".join(shipped_scenarios())
    )


def _read_text(file: Path) -> str:
    if file.is_dir():
        raise ScenarioError(f"{file}: is a directory; give a scenario's .toml file")
    try:
        data = file.read_bytes()
    except OSError as err:
        raise ScenarioError(f"{file}: cannot read it: {err.strerror or err}") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        raise ScenarioError(
            f"{file}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}); "
            "save the scenario as UTF-8"
        ) from None


def scenario_from_text(
    text: str, origin: str = "scenario", base: str | Path | None = None
) -> ScenarioSource:
    """Parse a scenario document's text, validate it and expand its grid, once.

    Parameters
    ----------
    text
        The TOML text.
    origin
        The name error messages give for malformed TOML (the file's path).
    base
        The folder relative file paths (media plans, datasets, configs) are relative to;
        ``None`` for the working directory.

    Raises
    ------
    ScenarioError
        Malformed TOML (naming ``origin``) or an invalid value (naming the path).
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{origin}: malformed TOML: {err}") from None
    except RecursionError:
        raise ScenarioError(
            f"{origin}: malformed TOML: arrays or tables nested too deeply"
        ) from None
    with resolving(base):
        scenario = _parse(raw)
        cells = tuple(expand_grid(scenario))
    return ScenarioSource(
        origin=origin,
        text=text,
        scenario=scenario,
        cells=cells,
        base=None if base is None else str(Path(base).resolve()),
    )


def read_scenario(source: str | Path) -> ScenarioSource:
    """Read a scenario file (or a shipped scenario by name) once: text, spec and cells.

    Parameters
    ----------
    source
        A ``.toml`` file, or the name of a shipped scenario (e.g. ``"confounded-demand"``).

    Raises
    ------
    ScenarioError
        A missing, unreadable or undecodable file, a directory, malformed TOML, or an
        invalid value; the message names the file or the path and value.
    """
    file = find_scenario(source)
    return scenario_from_text(_read_text(file), str(file), base=file.parent)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (see :func:`read_scenario`), the spec alone.

    Raises
    ------
    ScenarioError
        As :func:`read_scenario`.
    """
    return read_scenario(path).scenario
