"""One self-contained HTML report: figures embedded as base64 PNG, tables inline, no
external resources (it opens from an e-mail attachment or a CI artifact as it is)."""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Section", "render_report"]

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
"""


_RENDER_CHECK = """<p id='render-check' class='meta'></p>
<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const shown = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.getElementById('render-check').textContent =
    `${shown} of ${images.length} figures rendered`;
});
</script>"""
"""A line at the foot of the page saying how many figures the browser decoded."""


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
    body = shown.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
    return f"<p class='meta'>{html.escape(caption)}{more}</p>{body}"


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
    warnings: Sequence[str],
    errors: Sequence[str],
    sections: Sequence[Section],
) -> str:
    """The report as one HTML string.

    Parameters
    ----------
    title, description
        The scenario's name and description.
    metadata
        Run facts shown under the title (cells, replicates, backend, versions, times).
    warnings, errors
        Shown at the top, before anything else (divergent fits, failed fits, corrupt
        records).
    sections
        The body, in order.
    """
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='meta'>mmm-workbench recovery report, "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>",
    ]
    parts += [f"<div class='error'>{html.escape(e)}</div>" for e in errors]
    parts += [f"<div class='warning'>{html.escape(w)}</div>" for w in warnings]
    if description:
        parts.append(f"<div class='desc'>{html.escape(description.strip())}</div>")
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in metadata.items()
    )
    parts.append(f"<table>{rows}</table>")
    for section in sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        parts += [_figure(png, caption) for png, caption in section.figures]
        parts += [_table(frame, caption) for frame, caption in section.tables]
        parts.append("</section>")
    parts.append(_RENDER_CHECK)
    parts.append("</body></html>")
    return "\n".join(parts)
