"""Files a scenario refers to (media plans, datasets, model configs), found and fingerprinted.

A relative path in a scenario is relative to the scenario file's folder. While a scenario is
parsed, :func:`scenario_base` says which folder that is (:func:`resolving` sets it; the
default, with no scenario file, is the working directory). Workers that parse one cell's
document get the same folder with their task, so a path means the same file everywhere.

A :class:`FileRef` keeps the file's SHA-256: a cell's identity is the file's content, not its
name, so a run resumed after the plan changed refits instead of mixing old and new records,
and a file that changes between planning and fitting is an error, not a silent mix.
``sha256 = "..."`` beside a path pins the content a scenario was written for.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mmm_workbench.scenarios.errors import ScenarioError

__all__ = ["FileRef", "file_ref", "resolving", "scenario_base"]

_BASE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("scenario_base", default=None)
_DIGESTS: dict[tuple[str, int, int], str] = {}


def scenario_base() -> Path:
    """Return the folder relative paths are resolved against (the working directory by default)."""
    base = _BASE.get()
    return base if base is not None else Path.cwd()


@contextlib.contextmanager
def resolving(base: str | Path | None) -> Iterator[None]:
    """Resolve relative paths against ``base`` (a scenario file's folder) inside the block."""
    token = _BASE.set(Path(base).resolve() if base is not None else None)
    try:
        yield
    finally:
        _BASE.reset(token)


def _digest(file: Path) -> str:
    """Return the file's SHA-256 (hex), cached per path, size and modification time."""
    stat = file.stat()
    key = (str(file), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        sha = hashlib.sha256()
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        _DIGESTS[key] = sha.hexdigest()
    return _DIGESTS[key]


@dataclass(frozen=True, kw_only=True)
class FileRef:
    """A file a scenario reads.

    Attributes
    ----------
    path : str
        The path as the scenario wrote it (not part of the identity).
    resolved : str
        The absolute path read (not part of the identity).
    sha256 : str
        The file's content digest: what identifies it.
    """

    path: str = dataclasses.field(compare=False)
    resolved: str = dataclasses.field(compare=False)
    sha256: str

    @property
    def suffix(self) -> str:
        """Return the file's lower-case suffix (``.csv``, ``.parquet``, ``.yml``, ...)."""
        return Path(self.resolved).suffix.lower()


def file_ref(where: str, value: object, *, pinned: object = None) -> FileRef:
    """Find the file a scenario names at ``where`` and fingerprint it.

    Parameters
    ----------
    where
        The dotted path of the value (for errors), e.g. ``data.channels[0].spend.file``.
    value
        The path as written: absolute, or relative to :func:`scenario_base`.
    pinned
        A ``sha256`` the scenario gives beside the path, or ``None``.

    Raises
    ------
    ScenarioError
        Not a string, no such file, a directory, unreadable, or content that differs from
        ``pinned``; the message names ``where`` and the value.
    """
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{where} = {value!r}: must be a file's path")
    file = (scenario_base() / Path(os.path.expanduser(value))).resolve()
    if not file.exists():
        raise ScenarioError(f"{where} = {value!r}: no such file ({file})")
    if not file.is_file():
        raise ScenarioError(f"{where} = {value!r}: not a file ({file})")
    try:
        digest = _digest(file)
    except OSError as err:
        raise ScenarioError(f"{where} = {value!r}: cannot read it: {err.strerror or err}") from None
    if pinned is not None:
        if not isinstance(pinned, str):
            raise ScenarioError(f"{where}: sha256 = {pinned!r}: must be a hex string")
        if pinned.lower() != digest:
            raise ScenarioError(
                f"{where} = {value!r}: content changed (sha256 {digest[:12]}..., the scenario "
                f"pins {pinned[:12]}...)"
            )
    return FileRef(path=value, resolved=str(file), sha256=digest)
