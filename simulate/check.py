"""What a data spec needs checked with the simulator's own formulas.

These checks run before anything is drawn or fitted.

The specs check everything the scenario language can state (``scenarios/spec.py``); two
things need the data-generating process's formulas or files the scenario names: whether
each channel's adstock kernel is degenerate
(:func:`~mmm_workbench.simulate.transforms.check_kernels`), whether latent demand, which
demand-driven spend follows, is zero in every period, whether a multiplicative model's
baseline is positive before any noise is drawn (the generator refuses a draw whose noisy
baseline is not), and whether each media plan read from a file fits the data
(:func:`~mmm_workbench.simulate.sources.plan_values`: its column, length, dates and
values). Callers run
:func:`check_data` once per distinct ``[data]`` table before fitting or simulating; the
errors name the path like the loader's.
"""

from __future__ import annotations

import numpy as np

from mmm_workbench.scenarios.errors import ScenarioError
from mmm_workbench.scenarios.spec import DataSpec
from mmm_workbench.simulate import baseline as bl
from mmm_workbench.simulate.external import check_external
from mmm_workbench.simulate.sources import plan_values
from mmm_workbench.simulate.transforms import check_kernels

__all__ = ["check_data"]


def check_data(data: DataSpec) -> None:
    """Check a data spec with the simulator's formulas (cheap: no random draws).

    Parameters
    ----------
    data
        A data spec (already valid as far as its own invariants go).

    Raises
    ------
    ScenarioError
        A degenerate adstock kernel (``data.channels[i].adstock: ...``), demand that is
        zero in every period (``data.demand: ...``: spend follows demand, so no channel
        would spend and its return would be undefined), or a multiplicative model whose
        noise-free baseline is not positive (``data.intercept = ...``), or a media plan from
        a file that does not fit the data (``data.channels[0].spend.column = 'tvv': no such
        column in plan.csv; columns: tv, search``; missing, non-numeric or negative spend,
        another length, dates off the calendar, no spend in the training periods), or an
        external dataset (``data.source``) that does not match its scenario and truth
        (:func:`~mmm_workbench.simulate.external.check_external`).
    """
    if data.source is not None:  # an external dataset: its file against the scenario
        try:
            check_external(data)
        except ScenarioError:
            raise
        except ValueError as err:
            raise ScenarioError(str(err)) from None
        return
    check_kernels(data)
    for c, channel in enumerate(data.channels):
        if channel.spend.plan is not None:
            try:
                plan_values(data, c)
            except ScenarioError:
                raise
            except ValueError as err:
                raise ScenarioError(str(err)) from None
    index = bl.dates(data)
    with np.errstate(all="ignore"):
        level = data.demand.scale * (
            bl.trend(data.demand.trend, data.periods) * (1.0 + bl.seasonality(data.demand, index))
        )
    follows = any(c.spend.form == "demand" for c in data.channels)
    if follows and data.demand.noise_sd == 0 and not np.any(level != 0):
        raise ScenarioError(
            "data.demand: zero in every period (trend x (1 + seasonality) is 0 and "
            "noise_sd = 0); demand-driven spend follows it, so no such channel would spend"
        )
    if data.model == "multiplicative":
        base = data.intercept + data.demand.effect * level + bl.events(data, index)[1]
        if not np.min(base) > 0:
            raise ScenarioError(
                f"data.intercept = {data.intercept:g}: the multiplicative model needs a positive "
                f"baseline (intercept + demand.effect x demand + events); without noise its "
                f"minimum is {np.min(base):.4g}"
            )
