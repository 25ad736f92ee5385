"""Scenario files (TOML) to frozen, validated specs, and the library of named scenarios."""

from scenarios.load import ScenarioError, load_scenario, parse_scenario
from scenarios.seeds import replicate_rng, replicate_seed_sequence
from scenarios.spec import DataSpec, Scenario, spec_hash

__all__ = [
    "DataSpec",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "replicate_rng",
    "replicate_seed_sequence",
    "spec_hash",
]
