"""Format 3 records: chain and draw kept, predictive groups, and the ArviZ export.

A synthetic record of a known model: ``y_t ~ N(mu, sigma)`` with posterior draws of ``mu``
and ``sigma`` in two chains; its log likelihood is computed here with scipy.
"""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import matplotlib
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
import xarray as xr
from reports_stubs import healthy, record_tree, stub_values
from scipy import stats

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.export import export_run, record_to_arviz, write_arviz
from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports import contract
from mmm_workbench.reports.records import RecordError, read_record, write_record

matplotlib.use("Agg")

CHAINS, DRAWS, T = 2, 60, 12


H = 4


def _tree(seed: int = 0, stuck: float = 0.0, holdout: float | None = None) -> xr.DataTree:
    """A format 3 record tree; ``stuck`` shifts the second chain's draws (a chain elsewhere);
    ``holdout``: predictions of ``H`` holdout periods, off by that much."""
    rng = np.random.default_rng(seed)
    tree = record_tree("c", "c", 0, stub_values("calibrated", rng, CHAINS * DRAWS), healthy(0))
    chain = np.repeat(np.arange(CHAINS), DRAWS)
    draw = np.tile(np.arange(0, 2 * DRAWS, 2), CHAINS)  # thinned: every second draw
    sample = {contract.CHAIN: ("sample", chain), contract.DRAW: ("sample", draw)}
    # the stub's baseline has two dates of its own: this record's series are over ``dates``
    posterior = tree["posterior"].to_dataset().drop_vars(["baseline", "date"])
    tree["truth"] = xr.DataTree(tree["truth"].to_dataset().drop_vars(["baseline", "date"]))
    posterior = posterior.map(lambda v: v + stuck * (chain == 1).reshape(-1, *[1] * (v.ndim - 1)))
    tree["posterior"] = xr.DataTree(posterior.assign_coords(sample))
    dates = np.array(
        [np.datetime64("2024-01-05", "ns") + np.timedelta64(7 * i, "D") for i in range(T)]
    )
    y = 100 + 5 * rng.normal(size=T)
    mu = 100 + 0.5 * rng.normal(size=(CHAINS * DRAWS, 1))
    sigma = 5 * np.exp(0.1 * rng.normal(size=(CHAINS * DRAWS, 1)))
    coords = {"date": dates, **sample}
    tree["observed_data"] = xr.DataTree(xr.Dataset({"y": ("date", y)}, coords={"date": dates}))
    tree["posterior_predictive"] = xr.DataTree(
        xr.Dataset(
            {"y": (("sample", "date"), rng.normal(mu, sigma, size=(CHAINS * DRAWS, T)))},
            coords=coords,
        )
    )
    tree["log_likelihood"] = xr.DataTree(
        xr.Dataset({"y": (("sample", "date"), stats.norm.logpdf(y, mu, sigma))}, coords=coords)
    )
    if holdout is not None:
        later = dates[-1] + np.timedelta64(7, "D") * np.arange(1, H + 1)
        observed = 100 + 5 * rng.normal(size=H)
        tree["observed_data"] = xr.DataTree(
            tree["observed_data"]
            .to_dataset()
            .assign(y_holdout=("holdout_date", observed))
            .assign_coords(holdout_date=later)
        )
        drawn = rng.normal(mu, sigma, size=(CHAINS * DRAWS, H)) + holdout
        tree["predictions"] = xr.DataTree(
            xr.Dataset(
                {"y_holdout": (("sample", "holdout_date"), drawn)},
                coords={"holdout_date": later, **sample},
            )
        )
    return tree


def _rewrite(path: Path, drop: tuple[str, ...] = (), **changes: str) -> None:
    table = ipc.open_file(pa.BufferReader(path.read_bytes())).read_all()
    metadata = {k: v for k, v in table.schema.metadata.items() if k.decode() not in drop}
    metadata |= {k.encode(): v.encode() for k, v in changes.items()}
    table = table.replace_schema_metadata(metadata)
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def test_chain_and_draw_and_the_predictive_groups_read_back(tmp_path: Path) -> None:
    tree = _tree()
    path = tmp_path / "r.arrow"
    write_record(path, tree)
    record = read_record(path)
    assert record.format_version == contract.FORMAT_VERSION == 3
    back = record.to_datatree()
    for group in tree.children:
        xr.testing.assert_identical(back[group].to_dataset(), tree[group].to_dataset())
    assert set(record.samples) == {"posterior", "posterior_predictive", "log_likelihood"}
    ll = record.group("log_likelihood", "y")
    assert ll is not None and ll.shape == (CHAINS * DRAWS, T)
    assert record.estimand_names() == ["roas", "contribution_share", "sigma"]  # y is no estimand


def test_bad_chain_coordinates_are_refused_at_write(tmp_path: Path) -> None:
    tree = _tree()
    tree["posterior"] = xr.DataTree(tree["posterior"].to_dataset().drop_vars("draw"))
    with pytest.raises(ValueError, match="/posterior: chain and draw must both be"):
        write_record(tmp_path / "r.arrow", tree)


def test_arviz_summary_ppc_and_loo_work_on_the_exported_record(tmp_path: Path) -> None:
    record = tmp_path / "r.arrow"
    write_record(record, _tree())
    path = write_arviz(record, tmp_path / "out" / "r.nc")
    exported = xr.open_datatree(path)
    assert exported["posterior"]["roas"].dims == ("chain", "draw", "channel")
    assert exported["posterior"].sizes == {"chain": CHAINS, "draw": DRAWS, "channel": 2}
    assert list(exported["posterior"]["draw"].values[:3]) == [0, 2, 4]  # the sampler's indices
    assert exported["prior"]["roas"].dims == ("chain", "draw", "channel")
    assert exported["truth"]["roas"].dims == ("channel",)
    assert exported.attrs["format_version"] == 3
    summary = az.summary(exported, var_names=["roas", "sigma"])
    assert len(summary) == 3 and float(summary["r_hat"].max()) < 1.05
    az.plot_ppc_dist(exported)
    loo = az.loo(exported)
    assert loo.n_data_points == T and np.isfinite(loo.elpd)
    # the same elpd as a direct PSIS-free check would bound: never above the log predictive
    ll = exported["log_likelihood"]["y"].values.reshape(-1, T)
    lpd = float(np.sum(np.log(np.mean(np.exp(ll), axis=0))))
    assert loo.elpd <= lpd + 1e-9


def test_the_holdout_is_exported_as_predictions(tmp_path: Path) -> None:
    record = tmp_path / "r.arrow"
    write_record(record, _tree(holdout=0.0))
    exported = xr.open_datatree(write_arviz(record, tmp_path / "r.nc"))
    assert exported["predictions"]["y_holdout"].dims == ("chain", "draw", "holdout_date")
    assert exported["observed_holdout"]["y_holdout"].shape == (H,)
    assert set(exported["observed_data"].data_vars) == {"y"}
    az.plot_ppc_dist(exported)


def test_a_stuck_chain_shows_in_the_exported_r_hat(tmp_path: Path) -> None:
    """The chains are the sampler's: a chain shifted by 3 posterior sds gives R-hat >> 1."""
    record = tmp_path / "r.arrow"
    write_record(record, _tree(stuck=3.0))
    summary = az.summary(
        xr.open_datatree(write_arviz(record, tmp_path / "r.nc")), var_names=["roas"]
    )
    assert float(summary["r_hat"].min()) > 1.5


def test_format_2_records_still_read_but_are_not_exported(tmp_path: Path) -> None:
    path = tmp_path / "r.arrow"
    tree = _tree()
    for group in ("observed_data", "posterior_predictive", "log_likelihood"):
        del tree[group]
    tree["posterior"] = xr.DataTree(tree["posterior"].to_dataset().drop_vars(["chain", "draw"]))
    write_record(path, tree)
    _rewrite(path, drop=("samples",), format_version="2")
    record = read_record(path)
    assert record.format_version == 2 and record.samples == {}
    assert record.estimand("roas").draws.shape == (CHAINS * DRAWS, 2)
    with pytest.raises(RecordError, match=rf"^{path}: a format 2 record keeps no chain and draw"):
        record_to_arviz(record, path)


def test_an_unknown_format_version_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "r.arrow"
    write_record(path, _tree())
    _rewrite(path, format_version="7")
    with pytest.raises(
        RecordError, match=rf"^{path}: format_version 7; .* reads run format 2 or 3 only$"
    ):
        write_arviz(path, tmp_path / "r.nc")
    assert not (tmp_path / "r.nc").exists()


def _run(root: Path) -> Path:
    store = RunStore(root)
    manifest = {"scenario": "stub", "seed": 1, "replicates": 2, "cells": {}}
    manifest["cells"] = {"aa11": {"label": "noise=0"}, "bb22": {"label": "noise=0.2"}}
    store.initialize('name = "stub"\n', "x", manifest)
    for cell in ("aa11", "bb22"):
        for rep in range(2):
            tree = _tree(seed=rep)
            tree.attrs |= {"cell_id": cell, "replicate": rep}
            store.write_record(cell, rep, tree)
    return root


def test_export_command_writes_one_netcdf_per_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path / "run")
    written = export_run(run, tmp_path / "all")
    assert [(e.cell_id, e.replicate) for e in written] == [
        ("aa11", 0), ("aa11", 1), ("bb22", 0), ("bb22", 1)
    ]  # fmt: skip
    out = tmp_path / "one"
    assert (
        main(["export", str(run), "--cell", "noise=0.2", "--replicate", "1", "--out", str(out)])
        == 0
    )
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nc")) == ["bb22/1.nc"]
    assert "bb22/1.nc" in capsys.readouterr().out
    assert json.loads(xr.open_datatree(out / "bb22" / "1.nc").attrs["diagnostics"])["draws"] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cell", "nope"], "--cell = 'nope': is no cell's id or label"),
        (["--replicate", "5"], "--replicate = 5: no fit record of it"),
        (["--replicate", "-1"], "--replicate = -1: must be >= 0"),
    ],
)
def test_export_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run = _run(tmp_path / "run")
    assert main(["export", str(run), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_groups_that_lack_variables_are_stored_without_nan_draws(tmp_path: Path) -> None:
    path = tmp_path / "r.arrow"
    write_record(path, _tree())
    table = ipc.open_file(pa.BufferReader(path.read_bytes())).read_all()
    for group in ("posterior", "prior", "posterior_predictive", "log_likelihood"):
        assert pa.types.is_list(table.schema.field(group).type), group
        lengths = table.column(group).combine_chunks().value_lengths().to_numpy()
        assert set(lengths.tolist()) == {0, CHAINS * DRAWS}
    pp = table.column("posterior_predictive").combine_chunks()
    assert int(np.count_nonzero(pp.value_lengths().to_numpy())) == T  # only y's rows
    # a row of y without draws is a corrupt record, not a silent NaN
    column = table.schema.get_field_index("log_likelihood")
    ll = table.column(column).combine_chunks()
    offsets = ll.offsets.to_numpy().copy()
    start = int(np.flatnonzero(ll.value_lengths().to_numpy())[0])
    offsets[start + 1 :] -= CHAINS * DRAWS  # drop the first row of y's draws
    values = ll.flatten().slice(CHAINS * DRAWS)
    broken = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    table = table.set_column(column, table.schema.field(column), broken)
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    with pytest.raises(RecordError, match=r"column 'log_likelihood': variable 'y' has rows"):
        read_record(path)
