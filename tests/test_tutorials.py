"""The tutorials under docs/tutorials/ are executable documents; the slow tests run them.

A tutorial is Markdown. Its code blocks run in order, in one fresh working directory:

- ```` ```console ```` blocks: each line starting with ``$ `` is a shell command (bash, with the
  workbench's ``mmm-workbench`` on ``PATH``); it must exit 0, or with the status a trailing
  ``# exit N`` names. The other lines are its output as shown to the reader, not compared.
- ```` ```python ```` blocks run in one namespace per tutorial; their ``assert`` statements are
  how a tutorial checks the numbers its text quotes, so a tutorial goes stale loudly.
- ```` ```toml file=NAME ```` (or any language with ``file=NAME``) writes the block to ``NAME``.

``$REPO`` (shell) and ``REPO`` (Python) name the repository's root, for its ``examples/``.

Other blocks (```` ```text ````, plain ```` ``` ````) are not run.

A tutorial runs in a fresh temporary folder, unless ``MMM_TUTORIAL_DIR`` names a folder:
then each tutorial runs in ``$MMM_TUTORIAL_DIR/<tutorial>/``, kept afterwards, and running
it again resumes its runs (``run --out DIR`` skips the fits on disk), so a tutorial whose
runs take longer than one sitting (tutorial 3: hours of fits on two shared cores) can be run in
parts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, its ``file=`` target, its text and line."""

    lang: str
    file: str | None
    text: str
    line: int


def blocks(markdown: str) -> list[Block]:
    """Return the fenced code blocks of a Markdown document, in order."""
    out = []
    for match in _FENCE.finditer(markdown):
        info = match.group(1).split()
        lang = info[0] if info else ""
        target = next((w.split("=", 1)[1] for w in info[1:] if w.startswith("file=")), None)
        out.append(Block(lang, target, match.group(2), markdown.count("\n", 0, match.start()) + 1))
    return out


def commands(block: Block) -> list[tuple[str, int]]:
    """Return a console block's commands and the exit status each must give."""
    out = []
    for line in block.text.splitlines():
        if not line.startswith("$ "):
            continue
        command = line[2:]
        wanted = _EXIT.search(command)
        out.append((command, int(wanted.group(1)) if wanted else 0))
    return out


def run_tutorial(path: Path, workdir: Path) -> None:
    """Run every block of one tutorial in ``workdir``; raise AssertionError naming the line."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env["REPO"] = str(TUTORIALS.parents[1])
    namespace: dict[str, object] = {
        "__name__": f"tutorial_{path.stem.replace('-', '_')}",
        "REPO": TUTORIALS.parents[1],
    }
    here = Path.cwd()
    for block in blocks(path.read_text(encoding="utf-8")):
        where = f"{path.name}:{block.line}"
        if block.file is not None:
            (workdir / block.file).parent.mkdir(parents=True, exist_ok=True)
            (workdir / block.file).write_text(block.text, encoding="utf-8")
            continue
        if block.lang == "console":
            for command, status in commands(block):
                done = subprocess.run(
                    ["bash", "-c", command],
                    cwd=workdir,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert done.returncode == status, (
                    f"{where}: `{command}` exited {done.returncode}, expected {status}:\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                )
        elif block.lang == "python":
            os.chdir(workdir)
            try:
                exec(compile(block.text, where, "exec"), namespace)
            finally:
                os.chdir(here)


def test_blocks_and_commands_are_read_as_documented() -> None:
    text = (
        "intro\n```console\n$ mmm-workbench scenarios\nquickstart  ...\n$ false  # exit 1\n```\n"
        "```python\nx = 1\n```\n```toml file=a/b.toml\nname = 'x'\n```\n```text\nnot run\n```\n"
    )
    found = blocks(text)
    assert [(b.lang, b.file, b.line) for b in found] == [
        ("console", None, 2),
        ("python", None, 7),
        ("toml", "a/b.toml", 10),
        ("text", None, 13),
    ]
    assert commands(found[0]) == [("mmm-workbench scenarios", 0), ("false  # exit 1", 1)]


def test_a_failing_command_or_assert_names_its_line(tmp_path: Path) -> None:
    doc = tmp_path / "t.md"
    doc.write_text("```console\n$ exit 3\n```\n")
    with pytest.raises(AssertionError, match=r"t.md:1: `exit 3` exited 3, expected 0"):
        run_tutorial(doc, tmp_path)
    doc.write_text(
        "```toml file=x.txt\nhello\n```\n```python\nfrom pathlib import Path; assert Path('x.txt').read_text() == 'bye'\n```\n"
    )
    with pytest.raises(AssertionError):
        run_tutorial(doc, tmp_path)
    doc.write_text(
        "```toml file=x.txt\nhello\n```\n```python\nfrom pathlib import Path; assert Path('x.txt').read_text() == 'hello\\n'\n```\n"
    )
    run_tutorial(doc, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(TUTORIALS.glob("*.md")), ids=lambda p: p.stem)
def test_tutorial_runs(path: Path, tmp_path: Path) -> None:
    kept = os.environ.get("MMM_TUTORIAL_DIR")
    workdir = Path(kept) / path.stem if kept else tmp_path
    workdir.mkdir(parents=True, exist_ok=True)
    run_tutorial(path, workdir)


def test_tutorials_are_linked_from_the_readme() -> None:
    readme = (TUTORIALS.parents[1] / "README.md").read_text(encoding="utf-8")
    for path in sorted(TUTORIALS.glob("*.md")):
        assert f"docs/tutorials/{path.name}" in readme, f"README does not link {path.name}"
