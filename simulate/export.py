"""Write a generated dataset: ``data.csv`` for modelling tools, ``dataset.nc`` for everything.

A panel (a geo world) writes ``data.csv`` in long form with a ``geo`` column
(:func:`observed_frame`); ``dataset.nc`` holds its per-geo truth in ``/truth/geo``.

Files are written to temporary names and renamed into place only once all are complete,
so a failure never leaves partial output behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["lift_test_frame", "observed_frame", "read_dataset", "write_dataset"]


def observed_frame(tree: xr.DataTree) -> pd.DataFrame:
    """Return the modelling table: ``date``, one spend column per channel, controls, target.

    This is the layout pymc-marketing's MMM takes (``date_column="date"``,
    ``channel_columns`` = the channel names, ``control_columns`` = the controls). A panel
    (a geo world, :mod:`mmm_workbench.simulate.geo`) is in long form: a ``geo`` column
    after ``date``, one row per date and geo (dates in order, geos in order within a
    date), as pymc-marketing's multidimensional MMM takes it (``dims=("geo",)``); a
    control without a geo dim (an event) repeats in every geo.
    """
    obs = tree["observed"].to_dataset()
    channels = json.loads(obs.attrs["channels"])
    controls = json.loads(obs.attrs["controls"])
    dates = obs["date"].to_numpy()
    geos = obs["geo"].to_numpy() if "geo" in obs.dims else None
    n_geo = 1 if geos is None else len(geos)

    def column(values: xr.DataArray) -> np.ndarray:  # (date[, geo]) as one long column
        if geos is None:
            return values.to_numpy()
        if "geo" in values.dims:
            return values.transpose("date", "geo").to_numpy().ravel()
        return np.repeat(values.to_numpy(), n_geo)

    frame = pd.DataFrame({"date": np.repeat(dates, n_geo)})
    if geos is not None:
        frame["geo"] = np.tile(geos, len(dates))
    for ch in channels:
        frame[ch] = column(obs["spend"].sel(channel=ch))
    for ctrl in controls:
        frame[ctrl] = column(obs[ctrl])
    frame[obs.attrs["target"]] = column(obs[obs.attrs["target"]])
    return frame


def lift_test_frame(tree: xr.DataTree) -> pd.DataFrame:
    """Lift tests in pymc-marketing's calibration columns.

    Channel, x, delta_x, delta_y, sigma (per-period spend and target units; see
    :mod:`mmm_workbench.simulate.truth`), plus the window.
    """
    obs = tree["observed"]
    return pd.DataFrame(
        {
            "channel": obs["lift_channel"].to_numpy().astype(str),
            **{
                k: obs[f"lift_{k}"].to_numpy()
                for k in ("x", "delta_x", "delta_y", "sigma", "start", "end")
            },
        }
    )


def write_dataset(tree: xr.DataTree, out: str | Path) -> dict[str, Path]:
    """Write ``data.csv``, ``dataset.nc`` and, when there are lift tests, ``lift_tests.csv``.

    Returns
    -------
    dict
        The written paths by kind (``csv``, ``netcdf``, ``lift_tests``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    targets = {"csv": out / "data.csv", "netcdf": out / "dataset.nc"}
    if tree["observed"].sizes.get("experiment", 0):
        targets["lift_tests"] = out / "lift_tests.csv"
    temps: dict[str, Path] = {}
    try:
        for kind, final in targets.items():
            fd, name = tempfile.mkstemp(dir=out, prefix=f".{final.name}.", suffix=".tmp")
            os.close(fd)
            temps[kind] = Path(name)
            if kind == "csv":
                observed_frame(tree).to_csv(temps[kind], index=False)
            elif kind == "lift_tests":
                lift_test_frame(tree).to_csv(temps[kind], index=False)
            else:
                tree.to_netcdf(temps[kind], engine="h5netcdf")
        for kind, final in targets.items():
            os.replace(temps[kind], final)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    return targets


def read_dataset(path: str | Path) -> xr.DataTree:
    """Read a ``dataset.nc`` written by :func:`write_dataset` (fully loaded, file closed)."""
    with xr.open_datatree(path, engine="h5netcdf") as tree:
        return tree.load()
