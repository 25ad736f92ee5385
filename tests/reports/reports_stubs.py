"""Synthetic run directories from stub backends, in the exact record format of
``recover/store.py`` (a netCDF DataTree written by xarray with h5netcdf).

Each estimand quantity of each replicate has a truth ``theta ~ N(0, 1)`` (the prior) and
data ``y ~ N(theta, 1)``; the exact posterior is ``N(y / 2, sqrt(1 / 2))``. Stubs:

- ``calibrated``: draws from the exact posterior;
- ``overconfident``: the same mean, half the posterior sd;
- ``biased``: the mean shifted by +1 posterior sd.

Writing hundreds of records with ``DataTree.to_netcdf`` takes a minute, so each cell's
first record is written by xarray and the others are byte copies of it with the values
patched in place by h5py: the layout is xarray's own (``test_records`` checks a patched
file against ``xr.open_datatree``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import xarray as xr
from h5py import h5d, h5f, h5s

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


def stub_values(
    kind: str, rng: np.random.Generator, draws: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Truth, posterior draws ``(draws, ...)`` and prior draws of every stub estimand."""
    shift, factor = STUBS[kind]
    truth, post, prior = {}, {}, {}
    for name, (_, shape) in SHAPES.items():
        theta = rng.normal(size=shape)
        y = theta + rng.normal(size=shape)
        mean = y / 2 + shift * POST_SD
        truth[name] = theta
        post[name] = mean + factor * POST_SD * rng.normal(size=(draws, *shape))
        if name != "baseline":
            prior[name] = rng.normal(size=(draws, *shape))
    return truth, post, prior


def record_tree(
    cell_id: str,
    label: str,
    replicate: int,
    values: tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]],
    diagnostics: Mapping[str, float],
) -> xr.DataTree:
    truth, post, prior = values
    coords = {"channel": CHANNELS, "date": DATES}

    def dataset(arrays: Mapping[str, np.ndarray], sample: bool) -> xr.Dataset:
        lead = ("sample",) if sample else ()
        data = {n: ((*lead, *SHAPES[n][0]), a) for n, a in arrays.items()}
        used = {d for n in arrays for d in SHAPES[n][0]}
        return xr.Dataset(data, coords={d: v for d, v in coords.items() if d in used})

    tree = xr.DataTree.from_dict(
        {
            "/posterior": dataset(post, True),
            "/truth": dataset(truth, False),
            "/prior": dataset(prior, True),
        }
    )
    tree.attrs = {
        "format_version": 1,
        "scenario": "stub",
        "cell_id": cell_id,
        "cell_label": label,
        "replicate": replicate,
        "backend": "stub",
        "diagnostics": json.dumps(dict(diagnostics)),
        "timings": json.dumps({"compile_s": 0.0, "tune_s": 0.1, "draw_s": 0.1, "post_s": 0.0}),
        "versions": json.dumps({"python": "3.12"}),
    }
    return tree


def _patch(path: Path, replicate: int, values: Any, diagnostics: Mapping[str, float]) -> None:
    """Overwrite a copied record's values (h5py's low-level API: a few times faster)."""
    truth, post, prior = values
    fid = h5f.open(str(path).encode(), h5f.ACC_RDWR)
    try:
        for group, arrays in (("truth", truth), ("posterior", post), ("prior", prior)):
            for name, array in arrays.items():
                data = np.ascontiguousarray(array, dtype=np.float64)
                h5d.open(fid, f"/{group}/{name}".encode()).write(h5s.ALL, h5s.ALL, data)
        with h5py.File(fid) as f:
            f.attrs["replicate"] = np.array([replicate])
            f.attrs["diagnostics"] = json.dumps(dict(diagnostics))
    finally:
        if fid.valid:
            fid.close()


def write_stub_run(
    root: Path,
    cells: Mapping[str, str],
    *,
    replicates: int,
    draws: int = 200,
    seed: int = 2024,
    diagnostics: Mapping[str, Diagnostics] | None = None,
) -> Path:
    """A run directory with one cell per ``cells`` item (cell id -> stub kind)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "scenario.toml").write_text('name = "stub"\n')
    manifest = {
        "scenario": "stub",
        "seed": seed,
        "replicates": replicates,
        "cells": {c: {"label": f"stub={k}", "overrides": []} for c, k in cells.items()},
        "format_version": 1,
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    for i, (cell, kind) in enumerate(cells.items()):
        rng = np.random.default_rng([seed, i])
        diag = (diagnostics or {}).get(cell, healthy)
        folder = root / "fits" / cell
        folder.mkdir(parents=True, exist_ok=True)
        template = folder / "0.nc"
        for rep in range(replicates):
            values = stub_values(kind, rng, draws)
            if rep == 0:
                tree = record_tree(cell, f"stub={kind}", 0, values, diag(0))
                tree.to_netcdf(template, engine="h5netcdf")
                continue
            path = folder / f"{rep}.nc"
            shutil.copyfile(template, path)
            _patch(path, rep, values, diag(rep))
    return root


def some_divergent(replicate: int) -> dict[str, float]:
    return healthy(replicate) | {"divergences": float(replicate % 10 == 0)}
