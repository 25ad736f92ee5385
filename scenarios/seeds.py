"""Random streams: the scenario's root seed, the cell and the replicate fix each one.

The same (seed, cell, replicate) gives the same stream whatever the execution order,
worker or executor, and different replicates give independent streams.
"""

from __future__ import annotations

import numpy as np

__all__ = ["prior_seed", "replicate_rng", "replicate_seed_sequence", "sampler_seed"]


def replicate_seed_sequence(seed: int, cell_id: str, replicate: int) -> np.random.SeedSequence:
    """Return the ``SeedSequence`` of one (cell, replicate).

    Parameters
    ----------
    seed
        The scenario's root seed.
    cell_id
        The cell's stable hex id (``mmm_workbench.scenarios.spec_hash`` of its spec).
    replicate
        Replicate number, 0-based.
    """
    if replicate < 0:
        raise ValueError(f"replicate = {replicate}: must be >= 0")
    return np.random.SeedSequence(entropy=seed, spawn_key=(int(cell_id, 16), replicate))


def replicate_rng(seed: int, cell_id: str, replicate: int) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` on :func:`replicate_seed_sequence`."""
    return np.random.default_rng(replicate_seed_sequence(seed, cell_id, replicate))


def sampler_seed(seed: int, cell_id: str, replicate: int) -> int:
    """Return the inference backend's seed for one (cell, replicate).

    A stream independent of the dataset's (a different spawn key), as a non-negative 32-bit integer.
    """
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(int(cell_id, 16), replicate, 1))
    return int(sequence.generate_state(1)[0])


def prior_seed(seed: int, cell_id: str) -> int:
    """Return the seed of a cell's prior draws.

    One stream per cell, independent of every replicate's dataset and sampler streams.
    """
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(int(cell_id, 16),))
    return int(sequence.generate_state(1)[0])
