"""The console as rich renderables: a summary panel, the per-model, route and recent tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from plano.obs.aggregate import ModelRow, RecentRow, RouteRow, Snapshot, Summary
from plano.obs.cost import TokenCounts
from plano.obs.record import RequestRecord

UNKNOWN = "—"


def format_usd(value: float | None) -> str:
    """`$` amount: `—` unknown; <0.0001 up to 8 decimals, <0.01 6, <1 4, else `$1,234.56`."""
    if value is None or math.isnan(value):
        return UNKNOWN
    if value == 0:
        return "$0.00"
    if value < 1e-4:
        digits = f"{value:.8f}".rstrip("0")
        return "<$0.00000001" if digits == "0." else f"${digits}"
    if value < 0.01:
        return f"${value:.6f}"
    if value < 1:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def format_ms(value: float | None) -> str:
    """`850 ms`, `1.23 s`, or `—`."""
    if value is None or math.isnan(value):
        return UNKNOWN
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"


def format_count(value: int | None) -> str:
    """`1,234`, or `—` for None."""
    return UNKNOWN if value is None else f"{value:,}"


def _status_style(status: int) -> str:
    if status >= 500:
        return "bold red"
    if status >= 400:
        return "yellow"
    return "green"


def _status_text(record: RequestRecord) -> Text:
    detail = record.error or ("decision" if record.is_decision else None)
    label = f"{record.status} {detail}" if detail else str(record.status)
    return Text(label, style=_status_style(record.status))


def _table(title: str) -> Table:
    """A borderless table: the recent list needs every column of a 120-column terminal."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=0,
        show_edge=False,
    )


def _time(record: RequestRecord) -> str:
    return record.time.strftime("%H:%M:%S") if record.time is not None else UNKNOWN


def _tokens_line(tokens: TokenCounts) -> str:
    return (
        f"in {format_count(tokens.prompt)} (cached {format_count(tokens.cached)})"
        f" · out {format_count(tokens.completion)}"
    )


def summary_panel(summary: Summary) -> Panel:
    """Totals and the latest request."""
    cost = format_usd(summary.total_cost)
    if summary.unpriced_requests:
        cost += f" ({summary.unpriced_requests} unpriced)"
    totals = Text.assemble(
        ("requests ", "dim"),
        (format_count(summary.requests), "bold"),
        ("  decisions ", "dim"),
        format_count(summary.decisions),
        ("  errors ", "dim"),
        (format_count(summary.errors), "red" if summary.errors else ""),
        f" (4xx {summary.errors_4xx} · 5xx {summary.errors_5xx})",
        ("  cost ", "dim"),
        (cost, "bold"),
    )
    lines: list[RenderableType] = [
        totals,
        Text.assemble(("tokens ", "dim"), _tokens_line(summary.tokens)),
    ]
    latest = summary.latest
    if latest is not None:
        lines.append(_latest_line(latest, summary.latest_cost))
    return Panel(Group(*lines), title="plano obs", title_align="left")


def _latest_line(record: RequestRecord, cost: float | None) -> Text:
    requested = record.requested_model or UNKNOWN
    line = Text.assemble(
        ("latest ", "dim"),
        _time(record),
        ("  model ", "dim"),
        (record.model or UNKNOWN, "bold cyan"),
        ("  requested ", "dim"),
        requested,
        ("  route ", "dim"),
        record.route or UNKNOWN,
        "  ",
        _status_text(record),
        ("  latency ", "dim"),
        format_ms(record.latency_ms),
        ("  ttft ", "dim"),
        format_ms(record.ttft_ms),
    )
    if not record.is_decision:
        line.append_text(
            Text.assemble(
                ("  in ", "dim"),
                format_count(record.prompt_tokens),
                ("  out ", "dim"),
                format_count(record.completion_tokens),
                ("  cost ", "dim"),
                format_usd(cost),
            )
        )
    return line


def models_table(rows: Sequence[ModelRow]) -> Table:
    """Per model: requests, tokens (input includes cached), p50/p95 latency, cost."""
    table = _table("by model")
    table.add_column("model", no_wrap=True, style="cyan")
    for name in ("req", "input", "cached", "output", "p50", "p95", "cost"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.model,
            format_count(row.requests),
            format_count(row.tokens.prompt),
            format_count(row.tokens.cached),
            format_count(row.tokens.completion),
            format_ms(row.p50_ms),
            format_ms(row.p95_ms),
            format_usd(row.cost),
        )
    return table


def routes_table(rows: Sequence[RouteRow]) -> Table:
    """Per route: hits, share of all requests, p95 latency, errors."""
    table = _table("route share")
    table.add_column("route", no_wrap=True, style="magenta")
    for name in ("hits", "%", "p95", "err"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.route,
            format_count(row.hits),
            f"{row.share * 100:.1f}%",
            format_ms(row.p95_ms),
            Text(format_count(row.errors), style="red" if row.errors else ""),
        )
    return table


def recent_table(rows: Sequence[RecentRow], limit: int) -> Table:
    """The last requests, newest first, each with its cost."""
    table = _table(f"recent · last {limit}")
    table.add_column("time", no_wrap=True)
    table.add_column("model", no_wrap=True, style="cyan")
    table.add_column("route", no_wrap=True, style="magenta")
    for name in ("in", "cached", "out", "ttft", "latency", "cost"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for row in rows:
        record = row.record
        tokenless = record.is_decision
        table.add_row(
            _time(record),
            record.priced_model or UNKNOWN,
            record.route or UNKNOWN,
            UNKNOWN if tokenless else format_count(record.prompt_tokens),
            UNKNOWN if tokenless else format_count(record.cached_tokens),
            UNKNOWN if tokenless else format_count(record.completion_tokens),
            format_ms(record.ttft_ms),
            format_ms(record.latency_ms),
            format_usd(row.cost),
            _status_text(record),
        )
    return table


def render_console(snapshot: Snapshot, notes: Sequence[str], recent_limit: int) -> Group:
    """The whole console: summary, tables and a dim footer of notes."""
    parts: list[RenderableType] = [summary_panel(snapshot.summary)]
    for table in (
        models_table(snapshot.models),
        routes_table(snapshot.routes),
        recent_table(snapshot.recent, recent_limit),
    ):
        parts += [Text(""), table]
    parts.append(Text(""))
    parts += [Text(note, style="dim") for note in notes]
    return Group(*parts)
