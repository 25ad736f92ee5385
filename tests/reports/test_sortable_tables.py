"""Long tables of the report are sortable and filterable with plain JavaScript (no CDN):
checked in headless Chromium where it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from mmm_workbench.reports.html import SORTABLE_ROWS, Section, render_report

CHROMIUM = shutil.which("chromium")

_PROBE = """<script>
window.addEventListener('load', () => {
  const table = document.querySelector('table.sortable');
  const column = (i) => Array.from(table.tBodies[0].rows).map((r) => r.cells[i].textContent.trim());
  table.tHead.rows[0].cells[1].click();
  const up = column(1).join(',');
  table.tHead.rows[0].cells[1].click();
  const down = column(1).join(',');
  const box = table.parentElement.previousElementSibling;
  box.value = 'gamma';
  box.dispatchEvent(new Event('input'));
  const shown = Array.from(table.tBodies[0].rows).filter((r) => !r.hidden).length;
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = `UP=${up};DOWN=${down};SHOWN=${shown};`;
  document.body.appendChild(out);
});
</script>"""


def _page(rows: int) -> str:
    names = ["alpha", "beta", "gamma", "delta"]
    frame = pd.DataFrame(
        {
            "name": [names[i % 4] for i in range(rows)],
            "value": [(7 * i) % rows - 3 for i in range(rows)],
        }
    )
    return render_report(
        title="t", description="", metadata={}, errors=[],
        sections=[Section(title="long", tables=[(frame, "long"), (frame.head(3), "short")])],
    )  # fmt: skip


def test_only_long_tables_are_sortable_and_nothing_is_loaded_from_elsewhere() -> None:
    page = _page(SORTABLE_ROWS + 5)
    assert page.count('class="dataframe sortable"') == 1
    assert page.count("class='filter'") == 1
    assert not re.search(r"(src|href)=['\"]?https?:", page)  # no CDN, no external resource


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium")
def test_sorting_and_filtering_in_chromium(tmp_path: Path) -> None:
    rows = SORTABLE_ROWS + 5
    page = _page(rows).replace("</body>", _PROBE + "</body>")
    path = tmp_path / "page.html"
    path.write_text(page)
    done = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
            "--dump-dom", path.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r"UP=([^;]*);DOWN=([^;]*);SHOWN=(\d+);", done.stdout)
    assert match is not None, done.stdout[-2000:]
    values = [(7 * i) % rows - 3 for i in range(rows)]
    assert [int(v) for v in match.group(1).split(",")] == sorted(values)  # numeric, not text
    assert [int(v) for v in match.group(2).split(",")] == sorted(values, reverse=True)
    assert int(match.group(3)) == sum(i % 4 == 2 for i in range(rows))


_WIDTH_PROBE = """<script>
window.addEventListener('load', () => {
  const out = document.createElement('pre');
  out.id = 'probe';
  const page = document.documentElement;
  out.textContent = `PAGE=${page.scrollWidth};VIEW=${page.clientWidth};`;
  document.body.appendChild(out);
});
</script>"""


def _wide_page() -> str:
    """A long table of 30 columns, a short one of 30, a long word in the facts and a text
    table: each wider than the page's column."""
    wide = pd.DataFrame({f"a_rather_long_column_name_{i}": [123456.789] * 40 for i in range(30)})
    words = pd.DataFrame({"why": ["x" * 400]})
    words.attrs["text_table"] = True
    return render_report(
        title="t", description="", metadata={"versions": "pkg==1.0," * 80}, errors=[],
        sections=[Section(title="wide", tables=[(wide, "long"), (wide.head(3), "short"),
                                                (words, "text")])],
    )  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium")
@pytest.mark.parametrize("width", [1400, 1000])
def test_the_page_never_scrolls_sideways(tmp_path: Path, width: int) -> None:
    """Wide tables scroll inside their own box, long words break: the page is no wider
    than the window. The same page without the scroll boxes is (the check can fail)."""
    page = _wide_page()
    assert page.count("<div class='scroll") == 4  # the facts and the three tables
    widths = {}
    for name, text in {"fixed": page, "broken": page.replace("class='scroll", "class='x")}.items():
        path = tmp_path / f"{name}.html"
        path.write_text(text.replace("</body>", _WIDTH_PROBE + "</body>"))
        done = subprocess.run(
            [
                str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                f"--window-size={width},1000", "--virtual-time-budget=5000", "--dump-dom",
                path.as_uri(),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        match = re.search(r"PAGE=(\d+);VIEW=(\d+);", done.stdout)
        assert match is not None, done.stdout[-2000:]
        widths[name] = (int(match.group(1)), int(match.group(2)))
    page_width, view = widths["fixed"]
    assert view > 0.9 * width and page_width <= view
    assert widths["broken"][0] > widths["broken"][1] + 500
