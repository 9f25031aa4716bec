"""The comparison as one self-contained, printable HTML file (runs/<run>/report.html).

Everything is inline: the CSS, plotly.js (once, `include_plotlyjs=True`) and each chart's data, so the file
opens offline and fetches nothing (no CDN, no web fonts). Every text comes from `arena.compare.sections`
and is escaped here (model names, question ids and categories are untrusted); links are escaped attributes.
"""

from __future__ import annotations

from html import escape
from typing import Any

from arena.compare.sections import report_blocks

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem;
     margin-top: 2rem; } h3 { font-size: 1.1rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } tr:nth-child(even) td { background: #fbfcfd; }
td.better { color: #1a7f37; font-weight: 600; } td.worse { color: #cf222e; font-weight: 600; }
.chart { margin: .5rem 0 1rem; }
footer { margin-top: 2rem; color: #6e7781; font-size: .8rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; } h3 { break-after: avoid; }
  table, .chart { break-inside: avoid; } tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .modebar-container { display: none !important; }
}
"""
VERDICT_CLASS = {"better": "better", "worse": "worse"}


def _cell(cell: Any, tag: str = "td") -> str:
    """One escaped table cell (a link when it has an href; verdict cells coloured)."""
    if isinstance(cell, dict):
        return f'<{tag}><a href="{escape(str(cell["href"]), quote=True)}">{escape(str(cell["text"]))}</a></{tag}>'
    css = VERDICT_CLASS.get(str(cell))
    return f'<{tag}{f" class={css!r}" if css else ""}>{escape(str(cell))}</{tag}>'


def _table(block: dict[str, Any]) -> str:
    """An escaped HTML table."""
    head = "".join(_cell(h, "th") for h in block["head"])
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in block["rows"])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(result: dict[str, Any], block: dict[str, Any], first: bool) -> str:
    """One plotly chart as a div with its data inline (plotly.js itself inline with the first chart)."""
    from arena.compare.charts import figure

    html = figure(result, block).to_html(full_html=False, include_plotlyjs=True if first else False,
                                         config={"displaylogo": False, "responsive": True})
    return f'<div class="chart">{html}</div>'


def html_report(result: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    parts: list[str] = []
    first = True
    title = ""
    for block in report_blocks(result):
        kind = block["kind"]
        if kind in ("h1", "h2", "h3"):
            title = title or block["text"]
            parts.append(f"<{kind}>{escape(block['text'])}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{escape(block['text'])}</p>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in block["items"]) + "</ul>")
        elif kind == "table":
            parts.append(_table(block))
        elif kind == "chart":
            parts.append(_chart(result, block, first))
            first = False
    footer = (f"<footer>arena compare · compare.json schema {escape(str(result.get('schema_version')))} · "
              f"seed {escape(str(result.get('seed')))}, {escape(str(result.get('rounds')))} rounds</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + f"\n{footer}\n</body></html>\n")
