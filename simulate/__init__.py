"""The data-generating process: known truth for marketing-mix data.

Pure numpy (never pymc or pytensor): the fitted models must not share code with the
truth they are scored against.

The public names load their modules on first use (PEP 562), so importing a light module
of this package (``mmm_workbench.simulate.transforms``) does not load xarray or the
generator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmm_workbench.simulate.check import check_data
    from mmm_workbench.simulate.export import (
        lift_test_frame,
        observed_frame,
        read_dataset,
        write_dataset,
    )
    from mmm_workbench.simulate.generator import generate
    from mmm_workbench.simulate.transforms import check_kernels

__all__ = [
    "check_data",
    "check_kernels",
    "generate",
    "lift_test_frame",
    "observed_frame",
    "read_dataset",
    "write_dataset",
]

_HOMES = {
    "check_data": "check",
    "check_kernels": "transforms",
    "generate": "generator",
    "lift_test_frame": "export",
    "observed_frame": "export",
    "read_dataset": "export",
    "write_dataset": "export",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
