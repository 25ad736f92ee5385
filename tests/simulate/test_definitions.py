"""docs/definitions.md defines every variable a generated dataset's truth holds, and the
README's scenario example is a complete, loadable ``[data]`` table."""

from __future__ import annotations

import re
import tomllib

import numpy as np

from mmm_workbench.scenarios import parse_scenario
from mmm_workbench.scenarios.families import FAMILIES
from mmm_workbench.simulate import generate
from tests.conftest import ROOT, tiny_raw


def _tables(role: str, **extra: object) -> list[dict[str, object]]:
    """One transform table per declared family of ``role``, its parameters inside their
    typical ranges (every family: its parameters' truth variables must be documented)."""
    return [
        {"kind": f.name, **{p.name: sum(p.typical) / 2 for p in f.params if p.typical}, **extra}
        for f in FAMILIES
        if f.role == role
    ]


ADSTOCKS = _tables("adstock", l_max=4)
SATURATIONS = _tables("saturation")


def _every_name() -> set[str]:
    """Variable and attribute names of /truth, /truth/pymc_marketing and the lift tests of
    /observed, for a dataset using every family, events, a proxy, mediation and lift
    tests."""
    raw = tiny_raw(
        train_periods=30,
        events=[{"name": "promo", "dates": ["2021-02-05"], "effect": 30.0, "duration": 2}],
        mediation=[{"source": "ch0", "target": "ch1", "on": "effect", "strength": 0.5}],
        lift_tests=[
            {"channel": "ch0", "start": 5, "periods": 3, "spend_change": -0.5, "sigma_rel": 0.1}
        ],
    )
    base = raw["data"]["channels"][0]
    raw["data"]["channels"] = [
        {**base, "name": f"ch{i}", "adstock": ad, "saturation": sat}
        for i in range(max(len(ADSTOCKS), len(SATURATIONS)))  # every family in some channel
        for ad, sat in [(ADSTOCKS[i % len(ADSTOCKS)], SATURATIONS[i % len(SATURATIONS)])]
    ]
    tree = generate(parse_scenario(raw).data, np.random.default_rng(0))
    names = set(tree["truth"].data_vars) | set(tree["truth/pymc_marketing"].data_vars)
    names |= {k for k in tree["truth"].attrs if k != "spec"}
    names |= {str(k) for k in tree["observed"].data_vars if str(k).startswith("lift_")}
    return {str(n) for n in names}


def test_every_truth_variable_is_defined_in_the_docs() -> None:
    text = (ROOT / "docs" / "definitions.md").read_text()
    defined = set(re.findall(r"`([a-z_]+)(?=[`[])", text))  # `name` or `name[dims]`
    names = _every_name()
    assert {"roas", "lift_total", "saturation_c", "mediation_factor"} <= names  # the sweep works
    assert not names - defined, f"not in docs/definitions.md: {sorted(names - defined)}"


def test_every_decision_estimand_is_defined_in_the_docs() -> None:
    """The report's own estimands (scored from the curves, not in /truth) are defined too."""
    from mmm_workbench.reports.decision import DECISION_ESTIMANDS

    text = (ROOT / "docs" / "definitions.md").read_text()
    defined = set(re.findall(r"`([a-z_]+)(?=[`[])", text))
    assert "regret" in DECISION_ESTIMANDS
    assert not set(DECISION_ESTIMANDS) - defined, sorted(set(DECISION_ESTIMANDS) - defined)


def test_the_readmes_scenario_example_is_complete() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Scenario files") :]
    block = section[section.index("```toml") + len("```toml") : section.index("```\n", 10)]
    raw = tomllib.loads(block)
    assert raw["data"]["target"] == "sales"
    spec = parse_scenario(raw).data
    assert spec.target == "sales" and spec.channel_names == ("tv",)
