"""The ``[model]`` and ``[fit]`` tables: what to fit and how.

Structure, transform families, fixed transform parameters, prior targets and control
columns are checked here; whether a prior's distribution exists in PyMC, whether its
arguments are valid and whether a backend exists is checked by ``recover`` before any
fitting (``scenarios`` never imports pymc).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from mmm_workbench.scenarios.reader import ScenarioError, Table
from mmm_workbench.scenarios.spec import DataSpec, FitSpec, ModelSpec, PriorSpec, TransformSpec
from mmm_workbench.simulate.transforms import Family, TransformError, get_family

__all__ = ["GLOBAL_PARAMETERS", "model_parameters", "parse_fit", "parse_model"]

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


def model_parameters(adstock: str, saturation: str) -> tuple[str, ...]:
    """Names a prior may target for these transform families."""
    out = [f"adstock_{p.name}" for p in get_family("adstock", adstock, "adstock").params]
    out += [f"saturation_{p.name}" for p in get_family("saturation", saturation, "").params]
    return (*out, *GLOBAL_PARAMETERS)


def transform_family(tab: Table, role: str) -> tuple[Family, int, bool]:
    """The ``kind``, ``l_max`` and ``normalize`` keys of a transform table, data's or
    model's: the family, and the adstock's ``l_max`` and ``normalize`` (0 and True for a
    saturation)."""
    try:
        family = get_family(role, tab.get("kind"), tab.path)
    except TransformError as err:
        raise ScenarioError(str(err)) from None
    if role != "adstock":
        return family, 0, True
    return family, tab.integer("l_max", low=1), tab.boolean("normalize", True)


def _transform(tab: Table, role: str) -> TransformSpec:
    """A model transform: family, and any parameters fixed at given values."""
    family, l_max, normalize = transform_family(tab, role)
    known = {p.name: p for p in family.params}
    fixed: dict[str, float] = {}
    for key in [k for k in tab.raw if k not in tab.seen]:
        if key not in known:
            raise ScenarioError(
                f"{tab.sub(key)} = {tab.raw[key]!r}: unknown parameter of {family.name} "
                f"{role}; expected one of: {', '.join(known)}"
            )
        try:
            fixed[key] = known[key].check(tab.get(key), tab.sub(key))
        except TransformError as err:
            raise ScenarioError(str(err)) from None
    return TransformSpec(
        kind=family.name, params=MappingProxyType(fixed), l_max=l_max, normalize=normalize
    )


def _prior(tab: Table) -> PriorSpec:
    dist = tab.string("dist")
    args: dict[str, Any] = {}
    for key in [k for k in tab.raw if k != "dist"]:
        value = tab.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float | list):
            raise ScenarioError(f"{tab.sub(key)} = {value!r}: prior arguments must be numbers")
        args[key] = tuple(value) if isinstance(value, list) else value
    return PriorSpec(dist=dist, args=MappingProxyType(args))


def parse_model(tab: Table, data: DataSpec) -> ModelSpec:
    """Validate the ``[model]`` table against the data it will be fitted to."""
    adstock = _transform(tab.table("adstock"), "adstock")
    saturation = _transform(tab.table("saturation"), "saturation")
    available = ([data.proxy.name] if data.proxy else []) + [f"event_{e.name}" for e in data.events]
    controls = tuple(tab.array("controls", []))
    for i, name in enumerate(controls):
        if name not in available:
            raise ScenarioError(
                f"{tab.sub('controls')}[{i}] = {name!r}: the data has no such column; "
                f"controls available: {', '.join(available) or 'none'}"
            )
    names = model_parameters(adstock.kind, saturation.kind)
    priors: dict[str, PriorSpec] = {}
    if tab.has("priors"):
        table = tab.table("priors")
        for key in list(table.raw):
            if key not in names:
                expected = ", ".join(names)
                raise ScenarioError(
                    f"{table.sub(key)}: no such model parameter; expected one of: {expected}"
                )
            priors[key] = _prior(table.table(key))
    spec = ModelSpec(
        kind=tab.string("kind", "workbench"),
        adstock=adstock,
        saturation=saturation,
        order=tab.string("order", "adstock_first", ("adstock_first", "saturation_first")),
        pooling=tab.string("pooling", "channel", ("channel", "shared")),
        controls=controls,
        intercept=tab.boolean("intercept", True),
        trend=tab.boolean("trend", False),
        seasonality_period=tab.num("seasonality_period", 52.0, low=0.0, low_open=True),
        seasonality_order=tab.integer("seasonality_order", 0),
        likelihood=tab.string("likelihood", "normal", ("normal", "student_t")),
        priors=MappingProxyType(priors),
        lift_tests=tab.boolean("lift_tests", False),
    )
    if spec.lift_tests and not data.lift_tests:
        raise ScenarioError(f"{tab.sub('lift_tests')} = true: data has no [[data.lift_tests]]")
    tab.done()
    return spec


def parse_fit(tab: Table) -> FitSpec:
    """Validate the ``[fit]`` table (the backend's name is checked by ``recover``)."""
    options: dict[str, Any] = {}
    if tab.has("options"):
        opts = tab.table("options")
        options = {k: opts.get(k) for k in opts.raw}
    spec = FitSpec(
        backend=tab.string("backend", "nutpie"),
        draws=tab.integer("draws", 1000, low=1),
        tune=tab.integer("tune", 1000, low=0),
        chains=tab.integer("chains", 4, low=1),
        target_accept=tab.num(
            "target_accept", 0.8, low=0.0, high=1.0, low_open=True, high_open=True
        ),
        keep_draws=tab.integer("keep_draws", 400, low=1),
        options=MappingProxyType(options),
    )
    tab.done()
    return spec
