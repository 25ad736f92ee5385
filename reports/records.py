"""Fit record files (``fits/<cell_id>/<replicate>.arrow``).

A record tree encoded as an Arrow table and decoded back.

The format is :mod:`mmm_workbench.reports.contract`'s: one row per variable coordinate,
the draws as fixed-size list columns, the attributes and the variables' dims and shapes in
the schema metadata. A record in memory is an ``xarray.DataTree`` with the groups
``/posterior`` (estimand draws over ``sample``), ``/truth`` (the same names without
``sample``), optionally ``/prior`` (draws over ``sample``), and where the model has a
likelihood ``/observed_data`` (the training target), ``/posterior_predictive`` and
``/log_likelihood`` (its draws and pointwise log density over ``sample``), and root
attributes. The posterior's ``sample`` dimension carries ``chain`` and ``draw``
coordinates (each kept draw's sampler indices), as do the predictive groups.
:func:`encode_record` turns one into a table (every group aligned on the coordinate labels
of the first group that has a dimension); :func:`read_record` decodes a file into a
:class:`FitRecord`, whose :meth:`FitRecord.estimand` gives the arrays a scorer needs and
:meth:`FitRecord.to_datatree` the tree.

Format 2 records (no predictive groups, no chain and draw) are read as they are: their
trees lack those groups and coordinates, and :attr:`FitRecord.format_version` says 2; any
other version is refused with a one-line :class:`RecordError`. This package never imports
``recover``: the files are the contract.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.ipc as ipc  # type: ignore[import-untyped]
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.reports.contract import (
    CHAIN,
    DRAW,
    DRAWN_GROUPS,
    ESTIMAND_COLUMN,
    FORMAT_VERSION,
    GROUPS,
    JSON_OBJECT_ATTRS,
    POSTERIOR,
    PRIOR,
    READABLE_VERSIONS,
    SAMPLE,
    TRUTH,
    FormatError,
    check_format_version,
)

__all__ = [
    "Estimand",
    "FitRecord",
    "RecordError",
    "Variable",
    "check_record",
    "encode_record",
    "read_record",
    "write_record",
]

_DRAWN = DRAWN_GROUPS
_SAMPLE_COORDS = (CHAIN, DRAW)


class RecordError(FormatError):
    """A fit record that cannot be read or does not follow the record format."""


@dataclass(frozen=True, kw_only=True)
class Variable:
    """One variable of a record: its rows ``start : start + size`` of the table."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    groups: tuple[str, ...]
    start: int

    @property
    def size(self) -> int:
        """Number of coordinates (rows)."""
        return math.prod(self.shape)

    @property
    def rows(self) -> slice:
        """The variable's rows of the record table."""
        return slice(self.start, self.start + self.size)


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
    """A decoded fit record.

    ``values`` maps each group present to its column: ``(rows, draws)`` for the drawn
    groups (``posterior``, ``prior``, ``posterior_predictive``, ``log_likelihood``),
    ``(rows,)`` for ``truth`` and ``observed_data``; ``coords`` maps each dimension to its
    per-row labels. ``samples`` maps a drawn group to its draws' ``chain`` and ``draw``
    indices (format 3, where the draws come from chains; empty for format 2).
    ``diagnostics`` and ``timings`` are the parsed JSON attributes (empty when absent).
    """

    cell_id: str
    replicate: int
    attrs: dict[str, Any]
    group_attrs: dict[str, dict[str, Any]]
    variables: tuple[Variable, ...]
    coords: dict[str, NDArray[Any]]
    values: dict[str, NDArray[np.float64]]
    diagnostics: dict[str, Any]
    timings: dict[str, Any]
    samples: dict[str, dict[str, NDArray[np.int64]]]
    format_version: int = FORMAT_VERSION
    held: dict[str, NDArray[np.int64]] = field(default_factory=dict)
    """For a drawn group stored sparse (a variable-size list column), each table row's row in
    ``values[group]`` (which holds only the rows of the group's variables), -1 elsewhere."""

    def _column(self, group: str, var: Variable) -> NDArray[np.float64]:
        """Return ``var``'s rows of ``group``'s column."""
        index = self.held.get(group)
        if index is None:
            return self.values[group][var.rows]
        start = int(index[var.start]) if var.size else 0
        return self.values[group][start : start + var.size]

    def variable(self, name: str) -> Variable:
        """Return the variable called ``name``.

        Raises
        ------
        RecordError
            The record has no such variable.
        """
        for var in self.variables:
            if var.name == name:
                return var
        raise RecordError(f"{self.cell_id}/{self.replicate}: no variable {name!r}")

    def estimand_names(self) -> list[str]:
        """Variables in both ``posterior`` and ``truth``, in row order."""
        return [v.name for v in self.variables if POSTERIOR in v.groups and TRUTH in v.groups]

    def estimand(self, name: str) -> Estimand:
        """Posterior draws, truth and prior draws of ``name``.

        Raises
        ------
        RecordError
            ``name`` is not an estimand of the record, or it has no draws.
        """
        var = self.variable(name)
        if POSTERIOR not in var.groups or TRUTH not in var.groups:
            raise RecordError(f"{name!r} is not in both {POSTERIOR} and {TRUTH}")
        rows = var.rows
        prior = PRIOR in var.groups and PRIOR in self.values
        return Estimand(
            name=name,
            dims=var.dims,
            coords={d: self.coords[d][rows] for d in var.dims},
            draws=self._column(POSTERIOR, var).T,
            truth=self.values[TRUTH][rows],
            prior=self._column(PRIOR, var).T if prior else None,
        )

    def group(self, group: str, name: str) -> NDArray[np.float64] | None:
        """Return ``name``'s values in ``group``, shaped as the variable; None if not held.

        Draws come first for a drawn group: ``(sample, *shape)``.
        """
        var = next((v for v in self.variables if v.name == name), None)
        if var is None or group not in var.groups or group not in self.values:
            return None
        column = self._column(group, var)
        if column.ndim == 1:
            return column.reshape(var.shape)
        return column.T.reshape(column.shape[1], *var.shape)

    def to_datatree(self) -> xr.DataTree:
        """Return the record as the tree it was written from.

        Variable attributes are not kept; a dimension without a coordinate comes back with
        ``0, 1, ...``; the drawn groups' ``chain`` and ``draw`` come back as coordinates
        along ``sample``.
        """
        groups: dict[str, xr.Dataset] = {}
        for group in GROUPS:
            held = [v for v in self.variables if group in v.groups]
            if group not in self.values or not held:
                continue
            data: dict[str, Any] = {}
            labels: dict[str, NDArray[Any]] = {}
            for var in held:
                column = self._column(group, var)
                if group not in _DRAWN:
                    data[var.name] = (var.dims, column.reshape(var.shape))
                else:
                    draws = column.T.reshape(column.shape[1], *var.shape)
                    data[var.name] = ((SAMPLE, *var.dims), draws)
                for axis, dim in enumerate(var.dims):
                    if dim not in labels:
                        grid = self.coords[dim][var.rows].reshape(var.shape)
                        labels[dim] = np.moveaxis(grid, axis, 0).reshape(var.shape[axis], -1)[:, 0]
            dataset = xr.Dataset(data, coords=labels)
            if group in self.samples:
                dataset = dataset.assign_coords(
                    {k: (SAMPLE, v) for k, v in self.samples[group].items()}
                )
            dataset.attrs = dict(self.group_attrs.get(group, {}))
            groups[f"/{group}"] = dataset
        tree = xr.DataTree.from_dict(groups)
        tree.attrs = dict(self.attrs)
        return tree


# --- writing -------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _labels(dataset: xr.Dataset, dim: str, size: int) -> NDArray[Any]:
    if dim in dataset.coords and dataset[dim].dims == (dim,):
        return np.asarray(dataset[dim].values)
    return np.arange(size)


def _align(
    values: NDArray[Any], axis: int, own: NDArray[Any], want: NDArray[Any], where: str
) -> NDArray[Any]:
    if own.shape == want.shape and bool(np.all(own == want)):
        return values
    index = {label: i for i, label in enumerate(own.tolist())}
    try:
        order = [index[label] for label in want.tolist()]
    except KeyError as exc:
        raise ValueError(f"{where}: coordinate {exc} of {POSTERIOR} is missing") from exc
    return np.take(values, order, axis=axis)


def _group_column(
    dataset: xr.Dataset,
    name: str,
    dims: tuple[str, ...],
    labels: dict[str, NDArray[Any]],
    draws: int | None,
    where: str,
) -> NDArray[np.float64]:
    """One variable's rows of a group's column.

    ``(k, draws)`` for a drawn group, ``(k,)`` for the truth, NaN where the group does not hold the
    variable.
    """
    k = math.prod(labels[d].size for d in dims)
    if name not in dataset.data_vars:
        return np.full((k,) if draws is None else (k, draws), np.nan)
    lead = () if draws is None else (SAMPLE,)
    var = dataset[name]
    if set(var.dims) != {*lead, *dims}:
        raise ValueError(f"{where} has dims {var.dims}, expected {(*lead, *dims)}")
    values = np.asarray(var.transpose(*lead, *dims).values, dtype=np.float64)
    for axis, dim in enumerate(dims, start=len(lead)):
        own = _labels(dataset, dim, values.shape[axis])
        values = _align(values, axis, own, labels[dim], where)
    return values.reshape(k) if draws is None else values.reshape(draws, k).T


def _coordinate_column(dim: str, labels: NDArray[Any], variables: list[dict[str, Any]]) -> pa.Array:
    """Each row's label along ``dim``; null in the rows of variables without ``dim``."""
    index = []
    for v in variables:
        k = math.prod(v["shape"])
        if dim in v["dims"]:
            index.append(np.unravel_index(np.arange(k), v["shape"])[v["dims"].index(dim)])
        else:
            index.append(np.full(k, -1))
    rows = np.concatenate(index) if index else np.zeros(0, dtype=np.int64)
    return pa.array(labels).take(pa.array(rows, mask=rows < 0))


def _sample_coords(dataset: xr.Dataset, group: str, size: int) -> dict[str, list[int]]:
    """Return a drawn group's ``chain`` and ``draw`` coordinates along ``sample`` (or none).

    Raises
    ------
    ValueError
        Only one of them, or one that is not ``size`` non-negative integers over ``sample``.
    """
    held = [c for c in _SAMPLE_COORDS if c in dataset.coords]
    if not held:
        return {}
    out = {}
    for name in _SAMPLE_COORDS:
        coord = dataset.coords.get(name)
        values = None if coord is None else np.asarray(coord.values)
        if (
            coord is None
            or coord.dims != (SAMPLE,)
            or values is None
            or values.shape != (size,)
            or not np.issubdtype(values.dtype, np.integer)
            or bool(np.any(values < 0))
        ):
            raise ValueError(
                f"/{group}: {' and '.join(_SAMPLE_COORDS)} must both be non-negative integer "
                f"coordinates along {SAMPLE!r}"
            )
        out[name] = [int(v) for v in values]
    return out


def _sparse_column(
    parts: list[NDArray[np.float64]], variables: list[dict[str, Any]], group: str, draws: int
) -> pa.Array:
    """Return a sparse group's column: each row's draws, empty where the group lacks the row."""
    lengths = np.concatenate(
        [
            np.full(len(part), draws if group in v["groups"] else 0)
            for part, v in zip(parts, variables, strict=True)
        ]
        if parts
        else [np.zeros(0, dtype=np.int64)]
    ).astype(np.int32)
    held = [part for part, v in zip(parts, variables, strict=True) if group in v["groups"]]
    flat = np.concatenate(held).reshape(-1) if held else np.zeros(0)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=pa.float64()))


def encode_record(tree: xr.DataTree) -> pa.Table:
    """Return a record tree as the contract's Arrow table.

    Every variable of a drawn group (``/posterior``, ``/prior``, ``/posterior_predictive``,
    ``/log_likelihood``) has a ``sample`` dimension, along which the group may have integer
    ``chain`` and ``draw`` coordinates; a variable has the same other dimensions in every
    group, and each group's coordinate labels are aligned on those of the first group that
    has the dimension.

    Raises
    ------
    ValueError
        No ``/posterior`` or ``/truth``, no draws, a variable whose dims disagree between
        groups, a label missing from a group, bad ``chain``/``draw`` coordinates, or
        attributes that are not JSON-serializable.
    """
    groups = {g: tree[g].to_dataset() for g in GROUPS if g in tree.children}
    for needed in (POSTERIOR, TRUTH):
        if needed not in groups:
            raise ValueError(f"a fit record needs a /{needed} group")
    draws = {g: int(ds.sizes.get(SAMPLE, 0)) for g, ds in groups.items() if g in _DRAWN}
    for group, count in draws.items():
        if count == 0:
            raise ValueError(f"/{group} has no {SAMPLE!r} draws")
    samples = {g: _sample_coords(groups[g], g, n) for g, n in draws.items()}
    labels: dict[str, NDArray[Any]] = {}
    variables: list[dict[str, Any]] = []
    columns: dict[str, list[NDArray[np.float64]]] = {g: [] for g in groups}
    for name in dict.fromkeys(str(n) for ds in groups.values() for n in ds.data_vars):
        holders = [g for g in groups if name in groups[g].data_vars]
        first = groups[holders[0]][name]
        dims = tuple(str(d) for d in first.dims if d != SAMPLE)
        for dim in dims:
            labels.setdefault(dim, _labels(groups[holders[0]], dim, int(first.sizes[dim])))
        for group, dataset in groups.items():
            column = _group_column(
                dataset, name, dims, labels, draws.get(group), f"/{group}/{name}"
            )
            columns[group].append(column)
        shape = tuple(int(first.sizes[d]) for d in dims)
        variables.append({"name": name, "dims": dims, "shape": shape, "groups": holders})
    sizes = [math.prod(v["shape"]) for v in variables]
    names = np.array([v["name"] for v in variables], dtype=object)
    arrays = {ESTIMAND_COLUMN: pa.array(np.repeat(names, sizes), type=pa.string())}
    arrays |= {
        dim: _coordinate_column(dim, dim_labels, variables) for dim, dim_labels in labels.items()
    }
    for group, parts in columns.items():
        if group in draws and any(group not in v["groups"] for v in variables):
            arrays[group] = _sparse_column(parts, variables, group, draws[group])
        elif group in draws:
            flat = np.concatenate(parts) if parts else np.zeros((0, draws[group]))
            arrays[group] = pa.FixedSizeListArray.from_arrays(
                pa.array(flat.reshape(-1)), draws[group]
            )
        else:
            arrays[group] = pa.array(np.concatenate(parts) if parts else np.zeros(0))
    try:
        metadata = {
            "format_version": json.dumps(FORMAT_VERSION),
            "attrs": json.dumps(dict(tree.attrs), default=_jsonable),
            "groups": json.dumps(
                {g: dict(ds.attrs) for g, ds in groups.items()}, default=_jsonable
            ),
            "variables": json.dumps(variables),
            "samples": json.dumps({g: c for g, c in samples.items() if c}),
        }
    except TypeError as exc:
        raise ValueError(f"record attributes: {exc}") from exc
    return pa.table(arrays).replace_schema_metadata(metadata)


def write_record(path: str | Path, tree: xr.DataTree) -> None:
    """Write a record tree to ``path``, not atomically.

    Callers write to a temporary name and rename, as
    :func:`mmm_workbench.reports.contract.atomic_write` does.

    Raises
    ------
    ValueError
        As :func:`encode_record`.
    """
    table = encode_record(tree)
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Header:
    version: int
    attrs: dict[str, Any]
    group_attrs: dict[str, dict[str, Any]]
    variables: tuple[Variable, ...]
    parsed: dict[str, dict[str, Any]]
    samples: dict[str, dict[str, NDArray[np.int64]]]


def _json(metadata: Mapping[bytes, bytes], key: str) -> Any:
    raw = metadata.get(key.encode())
    if raw is None:
        raise RecordError(f"no {key!r} in the schema metadata")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"schema metadata {key!r} is not JSON: {exc}") from exc


def _variables(raw: Any) -> tuple[Variable, ...]:
    if not isinstance(raw, list):
        raise RecordError("schema metadata 'variables' is not a list")
    out, start = [], 0
    for item in raw:
        try:
            name, dims, shape, groups = item["name"], item["dims"], item["shape"], item["groups"]
            ok = (
                isinstance(name, str)
                and all(isinstance(d, str) for d in dims)
                and all(isinstance(n, int) and n >= 0 for n in shape)
                and len(dims) == len(shape)
                and set(groups) <= set(GROUPS)
            )
        except (KeyError, TypeError) as exc:
            raise RecordError(f"schema metadata 'variables': malformed entry {item!r}") from exc
        if not ok:
            raise RecordError(f"schema metadata 'variables': malformed entry {item!r}")
        var = Variable(
            name=name, dims=tuple(dims), shape=tuple(shape), groups=tuple(groups), start=start
        )
        out.append(var)
        start += var.size
    return tuple(out)


def _header(schema: pa.Schema, path: str | Path) -> _Header:
    """Return the decoded schema metadata; every error names ``path``."""
    metadata = schema.metadata or {}
    try:
        version = check_format_version(_json(metadata, "format_version"), path, READABLE_VERSIONS)
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from exc
    except FormatError as exc:
        raise RecordError(str(exc)) from exc
    try:
        return _decode_header(metadata, schema.names, version)
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from exc


def _samples(raw: Any) -> dict[str, dict[str, NDArray[np.int64]]]:
    """Decode the ``samples`` metadata: per drawn group, its ``chain`` and ``draw`` indices."""
    if not isinstance(raw, dict):
        raise RecordError("schema metadata 'samples' is not a JSON object")
    out = {}
    for group, coords in raw.items():
        ok = group in _DRAWN and isinstance(coords, dict) and set(coords) == set(_SAMPLE_COORDS)
        arrays = {}
        if ok:
            arrays = {c: np.asarray(coords[c]) for c in _SAMPLE_COORDS}
            ok = all(
                isinstance(coords[c], list)
                and a.shape == (len(coords[_SAMPLE_COORDS[0]]),)
                and (a.size == 0 or (a.dtype.kind == "i" and int(a.min()) >= 0))
                for c, a in arrays.items()
            )
        if not ok:
            raise RecordError(f"schema metadata 'samples': malformed entry for {group!r}")
        out[group] = {c: a.astype(np.int64) for c, a in arrays.items()}
    return out


def _decode_header(
    metadata: Mapping[bytes, bytes], columns: list[str], version: int = FORMAT_VERSION
) -> _Header:
    attrs = _json(metadata, "attrs")
    group_attrs = _json(metadata, "groups")
    if not isinstance(attrs, dict) or not isinstance(group_attrs, dict):
        raise RecordError("schema metadata 'attrs' or 'groups' is not a JSON object")
    parsed: dict[str, dict[str, Any]] = {}
    for name in JSON_OBJECT_ATTRS:
        raw = attrs.get(name)
        if raw is None or raw == "":
            parsed[name] = {}
            continue
        try:
            value = json.loads(raw) if isinstance(raw, str) else None
        except json.JSONDecodeError as exc:
            raise RecordError(f"attribute {name!r} is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise RecordError(f"attribute {name!r} is not a JSON object: {raw!r:.60}")
        parsed[name] = value
    for name, kind, what in (("cell_id", str, "a string"), ("replicate", int, "an integer")):
        if name in attrs and (not isinstance(attrs[name], kind) or isinstance(attrs[name], bool)):
            raise RecordError(f"attribute {name!r} is not {what}: {attrs[name]!r:.60}")
    variables = _variables(_json(metadata, "variables"))
    samples = _samples(_json(metadata, "samples")) if version >= 3 else {}
    names = set(columns)
    for column in (ESTIMAND_COLUMN, POSTERIOR, TRUTH):
        if column not in names:
            raise RecordError(f"no {column!r} column")
    for var in variables:
        missing = [d for d in var.dims if d not in names] + [
            g for g in var.groups if g not in names
        ]
        if missing:
            raise RecordError(f"variable {var.name!r}: no {missing[0]!r} column")
    return _Header(
        version=version,
        attrs=attrs,
        group_attrs=group_attrs,
        variables=variables,
        parsed=parsed,
        samples=samples,
    )


def _unreadable(path: str | Path, exc: Exception) -> RecordError:
    return RecordError(f"{path}: unreadable fit record ({type(exc).__name__}: {exc})")


def check_record(path: str | Path) -> None:
    """Check a record file's structure and metadata without reading its values.

    What a resumed run needs to tell a record from a corrupt file.

    Raises
    ------
    RecordError
        As :func:`read_record`, naming ``path``.
    """
    try:
        with pa.memory_map(str(path)) as source:
            reader = ipc.open_file(source)
            header = _header(reader.schema, path)
            rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    except RecordError:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    expected = sum(v.size for v in header.variables)
    if rows != expected:
        raise RecordError(f"{path}: {rows} rows, its variables need {expected}")


def _sparse(
    column: pa.ChunkedArray, group: str, variables: tuple[Variable, ...]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Decode a sparse group's column: the held rows' draws and each row's index into them.

    Raises
    ------
    RecordError
        Not a list of floats, rows of unequal lengths, or a variable of the group with a row
        missing.
    """
    array = column.combine_chunks()
    if not pa.types.is_list(array.type) or not pa.types.is_floating(array.type.value_type):
        raise RecordError(f"column {group!r} is {array.type}, not a list of floats")
    lengths = np.asarray(array.value_lengths().fill_null(0).to_numpy(zero_copy_only=False))
    width = int(lengths.max()) if lengths.size else 0
    if np.any((lengths != 0) & (lengths != width)):
        raise RecordError(f"column {group!r}: rows hold different numbers of draws")
    held = lengths > 0
    index = np.where(held, np.cumsum(held) - 1, -1).astype(np.int64)
    for var in variables:
        if group in var.groups and not bool(np.all(held[var.rows])):
            raise RecordError(f"column {group!r}: variable {var.name!r} has rows without draws")
    flat = np.asarray(array.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
    return flat.reshape(int(held.sum()), width), index


def _drawn(column: pa.ChunkedArray, group: str) -> NDArray[np.float64]:
    array = column.combine_chunks()
    if not pa.types.is_fixed_size_list(array.type) or not pa.types.is_floating(
        array.type.value_type
    ):
        raise RecordError(f"column {group!r} is {array.type}, not a fixed-size list of floats")
    values: NDArray[np.float64] = np.asarray(
        array.flatten().to_numpy(zero_copy_only=False), dtype=np.float64
    )
    return values.reshape(len(array), array.type.list_size)


def read_record(
    path: str | Path, cell_id: str | None = None, replicate: int | None = None
) -> FitRecord:
    """Read and decode one fit record.

    ``cell_id`` and ``replicate`` default to the record's own attributes.

    Raises
    ------
    RecordError
        One line naming ``path``: not a readable Arrow file, another format version, or
        not a fit record (missing columns or metadata, attributes ``diagnostics``,
        ``timings`` or ``versions`` that are not JSON-object strings, too few rows).
    """
    try:
        with pa.memory_map(str(path)) as source:
            reader = ipc.open_file(source)
            schema = reader.schema
            table = reader.read_all()
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    header = _header(schema, path)
    try:
        values, held = {}, {}
        for group in GROUPS:
            if group not in table.column_names:
                continue
            if group in _DRAWN and pa.types.is_list(table.schema.field(group).type):
                values[group], held[group] = _sparse(table.column(group), group, header.variables)
            elif group in _DRAWN:
                values[group] = _drawn(table.column(group), group)
            else:
                column = table.column(group).to_numpy()
                values[group] = column.astype(np.float64, copy=False)
        dims = {d for v in header.variables for d in v.dims}
        coords = {d: table.column(d).to_numpy() for d in dims}
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from exc
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise _unreadable(path, exc) from exc
    expected = sum(v.size for v in header.variables)
    if table.num_rows != expected:
        raise RecordError(f"{path}: {table.num_rows} rows, its variables need {expected}")
    if values[POSTERIOR].shape[1] == 0:
        raise RecordError(f"{path}: {POSTERIOR} has no draws")
    for group, index in header.samples.items():
        width = values[group].shape[1] if group in values else -1
        if any(len(v) != width for v in index.values()):
            raise RecordError(f"{path}: 'samples' of {group!r} do not match its draws")
    return FitRecord(
        cell_id=str(cell_id if cell_id is not None else header.attrs.get("cell_id", "")),
        replicate=int(replicate if replicate is not None else header.attrs.get("replicate", -1)),
        attrs=header.attrs,
        group_attrs=header.group_attrs,
        variables=header.variables,
        coords=coords,
        values=values,
        diagnostics=header.parsed["diagnostics"],
        timings=header.parsed["timings"],
        samples=header.samples,
        format_version=header.version,
        held=held,
    )
