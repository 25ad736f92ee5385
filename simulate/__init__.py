"""The data-generating process: known truth for marketing-mix data.

Pure numpy (never pymc or pytensor): the fitted models must not share code with the
truth they are scored against.
"""

from mmm_workbench.simulate.export import (
    lift_test_frame,
    observed_frame,
    read_dataset,
    write_dataset,
)
from mmm_workbench.simulate.generator import generate

__all__ = ["generate", "lift_test_frame", "observed_frame", "read_dataset", "write_dataset"]
