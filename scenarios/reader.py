"""Reading TOML tables with their dotted paths, so every error names the path and value.

:class:`Table` wraps one table; its typed getters validate as they read and
:meth:`Table.done` rejects keys nobody asked for (typos never pass silently).
:class:`Calendar` turns a ``start`` given as a period index or an ISO date into an index.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from mmm_workbench.simulate.transforms import Param, TransformError

__all__ = ["MISSING", "Calendar", "ScenarioError", "Table", "numbers"]

MISSING: Any = object()
INF = math.inf


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the path and the value."""


class Table:
    """A TOML table being read, with its dotted path; reports unknown keys at the end."""

    def __init__(self, raw: object, path: str) -> None:
        if not isinstance(raw, Mapping):
            raise ScenarioError(f"{path} = {raw!r}: must be a table")
        self.raw: Mapping[str, object] = raw
        self.path = path
        self.seen: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, default: Any = MISSING) -> Any:
        self.seen.add(key)
        if key in self.raw:
            return self.raw[key]
        if default is MISSING:
            raise ScenarioError(f"{self.sub(key)}: missing required key")
        return default

    def has(self, key: str) -> bool:
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
        value = self.get(key, default)
        if value is default and default is not MISSING:
            return value  # type: ignore[no-any-return]
        param = Param(name=key, low=low, high=high, low_open=low_open, high_open=high_open)
        try:
            return param.check(value, self.sub(key))
        except TransformError as err:
            raise ScenarioError(str(err)) from None

    def integer(self, key: str, default: Any = MISSING, *, low: int = 0) -> int:
        value = self.get(key, default)
        if value is default and default is not MISSING:
            return value  # type: ignore[no-any-return]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be an integer")
        if value < low:
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be >= {low}")
        return value

    def string(self, key: str, default: Any = MISSING, choices: tuple[str, ...] = ()) -> Any:
        value = self.get(key, default)
        if not isinstance(value, str):
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be a string")
        if choices and value not in choices:
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be one of {', '.join(choices)}")
        return value

    def channel(self, key: str, names: tuple[str, ...]) -> str:
        value: str = self.string(key)
        if value not in names:
            raise ScenarioError(
                f"{self.sub(key)} = {value!r}: unknown channel; channels are {', '.join(names)}"
            )
        return value

    def boolean(self, key: str, default: Any = MISSING) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be true or false")
        return value

    def array(self, key: str, default: Any = MISSING) -> list[Any]:
        value = self.get(key, default)
        if not isinstance(value, list):
            raise ScenarioError(f"{self.sub(key)} = {value!r}: must be an array")
        return value

    def table(self, key: str) -> Table:
        return Table(self.get(key), self.sub(key))

    def tables(self, key: str) -> list[Table]:
        return [Table(item, f"{self.sub(key)}[{i}]") for i, item in enumerate(self.array(key, []))]

    def done(self) -> None:
        unknown = [k for k in self.raw if k not in self.seen]
        if unknown:
            key = unknown[0]
            expected = ", ".join(sorted(self.seen))
            raise ScenarioError(
                f"{self.sub(key)} = {self.raw[key]!r}: unknown key; expected one of: {expected}"
            )


def numbers(tab: Table, key: str, default: Any = MISSING) -> tuple[float, ...]:
    values = tab.array(key, default)
    path = tab.sub(key)
    param = Param(name=key)
    try:
        return tuple(param.check(v, f"{path}[{i}]") for i, v in enumerate(values))
    except TransformError as err:
        raise ScenarioError(str(err)) from None


class Calendar:
    """Turns ``start`` values (a period index or an ISO date) into period indices."""

    def __init__(self, start: str, freq: str, periods: int, path: str) -> None:
        try:
            self.origin = dt.date.fromisoformat(start)
        except ValueError:
            raise ScenarioError(f"{path} = {start!r}: must be an ISO date (YYYY-MM-DD)") from None
        self.step = 7 if freq == "W" else 1
        self.periods = periods

    def date(self, value: object, path: str) -> dt.date:
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ScenarioError(f"{path} = {value!r}: must be an ISO date (YYYY-MM-DD)") from None

    def index(self, value: object, path: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            idx = value
        elif isinstance(value, str | dt.date):
            idx = (self.date(value, path) - self.origin).days // self.step
        else:
            raise ScenarioError(f"{path} = {value!r}: must be a period index or an ISO date")
        if not 0 <= idx < self.periods:
            raise ScenarioError(
                f"{path} = {value!r}: outside the data (period {idx} of 0..{self.periods - 1})"
            )
        return idx
