"""The library of shipped scenarios: list them, show one, copy one to edit.

Listing reads each file's ``description`` only (plain TOML, no validation), so it is
instant; :func:`new_scenario` validates the copy it writes.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mmm_workbench.scenarios.errors import ScenarioError
from mmm_workbench.scenarios.load import (
    SHIPPED,
    find_scenario,
    scenario_from_text,
    shipped_scenarios,
)
from mmm_workbench.scenarios.spec import check_run_name

__all__ = ["ShippedScenario", "library", "new_scenario", "scenario_text"]

_NAME_LINE = re.compile(r'^name\s*=\s*"[^"\n]*"[ \t]*$', re.MULTILINE)


@dataclass(frozen=True)
class ShippedScenario:
    """A shipped scenario's name, one-line summary and file."""

    name: str
    summary: str
    file: Path


def _summary(description: str, width: int = 100) -> str:
    """Return the first sentence of a description, on one line, at most ``width`` characters."""
    text = " ".join(description.split())
    match = re.search(r"(?<=[.!?:])\s", text)
    first = text[: match.start()] if match else text
    first = first.rstrip(":")
    return first if len(first) <= width else first[: width - 3].rstrip() + "..."


def library() -> list[ShippedScenario]:
    """Return the shipped scenarios, sorted by name, each with its description's first sentence."""
    out = []
    for name in shipped_scenarios():
        file = SHIPPED / f"{name}.toml"
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as err:  # a broken shipped file is a bug
            raise ScenarioError(f"{file}: cannot read the shipped scenario: {err}") from None
        out.append(ShippedScenario(name, _summary(str(raw.get("description", ""))), file))
    return out


def scenario_text(source: str | Path) -> str:
    """Return the text of a scenario file, or of the shipped scenario of that name.

    Raises
    ------
    ScenarioError
        Neither a file nor a shipped scenario's name (the message lists the shipped ones).
    """
    return find_scenario(source).read_text(encoding="utf-8")


def new_scenario(name: str, source: str | Path, dest: Path | None = None) -> Path:
    """Copy a scenario to ``NAME.toml`` (or ``dest``) under a new name, to edit.

    The copy's top-level ``name`` is replaced and the result validated, with relative file
    paths (media plans, configs) resolved against the copy's folder.

    Parameters
    ----------
    name
        The new scenario's name (a plain run-directory name).
    source
        A scenario file, or a shipped scenario's name.
    dest
        Where to write; default ``NAME.toml`` in the working directory.

    Raises
    ------
    ScenarioError
        A bad name, an unknown source, a destination that exists (never overwritten), or a
        copy that does not validate there (e.g. a relative plan file missing beside it).
    """
    check_run_name(name)
    target = dest if dest is not None else Path(f"{name}.toml")
    if target.exists():
        raise ScenarioError(f"{target}: exists; choose another name or --out (never overwritten)")
    text = scenario_text(source)
    copied, count = _NAME_LINE.subn(f'name = "{name}"', text, count=1)
    if count == 0:
        raise ScenarioError(f'{source}: no top-level name = "..." line to replace')
    scenario_from_text(copied, str(target), base=target.parent if dest else Path.cwd())
    target.write_text(copied, encoding="utf-8")
    return target
