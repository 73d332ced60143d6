"""The validated config as frozen dataclasses: what every other part of plano reads.

YAML keys, dataclass fields and marshmallow fields share one snake_case name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EMPTY_HEADERS: Mapping[str, str] = MappingProxyType({})


def _empty_mapping() -> Mapping[str, str]:
    return EMPTY_HEADERS


class Prefer(enum.Enum):
    """How a route orders its candidates."""

    NONE = "none"
    CHEAPEST = "cheapest"
    FASTEST = "fastest"


class SessionCacheType(enum.Enum):
    """Where affinity bindings are stored."""

    MEMORY = "memory"
    REDIS = "redis"


@dataclass(frozen=True, slots=True)
class Listener:
    """The model listener: gunicorn's default bind and the upstream call bound."""

    name: str = "egress_traffic"
    address: str = "0.0.0.0"
    port: int = 12000
    timeout_s: float = 300.0

    @property
    def bind(self) -> str:
        """The gunicorn bind string."""
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class ModelProvider:
    """One `model_providers` entry."""

    model: str  # provider/model_id or provider/*
    name: str  # canonical id (default: model)
    provider: str  # the prefix before '/'
    model_id: str  # the part after '/', '*' for a wildcard
    interface: str  # provider dialect family key, e.g. "openai", "anthropic"
    access_key: str | None = field(default=None, repr=False)
    default: bool = False
    base_url: str | None = None
    passthrough_auth: bool = False
    headers: Mapping[str, str] = field(default_factory=_empty_mapping)

    @property
    def is_wildcard(self) -> bool:
        """True for a `provider/*` entry."""
        return self.model_id == "*"


@dataclass(frozen=True, slots=True)
class Route:
    """One routing preference: a described intent and its ordered candidates."""

    name: str
    description: str
    models: tuple[str, ...]  # canonical ids, declared order
    prefer: Prefer = Prefer.NONE
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CostSource:
    """A price catalog used by `prefer: cheapest` and by `plano obs`."""

    provider: str  # digitalocean | models.dev
    url: str
    refresh_interval_s: int | None = None
    # catalog key -> plano model
    model_aliases: Mapping[str, str] = field(default_factory=_empty_mapping)


@dataclass(frozen=True, slots=True)
class LatencySource:
    """A Prometheus query giving a latency per `model_name` label."""

    provider: str  # prometheus
    url: str
    query: str
    refresh_interval_s: int | None = None


@dataclass(frozen=True, slots=True)
class SessionCache:
    """Where affinity bindings live."""

    type: SessionCacheType = SessionCacheType.MEMORY
    url: str | None = field(default=None, repr=False)
    tenant_header: str | None = None


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """The `routing` section."""

    session_ttl_seconds: int = 600
    session_max_entries: int = 10000
    session_cache: SessionCache = SessionCache()
    route_on_user_only: bool = False
    classify_all_requests: bool = False


EMBEDDED_ROUTER = "embedded"


@dataclass(frozen=True, slots=True)
class RouterModel:
    """Where the router model is reached: the resolved `overrides.llm_routing_model`."""

    model_id: str  # what goes in the body's "model"
    url: str  # full chat-completions URL
    headers: Mapping[str, str] = field(default_factory=_empty_mapping)
    is_embedded: bool = False

    @property
    def prompt_format(self) -> str:
        """`arch-router` when the model id names it, else `plano-orchestrator`."""
        return "arch-router" if "arch-router" in self.model_id.lower() else "plano-orchestrator"


@dataclass(frozen=True, slots=True)
class Overrides:
    """The `overrides` section."""

    llm_routing_model: str = "Plano-Orchestrator"
    orchestrator_model_context_length: int | None = None  # None: per-format default
    llm_routing_timeout: float = 5.0
    llm_routing_fallback: str | None = None


@dataclass(frozen=True, slots=True)
class Observability:
    """The `observability` section (ours)."""

    request_log: str = "-"  # a path, "-" for stdout, "off"
    max_body_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Tracing:
    """The `tracing` section: accepted, sampling kept for the future."""

    random_sampling: int = 0


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole validated config."""

    version: str = "v0.4.0"
    listener: Listener = Listener()
    providers: tuple[ModelProvider, ...] = ()
    # alias -> canonical id
    model_aliases: Mapping[str, str] = field(default_factory=_empty_mapping)
    routes: tuple[Route, ...] = ()
    cost_source: CostSource | None = None
    latency_source: LatencySource | None = None
    routing: RoutingSettings = RoutingSettings()
    overrides: Overrides = Overrides()
    router: RouterModel | None = None  # None only when no routes can ever be classified
    observability: Observability = Observability()
    tracing: Tracing = Tracing()
    source_path: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def default_provider(self) -> ModelProvider | None:
        """The `default: true` provider, if any."""
        for provider in self.providers:
            if provider.default:
                return provider
        return None
