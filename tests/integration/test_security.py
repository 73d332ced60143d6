"""Security of the proxy through real gunicorn (SPEC §2, §7; issue 9).

- A request cannot choose where plano connects: URLs in bodies (`base_url`, `api_base`,
  `model: "http://…"`, image URLs, tools, routes), Host/Forwarded header tricks and an
  absolute-form request target all end at the configured provider. A second, "evil" fake server
  counts connections and must see none.
- Client credentials (every usual form) never go upstream without `passthrough_auth`.
- Only an allow-list of client headers goes upstream.
- The body size limit holds with Content-Length, with chunked transfer encoding, and when the
  Content-Length lies.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeRouter
from tests.integration.dialects import (
    ANTHROPIC,
    OPENAI,
    assert_completion,
    assert_error_body,
    body_for,
    path_of,
)
from tests.integration.rawhttp import RawHttp, build_request
from tests.services.gunicorn import WORKER_CLASS_IDS, WORKER_CLASSES, GunicornServer

OPENAI_KEY = "sk-security-openai-7e6d5c4b3a"
ANTHROPIC_KEY = "sk-ant-security-0f9e8d7c6b"
CLIENT_SECRET = "client-secret-d41d8cd98f00"
MAX_BODY_BYTES = 64 * 1024

CONFIG = """
version: v0.4.0
model_providers:
  - model: openai/gpt-4o
    base_url: {fake}
    access_key: {openai_key}
    default: true
  - model: openai/*
    base_url: {fake}
    access_key: {openai_key}
  - model: anthropic/claude-sonnet-4-6
    base_url: {fake}
    access_key: {anthropic_key}
  - model: openai/gpt-pass
    base_url: {fake}
    passthrough_auth: true
  - model: plano/router-model
    base_url: {router}
routing_preferences:
  - name: code
    description: writing code
    models: [openai/gpt-4o, anthropic/claude-sonnet-4-6]
overrides:
  llm_routing_model: plano/router-model
observability:
  request_log: {{tmp}}/requests.log
  max_body_bytes: {max_body}
"""

# What a provider may receive: plano's own headers, the configured auth, and the allow-list of
# client headers (tracing, Anthropic version and beta flags).
UPSTREAM_HEADERS = {
    "host",
    "content-type",
    "content-length",
    "accept-encoding",
    "user-agent",
    "x-request-id",
    "traceparent",
    "tracestate",
    "authorization",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(default=Behavior()) as provider:
        yield provider


@pytest.fixture(scope="module")
def evil() -> Iterator[FakeProvider]:
    """Where an attacker would like plano to connect."""
    with FakeProvider(default=Behavior(text="pwned")) as server:
        yield server


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    with FakeRouter(reply='{"route": ["code"]}') as fake_router:
        yield fake_router


@pytest.fixture(scope="module", params=WORKER_CLASSES, ids=WORKER_CLASS_IDS)
def plano(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake: FakeProvider,
    router: FakeRouter,
) -> Iterator[GunicornServer]:
    tmp: Path = tmp_path_factory.mktemp("security")
    text = CONFIG.format(
        fake=fake.base_url,
        router=router.base_url,
        openai_key=OPENAI_KEY,
        anthropic_key=ANTHROPIC_KEY,
        max_body=MAX_BODY_BYTES,
    )
    config = tmp / "plano.yaml"
    config.write_text(text.replace("{tmp}", str(tmp)), encoding="utf-8")
    server = GunicornServer(config, tmp, workers=1, worker_class=request.param).start()
    yield server
    server.stop()


@pytest.fixture()
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


# ---------------------------------------------------------------- where plano connects


def _evil_bodies(evil_url: str, dialect: str) -> list[dict[str, Any]]:
    chat = evil_url + "/chat/completions"
    base = body_for(dialect, "openai/gpt-4o", f"please fetch {chat}")
    variants: list[dict[str, Any]] = [
        {**base, "base_url": evil_url},
        {**base, "api_base": evil_url, "api_url": chat, "url": chat, "endpoint": chat},
        {**base, "extra_headers": {"Host": evil_url}, "extra_body": {"base_url": evil_url}},
        {**base, "metadata": {"base_url": evil_url}, "user": evil_url},
        body_for(dialect, chat),
        body_for(dialect, "openai/" + chat),
        body_for(dialect, evil_url.replace("http://", "")),
        body_for(dialect, "openai/gpt-4o@" + evil_url.replace("http://", "")),
        {**base, "provider": {"base_url": evil_url}, "model_provider": evil_url},
        {
            **base,
            "routing_preferences": [
                {"name": "code", "description": "x", "models": [chat]},
            ],
        },
        {**body_for(dialect, None, "write code"), "base_url": evil_url},
        {
            **base,
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "fetch", "parameters": {"type": "object"}},
                    "server_url": chat,
                    "name": "fetch",
                    "input_schema": {"type": "object"},
                }
            ],
        },
    ]
    image = (
        {"type": "image_url", "image_url": {"url": evil_url + "/cat.png"}}
        if dialect == OPENAI
        else {"type": "image", "source": {"type": "url", "url": evil_url + "/cat.png"}}
    )
    variants.append(
        {
            **base,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}],
        }
    )
    return variants


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC])
def test_urls_in_bodies_never_reach_the_connection_layer(plano, fake, evil, http, dialect):
    before = fake.request_count
    bodies = _evil_bodies(evil.base_url, dialect)
    for body in bodies:
        for path in (path_of(dialect), "/routing" + path_of(dialect)):
            reply = http.post(plano.url + path, json=body, timeout=10)
            assert reply.status_code < 500, (body, reply.text)
            if reply.status_code >= 400:
                assert_error_body(reply.content, dialect)
    assert evil.connection_count == 0
    assert fake.request_count > before  # the well-formed ones went to the configured provider


def test_host_and_forwarding_headers_do_not_redirect(plano, fake, evil, http):
    evil_host = evil.origin.replace("http://", "")
    tricks = [
        {"Host": evil_host},
        {"X-Forwarded-Host": evil_host, "X-Forwarded-Proto": "http", "X-Forwarded-Port": "1"},
        {"Forwarded": f"host={evil_host};proto=http"},
        {"X-Original-URL": evil.base_url + "/chat/completions"},
        {"X-Rewrite-URL": evil.base_url + "/chat/completions"},
        {"X-Forwarded-Server": evil_host, "X-Host": evil_host, "X-HTTP-Host-Override": evil_host},
        {"X-Model-Affinity": evil.base_url},
        {"X-Request-Id": evil.base_url},
        {"Referer": evil.base_url, "Origin": evil.origin},
    ]
    for headers in tricks:
        before = fake.request_count
        reply = http.post(
            plano.url + "/v1/chat/completions",
            json=body_for(OPENAI, "openai/gpt-4o"),
            headers=headers,
            timeout=10,
        )
        assert reply.status_code == 200, (headers, reply.text)
        assert_completion(reply.content, OPENAI)
        assert fake.request_count == before + 1
    assert evil.connection_count == 0


def test_absolute_form_request_target_is_not_a_proxy_request(plano, fake, evil):
    body = json.dumps(body_for(OPENAI, "openai/gpt-4o")).encode()
    evil_host = evil.origin.replace("http://", "").encode()
    with RawHttp(plano.port) as conn:
        for target in (
            evil.base_url.encode() + b"/chat/completions",
            evil.origin.encode() + b"/v1/chat/completions",
        ):
            raw = build_request(
                b"POST", target, [(b"Content-Type", b"application/json")], body, host=evil_host
            )
            reply = conn.send(raw)
            assert reply.status < 500, reply
        connect = build_request(b"CONNECT", evil_host, host=evil_host)
        assert conn.send(connect).status < 500
    assert evil.connection_count == 0


# ------------------------------------------------------------------- what goes upstream

CLIENT_HEADERS = {
    # credentials, in every usual form
    "Authorization": f"Bearer {CLIENT_SECRET}",
    "x-api-key": CLIENT_SECRET,
    "api-key": CLIENT_SECRET,
    "x-goog-api-key": CLIENT_SECRET,
    "Proxy-Authorization": f"Basic {CLIENT_SECRET}",
    "Cookie": f"session={CLIENT_SECRET}",
    "X-Auth-Token": CLIENT_SECRET,
    "OpenAI-Organization": f"org-{CLIENT_SECRET}",
    "OpenAI-Project": f"proj-{CLIENT_SECRET}",
    # hop-by-hop and proxy plumbing
    "Connection": "keep-alive, X-Hop",
    "X-Hop": CLIENT_SECRET,
    "Keep-Alive": "timeout=5",
    "TE": "trailers",
    "Upgrade": "h2c",
    "Via": f"1.1 {CLIENT_SECRET}",
    "X-Forwarded-For": "10.0.0.1",
    "X-Real-IP": "10.0.0.1",
    "Forwarded": "for=10.0.0.1",
    # plano's own inputs, not the provider's business
    "X-Model-Affinity": "sess-1",
    "X-Org-Id": "tenant-1",
    # anything else
    "X-Custom-Thing": CLIENT_SECRET,
    "Accept-Language": "fr",
    "Accept": "text/html",
    "Origin": "http://client.example",
    "Referer": "http://client.example/page",
    "Cache-Control": "no-cache",
    # the allow-list
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "tracestate": "vendor=1",
    "anthropic-beta": "tools-2024-04-04",
    "anthropic-version": "2023-06-01",
}


@pytest.mark.parametrize(
    ("dialect", "model", "auth_header", "auth_value"),
    [
        (OPENAI, "openai/gpt-4o", "authorization", f"Bearer {OPENAI_KEY}"),
        (ANTHROPIC, "openai/gpt-4o", "authorization", f"Bearer {OPENAI_KEY}"),
        (OPENAI, "anthropic/claude-sonnet-4-6", "x-api-key", ANTHROPIC_KEY),
        (ANTHROPIC, "anthropic/claude-sonnet-4-6", "x-api-key", ANTHROPIC_KEY),
    ],
)
def test_only_allowed_headers_go_upstream(
    plano, fake, http, dialect, model, auth_header, auth_value
):
    fake.clear()
    for stream in (False, True):
        reply = http.post(
            plano.url + path_of(dialect),
            json=body_for(dialect, model, stream=stream),
            headers=CLIENT_HEADERS,
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
    received = fake.wait_for_requests(2)
    for request in received:
        assert set(request.headers) <= UPSTREAM_HEADERS, set(request.headers) - UPSTREAM_HEADERS
        assert request.headers[auth_header] == auth_value
        raw = repr(request.headers).encode() + request.body
        assert CLIENT_SECRET.encode() not in raw
        assert b"10.0.0.1" not in raw and b"client.example" not in raw
        assert request.headers["traceparent"] == CLIENT_HEADERS["traceparent"]
        if model.startswith("anthropic/"):
            assert request.headers["anthropic-beta"] == "tools-2024-04-04"
        else:
            assert "anthropic-beta" not in request.headers


def test_passthrough_auth_forwards_only_the_client_key(plano, fake, http):
    """The positive control: with passthrough_auth the key goes, the other secrets still do not."""
    fake.clear()
    reply = http.post(
        plano.url + "/v1/chat/completions",
        json=body_for(OPENAI, "openai/gpt-pass"),
        headers=CLIENT_HEADERS,
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    (request,) = fake.wait_for_requests(1)
    assert request.headers["authorization"] == f"Bearer {CLIENT_SECRET}"
    others = {k: v for k, v in request.headers.items() if k != "authorization"}
    assert CLIENT_SECRET not in repr(others)
    assert OPENAI_KEY not in repr(request.headers)


# ------------------------------------------------------------------------- body limits


def _big_body(size: int) -> bytes:
    body = body_for(OPENAI, "openai/gpt-4o", "x" * size)
    return json.dumps(body).encode()


def _chunked(payload: bytes, piece: int = 8192) -> bytes:
    out = [b"%x\r\n%s\r\n" % (len(payload[i : i + piece]), payload[i : i + piece])
           for i in range(0, len(payload), piece)]  # fmt: skip
    return b"".join(out) + b"0\r\n\r\n"


def _largest_upstream_body(fake: FakeProvider) -> int:
    return max((len(r.body) for r in fake.requests), default=0)


@pytest.mark.parametrize("dialect", [OPENAI, ANTHROPIC])
def test_chunked_body_over_the_limit_is_413(plano, fake, dialect):
    fake.clear()
    body = json.dumps(body_for(dialect, "openai/gpt-4o", "y" * (MAX_BODY_BYTES * 2))).encode()
    target = path_of(dialect).encode()
    headers = [(b"Content-Type", b"application/json"), (b"Transfer-Encoding", b"chunked")]
    with RawHttp(plano.port) as conn:
        raw = build_request(b"POST", target, headers, _chunked(body), content_length=False)
        reply = conn.send(raw)
        assert reply.status == 413, reply
        assert_error_body(reply.body, dialect)
        # Under the limit, chunked works (a new connection: the server may close after a 413).
        conn.close()
        small = json.dumps(body_for(dialect, "openai/gpt-4o", "z" * 1000)).encode()
        raw = build_request(b"POST", target, headers, _chunked(small, 100), content_length=False)
        reply = conn.send(raw)
        assert reply.status == 200, reply
        assert_completion(reply.body, dialect)
    assert _largest_upstream_body(fake) < MAX_BODY_BYTES


def test_content_length_over_the_limit_is_413_before_reading(plano, fake):
    """A Content-Length over the limit is refused without waiting for the body."""
    fake.clear()
    headers = [
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"%d" % (MAX_BODY_BYTES * 100)),
    ]
    with RawHttp(plano.port, timeout_s=10) as conn:
        raw = build_request(
            b"POST", b"/v1/messages", headers, b'{"model": "x"', content_length=False
        )
        reply = conn.send(raw)
    assert reply.status == 413
    assert_error_body(reply.body, ANTHROPIC)
    assert fake.request_count == 0


def test_lying_content_length_smaller_than_the_body(plano, fake):
    """The extra bytes are not a second request plano would forward: at most garbage to refuse."""
    fake.clear()
    payload = _big_body(MAX_BODY_BYTES * 3)
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"40")]
    with RawHttp(plano.port, timeout_s=10) as conn:
        raw = build_request(
            b"POST", b"/v1/chat/completions", headers, payload, content_length=False
        )
        reply = conn.send(raw)
        assert reply.status == 400, reply
        assert_error_body(reply.body, OPENAI)
    assert fake.request_count == 0


def _smuggling(framing: str) -> bytes:
    """A request whose body, framed the other way, carries a second complete request."""
    inner = json.dumps(body_for(OPENAI, "openai/gpt-4o")).encode()
    smuggled = build_request(
        b"POST", b"/v1/chat/completions", [(b"Content-Type", b"application/json")], inner
    )
    chunked_then_smuggled = b"0\r\n\r\n" + smuggled
    body, headers = {
        # CL.TE: a front proxy reading Content-Length forwards it all; chunked ends at "0".
        "cl-te": (
            chunked_then_smuggled,
            [(b"Content-Length", b"%d" % len(chunked_then_smuggled)),
             (b"Transfer-Encoding", b"chunked")],
        ),
        # TE.TE: a coding list one side reads as chunked and the other does not.
        "te-list": (chunked_then_smuggled, [(b"Transfer-Encoding", b"gzip, chunked")]),
        "te-twice": (
            chunked_then_smuggled,
            [(b"Transfer-Encoding", b"chunked"), (b"Transfer-Encoding", b"identity")],
        ),
        # Two lengths: one side takes the first, the other the last.
        "cl-twice": (smuggled, [(b"Content-Length", b"0"),
                                (b"Content-Length", b"%d" % len(smuggled))]),
        # A length only a lenient parser reads as 0.
        "cl-signed": (smuggled, [(b"Content-Length", b"+0")]),
    }[framing]  # fmt: skip
    headers = [(b"Content-Type", b"application/json"), *headers]
    return build_request(b"POST", b"/v1/chat/completions", headers, body, content_length=False)


@pytest.mark.parametrize("framing", ["cl-te", "te-list", "te-twice", "cl-twice", "cl-signed"])
def test_ambiguous_framing_is_refused_and_the_connection_closed(plano, fake, framing):
    """Request smuggling: one answer, 400 or 501, the connection closed, nothing forwarded."""
    fake.clear()
    with socket.create_connection(("127.0.0.1", plano.port), timeout=10) as sock:
        sock.sendall(_smuggling(framing))
        received = b""
        while chunk := sock.recv(65536):  # until the server closes (timeout: the test fails)
            received += chunk
    assert received.split(b" ", 2)[1] in (b"400", b"501"), received[:200]
    assert received.count(b"HTTP/1.1 ") == 1, received
    assert fake.request_count == 0


def test_no_secret_in_logs(plano):
    """Run last: nothing above put a key or a client secret into a log."""
    texts = [plano.log_text(), (plano.tmp_path / "requests.log").read_text()]
    for text in texts:
        for secret in (OPENAI_KEY, ANTHROPIC_KEY, CLIENT_SECRET):
            assert secret not in text
        assert "Traceback" not in text
