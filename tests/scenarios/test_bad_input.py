"""Regression tests of issue 10's scenario-side defects: each input was accepted (or gave a
traceback) and now gets a one-line error naming the path, before anything is simulated."""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import pytest

from mmm_workbench.scenarios import (
    ScenarioError,
    expand_grid,
    load_scenario,
    parse_scenario,
    read_scenario,
    scenario_from_text,
)
from tests.conftest import tiny_raw

MODEL = {
    "adstock": {"kind": "geometric", "l_max": 6},
    "saturation": {"kind": "logistic"},
    "controls": ["demand_proxy"],
}


def _with(path: str, value: Any, *, model: bool = False) -> dict[str, Any]:
    raw = tiny_raw()
    if model:
        raw["model"] = copy.deepcopy(MODEL)
    node: Any = raw
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    node[keys[-1]] = value
    return raw


def _one_line_error(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(raw)
    text = str(err.value)
    assert "\n" not in text and len(text) < 600, text
    assert re.search(message, text), text


# --------------------------------------------------------------------------- #1 run names

BAD_NAMES = ["", ".", "..", "../../z", "/abs/dir", "a/b", "x\ny", "\x1b[31mred", "a" * 300, 7]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:20] for n in BAD_NAMES])
def test_a_name_that_is_not_a_plain_directory_name_is_refused(name: object) -> None:
    _one_line_error(_with("name", name), r"^name = .*: (must|longer than 100)")


@pytest.mark.parametrize("name", ["tiny", "quickstart-2", "a.b_c", "7", "a" * 100])
def test_plain_names_pass(name: str) -> None:
    assert parse_scenario(_with("name", name)).name == name


# --------------------------------------------------------------------------- #2 l_max


@pytest.mark.parametrize("l_max", [300_000_000, 32_819_658_305])
def test_a_huge_l_max_is_refused_at_once(l_max: int) -> None:
    """It took 156 s and 7.1 GB, or a 245 GiB allocation traceback."""
    start = time.perf_counter()
    _one_line_error(
        _with("data.channels.0.adstock.l_max", l_max),
        rf"^data\.channels\[0\]\.adstock\.l_max = {l_max}: must be <= 100000",
    )
    raw = _with("data.channels.0.adstock.l_max", 41)
    _one_line_error(raw, r"adstock\.l_max = 41: longer than data\.periods = 40")
    raw = _with("model.adstock.l_max", l_max, model=True)
    _one_line_error(raw, rf"^model\.adstock\.l_max = {l_max}: must be <= 100000")
    assert time.perf_counter() - start < 2.0


def test_the_model_l_max_is_at_most_the_data() -> None:
    _one_line_error(
        _with("model.adstock.l_max", 41, model=True),
        r"^model\.adstock\.l_max = 41: longer than data\.periods = 40",
    )


# --------------------------------------------------------------------------- #11 accepted at load


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("data.channels.0.name", "date", r"channels\[0\]\.name: 'date' is a name the dataset"),
        ("data.channels.0.name", "sales", r"data\.target: 'sales' names two columns"),
        ("data.channels.0.name", "demand_proxy", r"data\.proxy\.name: 'demand_proxy' names two"),
        ("data.channels.0.name", "", r"data\.channels\[0\]\.name = '': must start with"),
        ("data.channels.0.name", "event_promo", r"names two columns"),
        ("data.target", "spend", r"data\.target: 'spend' is a name the dataset uses"),
        ("data.proxy.name", "lift_x", r"data\.proxy\.name: 'lift_x' is a name the dataset"),
        ("seed", 2**70, r"^seed = 1180591620717411303424: must be <= 9223372036854775807"),
        ("seed", -1, r"^seed = -1: must be >= 0"),
        ("data.proxy.lag", 10_000, r"^data\.proxy\.lag = 10000: must be less than data\.periods"),
        ("data.periods", 10**12, r"^data\.periods = 1000000000000: must be <= 100000"),
        ("data.channels.0.beta", 1e308, r"^data\.channels\[0\]\.beta = 1e\+308: must be in"),
        (
            "data.channels.0.spend.demand_share",
            0,
            r"^data\.channels\[0\]\.spend\.demand_share = 0: must be in \[1e-12, ",
        ),
        (
            "data.channels.0.spend.dark",
            [{"start": 0, "periods": 36}],
            r"^data\.channels\[0\]\.spend: dark stretches and zero shocks leave no spend",
        ),
        ("data.start", "9999-06-01", r"^data\.start = '9999-06-01': the data \(40 periods"),
        ("data.start", "1066-10-14", r"must lie between 1900-01-01 and 2200-12-31"),
        (
            "data.events",
            [{"name": "promo", "dates": ["2019-05-01"], "effect": 3.0}],
            r"^data\.events\[0\]\.dates\[0\] = '2019-05-01': outside the data",
        ),
        (
            "data.events",
            [
                {"name": "promo", "dates": ["2021-02-01"], "effect": 3.0},
                {"name": "promo", "dates": ["2021-03-01"], "effect": 1.0},
            ],
            r"data\.events\[0\]\.name: 'event_promo' names two columns",
        ),
    ],
)
def test_bad_data_is_refused_at_load(path: str, value: Any, message: str) -> None:
    raw = _with(path, value)
    if path == "data.channels.0.name" and value == "event_promo":
        raw["data"]["events"] = [{"name": "promo", "dates": ["2021-02-01"], "effect": 3.0}]
    _one_line_error(raw, message)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("model.controls", ["demand_proxy", "demand_proxy"], r"controls\[1\] = 'demand_proxy'"),
        ("fit.draws", 10**12, r"^fit\.draws = 1000000000000: must be <= 100000"),
        ("fit.chains", 10**6, r"^fit\.chains = 1000000: must be <= 64"),
        ("fit.tune", 10**9, r"^fit\.tune = 1000000000: must be <= 100000"),
        ("fit.keep_draws", 10**9, r"^fit\.keep_draws = 1000000000: must be <= 100000"),
        ("model.seasonality_order", 10**6, r"^model\.seasonality_order = 1000000: must be <= 26"),
        ("replicates", 10**9, r"^replicates = 1000000000: must be <= 100000"),
    ],
)
def test_bad_model_and_fit_are_refused_at_load(path: str, value: Any, message: str) -> None:
    if path.startswith("fit."):
        raw = tiny_raw()
        raw["fit"] = {path.removeprefix("fit."): value}
    else:
        raw = _with(path, value, model=path.startswith("model"))
    _one_line_error(raw, message)


# --------------------------------------------------------------------------- #12 unclear errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('name = "x"\n'.encode("utf-16"), r"not UTF-8 text \(byte 0xff at offset 0\)"),
        ('name = "caf\xe9"\n'.encode("latin-1"), r"not UTF-8 text \(byte 0xe9 at offset 11\)"),
        (bytes(range(256)), r"not UTF-8 text"),
        (b"\x00\x01binary", r"malformed TOML"),
        (b"x = " + b"[" * 5000 + b"]" * 5000, r"malformed TOML: arrays or tables nested too"),
        (b"x = " + b"[" * 50 + b"]" * 50, r"^x\[0\]\[0\].*: tables and arrays nested deeper than"),
    ],
    ids=["utf-16", "latin-1", "binary", "nul", "deep-5000", "deep-50"],
)
def test_undecodable_and_deep_files_name_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    file = tmp_path / "bad.toml"
    file.write_bytes(content)
    with pytest.raises(ScenarioError) as err:
        load_scenario(file)
    text = str(err.value)
    assert "\n" not in text and re.search(message, text), text
    if "deeper" not in message:
        assert text.startswith(str(file)), text


def test_a_utf8_bom_is_fine(tmp_path: Path) -> None:
    from tests.conftest import CONFOUNDED

    file = tmp_path / "bom.toml"
    file.write_bytes(b"\xef\xbb\xbf" + CONFOUNDED.read_bytes())
    assert load_scenario(file).name == "confounded-demand"


def test_a_directory_is_not_a_scenario(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(tmp_path))}: is a directory"):
        load_scenario(tmp_path)


def test_an_unknown_name_lists_the_shipped_scenarios() -> None:
    with pytest.raises(
        ScenarioError, match=r"^nope: no such scenario file or shipped .*quickstart"
    ):
        read_scenario("nope")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        read_scenario("../scenarios/quickstart")  # a name, never a path into the package
    assert read_scenario("quickstart").scenario.name == "quickstart"


@pytest.mark.parametrize("key", ["name", "seed", "replicates", "description"])
def test_a_grid_over_the_run_says_so(key: str) -> None:
    raw = tiny_raw()
    raw["grid"] = {key: ["a", "b"] if key in ("name", "description") else [1, 2]}
    _one_line_error(raw, rf"^grid: '{key}' cannot vary in a grid: name, description, seed")
    raw["grid"] = {"zip": [{key: [1, 2], "data.channels[0].beta": [1.0, 2.0]}]}
    _one_line_error(raw, rf"^grid\.zip\[0\]: '{key}' cannot vary in a grid")


def test_repeated_grid_values_name_both_cells() -> None:
    raw = tiny_raw()
    raw["grid"] = {"data.channels[0].beta": [1.0, 2.0, 1]}
    _one_line_error(
        raw,
        r"^grid: cells \(data\.channels\[0\]\.beta=1\.0\) and \(data\.channels\[0\]\.beta=1\) "
        r"have identical specs",
    )


# --------------------------------------------------------------------------- #13 identity

GRID_TEXT = """
name = "g"
seed = 3
[data]
periods = 20
[[data.channels]]
name = "tv"
spend = {{ demand_share = 1 }}
adstock = {{ kind = "geometric", alpha = 0.5, l_max = 3 }}
saturation = {{ kind = "logistic", lam = 1 }}
beta = 1
[grid]
"data.channels[0].beta" = {levels}
"""


def test_reordering_a_grid_axis_keeps_the_run_identity() -> None:
    a = scenario_from_text(GRID_TEXT.format(levels="[1.0, 2.0, 3.0]"))
    b = scenario_from_text(GRID_TEXT.format(levels="[3.0, 1.0, 2.0]"))
    assert [c.cell_id for c in a.cells] != [c.cell_id for c in b.cells]  # grid order differs
    assert a.identity == b.identity
    c = scenario_from_text(GRID_TEXT.format(levels="[1.0, 2.0, 4.0]"))
    assert c.identity != a.identity
    d = scenario_from_text(
        GRID_TEXT.format(levels="[1.0, 2.0, 3.0]").replace("seed = 3", "seed = 4")
    )
    assert d.identity != a.identity


def test_read_once_gives_text_spec_and_cells(tmp_path: Path) -> None:
    file = tmp_path / "g.toml"
    file.write_text(GRID_TEXT.format(levels="[1.0, 2.0]"))
    source = read_scenario(file)
    assert source.origin == str(file) and source.text == file.read_text()
    assert [c.scenario.data.channels[0].beta for c in source.cells] == [1.0, 2.0]
    assert source.scenario == load_scenario(file)


# --------------------------------------------------------------------------- absurd values


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (  # x ** 8e299 overflowed the response curve to inf
            "data.channels.0.saturation",
            {"kind": "root", "alpha": 8e299},
            r"^data\.channels\[0\]\.saturation\.alpha = 8e\+299: must be",
        ),
        (
            "data.channels.1.saturation",
            {"kind": "michaelis_menten", "alpha": 1e300, "lam": 1.0},
            r"^data\.channels\[1\]\.saturation\.alpha = 1e\+300: must be 0 or between 1e-12",
        ),
        (  # log(1 + (1e-308 - 1) * 1) = log(0)
            "data.demand.trend",
            {"kind": "log", "start": 1.0, "stop": 1.1e-308},
            r"^data\.demand\.trend\.stop = 1\.1e-308: must be in \[1e-12, ",
        ),
        (
            "data.demand.trend",
            {"kind": "power", "start": 1.0, "stop": 2.0, "exponent": 50},
            r"^data\.demand\.trend\.exponent = 50: must be in \[-3, 3\]",
        ),
        (  # a subnormal share overflowed a division
            "data.channels.1.spend.demand_share",
            5e-324,
            r"^data\.channels\[1\]\.spend\.demand_share = 5e-324: must be in \[1e-12, ",
        ),
        (
            "data.response_multipliers",
            [0.0, 1.0, 1e6],
            r"^data\.response_multipliers\[2\] = 1000000: must be in \[0, 10\]",
        ),
        (
            "data.lift_tests",
            [{"channel": "tv", "start": 3, "periods": 2, "spend_change": 1e9, "sigma": 1.0}],
            r"^data\.lift_tests\[0\]\.spend_change = 1000000000: must be in \[-1, 9\]",
        ),
        (
            "data.mediation",
            [{"source": "tv", "target": "search", "strength": 1e12}],
            r"^data\.mediation\[0\]\.strength = 1000000000000: must be in \[0, 10\]",
        ),
        (
            "data.intercept",
            0.0,
            None,  # with every effect zeroed below: the target is 0 in every period
        ),
    ],
)
def test_values_whose_simulation_is_not_finite_are_refused(
    path: str, value: Any, message: str | None
) -> None:
    raw = _with(path, value)
    if message is None:
        raw["data"]["demand"]["effect"] = 0
        raw["data"]["noise"]["sd"] = 0
        for channel in raw["data"]["channels"]:
            channel["beta"] = 0
        message = r"^data: the target is 0 in every period"
    _one_line_error(raw, message)


def test_multiplicative_log_effects_are_bounded() -> None:
    """beta = 200000 on the log scale overflowed exp() in every counterfactual."""
    raw = _with("data.model", "multiplicative")
    raw["data"]["channels"][0]["beta"] = 50.0
    raw["data"]["channels"][1]["beta"] = 0.5
    parse_scenario(raw)  # 50 x the logistic bound 1: at the limit
    raw["data"]["channels"][1]["beta"] = 200_000
    _one_line_error(
        raw,
        r"^data\.channels\[1\]\.beta = 200000: the multiplicative model's channel terms are "
        r"on the log scale: beta x the saturation's bound is 2e\+05, above 50",
    )
    raw["data"]["channels"][1]["beta"] = 0.5
    raw["data"]["channels"][1]["saturation"] = {"kind": "tanh", "b": 1000.0, "c": 1.0}
    _one_line_error(raw, r"^data\.channels\[1\]\.beta = 0\.5: .* bound is 500, above 50")


# --------------------------------------------------------------------------- one line, always


def test_odd_keys_and_values_stay_on_one_line() -> None:
    raw = _with("data.channels.0.adstock.a\nb\x1c\x85", [1, 2])
    _one_line_error(raw, r"^data\.channels\[0\]\.adstock\.'a\\nb\\x1c\\x85' = \[1, 2\]: unknown")
    raw = tiny_raw()
    raw["fit"] = {"options": {"when": dt.date(2024, 1, 1)}}
    _one_line_error(raw, r"^fit\.options\.when = datetime\.date\(2024, 1, 1\): backend options")
    raw = _with("description", "x" * 10_000)
    assert parse_scenario(raw).description == "x" * 10_000
    raw = _with("data.channels.0.beta", "x" * 10_000)
    _one_line_error(raw, r"^data\.channels\[0\]\.beta = 'x{20,}\.\.\.x+': must be a finite")


def test_toml_dates_in_a_grid_become_iso_strings() -> None:
    raw = tiny_raw()
    raw["grid"] = {"data.start": [dt.date(2021, 1, 1), dt.date(2022, 1, 7)]}
    source = scenario_from_text(
        'name = "d"\n[data]\nperiods = 10\n[[data.channels]]\nname = "x"\n'
        'spend = { demand_share = 1 }\nadstock = { kind = "geometric", alpha = 0.5, l_max = 2 }\n'
        'saturation = { kind = "logistic", lam = 1 }\nbeta = 1\n'
        '[grid]\n"data.start" = [2021-01-01, 2022-01-07]\n'
    )
    assert [c.overrides for c in source.cells] == [
        (("data.start", "2021-01-01"),),
        (("data.start", "2022-01-07"),),
    ]
    assert [c.scenario.data.start for c in source.cells] == ["2021-01-01", "2022-01-07"]
    assert [c.scenario.data.start for c in expand_grid(parse_scenario(raw))] == [
        "2021-01-01",
        "2022-01-07",
    ]
