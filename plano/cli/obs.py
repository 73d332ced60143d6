"""`plano obs [LOG]`: a live console over the request log, or one snapshot with `--once`."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console, RenderableType
from rich.live import Live

from plano.config.model import Settings
from plano.errors import ConfigError, PlanoError
from plano.metrics_sources.source import CONNECT_TIMEOUT_S, TOTAL_TIMEOUT_S
from plano.obs.aggregate import DEFAULT_RECENT, DEFAULT_WINDOW, Aggregator
from plano.obs.catalog import PROVIDERS, PriceLoader, choose_pricing
from plano.obs.follow import FileFollower, LineSource, StreamFollower
from plano.obs.render import render_console

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "conf" / "plano.yaml"
STDIN = "-"
ONCE_WIDTH = 120  # wide enough that model names are never cut when stdout is not a terminal
PRICING_WAIT_S = CONNECT_TIMEOUT_S + TOTAL_TIMEOUT_S
READ_BUDGET_S = 0.2  # per refresh, so a large backlog does not freeze the display


@dataclass(frozen=True, slots=True)
class _ConfigView:
    settings: Settings | None
    note: str | None


def _load_config(path: str | None) -> _ConfigView:
    """The settings, or None with a note when an explicitly named config fails to load."""
    explicit = path is not None
    config_path = Path(path) if path is not None else DEFAULT_CONFIG
    if not explicit and not config_path.is_file():
        return _ConfigView(None, None)
    # Imported here: the config is optional for obs, and its loader pulls in YAML and schemas.
    from plano.config.loader import load_settings

    try:
        return _ConfigView(load_settings(str(config_path), dict(os.environ)), None)
    except (ConfigError, PlanoError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _ConfigView(None, f"config {config_path} ignored: {first}")


def _default_log(settings: Settings | None) -> str:
    """The config's request log when it is a file, else stdin."""
    target = settings.observability.request_log if settings is not None else STDIN
    return target if target not in (STDIN, "off") else STDIN


def _drain(source: LineSource, aggregator: Aggregator, budget_s: float | None) -> None:
    """Feed the aggregator until the source has nothing new (or the time budget is spent)."""
    deadline = None if budget_s is None else time.monotonic() + budget_s
    while True:
        lines = source.read_lines()
        if not lines:
            return
        for line in lines:
            aggregator.add_line(line)
        if deadline is not None and time.monotonic() > deadline:
            return


@click.command()
@click.argument("log", required=False)
@click.option("--once", is_flag=True, help="Read what is there, print one snapshot and exit.")
@click.option(
    "--refresh-ms",
    type=click.IntRange(min=50),
    default=500,
    show_default=True,
    help="Redraw interval in live mode.",
)
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=DEFAULT_WINDOW,
    show_default=True,
    help="Records kept for latency percentiles and the recent list.",
)
@click.option(
    "--recent",
    type=click.IntRange(min=0),
    default=DEFAULT_RECENT,
    show_default=True,
    help="Recent requests shown.",
)
@click.option("--pricing-provider", type=click.Choice(PROVIDERS), help="Cost catalog.")
@click.option("--pricing-url", help="Cost catalog URL (default: the provider's public one).")
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="PLANO_CONFIG",
    help="Config file for the request log path and cost source "
    "(default: $PLANO_CONFIG, else conf/plano.yaml).",
)
def obs(
    log: str | None,
    once: bool,
    refresh_ms: int,
    window: int,
    recent: int,
    pricing_provider: str | None,
    pricing_url: str | None,
    config: str | None,
) -> None:
    """Console over the request log LOG (a file, or - for stdin; default: the config's log)."""
    view = _load_config(config)
    notes = [view.note] if view.note else []
    cost_source = view.settings.cost_source if view.settings is not None else None
    prices = PriceLoader(choose_pricing(pricing_provider, pricing_url, cost_source))
    prices.start()
    log = log or _default_log(view.settings)
    aggregator = Aggregator(window)
    if once:
        _print_once(log, aggregator, prices, notes, recent)
        return
    if log == STDIN:
        stream = StreamFollower(sys.stdin.buffer)
        stream.start()
        source: LineSource = stream
    else:
        source = FileFollower(log)
    try:
        run_live(source, aggregator, prices, notes, recent, refresh_ms / 1000, Console())
    finally:
        source.close()


def _print_once(
    log: str, aggregator: Aggregator, prices: PriceLoader, notes: list[str], recent: int
) -> None:
    """Read the whole log (stdin to EOF), wait for prices, print one frame."""
    if log == STDIN:
        for line in sys.stdin.buffer:
            aggregator.add_line(line)
    else:
        if not Path(log).is_file():
            raise click.ClickException(f"no such log file: {log}")
        source = FileFollower(log)
        try:
            _drain(source, aggregator, None)
        finally:
            source.close()
    prices.wait(PRICING_WAIT_S)
    console = Console()
    if not console.is_terminal:
        console = Console(width=ONCE_WIDTH)
    snapshot = aggregator.snapshot(prices.prices, recent)
    console.print(render_console(snapshot, [*notes, prices.note], recent))


def run_live(
    source: LineSource,
    aggregator: Aggregator,
    prices: PriceLoader,
    notes: list[str],
    recent: int,
    refresh_s: float,
    console: Console,
) -> None:
    """Redraw until Ctrl-C; the last frame stays on the screen."""

    def frame() -> RenderableType:
        status = [source.status] if source.status else []
        snapshot = aggregator.snapshot(prices.prices, recent)
        return render_console(snapshot, [*notes, *status, prices.note], recent)

    try:
        with Live(frame(), console=console, auto_refresh=False, redirect_stderr=False) as live:
            while True:
                _drain(source, aggregator, READ_BUDGET_S)
                live.update(frame(), refresh=True)
                time.sleep(refresh_s)
    except KeyboardInterrupt:
        pass
