"""The routing-decision API through real gunicorn (SPEC §2): the decision only, nothing forwarded.

POST /routing/v1/chat/completions and /routing/v1/messages answer
`{"models": [...], "route": name|null, "trace_id": 32 hex, "session_id"?, "pinned"?}`.
The router model is FakeRouter (keyword_router); the providers are fakes that must see nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
import requests

from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeReply, FakeRouter
from tests.integration.router_setup import (
    CODING,
    REASONING,
    ROUTES_YAML,
    keyword_router,
    providers_yaml,
    serving,
)
from tests.services.gunicorn import GunicornServer

TRACE_HEX = re.compile(r"^[0-9a-f]{32}$")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass
class Stack:
    server: GunicornServer
    oai: FakeProvider
    ant: FakeProvider
    router: FakeRouter

    def reset(self) -> None:
        self.oai.clear()
        self.ant.clear()
        self.router.clear()
        self.router.reply = keyword_router()

    def assert_nothing_forwarded(self) -> None:
        assert self.oai.requests == []
        assert self.ant.requests == []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("decision")
    with (
        FakeProvider(default=Behavior(text="from openai")) as oai,
        FakeProvider(default=Behavior(text="from anthropic")) as ant,
        FakeRouter(keyword_router()) as router,
    ):
        config = (
            "version: v0.4.0\n"
            + providers_yaml(oai.base_url, ant.base_url)
            + f"  - model: plano/router-1\n    base_url: {router.base_url}\n"
            + "model_aliases:\n  smart:\n    target: gpt-4o\n"
            + ROUTES_YAML
            + "overrides:\n  llm_routing_model: plano/router-1\n  llm_routing_timeout: 0.5\n"
            + "observability:\n  request_log: 'off'\n"
        )
        with serving(config, tmp) as server:
            yield Stack(server, oai, ant, router)


@pytest.fixture()
def fresh(stack: Stack) -> Stack:
    stack.reset()
    return stack


def openai_body(text: str, model: str = "", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def anthropic_body(text: str, model: str = "", **extra: object) -> dict[str, object]:
    return {
        "model": model,
        "max_tokens": 32,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        **extra,
    }


def decide(
    stack: Stack, dialect: str, body: dict[str, object], headers: dict[str, str] | None = None
) -> requests.Response:
    path = "chat/completions" if dialect == "openai" else "messages"
    with requests.Session() as http:
        return http.post(
            f"{stack.server.url}/routing/v1/{path}", json=body, headers=headers or {}, timeout=10
        )


@pytest.mark.parametrize(
    ("dialect", "make_body"), [("openai", openai_body), ("anthropic", anthropic_body)]
)
def test_matched_route_reply_shape(fresh: Stack, dialect: str, make_body: object) -> None:
    body = make_body(f"{CODING}: write a JSON parser")  # type: ignore[operator]
    reply = decide(fresh, dialect, body, {"traceparent": TRACEPARENT})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {
        "models": ["anthropic/claude-sonnet-4-6", "openai/gpt-4o"],
        "route": "code_generation",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }
    assert len(fresh.router.requests) == 1
    fresh.assert_nothing_forwarded()


@pytest.mark.parametrize(
    ("dialect", "make_body"), [("openai", openai_body), ("anthropic", anthropic_body)]
)
def test_no_route_gives_the_fallback_model(fresh: Stack, dialect: str, make_body: object) -> None:
    body = make_body("what should I cook tonight?")  # type: ignore[operator]
    reply = decide(fresh, dialect, body)
    assert reply.status_code == 200
    data = reply.json()
    assert data["models"] == ["openai/gpt-4o-mini"]  # the default provider
    assert data["route"] is None
    assert TRACE_HEX.match(data["trace_id"])
    assert "session_id" not in data and "pinned" not in data
    fresh.assert_nothing_forwarded()


def test_no_route_with_a_named_alias_falls_back_to_its_target(fresh: Stack) -> None:
    data = decide(fresh, "openai", openai_body("plan my holiday", model="smart")).json()
    assert data["models"] == ["openai/gpt-4o"]
    assert data["route"] is None
    # The decision API always asks the router when routes exist; the model is only the fallback.
    assert len(fresh.router.requests) == 1
    routed = decide(fresh, "openai", openai_body(f"{REASONING}: prove it", model="smart")).json()
    assert routed["route"] == "complex_reasoning"
    assert routed["models"] == ["openai/gpt-4o", "openai/gpt-4o-mini"]


def test_trace_id_is_new_without_a_valid_traceparent(fresh: Stack) -> None:
    ids = set()
    for headers in ({}, {"traceparent": "garbage"}, {"traceparent": "00-" + "0" * 32 + "-1-01"}):
        data = decide(fresh, "openai", openai_body("hi"), headers).json()
        assert TRACE_HEX.match(data["trace_id"])
        assert data["trace_id"] != "0" * 32
        ids.add(data["trace_id"])
    assert len(ids) == 3


def test_affinity_pins_the_session(fresh: Stack) -> None:
    headers = {"x-model-affinity": "decision-api-session-1"}
    first = decide(fresh, "openai", openai_body(f"{CODING}: write a CLI"), headers).json()
    assert first["session_id"] == "decision-api-session-1"
    assert first["pinned"] is False
    assert first["route"] == "code_generation"
    second = decide(fresh, "openai", openai_body("something unrelated now"), headers).json()
    assert second["pinned"] is True
    assert second["models"][0] == "anthropic/claude-sonnet-4-6"
    assert second["route"] == "code_generation"
    assert len(fresh.router.requests) == 1  # a warm session skips the router


def test_request_routes_and_bad_ones(fresh: Stack) -> None:
    fresh.router.reply = keyword_router({"SUMMARY": "summarize"})
    routes = [{"name": "summarize", "description": "summaries", "models": ["gpt-4o-mini"]}]
    data = decide(
        fresh, "openai", openai_body("SUMMARY of this", routing_preferences=routes)
    ).json()
    assert data["route"] == "summarize"
    assert data["models"] == ["openai/gpt-4o-mini"]
    off = decide(fresh, "openai", openai_body(f"{CODING}: x", routing_preferences=[])).json()
    assert off["route"] is None and off["models"] == ["openai/gpt-4o-mini"]
    assert len(fresh.router.requests) == 1
    bad = decide(
        fresh,
        "anthropic",
        anthropic_body("x", routing_preferences=[{"name": "a", "models": ["gpt-4o"]}]),
    )
    assert bad.status_code == 400
    assert bad.json()["type"] == "error"
    bad_openai = decide(fresh, "openai", openai_body("x", routing_preferences={"a": 1}))
    assert bad_openai.status_code == 400
    assert bad_openai.json()["error"]["param"] == "routing_preferences"
    fresh.assert_nothing_forwarded()


def test_router_failure_fails_open_with_a_header(fresh: Stack) -> None:
    fresh.router.reply = FakeReply(status=502)
    reply = decide(fresh, "openai", openai_body(f"{CODING}: write a lexer"))
    assert reply.status_code == 200
    assert reply.headers["x-plano-route-error"] == "HTTP 502"
    assert reply.json()["route"] is None
    assert reply.json()["models"] == ["openai/gpt-4o-mini"]


@pytest.mark.parametrize(
    "text",
    [f"{CODING}: write a red-black tree", f"{REASONING}: is P = NP?", "hello there"],
)
def test_proxy_and_decision_api_agree(fresh: Stack, text: str) -> None:
    conversation = [
        {"role": "system", "content": "be helpful"},
        {"role": "user", "content": "earlier question"},
        {"role": "assistant", "content": "earlier answer"},
        {"role": "user", "content": text},
    ]
    decision = decide(fresh, "openai", {"model": "", "messages": conversation}).json()
    client = openai.OpenAI(base_url=f"{fresh.server.url}/v1", api_key="k", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="",
        messages=conversation,  # type: ignore[arg-type]
    )
    assert raw.headers["x-plano-model"] == decision["models"][0]
    assert raw.headers.get("x-plano-route") == decision["route"]
    prompts = [r.prompt for r in fresh.router.requests]
    assert len(prompts) == 2 and prompts[0] == prompts[1]  # the router saw the same prompt


def test_wrong_method_and_bad_json(fresh: Stack) -> None:
    http = requests.Session()
    got = http.get(f"{fresh.server.url}/routing/v1/chat/completions", timeout=5)
    assert got.status_code == 405
    bad = http.post(
        f"{fresh.server.url}/routing/v1/messages",
        data=b"{not json",
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert bad.status_code == 400
    assert bad.json()["type"] == "error"
    http.close()
    fresh.assert_nothing_forwarded()
