"""Files a scenario refers to: resolved against the scenario's folder, identified by content."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mmm_workbench.scenarios import ScenarioError
from mmm_workbench.scenarios.files import file_ref, resolving, scenario_base


def test_relative_paths_resolve_against_the_scenario_folder(tmp_path: Path) -> None:
    (tmp_path / "plan.csv").write_text("tv\n1\n")
    with resolving(tmp_path):
        assert scenario_base() == tmp_path.resolve()
        ref = file_ref("data.channels[0].spend.file", "plan.csv")
    assert ref.resolved == str((tmp_path / "plan.csv").resolve())
    assert ref.sha256 == hashlib.sha256(b"tv\n1\n").hexdigest()
    assert scenario_base() == Path.cwd()  # the block restores the default


def test_identity_is_the_content_not_the_name(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("tv\n1\n")
    (tmp_path / "b.csv").write_text("tv\n1\n")
    (tmp_path / "c.csv").write_text("tv\n2\n")
    with resolving(tmp_path):
        a, b, c = (file_ref("f", name) for name in ("a.csv", "b.csv", "c.csv"))
    assert a == b
    assert a != c


def test_a_changed_file_gets_a_new_fingerprint(tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("tv\n1\n")
    before = file_ref("f", str(plan))
    plan.write_text("tv\n1.5\n")
    assert file_ref("f", str(plan)) != before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("missing.csv", "f = 'missing.csv': no such file"),
        (".", "f = '.': not a file"),
        (3, "f = 3: must be a file's path"),
        ("", "f = '': must be a file's path"),
    ],
)
def test_bad_paths_are_named(tmp_path: Path, value: object, message: str) -> None:
    with resolving(tmp_path), pytest.raises(ScenarioError, match="^" + message):
        file_ref("f", value)


def test_a_pinned_digest_must_match(tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("tv\n1\n")
    digest = hashlib.sha256(b"tv\n1\n").hexdigest()
    assert file_ref("f", str(plan), pinned=digest.upper()).sha256 == digest
    with pytest.raises(ScenarioError, match="content changed"):
        file_ref("f", str(plan), pinned="0" * 64)
