"""Hygiene of the proxy (SPEC §2, §7): secrets, forwarded headers and bodies, bad input.

- no configured access key shows up in a response, the gunicorn log or the request log, even when
  the provider's error message echoes it;
- the client's credentials go upstream only with `passthrough_auth: true`;
- `routing_preferences` and hop-by-hop headers are not forwarded;
- oversized bodies get 413, wrong methods 405, non-JSON 400, each in the caller's dialect.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import openai
import pytest
import requests

from tests.fakes.provider_server import Behavior, FakeProvider, RecordedRequest
from tests.services.gunicorn import WORKER_CLASS_IDS, WORKER_CLASSES, GunicornServer

OPENAI_KEY = "sk-HYGIENE-openai-4f1c9d2e7a"
ANTHROPIC_KEY = "sk-ant-HYGIENE-anthropic-8b3e6f0a1d"
CLIENT_KEY = "sk-CLIENT-own-key-93c2a7"
KEYS = (OPENAI_KEY, ANTHROPIC_KEY)
MAX_BODY_BYTES = 4096

CONFIG = """\
version: v0.4.0
model_providers:
  - model: openai/gpt-4o
    base_url: {openai_url}
    access_key: {openai_key}
    default: true
    headers:
      x-org-id: org-hygiene
  - model: anthropic/claude-sonnet-4-6
    base_url: {anthropic_url}
    access_key: {anthropic_key}
  - model: openai/gpt-pass
    base_url: {openai_url}
    passthrough_auth: true
  - model: anthropic/claude-pass
    base_url: {anthropic_url}
    passthrough_auth: true
observability:
  request_log: {log}
  max_body_bytes: {max_body}
"""


@dataclass(frozen=True)
class Stack:
    plano: GunicornServer
    openai_fake: FakeProvider
    anthropic_fake: FakeProvider
    request_log: Path
    http: requests.Session

    def received(self, fake: FakeProvider, request_id: str) -> RecordedRequest:
        matching = [r for r in fake.requests if r.headers.get("x-request-id") == request_id]
        assert len(matching) == 1, f"{len(matching)} upstream requests for {request_id}"
        return matching[0]


@pytest.fixture(scope="module", params=WORKER_CLASSES, ids=WORKER_CLASS_IDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("hygiene")
    with FakeProvider() as openai_fake, FakeProvider() as anthropic_fake:
        log = tmp / "requests.log"
        config = tmp / "plano.yaml"
        config.write_text(
            CONFIG.format(
                openai_url=openai_fake.base_url,
                anthropic_url=anthropic_fake.base_url,
                openai_key=OPENAI_KEY,
                anthropic_key=ANTHROPIC_KEY,
                log=log,
                max_body=MAX_BODY_BYTES,
            )
        )
        with GunicornServer(config, tmp, workers=1, worker_class=request.param) as plano:
            with requests.Session() as http:
                yield Stack(plano, openai_fake, anthropic_fake, log, http)


def new_id() -> str:
    return f"hy-{uuid.uuid4().hex}"


def assert_no_key(*texts: str) -> None:
    for text in texts:
        for key in KEYS:
            assert key not in text, f"access key leaked: {text[:300]!r}"
            assert key[8:] not in text, f"part of an access key leaked: {text[:300]!r}"


def raw_text(response: requests.Response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return headers + "\n\n" + response.text


# ------------------------------------------------------------------------- secrets

ECHO_CASES = [
    # (client path, model, which fake, status)
    ("/v1/chat/completions", "gpt-4o", "openai", 401),
    ("/v1/chat/completions", "gpt-4o", "openai", 500),
    ("/v1/messages", "gpt-4o", "openai", 401),
    ("/v1/messages", "claude-sonnet-4-6", "anthropic", 401),
    ("/v1/messages", "claude-sonnet-4-6", "anthropic", 500),
    ("/v1/chat/completions", "claude-sonnet-4-6", "anthropic", 403),
]


@pytest.mark.parametrize(("path", "model", "fake_name", "status"), ECHO_CASES)
def test_provider_error_echoing_the_key_does_not_leak_it(
    stack: Stack, path: str, model: str, fake_name: str, status: int
) -> None:
    fake = stack.openai_fake if fake_name == "openai" else stack.anthropic_fake
    key = OPENAI_KEY if fake_name == "openai" else ANTHROPIC_KEY
    fake.set_behavior(
        model.split("/")[-1],
        Behavior(status=status, error_message=f"Incorrect API key provided: {key}. Check it."),
    )
    try:
        body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        if path == "/v1/messages":
            body["max_tokens"] = 16
        reply = stack.http.post(stack.plano.url + path, json=body, timeout=20)
    finally:
        fake.set_behavior(model.split("/")[-1], Behavior())
    assert reply.status_code == status
    assert_no_key(raw_text(reply))
    payload = reply.json()
    message = payload["error"]["message"]
    assert "Incorrect API key provided" in message  # the rest of the message is kept
    if path == "/v1/messages":
        assert payload["type"] == "error"


def test_sdk_error_echoing_the_key_does_not_leak_it(stack: Stack) -> None:
    stack.openai_fake.set_behavior(
        "gpt-4o", Behavior(status=401, error_message=f"bad key {OPENAI_KEY}")
    )
    try:
        with (
            openai.OpenAI(
                base_url=f"{stack.plano.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20
            ) as client,
            pytest.raises(openai.AuthenticationError) as caught,
        ):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        stack.openai_fake.set_behavior("gpt-4o", Behavior())
    assert_no_key(str(caught.value), caught.value.response.text)


def test_stream_error_event_echoing_the_key_does_not_leak_it(stack: Stack) -> None:
    # The error event comes before plano has sent a byte, so the client gets an error reply
    # built from the provider's message; neither it nor the gunicorn log may carry the key.
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    }
    error = {"error": {"message": f"key {OPENAI_KEY} was revoked", "type": "server_error"}}
    stream = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(error)}\n\n".encode()
    stack.openai_fake.set_behavior(
        "gpt-4o", Behavior(raw_body=stream, content_type="text/event-stream")
    )
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    try:
        reply = stack.http.post(f"{stack.plano.url}/v1/chat/completions", json=body, timeout=20)
    finally:
        stack.openai_fake.set_behavior("gpt-4o", Behavior())
    assert reply.status_code == 502
    assert "was revoked" in reply.json()["error"]["message"]
    assert_no_key(raw_text(reply), stack.plano.log_text())


def test_models_and_metrics_do_not_show_keys(stack: Stack) -> None:
    for path in ("/v1/models", "/metrics", "/readyz"):
        reply = stack.http.get(stack.plano.url + path, timeout=10)
        assert reply.status_code == 200
        assert_no_key(raw_text(reply))


# ------------------------------------------------------------------ credentials


def test_client_authorization_is_not_forwarded(stack: Stack) -> None:
    request_id = new_id()
    with openai.OpenAI(
        base_url=f"{stack.plano.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20
    ) as client:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": request_id},
        )
    headers = stack.received(stack.openai_fake, request_id).headers
    assert headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert CLIENT_KEY not in json.dumps(dict(headers))


def test_client_x_api_key_is_not_forwarded(stack: Stack) -> None:
    request_id = new_id()
    with anthropic.Anthropic(
        base_url=stack.plano.url, api_key=CLIENT_KEY, max_retries=0, timeout=20
    ) as client:
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=16,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": request_id, "authorization": f"Bearer {CLIENT_KEY}"},
        )
    headers = stack.received(stack.anthropic_fake, request_id).headers
    assert headers["x-api-key"] == ANTHROPIC_KEY
    assert "authorization" not in headers
    assert CLIENT_KEY not in json.dumps(dict(headers))


def test_passthrough_auth_forwards_the_client_key(stack: Stack) -> None:
    openai_id, anthropic_id, cross_id = new_id(), new_id(), new_id()
    with openai.OpenAI(
        base_url=f"{stack.plano.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20
    ) as client:
        client.chat.completions.create(
            model="openai/gpt-pass",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": openai_id},
        )
        client.chat.completions.create(
            model="anthropic/claude-pass",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": cross_id},
        )
    with anthropic.Anthropic(
        base_url=stack.plano.url, api_key=CLIENT_KEY, max_retries=0, timeout=20
    ) as aclient:
        aclient.messages.create(
            model="anthropic/claude-pass",
            max_tokens=16,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": anthropic_id},
        )
    assert stack.received(stack.openai_fake, openai_id).headers["authorization"] == (
        f"Bearer {CLIENT_KEY}"
    )
    # Each provider gets the client's key in its own auth header.
    assert stack.received(stack.anthropic_fake, cross_id).headers["x-api-key"] == CLIENT_KEY
    assert stack.received(stack.anthropic_fake, anthropic_id).headers["x-api-key"] == CLIENT_KEY


def test_provider_headers_from_the_config_are_sent(stack: Stack) -> None:
    request_id = new_id()
    reply = stack.http.post(
        f"{stack.plano.url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-request-id": request_id, "x-org-id": "client-choice"},
        timeout=20,
    )
    assert reply.status_code == 200
    headers = stack.received(stack.openai_fake, request_id).headers
    assert headers["x-org-id"] == "org-hygiene"


# --------------------------------------------------------- what is not forwarded

HOP_BY_HOP = {
    "keep-alive": "timeout=5",
    "te": "trailers",
    "upgrade": "h2c",
    "proxy-authorization": "Basic cHJveHk6c2VjcmV0",
    "cookie": "session=client-cookie",
}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_routing_preferences_and_hop_by_hop_headers_are_not_forwarded(
    stack: Stack, path: str
) -> None:
    request_id = new_id()
    body: dict[str, object] = {
        "model": "claude-sonnet-4-6" if path == "/v1/messages" else "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "routing_preferences": [],
    }
    if path == "/v1/messages":
        body["max_tokens"] = 16
    headers = {
        "x-request-id": request_id,
        "content-type": "application/json",
        "connection": "keep-alive, x-hop-secret",
        "x-hop-secret": "hop",
        **HOP_BY_HOP,
    }
    # A generator body makes requests send `Transfer-Encoding: chunked`.
    payload = json.dumps(body).encode()
    reply = stack.http.post(
        stack.plano.url + path, data=iter([payload]), headers=headers, timeout=20
    )
    assert reply.status_code == 200, reply.text
    fake = stack.anthropic_fake if path == "/v1/messages" else stack.openai_fake
    received = stack.received(fake, request_id)
    assert isinstance(received.json, dict)
    assert "routing_preferences" not in received.json
    assert b"routing_preferences" not in received.body
    for name in (*HOP_BY_HOP, "transfer-encoding", "x-hop-secret"):
        assert name not in received.headers, f"{name} was forwarded"
    assert received.headers.get("connection", "keep-alive").lower() in ("keep-alive", "close")


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_body_over_max_body_bytes_is_413_in_the_dialect(
    stack: Stack, path: str, chunked: bool
) -> None:
    body = {
        "model": "gpt-4o",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "x" * (MAX_BODY_BYTES * 2)}],
    }
    payload = json.dumps(body).encode()
    before = len(stack.openai_fake.requests)
    reply = stack.http.post(
        stack.plano.url + path,
        data=iter([payload]) if chunked else payload,
        headers={"content-type": "application/json"},
        timeout=20,
    )
    assert reply.status_code == 413
    _assert_error_shape(reply, path)
    assert len(stack.openai_fake.requests) == before


def test_body_just_under_the_limit_is_served(stack: Stack) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "y"}]}
    filler = MAX_BODY_BYTES - len(json.dumps(body)) - 10
    body["messages"] = [{"role": "user", "content": "y" * filler}]
    reply = stack.http.post(f"{stack.plano.url}/v1/chat/completions", json=body, timeout=20)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_wrong_method_is_405_in_the_dialect(stack: Stack, method: str, path: str) -> None:
    reply = stack.http.request(method, stack.plano.url + path, timeout=10)
    assert reply.status_code == 405
    assert "POST" in reply.headers["allow"]
    _assert_error_shape(reply, path)


@pytest.mark.parametrize(
    "payload",
    [b"this is not json", b'{"model": ', b"[1, 2, 3]", b"", b"\xff\xfe"],
    ids=["text", "truncated", "array", "empty", "binary"],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_non_json_body_is_400_in_the_dialect(stack: Stack, path: str, payload: bytes) -> None:
    reply = stack.http.post(
        stack.plano.url + path,
        data=payload,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 400
    _assert_error_shape(reply, path)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_missing_messages_is_400(stack: Stack, path: str) -> None:
    reply = stack.http.post(stack.plano.url + path, json={"model": "gpt-4o"}, timeout=10)
    assert reply.status_code == 400
    _assert_error_shape(reply, path)


def _assert_error_shape(reply: requests.Response, path: str) -> None:
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["x-request-id"]
    payload = reply.json()
    if path == "/v1/messages":
        assert payload["type"] == "error"
        assert isinstance(payload["error"]["type"], str)
        assert isinstance(payload["error"]["message"], str)
    else:
        assert set(payload["error"]) >= {"message", "type", "param", "code"}
    assert "Traceback" not in reply.text


# ------------------------------------------------------------------------ logs


def test_no_key_in_the_gunicorn_log_or_the_request_log(stack: Stack) -> None:
    """Runs last in the module: by now every case above has been logged."""
    log = stack.plano.log_text()
    assert "Booting worker" in log or "Listening at" in log  # the log is really there
    lines = stack.request_log.read_text().splitlines()
    assert len(lines) >= 10
    for line in lines:
        json.loads(line)
    assert_no_key(log, "\n".join(lines))
    assert CLIENT_KEY not in log and CLIENT_KEY not in "\n".join(lines)
