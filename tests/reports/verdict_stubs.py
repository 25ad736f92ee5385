"""Stub runs for the verdict: realistic estimand names, families and supports, exact
conjugate posteriors, and planted failures; written by the public writer
(:class:`mmm_workbench.recover.store.RunStore`).

Every estimand coordinate lives on an unconstrained scale ``u`` (``log`` for positive
quantities, ``logit`` for shares and adstock rates, the identity otherwise) with a normal
prior ``u ~ N(m, s0)`` and one observation ``y ~ N(u_true, s_obs)``; the exact posterior
is ``N((y / s_obs^2 + m / s0^2) / P, P^-1/2)`` with ``P = 1 / s0^2 + 1 / s_obs^2``, drawn
on ``u`` and mapped back. Ranks, coverage and z-scores of the mapped draws are then
calibrated exactly when the truth is drawn from the prior (SBC).

A :class:`Plant` distorts the posterior on ``u``: ``sd`` scales its spread, ``shift``
moves its mean by that many posterior sds, ``prior`` replaces it by the prior. Planted
per estimand (``{"roas": Plant(sd=1/3)}``) or for all (``"*"``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from reports_stubs import stub_fit_tree

from mmm_workbench.recover.store import RunStore

Array = NDArray[np.float64]
CHANNELS = np.array(["tv", "search", "radio"])


@dataclass(frozen=True)
class Spec:
    """One estimand: dims, link, prior ``N(m, s0)`` on the link scale, data noise."""

    dims: tuple[str, ...]
    link: str
    m: float
    s0: float
    s_obs: float
    fixed: float  # the truth on the natural scale when the cell's truth is fixed
    prior: bool = True  # the record holds prior draws


def world(dates: int = 4, channels: int = 2) -> dict[str, Spec]:
    """The default stub world: parameters, derived quantities and two series."""
    return {
        "saturation_beta": Spec(("channel",), "log", 0.0, 0.5, 0.1, 1.2),
        "saturation_lam": Spec(("channel",), "log", 0.5, 0.5, 0.12, 1.8),
        "adstock_alpha": Spec(("channel",), "logit", 0.0, 1.0, 0.2, 0.45),
        "sigma": Spec((), "log", -1.0, 0.5, 0.05, 0.4),
        "roas": Spec(("channel",), "log", 1.0, 0.5, 0.03, 2.5),
        "contribution_share": Spec(("channel",), "logit", -1.0, 0.7, 0.06, 0.3),
        "channel_contribution": Spec(("date", "channel"), "log", 2.0, 0.5, 0.1, 7.0),
        "baseline": Spec(("date",), "identity", 10.0, 2.0, 0.3, 10.0, prior=False),
    }


@dataclass(frozen=True)
class Plant:
    """A distortion of the exact posterior on the link scale."""

    sd: float = 1.0
    shift: float = 0.0
    prior: bool = False


@dataclass(frozen=True)
class Cell:
    """A stub cell: its world, how its truth is made, what is planted, its diagnostics."""

    truth: str = "drawn"  # "drawn" (SBC) or "fixed"
    plants: Mapping[str, Plant] = field(default_factory=dict)
    diagnostics: Callable[[int], dict[str, float]] | None = None
    backend: str = "stub"
    ridge: float = 0.0  # posterior correlation of log beta and log lam, per channel
    boundary: bool = False  # add adstock_theta with truth 0 (a delay on its boundary)
    miss: tuple[int, float] | None = None  # (replicates, relative error) of roas misses
    stuck: int = 0  # the first replicates are stuck chains: shifted draws, R-hat 1.3
    dates: int = 4
    channels: int = 2


def nuts(replicate: int) -> dict[str, float]:
    """Healthy NUTS diagnostics."""
    return {
        "draws": 400.0,
        "max_rhat": 1.004,
        "divergences": 0.0,
        "min_ess_bulk": 600.0,
        "min_ess_tail": 500.0,
        "ebfmi": 0.9,
    }


def stuck(replicate: int) -> dict[str, float]:
    """A chain stuck away from the others: high R-hat, divergences."""
    return nuts(replicate) | {"max_rhat": 1.3, "divergences": 12.0, "min_ess_bulk": 15.0}


def advi(replicate: int) -> dict[str, float]:
    """Variational inference reports no sampler diagnostics."""
    return {"draws": 400.0, "final_loss": 1234.5}


def _inverse(link: str, u: Array) -> Array:
    if link == "log":
        return np.exp(u)
    if link == "logit":
        return 1.0 / (1.0 + np.exp(-u))
    return u


def _forward(link: str, x: float) -> float:
    if link == "log":
        return float(np.log(x))
    if link == "logit":
        return float(np.log(x / (1 - x)))
    return x


def _shape(spec: Spec, cell: Cell) -> tuple[int, ...]:
    sizes = {"channel": cell.channels, "date": cell.dates}
    return tuple(sizes[d] for d in spec.dims)


def stub_record(
    cell: Cell, rng: np.random.Generator, draws: int, specs: Mapping[str, Spec]
) -> tuple[dict[str, Array], dict[str, Array], dict[str, Array]]:
    """Truth, posterior draws ``(draws, ...)`` and prior draws of one replicate."""
    truth, post, prior = {}, {}, {}
    for name, spec in specs.items():
        shape = _shape(spec, cell)
        if cell.truth == "drawn":
            u_true = spec.m + spec.s0 * rng.normal(size=shape)
        else:
            u_true = np.full(shape, _forward(spec.link, spec.fixed))
        y = u_true + spec.s_obs * rng.normal(size=shape)
        precision = 1 / spec.s0**2 + 1 / spec.s_obs**2
        mean = (y / spec.s_obs**2 + spec.m / spec.s0**2) / precision
        sd = precision**-0.5
        plant = cell.plants.get(name, cell.plants.get("*", Plant()))
        if plant.prior:
            mean, sd = np.full(shape, spec.m), spec.s0
        u = mean + plant.shift * sd + plant.sd * sd * rng.normal(size=(draws, *shape))
        truth[name] = _inverse(spec.link, u_true)
        post[name] = _inverse(spec.link, u)
        if spec.prior:
            prior[name] = _inverse(spec.link, spec.m + spec.s0 * rng.normal(size=(draws, *shape)))
    if cell.ridge:
        z = rng.normal(size=post["saturation_lam"].shape)
        log_beta = np.log(post["saturation_beta"])
        scaled = (log_beta - log_beta.mean(axis=0)) / log_beta.std(axis=0)
        spread = np.log(post["saturation_lam"]).std(axis=0)
        centre = np.log(post["saturation_lam"]).mean(axis=0)
        mixed = cell.ridge * scaled + np.sqrt(1 - cell.ridge**2) * z
        post["saturation_lam"] = np.exp(centre + spread * mixed)
    if cell.boundary:
        shape = (cell.channels,)
        truth["adstock_theta"] = np.zeros(shape)
        post["adstock_theta"] = np.abs(0.3 * rng.normal(size=(draws, *shape)))
        prior["adstock_theta"] = np.abs(2.0 * rng.normal(size=(draws, *shape)))
    return truth, post, prior


def _dims(name: str, specs: Mapping[str, Spec]) -> tuple[str, ...]:
    return ("channel",) if name == "adstock_theta" else specs[name].dims


def record_tree(
    cell_id: str,
    replicate: int,
    cell: Cell,
    values: tuple[dict[str, Array], dict[str, Array], dict[str, Array]],
    specs: Mapping[str, Spec],
    diagnostics: Mapping[str, float],
) -> xr.DataTree:
    """The record of one stub fit."""
    coords = {
        "channel": CHANNELS[: cell.channels],
        "date": np.arange(cell.dates).astype("datetime64[W]").astype("datetime64[ns]"),
    }
    attrs = {
        "scenario": "verdict-stub",
        "cell_id": cell_id,
        "cell_label": cell_id,
        "replicate": replicate,
        "backend": cell.backend,
    }
    return stub_fit_tree(values, lambda n: _dims(n, specs), coords, attrs, diagnostics)


def write_run(
    root: Path,
    cells: Mapping[str, Cell],
    *,
    replicates: int,
    draws: int = 400,
    seed: int = 7,
    specs: Mapping[str, Spec] | None = None,
) -> Path:
    """A run directory with one stub cell per item of ``cells``."""
    store = RunStore(root)
    manifest = {
        "scenario": "verdict-stub",
        "seed": seed,
        "replicates": replicates,
        "cells": {c: {"label": c, "overrides": []} for c in cells},
    }
    store.initialize('name = "verdict-stub"\n', json.dumps(sorted(cells)), manifest)
    for i, (cell_id, cell) in enumerate(cells.items()):
        world_specs = dict(specs or world(cell.dates, cell.channels))
        rng = np.random.default_rng([seed, i])
        diag = cell.diagnostics or nuts
        for rep in range(replicates):
            faulty = rep < cell.stuck
            plants = {"*": Plant(shift=2.0)} if faulty else cell.plants
            values = stub_record(replace(cell, plants=plants), rng, draws, world_specs)
            if cell.miss is not None and rep < cell.miss[0]:
                factor = 1.0 + cell.miss[1]
                values[1]["roas"] = values[1]["roas"] * factor  # a confident miss
            diagnostics = stuck(rep) if faulty else diag(rep)
            tree = record_tree(cell_id, rep, cell, values, world_specs, diagnostics)
            store.write_record(cell_id, rep, tree)
    return root
