"""Reading run directories and fit records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from reports_stubs import healthy, record_tree, stub_values, write_stub_run

from mmm_workbench.reports.records import RecordError, read_record
from mmm_workbench.reports.rundir import RunError, open_run


def _assert_same_as_xarray(path: Path) -> None:
    ref = xr.open_datatree(path, engine="h5netcdf").load()
    for cache in (None, {}):
        record = read_record(path, cache=cache)
        for group in ("posterior", "truth", "prior"):
            ds = ref[group].to_dataset()
            assert set(record.groups[group]) == set(ds.variables)
            for name in ds.variables:
                var = record.groups[group][name]
                assert var.dims == ds[name].dims, (group, name)
                np.testing.assert_array_equal(var.values, ds[name].values)
        for key, value in ref.attrs.items():
            assert record.attrs[key] == value


def test_reader_matches_xarray_on_written_and_patched_records(tmp_path: Path) -> None:
    run = write_stub_run(tmp_path / "run", {"c": "calibrated"}, replicates=3, draws=20)
    for rep in range(3):  # 0 written by xarray, 1 and 2 patched copies
        _assert_same_as_xarray(run / "fits" / "c" / f"{rep}.nc")
    record = read_record(run / "fits" / "c" / "2.nc")
    assert record.replicate == 2 and record.cell_id == "c"
    assert record.diagnostics["max_rhat"] == pytest.approx(1.002)
    assert record.groups["posterior"]["date"].values.dtype.kind == "M"


def test_cached_layout_reads_each_record_right(tmp_path: Path) -> None:
    run = write_stub_run(tmp_path / "run", {"c": "calibrated"}, replicates=4, draws=20)
    cache: dict = {}  # type: ignore[type-arg]
    for rep in range(4):
        path = run / "fits" / "c" / f"{rep}.nc"
        fresh, cached = read_record(path), read_record(path, cache=cache)
        for group in ("posterior", "truth", "prior"):
            for name, var in fresh.groups[group].items():
                np.testing.assert_array_equal(cached.groups[group][name].values, var.values)


def test_estimand_aligns_truth_on_labels(tmp_path: Path) -> None:
    values = stub_values("calibrated", np.random.default_rng(0), 10)
    tree = record_tree("c", "c", 0, values, healthy(0))
    truth = tree["truth"].to_dataset()
    tree["truth"] = xr.DataTree(truth.isel(channel=[1, 0]))  # other channel order
    path = tmp_path / "r.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    est = read_record(path).estimand("roas")
    assert est.dims == ("channel",)
    assert list(est.coords["channel"]) == ["tv", "search"]
    np.testing.assert_array_equal(est.truth, values[0]["roas"])
    assert est.draws.shape == (10, 2) and est.prior is not None
    assert read_record(path).estimand("baseline").prior is None
    assert read_record(path).estimand("sigma").truth.shape == (1,)


def test_estimand_names_skip_truth_only_variables(tmp_path: Path) -> None:
    values = stub_values("calibrated", np.random.default_rng(0), 10)
    tree = record_tree("c", "c", 0, values, healthy(0))
    tree["truth"] = xr.DataTree(tree["truth"].to_dataset().assign(response_spend=1.0))
    path = tmp_path / "r.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    assert read_record(path).estimand_names() == ["roas", "contribution_share", "sigma", "baseline"]


def test_unreadable_records_raise_record_error(tmp_path: Path) -> None:
    garbage = tmp_path / "g.nc"
    garbage.write_bytes(b"not a netCDF file")
    with pytest.raises(RecordError, match="unreadable"):
        read_record(garbage)
    empty = tmp_path / "e.nc"
    xr.DataTree.from_dict({"/posterior": xr.Dataset()}).to_netcdf(empty, engine="h5netcdf")
    with pytest.raises(RecordError, match="no /truth"):
        read_record(empty)


def test_open_run_lists_records_and_failures(small_run: Path) -> None:
    fail = small_run / "failures" / "a" / "9.json"
    fail.parent.mkdir(parents=True)
    fail.write_text(json.dumps({"error": "boom", "traceback": "..."}))
    superseded = small_run / "failures" / "a" / "0.json"
    superseded.write_text(json.dumps({"error": "old"}))
    run = open_run(small_run)
    statuses = {(e.cell_id, e.replicate): e.status for e in run.entries}
    assert statuses[("a", 9)] == "failed" and statuses[("a", 0)] == "ok"
    assert len(run.entries) == 13
    assert run.cells == {"a": "stub=calibrated", "b": "stub=biased"}
    assert run.replicates == 6


def test_not_a_run_and_empty_run(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a run directory: no such directory"):
        open_run(tmp_path / "nowhere")
    with pytest.raises(RunError, match=r"not a run directory: no manifest\.json or scenario\.toml"):
        open_run(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    (tmp_path / "scenario.toml").write_text("")
    with pytest.raises(RunError, match=r"manifest\.json is unreadable"):
        open_run(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"cells": {}}))
    with pytest.raises(RunError, match="empty run"):
        open_run(tmp_path)
