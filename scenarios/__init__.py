"""Scenario files (TOML) to frozen, validated specs, grids of cells, and named scenarios.

The library of named scenarios ships with the package.

The language layer: it imports nothing else of the project (no simulator, no models), so
importing it loads neither xarray nor the data-generating process. To run a scenario, read
it once with :func:`read_scenario` (its ``scenario``, ``cells`` and ``text``).
"""

from mmm_workbench.scenarios.errors import ScenarioError, SpecError
from mmm_workbench.scenarios.grid import Cell, cell_id
from mmm_workbench.scenarios.load import (
    ScenarioSource,
    expand_grid,
    find_scenario,
    load_scenario,
    parse_scenario,
    read_scenario,
    scenario_from_text,
    shipped_scenarios,
)
from mmm_workbench.scenarios.seeds import replicate_rng, replicate_seed_sequence
from mmm_workbench.scenarios.spec import (
    DataSpec,
    FitSpec,
    ModelSpec,
    Scenario,
    check_run_name,
    spec_hash,
)

__all__ = [
    "Cell",
    "DataSpec",
    "FitSpec",
    "ModelSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioSource",
    "SpecError",
    "cell_id",
    "check_run_name",
    "expand_grid",
    "find_scenario",
    "load_scenario",
    "parse_scenario",
    "read_scenario",
    "replicate_rng",
    "replicate_seed_sequence",
    "scenario_from_text",
    "shipped_scenarios",
    "spec_hash",
]
