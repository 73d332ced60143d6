"""The Prometheus metrics plano exports (SPEC §8), aggregated over all gunicorn workers.

`Metrics` is built once per app in create_app (never at import: prometheus_client picks its value
class from PROMETHEUS_MULTIPROC_DIR when `prometheus_client` is first imported, see multiproc.py).
Each `observe_*` method catches and logs its own failures. Label values are bounded: status codes
become `2xx`…`5xx`, closed sets fall back to a fixed value, and open ones (model and route names,
which a wildcard provider or a per-request route can make up) are capped per process, after which
new values are reported as `other`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Generic, ParamSpec, Protocol, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
HANDLERS = frozenset(
    {"chat_completions", "messages", "routing", "models", "health", "metrics", "other"}
)
ROUTER_OUTCOMES = frozenset({"matched", "no_route", "error", "pinned", "skipped"})
SESSION_OUTCOMES = frozenset({"hit", "miss", "store", "error"})
TOKEN_KINDS = ("prompt", "completion", "cached")
OTHER = "other"
MAX_MODEL_LABELS = 200
MAX_ROUTE_LABELS = 100
MAX_SOURCE_LABELS = 10
MAX_BACKEND_LABELS = 10
# LLM calls take from tens of milliseconds (a cached short reply) to minutes (long generations).
LLM_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0,
                 60.0, 90.0, 120.0)  # fmt: skip
TTFT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
ROUTER_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", Counter, Histogram)


class TokenUsage(Protocol):
    """Token counts of one LLM reply, as the gateway's usage object carries them."""

    @property
    def prompt_tokens(self) -> int | None:
        """Input tokens, cached ones included."""

    @property
    def completion_tokens(self) -> int | None:
        """Output tokens."""

    @property
    def cached_tokens(self) -> int | None:
        """Input tokens read from the provider's prompt cache."""


def status_class(status: int | None) -> str:
    """`2xx`…`5xx` for an HTTP status; `error` when there was none (connect error, timeout)."""
    if status is None:
        return "error"
    if 100 <= status <= 599:
        return f"{status // 100}xx"
    return OTHER


class _LabelCap:
    """Passes the first `limit` distinct values of an open label, then reports `other`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(value)
        return value


class _Children(Generic[M]):
    """A labelled metric's children by label values, kept: `.labels()` takes a lock and checks
    its arguments on every call. Bounded like the label values themselves (see _LabelCap)."""

    def __init__(self, metric: M) -> None:
        self._labels: Callable[..., M] = metric.labels
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._labels(*values)
        return child


def _never_raises(method: Callable[P, None]) -> Callable[P, None]:
    """Log (once per call, with traceback) instead of raising: metrics never fail a request."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception:  # noqa: BLE001 - observability must not break the request
            logger.exception("metrics: %s failed", method.__name__)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class Metrics:
    """One app's metric objects and the small methods the gateway and views call."""

    def __init__(self, multiproc_dir: str | None = None) -> None:
        """Create the metrics; render() aggregates `multiproc_dir` (default: the env variable)."""
        self.multiproc_dir = multiproc_dir
        if multiproc_dir is None:
            # prometheus_client itself reads this variable; we must agree with it.
            self.multiproc_dir = os.environ.get(MULTIPROC_ENV) or None
            if self.multiproc_dir and values.ValueClass is values.MutexValue:
                logger.warning(
                    "%s is set but prometheus_client was imported before it: values stay in "
                    "memory, so /metrics shows this worker only",
                    MULTIPROC_ENV,
                )
                self.multiproc_dir = None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "plano_http_requests_total", "HTTP requests served, by handler and status class.",
            ["handler", "status_class"], registry=r,
        )  # fmt: skip
        self.llm_latency = Histogram(
            "plano_llm_latency_seconds", "Upstream LLM call duration (whole reply), by model.",
            ["model_name"], buckets=LLM_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.llm_ttft = Histogram(
            "plano_llm_time_to_first_token_seconds", "Time to the first streamed token, by model.",
            ["model_name"], buckets=TTFT_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.llm_tokens = Counter(
            "plano_llm_tokens_total", "Tokens reported by providers (prompt|completion|cached).",
            ["model_name", "kind"], registry=r,
        )  # fmt: skip
        self.llm_upstream = Counter(
            "plano_llm_upstream_requests_total", "Upstream LLM calls, by model and status class.",
            ["model_name", "status_class"], registry=r,
        )  # fmt: skip
        self.router_decisions = Counter(
            "plano_router_decisions_total",
            "Routing decisions (outcome: matched|no_route|error|pinned|skipped).",
            ["route", "outcome"], registry=r,
        )  # fmt: skip
        self.router_duration = Histogram(
            "plano_router_duration_seconds", "Time spent deciding a route (router model included).",
            buckets=ROUTER_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.session_events = Counter(
            "plano_session_cache_events_total",
            "Session-affinity cache events (outcome: hit|miss|store|error).",
            ["backend", "outcome"], registry=r,
        )  # fmt: skip
        self.source_age = Gauge(
            "plano_metrics_source_age_seconds",
            "Seconds since the metrics source (cost, latency) last answered.",
            ["source"], multiprocess_mode="mostrecent", registry=r,
        )  # fmt: skip
        self._http = _Children(self.http_requests)
        self._upstream = _Children(self.llm_upstream)
        self._latency = _Children(self.llm_latency)
        self._ttft = _Children(self.llm_ttft)
        self._tokens = _Children(self.llm_tokens)
        self._models = _LabelCap(MAX_MODEL_LABELS)
        self._routes = _LabelCap(MAX_ROUTE_LABELS)
        self._sources = _LabelCap(MAX_SOURCE_LABELS)
        self._backends = _LabelCap(MAX_BACKEND_LABELS)

    @_never_raises
    def observe_http(self, handler: str, status: int) -> None:
        """Count one HTTP reply."""
        label = handler if handler in HANDLERS else OTHER
        self._http(label, status_class(status)).inc()

    @_never_raises
    def observe_llm(
        self,
        model_name: str,
        status: int | None,
        latency_s: float | None,
        ttft_s: float | None,
        usage_prompt: int | TokenUsage | None = None,
        usage_completion: int | None = None,
        usage_cached: int | None = None,
    ) -> None:
        """Record one upstream LLM call; `usage_prompt` may be a usage object with all counts."""
        model = self._models(model_name)
        self._upstream(model, status_class(status)).inc()
        if latency_s is not None and latency_s >= 0:
            self._latency(model).observe(latency_s)
        if ttft_s is not None and ttft_s >= 0:
            self._ttft(model).observe(ttft_s)
        if usage_prompt is not None and not isinstance(usage_prompt, int):
            usage = usage_prompt
            usage_prompt = usage.prompt_tokens
            usage_completion = usage.completion_tokens
            usage_cached = usage.cached_tokens
        counts = (usage_prompt, usage_completion, usage_cached)
        for kind, count in zip(TOKEN_KINDS, counts, strict=True):
            if count:
                self._tokens(model, kind).inc(count)

    @_never_raises
    def observe_router(self, route: str | None, outcome: str, duration_s: float | None) -> None:
        """Count one routing decision and how long it took (`route` None: `none`)."""
        label = outcome if outcome in ROUTER_OUTCOMES else "error"
        self.router_decisions.labels(self._routes(route or "none"), label).inc()
        if duration_s is not None and duration_s >= 0:
            self.router_duration.observe(duration_s)

    @_never_raises
    def observe_session(self, backend: str, outcome: str) -> None:
        """Count one session-cache event."""
        label = outcome if outcome in SESSION_OUTCOMES else "error"
        self.session_events.labels(self._backends(backend), label).inc()

    @_never_raises
    def set_source_age(self, source: str, age_s: float) -> None:
        """Export how old a metrics source's data is (seconds since its last good fetch)."""
        self.source_age.labels(self._sources(source)).set(age_s)

    def render(self) -> tuple[bytes, str]:
        """Exposition body and content type; all workers when PROMETHEUS_MULTIPROC_DIR is set."""
        if self.multiproc_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
