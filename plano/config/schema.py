"""Marshmallow schemas for every config section, and their errors as located problems.

Each schema checks one mapping: types, ranges, unknown keys (with "did you mean"). Rules that
span sections (declared models, default provider, metrics sources) live in rules.py.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from plano.config.yamlpos import Path, Problem

REQUIRED_MESSAGE = "Missing data for required field."
TIMEOUT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
TIMEOUT_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

# Plano keys we accept and ignore (each with a warning), per section.
IGNORED_TOP_LEVEL = (
    "agents",
    "endpoints",
    "filters",
    "mode",
    "prompt_caching",
    "prompt_guards",
    "prompt_targets",
    "ratelimits",
    "state_storage",
    "system_prompt",
)
IGNORED_OVERRIDES = (
    "agent_orchestration_model",
    "disable_signals",
    "optimize_context_window",
    "prompt_target_intent_matching_threshold",
    "upstream_connect_timeout",
    "upstream_tls_ca_path",
    "use_agent_orchestrator",
)
IGNORED_ROUTING = ("llm_provider", "model", "routing_budget")
IGNORED_LISTENER = ("max_retries", "router", "agents", "input_filters", "output_filters")

DEFAULT_COST_URLS = {
    "digitalocean": "https://api.digitalocean.com/v2/gen-ai/models/catalog",
    "models.dev": "https://models.dev/api.json",
}


def unknown_key_message(key: str, known: Iterable[str]) -> str:
    """`unknown key `x``, with the closest valid key when one is close."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown key `{key}`{hint}"


def is_http_url(value: str) -> bool:
    """True for an http(s) URL with a host."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_timeout(value: object) -> float:
    """Seconds from `300s`, `5m`, `500ms`, `1h` or a number; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := TIMEOUT_RE.match(value)):
        seconds = float(match[1]) * TIMEOUT_UNITS[match[2]]
    else:
        raise ValueError(value)
    if seconds <= 0:
        raise ValueError(value)
    return seconds


class Int(fields.Integer):
    """An integer: a YAML int, or a string of digits (what `${VAR}` substitution yields)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or isinstance(value, float):
            raise self.make_error("invalid")
        if isinstance(value, str) and not re.fullmatch(r"\s*-?\d+\s*", value):
            raise self.make_error("invalid")
        return super()._validated(value)


class Seconds(fields.Field[float]):
    """A duration: `300s`, `30s`, `5m`, `500ms` or a number of seconds (> 0)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            return parse_timeout(value)
        except ValueError:
            raise ValidationError(
                f"`{value}` is not a duration: use e.g. `300s`, `5m` or a number of seconds > 0"
            ) from None


class HttpUrl(fields.String):
    """An http(s) URL."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_http_url(text):
            raise ValidationError(
                f"`{text}` is not a valid URL: provide a URL with scheme (http/https)"
            )
        return text


class StrictSchema(Schema):
    """A mapping whose unknown keys are errors, with the closest valid key suggested."""

    ignored_keys: tuple[str, ...] = ()

    class Meta:
        unknown = EXCLUDE

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _reject_unknown_keys(self, data: Any, original_data: Any, **kwargs: Any) -> None:
        if not isinstance(original_data, Mapping):
            return
        known = set(self.load_fields) | set(self.ignored_keys)
        errors = {
            str(key): [unknown_key_message(str(key), known)]
            for key in original_data
            if key not in known
        }
        if errors:
            raise ValidationError(errors)


class ListenerSchema(StrictSchema):
    """One list-form listener."""

    ignored_keys = IGNORED_LISTENER
    name = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["model", "prompt", "agent"]))
    address = fields.String()
    port = Int(validate=validate.Range(1, 65535))
    timeout = Seconds()
    message_format = fields.String()


class EgressSchema(StrictSchema):
    """The legacy `egress_traffic` (or `ingress_traffic`) listener."""

    address = fields.String()
    port = Int(validate=validate.Range(1, 65535))
    timeout = Seconds()
    message_format = fields.String()


class LegacyListenersSchema(StrictSchema):
    """The legacy object form of `listeners`."""

    egress_traffic = fields.Nested(EgressSchema)
    ingress_traffic = fields.Nested(EgressSchema)


class ListenersField(fields.Field[Any]):
    """`listeners`: the list form or the legacy object form."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list):
            return fields.List(fields.Nested(ListenerSchema)).deserialize(value)
        if isinstance(value, Mapping):
            return fields.Nested(LegacyListenersSchema).deserialize(value)
        raise ValidationError("must be a list of listeners or the legacy `egress_traffic` object")


class InlinePreferenceSchema(StrictSchema):
    """A v0.3.0 inline routing preference under a provider."""

    name = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String(required=True)


class ProviderSchema(StrictSchema):
    """One `model_providers` entry."""

    ignored_keys = ("http_host",)
    model = fields.String(required=True)
    name = fields.String(validate=validate.Length(min=1))
    access_key = fields.String(allow_none=True)
    default = fields.Boolean()
    base_url = HttpUrl()
    provider_interface = fields.String()
    passthrough_auth = fields.Boolean()
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    routing_preferences = fields.List(fields.Nested(InlinePreferenceSchema))


class AliasSchema(StrictSchema):
    """One `model_aliases` value."""

    target = fields.String(required=True, validate=validate.Length(min=1))


class SelectionPolicySchema(StrictSchema):
    """`selection_policy`: `prefer` missing, null or "" means none."""

    prefer = fields.String(
        allow_none=True,
        validate=validate.OneOf(
            ["cheapest", "fastest", "none", ""],
            error="must be one of cheapest, fastest, none (got `{input}`)",
        ),
    )


class RouteSchema(StrictSchema):
    """One top-level (or per-request) routing preference."""

    name = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String(required=True)
    models = fields.List(
        fields.String(validate=validate.Length(min=1)),
        required=True,
        validate=validate.Length(min=1, error="must name at least one model"),
    )
    selection_policy = fields.Nested(SelectionPolicySchema, allow_none=True)
    examples = fields.List(fields.String())


class CostSourceSchema(StrictSchema):
    """A `type: cost` metrics source."""

    type = fields.String(required=True)
    provider = fields.String(required=True, validate=validate.OneOf(sorted(DEFAULT_COST_URLS)))
    url = HttpUrl()
    refresh_interval = Int(validate=validate.Range(min=1))
    model_aliases = fields.Dict(keys=fields.String(), values=fields.String())


class LatencySourceSchema(StrictSchema):
    """A `type: latency` metrics source."""

    type = fields.String(required=True)
    provider = fields.String(required=True, validate=validate.OneOf(["prometheus"]))
    url = HttpUrl(required=True)
    query = fields.String(required=True, validate=validate.Length(min=1))
    refresh_interval = Int(validate=validate.Range(min=1))


METRICS_SOURCE_SCHEMAS: Mapping[str, type[Schema]] = {
    "cost": CostSourceSchema,
    "latency": LatencySourceSchema,
}


class MetricsSourceField(fields.Field[Any]):
    """One `model_metrics_sources` entry, checked by the schema its `type` selects."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError("must be a mapping with a `type`")
        kind = value.get("type")
        schema = METRICS_SOURCE_SCHEMAS.get(kind) if isinstance(kind, str) else None
        if schema is None:
            if "type" not in value:
                raise ValidationError("missing required key `type` (cost or latency)")
            raise ValidationError({"type": [f"must be `cost` or `latency`, not `{kind}`"]})
        return fields.Nested(schema).deserialize(value)


class SessionCacheSchema(StrictSchema):
    """`routing.session_cache`."""

    type = fields.String(validate=validate.OneOf(["memory", "redis"]))
    url = fields.String()
    tenant_header = fields.String(validate=validate.Length(min=1))

    @validates_schema
    def _redis_needs_url(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        if data.get("type") != "redis":
            return
        url = data.get("url")
        if not url:
            raise ValidationError("`url` is required when type is redis")
        if urlsplit(url).scheme not in ("redis", "rediss"):
            raise ValidationError({"url": ["must be a redis:// or rediss:// URL"]})


class RoutingSchema(StrictSchema):
    """`routing`."""

    ignored_keys = IGNORED_ROUTING
    session_ttl_seconds = Int(validate=validate.Range(min=1))
    session_max_entries = Int(validate=validate.Range(1, 10000))
    session_cache = fields.Nested(SessionCacheSchema)
    route_on_user_only = fields.Boolean()
    classify_all_requests = fields.Boolean()


class OverridesSchema(StrictSchema):
    """`overrides`."""

    ignored_keys = IGNORED_OVERRIDES
    llm_routing_model = fields.String(validate=validate.Length(min=1))
    orchestrator_model_context_length = Int(validate=validate.Range(min=1))
    llm_routing_timeout = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    llm_routing_fallback = fields.String(allow_none=True, validate=validate.OneOf(["embedded"]))


class TracingSchema(StrictSchema):
    """`tracing`: accepted; only `random_sampling` is kept."""

    random_sampling = Int(validate=validate.Range(0, 100))
    trace_arch_internal = fields.Boolean()
    opentracing_grpc_endpoint = fields.String()
    span_attributes = fields.Dict()
    exporters = fields.List(fields.Raw())


class ObservabilitySchema(StrictSchema):
    """`observability` (ours)."""

    request_log = fields.String(validate=validate.Length(min=1))
    max_body_bytes = Int(validate=validate.Range(min=1))


class ConfigSchema(StrictSchema):
    """The whole document."""

    ignored_keys = IGNORED_TOP_LEVEL
    version = fields.String(required=True)
    listeners = ListenersField()
    model_providers = fields.List(fields.Nested(ProviderSchema))
    llm_providers = fields.List(fields.Nested(ProviderSchema))
    model_aliases = fields.Dict(keys=fields.String(), values=fields.Nested(AliasSchema))
    routing_preferences = fields.List(fields.Nested(RouteSchema))
    model_metrics_sources = fields.List(MetricsSourceField())
    routing = fields.Nested(RoutingSchema)
    overrides = fields.Nested(OverridesSchema)
    tracing = fields.Nested(TracingSchema)
    observability = fields.Nested(ObservabilitySchema)


@dataclass(frozen=True, slots=True)
class Checked:
    """Schema output: what loaded (invalid parts dropped) and every problem found."""

    data: Mapping[str, Any]
    problems: tuple[Problem, ...]


def problems_from_messages(messages: Any, path: Path = ()) -> list[Problem]:
    """Marshmallow's nested error messages as located problems."""
    found: list[Problem] = []
    if isinstance(messages, Mapping):
        for key, sub in messages.items():
            if key == "_schema":
                found += problems_from_messages(sub, path)
            elif key in ("key", "value") and path:
                found += problems_from_messages(sub, path)  # a Dict field's key/value
            else:
                found += problems_from_messages(sub, (*path, key))
    elif isinstance(messages, list):
        for message in messages:
            found += problems_from_messages(message, path)
    elif messages == REQUIRED_MESSAGE and path:
        found.append(Problem(path[:-1], f"missing required key `{path[-1]}`"))
    else:
        text = str(messages)
        found.append(Problem(path, text[:1].lower() + text[1:] if text[1:2].islower() else text))
    return found


def check_section(schema: Schema, data: object, path: Path = ()) -> Checked:
    """Load `data` with `schema`: the valid part and the problems, located under `path`."""
    if not isinstance(data, Mapping):
        return Checked({}, (Problem(path, "must be a mapping"),))
    try:
        return Checked(schema.load(data), ())
    except ValidationError as exc:
        valid = exc.valid_data if isinstance(exc.valid_data, Mapping) else {}
        return Checked(valid, tuple(problems_from_messages(exc.messages, path)))


def check_document(data: object) -> Checked:
    """Check the whole document against the schemas (no cross-section rules)."""
    return check_section(ConfigSchema(), data)
