"""Rolling aggregation of request records: all-time totals plus a window for percentiles.

Totals keep token sums per model rather than costs, so a price catalog that arrives late (or
changes) prices every request already seen: cost is linear in tokens for a given model.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from plano.metrics_sources.pricing import Price, price_for
from plano.obs.cost import TokenCounts, cost_usd, record_cost, tokens_of
from plano.obs.record import RequestRecord, parse_line

NONE_KEY = "(none)"
DEFAULT_WINDOW = 1000
DEFAULT_RECENT = 15


@dataclass(frozen=True, slots=True)
class Summary:
    """All-time totals; `total_cost` is None when no request with tokens could be priced."""

    requests: int
    decisions: int
    errors_4xx: int
    errors_5xx: int
    tokens: TokenCounts
    total_cost: float | None
    unpriced_requests: int
    latest: RequestRecord | None
    latest_cost: float | None

    @property
    def errors(self) -> int:
        """4xx plus 5xx."""
        return self.errors_4xx + self.errors_5xx


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One model's all-time totals; latency percentiles over the window."""

    model: str
    requests: int
    tokens: TokenCounts
    p50_ms: float | None
    p95_ms: float | None
    cost: float | None


@dataclass(frozen=True, slots=True)
class RouteRow:
    """One route's all-time hits and errors; p95 latency over the window."""

    route: str
    hits: int
    share: float  # 0..1 of all requests
    p95_ms: float | None
    errors: int


@dataclass(frozen=True, slots=True)
class RecentRow:
    """A recent request and its cost."""

    record: RequestRecord
    cost: float | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the console shows at one moment."""

    summary: Summary
    models: tuple[ModelRow, ...]
    routes: tuple[RouteRow, ...]
    recent: tuple[RecentRow, ...]  # newest first


@dataclass(slots=True)
class _ModelTotals:
    requests: int = 0
    billable_requests: int = 0  # requests that reported any token
    tokens: TokenCounts = field(default_factory=TokenCounts)


@dataclass(slots=True)
class _RouteTotals:
    hits: int = 0
    errors: int = 0


def percentile(values: Iterable[float], pct: float) -> float | None:
    """Nearest-rank percentile (pct in 0..100); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def _has_tokens(tokens: TokenCounts) -> bool:
    return tokens.prompt > 0 or tokens.completion > 0


class Aggregator:
    """Feeds on records; `snapshot(prices)` prices and summarises them."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._window: deque[RequestRecord] = deque(maxlen=window)
        self._models: dict[str, _ModelTotals] = {}
        self._routes: dict[str, _RouteTotals] = {}
        self._requests = 0
        self._decisions = 0
        self._errors_4xx = 0
        self._errors_5xx = 0
        self._latest: RequestRecord | None = None

    @property
    def requests(self) -> int:
        """Records seen so far."""
        return self._requests

    def add_line(self, line: str | bytes) -> bool:
        """Add the record on this line; False (and nothing added) for any other line."""
        record = parse_line(line)
        if record is None:
            return False
        self.add(record)
        return True

    def add(self, record: RequestRecord) -> None:
        """Count one record."""
        self._requests += 1
        self._latest = record
        self._window.append(record)
        if 400 <= record.status < 500:
            self._errors_4xx += 1
        elif record.status >= 500:
            self._errors_5xx += 1
        route = self._routes.setdefault(record.route or NONE_KEY, _RouteTotals())
        route.hits += 1
        route.errors += record.status >= 400
        if record.is_decision:
            self._decisions += 1
            return
        model = self._models.setdefault(record.priced_model or NONE_KEY, _ModelTotals())
        tokens = tokens_of(record)
        model.requests += 1
        model.tokens = model.tokens + tokens
        model.billable_requests += _has_tokens(tokens)

    def snapshot(self, prices: Mapping[str, Price], recent: int = DEFAULT_RECENT) -> Snapshot:
        """Totals, per-model and per-route rows and the last `recent` requests, priced."""
        model_rows = tuple(sorted(self._model_rows(prices), key=_model_order))
        route_rows = tuple(sorted(self._route_rows(), key=lambda r: (-r.hits, r.route)))
        recent_records = list(self._window)[-recent:] if recent > 0 else []
        recent_rows = tuple(RecentRow(r, record_cost(r, prices)) for r in reversed(recent_records))
        return Snapshot(self._summary(prices, model_rows), model_rows, route_rows, recent_rows)

    def _summary(self, prices: Mapping[str, Price], rows: tuple[ModelRow, ...]) -> Summary:
        tokens = TokenCounts()
        for row in rows:
            tokens = tokens + row.tokens
        priced = [row.cost for row in rows if row.cost is not None and _has_tokens(row.tokens)]
        unpriced = sum(
            totals.billable_requests
            for name, totals in self._models.items()
            if _model_price(prices, name) is None
        )
        total_cost: float | None = math.fsum(priced)
        if not priced and unpriced:
            total_cost = None
        latest = self._latest
        return Summary(
            requests=self._requests,
            decisions=self._decisions,
            errors_4xx=self._errors_4xx,
            errors_5xx=self._errors_5xx,
            tokens=tokens,
            total_cost=total_cost,
            unpriced_requests=unpriced,
            latest=latest,
            latest_cost=record_cost(latest, prices) if latest is not None else None,
        )

    def _model_rows(self, prices: Mapping[str, Price]) -> list[ModelRow]:
        latencies: dict[str, list[float]] = {}
        for record in self._window:
            if not record.is_decision and record.latency_ms is not None:
                key = record.priced_model or NONE_KEY
                latencies.setdefault(key, []).append(record.latency_ms)
        rows = []
        for name, totals in self._models.items():
            window = latencies.get(name, [])
            rows.append(
                ModelRow(
                    model=name,
                    requests=totals.requests,
                    tokens=totals.tokens,
                    p50_ms=percentile(window, 50),
                    p95_ms=percentile(window, 95),
                    cost=cost_usd(totals.tokens, _model_price(prices, name)),
                )
            )
        return rows

    def _route_rows(self) -> list[RouteRow]:
        latencies: dict[str, list[float]] = {}
        for record in self._window:
            if record.latency_ms is not None:
                latencies.setdefault(record.route or NONE_KEY, []).append(record.latency_ms)
        return [
            RouteRow(
                route=name,
                hits=totals.hits,
                share=totals.hits / self._requests,
                p95_ms=percentile(latencies.get(name, []), 95),
                errors=totals.errors,
            )
            for name, totals in self._routes.items()
        ]


def _model_price(prices: Mapping[str, Price], name: str) -> Price | None:
    return None if name == NONE_KEY else price_for(prices, name)


def _model_order(row: ModelRow) -> tuple[float, int, str]:
    """Costliest first, then busiest, then by name; unpriced after every priced model."""
    cost = -row.cost if row.cost is not None else math.inf
    return (cost, -row.requests, row.model)
