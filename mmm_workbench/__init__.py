"""mmm-workbench: a simulation-and-validation workbench for Bayesian marketing mix models.

Simulate marketing-mix data with exact truth, fit Bayesian MMMs to it many times, and score how
well they recover it.

The four layers are subpackages: :mod:`mmm_workbench.scenarios` (the language),
:mod:`mmm_workbench.simulate` (the truth), :mod:`mmm_workbench.reports` (scoring) and
:mod:`mmm_workbench.recover` (fitting and the CLI). In the repository they are the top-level
folders ``scenarios/ simulate/ reports/ recover/``; ``mmm_workbench/`` holds this file and a
symbolic link to each, so the installed distribution claims one import name only.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mmm-workbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
