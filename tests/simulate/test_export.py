"""Writing datasets: netCDF round trip, CSV layout, no partial files on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mmm_workbench.scenarios import Scenario
from mmm_workbench.simulate import (
    generate,
    lift_test_frame,
    observed_frame,
    read_dataset,
    write_dataset,
)


def test_netcdf_round_trip(tiny: Scenario, tmp_path: Path) -> None:
    tree = generate(tiny.data, np.random.default_rng(1))
    paths = write_dataset(tree, tmp_path)
    assert set(paths) == {"csv", "netcdf"}  # tiny has no lift tests
    back = read_dataset(paths["netcdf"])
    for group in ("observed", "truth", "truth/pymc_marketing"):
        xr.testing.assert_allclose(back[group].to_dataset(), tree[group].to_dataset())
    assert back["observed"].attrs == tree["observed"].attrs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "dataset.nc"]


def test_observed_frame_layout(tiny: Scenario) -> None:
    frame = observed_frame(generate(tiny.data, np.random.default_rng(1)))
    assert list(frame.columns) == ["date", "tv", "search", "demand_proxy", "sales"]
    assert len(frame) == 40


def test_lift_test_frame_columns(confounded: Scenario) -> None:
    frame = lift_test_frame(generate(confounded.data, np.random.default_rng(1)))
    assert list(frame.columns) == ["channel", "x", "delta_x", "delta_y", "sigma", "start", "end"]
    assert list(frame["channel"]) == ["tv", "social", "search"]
    assert (frame["delta_x"] < 0).all() and (frame["delta_y"] < 0).all()


def test_failed_write_leaves_nothing(
    tiny: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = generate(tiny.data, np.random.default_rng(1))

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(xr.DataTree, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(tree, tmp_path)
    assert list(tmp_path.iterdir()) == []
