"""The ``[model]`` and ``[fit]`` tables: what to fit and how.

Structure, transform families, fixed transform parameters, prior targets and control
columns are checked here and by the specs' own invariants; whether a prior's distribution
exists in PyMC, whether its arguments are valid and whether a backend exists is checked by
``recover`` before any fitting (``scenarios`` never imports pymc).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from mmm_workbench.scenarios.families import Family, TransformError, fmt_value, get_family
from mmm_workbench.scenarios.files import FileRef, file_ref, scenario_base
from mmm_workbench.scenarios.reader import ScenarioError, Table, build
from mmm_workbench.scenarios.spec import (
    GLOBAL_PARAMETERS,
    NO_TRANSFORM,
    FitSpec,
    GeoModelSpec,
    ModelSpec,
    PriorSpec,
    TransformSpec,
    declared,
    model_parameters,
)

__all__ = ["GLOBAL_PARAMETERS", "model_parameters", "parse_fit", "parse_model", "transform_family"]


def transform_family(tab: Table, role: str) -> tuple[Family, int, bool]:
    """Read the ``kind``, ``l_max`` and ``normalize`` keys of a transform table.

    The table is data's or model's. Returns the family, and the adstock's ``l_max`` and
    ``normalize`` (0 and True for a saturation).
    """
    try:
        family = get_family(role, tab.get("kind"), tab.path)
    except TransformError as err:
        raise ScenarioError(str(err)) from None
    if role != "adstock":
        return family, 0, True
    return family, tab.integer("l_max", low=1), tab.boolean("normalize", True)


def _transform(tab: Table, role: str) -> TransformSpec:
    """Return a model transform: family, and any parameters fixed at given values.

    A fixed parameter is one number (every channel) or an array of numbers, one per
    channel in the order of ``[[data.channels]]`` (``alpha = [0.3, 0.6]``; the count is
    checked by the :class:`~mmm_workbench.scenarios.spec.Scenario`, which knows the
    channels). An array is kept as a tuple of floats.
    """
    family, l_max, normalize = transform_family(tab, role)
    known = {p.name: p for p in family.params}
    fixed: dict[str, float | tuple[float, ...]] = {}
    for key in [k for k in tab.raw if k not in tab.seen]:
        if key not in known:
            raise ScenarioError(
                f"{tab.sub(key)} = {fmt_value(tab.raw[key])}: unknown parameter of {family.name} "
                f"{role}; expected one of: {', '.join(known)}"
            )
        value = tab.get(key)
        try:
            if isinstance(value, list):
                if not value:
                    raise ScenarioError(f"{tab.sub(key)} = []: give one number, or one per channel")
                fixed[key] = tuple(
                    known[key].check(v, f"{tab.sub(key)}[{i}]") for i, v in enumerate(value)
                )
            else:
                fixed[key] = known[key].check(value, tab.sub(key))
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
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in items):
            raise ScenarioError(
                f"{tab.sub(key)} = {fmt_value(value)}: prior arguments must be numbers"
            )
        args[key] = tuple(value) if isinstance(value, list) else value
    return build(tab.path, PriorSpec, dist=dist, args=MappingProxyType(args))


def _file(tab: Table, key: str) -> FileRef | None:
    """Return the file named at ``key``: a path, or ``{ file = "...", sha256 = "..." }``."""
    if not tab.has(key):
        return None
    value = tab.get(key)
    if isinstance(value, dict):
        inner = Table(value, tab.sub(key))
        ref = file_ref(inner.sub("file"), inner.get("file"), pinned=inner.get("sha256", None))
        inner.done()
        return ref
    return file_ref(tab.sub(key), value)


def _builder(tab: Table) -> tuple[str | None, FileRef | None]:
    """Return ``builder = "module:function"`` and its module's file next to the scenario.

    The module ``a.b`` is looked for as ``a/b.py`` (or ``a/b/__init__.py``) in the scenario's
    folder; found there, its content is part of the cell's identity (editing the model
    refits). Otherwise it must be importable; ``recover`` checks that before any fitting.
    """
    if not tab.has("builder"):
        return None, None
    builder = tab.string("builder")
    module, sep, function = builder.partition(":")
    if not sep or not module or not function or ":" in function:
        raise ScenarioError(
            f"{tab.sub('builder')} = {fmt_value(builder)}: must read 'module:function' "
            "(a module next to the scenario file or on the import path)"
        )
    parts = module.split(".")
    base = scenario_base()
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
        if (base / candidate).is_file():
            return builder, file_ref(tab.sub("builder"), str(candidate))
    return builder, None


def _geo_model(tab: Table) -> GeoModelSpec:
    """Read ``[model.geo]``: what varies by geo and the scales of the spreads' priors."""
    vary = tab.array("vary", list(GeoModelSpec().vary))
    spread: dict[str, float] = {}
    if tab.has("spread"):
        inner = tab.table("spread")
        spread = {key: inner.num(key) for key in list(inner.raw)}
        inner.done()
    tab.get("spread", None)  # a known key, for the message about an unknown one
    spec = build(
        tab.path,
        GeoModelSpec,
        level=tab.string("level", "geo"),
        vary=tuple(vary),
        spread=MappingProxyType(spread),
    )
    tab.done()
    return spec


def parse_model(tab: Table) -> ModelSpec:
    """Validate the ``[model]`` table.

    Its references to the data are checked by the
    :class:`~mmm_workbench.scenarios.spec.Scenario` that holds both. ``[model.adstock]`` and
    ``[model.saturation]`` may be left out (:data:`~mmm_workbench.scenarios.spec.NO_TRANSFORM`):
    the model kinds that need them say so before any fitting.
    """
    adstock = _transform(tab.table("adstock"), "adstock") if tab.has("adstock") else NO_TRANSFORM
    saturation = (
        _transform(tab.table("saturation"), "saturation") if tab.has("saturation") else NO_TRANSFORM
    )
    controls = tab.array("controls", [])
    for i, name in enumerate(controls):
        if not isinstance(name, str):
            raise ScenarioError(f"{tab.sub('controls')}[{i}] = {fmt_value(name)}: must be a string")
    priors: dict[str, PriorSpec] = {}
    if tab.has("priors"):
        table = tab.table("priors")
        if not (declared(adstock) and declared(saturation)):
            raise ScenarioError(
                f"{table.path}: priors name parameters of [model.adstock] and "
                "[model.saturation]; give both tables"
            )
        names = model_parameters(adstock.kind, saturation.kind)
        for key in list(table.raw):
            if key not in names:
                expected = ", ".join(names)
                raise ScenarioError(
                    f"{table.sub(key)}: no such model parameter; expected one of: {expected}"
                )
            priors[key] = _prior(table.table(key))
    builder, builder_file = _builder(tab)
    options: dict[str, Any] = {}
    if tab.has("options"):
        opts = tab.table("options")
        options = {k: opts.get(k) for k in opts.raw}
    spec = build(
        tab.path,
        ModelSpec,
        kind=tab.string("kind", "workbench"),
        adstock=adstock,
        saturation=saturation,
        order=tab.string("order", "adstock_first"),
        pooling=tab.string("pooling", "channel"),
        controls=tuple(controls),
        intercept=tab.boolean("intercept", True),
        trend=tab.boolean("trend", False),
        seasonality_period=tab.num("seasonality_period", 52.0),
        seasonality_order=tab.integer("seasonality_order", 0),
        likelihood=tab.string("likelihood", "normal"),
        priors=MappingProxyType(priors),
        lift_tests=tab.boolean("lift_tests", False),
        target_scale=tab.num("target_scale", None),
        config=_file(tab, "config"),
        builder=builder,
        builder_file=builder_file,
        options=MappingProxyType(options),
        geo=_geo_model(tab.table("geo")) if tab.has("geo") else None,
    )
    tab.done()
    return spec


def parse_fit(tab: Table) -> FitSpec:
    """Validate the ``[fit]`` table (the backend's name and options are checked by ``recover``)."""
    options: dict[str, Any] = {}
    if tab.has("options"):
        opts = tab.table("options")
        options = {k: opts.get(k) for k in opts.raw}
    spec = build(
        tab.path,
        FitSpec,
        backend=tab.string("backend", "nutpie"),
        draws=tab.integer("draws", 1000),
        tune=tab.integer("tune", 1000),
        chains=tab.integer("chains", 4),
        target_accept=tab.num("target_accept", FitSpec.target_accept),
        keep_draws=tab.integer("keep_draws", 400),
        min_ess=tab.integer("min_ess", 0),
        options=MappingProxyType(options),
    )
    tab.done()
    return spec
