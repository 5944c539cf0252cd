"""One plotly figure per chart, from the rows of its query; None when there is nothing to draw, so the page can
say so instead of showing empty axes. graph_objects only: plotly express would need pandas."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from copernica_source.report.queries import FIRST_OPEN_BUCKETS

Rows = Sequence[dict[str, Any]]

SENDS, OPENS, CLICKS = "#4c78a8", "#f58518", "#54a24b"
DELIVERED, RECIPIENTS, SYSTEM = "#72b7b2", "#9ecae9", "#b0b0b0"
UNSUBSCRIBES, COMPLAINTS = "#e45756", "#b279a2"
BOUNCE_CLASSES = {"hard": "#e45756", "soft": "#f2b701", "other": "#9d9d9d"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Helvetica Neue', Arial, sans-serif"
MAX_ERROR_TYPES = 12
TOP_COUNTRIES = 12


def plot_text(text: object) -> str:
    """Text from the data as plotly shows it literally: plotly reads `<b>`, `<a href>` and entities in labels and
    hovers, and `$...$` as LaTeX; escaped, a subject or link is drawn as written."""
    return html.escape(str(text), quote=False).replace("$", "&#36;")


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def number(value: Any) -> float | int:
    """Counts arrive as int, Decimal (PostgreSQL's sum) or None; plotly and arithmetic want plain numbers."""
    if value is None:
        return 0
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value if isinstance(value, (int, float)) else float(value)


def local_time(value: Any, zone: ZoneInfo) -> datetime | None:
    """An instant (naive ones are UTC) as the account's wall-clock time, without zone: plotly.js draws times as
    written and ignores offsets."""
    if not isinstance(value, datetime):
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(zone).replace(tzinfo=None)


def emailing_labels(rows: Rows, zone: ZoneInfo) -> list[str]:
    """Subject and send date per emailing; the key is added where two would read the same (a category axis
    would otherwise merge their bars)."""
    labels = []
    for row in rows:
        sent = local_time(row.get("sent_at"), zone)
        # a left-to-right mark after it, so a right-to-left subject does not pull the date into its direction
        subject = shorten(str(row.get("subject") or "(no subject)"), 42) + "\u200e"
        labels.append(f"{subject} · {sent:%d %b %Y}" if sent else subject)
    seen = {label: labels.count(label) for label in labels}
    return [plot_text(f"{label} [{row['emailing_key']}]" if seen[label] > 1 else label)
            for label, row in zip(labels, rows, strict=True)]


def _figure(title: str, x_title: str, y_title: str, height: int = 400) -> go.Figure:
    fig = go.Figure()
    _style(fig, title, height)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def _style(fig: go.Figure, title: str, height: int) -> None:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 16}},
        template="plotly_white", height=height, font={"family": FONT, "size": 13},
        margin={"l": 70, "r": 30, "t": 90, "b": 60},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom"},
        hoverlabel={"font": {"family": FONT}},
    )


def activity(daily: Rows) -> go.Figure | None:
    if not any(number(row[k]) for row in daily for k in ("sends", "opens", "clicks")):
        return None
    days = [row["day"] for row in daily]
    fig = _figure("Sends, opens and clicks per day", "day (account time zone)", "count")
    fig.add_trace(go.Bar(x=days, y=[number(row["sends"]) for row in daily], name="sends", marker_color=SENDS,
                         opacity=0.75))
    mode = "lines+markers" if len(days) <= 60 else "lines"
    for key, color in (("opens", OPENS), ("clicks", CLICKS)):
        fig.add_trace(go.Scatter(x=days, y=[number(row[key]) for row in daily], name=key, mode=mode,
                                 line={"color": color, "width": 2}))
    fig.update_layout(hovermode="x unified", bargap=0.1)
    return fig


def unsubscribes_and_complaints(daily: Rows) -> go.Figure | None:
    rows = [row for row in daily if number(row["unsubscribes"]) or number(row["complaints"])]
    if not rows:
        return None
    fig = _figure("Unsubscribes and spam complaints per day", "day (account time zone)", "count")
    for key, name, color in (("unsubscribes", "unsubscribes", UNSUBSCRIBES), ("complaints", "complaints", COMPLAINTS)):
        fig.add_trace(go.Bar(x=[row["day"] for row in rows], y=[number(row[key]) for row in rows], name=name,
                             marker_color=color))
    fig.update_layout(barmode="group", hovermode="x unified")
    return fig


def funnel(latest: Rows, zone: ZoneInfo) -> go.Figure | None:
    rows = [row for row in latest if number(row["recipients"])]
    if not rows:
        return None
    labels = emailing_labels(rows, zone)
    fig = _figure(f"Recipients to clicks, latest {len(rows)} emailings", "recipients", "",
                  height=140 + 58 * len(rows))
    stages = (("recipients", "recipients", RECIPIENTS), ("delivered", "delivered", DELIVERED),
              ("unique_opens", "unique opens", OPENS), ("unique_clicks", "unique clicks", CLICKS))
    for key, name, color in stages:
        values = [number(row[key]) for row in rows]
        shares = [v / number(row["recipients"]) for v, row in zip(values, rows, strict=True)]
        fig.add_trace(go.Bar(y=labels, x=values, name=name, orientation="h", marker_color=color,
                             customdata=shares, hovertemplate="%{y}<br>" + name + ": %{x:,}"
                             " (%{customdata:.1%} of recipients)<extra></extra>"))
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def rates(latest: Rows, zone: ZoneInfo) -> go.Figure | None:
    rows = [row for row in latest if row.get("open_rate") is not None or row.get("click_rate") is not None]
    if not rows:
        return None
    labels = emailing_labels(rows, zone)
    fig = _figure(f"Open and click rate, latest {len(rows)} emailings", "share of delivered e-mails", "",
                  height=140 + 30 * len(rows))
    for key, name, color, symbol in (("open_rate", "open rate", OPENS, "circle"),
                                     ("click_rate", "click rate", CLICKS, "diamond")):
        values = [None if row.get(key) is None else number(row[key]) for row in rows]
        fig.add_trace(go.Scatter(y=labels, x=values, name=name, mode="markers",
                                 marker={"color": color, "size": 11, "symbol": symbol},
                                 hovertemplate="%{y}<br>" + name + ": %{x:.1%}<extra></extra>"))
    fig.update_xaxes(tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(autorange="reversed", automargin=True, showgrid=True)
    return fig


def _fold_tail(ranked: list[str], counts: dict[str, dict[str, float | int]], limit: int, label: str) -> list[str]:
    """At most `limit` bars: the last one, `label`, sums the long tail of `ranked` (its counts added to `counts`)."""
    if len(ranked) <= limit:
        return ranked
    rest: dict[str, float | int] = {}
    for name in ranked[limit - 1:]:
        for kind, value in counts[name].items():
            rest[kind] = rest.get(kind, 0) + value
    counts[label] = rest
    return ranked[: limit - 1] + [label]


def bounces(rows: Rows) -> go.Figure | None:
    counts: dict[str, dict[str, float | int]] = {}
    for row in rows:
        kind = str(row.get("error_type") or "(unknown)")
        cls = str(row.get("bounce_class") or "other")
        cls = cls if cls in BOUNCE_CLASSES else "other"
        by_class = counts.setdefault(kind, {})
        by_class[cls] = by_class.get(cls, 0) + number(row["bounces"])
    if not any(v for by_class in counts.values() for v in by_class.values()):
        return None
    ranked = sorted(counts, key=lambda k: (-sum(counts[k].values()), k))
    ranked = _fold_tail(ranked, counts, MAX_ERROR_TYPES, "(other types)")  # rare error types: one bar
    fig = _figure("Bounces by error type and class", "error type", "bounces")
    for cls, color in BOUNCE_CLASSES.items():
        values = [counts[k].get(cls, 0) for k in ranked]
        if any(values):
            fig.add_trace(go.Bar(x=[plot_text(k) for k in ranked], y=values, name=f"{cls} bounces",
                                 marker_color=color))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_xaxes(type="category", automargin=True)
    return fig


def links(content: Rows, system: Rows) -> go.Figure | None:
    content = [row for row in content if number(row["clicks"])]
    system = sorted((row for row in system if number(row["clicks"])),
                    key=lambda r: (-number(r["clicks"]), str(r["link_kind"])))
    if not content and not system:
        return None
    fig = _figure(f"Top {len(content)} content links by clicks" + (", system links apart" if system else ""),
                  "clicks", "", height=160 + 34 * (len(content) + len(system)))
    if content:
        fig.add_trace(go.Bar(
            y=[plot_text(shorten(str(row["link"]), 70)) for row in content],
            x=[number(row["clicks"]) for row in content], orientation="h", name="content links",
            marker_color=SENDS, customdata=[plot_text(row["link"]) for row in content],
            hovertemplate="%{customdata}<br>%{x:,} clicks<extra></extra>"))
    if system:
        names = [plot_text("system: " + str(row["link_kind"] or "other").replace("_", " ")) for row in system]
        fig.add_trace(go.Bar(y=names, x=[number(row["clicks"]) for row in system], orientation="h",
                             name="system links (web version, unsubscribe)", marker_color=SYSTEM,
                             hovertemplate="%{y}<br>%{x:,} clicks<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    return fig


def devices(rows: Rows) -> go.Figure | None:
    counts: dict[str, float | int] = {}
    for row in rows:
        name = str(row.get("device") or "unknown")
        counts[name] = counts.get(name, 0) + number(row["opens"])
    total = sum(counts.values())
    if not total:
        return None
    names = sorted(counts, key=lambda k: (-counts[k], k))
    fig = _figure("Opens by device", "device", "opens", height=360)
    fig.add_trace(go.Bar(x=[plot_text(n) for n in names], y=[counts[n] for n in names], name="opens",
                         marker_color=OPENS, text=[f"{counts[n] / total:.0%}" for n in names],
                         textposition="outside", cliponaxis=False, showlegend=False))
    fig.update_xaxes(type="category")
    return fig


def engagement_hours(rows: Rows, timezone_name: str) -> go.Figure | None:
    grids = {kind: [[0.0] * 24 for _ in WEEKDAYS] for kind in ("open", "click")}
    for row in rows:
        day, kind = row.get("day"), row.get("event_type")
        if isinstance(day, date) and kind in grids and row.get("hour") is not None:
            grids[str(kind)][day.weekday()][int(number(row["hour"]))] += number(row["events"])
    if not any(v for grid in grids.values() for line in grid for v in line):
        return None
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14,
                        subplot_titles=("Opens", "Clicks"))
    _style(fig, "Opens and clicks by weekday and hour", 620)
    hours = list(range(24))
    for index, (kind, colors) in enumerate((("open", "Oranges"), ("click", "Greens")), start=1):
        fig.add_trace(go.Heatmap(
            z=grids[kind], x=hours, y=list(WEEKDAYS), colorscale=colors, name=f"{kind}s",
            colorbar={"title": {"text": f"{kind}s"}, "len": 0.42, "y": 0.79 if index == 1 else 0.21,
                      "yanchor": "middle", "thickness": 14},
            hovertemplate="%{y} %{x}:00-%{x}:59<br>%{z:,} " + kind + "s<extra></extra>"), row=index, col=1)
        fig.update_yaxes(autorange="reversed", title_text="weekday", row=index, col=1)
    fig.update_xaxes(dtick=1, row=1, col=1)
    fig.update_xaxes(dtick=1, title_text=f"hour of day ({plot_text(timezone_name)})", row=2, col=1)
    return fig


def first_open(rows: Rows) -> go.Figure | None:
    labels = [label for _, label in FIRST_OPEN_BUCKETS]
    counts = [0.0] * len(labels)
    for row in rows:
        bucket = int(number(row["bucket"]))
        if 0 <= bucket < len(counts):
            counts[bucket] += number(row["recipients"])
    total = sum(counts)
    if not total:
        return None
    fig = _figure("Time from send to first open", "time to first open", "recipients who opened", height=360)
    fig.add_trace(go.Bar(x=labels, y=counts, marker_color=OPENS, showlegend=False,
                         text=[f"{c / total:.0%}" for c in counts], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}: %{y:,} recipients<extra></extra>"))
    fig.update_xaxes(type="category")
    return fig


def geography(rows: Rows, top: int = TOP_COUNTRIES) -> go.Figure | None:
    """Opens and clicks of the `top` countries with the most of both; the rest in one bar."""
    counts: dict[str, dict[str, float | int]] = {}
    names: dict[str, str] = {}
    for row in rows:
        code = str(row.get("country_code") or "")
        label = f"{row.get('country_name') or code} ({code})" if code else "(no country in the logfile)"
        names[code] = label
        by_kind = counts.setdefault(code, {})
        by_kind[str(row["event_type"])] = by_kind.get(str(row["event_type"]), 0) + number(row["events"])
    if not any(v for by_kind in counts.values() for v in by_kind.values()):
        return None
    ranked = sorted(counts, key=lambda c: (-sum(counts[c].values()), names[c]))
    others = f"({len(ranked) - top + 1} other countries)"
    names[others] = others
    ranked = _fold_tail(ranked, counts, top, others)
    fig = _figure("Opens and clicks by country", "events", "", height=160 + 44 * len(ranked))
    for kind, name, color in (("open", "opens", OPENS), ("click", "clicks", CLICKS)):
        fig.add_trace(go.Bar(y=[plot_text(names[c]) for c in ranked], x=[counts[c].get(kind, 0) for c in ranked],
                             orientation="h", name=name, marker_color=color,
                             hovertemplate="%{y}<br>%{x:,} " + name + "<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    return fig
