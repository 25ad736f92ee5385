"""External datasets (``[data] source = {...}``): another simulator's output, fitted and scored.

The dataset's file is read and checked against the scenario (:func:`check_external`, run by
:func:`~mmm_workbench.simulate.check.check_data` before any fitting): the date column is the
data's calendar, the target, every channel of the truth file and every control are numeric
columns without gaps, spend is never negative and every channel spends in the training
periods; per-date contributions, where the truth gives them, have the same dates and one
column per channel. :func:`external_dataset` then builds the same ``xarray.DataTree`` as
:func:`~mmm_workbench.simulate.generate`, with the truth the file supplies and NaN for every
estimand it does not (fitted and shown, not scored). ``contribution_total`` and
``contribution_share`` follow from per-date contributions over the training periods (the
definitions of docs/definitions.md) where the truth file does not give them; ``roas``,
``mroas`` and response curves are causal and are never derived.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from mmm_workbench.scenarios.families import ADSTOCKS, SATURATIONS
from mmm_workbench.scenarios.files import FileRef
from mmm_workbench.scenarios.spec import DataSpec, SourceSpec, spec_to_dict
from mmm_workbench.simulate.sources import Calendar, aligned_dates, numeric_column, read_table

__all__ = ["check_external", "external_dataset"]

Array = NDArray[np.float64]


def _columns(source: SourceSpec, target: str, cal: Calendar, train: int) -> dict[str, Array]:
    """Return the dataset's checked columns (target, channels, controls, contributions)."""
    return _read_columns(
        _Layout(
            file=source.file,
            date_column=source.date_column,
            channels=tuple(c.name for c in source.channels),
            controls=source.controls,
            contributions=source.contributions,
            contributions_date_column=source.contributions_date_column,
        ),
        target,
        cal,
        train,
    )


@dataclass(frozen=True)
class _Layout:
    """What of a :class:`SourceSpec` the columns depend on (hashable, for the cache)."""

    file: FileRef
    date_column: str
    channels: tuple[str, ...]
    controls: tuple[str, ...]
    contributions: FileRef | None
    contributions_date_column: str


@functools.lru_cache(maxsize=8)
def _read_columns(source: _Layout, target: str, cal: Calendar, train: int) -> dict[str, Array]:
    where = "data.source"
    name = Path(source.file.path).name
    frame = read_table(source.file, f"{where}.file")
    dates = aligned_dates(frame, source.date_column, f"{where}.date_column", name, cal)
    out: dict[str, Array] = {}
    wanted = [
        (target, "data.target"),
        *((c, f"{where}.truth.channels.{c}") for c in source.channels),
        *((c, f"{where}.controls[{i}]") for i, c in enumerate(source.controls)),
    ]
    for column, path in wanted:
        if column not in frame.columns:
            shown = ", ".join(str(c) for c in frame.columns[:12])
            raise ValueError(
                f"{path} = {column!r}: no such column in {name} (the dataset); columns: {shown}"
            )
        out[column] = numeric_column(frame, column, path, name, dates)
    for c in source.channels:
        spend = out[c]
        if np.any(spend < 0):
            row = int(np.argmax(spend < 0))
            raise ValueError(
                f"{where}.truth.channels.{c}: row {row + 1} of {name} is "
                f"{spend[row]:g}; spend cannot be negative"
            )
        if not np.any(spend[:train] > 0):
            raise ValueError(
                f"{where}.truth.channels.{c}: no spend in the {train} training periods "
                f"of {name} (its return would be undefined)"
            )
    if source.contributions is not None:
        cname = Path(source.contributions.path).name
        contrib = read_table(source.contributions, f"{where}.truth.contributions.file")
        cdates = aligned_dates(
            contrib,
            source.contributions_date_column,
            f"{where}.truth.contributions.date_column",
            cname,
            cal,
        )
        extra = [
            str(c)
            for c in contrib.columns
            if c != source.contributions_date_column and str(c) not in source.channels
        ]
        if extra:
            raise ValueError(
                f"{where}.truth.contributions.file = {source.contributions.path!r}: column "
                f"{extra[0]!r} is not a channel of the truth ({', '.join(source.channels)})"
            )
        for c in source.channels:
            if c in contrib.columns:
                path = f"{where}.truth.contributions.file"
                out[f"contribution:{c}"] = numeric_column(contrib, c, path, cname, cdates)
    for values in out.values():
        values.setflags(write=False)
    return out


def check_external(spec: DataSpec) -> None:
    """Check an external dataset against its scenario (cheap after the first call: cached).

    Raises
    ------
    ValueError
        One line naming the path: a missing column (the target, a channel the truth names,
        a control), dates off the calendar, missing, non-numeric or negative values, a
        channel with no training spend, a contributions file that does not match.
    """
    assert spec.source is not None
    _columns(spec.source, spec.target, Calendar.of(spec), spec.train_periods)


def _transform_parameters(source: SourceSpec) -> dict[str, Array]:
    """Return the truth's transform parameters per channel (NaN or "" where not given)."""
    chans = source.channels
    out: dict[str, Array] = {
        "adstock_kind": np.array([c.adstock.kind if c.adstock else "" for c in chans]),
        "adstock_l_max": np.array([c.adstock.l_max if c.adstock else -1 for c in chans]),
        "adstock_normalize": np.array([bool(c.adstock and c.adstock.normalize) for c in chans]),
        "saturation_kind": np.array([c.saturation.kind if c.saturation else "" for c in chans]),
        "saturation_beta": np.array(
            [np.nan if c.beta is None else c.beta for c in chans], dtype=float
        ),
    }
    for role, registry in (("adstock", ADSTOCKS), ("saturation", SATURATIONS)):
        specs = [getattr(c, role) for c in chans]
        names = sorted({p.name for t in specs if t for p in registry[t.kind].params})
        for name in names:
            out[f"{role}_{name}"] = np.array(
                [t.params.get(name, np.nan) if t else np.nan for t in specs], dtype=float
            )
    return out


def external_dataset(spec: DataSpec) -> xr.DataTree:
    """Build an external dataset's tree: what :func:`~mmm_workbench.simulate.generate` returns.

    Parameters
    ----------
    spec
        A data spec with ``source``.

    Returns
    -------
    xarray.DataTree
        ``/observed`` (spend, target, controls, ``is_train``; no lift tests) and ``/truth``
        (the supplied truth; NaN for the estimands it does not give).

    Raises
    ------
    ValueError
        As :func:`check_external`.
    """
    source = spec.source
    assert source is not None
    cal = Calendar.of(spec)
    cols = _columns(source, spec.target, cal, spec.train_periods)
    index = cal.dates()
    names = list(spec.channel_names)
    periods, train = spec.periods, spec.train_periods
    spend = np.stack([cols[c] for c in names], axis=-1)
    y = cols[spec.target]
    nan_c = np.full(len(names), np.nan)
    contribution = np.stack(
        [cols.get(f"contribution:{c}", np.full(periods, np.nan)) for c in names], axis=-1
    )
    derived_total = contribution[:train].sum(axis=0)
    total = np.array(
        [
            c.contribution_total if c.contribution_total is not None else derived_total[i]
            for i, c in enumerate(source.channels)
        ],
        dtype=float,
    )
    y_train = float(y[:train].sum())
    share = np.array(
        [
            c.contribution_share
            if c.contribution_share is not None
            else (derived_total[i] / y_train if y_train != 0 else np.nan)
            for i, c in enumerate(source.channels)
        ],
        dtype=float,
    )
    roas = np.array([np.nan if c.roas is None else c.roas for c in source.channels], dtype=float)
    x_scale = np.array(
        [
            (float(np.max(spend[:, i])) or 1.0) if c.x_scale == "max" else float(c.x_scale)
            for i, c in enumerate(source.channels)
        ]
    )
    multipliers = list(spec.response_multipliers)
    response_spend = np.outer(spend[:train].sum(axis=0), multipliers)
    date, chan, dc = ("date",), ("channel",), ("date", "channel")
    cm = ("channel", "multiplier")
    truth: dict[str, xr.Variable] = {
        "y": xr.Variable(date, y),
        "baseline": xr.Variable(date, np.full(periods, np.nan)),  # not separable from noise
        "channel_contribution": xr.Variable(dc, contribution),
        "contribution_total": xr.Variable(chan, total),
        "contribution_share": xr.Variable(chan, share),
        "roas": xr.Variable(chan, roas),
        "roas_noise_free": xr.Variable(chan, roas),
        "mroas": xr.Variable(chan, nan_c),
        "mroas_noise_free": xr.Variable(chan, nan_c),
        "response": xr.Variable(cm, np.full(response_spend.shape, np.nan)),
        "response_noise_free": xr.Variable(cm, np.full(response_spend.shape, np.nan)),
        "response_spend": xr.Variable(cm, response_spend),
        "x_scale": xr.Variable(chan, x_scale),
        "sigma": xr.Variable((), np.nan if source.sigma is None else source.sigma),
    }
    truth.update({k: xr.Variable(chan, v) for k, v in _transform_parameters(source).items()})
    obs = {
        "spend": xr.Variable(dc, spend),
        spec.target: xr.Variable(date, y),
        "is_train": xr.Variable(date, np.arange(periods) < train),
        **{c: xr.Variable(date, cols[c]) for c in source.controls},
    }
    obs_attrs = {
        "target": spec.target,
        "controls": json.dumps(list(source.controls)),
        "channels": json.dumps(names),
        "freq": spec.freq,
        "train_periods": train,
        "model": spec.model,
        "source": source.file.path,
    }
    return xr.DataTree.from_dict(
        {
            "/": xr.Dataset(coords={"date": index, "channel": names}),
            "/observed": xr.Dataset(obs, coords={"experiment": np.arange(0)}, attrs=obs_attrs),
            "/truth": xr.Dataset(
                truth,
                coords={"multiplier": multipliers, "experiment": np.arange(0)},
                attrs={
                    "spec": json.dumps(spec_to_dict(spec)),
                    "carry_over_periods": 0,
                    "source": "external",
                },
            ),
        }
    )
