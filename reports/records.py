"""Reading fit records (``runs/<name>/fits/<cell_id>/<replicate>.nc``, format version 1).

A fit record holds ``/posterior`` (estimand draws over ``sample``), ``/truth`` (the same
names without ``sample``), optionally ``/prior`` (draws over ``sample``) and root
attributes (``cell_id``, ``replicate``, ``backend``, and the JSON strings ``diagnostics``,
``timings`` and ``versions``).

Records are read with h5py and decoded with xarray's own CF decoding, one variable at a
time: the same values as ``xr.open_datatree(path, engine="h5netcdf")`` (a test holds them
equal) at a fraction of the cost, which matters when a report opens thousands of records.
Only the three groups above are read; anything else in a record (full traces) is skipped.
This package never imports ``recover``: the files are the contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np
import xarray as xr
from h5py import h5d, h5s
from numpy.typing import NDArray
from xarray.conventions import decode_cf_variable

__all__ = [
    "SAMPLE",
    "Estimand",
    "FitRecord",
    "LayoutCache",
    "RecordError",
    "Variable",
    "read_record",
]

SAMPLE = "sample"
"""The draws dimension of ``/posterior`` and ``/prior``."""

_GROUPS = ("posterior", "truth", "prior")
_NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable"
_HDF5_ATTRS = frozenset(
    {"DIMENSION_LIST", "CLASS", "NAME", "REFERENCE_LIST", "_Netcdf4Dimid", "_Netcdf4Coordinates"}
)


class RecordError(ValueError):
    """A fit record that cannot be read or does not follow the record format."""


@dataclass(frozen=True, kw_only=True)
class Variable:
    """One decoded netCDF variable: dimension names and values."""

    dims: tuple[str, ...]
    values: NDArray[Any]


@dataclass(frozen=True, kw_only=True)
class Estimand:
    """One estimand of one fit, flattened over its coordinates.

    ``draws`` is ``(sample, k)``, ``truth`` is ``(k,)``, ``prior`` is ``(prior sample, k)``
    or None; ``coords`` maps each dimension to the ``k`` coordinate values of the flattened
    positions (C order over ``dims``).
    """

    name: str
    dims: tuple[str, ...]
    coords: dict[str, NDArray[Any]]
    draws: NDArray[np.float64]
    truth: NDArray[np.float64]
    prior: NDArray[np.float64] | None


@dataclass(frozen=True, kw_only=True)
class FitRecord:
    """A decoded fit record: the three groups and the root attributes."""

    cell_id: str
    replicate: int
    attrs: dict[str, Any]
    groups: dict[str, dict[str, Variable]]

    def _json_attr(self, name: str) -> dict[str, Any]:
        raw = self.attrs.get(name)
        if raw is None or raw == "":
            return {}
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise RecordError(f"attribute {name!r} is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise RecordError(f"attribute {name!r} is not a JSON object")
        return value

    @property
    def diagnostics(self) -> dict[str, Any]:
        """Sampler diagnostics (``max_rhat``, ``divergences``, ...); any may be absent."""
        return self._json_attr("diagnostics")

    @property
    def timings(self) -> dict[str, Any]:
        """Seconds spent compiling, tuning, drawing and post-processing."""
        return self._json_attr("timings")

    def estimand_names(self) -> list[str]:
        """Data variables present in both ``/posterior`` and ``/truth``, in posterior order."""
        post, truth = self.groups["posterior"], self.groups["truth"]
        return [n for n in post if n in truth and not _is_coordinate(n, post[n])]

    def estimand(self, name: str) -> Estimand:
        """Posterior draws, truth and prior draws of ``name``, aligned on coordinate labels."""
        post = self.groups["posterior"][name]
        if SAMPLE not in post.dims:
            raise RecordError(f"/posterior/{name} has no {SAMPLE!r} dimension")
        if post.values.shape[post.dims.index(SAMPLE)] == 0:
            raise RecordError(f"/posterior/{name} has no draws")
        dims = tuple(d for d in post.dims if d != SAMPLE)
        coords = {
            d: self._coord("posterior", d, post.values.shape[post.dims.index(d)]) for d in dims
        }
        draws = np.moveaxis(post.values, post.dims.index(SAMPLE), 0).astype(np.float64)
        truth = self._aligned("truth", name, dims, coords, sample=False)
        if truth is None:
            raise RecordError(f"/truth has no {name!r}")
        prior = self._aligned("prior", name, dims, coords, sample=True)
        k = int(np.prod([coords[d].size for d in dims], dtype=np.int64))
        grids = np.meshgrid(*(coords[d] for d in dims), indexing="ij") if dims else []
        return Estimand(
            name=name,
            dims=dims,
            coords={d: g.reshape(-1) for d, g in zip(dims, grids, strict=True)},
            draws=draws.reshape(draws.shape[0], k),
            truth=truth.reshape(k),
            prior=None if prior is None else prior.reshape(prior.shape[0], k),
        )

    def _coord(self, group: str, dim: str, size: int) -> NDArray[Any]:
        var = self.groups[group].get(dim)
        if var is None or var.dims != (dim,):
            return np.arange(size)
        return var.values

    def _aligned(
        self,
        group: str,
        name: str,
        dims: tuple[str, ...],
        coords: dict[str, NDArray[Any]],
        *,
        sample: bool,
    ) -> NDArray[np.float64] | None:
        var = self.groups.get(group, {}).get(name)
        if var is None:
            return None
        want = ((SAMPLE,) if sample else ()) + dims
        if set(var.dims) != set(want):
            raise RecordError(f"/{group}/{name} has dims {var.dims}, /posterior has {want}")
        values = np.transpose(var.values, [var.dims.index(d) for d in want]).astype(np.float64)
        for axis, dim in enumerate(dims, start=int(sample)):
            own = self._coord(group, dim, values.shape[axis])
            if own.shape == coords[dim].shape and bool(np.all(own == coords[dim])):
                continue
            index = {label: i for i, label in enumerate(own.tolist())}
            try:
                order = [index[label] for label in coords[dim].tolist()]
            except KeyError as exc:
                raise RecordError(f"/{group}/{name}: {dim} {exc} not in /posterior") from exc
            values = np.take(values, order, axis=axis)
        return values


@dataclass(frozen=True)
class _Slot:
    """How one dataset of a group decodes: learned from the first record of a cell."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    skip: bool = False
    dims: tuple[str, ...] = ()
    raw: NDArray[Any] | None = None  # for CF-decoded variables: the raw values ...
    decoded: NDArray[Any] | None = None  # ... and what they decode to


LayoutCache = dict[tuple[str, str], tuple[_Slot, ...]]
"""Per (cell directory, group): the layout of the cell's records. Records of one cell come
from one spec, so they share dataset names, shapes, dimensions and attributes; a record
whose names, shapes, dtypes or CF-decoded raw values differ is read in full."""


def read_record(
    path: str | Path,
    cell_id: str | None = None,
    replicate: int | None = None,
    *,
    cache: LayoutCache | None = None,
) -> FitRecord:
    """Read and decode one fit record.

    ``cell_id`` and ``replicate`` default to the record's own attributes. ``cache`` (a
    dict the caller keeps across the records of a run) skips re-reading the per-dataset
    attributes of records laid out like an earlier record of the same cell directory,
    which is most of the cost of opening a record.

    Raises
    ------
    RecordError
        The file is not a readable netCDF/HDF5 file, or lacks ``/posterior`` or ``/truth``.
    """
    folder = str(Path(path).parent)
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _attr(f.attrs[k]) for k in f.attrs if not k.startswith("_NC")}
            groups = {}
            for g in _GROUPS:
                if g not in f:
                    continue
                known = None if cache is None else cache.get((folder, g))
                groups[g], layout = _read_group(f, f[g], known)
                if cache is not None:
                    cache[(folder, g)] = layout
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from exc
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise RecordError(f"{path}: unreadable fit record ({type(exc).__name__}: {exc})") from exc
    for needed in ("posterior", "truth"):
        if needed not in groups:
            raise RecordError(f"{path}: not a fit record (no /{needed} group)")
    return FitRecord(
        cell_id=str(cell_id if cell_id is not None else attrs.get("cell_id", "")),
        replicate=int(replicate if replicate is not None else attrs.get("replicate", -1)),
        attrs=attrs,
        groups=groups,
    )


def _attr(value: Any) -> Any:
    if isinstance(value, bytes | np.bytes_):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1 and value.ndim <= 1:
        return _attr(value.reshape(()).item())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_coordinate(name: str, var: Variable) -> bool:
    return var.dims == (name,)


def _raw(ds: Any) -> NDArray[Any]:
    return np.asarray(ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) is not None else ds[()])


def _read_group(
    f: Any, group: Any, known: tuple[_Slot, ...] | None
) -> tuple[dict[str, Variable], tuple[_Slot, ...]]:
    if not isinstance(group, h5py.Group):
        raise RecordError(f"{group.name} is not a group")
    if known is not None:
        fast = _read_known(group, known)
        if fast is not None:
            return fast, known
    datasets = [(n, ds) for n, ds in group.items() if isinstance(ds, h5py.Dataset)]
    return _read_group_in_full(f, datasets)


def _read_known(group: Any, known: tuple[_Slot, ...]) -> dict[str, Variable] | None:
    """Read a group laid out as ``known`` with h5py's low-level API (a few times faster
    than its object layer); None when the layout differs."""
    gid = group.id
    names = [n.decode() for n in gid]
    if names != [s.name for s in known]:
        return None
    ids = [h5d.open(gid, n.encode()) for n in names]
    if [(d.shape, d.dtype.str) for d in ids] != [(s.shape, s.dtype) for s in known]:
        return None
    out: dict[str, Variable] = {}
    for did, slot in zip(ids, known, strict=True):
        if slot.skip:
            continue
        if slot.raw is None:
            values = np.empty(did.shape, dtype=did.dtype)
            did.read(h5s.ALL, h5s.ALL, values)
            out[slot.name] = Variable(dims=slot.dims, values=values)
            continue
        if slot.decoded is None or not np.array_equal(_raw(h5py.Dataset(did)), slot.raw):
            return None
        out[slot.name] = Variable(dims=slot.dims, values=slot.decoded)
    return out


def _read_group_in_full(
    f: Any, datasets: list[tuple[str, Any]]
) -> tuple[dict[str, Variable], tuple[_Slot, ...]]:
    out: dict[str, Variable] = {}
    slots = []
    for name, ds in datasets:
        slot = _Slot(name=name, shape=tuple(ds.shape), dtype=ds.dtype.str)
        keys = set(ds.attrs.keys())
        if "NAME" in keys:
            label = ds.attrs["NAME"]
            if isinstance(label, bytes | np.bytes_) and label.startswith(_NOT_A_VARIABLE):
                slots.append(_Slot(name=slot.name, shape=slot.shape, dtype=slot.dtype, skip=True))
                continue
        if "DIMENSION_LIST" in keys:
            refs = ds.attrs["DIMENSION_LIST"]
            dims = tuple(str(f[ref[0]].name).rsplit("/", 1)[-1] for ref in refs)
        elif ds.ndim == 0:
            dims = ()
        elif ds.ndim == 1:
            dims = (name,)  # a dimension coordinate
        else:
            raise RecordError(f"{ds.name} has no dimension names")
        cf = keys - _HDF5_ATTRS
        if ds.dtype.kind == "f" and cf <= {"_FillValue"} and _nan_fill(ds.attrs, cf):
            out[name] = Variable(dims=dims, values=np.asarray(ds[()]))
            slots.append(_Slot(name=name, shape=slot.shape, dtype=slot.dtype, dims=dims))
            continue
        attrs = {k: _attr(ds.attrs[k]) for k in cf}
        raw = _raw(ds)
        decoded = np.asarray(decode_cf_variable(name, xr.Variable(dims, raw, attrs)).values)
        out[name] = Variable(dims=dims, values=decoded)
        slots.append(
            _Slot(
                name=name, shape=slot.shape, dtype=slot.dtype, dims=dims, raw=raw, decoded=decoded
            )
        )
    return out, tuple(slots)


def _nan_fill(attrs: Any, keys: set[str]) -> bool:
    if "_FillValue" not in keys:
        return True
    return bool(np.all(np.isnan(np.asarray(attrs["_FillValue"], dtype=np.float64))))
