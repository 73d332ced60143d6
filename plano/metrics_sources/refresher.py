"""The worker's current `MetricsSnapshot`, fetched at start-up and refreshed in the background.

One `MetricsRefresher` per worker (built in create_app). `start()` launches a daemon
`threading.Thread` (a greenlet under gunicorn's gevent worker, which patches threading) that
fetches every source once, then re-fetches each every `refresh_interval_s`. A failed or empty
fetch keeps the last good data; its age keeps growing and is exported as
`plano_metrics_source_age_seconds{source}`. Requests only read `snapshot()`: never a query per
request. Fetch functions and the clock are injectable, and `refresh_due()` runs one loop step, so
tests need no sleeps.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

import requests

from plano.config.model import Prefer, Route, Settings
from plano.errors import PlanoError
from plano.metrics_sources.latency import PrometheusLatencySource
from plano.metrics_sources.pricing import DEFAULT_URLS, blended_prices, fetch_prices
from plano.routing.ranking import EMPTY_SNAPSHOT, MetricsSnapshot, lookup

logger = logging.getLogger(__name__)

COST = "cost"
LATENCY = "latency"
# How often the loop wakes to export source ages even when no refresh is due.
AGE_EXPORT_INTERVAL_S = 15.0
# How long start() waits for the first fetches before letting the worker serve anyway
# (gunicorn kills a worker that takes longer than its timeout, 30 s by default, to boot).
STARTUP_WAIT_S = 10.0
# A source with no refresh_interval that failed at start-up is retried this often until it answers.
RETRY_UNANSWERED_S = 60.0

Fetch = Callable[[], Mapping[str, float]]
Clock = Callable[[], float]


class AgeSink(Protocol):
    """Where source ages are exported (plano.observability.metrics.Metrics)."""

    def set_source_age(self, source: str, age_s: float) -> None:
        """Export one source's age."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One metrics source: `cost` (blended prices) or `latency`, and how to fetch it."""

    name: str
    fetch: Fetch
    refresh_interval_s: float | None  # None: fetched once at start-up only


@dataclass(slots=True)
class _SourceState:
    data: Mapping[str, float]
    fetched_at: float | None = None  # clock time of the last good fetch
    attempted_at: float | None = None


class MetricsRefresher:
    """Owns the worker's snapshot: start-up fetch, background refresh, last good data on failure."""

    def __init__(
        self,
        sources: Iterable[SourceSpec],
        *,
        routes: Iterable[Route] = (),
        metrics: AgeSink | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._specs = {spec.name: spec for spec in sources}
        self._routes = tuple(routes)
        self._metrics = metrics
        self._clock = clock
        self._state = {name: _SourceState(MappingProxyType({})) for name in self._specs}
        self._snapshot = EMPTY_SNAPSHOT
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        metrics: AgeSink | None = None,
        *,
        session: requests.Session | None = None,
        clock: Clock = time.monotonic,
    ) -> MetricsRefresher:
        """A refresher for the config's cost and latency sources (none configured: always empty)."""
        specs: list[SourceSpec] = []
        cost = settings.cost_source
        if cost is not None:
            http = session or requests.Session()
            url = cost.url or DEFAULT_URLS.get(cost.provider, "")
            aliases = cost.model_aliases

            def fetch_cost() -> Mapping[str, float]:
                return blended_prices(fetch_prices(cost.provider, url, aliases, http))

            specs.append(SourceSpec(COST, fetch_cost, cost.refresh_interval_s))
        latency = settings.latency_source
        if latency is not None:
            source = PrometheusLatencySource(latency.url, latency.query)
            specs.append(SourceSpec(LATENCY, source.fetch, latency.refresh_interval_s))
        return cls(specs, routes=settings.routes, metrics=metrics, clock=clock)

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> MetricsSnapshot:
        """The current prices and latencies (the last good data of each source)."""
        return self._snapshot

    def age_s(self, source: str) -> float | None:
        """Seconds since the source's last good fetch; None when it never answered."""
        state = self._state.get(source)
        if state is None or state.fetched_at is None:
            return None
        return max(0.0, self._clock() - state.fetched_at)

    def warnings_for(self, routes: Iterable[Route]) -> list[str]:
        """One line per route model its policy cannot rank for lack of data."""
        snapshot = self._snapshot
        lines: list[str] = []
        for route in routes:
            if route.prefer is Prefer.CHEAPEST:
                values, what = snapshot.prices, "price"
            elif route.prefer is Prefer.FASTEST:
                values, what = snapshot.latencies, "latency"
            else:
                continue
            for model in route.models:
                if lookup(values, model) is None:
                    lines.append(
                        f"route '{route.name}' model '{model}' has no {what} data "
                        "— it will be ranked last"
                    )
        return lines

    # ------------------------------------------------------------------ fetching

    def refresh(self, name: str) -> bool:
        """Fetch one source now; True when it answered with data (else the last data is kept)."""
        spec = self._specs[name]
        state = self._state[name]
        state.attempted_at = self._clock()
        try:
            data = dict(spec.fetch())
        except PlanoError as exc:
            reason = exc.message
        except Exception as exc:  # noqa: BLE001 - a source must never kill the refresh loop
            logger.exception("metrics source %s: unexpected failure", name)
            reason = f"{type(exc).__name__}: {exc}"
        else:
            if data:
                with self._lock:
                    state.data = MappingProxyType(data)
                    state.fetched_at = self._clock()
                    self._snapshot = self._build_snapshot()
                logger.info("metrics source %s: %d models", name, len(data))
                self._export_age(name)
                return True
            reason = "it returned no data"
        kept = "keeping the last good data" if state.fetched_at is not None else "no data yet"
        logger.warning("metrics source %s: fetch failed (%s); %s", name, reason, kept)
        self._export_age(name)
        return False

    def refresh_all(self) -> None:
        """Fetch every source once (the start-up fetch) and log the route models left unranked."""
        for name in self._specs:
            self.refresh(name)
        for line in self.warnings_for(self._routes):
            logger.warning("%s", line)

    def refresh_due(self) -> list[str]:
        """One loop step: refresh the sources that are due and export every age; return them."""
        now = self._clock()
        due = [name for name in self._specs if self._is_due(name, now)]
        for name in due:
            self.refresh(name)
        for name in self._specs:
            if name not in due:
                self._export_age(name)
        return due

    def _is_due(self, name: str, now: float) -> bool:
        state = self._state[name]
        if state.attempted_at is None:
            return True
        interval = self._specs[name].refresh_interval_s
        if interval is None:
            # Fetched once only, but a source that never answered is retried until it does.
            if state.fetched_at is not None:
                return False
            interval = RETRY_UNANSWERED_S
        return now - state.attempted_at >= interval

    # ------------------------------------------------------------------ background

    def start(self, wait_s: float = STARTUP_WAIT_S) -> None:
        """Start the background loop (first fetch at once); wait up to `wait_s` for that fetch."""
        if self._thread is not None or not self._specs:
            return
        self._thread = threading.Thread(
            target=self._run, name="plano-metrics-refresher", daemon=True
        )
        self._thread.start()
        if wait_s > 0 and not self._started.wait(wait_s):
            logger.warning(
                "metrics sources did not answer within %gs; ranking uses declared order until "
                "they do",
                wait_s,
            )

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the background loop and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            self.refresh_all()
        finally:
            self._started.set()
        while not self._stop.wait(self._tick_s()):
            try:
                self.refresh_due()
            except Exception:  # noqa: BLE001 - keep refreshing whatever happened
                logger.exception("metrics refresh step failed")

    def _tick_s(self) -> float:
        intervals = [s.refresh_interval_s for s in self._specs.values() if s.refresh_interval_s]
        return max(0.05, min([AGE_EXPORT_INTERVAL_S, *intervals]))

    def _build_snapshot(self) -> MetricsSnapshot:
        empty: Mapping[str, float] = MappingProxyType({})
        cost = self._state.get(COST)
        latency = self._state.get(LATENCY)
        return MetricsSnapshot(
            prices=cost.data if cost is not None else empty,
            latencies=latency.data if latency is not None else empty,
        )

    def _export_age(self, name: str) -> None:
        if self._metrics is None:
            return
        age = self.age_s(name)
        # A source that never answered has infinitely old data: alerts on the age still fire.
        self._metrics.set_source_age(name, math.inf if age is None else age)
