"""The loader: files, YAML errors, env substitution, located problems all at once, warnings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.config.loader import load_settings, substitute
from plano.config.model import Prefer, SessionCacheType
from plano.errors import ConfigError
from tests.unit.config.conftest import DATA, PROVIDERS, parse, problems, with_providers

GOOD_ENV = {"OPENAI_API_KEY": "sk-openai", "GROQ_API_KEY": "gsk"}


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("$A", {"A": "x"}, "x"),
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A:-dflt}", {}, "dflt"),
        ("${A:-dflt}", {"A": ""}, "dflt"),
        ("${A:-dflt}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("$A$B", {"A": "1", "B": "2"}, "12"),
        ("cost $$5", {}, "cost $5"),
        ("no variables", {}, "no variables"),
        ("$5 and $", {}, "$5 and $"),
    ],
)
def test_substitute_forms(text: str, env: dict[str, str], expected: str) -> None:
    assert substitute(text, env) == (expected, [])


def test_substitute_reports_unset_and_malformed() -> None:
    value, found = substitute("${NOPE} $ALSO ${bad", {})
    assert value == "  ${bad"
    assert found == [
        "environment variable `NOPE` is not set (set it, or write `${NOPE:-default}`)",
        "environment variable `ALSO` is not set (set it, or write `${ALSO:-default}`)",
        "malformed variable reference `${bad`: use ${VAR} or ${VAR:-default}",
    ]


def test_env_substitution_in_string_values_only() -> None:
    settings = parse(
        """\
        version: v0.4.0
        listeners:
          - {name: l, type: model, port: "${PORT:-9000}"}
        model_providers:
          - model: openai/gpt-4o-mini
            access_key: $OPENAI_API_KEY
            headers: {x-team: "${TEAM:-core}"}
        routing:
          session_cache: {type: redis, url: "${REDIS_URL}"}
        """,
        {"OPENAI_API_KEY": "sk-1", "REDIS_URL": "redis://:pw@r:6379/0"},
    )
    (provider,) = settings.providers
    assert provider.access_key == "sk-1"
    assert dict(provider.headers) == {"x-team": "core"}
    assert settings.listener.port == 9000
    assert settings.routing.session_cache.url == "redis://:pw@r:6379/0"


def test_unset_variable_is_a_located_error_naming_it() -> None:
    assert problems(
        """\
        version: v0.4.0
        model_providers:
          - model: openai/gpt-4o-mini
            access_key: $OPENAI_API_KEY
        """
    ) == [
        "model_providers[0].access_key (line 4, col 5): environment variable `OPENAI_API_KEY` "
        "is not set (set it, or write `${OPENAI_API_KEY:-default}`)"
    ]


def test_empty_default_access_key_is_none() -> None:
    settings = parse(
        """\
        version: v0.4.0
        model_providers:
          - model: openai/gpt-4o-mini
            access_key: ${OPENAI_API_KEY:-}
        """
    )
    assert settings.providers[0].access_key is None


def test_load_settings_reads_a_full_config() -> None:
    settings = load_settings(DATA / "good_full.yaml", GOOD_ENV)
    assert settings.source_path == str(DATA / "good_full.yaml")
    assert settings.listener.bind == "127.0.0.1:8080"
    assert settings.listener.timeout_s == 300.0
    names = [p.name for p in settings.providers]
    assert names == [
        "openai/gpt-4o-mini",
        "smart",
        "anthropic/claude-sonnet-4-6",
        "groq/*",
        "acme/llama-70b",
    ]  # the router's entry (plano/Plano-Orchestrator) is not routable
    assert settings.default_provider is not None
    assert settings.default_provider.name == "openai/gpt-4o-mini"
    assert settings.providers[0].access_key == "sk-openai"
    assert settings.providers[2].access_key is None
    assert settings.providers[4].interface == "openai"
    assert settings.providers[4].passthrough_auth is True
    assert dict(settings.model_aliases) == {
        "fast-model": "openai/gpt-4o-mini",
        "creative-model": "anthropic/claude-sonnet-4-6",
    }
    routes = {route.name: route for route in settings.routes}
    assert routes["complex_reasoning"].models == ("smart", "openai/gpt-4o-mini")
    assert routes["complex_reasoning"].prefer is Prefer.CHEAPEST
    assert routes["code_generation"].models == ("anthropic/claude-sonnet-4-6", "smart")
    assert routes["code_generation"].prefer is Prefer.FASTEST
    assert routes["code_generation"].examples == ("write a binary search in Python",)
    assert routes["chit_chat"].prefer is Prefer.NONE
    assert settings.cost_source is not None
    assert settings.cost_source.url == "https://models.dev/api.json"
    assert settings.cost_source.refresh_interval_s == 600
    assert dict(settings.cost_source.model_aliases) == {"openai/gpt-oss-120b": "openai/gpt-4o"}
    assert settings.latency_source is not None
    assert settings.latency_source.query == "avg by (model_name) (plano_latency)"
    routing = settings.routing
    assert (routing.session_ttl_seconds, routing.session_max_entries) == (60, 50)
    assert routing.session_cache.type is SessionCacheType.REDIS
    assert routing.session_cache.url == "rediss://:s3cret@redis.test:6380/1"
    assert routing.session_cache.tenant_header == "x-org-id"
    assert routing.route_on_user_only and routing.classify_all_requests
    assert settings.overrides.orchestrator_model_context_length == 4096
    assert settings.overrides.llm_routing_timeout == 2.5
    assert settings.overrides.llm_routing_fallback == "embedded"
    assert settings.router is not None
    assert settings.router.url == "http://plano-orchestrator:10000/v1/chat/completions"
    assert settings.router.model_id == "Plano-Orchestrator"
    assert settings.tracing.random_sampling == 10
    assert settings.observability.request_log == "/var/log/plano/requests.jsonl"
    assert settings.observability.max_body_bytes == 1048576
    assert settings.warnings == (
        "listeners[1] (line 10, col 5): listener `prompts` (type prompt) is ignored: plano "
        "serves only the model listener",
        "overrides.upstream_connect_timeout (line 85, col 3): `upstream_connect_timeout` is not "
        "implemented; ignored",
        "prompt_targets (line 95, col 1): `prompt_targets` is a Plano feature plano does not "
        "implement; ignored",
    )


def test_defaults_for_a_minimal_config() -> None:
    settings = parse(PROVIDERS)
    assert settings.listener.bind == "0.0.0.0:12000"
    assert settings.listener.timeout_s == 300.0
    assert settings.routing.session_ttl_seconds == 600
    assert settings.routing.session_max_entries == 10000
    assert settings.routing.session_cache.type is SessionCacheType.MEMORY
    assert settings.overrides.llm_routing_model == "Plano-Orchestrator"
    assert settings.overrides.orchestrator_model_context_length is None
    assert settings.overrides.llm_routing_timeout == 5.0
    assert settings.overrides.llm_routing_fallback is None
    assert settings.observability.request_log == "-"
    assert settings.observability.max_body_bytes == 10 * 1024 * 1024
    assert settings.routes == () and settings.cost_source is None
    assert settings.source_path is None and settings.warnings == ()


def test_every_problem_at_once_with_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(DATA / "bad_many.yaml", {})
    assert list(caught.value.problems) == [
        "listeners[0].port (line 5, col 5): must be greater than or equal to 1 and less than or "
        "equal to 65535.",
        "listeners[0].timeout (line 6, col 5): `forever` is not a duration: use e.g. `300s`, `5m` "
        "or a number of seconds > 0",
        "model_providers[0].access_key (line 9, col 5): environment variable `MISSING_KEY` is not "
        "set (set it, or write `${MISSING_KEY:-default}`)",
        "model_providers[1].default (line 12, col 5): only one provider may be `default: true`: "
        "model_providers[0] is already the default",
        "model_providers[1].base_url (line 13, col 5): `ftp://example.test` is not a valid URL: "
        "provide a URL with scheme (http/https)",
        "model_providers[2] (line 14, col 5): Provider 'ollama' requires 'base_url' to be set for "
        "model ollama/llama3",
        "model_providers[3].model (line 15, col 5): Invalid model name gpt-4o. Please provide "
        "model name in the format <provider>/<model_id> or <provider>/* for wildcards.",
        "model_providers[4] (line 16, col 5): Must provide base_url and provider_interface for "
        "unsupported provider custom for model custom/thing. Supported providers are: anthropic, "
        "azure_openai, deepseek, digitalocean, edenai, gemini, google, groq, mistral, moonshotai, "
        "ollama, openai, openrouter, perplexity, plano, qwen, together_ai, vercel, xai, xiaomi, "
        "zhipu",
        "model_providers[5].model (line 17, col 5): Duplicate model_provider name openai/gpt-4o, "
        "please provide unique name for each model_provider (first at model_providers[1])",
        "model_providers[5].nmae (line 18, col 5): unknown key `nmae`; did you mean `name`?",
        "model_aliases.fast-model.target (line 21, col 5): Model alias 2 - 'fast-model' targets "
        "'gpt-9' which is not defined as a model. Available models: openai/gpt-4o-mini, "
        "openai/gpt-4o, ollama/llama3",
        "routng_preferences (line 22, col 1): unknown key `routng_preferences`; did you mean "
        "`routing_preferences`?",
        "routing_preferences[0].models[0] (line 26, col 14): routing_preferences route 'code' "
        "references model 'mistral/codestral' which is not declared in model_providers",
        "routing_preferences[0].selection_policy.prefer (line 27, col 24): routing_preferences "
        "route 'code' uses prefer: cheapest but no cost metrics source is configured — add a "
        "cost metrics source to model_metrics_sources",
        "routing_preferences[1] (line 28, col 5): missing required key `description`",
        "routing_preferences[1].models (line 29, col 5): must name at least one model",
        "routing.session_max_entries (line 31, col 3): must be greater than or equal to 1 and "
        "less than or equal to 10000.",
        "routing.session_cache (line 32, col 3): `url` is required when type is redis",
        "overrides.llm_routing_model (line 34, col 3): the router model `plano/missing` is not "
        "declared in model_providers: add an entry `model: plano/missing` with the base_url that "
        "serves it",
    ]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.yaml", {})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'absent.yaml'}: cannot read the config: ")


def test_yaml_syntax_error_is_located() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(DATA / "not_yaml.yaml", {})
    assert caught.value.problems == (
        f"{DATA / 'not_yaml.yaml'} (line 5, col 1): expected ',' or ']', but got '<stream end>'",
    )


def test_duplicate_keys_are_rejected() -> None:
    (problem,) = problems("version: v0.4.0\nversion: v0.4.0\n")
    assert problem.startswith("<config> (line 2, col 1): ")
    assert "duplicate key" in problem


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_document_must_be_a_mapping(text: str) -> None:
    assert problems(text) == [
        "<config> (line 1, col 1): the config must be a mapping of top-level keys"
    ]


def test_ignored_plano_keys_warn() -> None:
    settings = parse(
        with_providers(
            """\
            prompt_targets: []
            agents: []
            filters: []
            routing:
              routing_budget: {}
            """
        )
    )
    assert settings.warnings == (
        "prompt_targets (line 7, col 1): `prompt_targets` is a Plano feature plano does not "
        "implement; ignored",
        "agents (line 8, col 1): `agents` is a Plano feature plano does not implement; ignored",
        "filters (line 9, col 1): `filters` is a Plano feature plano does not implement; ignored",
        "routing.routing_budget (line 11, col 3): `routing_budget` is not implemented; ignored",
    )


def test_llm_providers_is_deprecated_and_both_is_an_error() -> None:
    text = PROVIDERS.replace("model_providers", "llm_providers")
    assert parse(text).warnings == (
        "llm_providers (line 2, col 1): `llm_providers` is deprecated: rename it to "
        "`model_providers`",
    )
    both = PROVIDERS + "llm_providers:\n  - model: openai/o3\n"
    assert problems(both) == [
        "llm_providers (line 7, col 1): Please provide either llm_providers or model_providers, "
        "not both. llm_providers is deprecated, please use model_providers instead"
    ]


@given(st.text().filter(lambda text: "$" not in text))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert substitute(text, {"A": "x"}) == (text, [])


@given(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.text(alphabet=st.characters(blacklist_characters="}$"), max_size=20),
)
def test_default_applies_when_unset(name: str, default: str) -> None:
    assert substitute(f"${{{name}:-{default}}}", {}) == (default, [])
    assert substitute(f"${{{name}:-{default}}}", {name: "set"}) == ("set", [])
