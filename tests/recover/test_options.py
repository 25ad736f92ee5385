"""``[fit] options`` are checked before anything is compiled (issue 10 #11: ``{ bogus = 1 }``
failed every fit after a 58 s compilation; ``cores = "x"`` and ``adaptation = "bogus"``
failed every fit too)."""

from __future__ import annotations

import importlib.util
import inspect
import typing
from pathlib import Path
from typing import Any

import pytest

from mmm_workbench.recover.cli import main
from mmm_workbench.recover.inference import BACKENDS, Nutpie, get_backend
from mmm_workbench.scenarios import parse_scenario
from tests.conftest import tiny_raw
from tests.recover.conftest import SMALL


def _fit(backend: str, **options: Any) -> Any:
    raw = tiny_raw()
    raw["model"] = {
        "adstock": {"kind": "geometric", "l_max": 3},
        "saturation": {"kind": "logistic"},
    }
    raw["fit"] = {"backend": backend, "options": options}
    return parse_scenario(raw).fit


@pytest.mark.parametrize(
    ("backend", "options", "message"),
    [
        ("nutpie", {"bogus": 1}, r"^fit\.options\.bogus = 1: nutpie refuses it"),
        ("nutpie", {"cores": "x"}, r"^fit\.options\.cores = 'x': must be an integer >= 1"),
        ("nutpie", {"cores": 0}, r"^fit\.options\.cores = 0: must be an integer >= 1"),
        ("nutpie", {"adaptation": "bogus"}, r"^fit\.options\.adaptation = 'bogus': must be one of"),
        ("nutpie", {"maxdepth": "x"}, r"^fit\.options\.maxdepth = 'x': nutpie refuses it"),
        ("nutpie", {"draws": 5}, r"^fit\.options\.draws = 5: set by the workbench"),
        ("pymc", {"bogus": 1}, r"^fit\.options\.bogus = 1: not an option of the pymc backend"),
        ("pymc", {"random_seed": 1}, r"^fit\.options\.random_seed = 1: not an option"),
        ("advi", {"iterations": 0}, r"^fit\.options\.iterations = 0: must be an integer >= 1"),
        ("advi", {"bogus": True}, r"^fit\.options\.bogus = True: not an option of the advi"),
        ("map", {"iterations": 5}, r"^fit\.options\.iterations = 5: .*it takes no options"),
        (  # a low-rank setting is refused under the default (diagonal) adaptation, as nutpie does
            "nutpie",
            {"mass_matrix_gamma": 1e-5},
            r"^fit\.options\.mass_matrix_gamma = 1e-05: nutpie refuses it .*diag",
        ),
        ("pathfinder", {"bogus": 1}, r"^fit\.options\.bogus = 1: not an option of the pathf"),
    ],
)
def test_bad_options_are_refused_with_their_path(
    backend: str, options: dict[str, Any], message: str
) -> None:
    fit = _fit(backend, **options)
    with pytest.raises(ValueError, match=message):
        get_backend(backend).check_options(fit)


@pytest.mark.parametrize(
    ("backend", "options"),
    [
        ("nutpie", {"adaptation": "low_rank", "cores": 2, "maxdepth": 8}),
        ("nutpie", {"adaptation": "low_rank", "mass_matrix_gamma": 1e-5, "save_warmup": False}),
        ("pymc", {"max_treedepth": 12, "init": "adapt_diag"}),
        ("advi", {"iterations": 500}),
        ("pathfinder", {"num_paths": 2}),
        ("map", {}),
    ],
)
def test_good_options_pass(backend: str, options: dict[str, Any]) -> None:
    get_backend(backend).check_options(_fit(backend, **options))


def test_every_backend_checks_its_options() -> None:
    """No backend silently accepts an option it would pass on unchecked."""
    for name in BACKENDS:
        backend = BACKENDS[name]
        if any(importlib.util.find_spec(m) is None for m in backend.requires):
            continue
        with pytest.raises(ValueError, match=r"^fit\.options\.surely_not_an_option = 1"):
            backend().check_options(_fit(name, surely_not_an_option=1))


def test_the_adaptation_and_sampler_lists_are_nutpies_own() -> None:
    import nutpie

    params = inspect.signature(nutpie.sample, eval_str=False).parameters
    for name, ours in (("adaptation", Nutpie.adaptations), ("sampler", Nutpie.samplers)):
        annotation = params[name].annotation
        values = typing.get_args(annotation) if not isinstance(annotation, str) else None
        if values is None:  # a string annotation: Literal['diag', ...]
            values = tuple(v.strip(" '\"") for v in annotation[8:-1].split(","))
        assert set(values) == set(ours), (name, values, ours)


def test_run_refuses_a_bogus_option_before_creating_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process: an exception other than the CLI's one-line refusal would escape
    ``main`` and fail the test (bad input's exit status through a real process is
    tested in ``test_preflight.py``)."""
    text = SMALL.replace('backend = "map"', 'backend = "nutpie"\noptions = { bogus = 1 }')
    scenario = tmp_path / "bogus.toml"
    scenario.write_text(text)
    out = tmp_path / "runs" / "bogus"
    assert main(["run", str(scenario), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "fit.options.bogus = 1" in captured.err + captured.out
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert not out.exists()
