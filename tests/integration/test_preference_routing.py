"""Preference routing through real gunicorn: the router model picks the route (SPEC §3, §4).

The router model is FakeRouter, reached the self-hosted way (`overrides.llm_routing_model:
plano/<name>` plus a `plano/<name>` provider with a path-less base_url, as for Ollama or vLLM).
It answers by keyword (router_setup.keyword_router) and records the exact prompt and body, which
are compared with the golden builder `plano.routing.router_prompt.build_prompt`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import requests

from plano.config.loader import load_settings
from plano.routing.call import Turn
from plano.routing.router_prompt import build_prompt
from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeReply, FakeRouter
from tests.integration.router_setup import (
    CODING,
    REASONING,
    ROUTES_YAML,
    keyword_router,
    metric_value,
    providers_yaml,
    serving,
)
from tests.services.gunicorn import GunicornServer
from tests.services.ports import free_port

ROUTER_TIMEOUT_S = 0.5


class Stack:
    """The fakes and the servers of this module."""

    def __init__(self, tmp: Path, oai: FakeProvider, ant: FakeProvider, router: FakeRouter) -> None:
        self.tmp = tmp
        self.oai = oai
        self.ant = ant
        self.router = router

    def config(self, router_name: str, router_base_url: str, extra: str = "") -> str:
        """A config whose router model is `plano/<router_name>` at `router_base_url`."""
        return (
            "version: v0.4.0\n"
            + providers_yaml(self.oai.base_url, self.ant.base_url)
            + f"  - model: plano/{router_name}\n    base_url: {router_base_url}\n"
            + ROUTES_YAML
            + "overrides:\n"
            + f"  llm_routing_model: plano/{router_name}\n"
            + f"  llm_routing_timeout: {ROUTER_TIMEOUT_S}\n"
            + extra
            + "observability:\n  request_log: 'off'\n"
        )

    def reset(self) -> None:
        self.oai.clear()
        self.ant.clear()
        self.router.clear()
        self.router.reply = keyword_router()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with (
        FakeProvider(default=Behavior(text="from openai")) as oai,
        FakeProvider(default=Behavior(text="from anthropic")) as ant,
        FakeRouter(keyword_router()) as router,
    ):
        yield Stack(tmp_path_factory.mktemp("prefs"), oai, ant, router)


@pytest.fixture(scope="module")
def server(stack: Stack) -> Iterator[GunicornServer]:
    """Orchestrator-format router (model id `router-1`), fail open with no fallback."""
    with serving(stack.config("router-1", stack.router.base_url), stack.tmp / "main") as srv:
        yield srv


@pytest.fixture()
def fresh(stack: Stack) -> Stack:
    stack.reset()
    return stack


def client(server: GunicornServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="client-key", max_retries=0)


def chat(server: GunicornServer, text: str, model: str = "", **extra: Any) -> Any:
    """One non-streaming chat call through the openai SDK; returns the raw response."""
    return client(server).chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        **extra,
    )


# ------------------------------------------------------------------- the router model is asked


def test_empty_model_goes_to_the_matched_routes_first_candidate(
    server: GunicornServer, fresh: Stack
) -> None:
    raw = chat(server, f"{CODING}: write a binary search in Rust")
    assert raw.headers["x-plano-route"] == "code_generation"
    assert raw.headers["x-plano-model"] == "anthropic/claude-sonnet-4-6"
    assert "x-plano-route-error" not in raw.headers
    assert raw.parse().choices[0].message.content == "from anthropic"
    upstream = fresh.ant.requests
    assert [r.model for r in upstream] == ["claude-sonnet-4-6"]
    assert fresh.oai.requests == []


def test_router_receives_the_exact_prompt_and_body(server: GunicornServer, fresh: Stack) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Grüße! Wie geht's? 日本語も"},
        {"role": "assistant", "content": "Gut, danke."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "tool output"},
        {"role": "user", "content": f"{REASONING}: prove that √2 is irrational"},
    ]
    raw = client(server).chat.completions.with_raw_response.create(
        model="",
        messages=messages,  # type: ignore[arg-type]
    )
    assert raw.headers["x-plano-route"] == "complex_reasoning"
    assert raw.headers["x-plano-model"] == "openai/gpt-4o"
    (received,) = fresh.router.requests
    assert received.method == "POST"
    assert received.path == "/v1/chat/completions"  # path-less base_url gets /v1
    settings = load_settings(server.config_path, os.environ)
    turns = [
        Turn("system", "You are terse."),
        Turn("user", "Grüße! Wie geht's? 日本語も"),
        Turn("assistant", "Gut, danke."),
        Turn("assistant", ""),
        Turn("tool", "tool output"),
        Turn("user", f"{REASONING}: prove that √2 is irrational"),
    ]
    golden = build_prompt(settings.routes, turns, "plano-orchestrator", 8192)
    assert received.json == {
        "model": "router-1",
        "messages": [{"role": "user", "content": golden}],
        "temperature": 0.01,
    }
    # Dropped: system, tool and the tool-call-only assistant turn; non-ASCII kept as is.
    assert "You are terse." not in received.prompt
    assert "tool output" not in received.prompt
    assert "Grüße! Wie geht's? 日本語も" in received.prompt


def test_anthropic_client_is_routed_too(server: GunicornServer, fresh: Stack) -> None:
    """The Messages API needs a model string: an empty one means "route me"."""
    ant = anthropic.Anthropic(base_url=server.url, api_key="client-key", max_retries=0)
    raw = ant.messages.with_raw_response.create(
        model="",
        max_tokens=64,
        messages=[{"role": "user", "content": f"{CODING}: fix my segfault"}],
    )
    assert raw.headers["x-plano-route"] == "code_generation"
    assert raw.headers["x-plano-model"] == "anthropic/claude-sonnet-4-6"
    assert raw.parse().content[0].text == "from anthropic"  # type: ignore[union-attr]


def test_no_match_goes_to_the_default_provider(server: GunicornServer, fresh: Stack) -> None:
    raw = chat(server, "tell me a joke about cats")
    assert "x-plano-route" not in raw.headers
    assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert [r.model for r in fresh.oai.requests] == ["gpt-4o-mini"]
    assert len(fresh.router.requests) == 1


def test_named_model_skips_the_router(server: GunicornServer, fresh: Stack) -> None:
    raw = chat(server, f"{CODING}: write a parser", model="gpt-4o")
    assert raw.headers["x-plano-model"] == "openai/gpt-4o"
    assert "x-plano-route" not in raw.headers
    assert fresh.router.requests == []


def test_matched_route_falls_back_to_its_next_candidate(
    server: GunicornServer, fresh: Stack
) -> None:
    fresh.ant.set_behavior("claude-sonnet-4-6", Behavior(status=503))
    try:
        raw = chat(server, f"{CODING}: implement quicksort")
    finally:
        fresh.ant.set_behavior("claude-sonnet-4-6", Behavior(text="from anthropic"))
    assert raw.headers["x-plano-route"] == "code_generation"
    assert raw.headers["x-plano-model"] == "openai/gpt-4o"
    assert raw.headers["x-plano-attempts"] == "2"


# --------------------------------------------------------- the router model is not a model


def test_router_model_is_not_listed_nor_routable(server: GunicornServer, fresh: Stack) -> None:
    listed = {m.id for m in client(server).models.list()}
    assert listed == {"openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-sonnet-4-6"}
    for name in ("plano/router-1", "router-1"):
        with pytest.raises(openai.NotFoundError) as caught:
            chat(server, "hi", model=name)
        assert caught.value.code == "model_not_found"
    assert fresh.router.requests == []


# ------------------------------------------------------- routing_preferences in the request body


def test_request_routes_override_the_config_and_are_not_forwarded(
    server: GunicornServer, fresh: Stack
) -> None:
    fresh.router.reply = keyword_router({"TRANSLATE-ME": "translation"})
    routes = [
        {
            "name": "translation",
            "description": "translating text between languages",
            "models": ["gpt-4o-mini", "claude-sonnet-4-6"],
        }
    ]
    raw = chat(
        server, "TRANSLATE-ME: 'bonjour' in German", extra_body={"routing_preferences": routes}
    )
    assert raw.headers["x-plano-route"] == "translation"
    assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
    prompt = fresh.router.requests[0].prompt
    assert '"name": "translation"' in prompt
    assert "code_generation" not in prompt
    (forwarded,) = fresh.oai.requests
    assert isinstance(forwarded.json, dict)
    assert "routing_preferences" not in forwarded.json
    assert forwarded.json["model"] == "gpt-4o-mini"


def test_empty_request_routes_turn_routing_off(server: GunicornServer, fresh: Stack) -> None:
    raw = chat(server, f"{CODING}: write a web server", extra_body={"routing_preferences": []})
    assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert "x-plano-route" not in raw.headers
    assert fresh.router.requests == []
    (forwarded,) = fresh.oai.requests
    assert "routing_preferences" not in forwarded.json  # type: ignore[operator]


@pytest.mark.parametrize(
    "routes",
    [
        "code please",
        [{"name": "x", "description": "d", "models": []}],
        [{"name": "x", "models": ["gpt-4o"]}],
        [{"name": "x", "description": "d", "models": ["gpt-9-undeclared"]}],
        [{"name": "x", "description": "d", "models": ["router-1"]}],
    ],
)
def test_bad_request_routes_are_a_400_in_the_openai_dialect(
    server: GunicornServer, fresh: Stack, routes: object
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(server, "hello", extra_body={"routing_preferences": routes})
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and "routing_preferences" in str(body["message"])
    assert fresh.router.requests == []
    assert fresh.oai.requests == [] and fresh.ant.requests == []


def test_bad_request_routes_are_a_400_in_the_anthropic_dialect(
    server: GunicornServer, fresh: Stack
) -> None:
    with requests.Session() as http:
        reply = http.post(
            f"{server.url}/v1/messages",
            json={
                "model": "",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
                "routing_preferences": [{"name": "x", "description": "d", "models": ["nope/nope"]}],
            },
            timeout=10,
        )
    assert reply.status_code == 400
    body = reply.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "routing_preferences" in body["error"]["message"]


# ---------------------------------------------------------------------------- fail open


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (FakeReply(delay_s=ROUTER_TIMEOUT_S * 4), "timeout"),
        (FakeReply(status=503), "HTTP 503"),
        (FakeReply(body=b"<html>bad gateway</html>"), "not JSON"),
        ("I think you want the coding route!", "unparseable reply"),
        (FakeReply(close=True), "connection"),
    ],
    ids=["timeout", "5xx", "garbage-body", "garbage-reply", "closed"],
)
def test_router_failure_fails_open_to_the_default_provider(
    server: GunicornServer, fresh: Stack, reply: object, reason: str
) -> None:
    before = metric_value(server.url, "plano_router_decisions_total", outcome="error")
    fresh.router.reply = reply  # type: ignore[assignment]
    started = time.monotonic()
    raw = chat(server, f"{CODING}: write a linked list")
    elapsed = time.monotonic() - started
    assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert "x-plano-route" not in raw.headers
    assert reason in raw.headers["x-plano-route-error"]
    assert raw.parse().choices[0].message.content == "from openai"
    assert elapsed < ROUTER_TIMEOUT_S + 2.0  # the router timeout bounds the wait
    after = metric_value(server.url, "plano_router_decisions_total", outcome="error")
    assert after == before + 1
    assert metric_value(server.url, "plano_router_duration_seconds_count") >= 1


def test_router_calls_are_not_counted_as_llm_calls(server: GunicornServer, fresh: Stack) -> None:
    chat(server, f"{CODING}: write a trie")
    assert metric_value(server.url, "plano_llm_upstream_requests_total", model_name="router-1") == 0
    assert (
        metric_value(server.url, "plano_llm_upstream_requests_total", model_name="plano/router-1")
        == 0
    )
    assert (
        metric_value(
            server.url, "plano_router_decisions_total", route="code_generation", outcome="matched"
        )
        >= 1
    )


def test_connection_refused_fails_open(stack: Stack) -> None:
    stack.reset()
    dead = f"http://127.0.0.1:{free_port()}"
    with serving(stack.config("router-1", dead), stack.tmp / "refused") as srv:
        raw = chat(srv, f"{CODING}: write a tokenizer")
        assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
        assert raw.headers["x-plano-route-error"] == "connection refused"
        assert metric_value(srv.url, "plano_router_decisions_total", outcome="error") == 1
    assert "router model failed (connection refused)" in srv.log_text()


def test_embedded_fallback_picks_the_route_when_the_router_fails(stack: Stack) -> None:
    stack.reset()
    stack.router.reply = FakeReply(status=500)
    config = stack.config("router-1", stack.router.base_url, "  llm_routing_fallback: embedded\n")
    with serving(config, stack.tmp / "fallback") as srv:
        raw = chat(
            srv,
            "Implement a Python function that reverses a linked list",
        )
        assert raw.headers["x-plano-route"] == "code_generation"
        assert raw.headers["x-plano-model"] == "anthropic/claude-sonnet-4-6"
        assert raw.headers["x-plano-route-error"] == "HTTP 500"
        small_talk = chat(srv, "hi there, how are you today?")
        assert small_talk.headers["x-plano-model"] == "openai/gpt-4o-mini"
        assert "x-plano-route" not in small_talk.headers
    assert len(stack.router.requests) == 2


# ----------------------------------------------------- arch-router format, classify_all_requests


def test_arch_router_model_gets_the_arch_router_prompt(stack: Stack) -> None:
    stack.reset()
    extra = "routing:\n  classify_all_requests: true\n"
    config = stack.config("Arch-Router-1.5B", stack.router.base_url).replace(
        "observability:", extra + "observability:"
    )
    conversation = [
        {"role": "user", "content": "x" * 20_000},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": f"{CODING}: ¿puedes escribir un parser en Go?"},
    ]
    with serving(config, stack.tmp / "arch") as srv:
        raw = client(srv).chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=conversation,  # type: ignore[arg-type]
        )
        # classify_all_requests: the matched route overrides the named model...
        assert raw.headers["x-plano-route"] == "code_generation"
        assert raw.headers["x-plano-model"] == "anthropic/claude-sonnet-4-6"
        # ...and the named model is the fallback when nothing matches.
        other = chat(srv, "what's the weather like?", model="gpt-4o")
        assert other.headers["x-plano-model"] == "openai/gpt-4o"
        assert "x-plano-route" not in other.headers
        settings = load_settings(srv.config_path, os.environ)
    first = stack.router.requests[0]
    assert first.json == {
        "model": "Arch-Router-1.5B",
        "messages": [
            {
                "role": "user",
                "content": build_prompt(
                    settings.routes,
                    [Turn(m["role"], m["content"]) for m in conversation],
                    "arch-router",
                    2048,
                ),
            }
        ],
        "temperature": 0.01,
    }
    prompt = first.prompt
    assert prompt.startswith("\nYou are a helpful assistant designed to find the best suited")
    # 2048-token budget: the 20 000-byte first message is kept middle-trimmed.
    assert "x" * 20_000 not in prompt
    assert "x" * 1000 + "\u2026" + "x" * 600 in prompt
    assert "¿puedes escribir un parser en Go?" in prompt
