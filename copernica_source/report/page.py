"""The HTML page: one file that opens offline. plotly.js is inlined once in <head>; each chart adds only its
figure's JSON. Every text from the data is escaped here or (in the charts) for plotly."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from copernica_source.report.charts import local_time, number

PRODUCTS = {"html": "HTML", "draganddrop": "Drag & drop"}
CHART_CONFIG = {"displaylogo": False, "responsive": True}
EMPTY_NOTE = ("No emailings loaded yet: the model tables exist but hold no rows. Run <code>copernica load</code> "
              "and then <code>copernica models</code> once the account has sent emailings.")  # trusted HTML
NO_DATA_NOTE = "No data for this chart yet."

STYLE = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --card: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f7fa; color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif; }
header, main { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 4px; }
.meta, .lead { color: var(--muted); margin: 0; }
nav { margin: 14px 0 0; font-size: 14px; display: flex; flex-wrap: wrap; gap: 4px 16px; }
nav a { color: #2f6fb0; text-decoration: none; white-space: nowrap; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px;
          margin: 20px 0; }
.lead { margin-bottom: 10px; }
.note { padding: 28px; text-align: center; color: var(--muted); background: #f9fafb; border-radius: 6px;
        border: 1px dashed var(--line); }
.empty { font-size: 18px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; vertical-align: bottom; }
th.num { text-align: right; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.when, td.product { white-space: nowrap; }
td.subject { min-width: 200px; overflow-wrap: anywhere; }
code { font-size: 0.95em; background: #eef1f4; padding: 1px 4px; border-radius: 3px; }
footer { max-width: 1240px; margin: 0 auto; padding: 8px 24px 32px; color: var(--muted); font-size: 13px; }
"""


@dataclass(frozen=True)
class Section:
    """A heading, one line on how to read it, and a figure (None: the chart has no data)."""

    anchor: str
    heading: str
    lead: str
    figure: go.Figure | None
    empty_note: str = NO_DATA_NOTE
    """What the section says without a figure: why, and what to run where the reader can do something."""


def chart_html(section: Section) -> str:
    if section.figure is None:
        return f'<div class="note no-data">{_with_code(section.empty_note)}</div>'
    return str(section.figure.to_html(full_html=False, include_plotlyjs=False, config=CHART_CONFIG,
                                      div_id=f"chart-{section.anchor}"))


def _with_code(text: str) -> str:
    """Plain text, escaped, with `commands` in backticks set as code."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def summary_table(rows: Sequence[dict[str, Any]], zone: ZoneInfo) -> str:
    """The latest emailings as a table: the figures people look up first, with the subject in full."""
    head = ("<tr><th>Sent</th><th>Product</th><th>Subject</th><th class=num>Recipients</th>"
            "<th class=num>Delivered</th><th class=num>Unique opens</th><th class=num>Open rate</th>"
            "<th class=num>Unique clicks</th><th class=num>Click rate</th><th class=num>Bounces</th>"
            "<th class=num>Unsubscribes</th><th class=num>Complaints</th></tr>")
    body = []
    for row in rows:
        sent = local_time(row.get("sent_at"), zone)
        product = PRODUCTS.get(str(row.get("product")), str(row.get("product") or ""))
        bounces = number(row.get("hard_bounces")) + number(row.get("soft_bounces"))
        cells = [
            f'<td class="when">{sent:%Y-%m-%d %H:%M}</td>' if sent else "<td></td>",
            f'<td class="product">{html.escape(product)}</td>',
            f'<td class="subject"><bdi>{html.escape(str(row.get("subject") or "(no subject)"))}</bdi></td>',
            *(_count(row.get(k)) for k in ("recipients", "delivered", "unique_opens")),
            _rate(row.get("open_rate")), _count(row.get("unique_clicks")), _rate(row.get("click_rate")),
            _count(bounces), _count(row.get("unsubscribes")), _count(row.get("complaints")),
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="table-wrap"><table><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'


def _count(value: Any) -> str:
    return f'<td class="num">{"" if value is None else f"{number(value):,.0f}"}</td>'


def _rate(value: Any) -> str:
    return f'<td class="num">{"&ndash;" if value is None else f"{number(value):.1%}"}</td>'


def page(*, title: str, subtitle: str, generated_at: datetime, summary: str | None,
         sections: Sequence[Section], empty: bool = False) -> str:
    """The whole document. `summary` is trusted HTML (from summary_table); title and subtitle are escaped."""
    parts = [f'<section id="latest"><h2>Latest emailings</h2>{summary}</section>'] if summary else []
    if empty:
        parts.append(f'<section id="empty"><div class="note empty">{EMPTY_NOTE}</div></section>')
    for s in sections:
        parts.append(f'<section id="{html.escape(s.anchor)}"><h2>{html.escape(s.heading)}</h2>'
                     f'<p class="lead">{html.escape(s.lead)}</p>{chart_html(s)}</section>')
    links = ([('latest', "Latest emailings")] if summary else []) + [(s.anchor, s.heading) for s in sections]
    nav = "".join(f'<a href="#{html.escape(a)}">{html.escape(h)}</a>' for a, h in links)
    when = f"{generated_at:%Y-%m-%d %H:%M} {generated_at.tzname() or ''}".strip()
    # plotly.js once, in <head>, before any chart's script runs (PlotlyConfig as plotly's own pages set it);
    # a page without charts does without its 5 MB
    plotly = ("<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
              f"<script>{get_plotlyjs()}</script>\n") if any(s.figure is not None for s in sections) else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
{plotly}</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
<p class="meta">{html.escape(subtitle)} · generated {html.escape(when)}</p>
{f"<nav>{nav}</nav>" if nav else ""}
</header>
<main>
{"".join(parts)}
</main>
<footer>Made by copernica-source from the dbt models (copernica__*). Opens offline: everything is in this file.</footer>
</body>
</html>
"""
