"""Rules that span config sections, and the schema output turned into `Settings`.

Input: the raw document (env substituted, migrated) and what the schemas loaded from it.
Every rule adds located problems instead of stopping, so all problems are reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from plano.config.model import (
    CostSource,
    LatencySource,
    ModelProvider,
    Prefer,
    Route,
    Settings,
    Tracing,
)
from plano.config.providers import INTERFACES, PROVIDER_KINDS
from plano.config.schema import DEFAULT_COST_URLS, IGNORED_TOP_LEVEL, unknown_key_message
from plano.config.sections import (
    build_listener,
    build_observability,
    build_overrides,
    build_routing,
    resolve_router,
)
from plano.config.yamlpos import Findings, Path, format_path

PREFER_BY_NAME = {"cheapest": Prefer.CHEAPEST, "fastest": Prefer.FASTEST}
NEEDS_SOURCE = {Prefer.CHEAPEST: "cost", Prefer.FASTEST: "latency"}


def canonical_id(ref: str, providers: Sequence[ModelProvider]) -> str | None:
    """The canonical id of a declared model named by name, `provider/model` or bare id."""
    concrete = [provider for provider in providers if not provider.is_wildcard]
    for provider in concrete:
        if provider.name == ref:
            return provider.name
    for provider in concrete:
        if provider.model == ref:
            return provider.name
    for provider in concrete:
        if provider.model_id == ref:
            return provider.name
    return None


def prefer_of(route: Mapping[str, Any]) -> Prefer:
    """A loaded route's policy: `prefer` missing, null, "" or none means Prefer.NONE."""
    policy = route.get("selection_policy")
    prefer = policy.get("prefer") if isinstance(policy, Mapping) else None
    return PREFER_BY_NAME.get(prefer or "none", Prefer.NONE)


def _entries(loaded: Mapping[str, Any], key: str) -> list[Any]:
    value = loaded.get(key)
    return list(value) if isinstance(value, list) else []


def _split_model(model: str) -> tuple[str, str] | None:
    prefix, slash, model_id = model.partition("/")
    if not slash or not prefix or not model_id:
        return None
    return prefix, model_id


def _check_kind(
    entry: Mapping[str, Any], where: Path, prefix: str, has_base_url: bool, findings: Findings
) -> str | None:
    """The interface of an entry's prefix; problems for a bad prefix/interface/base_url combo."""
    model = entry["model"]
    interface = entry.get("provider_interface")
    if prefix in PROVIDER_KINDS:
        if interface is not None and interface != prefix:
            findings.problem(
                (*where, "provider_interface"),
                f"`{prefix}` is a known provider: drop provider_interface, or give the model a "
                f"custom prefix (e.g. `custom/{model.partition('/')[2]}`)",
            )
        if PROVIDER_KINDS[prefix].default_base_url is None and not has_base_url:
            findings.problem(
                where, f"Provider '{prefix}' requires 'base_url' to be set for model {model}"
            )
        return prefix
    if interface is not None and interface not in INTERFACES:
        findings.problem(
            (*where, "provider_interface"),
            unknown_key_message(interface, INTERFACES).replace("unknown key", "unknown interface"),
        )
        return None
    if interface is None or not has_base_url:
        findings.problem(
            where,
            f"Must provide base_url and provider_interface for unsupported provider {prefix} "
            f"for model {model}. Supported providers are: {', '.join(sorted(PROVIDER_KINDS))}",
        )
        return None
    return str(interface)


def build_providers(
    raw: Mapping[str, Any], loaded: Mapping[str, Any], findings: Findings
) -> tuple[str, list[tuple[Path, ModelProvider]]]:
    """Every valid provider entry with its path; provider rules checked."""
    key = "model_providers" if "model_providers" in raw else "llm_providers"
    if "model_providers" in raw and "llm_providers" in raw:
        findings.problem(
            ("llm_providers",),
            "Please provide either llm_providers or model_providers, not both. llm_providers is "
            "deprecated, please use model_providers instead",
        )
    elif key == "llm_providers":
        findings.warn((key,), "`llm_providers` is deprecated: rename it to `model_providers`")
    if key not in raw:
        findings.problem((), "missing required key `model_providers`")
    elif isinstance(raw[key], list) and not raw[key]:
        findings.problem((key,), "at least one model provider is required")
    built: list[tuple[Path, ModelProvider]] = []
    seen_names: dict[str, Path] = {}
    seen_models: dict[str, Path] = {}
    seen_ids: dict[str, Path] = {}
    default_at: Path | None = None
    for index, entry in enumerate(_entries(loaded, key)):
        where: Path = (key, index)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("model"), str):
            continue  # the schema already reported it
        model = entry["model"]
        split = _split_model(model)
        if split is None:
            findings.problem(
                (*where, "model"),
                f"Invalid model name {model}. Please provide model name in the format "
                "<provider>/<model_id> or <provider>/* for wildcards.",
            )
            continue
        prefix, model_id = split
        raw_entry = raw[key][index]
        has_base_url = isinstance(raw_entry, Mapping) and "base_url" in raw_entry
        interface = _check_kind(entry, where, prefix, has_base_url, findings)
        name = entry.get("name", model)
        wildcard = model_id == "*"
        if name in seen_names:
            findings.problem(
                (*where, "name" if "name" in entry else "model"),
                f"Duplicate model_provider name {name}, please provide unique name for each "
                f"model_provider (first at {format_path(seen_names[name])})",
            )
        elif model in seen_models:
            findings.problem(
                (*where, "model"),
                f"Duplicate model name {model}, please provide unique model name for each "
                f"model_provider (first at {format_path(seen_models[model])})",
            )
        elif not wildcard and model_id in seen_ids:
            findings.problem(
                (*where, "model"),
                f"Duplicate model_id {model_id}, please provide unique model_id for each "
                f"model_provider (first at {format_path(seen_ids[model_id])})",
            )
        seen_names.setdefault(name, where)
        seen_models.setdefault(model, where)
        if not wildcard:
            seen_ids.setdefault(model_id, where)
        is_default = bool(entry.get("default", False))
        if is_default and wildcard:
            findings.problem(
                (*where, "default"),
                f"Model {model} is configured as default but uses wildcard (*). Default models "
                "cannot be wildcards.",
            )
            is_default = False
        elif is_default and default_at is not None:
            findings.problem(
                (*where, "default"),
                f"only one provider may be `default: true`: {format_path(default_at)} is already "
                "the default",
            )
            is_default = False
        elif is_default:
            default_at = where
        access_key = entry.get("access_key") or None
        if entry.get("passthrough_auth") and access_key:
            findings.warn(
                (*where, "access_key"),
                f"provider '{name}' has both 'passthrough_auth: true' and 'access_key': the "
                "access_key is ignored",
            )
        base_url = entry.get("base_url")
        if (
            prefix == "ollama"
            and base_url
            and urlsplit(base_url).path.rstrip("/") not in ("", "/v1")
        ):
            findings.warn(
                (*where, "base_url"),
                "Ollama's OpenAI-compatible API is under /v1: use a base_url like "
                "http://localhost:11434 (or .../v1)",
            )
        if interface is None:
            continue
        provider = ModelProvider(
            model=model,
            name=name,
            provider=prefix,
            model_id=model_id,
            interface=interface,
            access_key=access_key,
            default=is_default,
            base_url=base_url,
            passthrough_auth=bool(entry.get("passthrough_auth", False)),
            headers=MappingProxyType(dict(entry.get("headers") or {})),
        )
        built.append((where, provider))
    return key, built


def _reference(
    ref: str,
    routable: Sequence[ModelProvider],
    router_entry: ModelProvider | None,
) -> str | None:
    if router_entry is not None and canonical_id(ref, [router_entry]) is not None:
        return None
    return canonical_id(ref, routable)


def build_aliases(
    loaded: Mapping[str, Any],
    routable: Sequence[ModelProvider],
    router_entry: ModelProvider | None,
    findings: Findings,
) -> dict[str, str]:
    """alias -> canonical id; undeclared targets are problems."""
    aliases: dict[str, str] = {}
    available = ", ".join(dict.fromkeys(p.name for p in routable if not p.is_wildcard))
    for alias, value in (loaded.get("model_aliases") or {}).items():
        target = value.get("target") if isinstance(value, Mapping) else None
        if not isinstance(target, str):
            continue
        resolved = _reference(target, routable, router_entry)
        if resolved is None:
            findings.problem(
                ("model_aliases", alias, "target"),
                f"Model alias 2 - '{alias}' targets '{target}' which is not defined as a model. "
                f"Available models: {available}",
            )
            continue
        if canonical_id(alias, routable) is not None:
            findings.warn(
                ("model_aliases", alias),
                f"alias `{alias}` is also a declared model; requests for it use the alias",
            )
        aliases[alias] = resolved
    return aliases


def build_route(
    route: Mapping[str, Any],
    where: Path,
    routable: Sequence[ModelProvider],
    router_entry: ModelProvider | None,
    findings: Findings,
) -> Route | None:
    """One loaded route with its models as canonical ids, or None when a model is undeclared."""
    name = route["name"]
    models: list[str] = []
    ok = True
    for index, ref in enumerate(route["models"]):
        resolved = _reference(ref, routable, router_entry)
        if resolved is None:
            findings.problem(
                (*where, "models", index),
                f"routing_preferences route '{name}' references model '{ref}' which is not "
                "declared in model_providers",
            )
            ok = False
        elif resolved in models:
            findings.warn((*where, "models", index), f"model `{ref}` is listed twice; kept once")
        else:
            models.append(resolved)
    if not ok:
        return None
    return Route(
        name=name,
        description=route["description"],
        models=tuple(models),
        prefer=prefer_of(route),
        examples=tuple(route.get("examples") or ()),
    )


def build_routes(
    loaded: Mapping[str, Any],
    routable: Sequence[ModelProvider],
    router_entry: ModelProvider | None,
    source_types: set[str],
    findings: Findings,
) -> list[Route]:
    """Top-level routes: unique names, declared models, a metrics source for each policy."""
    routes: list[Route] = []
    seen: set[str] = set()
    for index, route in enumerate(_entries(loaded, "routing_preferences")):
        where: Path = ("routing_preferences", index)
        if not isinstance(route, Mapping) or not {"name", "description", "models"} <= set(route):
            continue
        name = route["name"]
        if name in seen:
            findings.problem(
                (*where, "name"),
                f'Duplicate routing preference name "{name}", please provide unique name for each '
                "routing preference",
            )
            continue
        seen.add(name)
        prefer = prefer_of(route)
        needed = NEEDS_SOURCE.get(prefer)
        if needed is not None and needed not in source_types:
            findings.problem(
                (*where, "selection_policy", "prefer"),
                f"routing_preferences route '{name}' uses prefer: {prefer.value} but no {needed} "
                f"metrics source is configured — add a {needed} metrics source to "
                "model_metrics_sources",
            )
        built = build_route(route, where, routable, router_entry, findings)
        if built is not None:
            routes.append(built)
    return routes


def build_sources(
    raw: Mapping[str, Any], loaded: Mapping[str, Any], findings: Findings
) -> tuple[CostSource | None, LatencySource | None, set[str]]:
    """At most one cost and one latency source; also every type declared (valid or not)."""
    declared = {
        str(item.get("type"))
        for item in (raw.get("model_metrics_sources") or [])
        if isinstance(item, Mapping)
    }
    cost: CostSource | None = None
    latency: LatencySource | None = None
    seen: set[str] = set()
    for index, item in enumerate(_entries(loaded, "model_metrics_sources")):
        if not isinstance(item, Mapping) or item.get("type") not in ("cost", "latency"):
            continue
        kind = item["type"]
        if kind in seen:
            findings.problem(
                ("model_metrics_sources", index), f"only one {kind} metrics source is allowed"
            )
            continue
        seen.add(kind)
        if kind == "cost" and "provider" in item:
            cost = CostSource(
                provider=item["provider"],
                url=item.get("url") or DEFAULT_COST_URLS[item["provider"]],
                refresh_interval_s=item.get("refresh_interval"),
                model_aliases=MappingProxyType(dict(item.get("model_aliases") or {})),
            )
        elif kind == "latency" and {"provider", "url", "query"} <= set(item):
            latency = LatencySource(
                provider=item["provider"],
                url=item["url"],
                query=item["query"],
                refresh_interval_s=item.get("refresh_interval"),
            )
    return cost, latency, declared


def build_settings(
    raw: Mapping[str, Any], loaded: Mapping[str, Any], findings: Findings
) -> Settings:
    """Settings from the loaded document; cross-section problems go to `findings`."""
    for key in IGNORED_TOP_LEVEL:
        if key in raw:
            findings.warn((key,), f"`{key}` is a Plano feature plano does not implement; ignored")
    _, providers = build_providers(raw, loaded, findings)
    overrides = build_overrides(raw, loaded, findings)
    router, router_entry = resolve_router(overrides, providers, findings)
    routable = [p for _, p in providers if p is not router_entry]
    if router_entry is not None and router_entry.default:
        where = next(path for path, p in providers if p is router_entry)
        findings.problem((*where, "default"), "the router model cannot be the default model")
    if router is not None and router.is_embedded:
        for where, provider in providers:
            if provider.provider == "plano":
                findings.warn(
                    where,
                    f"`{provider.model}` is served as an ordinary model: the router is `embedded`",
                )
    if providers and not routable:
        findings.problem((), "at least one model provider besides the router model is required")
    cost, latency, source_types = build_sources(raw, loaded, findings)
    settings = Settings(
        version=str(loaded.get("version", Settings().version)),
        listener=build_listener(raw, loaded, findings),
        providers=tuple(routable),
        model_aliases=MappingProxyType(build_aliases(loaded, routable, router_entry, findings)),
        routes=tuple(build_routes(loaded, routable, router_entry, source_types, findings)),
        cost_source=cost,
        latency_source=latency,
        routing=build_routing(raw, loaded, findings),
        overrides=overrides,
        router=router,
        observability=build_observability(loaded),
        tracing=Tracing(random_sampling=(loaded.get("tracing") or {}).get("random_sampling", 0)),
    )
    return settings


def with_source(settings: Settings, source_path: str | None, warnings: Sequence[str]) -> Settings:
    """The settings with their file path and warnings attached."""
    return replace(settings, source_path=source_path, warnings=tuple(warnings))
