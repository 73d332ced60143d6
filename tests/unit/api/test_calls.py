"""plano.api.calls: the request id, the body read from the WSGI environ, the typed call."""

from __future__ import annotations

import io
from typing import Any

import pytest

from plano.api.calls import MAX_REQUEST_ID, read_body, read_call, request_id_of
from plano.config.loader import parse_settings
from plano.errors import InvalidRequest, PayloadTooLarge
from plano.routing.call import Dialect

LIMIT = 64

SETTINGS = parse_settings(
    """\
version: v0.4.0
model_providers:
  - model: openai/gpt-4o
    access_key: sk-test
    default: true
routing:
  session_cache:
    type: memory
    tenant_header: x-tenant
""",
    {},
)


def environ(body: bytes = b"", **extra: Any) -> dict[str, Any]:
    """A WSGI environ with `body` on its input stream; CONTENT_LENGTH only if given."""
    return {"wsgi.input": io.BytesIO(body), **extra}


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("req-123", True),
        ("a" * MAX_REQUEST_ID, True),
        ("a" * (MAX_REQUEST_ID + 1), False),
        ("", False),
        ("bad\x01id", False),
        ("café", False),
    ],
)
def test_request_id_is_kept_only_when_sane(given: str, kept: bool) -> None:
    got = request_id_of({"HTTP_X_REQUEST_ID": given})
    if kept:
        assert got == given
    else:
        assert len(got) == 32 and int(got, 16) >= 0


def test_made_request_ids_differ() -> None:
    assert len({request_id_of({}) for _ in range(100)}) == 100


def test_body_with_a_content_length_is_read_to_its_length() -> None:
    assert read_body(environ(b"0123456789extra", CONTENT_LENGTH="10"), LIMIT) == b"0123456789"


def test_body_at_the_limit_is_read_and_one_over_is_refused_unread() -> None:
    assert read_body(environ(b"x" * LIMIT, CONTENT_LENGTH=str(LIMIT)), LIMIT) == b"x" * LIMIT
    stream = environ(b"x" * (LIMIT + 1), CONTENT_LENGTH=str(LIMIT + 1))
    with pytest.raises(PayloadTooLarge):
        read_body(stream, LIMIT)
    assert stream["wsgi.input"].tell() == 0


@pytest.mark.parametrize("length", ["ten", "1e3", " "])
def test_a_content_length_that_is_not_a_number_is_400(length: str) -> None:
    with pytest.raises(InvalidRequest, match="Content-Length"):
        read_body(environ(b"{}", CONTENT_LENGTH=length), LIMIT)


def test_a_body_shorter_than_its_content_length_is_400() -> None:
    with pytest.raises(InvalidRequest, match="ended before"):
        read_body(environ(b"{}", CONTENT_LENGTH="10"), LIMIT)


def test_a_negative_content_length_reads_nothing() -> None:
    assert read_body(environ(b"{}", CONTENT_LENGTH="-5"), LIMIT) == b""


def test_chunked_body_is_read_to_its_end_and_refused_past_the_limit() -> None:
    terminated = {"wsgi.input_terminated": True}
    assert read_body(environ(b"x" * LIMIT, **terminated), LIMIT) == b"x" * LIMIT
    with pytest.raises(PayloadTooLarge):
        read_body(environ(b"x" * (LIMIT + 1), **terminated), LIMIT)


def test_no_length_and_no_chunked_framing_is_an_empty_body() -> None:
    assert read_body(environ(b"ignored"), LIMIT) == b""


def _call_environ(body: bytes, **headers: str) -> dict[str, Any]:
    return environ(body, CONTENT_LENGTH=str(len(body)), **headers)


def test_read_call_builds_the_call_and_its_context() -> None:
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}'
    env = _call_environ(
        body,
        HTTP_X_MODEL_AFFINITY="session-1",
        HTTP_X_TENANT="acme",
        HTTP_AUTHORIZATION="Bearer sk-client",
    )
    incoming = read_call(env, Dialect.OPENAI, "chat_completions", SETTINGS, "rid-1", 12.5)
    assert incoming.call.model == "gpt-4o"
    assert incoming.call.stream is True
    assert incoming.call.affinity_id == "session-1"
    assert incoming.call.tenant == "acme"
    assert incoming.body["messages"] == [{"role": "user", "content": "hi"}]
    context = incoming.context
    assert (context.request_id, context.endpoint, context.started) == (
        "rid-1",
        "chat_completions",
        12.5,
    )
    assert context.headers["authorization"] == "Bearer sk-client"


def test_read_call_takes_routing_preferences_out_of_the_forwarded_body() -> None:
    body = (
        b'{"messages":[{"role":"user","content":"hi"}],"routing_preferences":'
        b'[{"name":"code","description":"writing code","models":["openai/gpt-4o"]}]}'
    )
    incoming = read_call(_call_environ(body), Dialect.OPENAI, "routing", SETTINGS, "r", 0.0)
    assert "routing_preferences" not in incoming.body
    assert incoming.call.routes is not None
    assert [route.name for route in incoming.call.routes] == ["code"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"messages": "\\ud800"}', "lone UTF-16 surrogate"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["text", "array", "surrogate", "deep"],
)
def test_read_call_refuses_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        read_call(_call_environ(body), Dialect.ANTHROPIC, "messages", SETTINGS, "r", 0.0)
