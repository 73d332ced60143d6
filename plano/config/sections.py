"""Config sections that stand alone: listener, routing, overrides, observability, the router.

Each builder reads what the schemas loaded (and the raw document, for keys accepted and
ignored with a warning) and records located problems and warnings in `Findings`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from plano.config.model import (
    EMBEDDED_ROUTER,
    Listener,
    ModelProvider,
    Observability,
    Overrides,
    RouterModel,
    RoutingSettings,
    SessionCache,
    SessionCacheType,
)
from plano.config.providers import HOSTED_ROUTER_HEADER, HOSTED_ROUTER_URL, endpoint_url, kind_of
from plano.config.schema import IGNORED_LISTENER, IGNORED_OVERRIDES, IGNORED_ROUTING
from plano.config.yamlpos import Findings, Path


def resolve_router(
    overrides: Overrides, providers: list[tuple[Path, ModelProvider]], findings: Findings
) -> tuple[RouterModel | None, ModelProvider | None]:
    """The router model and the provider entry it uses (removed from the routable ones)."""
    name = overrides.llm_routing_model
    where: Path = ("overrides", "llm_routing_model")
    if name == EMBEDDED_ROUTER:
        return RouterModel(model_id=EMBEDDED_ROUTER, url="", is_embedded=True), None
    if "/" in name:
        match = next(
            (p for _, p in providers if not p.is_wildcard and name in (p.model, p.name)), None
        )
        if match is None:
            findings.problem(
                where,
                f"the router model `{name}` is not declared in model_providers: add an entry "
                f"`model: {name}` with the base_url that serves it",
            )
            return None, None
    else:
        match = next(
            (
                p
                for _, p in providers
                if p.provider == "plano" and p.model_id == name and p.base_url
            ),
            None,
        )
        if match is None:
            return RouterModel(
                model_id=name,
                url=HOSTED_ROUTER_URL,
                headers=MappingProxyType({"model": HOSTED_ROUTER_HEADER}),
            ), None
    if not match.base_url:
        findings.problem(
            where,
            f"the router model `{name}` must be self-hosted: give its model_providers entry a "
            "base_url",
        )
        return None, match
    headers = dict(match.headers)
    if match.access_key:
        headers.setdefault("Authorization", f"Bearer {match.access_key}")
    kind = kind_of(match.provider, match.interface)
    url = endpoint_url(match.base_url, kind, "/chat/completions")
    return RouterModel(model_id=match.model_id, url=url, headers=MappingProxyType(headers)), match


def build_listener(
    raw: Mapping[str, Any], loaded: Mapping[str, Any], findings: Findings
) -> Listener:
    """The model listener (defaults when none is given)."""
    listeners = loaded.get("listeners")
    chosen: Mapping[str, Any] = {}
    defaults = Listener()
    name = defaults.name
    if isinstance(listeners, list):
        model_listeners = 0
        for index, item in enumerate(listeners):
            if not isinstance(item, Mapping) or "type" not in item:
                continue
            where: Path = ("listeners", index)
            if item["type"] != "model":
                findings.warn(
                    where,
                    f"listener `{item.get('name')}` (type {item['type']}) is ignored: plano "
                    "serves only the model listener",
                )
                continue
            model_listeners += 1
            if model_listeners == 2:
                count = sum(
                    1 for i in listeners if isinstance(i, Mapping) and i.get("type") == "model"
                )
                findings.problem(where, f"only one model listener is allowed, found {count}")
            if model_listeners == 1:
                chosen, name = item, item.get("name", name)
                _warn_ignored(raw, where, IGNORED_LISTENER, findings)
    elif isinstance(listeners, Mapping):
        chosen = listeners.get("egress_traffic") or {}
        if "ingress_traffic" in listeners:
            findings.warn(
                ("listeners", "ingress_traffic"), "`ingress_traffic` is not implemented; ignored"
            )
    return Listener(
        name=name,
        address=chosen.get("address", defaults.address),
        port=chosen.get("port", defaults.port),
        timeout_s=chosen.get("timeout", defaults.timeout_s),
    )


def _warn_ignored(
    raw: Mapping[str, Any], where: Path, keys: Sequence[str], findings: Findings
) -> None:
    section: Any = raw
    for part in where:
        section = section.get(part) if isinstance(section, Mapping) else None
    if not isinstance(section, Mapping):
        return
    for key in keys:
        if key in section:
            findings.warn((*where, key), f"`{key}` is not implemented; ignored")


def build_routing(
    raw: Mapping[str, Any], loaded: Mapping[str, Any], findings: Findings
) -> RoutingSettings:
    """The `routing` section."""
    _warn_ignored(raw, ("routing",), IGNORED_ROUTING, findings)
    section = loaded.get("routing") or {}
    cache = section.get("session_cache") or {}
    cache_type = SessionCacheType(cache.get("type", "memory"))
    defaults = RoutingSettings()
    return RoutingSettings(
        session_ttl_seconds=section.get("session_ttl_seconds", defaults.session_ttl_seconds),
        session_max_entries=section.get("session_max_entries", defaults.session_max_entries),
        session_cache=SessionCache(
            type=cache_type,
            url=cache.get("url") if cache_type is SessionCacheType.REDIS else None,
            tenant_header=cache.get("tenant_header"),
        ),
        route_on_user_only=section.get("route_on_user_only", defaults.route_on_user_only),
        classify_all_requests=section.get("classify_all_requests", defaults.classify_all_requests),
    )


def build_overrides(
    raw: Mapping[str, Any], loaded: Mapping[str, Any], findings: Findings
) -> Overrides:
    """The `overrides` section."""
    _warn_ignored(raw, ("overrides",), IGNORED_OVERRIDES, findings)
    section = loaded.get("overrides") or {}
    defaults = Overrides()
    return Overrides(
        llm_routing_model=section.get("llm_routing_model", defaults.llm_routing_model),
        orchestrator_model_context_length=section.get("orchestrator_model_context_length"),
        llm_routing_timeout=section.get("llm_routing_timeout", defaults.llm_routing_timeout),
        llm_routing_fallback=section.get("llm_routing_fallback"),
    )


def build_observability(loaded: Mapping[str, Any]) -> Observability:
    """The `observability` section (ours)."""
    section = loaded.get("observability") or {}
    defaults = Observability()
    return Observability(
        request_log=section.get("request_log", defaults.request_log),
        max_body_bytes=section.get("max_body_bytes", defaults.max_body_bytes),
    )
