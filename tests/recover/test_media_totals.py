"""``MediaModel.window_totals``: the split adstock-first path equals the whole transform.

The estimands scale the training window's spend by 24 factors (off, factual, +1%, the
response curve's multipliers). For an adstock-first model the linear adstock runs twice and
only the saturation once per factor; these tests hold that path to the whole compiled
transform, scale by scale. Saturation first (not linear before the adstock) has no split.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmm_workbench.recover.models.media import CompiledMedia, MediaModel, compile_media
from mmm_workbench.recover.models.transforms import param_names
from mmm_workbench.scenarios.spec import ModelSpec, TransformSpec

CHANNELS, WINDOW, ROWS, DRAWS = 3, 30, 40, 50
SCALES = [0.0, 1.0, 1.01, 0.5, 2.0]


def _spec(adstock: str, saturation: str, order: str = "adstock_first") -> ModelSpec:
    return ModelSpec(
        kind="workbench",
        adstock=TransformSpec(kind=adstock, params={}, l_max=6),
        saturation=TransformSpec(kind=saturation, params={}),
        order=order,  # type: ignore[arg-type]
    )


def _free(spec: ModelSpec) -> tuple[str, ...]:
    return (
        *(f"adstock_{p}" for p in param_names("adstock", spec.adstock.kind)),
        *(f"saturation_{p}" for p in param_names("saturation", spec.saturation.kind)),
        "saturation_beta",
    )


def _draws(free: tuple[str, ...], rng: np.random.Generator) -> list[np.ndarray]:
    low_high = {"adstock_theta": (0.0, 4.0), "saturation_slope": (0.5, 3.0)}
    return [rng.uniform(*low_high.get(n, (0.1, 0.9)), (DRAWS, CHANNELS)) for n in free]


def _spend(rng: np.random.Generator) -> np.ndarray:
    spend = rng.uniform(0.0, 1.0, (ROWS, CHANNELS))
    spend[-5:] = 0.0  # the tail of no spend after the data
    return spend


def _generic(model: MediaModel, params: list[np.ndarray], spend: np.ndarray) -> np.ndarray:
    whole_only = MediaModel(
        spec=model.spec, free=model.free, media=CompiledMedia(whole=model.media.whole)
    )
    return whole_only.window_totals(params, spend, WINDOW, SCALES)


@pytest.mark.parametrize(
    ("adstock", "saturation"),
    [("geometric", "logistic"), ("delayed", "hill"), ("weibull_cdf", "michaelis_menten")],
)
def test_the_split_path_equals_the_whole_transform(adstock: str, saturation: str) -> None:
    spec = _spec(adstock, saturation)
    free = _free(spec)
    media = compile_media(spec, free, False, CHANNELS, ROWS)
    assert media.halves is not None
    model = MediaModel(spec=spec, free=free, media=media)
    rng = np.random.default_rng(3)
    params, spend = _draws(free, rng), _spend(rng)
    split = model.window_totals(params, spend, WINDOW, SCALES)
    whole = _generic(model, params, spend)
    assert split.shape == (len(SCALES), DRAWS, CHANNELS)
    np.testing.assert_allclose(split, whole, rtol=1e-10, atol=1e-12)
    # and the generic path is the transform itself, scale by scale
    x = spend.copy()
    x[:WINDOW] *= 2.0
    direct = np.asarray(media(*params, x[:, None, :])).sum(axis=0)
    np.testing.assert_allclose(whole[SCALES.index(2.0)], direct, rtol=1e-12)


def test_saturation_first_takes_the_whole_transform() -> None:
    spec = _spec("geometric", "logistic", order="saturation_first")
    free = _free(spec)
    media = compile_media(spec, free, False, CHANNELS, ROWS)
    assert media.halves is None
    model = MediaModel(spec=spec, free=free, media=media)
    rng = np.random.default_rng(4)
    params, spend = _draws(free, rng), _spend(rng)
    totals = model.window_totals(params, spend, WINDOW, SCALES)
    for k, scale in enumerate(SCALES):  # each scale: the whole transform of the scaled spend
        x = spend.copy()
        x[:WINDOW] *= scale
        direct = np.asarray(media(*params, x[:, None, :])).sum(axis=0)
        np.testing.assert_allclose(totals[k], direct, rtol=1e-12)
    # the broken case: the adstock-first split on this order's spend is measurably off
    first = compile_media(_spec("geometric", "logistic"), free, False, CHANNELS, ROWS)
    assert first.halves is not None
    wrong = MediaModel(spec=spec, free=free, media=CompiledMedia(whole=media, halves=first.halves))
    assert not np.allclose(wrong.window_totals(params, spend, WINDOW, SCALES), totals, rtol=1e-3)
