"""One self-contained HTML report.

Figures embedded as base64 PNG, tables inline, no external resources (it opens from an e-mail
attachment or a CI artifact as it is).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["TEXT_TABLE", "Banner", "Section", "render_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-top: 1rem; }
.meta { color: #555; } .desc { white-space: pre-wrap; background: #f7f7f7; padding: .8rem; }
.warning { background: #fff3cd; border: 1px solid #e0b000; padding: .6rem .9rem; margin: .4rem 0; }
.error { background: #fde2e1; border: 1px solid #d33; padding: .6rem .9rem; margin: .4rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; margin: .6rem 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
figcaption { color: #555; font-size: 0.9rem; }
.verdict { border: 2px solid; padding: .4rem 1rem .8rem; margin: 1rem 0; }
.verdict.pass { border-color: #2a7a2a; background: #eef8ee; }
.verdict.fail { border-color: #c62828; background: #fdeeee; }
.verdict h2 { border: 0; padding-top: .3rem; margin: .3rem 0; }
.verdict .cell { margin: .3rem 0; } .verdict .cell b { margin-right: .3rem; }
.verdict .bad { color: #b71c1c; } .verdict .good { color: #1b5e20; }
.verdict ul { margin: .4rem 0; padding-left: 1.2rem; color: #333; }
table.text td { text-align: left; vertical-align: top; }
table.sortable th { cursor: pointer; } table.sortable th:hover { background: #e4e4e4; }
input.filter { margin: .3rem 0; padding: 2px 6px; width: 18rem; }
.scroll { max-width: 100%; overflow-x: auto; }
.scroll.long { max-height: 80vh; overflow: auto; } .scroll.long th { position: sticky; top: 0; }
table.text td, table.facts td, .desc, .verdict, .warning, .error { overflow-wrap: anywhere; }
"""
"""The page never scrolls sideways: a table wider than the page's column scrolls inside its
own box (``.scroll``; a long one also down, in at most 80% of the window's height, its
header kept in view, so its sideways scroll bar is on screen), and words longer than a line
(a path, a list of versions) break."""

TEXT_TABLE = "text_table"
"""A frame with ``frame.attrs[TEXT_TABLE]`` true holds words, not numbers: its cells are
left-aligned and their line breaks shown."""

SORTABLE_ROWS = 15
"""Tables with more rows than this get a filter box and columns sortable by a click."""

_SORTABLE = """<script>
document.querySelectorAll('table.sortable').forEach((table) => {
  const body = table.tBodies[0];
  const box = table.parentElement.previousElementSibling;  // above the table's scroll box
  if (box && box.classList.contains('filter')) {
    box.addEventListener('input', () => {
      const words = box.value.toLowerCase();
      Array.from(body.rows).forEach((row) => {
        row.hidden = !row.textContent.toLowerCase().includes(words);
      });
    });
  }
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
    th.title = 'sort';
    th.addEventListener('click', () => {
      const up = th.dataset.sorted !== 'up';
      th.dataset.sorted = up ? 'up' : 'down';
      const key = (row) => row.cells[col].textContent.trim();
      const rows = Array.from(body.rows).sort((a, b) => {
        const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
        const cmp = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
        return up ? cmp : -cmp;
      });
      rows.forEach((row) => body.appendChild(row));
    });
  });
});
</script>"""
"""Sort a long table by a click on a column's header (numbers as numbers) and filter its
rows by the text typed above it: plain JavaScript, nothing loaded from elsewhere."""


_RENDER_CHECK = """<p id='render-check' class='meta'></p>
<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const shown = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.getElementById('render-check').textContent =
    `${shown} of ${images.length} figures rendered; ` +
    `page loaded in ${Math.round(performance.now())} ms`;
});
</script>"""
"""A line at the foot of the page saying how many figures the browser decoded, and how long
the page took to load (navigation start to the load event)."""


@dataclass(frozen=True, kw_only=True)
class Banner:
    """The verdict shown first on the page.

    The headline, one sentence per cell (``(label, passed, text)``), the run's remaining verdict
    lines (fit health, calibration design, identifiability, causes, warnings) and tables shown
    inside it (a comparison's verdicts side by side).
    """

    headline: str
    passed: bool
    cells: Sequence[tuple[str, bool, str]]
    lines: Sequence[str]
    tables: Sequence[tuple[pd.DataFrame, str]] = ()
    full_labels: Mapping[str, str] = field(default_factory=dict)
    """A shortened cell label's whole one (shown on hover)."""


def _banner(banner: Banner) -> str:
    kind = "pass" if banner.passed else "fail"
    cells = "".join(
        f"<p class='cell'><b class='{'good' if ok else 'bad'}'{_title(banner, label)}>"
        f"{html.escape(label)}</b>{html.escape(text)}</p>"
        for label, ok, text in banner.cells
    )
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in banner.lines)
    tables = "".join(_table(frame, caption) for frame, caption in banner.tables)
    return (
        f"<section id='verdict' class='verdict {kind}'><h2>{html.escape(banner.headline)}</h2>"
        f"{cells}{tables}<ul>{lines}</ul></section>"
    )


def _title(banner: Banner, label: str) -> str:
    full = banner.full_labels.get(label)
    return f" title='{html.escape(full, quote=True)}'" if full else ""


@dataclass(frozen=True, kw_only=True)
class Section:
    """A titled part of the report: text, figures (PNG bytes with captions), tables."""

    title: str
    text: str = ""
    figures: Sequence[tuple[bytes, str]] = ()
    tables: Sequence[tuple[pd.DataFrame, str]] = field(default_factory=tuple)


def _table(frame: pd.DataFrame, caption: str, max_rows: int = 400) -> str:
    shown = frame.head(max_rows)
    more = (
        f" (first {max_rows} of {len(frame)} rows; all in the CSV)" if len(frame) > max_rows else ""
    )
    long = len(shown) > SORTABLE_ROWS
    classes = ["sortable"] if long else []
    text = bool(frame.attrs.get(TEXT_TABLE))
    if text:  # escaped here, so that a line break can be a <br>
        classes.append("text")
        shown = shown.map(lambda v: html.escape(str(v)).replace("\n", "<br>"))
        shown.columns = [html.escape(str(c)) for c in shown.columns]
    body = shown.to_html(
        index=False,
        na_rep="",
        float_format=lambda v: f"{v:.4g}",
        border=0,
        classes=classes or None,
        escape=not text,
    )
    box = "<input class='filter' type='search' placeholder='filter rows'>" if long else ""
    # the table in a box of the page's width that scrolls when the table is wider (and, when
    # long, taller than the window); the filter box right before that box, where the
    # sorting script finds it
    scroll = "scroll long" if long else "scroll"
    caption = f"<p class='meta'>{html.escape(caption)}{more}</p>"
    return f"{caption}{box}<div class='{scroll}'>{body}</div>"


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def render_report(
    *,
    title: str,
    description: str,
    metadata: Mapping[str, object],
    verdict: Banner | None = None,
    warnings: Sequence[str] = (),
    errors: Sequence[str],
    sections: Sequence[Section],
    kind: str = "recovery report",
) -> str:
    """Return the report as one HTML string.

    Parameters
    ----------
    title, description
        The scenario's name and description.
    metadata
        Run facts shown under the title (cells, replicates, backend, versions, times).
    verdict
        The verdict, shown first, right under the title.
    warnings, errors
        Shown at the top, after the verdict (failed fits with their first error, corrupt
        records).
    sections
        The body, in order.
    kind
        What the page is, under the title ("recovery report", "comparison of runs").
    """
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>mmm-workbench {html.escape(kind)}, "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>",
    ]
    if verdict is not None:
        parts.append(_banner(verdict))
    parts += [f"<div class='error'>{html.escape(e)}</div>" for e in errors]
    parts += [f"<div class='warning'>{html.escape(w)}</div>" for w in warnings]
    if description:
        parts.append(f"<div class='desc'>{html.escape(description.strip())}</div>")
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in metadata.items()
    )
    parts.append(f"<div class='scroll'><table class='facts'>{rows}</table></div>")
    for section in sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        parts += [_figure(png, caption) for png, caption in section.figures]
        parts += [_table(frame, caption) for frame, caption in section.tables]
        parts.append("</section>")
    parts.append(_SORTABLE)
    parts.append(_RENDER_CHECK)
    parts.append("</body></html>")
    return "\n".join(parts)
