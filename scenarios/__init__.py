"""Scenario files (TOML) to frozen, validated specs, grids of cells, and the library of
named scenarios."""

from mmm_workbench.scenarios.grid import Cell, cell_id, expand_grid
from mmm_workbench.scenarios.load import ScenarioError, load_scenario, parse_scenario
from mmm_workbench.scenarios.seeds import replicate_rng, replicate_seed_sequence
from mmm_workbench.scenarios.spec import DataSpec, FitSpec, ModelSpec, Scenario, spec_hash

__all__ = [
    "Cell",
    "DataSpec",
    "FitSpec",
    "ModelSpec",
    "Scenario",
    "ScenarioError",
    "cell_id",
    "expand_grid",
    "load_scenario",
    "parse_scenario",
    "replicate_rng",
    "replicate_seed_sequence",
    "spec_hash",
]
