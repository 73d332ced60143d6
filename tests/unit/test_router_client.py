"""plano.router_client against the FakeRouter server: body, headers, replies and every failure."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from types import MappingProxyType

import pytest
import requests

from plano.config.model import Route, RouterModel
from plano.config.providers import HOSTED_ROUTER_HEADER
from plano.router_client import RouterClient, RouterFailure, prompt_for
from plano.routing.call import Turn
from plano.routing.router_prompt import build_prompt
from tests.fakes.router_server import FakeReply, FakeRouter

ROUTES = (
    Route("code_generation", "generating new code", ("anthropic/claude-sonnet-4-6",)),
    Route("complex_reasoning", "deep analysis", ("openai/gpt-4o",)),
)
TURNS = (
    Turn("system", "be brief"),
    Turn("user", "Write a Python function for binary search"),
)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def fake() -> Iterator[FakeRouter]:
    with FakeRouter('{"route": ["code_generation"]}') as router:
        yield router


def hosted_router(url: str) -> RouterModel:
    """The hosted form: model Plano-Orchestrator, `model: plano-orchestrator` header, no auth."""
    return RouterModel(
        model_id="Plano-Orchestrator",
        url=url,
        headers=MappingProxyType({"model": HOSTED_ROUTER_HEADER}),
    )


def client_for(url: str, session: requests.Session, timeout_s: float = 2.0) -> RouterClient:
    return RouterClient(hosted_router(url), timeout_s, session)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_body_and_headers(fake: FakeRouter, session: requests.Session) -> None:
    client = client_for(fake.url, session)
    assert client.classify(ROUTES, TURNS, 8192, request_id="req-123") == "code_generation"
    (request,) = fake.requests
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.json == {
        "model": "Plano-Orchestrator",
        "messages": [
            {"role": "user", "content": build_prompt(ROUTES, TURNS, "plano-orchestrator", 8192)}
        ],
        "temperature": 0.01,
    }
    assert request.headers["model"] == "plano-orchestrator"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-request-id"] == "req-123"
    assert "authorization" not in request.headers


def test_self_hosted_arch_router_uses_its_format(session: requests.Session) -> None:
    with FakeRouter('{"route": "complex_reasoning"}') as fake:
        router = RouterModel(model_id="hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M", url=fake.url)
        client = RouterClient(router, 2.0, session)
        assert client.classify(ROUTES, TURNS, None) == "complex_reasoning"
        (request,) = fake.requests
    payload = request.json
    assert isinstance(payload, dict)
    assert payload["model"] == "hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M"
    assert request.prompt == build_prompt(ROUTES, TURNS, "arch-router", 2048)
    assert "x-request-id" not in request.headers and "model" not in request.headers


def test_prompt_for_matches_what_is_sent(fake: FakeRouter, session: requests.Session) -> None:
    client = client_for(fake.url, session)
    client.classify(ROUTES, TURNS, 1000)
    assert fake.requests[0].prompt == client.prompt_for(ROUTES, TURNS, 1000)
    assert client.prompt_for(ROUTES, TURNS) == prompt_for(client.router, ROUTES, TURNS, 8192)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"route": ["unknown", "complex_reasoning"]}', "complex_reasoning"),
        ("{'route': ['complex_reasoning']}", "complex_reasoning"),
        ('{"route": []}', None),
        ('{"route": null}', None),
        ("{}", None),
        ("", None),
        (FakeReply(content=None), None),
        (FakeReply(body=b'{"choices": []}'), None),
    ],
)
def test_answers(reply: str | FakeReply, expected: str | None, session: requests.Session) -> None:
    with FakeRouter(reply) as fake:
        assert client_for(fake.url, session).classify(ROUTES, TURNS, 8192) == expected


def test_timeout_fails_fast(session: requests.Session) -> None:
    with FakeRouter(FakeReply(delay_s=10)) as fake:
        client = client_for(fake.url, session, timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(RouterFailure) as info:
            client.classify(ROUTES, TURNS, 8192)
        assert time.monotonic() - started < 2.0
    assert info.value.reason == "timeout after 0.3s"
    assert isinstance(info.value.__cause__, requests.Timeout)


@pytest.mark.parametrize("status", [500, 503, 404, 401])
def test_non_2xx(status: int, session: requests.Session) -> None:
    with FakeRouter(FakeReply(status=status)) as fake:
        with pytest.raises(RouterFailure) as info:
            client_for(fake.url, session).classify(ROUTES, TURNS, 8192)
    assert info.value.reason == f"HTTP {status}"


def test_connection_refused(session: requests.Session) -> None:
    client = client_for(f"http://127.0.0.1:{free_port()}/v1/chat/completions", session)
    with pytest.raises(RouterFailure) as info:
        client.classify(ROUTES, TURNS, 8192)
    assert info.value.reason == "connection refused"
    assert isinstance(info.value.__cause__, requests.ConnectionError)


def test_connection_closed_without_answer(session: requests.Session) -> None:
    with FakeRouter(FakeReply(close=True)) as fake:
        with pytest.raises(RouterFailure) as info:
            client_for(fake.url, session).classify(ROUTES, TURNS, 8192)
    assert info.value.reason.startswith("connection")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (FakeReply(body=b"<html>bad gateway</html>"), "unparseable body: not JSON"),
        (FakeReply(body=b'{"id": "x"}'), "unparseable body: no choices"),
        (FakeReply(body=b'{"choices": [{"text": "hi"}]}'), "unparseable body: no message"),
        (
            FakeReply(body=b'{"choices": [{"message": {"content": 5}}]}'),
            "unparseable body: content is not a string",
        ),
        ('{"route": ["x"', "unparseable reply: not JSON: "),
        ("route: code_generation", "unparseable reply: not JSON: "),
    ],
)
def test_garbage(reply: str | FakeReply, reason: str, session: requests.Session) -> None:
    with FakeRouter(reply) as fake:
        with pytest.raises(RouterFailure) as info:
            client_for(fake.url, session).classify(ROUTES, TURNS, 8192)
    assert info.value.reason.startswith(reason)


def test_failure_reason_never_carries_headers(session: requests.Session) -> None:
    router = RouterModel(
        model_id="Plano-Orchestrator",
        url=f"http://127.0.0.1:{free_port()}/v1/chat/completions",
        headers=MappingProxyType({"Authorization": "Bearer sk-secret"}),
    )
    with pytest.raises(RouterFailure) as info:
        RouterClient(router, 1.0, session).classify(ROUTES, TURNS, 8192)
    assert "sk-secret" not in str(info.value)


# --- the fake itself: other suites rely on it ----------------------------------------------------


def test_fake_sequence_callable_and_reassignment(session: requests.Session) -> None:
    with FakeRouter(["first", FakeReply(status=503), "last"]) as fake:
        contents = []
        for _ in range(4):
            response = session.post(fake.url, json={"n": 1}, timeout=2)
            contents.append(response.status_code)
            response.close()
        assert contents == [200, 503, 200, 200]
        fake.reply = lambda request: FakeReply(content=request.path)
        with session.post(fake.base_url + "/other", data=b"x", timeout=2) as response:
            assert response.json()["choices"][0]["message"]["content"] == "/other"
        assert len(fake.wait_for_requests(5)) == 5
        fake.clear()
        assert fake.requests == []
