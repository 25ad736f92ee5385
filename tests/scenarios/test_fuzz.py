"""Fuzzing the scenario format: every input loads and simulates to finite data, or is refused
with a one-line error naming its path.

Hypothesis mutates valid base scenarios, which between them use every field of the format
(nested tables, arrays of tables, the grid's axes and zips included): it replaces values at
random paths with random TOML values (numbers at and past their bounds, NaN, infinities,
huge integers, strings, dates, arrays, tables), scales numbers, deletes keys and adds keys,
known and unknown. The property (issue 10): the result either loads, passes the
simulator's pre-flight check (``simulate.check_data``) and simulates one small replicate whose observed data and truth
are finite, or raises :class:`ScenarioError` whose message is one line starting with a path
of the document; never another exception (a RuntimeWarning from the simulator is an error
under pytest's configuration), never a file written.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmm_workbench.scenarios import (
    Scenario,
    ScenarioError,
    expand_grid,
    parse_scenario,
    replicate_rng,
)
from mmm_workbench.scenarios.families import ADSTOCKS, SATURATIONS, Family, get_family
from mmm_workbench.simulate import check_data, generate
from mmm_workbench.simulate.truth import NO_BETA

Doc = dict[str, Any]
Path_ = tuple[str | int, ...]

CHANNEL_TV: Doc = {
    "name": "tv",
    "spend": {
        "demand_share": 10.0,
        "demand_strength": 1.0,
        "noise_sd": 0.2,
        "noise": "normal",
        "flighting": {"on_mean": 4.0, "off_mean": 2.0},
        "dark": [{"start": 10, "periods": 2}],
        "shocks": [{"start": "2021-01-22", "periods": 2, "factor": 2.0}],
    },
    "adstock": {"kind": "geometric", "alpha": 0.6, "l_max": 6, "normalize": True},
    "saturation": {"kind": "logistic", "lam": 1.5},
    "beta": 40.0,
    "order": "adstock_first",
    "x_scale": "max",
}
CHANNEL_SEARCH: Doc = {
    "name": "search",
    "spend": {"demand_share": 5.0, "noise": "lognormal", "noise_sd": 0.3},
    "adstock": {"kind": "weibull_pdf", "lam": 2.0, "k": 1.5, "l_max": 4, "normalize": False},
    "saturation": {"kind": "hill", "slope": 1.5, "kappa": 0.5},
    "beta": 20.0,
    "order": "saturation_first",
    "x_scale": 100.0,
}
FULL: Doc = {
    "name": "fuzz",
    "description": "every field of the format",
    "seed": 5,
    "replicates": 2,
    "data": {
        "periods": 30,
        "freq": "W",
        "start": "2021-01-01",
        "train_periods": 26,
        "target": "sales",
        "model": "additive",
        "intercept": 50.0,
        "total_budget": 5000.0,
        "response_multipliers": [0.0, 0.5, 1.0, 1.5],
        "spend_correlation": [[1.0, 0.3], [0.3, 1.0]],
        "demand": {
            "scale": 100.0,
            "noise_sd": 0.05,
            "rho": 0.5,
            "effect": 1.0,
            "trend": {"kind": "linear", "level": 1.0, "slope": 0.01},
            "seasonality": [{"period": 13, "sin": [0.1], "cos": [0.05, 0.02]}],
        },
        "proxy": {"name": "demand_proxy", "noise_sd": 0.1, "bias": 0.05, "lag": 1},
        "noise": {"kind": "student_t", "sd": 2.0, "nu": 5.0},
        "events": [{"name": "promo", "dates": ["2021-02-05"], "effect": 30.0, "duration": 2}],
        "channels": [CHANNEL_TV, CHANNEL_SEARCH],
        "mediation": [{"source": "tv", "target": "search", "on": "spend", "strength": 0.5}],
        "lift_tests": [
            {
                "channel": "tv",
                "start": "2021-03-05",
                "periods": 3,
                "spend_change": 0.5,
                "sigma": 1.0,
            },
            {
                "channel": "search",
                "start": 12,
                "periods": 2,
                "spend_change": -0.5,
                "sigma_rel": 0.1,
            },
        ],
    },
    "model": {
        "kind": "workbench",
        "adstock": {"kind": "geometric", "l_max": 6},
        "saturation": {"kind": "logistic", "lam": 2.0},
        "order": "adstock_first",
        "pooling": "channel",
        "controls": ["demand_proxy", "event_promo"],
        "intercept": True,
        "trend": True,
        "seasonality_period": 52.0,
        "seasonality_order": 2,
        "likelihood": "student_t",
        "lift_tests": True,
        "priors": {
            "saturation_beta": {"dist": "HalfNormal", "sigma": 2.0},
            "adstock_alpha": {"dist": "Beta", "alpha": [1.0, 1.0], "beta": 3.0},
        },
    },
    "fit": {
        "backend": "nutpie",
        "draws": 100,
        "tune": 100,
        "chains": 2,
        "target_accept": 0.9,
        "keep_draws": 50,
        "options": {"adaptation": "low_rank"},
    },
    "grid": {
        "data.proxy.noise_sd": [0.0, 0.2],
        "zip": [{"data.channels[0].beta": [10.0, 20.0], "data.channels.search.beta": [5.0, 6.0]}],
    },
}
DAILY: Doc = {
    "name": "daily",
    "data": {
        "periods": 28,
        "freq": "D",
        "start": dt.date(2022, 3, 1),
        "model": "multiplicative",
        "intercept": 100.0,
        "spend_correlation": 0.2,
        "noise": {"kind": "normal", "sd": 0.05},
        "demand": {
            "scale": 10.0,
            "day_of_week": [0.1, 0.0, 0.0, 0.0, 0.1, 0.2, -0.1],
            "trend": {
                "kind": "piecewise",
                "level": 1.0,
                "slope": 0.01,
                "changepoints": [{"at": 10, "slope_change": -0.02}],
            },
        },
        "channels": [
            {
                "name": "a",
                "spend": {"demand_share": 2.0, "shocks": [{"start": 5, "periods": 3, "factor": 0}]},
                "adstock": {"kind": "delayed", "alpha": 0.5, "theta": 1.0, "l_max": 5},
                "saturation": {"kind": "michaelis_menten", "alpha": 1.0, "lam": 0.5},
                "beta": 0.2,
            },
            {
                "name": "b",
                "spend": {"demand_share": 1.0},
                "adstock": {"kind": "binomial", "alpha": 0.5, "l_max": 3},
                "saturation": {"kind": "tanh", "b": 1.0, "c": 0.5},
                "beta": 0.1,
            },
            {
                "name": "c",
                "spend": {"demand_share": 1.0, "demand_strength": 0.0},
                "adstock": {"kind": "weibull_cdf", "lam": 2.0, "k": 1.0, "l_max": 4},
                "saturation": {"kind": "root", "alpha": 0.5},
                "beta": 0.1,
            },
        ],
        "mediation": [{"source": "a", "target": "c", "on": "effect", "strength": 0.3}],
    },
}
POWER: Doc = {
    "name": "power",
    "data": {
        "periods": 20,
        "noise": {"kind": "lognormal", "sd": 0.05},
        "demand": {
            "scale": 1000.0,
            "noise_sd": 0.1,
            "trend": {"kind": "power", "start": 5, "stop": 25, "exponent": 0.125, "shift": -1},
        },
        "proxy": {},
        "channels": [
            {
                "name": "tv",
                "spend": {"demand_share": 10, "noise_sd": 0.3},
                "adstock": {"kind": "geometric", "alpha": 0.5, "l_max": 8},
                "saturation": {"kind": "logistic", "lam": 1.5},
                "beta": 350,
            }
        ],
    },
    "model": {"adstock": {"kind": "delayed", "l_max": 3}, "saturation": {"kind": "hill"}},
}
LOG: Doc = {
    "name": "log",
    "data": {
        "periods": 12,
        "demand": {"trend": {"kind": "log", "start": 1.0, "stop": 5.0}},
        "channels": [
            {
                "name": "x",
                "spend": {"demand_share": 1},
                "adstock": {"kind": "geometric", "alpha": 0.5, "l_max": 2},
                "saturation": {"kind": "root", "alpha": 0.8},
                "beta": 1,
            }
        ],
    },
}
MINIMAL: Doc = {
    "name": "minimal",
    "data": {
        "periods": 10,
        "demand": {"trend": {"kind": "constant", "level": 2.0}},
        "channels": [
            {
                "name": "x",
                "spend": {"demand_share": 1},
                "adstock": {"kind": "geometric", "alpha": 0.0, "l_max": 1},
                "saturation": {"kind": "logistic", "lam": 1},
                "beta": 0,
            }
        ],
    },
}


def _every_family() -> Doc:
    """A scenario whose channels between them use every declared family, each parameter at
    a value inside its typical range: a newly declared family is fuzzed without editing
    this file."""

    def table(family: Family, at: float) -> Doc:
        values = {
            p.name: p.typical[0] + at * (p.typical[1] - p.typical[0])
            for p in family.params
            if p.typical
        }
        return {"kind": family.name, **values}

    adstocks, saturations = list(ADSTOCKS.values()), list(SATURATIONS.values())
    channels = [
        {
            "name": f"ch{i}",
            "spend": {"demand_share": 1.0 + i},
            "adstock": {**table(adstocks[i % len(adstocks)], 0.3), "l_max": 3},
            "saturation": table(saturations[i % len(saturations)], 0.6),
            "beta": 2.0,
        }
        for i in range(max(len(adstocks), len(saturations)))
    ]
    data = {"periods": 16, "noise": {"kind": "normal", "sd": 1.0}, "channels": channels}
    return {"name": "families", "data": data}


EVERY_FAMILY = _every_family()
BASES = (FULL, DAILY, POWER, LOG, MINIMAL, EVERY_FAMILY)
TOP = ("name", "description", "seed", "replicates", "data", "model", "fit", "grid")
"""The top-level keys of the format: an error's path starts with one (or an unknown key)."""


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


KEYS = sorted({k for base in BASES for k in _keys(base)} | {"sigma_rel", "bias", "x", "zip"})
STRINGS = sorted(
    {s for base in BASES for s in _strings(base)}
    | set(ADSTOCKS)
    | set(SATURATIONS)
    | {"W", "D", "additive", "multiplicative", "lognormal", "student_t", "shared", "spend"}
    | {"effect", "saturation_first", "max", "date", "sales", "9999-12-31", "1899-12-31", ""}
    | {"../x", "/tmp/x", ".", "a\nb", "x" * 120, "data.channels[0].beta", "event_promo"}
)


def _paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path of the document, tables and arrays included (not the root)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _tables(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict):
        yield prefix
        for key, value in node.items():
            yield from _tables(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _tables(value, (*prefix, i))


def _at(doc: Any, path: Path_) -> Any:
    for step in path:
        doc = doc[step]
    return doc


SCALARS = st.one_of(
    st.integers(-(2**64), 2**64),
    st.sampled_from([0, 1, -1, 2, 3, 7, 52, 10_001, 2**31, 2**63 - 1, 2**63, 2**70, 10**12]),
    st.floats(),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e308, -1e308, 0.5, 1.0 - 1e-16, 1e12, 1e-12]),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(STRINGS),
    st.dates(),
    st.datetimes(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
FACTORS = st.sampled_from([0, -1, 1e-9, 1e-3, 0.5, 2, 10, 1e3, 1e6, 1e12, 1e100, 1e300])


@st.composite
def _nudged(draw: st.DrawFn, value: Any) -> Any:
    """A value of the same type near ``value``: most of these load, so the simulation is
    fuzzed too, not only the loader."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.sampled_from([value - 1, value + 1, 0, 2 * value, value // 2]))
    if isinstance(value, float):
        return draw(
            st.sampled_from([0.0, value / 2, 2 * value, -value])
            | st.floats(min(0.0, 2 * value), max(1.0, 2 * value))
        )
    if isinstance(value, str):
        return draw(st.sampled_from(STRINGS))
    if isinstance(value, list) and value:
        i = draw(st.integers(0, len(value) - 1))
        return draw(st.sampled_from([value[:i] + value[i + 1 :], [*value, value[i]], []]))
    return draw(VALUES)


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    """A base scenario with one or two mutations."""
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 2))):
        paths = sorted(_paths(doc), key=repr)
        op = draw(st.sampled_from(["nudge", "nudge", "nudge", "set", "set", "scale", "delete"]))
        if op == "delete" and draw(st.booleans()):
            op = "add"
        if op == "add" or not paths:
            where = _at(doc, draw(st.sampled_from(sorted(_tables(doc), key=repr))))
            key = draw(st.sampled_from(KEYS) | st.text(min_size=1, max_size=8))
            where[key] = draw(VALUES)
            continue
        path = draw(st.sampled_from(paths))
        parent, last = _at(doc, path[:-1]), path[-1]
        old = parent[last]
        if op == "delete":
            del parent[last]
        elif op == "nudge":
            parent[last] = draw(_nudged(old))
        elif op == "scale" and isinstance(old, int | float) and not isinstance(old, bool):
            scaled = old * draw(FACTORS)
            parent[last] = int(scaled) if isinstance(old, int) and math.isfinite(scaled) else scaled
        else:
            parent[last] = draw(VALUES)
    return doc


def _not_applicable(group: str, name: str, scenario: Scenario) -> tuple[list[bool], list[bool]]:
    """For a per-channel transform parameter of the truth: the channels where it must be NaN
    (the family has no such parameter, or in pymc-marketing's units the saturation class
    has no beta) and those where it may be (a class without beta cannot express a zero
    effect, ``beta = 0``, in its own parameters). Nothing for any other variable."""
    channels = scenario.data.channels
    none = [False] * len(channels)
    pmm = group.endswith("pymc_marketing")
    if pmm and name == "saturation_beta":
        return [ch.saturation.kind in NO_BETA for ch in channels], none
    role, _, param = name.partition("_")
    if role not in ("adstock", "saturation") or param in ("beta", "kind", "l_max", "first"):
        return none, none
    must = [
        param not in get_family(role, getattr(ch, role).kind, role).param_names for ch in channels
    ]
    may = [pmm and ch.saturation.kind in NO_BETA and ch.beta == 0 for ch in channels]
    return must, may


def _assert_finite(tree: xr.DataTree, scenario: Scenario) -> None:
    data = scenario.data
    sd = data.noise.sd
    no_noise = isinstance(sd, int | float) and sd == 0
    # on the log scale a non-positive target has no density (a lognormal-noise world whose
    # expected value crosses 0): the truth's log-likelihood is NaN there, by its definition
    on_log = data.model == "multiplicative" or data.noise.kind == "lognormal"
    target = np.asarray(tree["observed"][data.target].values, dtype=float)
    undefined = no_noise or (on_log and bool((target[: data.train_periods] <= 0).any()))
    for node in tree.subtree:
        for name, var in node.to_dataset().data_vars.items():
            if var.dtype.kind not in "iufc":
                continue
            if name == "log_likelihood" and undefined:  # no density: NaN, by definition
                assert np.isnan(var.values).all(), var.values
                continue
            values = np.asarray(var.values, dtype=float)
            if var.dims == ("channel",):
                must, may = _not_applicable(node.path, str(name), scenario)
                assert np.isnan(values[must]).all(), (node.path, name, values)
                values = values[~(np.asarray(must) | np.asarray(may))]
            assert np.isfinite(values).all(), (node.path, name, values)


def _check_error(err: ValueError, doc: Doc) -> None:
    message = str(err)
    assert len(message.splitlines()) == 1, repr(message)
    heads = [k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else repr(k) for k in doc] + list(TOP)
    assert any(message.startswith(head) for head in heads), message


def check(doc: Doc) -> None:
    """The property, for one document."""
    try:
        scenario = parse_scenario(doc)
        cells = expand_grid(scenario)
        for cell in cells:
            check_data(cell.scenario.data)
    except ScenarioError as err:
        _check_error(err, doc)
        return
    first = cells[0].scenario
    try:
        tree = generate(first.data, replicate_rng(first.seed, cells[0].data_id, 0))
    except ValueError as err:  # a draw the simulator refuses (overflow, baseline <= 0)
        assert isinstance(err, ScenarioError) or type(err) is ValueError, type(err)
        _check_error(err, doc)
        return
    _assert_finite(tree, first)


def test_every_base_loads_and_simulates() -> None:
    for base in BASES:
        check(base)
        assert parse_scenario(base).name == base["name"]
    used = {
        (role, ch[role]["kind"])
        for base in BASES
        for ch in base["data"]["channels"]
        for role in ("adstock", "saturation")
    }
    assert {(f.role, f.name) for f in (*ADSTOCKS.values(), *SATURATIONS.values())} <= used


@settings(
    max_examples=600,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(doc=documents())
def test_fuzz_loads_and_simulates_or_names_the_path(doc: Doc) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        here = Path.cwd()
        os.chdir(tmp)
        try:
            check(doc)
        finally:
            os.chdir(here)
        assert not any(Path(tmp).iterdir()), "a file was written"
