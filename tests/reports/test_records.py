"""Reading run directories and fit records, all written by the public writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
import xarray as xr
from reports_stubs import healthy, record_tree, stub_values, write_stub_run

from mmm_workbench.recover.store import RunStore
from mmm_workbench.reports import contract
from mmm_workbench.reports.records import (
    RecordError,
    check_record,
    encode_record,
    read_record,
    write_record,
)
from mmm_workbench.reports.rundir import RunError, open_run


def _tree(seed: int = 0, draws: int = 10) -> xr.DataTree:
    values = stub_values("calibrated", np.random.default_rng(seed), draws)
    return record_tree("c", "c", 0, values, healthy(0))


def _rewrite_metadata(path: Path, **changes: str) -> None:
    """Replace schema metadata entries of a written record (pyarrow's public API): a record
    from another writer or another version of this one."""
    with pa.memory_map(str(path)) as source:
        table = ipc.open_file(source).read_all()
    metadata = {**table.schema.metadata, **{k.encode(): v.encode() for k, v in changes.items()}}
    table = table.replace_schema_metadata(metadata)
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def test_a_record_reads_back_as_the_tree_it_was_written_from(tmp_path: Path) -> None:
    tree = _tree()
    tree["truth"].attrs = {"spec": "{}"}
    store = RunStore(tmp_path / "run")
    path = store.write_record("c", 4, tree)
    assert path == tmp_path / "run" / "fits" / "c" / f"4{contract.RECORD_SUFFIX}"
    back = store.read_record("c", 4)
    assert set(back.children) == set(tree.children)
    for group in tree.children:
        xr.testing.assert_identical(back[group].to_dataset(), tree[group].to_dataset())
    assert back.attrs == tree.attrs
    record = read_record(path)
    assert (record.cell_id, record.replicate) == ("c", 0)  # from the attributes
    assert record.diagnostics["max_rhat"] == pytest.approx(1.002)
    assert record.timings["draw_s"] == pytest.approx(0.1)
    assert record.estimand("baseline").coords["date"].dtype.kind == "M"


def test_the_record_is_a_columnar_table_any_arrow_reader_opens(tmp_path: Path) -> None:
    path = tmp_path / "r.arrow"
    write_record(path, _tree())
    frame = pd.read_feather(path)
    assert list(frame.columns[:1]) == [contract.ESTIMAND_COLUMN]
    assert {"channel", "date", "posterior", "truth", "prior"} <= set(frame.columns)
    roas = frame[frame["estimand"] == "roas"]
    assert list(roas["channel"]) == ["tv", "search"] and len(roas["posterior"].iloc[0]) == 10
    assert len(frame) == 2 + 2 + 1 + 2  # roas, contribution_share, sigma, baseline


def test_estimand_aligns_truth_on_labels(tmp_path: Path) -> None:
    values = stub_values("calibrated", np.random.default_rng(0), 10)
    tree = record_tree("c", "c", 0, values, healthy(0))
    truth = tree["truth"].to_dataset()
    tree["truth"] = xr.DataTree(truth.isel(channel=[1, 0]))  # other channel order
    path = tmp_path / "r.arrow"
    write_record(path, tree)
    est = read_record(path).estimand("roas")
    assert est.dims == ("channel",)
    assert list(est.coords["channel"]) == ["tv", "search"]
    np.testing.assert_array_equal(est.truth, values[0]["roas"])
    np.testing.assert_array_equal(est.draws, values[1]["roas"])
    assert est.draws.shape == (10, 2) and est.prior is not None
    assert read_record(path).estimand("baseline").prior is None
    assert read_record(path).estimand("sigma").truth.shape == (1,)


def test_a_label_missing_from_the_truth_is_refused_at_write(tmp_path: Path) -> None:
    tree = _tree()
    tree["truth"] = xr.DataTree(tree["truth"].to_dataset().isel(channel=[0]))
    with pytest.raises(ValueError, match=r"/truth/roas: coordinate 'search'"):
        write_record(tmp_path / "r.arrow", tree)
    with pytest.raises(ValueError, match="needs a /truth group"):
        encode_record(xr.DataTree.from_dict({"/posterior": tree["posterior"].to_dataset()}))


def test_estimand_names_skip_truth_only_variables(tmp_path: Path) -> None:
    tree = _tree()
    tree["truth"] = xr.DataTree(tree["truth"].to_dataset().assign(response_spend=1.0))
    path = tmp_path / "r.arrow"
    write_record(path, tree)
    record = read_record(path)
    assert record.estimand_names() == ["roas", "contribution_share", "sigma", "baseline"]
    assert float(record.to_datatree()["truth"]["response_spend"]) == 1.0


def test_unreadable_records_raise_record_error_naming_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "g.arrow"
    garbage.write_bytes(b"not an Arrow file")
    truncated = tmp_path / "t.arrow"
    write_record(truncated, _tree())
    truncated.write_bytes(truncated.read_bytes()[:-100])
    for path in (garbage, truncated):
        for read in (read_record, check_record):
            with pytest.raises(RecordError, match=rf"^{path}: unreadable fit record"):
                read(path)


def test_another_format_version_is_refused_naming_file_and_version(tmp_path: Path) -> None:
    path = tmp_path / "r.arrow"
    write_record(path, _tree())
    check_record(path)
    _rewrite_metadata(path, format_version="4")
    for read in (read_record, check_record):
        with pytest.raises(
            RecordError, match=rf"^{path}: format_version 4; .* reads run format 2 or 3 only$"
        ):
            read(path)


@pytest.mark.parametrize(
    ("attr", "value", "message"),
    [
        ("diagnostics", "{not json", "attribute 'diagnostics' is not JSON"),
        ("timings", np.array([1.0, 2.0]), "attribute 'timings' is not a JSON object"),
        ("versions", "[1]", "attribute 'versions' is not a JSON object"),
        ("replicate", "x", "attribute 'replicate' is not an integer"),
    ],
)
def test_a_bad_attribute_makes_the_record_corrupt(
    tmp_path: Path, attr: str, value: object, message: str
) -> None:
    tree = _tree()
    tree.attrs[attr] = value
    path = tmp_path / "r.arrow"
    write_record(path, tree)  # the writer stores attributes as given
    for read in (read_record, check_record):
        with pytest.raises(RecordError, match=rf"^{path}: {message}"):
            read(path)


def test_open_run_lists_records_and_failures(small_run: Path) -> None:
    fail = small_run / "failures" / "a" / "9.json"
    fail.parent.mkdir(parents=True)
    fail.write_text(json.dumps({"error": "boom", "traceback": "..."}))
    superseded = small_run / "failures" / "a" / "0.json"
    superseded.write_text(json.dumps({"error": "old"}))
    broken = small_run / "failures" / "b" / "8.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{")
    run = open_run(small_run)
    entries = {(e.cell_id, e.replicate): e for e in run.entries}
    assert entries[("a", 9)].status == "failed" and entries[("a", 0)].status == "ok"
    assert entries[("b", 8)].status == "corrupt" and str(broken) in entries[("b", 8)].error
    assert len(run.entries) == 14
    assert run.cells == {"a": "stub=calibrated", "b": "stub=biased"}
    assert run.replicates == 6


def test_names_that_are_not_records_are_not_part_of_the_run(small_run: Path) -> None:
    folder = small_run / "fits" / "a"
    for stray in ("backup-0.arrow", "01.arrow", "-1.arrow", "3.nc", ".2.arrow.x.tmp"):
        (folder / stray).write_bytes((folder / "0.arrow").read_bytes())
    (small_run / "failures" / "a").mkdir(parents=True)
    (small_run / "failures" / "a" / "notes.json").write_text("{}")
    assert len(open_run(small_run).entries) == 12
    assert [(c, r) for c, r, _ in RunStore(small_run).records()] == [
        (c, r) for c in "ab" for r in range(6)
    ]


def test_not_a_run_another_version_and_empty_run(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a run directory: no such directory"):
        open_run(tmp_path / "nowhere")
    with pytest.raises(RunError, match=r"not a run directory: no manifest\.json or scenario\.toml"):
        open_run(tmp_path)
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{")
    (tmp_path / "scenario.toml").write_text("")
    with pytest.raises(RunError, match=r"manifest\.json is unreadable"):
        open_run(tmp_path)
    manifest.write_text(json.dumps({"cells": {}, "format_version": 1}))
    with pytest.raises(
        RunError, match=rf"^{manifest}: format_version 1; .* reads run format 2 or 3"
    ):
        open_run(tmp_path)
    manifest.write_text(json.dumps({"cells": {}}))
    with pytest.raises(RunError, match=rf"^{manifest}: no format_version"):
        open_run(tmp_path)
    manifest.write_text(json.dumps({"cells": {}, "format_version": contract.FORMAT_VERSION}))
    with pytest.raises(RunError, match="empty run"):
        open_run(tmp_path)


def test_stub_runs_are_written_by_the_store(tmp_path: Path) -> None:
    run = write_stub_run(tmp_path / "run", {"c": "calibrated"}, replicates=2, draws=5)
    assert RunStore(run).is_run()
    manifest = json.loads((run / contract.MANIFEST_FILE).read_text())
    assert manifest["format_version"] == contract.FORMAT_VERSION
    assert [e.replicate for e in open_run(run).entries] == [0, 1]
