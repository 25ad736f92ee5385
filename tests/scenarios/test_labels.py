"""Cell labels stay readable when a grid axis varies a whole table."""

from __future__ import annotations

from mmm_workbench.scenarios.grid import cell_label, level_label


def test_plain_levels_read_as_python_writes_them() -> None:
    assert cell_label([("data.proxy.noise_sd", 0.2), ("model.kind", "nnls")]) == (
        "data.proxy.noise_sd=0.2, model.kind='nnls'"
    )


def test_a_table_level_shows_its_kind_first_and_at_most_three_entries() -> None:
    model = {
        "controls": ["demand_proxy"],
        "builder": "my_model:build",
        "kind": "python",
        "options": {"l_max": 6},
        "adstock": {"kind": "geometric"},
    }
    assert level_label(model) == "{kind='python', builder='my_model:build', ...}"
    assert level_label({"pattern": "uniform", "low": 1.0}) == "{pattern='uniform', low=1.0}"


def test_arrays_of_tables_are_counted() -> None:
    assert level_label([]) == "[]"
    assert level_label([{"channel": "tv"}, {"channel": "search"}]) == "[2 tables]"
    assert level_label([0.1, 0.2]) == "[0.1, 0.2]"
