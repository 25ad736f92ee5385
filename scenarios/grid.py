"""Scenario grids: axes of dotted paths into the scenario, cells, and their stable ids.

A grid axis varies one path (``"data.proxy.noise_sd" = [0.0, 0.1]``) or several paths
together (``[[grid.zip]]``: equal-length arrays, zipped); cells are the cartesian product
of the axes. Each cell is the base scenario with its overrides applied to the TOML
document and validated again from scratch, so a cell is exactly as valid as a file
written by hand (:func:`mmm_workbench.scenarios.load.expand_grid`). Paths address list
items by index or by ``name``: ``data.channels[1].adstock.alpha`` or
``data.channels.tv.adstock.alpha``. A grid cannot vary ``name``, ``description``, ``seed`` or
``replicates``: they belong to the whole run.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmm_workbench.scenarios.reader import ScenarioError, Table, build
from mmm_workbench.scenarios.spec import GridAxis, Scenario, spec_hash

__all__ = ["Cell", "apply_override", "cell_id", "cell_label", "level_label", "parse_grid"]

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One grid cell: its id, the overrides that made it, and its validated scenario."""

    cell_id: str
    overrides: tuple[tuple[str, Any], ...]
    scenario: Scenario

    @property
    def data_id(self) -> str:
        """The id of the cell's ``[data]`` table, the key of its datasets' seeds.

        Cells that differ only in ``[model]`` or ``[fit]`` fit the same datasets (common random
        numbers, so the model variants are compared on paired data).
        """
        return spec_hash(self.scenario.data)

    @property
    def label(self) -> str:
        """``path=value`` pairs, or ``base`` for a scenario without a grid (:func:`cell_label`)."""
        return cell_label(self.overrides) or "base"


LABEL_ITEMS = 3
"""How many entries of a table-valued grid level its label shows."""


def level_label(value: Any) -> str:
    """Return a grid level as a cell's label shows it.

    Numbers and strings as Python writes them (``0.2``, ``'nnls'``). A table (a whole
    ``[model]`` or ``spend`` table on an axis) by its ``kind`` or ``pattern`` and its first
    other plain entries, at most :data:`LABEL_ITEMS`: ``{kind='python',
    builder='my_model:build', ...}``; an array of tables by its length.
    """
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (k not in ("kind", "pattern"), list(value).index(k)))
        plain = [k for k in keys if not isinstance(value[k], dict | list)]
        shown = [f"{k}={value[k]!r}" for k in plain[:LABEL_ITEMS]]
        more = len(value) > len(shown)
        return "{" + ", ".join(shown) + (", ...}" if more else "}")
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return f"[{len(value)} tables]" if value else "[]"
    return repr(value)


def cell_label(overrides: Sequence[tuple[str, Any]]) -> str:
    """Return ``path=value`` pairs joined by commas (values by :func:`level_label`)."""
    return ", ".join(f"{p}={level_label(v)}" for p, v in overrides)


def cell_id(scenario: Scenario) -> str:
    """Stable id of a cell: the hash of its data, model and fit specs."""
    return spec_hash({"data": scenario.data, "model": scenario.model, "fit": scenario.fit})


def _level(value: Any) -> Any:
    """Return a grid value as the document will hold it.

    TOML dates as ISO strings (the form the loader reads and a run's JSON manifest can hold).
    """
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return [_level(v) for v in value]
    if isinstance(value, dict):
        return {k: _level(v) for k, v in value.items()}
    return value


def parse_grid(tab: Table) -> tuple[GridAxis, ...]:
    """Return the ``[grid]`` table: single-path axes, then ``[[grid.zip]]`` groups."""
    axes = []
    for key in [k for k in tab.raw if k != "zip"]:
        values = [_level(v) for v in tab.array(key)]
        axes.append(build(tab.path, GridAxis, paths=(key,), levels=tuple((v,) for v in values)))
    for group in tab.tables("zip"):
        paths = list(group.raw)
        if not paths:
            raise ScenarioError(f"{group.path}: an empty zip group")
        columns = [[_level(v) for v in group.array(p)] for p in paths]
        lengths = {len(c) for c in columns}
        if lengths == {0}:
            raise ScenarioError(f"{group.path}: a grid axis needs at least one value")
        if len(lengths) != 1:
            raise ScenarioError(
                f"{group.path}: zipped paths need arrays of equal length, got "
                + ", ".join(f"{p!r}: {len(c)}" for p, c in zip(paths, columns, strict=True))
            )
        levels = tuple(zip(*columns, strict=True))
        axes.append(build(group.path, GridAxis, paths=tuple(paths), levels=levels))
        group.done()
    tab.done()
    return tuple(axes)


def _canonical(steps: Sequence[str | int]) -> str:
    text = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)
    return text.removeprefix(".")


def apply_override(raw: dict[str, Any], path: str, value: Any, *, shared: bool = False) -> None:
    """Set ``path`` in a TOML document in place; every step but the last must exist.

    With ``shared``, ``raw`` is a shallow copy whose tables and arrays are shared with
    another document: each one on the path is copied before it is changed (copy on write),
    so the other document is left as it was.
    """
    steps: list[str | int] = [name or int(index) for name, index in _STEP.findall(path)]
    if not steps or _canonical(steps) != path:
        raise ScenarioError(f"grid path {path!r}: not a dotted path")
    node: Any = raw
    for depth, step in enumerate(steps):
        last = depth == len(steps) - 1
        where = _canonical(steps[:depth]) or "the scenario"
        if isinstance(node, list) and isinstance(step, int) and step < len(node):
            index = step
        elif isinstance(node, list) and isinstance(step, str):
            names = [
                i
                for i, item in enumerate(node)
                if isinstance(item, dict) and item.get("name") == step
            ]
            if not names:
                raise ScenarioError(
                    f"grid path {path!r} does not exist: {where} has no item named {step!r}"
                )
            index = names[0]
        elif isinstance(node, dict) and isinstance(step, str) and (step in node or last):
            if last:
                node[step] = value
                return
            if shared and isinstance(node[step], dict | list):
                node[step] = copy.copy(node[step])
            node = node[step]
            continue
        else:
            raise ScenarioError(f"grid path {path!r} does not exist: {where} has no {step!r}")
        if last:
            node[index] = value
            return
        if shared and isinstance(node[index], dict | list):
            node[index] = copy.copy(node[index])
        node = node[index]
