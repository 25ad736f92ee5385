"""Model kinds and backends behind registries: the built-in kinds, unknown names, and a kind
and a backend installed by a package through their entry-point groups (a tiny test package
made in tmp_path), fitted end to end."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

from mmm_workbench.recover import inference
from mmm_workbench.recover.cli import main
from mmm_workbench.recover.fitting import validate_for_fitting
from mmm_workbench.recover.models import kinds
from mmm_workbench.recover.models.kinds import (
    MODEL_KIND_ENTRY_POINTS,
    get_model_kind,
    model_kinds,
    register_model_kind,
)
from mmm_workbench.recover.runner import RunOptions, run_grid
from mmm_workbench.recover.store import RunStore
from mmm_workbench.scenarios import parse_scenario
from tests.recover.conftest import SMALL

ONE_CELL = SMALL.replace('[grid]\n"data.proxy.noise_sd" = [0.0, 0.2]\n', "")

PLUGIN = '''
"""A closed-form model kind: least squares of the target on raw spend."""
import numpy as np
import xarray as xr

from mmm_workbench.recover.inference import Map, Posterior


class RawSpendCell:
    method = "raw-ls"

    def __init__(self, fit):
        self.fit = fit

    def posterior(self, data, seed):
        x = np.column_stack([np.ones(len(data.target)), data.spend])
        coef = np.linalg.lstsq(x, data.target, rcond=None)[0]
        resid = data.target - x @ coef
        s2 = float(resid @ resid) / (len(resid) - x.shape[1])
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(coef, s2 * np.linalg.inv(x.T @ x), size=self.fit.draws)
        return Posterior(
            draws={"beta": draws[None, :, 1:], "sigma": np.full((1, self.fit.draws), s2**0.5)},
            diagnostics={"draws": float(self.fit.draws)},
        )

    def prior(self, count, seed):
        return None

    def estimands(self, data, draws, x_scale, multipliers):
        contrib = draws["beta"][:, None, :] * data.spend[None]
        total = contrib.sum(axis=1)
        chan = ("sample", "channel")
        return xr.Dataset(
            {
                "channel_contribution": (("sample", "date", "channel"), contrib),
                "contribution_total": (chan, total),
                "roas": (chan, total / data.spend.sum(axis=0)),
                "sigma": (("sample",), draws["sigma"]),
            },
            coords={"date": data.dates, "channel": list(data.channels)},
        )


class RawSpendKind:
    name = "raw-ls"

    def validate(self, model, fit, context):
        if model.controls:
            raise ValueError(f"model.controls = {list(model.controls)}: raw-ls takes none")

    def build(self, model, fit, data):
        return RawSpendCell(fit)


KIND = RawSpendKind()


class PluginMap(Map):
    name = "plugin-map"
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install ``raw_ls_plugin`` (kind ``raw-ls``, backend ``plugin-map``) by entry points."""
    site = tmp_path / "site"
    (site / "raw_ls_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "raw_ls_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (site / "raw_ls_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: raw-ls-plugin\nVersion: 0.1\n"
    )
    (site / "raw_ls_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        f"[{MODEL_KIND_ENTRY_POINTS}]\nraw-ls = raw_ls_plugin:KIND\n\n"
        f"[{inference.BACKEND_ENTRY_POINTS}]\nplugin-map = raw_ls_plugin:PluginMap\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(kinds, "_KINDS", dict(kinds._KINDS))
    monkeypatch.setattr(inference, "BACKENDS", dict(inference.BACKENDS))
    kinds._entry_points.cache_clear()
    inference._entry_points.cache_clear()
    yield site
    kinds._entry_points.cache_clear()
    inference._entry_points.cache_clear()


def test_built_in_kinds_are_registered() -> None:
    assert {"workbench", "pymc-marketing", "ols", "nnls", "python"} <= set(model_kinds())
    for name in ("workbench", "pymc-marketing", "ols", "nnls", "python"):
        assert get_model_kind(name).name == name


def test_unknown_kind_lists_the_known_ones_and_how_to_add_one(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match=r"model.kind = 'bogus': unknown model kind; known: "):
        get_model_kind("bogus")
    try:
        get_model_kind("bogus")
    except ValueError as err:
        message = str(err)
    assert "workbench" in message and "nnls" in message and "python" in message
    assert MODEL_KIND_ENTRY_POINTS in message and "register_model_kind" in message
    bad = tmp_path / "bogus.toml"
    bad.write_text(small.read_text().replace("[model]\n", '[model]\nkind = "bogus"\n'))
    out = tmp_path / "run"
    assert main(["run", str(bad), "--out", str(out)]) == 2
    assert "unknown model kind" in capsys.readouterr().err and not out.exists()


def test_register_refuses_what_is_not_a_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds, "_KINDS", dict(kinds._KINDS))

    class NoBuild:
        name = "half"

        def validate(self, model: object, fit: object, context: object) -> None:
            return None

    with pytest.raises(ValueError, match="needs validate"):
        register_model_kind(NoBuild())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="registered already"):
        register_model_kind(kinds.LinearKind("workbench"))


def test_transform_kinds_need_their_transforms() -> None:
    text = ONE_CELL.replace(
        'adstock = { kind = "geometric", l_max = 3 }\nsaturation = { kind = "logistic" }\n', ""
    )
    with pytest.raises(ValueError, match=r"model.adstock: missing; model.kind = 'workbench'"):
        validate_for_fitting(parse_scenario(tomllib.loads(text)))


def test_a_kind_installed_through_its_entry_point_fits(plugin: Path, tmp_path: Path) -> None:
    assert "raw-ls" not in kinds._KINDS  # not loaded until it is asked for
    assert "raw-ls" in model_kinds()
    text = ONE_CELL.replace("[model]\n", '[model]\nkind = "raw-ls"\n').replace(
        'controls = ["demand_proxy"]\n', ""
    )
    summary = run_grid(text, tmp_path / "run", RunOptions(replicates=2))
    assert summary.failed == 0 and len(summary.results) == 2
    store = RunStore(tmp_path / "run")
    records = [store.read_record(c, r) for c, r, _ in store.records()]
    for record in records:
        assert record.attrs["backend"] == "raw-ls"
        assert "prior" not in record.children  # the kind has no prior
        post = record["posterior"]
        assert post.sizes["sample"] == 400  # fit.draws 1000 thinned to keep_draws
        assert set(post.data_vars) >= {"contribution_total", "roas", "sigma"}
        assert np.all(np.isfinite(post["roas"]))
        # raw-spend least squares on saturating, carried-over media: positive, not exact
        assert float(post["roas"].mean()) > 0
    # the kind's own validation runs before any fitting
    with pytest.raises(ValueError, match="raw-ls takes none"):
        validate_for_fitting(
            parse_scenario(
                tomllib.loads(ONE_CELL.replace("[model]\n", '[model]\nkind = "raw-ls"\n'))
            )
        )


def test_a_broken_entry_point_is_named(plugin: Path) -> None:
    entry = plugin / "raw_ls_plugin-0.1.dist-info" / "entry_points.txt"
    entry.write_text(entry.read_text().replace("raw_ls_plugin:KIND", "raw_ls_plugin:NOPE"))
    kinds._entry_points.cache_clear()
    with pytest.raises(ValueError, match=r"model.kind = 'raw-ls': its entry point .*NOPE"):
        get_model_kind("raw-ls")


def test_a_backend_installed_through_its_entry_point(plugin: Path) -> None:
    assert "plugin-map" in inference.backends() and "plugin-map" not in inference.BACKENDS
    backend = inference.get_backend("plugin-map")
    assert type(backend).__name__ == "PluginMap" and "plugin-map" in inference.BACKENDS
    with pytest.raises(ValueError, match=r"unknown backend; known: nutpie.*plugin-map"):
        inference.get_backend("nope")
