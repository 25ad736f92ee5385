"""Reading TOML tables with their dotted paths, so every error names the path and value.

:class:`Table` wraps one table; its typed getters validate as they read and
:meth:`Table.done` rejects keys nobody asked for (typos never pass silently).
:class:`Calendar` turns a ``start`` given as a period index or an ISO date into an index.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

from mmm_workbench.scenarios.errors import ScenarioError, SpecError
from mmm_workbench.scenarios.families import (
    Param,
    TransformError,
    fmt_value,
    integer_problem,
    subpath,
)

__all__ = ["MISSING", "Calendar", "ScenarioError", "Table", "build", "iso_date", "numbers"]

MISSING: Any = object()
INF = math.inf


def build[T](path: str, spec: Callable[..., T], /, **fields: Any) -> T:
    """Return ``spec(**fields)``, its invariant errors re-raised with ``path`` in front.

    ``path`` is the table it came from: ``data`` + ``periods = 0: must be >= 1``.
    """
    try:
        return spec(**fields)
    except SpecError as err:
        raise err.at(path) from None


class Table:
    """A TOML table being read, with its dotted path; reports unknown keys at the end."""

    def __init__(self, raw: object, path: str) -> None:
        if type(raw) is not dict and not isinstance(raw, Mapping):
            raise ScenarioError(f"{path} = {fmt_value(raw)}: must be a table")
        self.raw: Mapping[str, object] = raw
        self.path = path
        self.seen: set[str] = set()

    def sub(self, key: str) -> str:
        """Return the dotted path of ``key`` in this table (a key that is not bare is quoted)."""
        return subpath(self.path, key)

    def get(self, key: str, default: Any = MISSING) -> Any:
        """Return the value of ``key`` (marking it read), else ``default``; raise if neither."""
        self.seen.add(key)
        if key in self.raw:
            return self.raw[key]
        if default is MISSING:
            raise ScenarioError(f"{self.sub(key)}: missing required key")
        return default

    def has(self, key: str) -> bool:
        """Return whether the table holds ``key`` (without marking it as read)."""
        return key in self.raw

    def num(
        self,
        key: str,
        default: Any = MISSING,
        *,
        low: float = -INF,
        high: float = INF,
        low_open: bool = False,
        high_open: bool = False,
    ) -> float:
        """Return the real number at ``key``, checked against the interval's bounds."""
        value = self.get(key, default)
        if value is default and default is not MISSING:
            return value  # type: ignore[no-any-return]
        param = Param(name=key, low=low, high=high, low_open=low_open, high_open=high_open)
        try:
            return param.check(value, self.sub(key))
        except TransformError as err:
            raise ScenarioError(str(err)) from None

    def integer(self, key: str, default: Any = MISSING, *, low: int = 0) -> int:
        """Return the integer at ``key`` (not a boolean), at least ``low``."""
        value = self.get(key, default)
        if value is default and default is not MISSING:
            return value  # type: ignore[no-any-return]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{self.sub(key)} = {fmt_value(value)}: {integer_problem(value)}")
        if value < low:
            raise ScenarioError(f"{self.sub(key)} = {fmt_value(value)}: must be >= {low}")
        return value

    def date(self, key: str, default: Any = MISSING) -> str:
        """Return an ISO date, given as a string or a TOML date, as ``YYYY-MM-DD``."""
        value = self.get(key, default)
        return iso_date(value, self.sub(key)).isoformat()

    def string(self, key: str, default: Any = MISSING, choices: tuple[str, ...] = ()) -> Any:
        """Return the string at ``key``, one of ``choices`` when they are given."""
        value = self.get(key, default)
        if not isinstance(value, str):
            raise ScenarioError(f"{self.sub(key)} = {fmt_value(value)}: must be a string")
        if choices and value not in choices:
            raise ScenarioError(
                f"{self.sub(key)} = {fmt_value(value)}: must be one of {', '.join(choices)}"
            )
        return value

    def date_list(self, key: str) -> list[str]:
        """Return an array of ISO dates (strings or TOML dates), as ``YYYY-MM-DD`` strings."""
        path = self.sub(key)
        return [iso_date(v, f"{path}[{i}]").isoformat() for i, v in enumerate(self.array(key))]

    def boolean(self, key: str, default: Any = MISSING) -> bool:
        """Return the boolean at ``key``."""
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ScenarioError(f"{self.sub(key)} = {fmt_value(value)}: must be true or false")
        return value

    def array(self, key: str, default: Any = MISSING) -> list[Any]:
        """Return the array at ``key`` as a list."""
        value = self.get(key, default)
        if not isinstance(value, list):
            raise ScenarioError(f"{self.sub(key)} = {fmt_value(value)}: must be an array")
        return value

    def table(self, key: str) -> Table:
        """Return the sub-table at ``key``, with its dotted path."""
        return Table(self.get(key), self.sub(key))

    def tables(self, key: str) -> list[Table]:
        """Return the array of tables at ``key`` (none if absent), each with its indexed path."""
        return [Table(item, f"{self.sub(key)}[{i}]") for i, item in enumerate(self.array(key, []))]

    def done(self) -> None:
        """Raise :class:`ScenarioError` on the first key that was never read (an unknown key)."""
        unknown = [k for k in self.raw if k not in self.seen]
        if unknown:
            key = unknown[0]
            expected = ", ".join(sorted(self.seen))
            value = fmt_value(self.raw[key])
            raise ScenarioError(
                f"{self.sub(key)} = {value}: unknown key; expected one of: {expected}"
            )


def numbers(tab: Table, key: str, default: Any = MISSING) -> tuple[float, ...]:
    """Return the array of real numbers at ``key`` of ``tab``, each checked as a number."""
    values = tab.array(key, default)
    path = tab.sub(key)
    param = Param(name=key)
    try:
        return tuple(param.check(v, f"{path}[{i}]") for i, v in enumerate(values))
    except TransformError as err:
        raise ScenarioError(str(err)) from None


def iso_date(value: object, path: str) -> dt.date:
    """Return a date given as an ISO string (``YYYY-MM-DD``) or a TOML date (not a date-time)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ScenarioError(f"{path} = {fmt_value(value)}: must be an ISO date (YYYY-MM-DD)")


class Calendar:
    """Turns ``start`` values (a period index or an ISO date) into period indices."""

    def __init__(self, start: str, freq: str, periods: int, path: str) -> None:
        self.origin = iso_date(start, path)
        self.step = 7 if freq == "W" else 1
        self.periods = periods

    def date(self, value: object, path: str) -> dt.date:
        """Return ``value`` (an ISO string or a TOML date) as a date."""
        return iso_date(value, path)

    def index(self, value: object, path: str) -> int:
        """Return the period index of ``value`` (an index or a date), within the periods."""
        if isinstance(value, int) and not isinstance(value, bool):
            idx = value
        elif isinstance(value, str | dt.date):
            idx = (self.date(value, path) - self.origin).days // self.step
        else:
            raise ScenarioError(
                f"{path} = {fmt_value(value)}: must be a period index or an ISO date"
            )
        if not 0 <= idx < self.periods:
            last = self.periods - 1
            raise ScenarioError(
                f"{path} = {fmt_value(value)}: outside the data (period {idx} of 0..{last})"
            )
        return idx
