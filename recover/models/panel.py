"""A panel dataset (a geo world, ``[data.geo]``) as a model of one national series sees it.

A model without a ``geo`` dimension is fitted to the national series: every observed
variable with a ``geo`` dim (spend, the target, a demand proxy: quantities that add up over
geos) is summed over it; what has no ``geo`` dim (event indicators, ``is_train``, lift
tests) is the same in every geo and kept. The truth it is scored against is the national
truth, ``/truth`` of the dataset, whose estimands are the same sums over geos
(:mod:`mmm_workbench.simulate.geo`). Pure xarray: nothing of the simulator is imported.
"""

from __future__ import annotations

import xarray as xr

__all__ = ["GEO", "national"]

GEO = "geo"
"""The name of the panel's dimension (and coordinate) in ``/observed``."""


def national(observed: xr.Dataset) -> xr.Dataset:
    """Return the observed data summed over geos (unchanged without a ``geo`` dim).

    Parameters
    ----------
    observed
        ``/observed`` of a dataset.

    Returns
    -------
    xarray.Dataset
        The same variables and attributes, each variable with a ``geo`` dim summed over
        it, and no ``geo`` coordinate.
    """
    if GEO not in observed.dims:
        return observed
    out = observed.copy()
    for name, variable in observed.data_vars.items():
        if GEO in variable.dims:
            out[name] = variable.sum(GEO, keep_attrs=True)
    return out.drop_vars(GEO)
