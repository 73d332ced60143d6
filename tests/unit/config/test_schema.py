"""Schema and cross-section rules: each problem's exact text, path, line and column."""

from __future__ import annotations

import pytest

from plano.config.model import Prefer
from plano.config.providers import HOSTED_ROUTER_URL
from plano.config.schema import parse_timeout, unknown_key_message
from tests.unit.config.conftest import PROVIDERS, parse, problems, with_providers


def test_did_you_mean_at_every_level() -> None:
    found = problems(
        """\
        version: v0.4.0
        model_provider:
          - model: openai/gpt-4o-mini
        model_providers:
          - model: openai/gpt-4o-mini
            defualt: true
        routing:
          sesion_ttl_seconds: 5
          session_cache: {typ: memory}
        overrides: {llm_routing_modle: embedded}
        bogus: 1
        """
    )
    assert found == [
        "model_provider (line 2, col 1): unknown key `model_provider`; did you mean "
        "`model_providers`?",
        "model_providers[0].defualt (line 6, col 5): unknown key `defualt`; did you mean "
        "`default`?",
        "routing.sesion_ttl_seconds (line 8, col 3): unknown key `sesion_ttl_seconds`; did you "
        "mean `session_ttl_seconds`?",
        "routing.session_cache.typ (line 9, col 19): unknown key `typ`; did you mean `type`?",
        "overrides.llm_routing_modle (line 10, col 13): unknown key `llm_routing_modle`; did you "
        "mean `llm_routing_model`?",
        "bogus (line 11, col 1): unknown key `bogus`",
    ]


def test_unknown_key_message() -> None:
    assert unknown_key_message("routng_preferences", ["routing_preferences", "routing"]) == (
        "unknown key `routng_preferences`; did you mean `routing_preferences`?"
    )
    assert unknown_key_message("zzz", ["routing"]) == "unknown key `zzz`"


def test_missing_required_key_points_at_the_parent_mapping() -> None:
    assert problems(
        """\
        model_providers:
          - name: nameless
        """
    ) == [
        "<root> (line 1, col 1): missing required key `version`",
        "model_providers[0] (line 2, col 5): missing required key `model`",
    ]


def test_missing_providers() -> None:
    assert problems("version: v0.4.0\n") == [
        "<root> (line 1, col 1): missing required key `model_providers`"
    ]
    assert problems("version: v0.4.0\nmodel_providers: []\n") == [
        "model_providers (line 2, col 1): at least one model provider is required"
    ]


def test_type_errors() -> None:
    assert problems(
        """\
        version: v0.4.0
        model_providers:
          - model: openai/gpt-4o-mini
            default: maybe
            headers: {x-a: [1]}
        routing:
          session_ttl_seconds: 1.5
          route_on_user_only: 3
        observability: {max_body_bytes: 0}
        tracing: "on"
        """
    ) == [
        "model_providers[0].default (line 4, col 5): not a valid boolean.",
        "model_providers[0].headers.x-a (line 5, col 15): not a valid string.",
        "routing.session_ttl_seconds (line 7, col 3): not a valid integer.",
        "routing.route_on_user_only (line 8, col 3): not a valid boolean.",
        "observability.max_body_bytes (line 9, col 17): must be greater than or equal to 1.",
        "tracing (line 10, col 1): invalid input type.",
    ]


# --- listeners --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("300s", 300.0), ("30s", 30.0), ("5m", 300.0), ("500ms", 0.5), ("1h", 3600.0), (45, 45.0)],
)
def test_timeouts(value: object, seconds: float) -> None:
    assert parse_timeout(value) == seconds


@pytest.mark.parametrize("value", ["0s", "soon", "-5s", True, None, "5 minutes"])
def test_bad_timeouts(value: object) -> None:
    with pytest.raises(ValueError):
        parse_timeout(value)


def test_legacy_listener_form() -> None:
    settings = parse(
        PROVIDERS
        + "listeners:\n  egress_traffic: {address: 127.0.0.1, port: 9000, timeout: 30s}\n"
        + "  ingress_traffic: {port: 10000}\n"
    )
    assert (settings.listener.bind, settings.listener.timeout_s) == ("127.0.0.1:9000", 30.0)
    assert settings.warnings == (
        "listeners.ingress_traffic (line 9, col 3): `ingress_traffic` is not implemented; ignored",
    )


def test_at_most_one_model_listener() -> None:
    assert problems(
        with_providers(
            """\
            listeners:
              - {name: a, type: model, port: 1000}
              - {name: b, type: model, port: 1001}
            """
        )
    ) == ["listeners[1] (line 9, col 5): only one model listener is allowed, found 2"]


def test_listener_shape_errors() -> None:
    assert problems(with_providers("listeners: 12000\n")) == [
        "listeners (line 7, col 1): must be a list of listeners or the legacy `egress_traffic` "
        "object"
    ]
    assert problems(with_providers("listeners:\n  - {type: model, porrt: 1}\n")) == [
        "listeners[0] (line 8, col 5): missing required key `name`",
        "listeners[0].porrt (line 8, col 19): unknown key `porrt`; did you mean `port`?",
    ]


# --- providers --------------------------------------------------------------------------


def test_second_default_is_the_conflict() -> None:
    assert problems(
        """\
        version: v0.4.0
        model_providers:
          - model: openai/gpt-4o-mini
            default: true
          - model: openai/gpt-4o
          - model: anthropic/claude-sonnet-4-6
            default: true
        """
    ) == [
        "model_providers[2].default (line 7, col 5): only one provider may be `default: true`: "
        "model_providers[0] is already the default"
    ]


def test_wildcard_cannot_be_default() -> None:
    assert problems(
        "version: v0.4.0\nmodel_providers:\n  - {model: openai/*, default: true}\n"
    ) == [
        "model_providers[0].default (line 3, col 23): Model openai/* is configured as default but "
        "uses wildcard (*). Default models cannot be wildcards."
    ]


@pytest.mark.parametrize("prefix", ["azure_openai", "ollama", "qwen", "plano"])
def test_prefixes_that_need_a_base_url(prefix: str) -> None:
    assert problems(f"version: v0.4.0\nmodel_providers:\n  - model: {prefix}/m\n") == [
        f"model_providers[0] (line 3, col 5): Provider '{prefix}' requires 'base_url' to be set "
        f"for model {prefix}/m"
    ]


def test_custom_prefix_needs_an_interface_and_base_url() -> None:
    settings = parse(
        """\
        version: v0.4.0
        model_providers:
          - model: acme/m1
            provider_interface: anthropic
            base_url: http://acme.test
        """
    )
    assert (settings.providers[0].provider, settings.providers[0].interface) == (
        "acme",
        "anthropic",
    )
    found = problems(
        """\
        version: v0.4.0
        model_providers:
          - model: acme/m1
            provider_interface: opneai
            base_url: http://acme.test
          - model: openai/gpt-4o
            provider_interface: anthropic
        """
    )
    assert found == [
        "model_providers[0].provider_interface (line 4, col 5): unknown interface `opneai`; did "
        "you mean `openai`?",
        "model_providers[1].provider_interface (line 7, col 5): `openai` is a known provider: "
        "drop provider_interface, or give the model a custom prefix (e.g. `custom/gpt-4o`)",
    ]


@pytest.mark.parametrize("url", ["ftp://h", "localhost:11434", "http://", "not a url"])
def test_base_url_must_be_http(url: str) -> None:
    (problem,) = problems(
        f"version: v0.4.0\nmodel_providers:\n  - model: ollama/m\n    base_url: '{url}'\n"
    )
    assert problem == (
        f"model_providers[0].base_url (line 4, col 5): `{url}` is not a valid URL: provide a URL "
        "with scheme (http/https)"
    )


def test_names_full_models_and_bare_ids_are_unique() -> None:
    assert problems(
        """\
        version: v0.4.0
        model_providers:
          - {model: openai/gpt-4o, name: a}
          - {model: openai/gpt-4o-mini, name: a}
          - {model: openai/gpt-4o, name: b}
          - {model: azure_openai/gpt-4o, name: c, base_url: "https://x.openai.azure.com"}
          - {model: openai/*}
          - {model: groq/*}
        """
    ) == [
        "model_providers[1].name (line 4, col 33): Duplicate model_provider name a, please "
        "provide unique name for each model_provider (first at model_providers[0])",
        "model_providers[2].model (line 5, col 6): Duplicate model name openai/gpt-4o, please "
        "provide unique model name for each model_provider (first at model_providers[0])",
        "model_providers[3].model (line 6, col 6): Duplicate model_id gpt-4o, please provide "
        "unique model_id for each model_provider (first at model_providers[0])",
    ]


def test_model_split_at_first_slash() -> None:
    settings = parse(
        "version: v0.4.0\nmodel_providers:\n"
        "  - {model: together_ai/meta-llama/Llama-3-70b, default: true}\n"
    )
    (provider,) = settings.providers
    assert (provider.provider, provider.model_id) == ("together_ai", "meta-llama/Llama-3-70b")


def test_passthrough_with_key_warns() -> None:
    settings = parse(
        "version: v0.4.0\nmodel_providers:\n"
        "  - {model: openai/gpt-4o, passthrough_auth: true, access_key: k}\n"
    )
    assert settings.warnings == (
        "model_providers[0].access_key (line 3, col 52): provider 'openai/gpt-4o' has both "
        "'passthrough_auth: true' and 'access_key': the access_key is ignored",
    )


def test_ollama_base_url_path_warns() -> None:
    settings = parse(
        "version: v0.4.0\nmodel_providers:\n"
        "  - {model: ollama/llama3, base_url: 'http://localhost:11434/api'}\n"
    )
    assert settings.warnings == (
        "model_providers[0].base_url (line 3, col 28): Ollama's OpenAI-compatible API is under "
        "/v1: use a base_url like http://localhost:11434 (or .../v1)",
    )


# --- aliases and routes -----------------------------------------------------------------


def test_alias_targets_resolve_to_canonical_ids() -> None:
    settings = parse(
        with_providers(
            """\
            model_aliases:
              a: {target: gpt-4o-mini}
              b: {target: openai/gpt-4o}
              c: {target: anthropic/claude-sonnet-4-6}
            """
        )
    )
    assert dict(settings.model_aliases) == {
        "a": "openai/gpt-4o-mini",
        "b": "openai/gpt-4o",
        "c": "anthropic/claude-sonnet-4-6",
    }


def test_conformance_35_undeclared_route_model_and_alias_target() -> None:
    assert problems(
        with_providers(
            """\
            model_aliases:
              fast-model: {target: gpt-5}
            routing_preferences:
              - name: code_generation
                description: code
                models: [anthropic/claude-sonnet-4-6, mistral/codestral]
            """
        )
    ) == [
        "model_aliases.fast-model.target (line 8, col 16): Model alias 2 - 'fast-model' targets "
        "'gpt-5' which is not defined as a model. Available models: openai/gpt-4o-mini, "
        "openai/gpt-4o, anthropic/claude-sonnet-4-6",
        "routing_preferences[0].models[1] (line 12, col 43): routing_preferences route "
        "'code_generation' references model 'mistral/codestral' which is not declared in "
        "model_providers",
    ]


def test_wildcard_does_not_declare_a_route_model() -> None:
    assert problems(
        """\
        version: v0.4.0
        model_providers:
          - model: openai/*
        routing_preferences:
          - {name: r, description: d, models: [openai/gpt-4o]}
        """
    ) == [
        "routing_preferences[0].models[0] (line 5, col 40): routing_preferences route 'r' "
        "references model 'openai/gpt-4o' which is not declared in model_providers"
    ]


@pytest.mark.parametrize(
    "policy",
    [
        "",
        "selection_policy: {}",
        "selection_policy: null",
        "selection_policy: {prefer: null}",
        "selection_policy: {prefer: ''}",
        "selection_policy: {prefer: none}",
    ],
)
def test_prefer_missing_null_or_empty_means_none(policy: str) -> None:
    settings = parse(
        with_providers(
            "routing_preferences:\n"
            "  - name: r\n    description: d\n    models: [gpt-4o, gpt-4o-mini]\n"
            + (f"    {policy}\n" if policy else "")
        )
    )
    (route,) = settings.routes
    assert route.prefer is Prefer.NONE
    assert route.models == ("openai/gpt-4o", "openai/gpt-4o-mini")


def test_route_rules() -> None:
    assert problems(
        with_providers(
            """\
            routing_preferences:
              - {name: r, description: d, models: [gpt-4o], selection_policy: {prefer: cheap}}
              - {name: r, description: d, models: [gpt-4o]}
              - {name: s, description: d, models: gpt-4o}
              - {name: '', description: d, models: [gpt-4o]}
            """
        )
    ) == [
        "routing_preferences[0].selection_policy.prefer (line 8, col 68): must be one of "
        "cheapest, fastest, none (got `cheap`)",
        'routing_preferences[1].name (line 9, col 6): Duplicate routing preference name "r", '
        "please provide unique name for each routing preference",
        "routing_preferences[2].models (line 10, col 31): not a valid list.",
        "routing_preferences[3].name (line 11, col 6): shorter than minimum length 1.",
    ]


def test_route_model_listed_twice_is_kept_once() -> None:
    settings = parse(
        with_providers(
            "routing_preferences:\n  - {name: r, description: d, models: [gpt-4o, openai/gpt-4o]}\n"
        )
    )
    assert settings.routes[0].models == ("openai/gpt-4o",)
    assert settings.warnings == (
        "routing_preferences[0].models[1] (line 8, col 48): model `openai/gpt-4o` is listed "
        "twice; kept once",
    )


def test_conformance_18_policies_need_metrics_sources() -> None:
    assert problems(
        with_providers(
            """\
            routing_preferences:
              - name: general
                description: d
                models: [gpt-4o, gpt-4o-mini]
                selection_policy: {prefer: cheapest}
              - name: quick
                description: d
                models: [gpt-4o-mini]
                selection_policy: {prefer: fastest}
            """
        )
    ) == [
        "routing_preferences[0].selection_policy.prefer (line 11, col 24): routing_preferences "
        "route 'general' uses prefer: cheapest but no cost metrics source is configured — add a "
        "cost metrics source to model_metrics_sources",
        "routing_preferences[1].selection_policy.prefer (line 15, col 24): routing_preferences "
        "route 'quick' uses prefer: fastest but no latency metrics source is configured — add a "
        "latency metrics source to model_metrics_sources",
    ]


def test_conformance_18_only_one_cost_source() -> None:
    assert problems(
        with_providers(
            """\
            model_metrics_sources:
              - {type: cost, provider: digitalocean}
              - {type: cost, provider: models.dev}
              - {type: latency, provider: prometheus, url: "http://p:9090", query: up}
              - {type: latency, provider: prometheus, url: "http://p:9090", query: up}
            """
        )
    ) == [
        "model_metrics_sources[1] (line 9, col 5): only one cost metrics source is allowed",
        "model_metrics_sources[3] (line 11, col 5): only one latency metrics source is allowed",
    ]


def test_metrics_source_rules() -> None:
    assert problems(
        with_providers(
            """\
            model_metrics_sources:
              - {type: cost, provider: openrouter, refresh_interval: 0}
              - {type: latency, provider: prometheus}
              - {type: tokens}
              - {provider: prometheus}
            """
        )
    ) == [
        "model_metrics_sources[0].provider (line 8, col 18): must be one of: digitalocean, "
        "models.dev.",
        "model_metrics_sources[0].refresh_interval (line 8, col 40): must be greater than or "
        "equal to 1.",
        "model_metrics_sources[1] (line 9, col 5): missing required key `url`",
        "model_metrics_sources[1] (line 9, col 5): missing required key `query`",
        "model_metrics_sources[2].type (line 10, col 6): must be `cost` or `latency`, not `tokens`",
        "model_metrics_sources[3] (line 11, col 5): missing required key `type` (cost or latency)",
    ]


def test_cost_source_default_urls() -> None:
    for provider, url in [
        ("digitalocean", "https://api.digitalocean.com/v2/gen-ai/models/catalog"),
        ("models.dev", "https://models.dev/api.json"),
    ]:
        settings = parse(
            with_providers(f"model_metrics_sources: [{{type: cost, provider: {provider}}}]\n")
        )
        assert settings.cost_source is not None
        assert settings.cost_source.url == url
        assert settings.cost_source.refresh_interval_s is None


# --- routing, overrides -----------------------------------------------------------------


def test_conformance_33_session_max_entries_is_capped() -> None:
    assert problems(with_providers("routing: {session_max_entries: 20000}\n")) == [
        "routing.session_max_entries (line 7, col 11): must be greater than or equal to 1 and "
        "less than or equal to 10000."
    ]
    assert (
        parse(with_providers("routing: {session_max_entries: 10000}\n")).routing.session_max_entries
        == 10000
    )


def test_session_cache_rules() -> None:
    assert problems(
        with_providers(
            """\
            routing:
              session_ttl_seconds: 0
              session_cache: {type: redis, url: "http://r:6379"}
            """
        )
    ) == [
        "routing.session_ttl_seconds (line 8, col 3): must be greater than or equal to 1.",
        "routing.session_cache.url (line 9, col 32): must be a redis:// or rediss:// URL",
    ]
    assert problems(with_providers("routing: {session_cache: {type: memcached}}\n")) == [
        "routing.session_cache.type (line 7, col 27): must be one of: memory, redis."
    ]


def test_overrides_rules() -> None:
    assert problems(
        with_providers(
            """\
            overrides:
              llm_routing_timeout: 0
              llm_routing_fallback: hosted
              orchestrator_model_context_length: -1
            """
        )
    ) == [
        "overrides.llm_routing_timeout (line 8, col 3): must be greater than 0.",
        "overrides.llm_routing_fallback (line 9, col 3): must be one of: embedded.",
        "overrides.orchestrator_model_context_length (line 10, col 3): must be greater than or "
        "equal to 1.",
    ]


# --- the router model -------------------------------------------------------------------


def test_default_router_is_hosted() -> None:
    router = parse(PROVIDERS).router
    assert router is not None
    assert router.url == HOSTED_ROUTER_URL
    assert dict(router.headers) == {"model": "plano-orchestrator"}
    assert router.model_id == "Plano-Orchestrator"
    assert not router.is_embedded
    assert router.prompt_format == "plano-orchestrator"


def test_embedded_router() -> None:
    settings = parse(
        PROVIDERS
        + "  - {model: plano/Plano-Orchestrator, base_url: 'http://h:1'}\n"
        + "overrides: {llm_routing_model: embedded}\n"
    )
    router = settings.router
    assert router is not None and router.is_embedded
    assert (router.model_id, router.url) == ("embedded", "")
    assert "plano/Plano-Orchestrator" in [p.name for p in settings.providers]
    assert settings.warnings == (
        "model_providers[3] (line 7, col 5): `plano/Plano-Orchestrator` is served as an "
        "ordinary model: the router is `embedded`",
    )


def test_self_hosted_router_is_removed_from_providers() -> None:
    settings = parse(
        PROVIDERS
        + "  - model: plano/hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M\n"
        + "    base_url: http://localhost:11434\n"
        + "    access_key: ${ROUTER_KEY:-}\n"
        + "overrides: {llm_routing_model: 'plano/hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M'}\n"
    )
    router = settings.router
    assert router is not None
    assert router.model_id == "hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M"
    assert router.url == "http://localhost:11434/v1/chat/completions"
    assert dict(router.headers) == {}
    assert router.prompt_format == "arch-router"
    assert [p.provider for p in settings.providers] == ["openai", "openai", "anthropic"]


def test_router_with_path_base_url_and_key() -> None:
    settings = parse(
        PROVIDERS
        + "  - {model: plano/Plano-Orchestrator, base_url: 'https://r.test/api/v1', "
        + "access_key: rk}\n"
        + "overrides: {llm_routing_model: plano/Plano-Orchestrator}\n"
    )
    router = settings.router
    assert router is not None
    assert router.url == "https://r.test/api/v1/chat/completions"
    assert dict(router.headers) == {"Authorization": "Bearer rk"}


def test_bare_router_name_uses_a_matching_plano_entry() -> None:
    settings = parse(
        PROVIDERS + "  - {model: plano/Plano-Orchestrator, base_url: 'http://o:10000'}\n"
    )
    assert settings.router is not None
    assert settings.router.url == "http://o:10000/v1/chat/completions"
    assert len(settings.providers) == 3


def test_router_errors() -> None:
    assert problems(PROVIDERS + "overrides: {llm_routing_model: plano/Plano-Orchestrator}\n") == [
        "overrides.llm_routing_model (line 7, col 13): the router model "
        "`plano/Plano-Orchestrator` is not declared in model_providers: add an entry "
        "`model: plano/Plano-Orchestrator` with the base_url that serves it"
    ]
    assert problems(PROVIDERS + "overrides: {llm_routing_model: openai/gpt-4o}\n") == [
        "overrides.llm_routing_model (line 7, col 13): the router model `openai/gpt-4o` must be "
        "self-hosted: give its model_providers entry a base_url"
    ]


def test_router_entry_is_not_routable() -> None:
    assert problems(
        PROVIDERS
        + "  - {model: plano/Plano-Orchestrator, base_url: 'http://o:1'}\n"
        + "model_aliases: {r: {target: plano/Plano-Orchestrator}}\n"
        + "overrides: {llm_routing_model: plano/Plano-Orchestrator}\n"
    ) == [
        "model_aliases.r.target (line 8, col 21): Model alias 2 - 'r' targets "
        "'plano/Plano-Orchestrator' which is not defined as a model. Available models: "
        "openai/gpt-4o-mini, openai/gpt-4o, anthropic/claude-sonnet-4-6"
    ]
