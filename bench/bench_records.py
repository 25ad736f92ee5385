"""Benchmark: reading 1,000 fit records, the format-1 reader against today's (format 2).

Each record is a realistic ``confounded-demand`` record: the truth of a real simulated
replicate (``simulate.generate`` and the model's ``truth_estimands``: contributions of 3
channels x 156 weeks, the baseline, the 3 x 21-point response curves, shares, ROAS,
mROAS, the transform parameters and sigma; 708 estimand coordinates), 400 posterior draws
(the default ``keep_draws``) and 400 prior draws of every estimand but the baseline, and the
root attributes a fit writes.

- ``before``: records in format 1 (a netCDF DataTree, written as ``recover/store.py``
  wrote them: ``DataTree.to_netcdf(engine="h5netcdf")``), read by the format-1 reader,
  which decoded netCDF-4 internals through h5py with a per-cell layout cache. That reader
  is no longer part of the package; its logic is kept below (``legacy_*``) as the
  baseline.
- ``after``: the same records written by today's writer (``RunStore.write_record``: an
  Arrow IPC file) and read by ``mmm_workbench.reports.records.read_record``.
- ``xarray``: the format-1 files opened with plain ``xr.open_datatree(engine="h5netcdf")``
  (on the first ``--xarray-records`` of them): why the format changed rather than the
  reader alone.

"Reading" is what scoring needs of a record: open and decode it, then take every
estimand's draws, truth, prior and coordinates (``FitRecord.estimand``). Both are measured
in the same run, alternating blocks of records between the two readers (so that the load
of a shared machine weighs on both alike), from the page cache, on one core.
Target: ``after`` no more than 2x ``before``.

Usage: ``python bench/bench_records.py [--records N] [--xarray-records N] [--block N]
[--workdir D]``; writes ``bench/results/records-<UTC time>.json``. Needs about 10 GB free
in ``--workdir`` (default: the system's temporary directory): both formats are kept.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import datetime as dt
import json
import platform
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import xarray as xr
from h5py import h5d, h5s
from numpy.typing import NDArray
from xarray.conventions import decode_cf_variable

from mmm_workbench.recover.fitting import versions
from mmm_workbench.recover.models.data import truth_estimands
from mmm_workbench.recover.store import RunStore, atomic_write
from mmm_workbench.reports.records import read_record
from mmm_workbench.scenarios import load_scenario, replicate_rng, spec_hash
from mmm_workbench.simulate import generate

KEEP_DRAWS = 400


# --- realistic records ----------------------------------------------------------------------


def truths(count: int) -> list[xr.Dataset]:
    """The model-facing truth of ``count`` replicates of confounded-demand."""
    scenario = load_scenario("confounded-demand")
    assert scenario.model is not None
    cell = spec_hash(scenario.data)
    return [
        truth_estimands(
            generate(scenario.data, replicate_rng(scenario.seed, cell, r)), scenario.model
        )
        for r in range(count)
    ]


def record(
    truth: xr.Dataset, replicate: int, rng: np.random.Generator, version: int
) -> xr.DataTree:
    """A record as ``CellFitter.fit`` builds it: posterior and prior draws around the truth."""
    names = [n for n in truth.data_vars if n != "response_spend"]
    post, prior = {}, {}
    for name in names:
        var = truth[name]
        center = np.nan_to_num(var.to_numpy(), nan=1.0)
        scale = 0.1 * (np.abs(center) + 1e-3)
        shape = (KEEP_DRAWS, *var.shape)
        post[name] = (("sample", *var.dims), center + scale * rng.standard_normal(shape))
        if name != "baseline":
            prior[name] = (("sample", *var.dims), center + 5 * scale * rng.standard_normal(shape))
    coords = {d: truth[d] for d in truth.dims}
    tree = xr.DataTree.from_dict(
        {
            "/posterior": xr.Dataset(post, coords=coords),
            "/truth": truth,
            "/prior": xr.Dataset(prior, coords=coords),
        }
    )
    diagnostics = {"draws": 4000.0, "max_rhat": 1.004, "min_ess_bulk": 812.0, "divergences": 0.0}
    tree.attrs = {
        "format_version": version,
        "scenario": "confounded-demand",
        "cell_id": "bench",
        "cell_label": "base",
        "overrides": "[]",
        "replicate": replicate,
        "backend": "nutpie",
        "seed": 20240101,
        "sampler_seed": int(rng.integers(2**32)),
        "compiled": int(replicate == 0),
        "pid": os.getpid(),
        "diagnostics": json.dumps(diagnostics),
        "timings": json.dumps({"compile_s": 0.0, "tune_s": 4.1, "draw_s": 5.3, "post_s": 0.2}),
        "versions": json.dumps(versions()),
    }
    return tree


# --- the format-1 reader (reports/records.py before format 2), the baseline -------------------

_LEGACY_GROUPS = ("posterior", "truth", "prior")
_NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable"
_HDF5_ATTRS = frozenset(
    {"DIMENSION_LIST", "CLASS", "NAME", "REFERENCE_LIST", "_Netcdf4Dimid", "_Netcdf4Coordinates"}
)


@dataclass(frozen=True)
class _Var:
    dims: tuple[str, ...]
    values: NDArray[Any]


@dataclass(frozen=True)
class _Slot:
    name: str
    shape: tuple[int, ...]
    dtype: str
    skip: bool = False
    dims: tuple[str, ...] = ()
    raw: NDArray[Any] | None = None
    decoded: NDArray[Any] | None = None


def _legacy_attr(value: Any) -> Any:
    if isinstance(value, bytes | np.bytes_):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1 and value.ndim <= 1:
        return _legacy_attr(value.reshape(()).item())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _raw(ds: Any) -> NDArray[Any]:
    return np.asarray(ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) is not None else ds[()])


def _nan_fill(attrs: Any, keys: set[str]) -> bool:
    if "_FillValue" not in keys:
        return True
    return bool(np.all(np.isnan(np.asarray(attrs["_FillValue"], dtype=np.float64))))


def _read_known(group: Any, known: tuple[_Slot, ...]) -> dict[str, _Var] | None:
    gid = group.id
    names = [n.decode() for n in gid]
    if names != [s.name for s in known]:
        return None
    ids = [h5d.open(gid, n.encode()) for n in names]
    if [(d.shape, d.dtype.str) for d in ids] != [(s.shape, s.dtype) for s in known]:
        return None
    out: dict[str, _Var] = {}
    for did, slot in zip(ids, known, strict=True):
        if slot.skip:
            continue
        if slot.raw is None:
            values = np.empty(did.shape, dtype=did.dtype)
            did.read(h5s.ALL, h5s.ALL, values)
            out[slot.name] = _Var(slot.dims, values)
            continue
        if slot.decoded is None or not np.array_equal(_raw(h5py.Dataset(did)), slot.raw):
            return None
        out[slot.name] = _Var(slot.dims, slot.decoded)
    return out


def _read_in_full(f: Any, group: Any) -> tuple[dict[str, _Var], tuple[_Slot, ...]]:
    out: dict[str, _Var] = {}
    slots = []
    for name, ds in group.items():
        if not isinstance(ds, h5py.Dataset):
            continue
        shape, dtype = tuple(ds.shape), ds.dtype.str
        keys = set(ds.attrs.keys())
        if "NAME" in keys:
            label = ds.attrs["NAME"]
            if isinstance(label, bytes | np.bytes_) and label.startswith(_NOT_A_VARIABLE):
                slots.append(_Slot(name, shape, dtype, skip=True))
                continue
        if "DIMENSION_LIST" in keys:
            dims = tuple(
                str(f[ref[0]].name).rsplit("/", 1)[-1] for ref in ds.attrs["DIMENSION_LIST"]
            )
        elif ds.ndim == 0:
            dims = ()
        else:
            dims = (name,)
        cf = keys - _HDF5_ATTRS
        if ds.dtype.kind == "f" and cf <= {"_FillValue"} and _nan_fill(ds.attrs, cf):
            out[name] = _Var(dims, np.asarray(ds[()]))
            slots.append(_Slot(name, shape, dtype, dims=dims))
            continue
        attrs = {k: _legacy_attr(ds.attrs[k]) for k in cf}
        raw = _raw(ds)
        decoded = np.asarray(decode_cf_variable(name, xr.Variable(dims, raw, attrs)).values)
        out[name] = _Var(dims, decoded)
        slots.append(_Slot(name, shape, dtype, dims=dims, raw=raw, decoded=decoded))
    return out, tuple(slots)


def legacy_read(path: Path, cache: dict[Any, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The format-1 ``read_record``: root attributes and the decoded groups."""
    folder = str(path.parent)
    with h5py.File(path, "r") as f:
        attrs = {k: _legacy_attr(f.attrs[k]) for k in f.attrs if not k.startswith("_NC")}
        groups = {}
        for g in _LEGACY_GROUPS:
            if g not in f:
                continue
            known = cache.get((folder, g))
            fast = None if known is None else _read_known(f[g], known)
            if fast is not None:
                groups[g] = fast
                continue
            groups[g], cache[(folder, g)] = _read_in_full(f, f[g])
    json.loads(attrs["diagnostics"])
    json.loads(attrs["timings"])
    return attrs, groups


def _coord(groups: dict[str, Any], group: str, dim: str, size: int) -> NDArray[Any]:
    var = groups[group].get(dim)
    return np.arange(size) if var is None or var.dims != (dim,) else var.values


def legacy_estimands(groups: dict[str, Any]) -> int:
    """The format-1 ``FitRecord.estimand`` of every estimand; returns the coordinates seen."""
    post, truth = groups["posterior"], groups["truth"]
    seen = 0
    for name, var in post.items():
        if name not in truth or var.dims == (name,):
            continue
        dims = tuple(d for d in var.dims if d != "sample")
        coords = {
            d: _coord(groups, "posterior", d, var.values.shape[var.dims.index(d)]) for d in dims
        }
        draws = np.moveaxis(var.values, var.dims.index("sample"), 0).astype(np.float64)
        aligned = {}
        for group, lead in (("truth", ()), ("prior", ("sample",))):
            other = groups.get(group, {}).get(name)
            if other is None:
                continue
            want = (*lead, *dims)
            values = np.transpose(other.values, [other.dims.index(d) for d in want]).astype(
                np.float64
            )
            for axis, dim in enumerate(dims, start=len(lead)):
                own = _coord(groups, group, dim, values.shape[axis])
                if not (own.shape == coords[dim].shape and bool(np.all(own == coords[dim]))):
                    index = {label: i for i, label in enumerate(own.tolist())}
                    values = np.take(values, [index[x] for x in coords[dim].tolist()], axis=axis)
            aligned[group] = values
        k = int(np.prod([coords[d].size for d in dims], dtype=np.int64))
        grids = np.meshgrid(*(coords[d] for d in dims), indexing="ij") if dims else []
        flat = {d: g.reshape(-1) for d, g in zip(dims, grids, strict=True)}
        estimand = (flat, draws.reshape(draws.shape[0], k), aligned["truth"].reshape(k))
        seen += estimand[2].size
    return seen


# --- the measurement ------------------------------------------------------------------------


def legacy_reader() -> Any:
    """The format-1 scorer's loop body, with its layout cache kept across records."""
    cache: dict[Any, Any] = {}
    return lambda p: legacy_estimands(legacy_read(p, cache)[1])


def new_reader(path: Path) -> int:
    """Today's scorer's loop body."""
    rec = read_record(path)
    return sum(rec.estimand(n).truth.size for n in rec.estimand_names())


def xarray_reader(path: Path) -> int:
    """Plain xarray on a format-1 file."""
    with xr.open_datatree(path, engine="h5netcdf") as opened:
        tree = opened.load()
    return int(sum(v.size for v in tree["truth"].to_dataset().data_vars.values()))


def write_both(root: Path, count: int) -> dict[str, Any]:
    """``count`` records (and one more, to warm up) in format 1 and in format 2."""
    base = truths(8)
    legacy = root / "v1" / "fits" / "bench"
    store = RunStore(root / "v2")
    seconds = {"before": 0.0, "after": 0.0}
    paths: dict[str, list[Path]] = {"before": [], "after": []}
    rng = np.random.default_rng(1)
    for r in range(count + 1):
        truth, state = base[r % len(base)], rng.bit_generator.state
        tree = record(truth, r, rng, 1)
        path = legacy / f"{r}.nc"
        t0 = time.perf_counter()
        atomic_write(path, lambda p: tree.to_netcdf(p, engine="h5netcdf"))  # noqa: B023
        seconds["before"] += time.perf_counter() - t0
        rng.bit_generator.state = state  # the same values in both formats
        tree = record(truth, r, rng, 2)
        t0 = time.perf_counter()
        paths["after"].append(store.write_record("bench", r, tree))
        seconds["after"] += time.perf_counter() - t0
        paths["before"].append(path)
    return {"seconds": seconds, "paths": paths}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--xarray-records", type=int, default=100)
    parser.add_argument("--block", type=int, default=50, help="records per alternation")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    n = args.records
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench-records-") as tmp:
        written = write_both(Path(tmp), n)
        paths = written["paths"]
        readers = {"before": legacy_reader(), "after": new_reader}
        for name, read in readers.items():  # imports and first-use costs, not timed
            read(paths[name][n])
        seconds = {"before": 0.0, "after": 0.0}
        coordinates = {"before": 0, "after": 0}
        # alternate blocks of records, so that a change in the machine's load hits both
        for start in range(0, n, args.block):
            for name, read in readers.items():
                block = paths[name][start : start + args.block]
                t0 = time.perf_counter()
                coordinates[name] += sum(read(p) for p in block)
                seconds[name] += time.perf_counter() - t0
        some = paths["before"][: args.xarray_records]
        xarray_reader(paths["before"][n])
        t0 = time.perf_counter()
        for p in some:
            xarray_reader(p)
        xarray_s = time.perf_counter() - t0
        sizes = {k: sum(p.stat().st_size for p in v[:n]) / n / 1e6 for k, v in paths.items()}
    assert coordinates["before"] == coordinates["after"], coordinates
    before, after = seconds["before"], seconds["after"]
    ratio = after / before
    xarray_ratio = (xarray_s / len(some)) / (before / n)
    write = written["seconds"]
    print(f"{n} records, {coordinates['after'] // n} estimand coordinates each, 400 draws")
    print(f"{'':<40}{'read s':>9}{'ms/record':>11}{'write ms':>10}{'MB':>7}")
    rows = (
        ("before: format 1, h5py reader (cached)", before, n, write["before"], sizes["before"]),
        ("after: format 2 (Arrow), reports.records", after, n, write["after"], sizes["after"]),
    )
    for label, s, count, w, mb in rows:
        print(f"{label:<40}{s:>9.3f}{1000 * s / count:>11.2f}{1000 * w / n:>10.1f}{mb:>7.2f}")
    print(
        f"{'xarray open_datatree, format 1':<40}{xarray_s:>9.3f}"
        f"{1000 * xarray_s / len(some):>11.2f}   ({len(some)} records)"
    )
    print(f"after / before: {ratio:.3f} (target <= 2: {'met' if ratio <= 2 else 'NOT met'})")
    print(f"xarray on format 1 / before, per record: {xarray_ratio:.1f}")
    result = {
        "benchmark": "read fit records",
        "records": n,
        "coordinates_per_record": coordinates["after"] // n,
        "draws": KEEP_DRAWS,
        "before_read_s": round(before, 4),
        "after_read_s": round(after, 4),
        "before_ms_per_record": round(1000 * before / n, 3),
        "after_ms_per_record": round(1000 * after / n, 3),
        "ratio_after_to_before": round(ratio, 4),
        "xarray_format1_ms_per_record": round(1000 * xarray_s / len(some), 3),
        "xarray_records": len(some),
        "ratio_xarray_to_before": round(xarray_ratio, 2),
        "before_write_ms_per_record": round(1000 * write["before"] / n, 3),
        "after_write_ms_per_record": round(1000 * write["after"] / n, 3),
        "before_mb_per_record": round(sizes["before"], 3),
        "after_mb_per_record": round(sizes["after"], 3),
        "target_ratio": 2.0,
        "meets_target": ratio <= 2.0,
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor(),
            "cores_used": 1,
            "load_average": list(os.getloadavg()),
            **{m: metadata.version(m) for m in ("numpy", "xarray", "h5py", "h5netcdf", "pyarrow")},
        },
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"records-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
