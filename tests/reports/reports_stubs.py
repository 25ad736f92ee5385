"""Synthetic run directories from stub backends, written by the public writer
(:class:`mmm_workbench.recover.store.RunStore`) in the record format of
:mod:`mmm_workbench.reports.contract`.

Each estimand quantity of each replicate has a truth ``theta ~ N(0, 1)`` (the prior) and
data ``y ~ N(theta, 1)``; the exact posterior is ``N(y / 2, sqrt(1 / 2))``. Stubs:

- ``calibrated``: draws from the exact posterior;
- ``overconfident``: the same mean, half the posterior sd;
- ``biased``: the mean shifted by +1 posterior sd.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from mmm_workbench.recover.store import RunStore

STUBS: dict[str, tuple[float, float]] = {
    # kind: (mean shift in posterior sds, sd factor)
    "calibrated": (0.0, 1.0),
    "overconfident": (0.0, 0.5),
    "biased": (1.0, 1.0),
}
CHANNELS = np.array(["tv", "search"])
DATES = np.array(["2024-01-05", "2024-01-12"], dtype="datetime64[ns]")
SHAPES: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "roas": (("channel",), (2,)),
    "contribution_share": (("channel",), (2,)),
    "sigma": ((), ()),
    "baseline": (("date",), (2,)),  # no /prior: as real records
}
POST_SD = float(np.sqrt(0.5))

Diagnostics = Callable[[int], dict[str, float]]


def healthy(replicate: int) -> dict[str, float]:
    return {"draws": 200.0, "max_rhat": 1.002, "divergences": 0.0, "min_ess_bulk": 400.0}


def _shapes(params: Sequence[str]) -> dict[str, tuple[tuple[str, ...], tuple[int, ...]]]:
    return SHAPES | {p: (("channel",), (len(CHANNELS),)) for p in params}


def stub_values(
    kind: str, rng: np.random.Generator, draws: int, params: Sequence[str] = ()
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Truth, posterior draws ``(draws, ...)`` and prior draws of every stub estimand, and
    of per-channel transform parameters called ``params``."""
    shift, factor = STUBS[kind]
    truth, post, prior = {}, {}, {}
    for name, (_, shape) in _shapes(params).items():
        theta = rng.normal(size=shape)
        y = theta + rng.normal(size=shape)
        mean = y / 2 + shift * POST_SD
        truth[name] = theta
        post[name] = mean + factor * POST_SD * rng.normal(size=(draws, *shape))
        if name != "baseline":
            prior[name] = rng.normal(size=(draws, *shape))
    return truth, post, prior


def stub_dataset(
    arrays: Mapping[str, tuple[tuple[str, ...], np.ndarray]], coords: Mapping[str, np.ndarray]
) -> xr.Dataset:
    """``xr.Dataset(arrays, coords=used coords)``, its coordinate indexes built once per set
    of labels (the stub writers build thousands of records on a few label sets: building the
    indexes and the tree afresh was half of a record's cost)."""
    used = {d for dims, _ in arrays.values() for d in dims}
    key = tuple((d, v.dtype.str, v.tobytes()) for d, v in coords.items() if d in used)
    cached = _COORDS.get(key)
    if cached is None:
        cached = _COORDS[key] = xr.Coordinates({d: v for d, v in coords.items() if d in used})
    return xr.Dataset({n: xr.Variable(dims, a) for n, (dims, a) in arrays.items()}, cached)


_COORDS: dict[tuple[tuple[str, str, bytes], ...], xr.Coordinates] = {}


def stub_fit_tree(
    values: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray], Mapping[str, np.ndarray]],
    dims: Callable[[str], tuple[str, ...]],
    coords: Mapping[str, np.ndarray],
    attrs: Mapping[str, object],
    diagnostics: Mapping[str, float],
) -> xr.DataTree:
    """A stub fit's record: ``values`` (truth, posterior and prior draws, the draws' first axis
    ``sample``) on ``dims(name)``, with ``attrs``, the fit's ``diagnostics`` and stub timings."""
    truth, post, prior = values

    def dataset(arrays: Mapping[str, np.ndarray], sample: bool) -> xr.Dataset:
        lead = ("sample",) if sample else ()
        return stub_dataset({n: ((*lead, *dims(n)), a) for n, a in arrays.items()}, coords)

    groups = {"posterior": dataset(post, True), "truth": dataset(truth, False)}
    groups["prior"] = dataset(prior, True)
    tree = xr.DataTree(children={g: xr.DataTree(ds) for g, ds in groups.items()})
    tree.attrs = {
        **attrs,
        "diagnostics": json.dumps(dict(diagnostics)),
        "timings": json.dumps({"compile_s": 0.0, "tune_s": 0.1, "draw_s": 0.1, "post_s": 0.0}),
        "versions": json.dumps({"python": "3.12"}),
    }
    return tree


def record_tree(
    cell_id: str,
    label: str,
    replicate: int,
    values: tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]],
    diagnostics: Mapping[str, float],
) -> xr.DataTree:
    shapes = _shapes([n for n in values[0] if n not in SHAPES])
    attrs = {
        "scenario": "stub",
        "cell_id": cell_id,
        "cell_label": label,
        "replicate": replicate,
        "backend": "stub",
    }
    coords = {"channel": CHANNELS, "date": DATES}
    return stub_fit_tree(values, lambda n: shapes[n][0], coords, attrs, diagnostics)


def write_stub_run(
    root: Path,
    cells: Mapping[str, str],
    *,
    replicates: int,
    draws: int = 200,
    seed: int = 2024,
    diagnostics: Mapping[str, Diagnostics] | None = None,
    params: Sequence[str] = (),
) -> Path:
    """A run directory with one cell per ``cells`` item (cell id -> stub kind); ``params``
    adds per-channel transform parameters of that name to every record."""
    store = RunStore(root)
    manifest = {
        "scenario": "stub",
        "seed": seed,
        "replicates": replicates,
        "cells": {c: {"label": f"stub={k}", "overrides": []} for c, k in cells.items()},
    }
    store.initialize('name = "stub"\n', json.dumps(sorted(cells)), manifest)
    for i, (cell, kind) in enumerate(cells.items()):
        rng = np.random.default_rng([seed, i])
        diag = (diagnostics or {}).get(cell, healthy)
        for rep in range(replicates):
            values = stub_values(kind, rng, draws, params)
            store.write_record(cell, rep, record_tree(cell, f"stub={kind}", rep, values, diag(rep)))
    return root


def some_divergent(replicate: int) -> dict[str, float]:
    return healthy(replicate) | {"divergences": float(replicate % 10 == 0)}
