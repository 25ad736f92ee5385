"""The errors of the scenario language: every one names the path and the value."""

from __future__ import annotations

from mmm_workbench.scenarios.families import fmt_value

__all__ = ["ScenarioError", "SpecError"]


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the path and the value."""


class SpecError(ScenarioError):
    """A spec built with a value that breaks one of its invariants.

    Raised by the specs' own checks (``__post_init__``), so a spec built in Python is
    validated too; the message names the field relative to the spec
    (``periods = 0: must be >= 1``). The loader re-raises it with the path of the table
    the spec came from in front (:meth:`at`).

    Parameters
    ----------
    field
        The field's name, or a dotted path below the spec (``channels[1].name``); empty
        for the spec as a whole.
    detail
        The rest of the message, starting with ``" = <value>: "`` or ``": "``.
    """

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}{detail}" if field else detail.removeprefix(": "))
        self.field = field
        self.detail = detail

    @classmethod
    def invalid(cls, field: str, value: object, reason: str) -> SpecError:
        """``field = value: reason``, e.g. ``periods = 0: must be >= 1``."""
        return cls(field, f" = {fmt_value(value)}: {reason}")

    @classmethod
    def wrong(cls, field: str, reason: str) -> SpecError:
        """``field: reason`` (for a problem of a whole table or list)."""
        return cls(field, f": {reason}")

    @classmethod
    def below(cls, field: str, message: str) -> SpecError:
        """Build the error from a message that already starts with ``field``.

        E.g. a ``TransformError`` raised with ``field`` as its path.
        """
        if not message.startswith(field):
            return cls.wrong(field, message)
        return cls(field, message[len(field) :])

    def at(self, path: str) -> ScenarioError:
        """Return the same error with the spec's own path in front (``data`` + ``periods``)."""
        where = ".".join(p for p in (path, self.field) if p)
        return ScenarioError(f"{where}{self.detail}" if where else self.detail.removeprefix(": "))
