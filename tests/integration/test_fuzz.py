"""Property-based fuzzing of one real plano (gunicorn, gevent) with a healthy fake provider.

Bodies (any JSON, every known key given a wrong type, deep nesting, huge strings, unicode, lone
surrogates, NUL bytes, bytes that are not UTF-8), headers (X-Model-Affinity and friends: over-long,
control characters, CRLF attempts, latin-1), methods and paths. Over 5,000 requests in all, sent
over raw keep-alive sockets so nothing in the client rewrites them.

Every answer: status < 500 (the provider is healthy, so any 5xx is a bug), no "Traceback", an
error body that is well-formed JSON in the path's dialect, and no access key anywhere: not in a
response, not in the gunicorn log, not in the request log. Requests gunicorn itself refuses at
the protocol level (a malformed request line or header) get gunicorn's own plain-text 400 and
never reach plano; they are recognised by the missing `x-request-id`.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeRouter
from tests.integration.dialects import ANTHROPIC, OPENAI, assert_error_body, sse_events
from tests.integration.rawhttp import RawHttp, RawReply, build_request
from tests.services.gunicorn import WORKER_CLASS_IDS, WORKER_CLASSES, GunicornServer

OPENAI_KEY = "sk-fuzz-openai-9d8c7b6a5f4e3d2c"
ANTHROPIC_KEY = "sk-ant-fuzz-1a2b3c4d5e6f7a8b"
MAX_BODY_BYTES = 256 * 1024
MIN_TOTAL_REQUESTS = 5000
# gunicorn's own answers (text/html, no x-request-id) to requests it cannot parse: bad request
# line or header, URI or header too long, an Expect it cannot meet, and 501 for a
# Transfer-Encoding it does not implement.
GUNICORN_REFUSALS = frozenset({400, 414, 417, 431, 501})
# Multiplies every test's example count (e.g. 0.1 for a quick local run, 10 for a long one).
SCALE = float(os.environ.get("PLANO_FUZZ_SCALE", "1"))

CONFIG = f"""
version: v0.4.0
listeners:
  - name: model_listener
    type: model
    port: 12000
    timeout: 10s
model_providers:
  - model: openai/gpt-4o
    base_url: {{fake}}
    access_key: {OPENAI_KEY}
    default: true
  - model: openai/gpt-4o-mini
    base_url: {{fake}}
    access_key: {OPENAI_KEY}
  - model: anthropic/claude-sonnet-4-6
    base_url: {{fake}}
    access_key: {ANTHROPIC_KEY}
  - model: plano/router-model
    base_url: {{router}}
model_aliases:
  fast:
    target: openai/gpt-4o-mini
routing_preferences:
  - name: code
    description: writing code
    models: [anthropic/claude-sonnet-4-6, openai/gpt-4o]
routing:
  session_cache:
    type: memory
    tenant_header: x-org-id
overrides:
  llm_routing_model: plano/router-model
observability:
  request_log: {{tmp}}/requests.log
  max_body_bytes: {MAX_BODY_BYTES}
"""

PROXY_PATHS = {
    OPENAI: ["/v1/chat/completions", "/routing/v1/chat/completions"],
    ANTHROPIC: ["/v1/messages", "/routing/v1/messages"],
}
ALL_PROXY_PATHS = [path.encode() for paths in PROXY_PATHS.values() for path in paths]
MODELS = [
    "openai/gpt-4o",
    "gpt-4o-mini",
    "fast",
    "anthropic/claude-sonnet-4-6",
    "claude-sonnet-4-6",
    "no-such-model",
    "",
    "openai/*",
    "plano/router-model",
    "router-model",
]


# ------------------------------------------------------------------------------- fixtures


class Stats:
    """Counts requests across the module's tests."""

    def __init__(self) -> None:
        self.requests = 0
        self.by_status: dict[int, int] = {}
        self.refused = 0  # answered by gunicorn itself, see GUNICORN_REFUSALS


@pytest.fixture(scope="module")
def stats() -> Stats:
    return Stats()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(default=Behavior(chunks=2)) as provider:
        yield provider


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
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    config = tmp / "plano.yaml"
    text = CONFIG.replace("{fake}", fake.base_url).replace("{router}", router.base_url)
    config.write_text(text.replace("{tmp}", str(tmp)), encoding="utf-8")
    server = GunicornServer(config, tmp, workers=1, worker_class=request.param).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def conn(plano: GunicornServer) -> Iterator[RawHttp]:
    with RawHttp(plano.port) as client:
        yield client


FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def examples(count: int) -> int:
    """`count` scaled by PLANO_FUZZ_SCALE."""
    return max(1, round(count * SCALE))


# ------------------------------------------------------------------------------ checking


def _path_dialect(target: bytes) -> str:
    path = urllib.parse.unquote(target.split(b"?", 1)[0].decode("latin-1"))
    return ANTHROPIC if path.endswith("/messages") else OPENAI


def check(reply: RawReply, target: bytes, stats: Stats, *, head: bool = False) -> None:
    """The properties every answer has."""
    stats.requests += 1
    if "x-request-id" not in reply.headers and reply.status in GUNICORN_REFUSALS:
        # gunicorn refused the request line, a header or the framing before plano saw it.
        assert b"Traceback" not in reply.body
        stats.refused += 1
        return
    stats.by_status[reply.status] = stats.by_status.get(reply.status, 0) + 1
    assert reply.status != 0, f"the server closed without answering {target[:200]!r}"
    assert reply.status < 500, (reply.status, target[:200], reply.body[:800])
    blob = reply.body + repr(reply.headers).encode()
    assert b"Traceback" not in blob, reply.body[:2000]
    assert OPENAI_KEY.encode() not in blob and ANTHROPIC_KEY.encode() not in blob
    assert "x-request-id" in reply.headers, (reply.status, reply.headers)
    if head or reply.status in (204, 304):
        return
    content_type = reply.headers.get("content-type", "")
    if content_type.startswith("text/event-stream"):
        for _name, data in sse_events(reply.body):
            if data != "[DONE]":
                json.loads(data)
        return
    if reply.status >= 400:
        assert content_type.startswith("application/json"), (reply.status, content_type)
        assert_error_body(reply.body, _path_dialect(target))


def post_json(conn: RawHttp, target: bytes, payload: bytes, headers=()) -> RawReply:
    raw = build_request(
        b"POST", target, [(b"Content-Type", b"application/json"), *headers], payload
    )
    return conn.send(raw)


# ----------------------------------------------------------------------------- strategies

# Text that stresses decoders: control characters, NUL, lone surrogates, astral planes.
nasty_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=40
) | st.sampled_from(["\x00", "\ud800", "\udfff", "\U0001f600" * 3, "\r\n", "\u202e", "%00", "'"])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | nasty_text
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            nasty_text | st.sampled_from(["type", "text", "role"]), children, max_size=4
        )
    ),
    max_leaves=12,
)


def _template(dialect: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "openai/gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}]},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "write code"},
        ],
        "stream": False,
        "max_tokens": 16,
        "temperature": 0.2,
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object"}},
                "name": "f",
                "input_schema": {"type": "object"},
            }
        ],
        "routing_preferences": [
            {"name": "code", "description": "writing code", "models": ["openai/gpt-4o"]}
        ],
    }
    if dialect == ANTHROPIC:
        body["messages"] = body["messages"][1:]
        body["system"] = "be brief"
    return body


# Where a fuzzed value goes in the template: every key plano reads, and some it only forwards.
KEY_PATHS: list[tuple[Any, ...]] = [
    ("model",),
    ("messages",),
    ("messages", 0),
    ("messages", 0, "role"),
    ("messages", 0, "content"),
    ("messages", 1, "content"),
    ("messages", 1, "content", 0),
    ("messages", 1, "content", 0, "type"),
    ("messages", 1, "content", 0, "text"),
    ("messages", 2, "tool_calls"),
    ("messages", 3, "name"),
    ("stream",),
    ("stream_options",),
    ("stream_options", "include_usage"),
    ("max_tokens",),
    ("max_completion_tokens",),
    ("temperature",),
    ("system",),
    ("tools",),
    ("tools", 0),
    ("tools", 0, "function"),
    ("tools", 0, "function", "name"),
    ("tools", 0, "name"),
    ("tool_choice",),
    ("stop",),
    ("stop_sequences",),
    ("metadata",),
    ("user",),
    ("n",),
    ("response_format",),
    ("thinking",),
    ("routing_preferences",),
    ("routing_preferences", 0),
    ("routing_preferences", 0, "name"),
    ("routing_preferences", 0, "description"),
    ("routing_preferences", 0, "models"),
    ("routing_preferences", 0, "models", 0),
    ("routing_preferences", 0, "selection_policy"),
    ("routing_preferences", 0, "selection_policy", "prefer"),
]


def _put(body: Any, path: tuple[Any, ...], value: Any) -> None:
    *parents, last = path
    node = body
    for key in parents:
        if isinstance(node, dict):
            node = node.setdefault(key, {})
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value


@st.composite
def mutated_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    dialect = draw(st.sampled_from([OPENAI, ANTHROPIC]))
    body = _template(dialect)
    if draw(st.booleans()):
        del body["routing_preferences"]
    body["model"] = draw(st.sampled_from(MODELS) | st.none())
    if body["model"] is None:
        del body["model"]
    body["stream"] = draw(st.booleans())
    for _ in range(draw(st.integers(1, 3))):
        _put(body, draw(st.sampled_from(KEY_PATHS)), draw(json_values))
    return dialect, body


def encode(value: Any, ascii_only: bool) -> bytes:
    """JSON bytes; lone surrogates go out as escapes (ASCII) or as invalid UTF-8 bytes."""
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def _deep(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


# ---------------------------------------------------------------------------------- tests


@settings(FUZZ, max_examples=examples(900))
@given(case=mutated_bodies(), ascii_only=st.booleans())
def test_fuzzed_known_keys(conn, stats, case, ascii_only):
    dialect, body = case
    payload = encode(body, ascii_only)
    for path in PROXY_PATHS[dialect]:  # the proxy and the decision API
        check(post_json(conn, path.encode(), payload), path.encode(), stats)


@settings(FUZZ, max_examples=examples(300))
@given(value=json_values, ascii_only=st.booleans())
def test_fuzzed_any_json(conn, stats, value, ascii_only):
    payload = encode(value, ascii_only)
    for path in ALL_PROXY_PATHS:
        check(post_json(conn, path, payload), path, stats)


@settings(FUZZ, max_examples=examples(200))
@given(
    payload=st.binary(max_size=300)
    | st.builds(
        lambda prefix, junk: prefix + junk,
        st.sampled_from(
            [b'{"model": "gpt-4o", "messages": [', b'{"messages":"\x00', b"\xef\xbb\xbf{"]
        ),
        st.binary(max_size=50),
    )
    | st.builds(_deep, st.integers(100, 50_000), st.sampled_from(["list", "dict"])),
    content_type=st.sampled_from([b"application/json", b"text/plain", b"", b"\x00"]),
)
def test_fuzzed_raw_bytes(conn, stats, payload, content_type):
    for target in ALL_PROXY_PATHS:
        raw = build_request(b"POST", target, [(b"Content-Type", content_type)], payload)
        check(conn.send(raw), target, stats)


@settings(FUZZ, max_examples=examples(30))
@given(
    size=st.integers(MAX_BODY_BYTES - 2048, MAX_BODY_BYTES * 4),
    fill=st.sampled_from(["a", "\x00", "\u00e9", "\U0001f600", "\\"]),
    dialect=st.sampled_from([OPENAI, ANTHROPIC]),
)
def test_huge_strings(conn, stats, size, fill, dialect):
    target = PROXY_PATHS[dialect][0].encode()
    text = fill * max(1, size // max(1, len(fill.encode())))
    body = {"model": "gpt-4o", "max_tokens": 8, "messages": [{"role": "user", "content": text}]}
    payload = encode(body, ascii_only=False)
    reply = post_json(conn, target, payload)
    check(reply, target, stats)
    if len(payload) > MAX_BODY_BYTES:
        assert reply.status == 413
    else:
        assert reply.status == 200


header_bytes = st.binary(max_size=300) | st.sampled_from(
    [
        b"a" * 257,
        b"a" * 256,
        b"x" * 20_000,
        b"abc\r\nX-Injected: 1",
        b"abc\nX-Injected: 1",
        b"abc\rdef",
        b"\x00",
        b"\x7f",
        b"caf\xc3\xa9",
        b"caf\xe9",
        b" ",
        b"",
        b"../../etc/passwd",
        b"http://evil.example/",
    ]
)
HEADER_NAMES = [
    b"X-Model-Affinity",
    b"x-model-affinity",
    b"X-Request-Id",
    b"X-Org-Id",
    b"traceparent",
    b"tracestate",
    b"anthropic-version",
    b"anthropic-beta",
    b"Authorization",
    b"x-api-key",
    b"Content-Type",
    b"Transfer-Encoding",
    b"Expect",
    b"Connection",
]


@settings(FUZZ, max_examples=examples(700))
@given(
    headers=st.lists(
        st.tuples(st.sampled_from(HEADER_NAMES) | st.binary(min_size=1, max_size=30), header_bytes),
        min_size=1,
        max_size=4,
    ),
    dialect=st.sampled_from([OPENAI, ANTHROPIC]),
    routing_api=st.booleans(),
    model=st.sampled_from(["gpt-4o", "claude-sonnet-4-6"]) | st.none(),
)
def test_fuzzed_headers(conn, stats, headers, dialect, routing_api, model):
    target = PROXY_PATHS[dialect][1 if routing_api else 0].encode()
    body = _template(dialect)
    del body["routing_preferences"]
    if model is None:
        del body["model"]
    else:
        body["model"] = model
    names = {name.lower() for name, _ in headers}
    sane = [h for h in headers if h[0].lower() not in (b"content-length", b"host")]
    payload = encode(body, ascii_only=True)
    raw = build_request(b"POST", target, sane, payload)
    reply = conn.send(raw)
    if b"transfer-encoding" in names or b"expect" in names or b"connection" in names:
        conn.close()  # framing headers may leave the connection in any state: start afresh
    check(reply, target, stats)


KNOWN_PATHS = [
    b"/v1/chat/completions",
    b"/v1/messages",
    b"/routing/v1/chat/completions",
    b"/routing/v1/messages",
    b"/v1/models",
    b"/healthz",
    b"/readyz",
    b"/metrics",
    b"/",
]
path_segment = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"),
    max_size=12,
).map(lambda text: text.encode())
targets = (
    st.sampled_from(KNOWN_PATHS)
    | st.lists(path_segment, max_size=5).map(lambda parts: b"/" + b"/".join(parts))
    | st.builds(
        lambda base, suffix: base + suffix,
        st.sampled_from(KNOWN_PATHS),
        st.sampled_from(
            [
                b"/",
                b"//",
                b"/..",
                b"/../../etc/passwd",
                b"%00",
                b"%2F",
                b"?x=%ff",
                b"?" + b"a" * 5000,
            ]
        ),
    )
    | st.sampled_from(
        [
            b"//v1/chat/completions",
            b"/v1/../v1/messages",
            b"/v1/chat%2Fcompletions",
            b"/v1/message%73",
            b"http://evil.example/v1/chat/completions",
            b"*",
            b"/" + b"a" * 8000,
            b"/%ff%fe",
        ]
    )
)
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD", b"TRACE"]


@settings(FUZZ, max_examples=examples(600))
@given(
    method=st.sampled_from(METHODS) | st.sampled_from([b"FOO", b"get", b"CONNECT", b"PROPFIND"]),
    target=targets,
    with_body=st.booleans(),
)
def test_fuzzed_methods_and_paths(conn, stats, method, target, with_body):
    payload = (
        b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' if with_body else b""
    )
    raw = build_request(method, target, [(b"Content-Type", b"application/json")], payload)
    head = method == b"HEAD"
    reply = conn.send(raw, head=head)
    check(reply, target, stats, head=head)


def test_totals_and_logs_stay_clean(plano, stats, fake):
    """Run last: enough requests were made, and no log line holds a key or a traceback."""
    assert stats.requests >= MIN_TOTAL_REQUESTS * min(1.0, SCALE), stats.by_status
    assert max(stats.by_status) < 500, stats.by_status
    assert stats.by_status.get(200, 0) > 200, stats.by_status  # plenty went through for real
    assert fake.request_count > 0  # valid cases really went upstream
    log = plano.log_text()
    request_log = (plano.tmp_path / "requests.log").read_text(errors="replace")
    for text in (log, request_log):
        assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text
    assert "Traceback" not in log, log[-3000:]
    assert "Internal error" not in request_log
