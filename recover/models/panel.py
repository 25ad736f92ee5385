"""A panel dataset (a geo world, ``[data.geo]``) as a model of one national series sees it.

A model without a ``geo`` dimension is fitted to the national series: every observed
variable with a ``geo`` dim (spend, the target, a demand proxy: quantities that add up over
geos) is summed over it; what has no ``geo`` dim (event indicators, ``is_train``, lift
tests) is the same in every geo and kept. The truth it is scored against is the national
truth, ``/truth`` of the dataset, whose estimands are the same sums over geos
(:mod:`mmm_workbench.simulate.geo`). A geo model (``[model.geo]``) sees the panel itself
as well: :class:`GeoPanel`, each geo's training rows and its share of the national size
(the dataset's geo sizes, ``/observed`` attribute :data:`SIZES`). Pure xarray: nothing of
the simulator is imported.

A geo model's estimands per geo (:data:`GEO_ESTIMANDS`, :func:`geo_estimands`) are
scored against ``/truth/geo`` (:func:`geo_truth`), as its national ones are against
``/truth``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

__all__ = [
    "GEO",
    "GEO_ESTIMANDS",
    "SIZES",
    "GeoPanel",
    "geo_estimands",
    "geo_panel",
    "geo_truth",
    "national",
]

Array = NDArray[np.float64]

GEO = "geo"
"""The name of the panel's dimension (and coordinate) in ``/observed``."""

SIZES = "geo_sizes"
"""The ``/observed`` attribute with each geo's size (its population), a JSON list in the
order of the ``geo`` coordinate: known data, as a geo model takes it."""

GEO_ESTIMANDS = {
    "geo_contribution_total": "contribution_total",
    "geo_contribution_share": "contribution_share",
    "geo_roas": "roas",
}
"""A geo model's per-geo estimands, ``(geo, channel)`` in data units, each named by the
variable of ``/truth/geo`` it is scored against: each geo's contribution over the training
rows, its share of the geo's target, and its ROAS (the change in the geo's outcome when
the training window's spend of the channel is switched off in every geo, over the geo's
spend). The ``geo_`` prefix keeps them apart from the national estimands of the same
meaning, and their ``geo`` dimension puts them in their own family of the scoring
(``"geo"``), which the default rules leave out of the verdict."""


@dataclass(frozen=True, kw_only=True)
class GeoPanel:
    """The training rows of a panel per geo, raw (what a geo model fits).

    Attributes
    ----------
    names
        The geos, in order.
    shares
        ``w_g``, each geo's share of the national size (they sum to 1), ``(geo,)``.
    spend, target
        ``(date, geo, channel)`` and ``(date, geo)``; their sums over geos are the national
        series.
    controls
        ``(date, geo, control)``: a control with a ``geo`` dim as it is; one without (an
        event indicator, the same in every geo) times ``w_g``, so every control sums over
        geos to the national series' column.
    after
        Spend of the periods after the training rows, ``(date, geo, channel)``.
    """

    names: tuple[str, ...]
    shares: Array
    spend: Array
    target: Array
    controls: Array
    after: Array


def geo_panel(observed: xr.Dataset, controls: tuple[str, ...]) -> GeoPanel:
    """Return a panel's training rows per geo, with the geos' shares of the national size.

    Parameters
    ----------
    observed
        ``/observed`` of a panel dataset (a ``geo`` dim and the :data:`SIZES` attribute).
    controls
        The model's control columns, in order.

    Returns
    -------
    GeoPanel
        The training rows (``train_periods``) per geo.

    Raises
    ------
    ValueError
        Data without a ``geo`` dim or without geo sizes (positive, one per geo).
    """
    if GEO not in observed.dims:
        raise ValueError("model.geo: the data has no geo dimension; a geo model fits a panel")
    names = tuple(str(g) for g in observed[GEO].to_numpy())
    sizes = np.asarray(json.loads(observed.attrs.get(SIZES, "null")) or [], dtype=float)
    if sizes.shape != (len(names),) or not np.all(sizes > 0):
        raise ValueError(
            f"model.geo: the data's geo sizes ({SIZES} = {sizes.tolist()}) must be one "
            f"positive number per geo ({len(names)})"
        )
    shares = sizes / sizes.sum()
    train = int(observed.attrs["train_periods"])

    def rows(name: str, part: slice) -> Array:
        var = observed[name]
        order = ("date", GEO, "channel") if "channel" in var.dims else ("date", GEO)
        if GEO not in var.dims:  # the same in every geo: each geo's share of it
            var = var.expand_dims({GEO: len(names)}, axis=1) * xr.DataArray(shares, dims=GEO)
        return np.asarray(var.transpose(*order).isel(date=part).to_numpy(), dtype=float)

    head, tail = slice(0, train), slice(train, None)
    periods = min(train, observed.sizes["date"])
    return GeoPanel(
        names=names,
        shares=shares,
        spend=rows("spend", head),
        target=rows(str(observed.attrs["target"]), head),
        controls=(
            np.stack([rows(c, head) for c in controls], axis=-1)
            if controls
            else np.zeros((periods, len(names), 0))
        ),
        after=rows("spend", tail),
    )


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


def geo_estimands(
    factual: Array,
    off: Array,
    window: int,
    panel: GeoPanel,
    contribution: Array | None = None,
) -> xr.Dataset:
    """Return a geo model's per-geo estimands (:data:`GEO_ESTIMANDS`) over ``sample``.

    Parameters
    ----------
    factual, off
        Each geo's media contributions ``(date, sample, geo, channel)``, data units, with
        the training window's spend as it was and switched off (in every geo), over the
        window and the periods its carry-over reaches (the model's causal scope).
    window
        The training rows (the first ``window`` periods).
    panel
        The replicate's panel (each geo's training spend and target).
    contribution
        The model's own contributions ``(sample, date, geo, channel)`` over the window, data
        units, where the sampler computed them; else the first ``window`` rows of
        ``factual``.

    Returns
    -------
    xarray.Dataset
        ``geo_contribution_total``, ``geo_contribution_share`` and ``geo_roas``, each
        ``(sample, geo, channel)``.
    """
    if contribution is None:
        contribution = np.moveaxis(factual[:window], 0, 1)
    total = contribution.sum(axis=1)  # (S, G, C)
    effect = (factual - off).sum(axis=0)
    dims = ("sample", GEO, "channel")
    out: dict[str, Any] = {
        "geo_contribution_total": (dims, total),
        "geo_contribution_share": (dims, total / panel.target.sum(axis=0)[None, :, None]),
        "geo_roas": (dims, effect / panel.spend.sum(axis=0)[None]),
    }
    return xr.Dataset(out, coords={GEO: list(panel.names)})


def geo_truth(tree: xr.DataTree) -> xr.Dataset:
    """Return the truth of the per-geo estimands (:data:`GEO_ESTIMANDS`) of a panel dataset.

    Parameters
    ----------
    tree
        A generated panel dataset (with ``/truth/geo``).

    Returns
    -------
    xarray.Dataset
        ``/truth/geo``'s per-geo contribution totals, shares and ROAS over the training
        rows, ``(geo, channel)``, under the estimands' names.
    """
    truth = tree["truth/geo"].to_dataset()
    out = xr.Dataset({name: truth[source] for name, source in GEO_ESTIMANDS.items()})
    for var in out.data_vars:
        out[var].attrs = {}
    return out
