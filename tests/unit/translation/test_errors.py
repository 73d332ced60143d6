"""Error bodies in both dialects (SPEC §2) and provider errors rewritten into the client's."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from plano.routing.call import Dialect
from plano.translation.errors import (
    MAX_UPSTREAM_TEXT,
    anthropic_stream_error,
    anthropic_type_for,
    error_body,
    openai_stream_error,
    openai_type_for,
    translate_error_body,
)
from plano.translation.sse import SseDecoder
from tests.unit.translation.sdk import anthropic_client, openai_client, raised_by, replying

OPENAI_BODY = {
    "error": {
        "message": "Rate limit reached for gpt-4o",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
ANTHROPIC_BODY = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
    "request_id": "req_011",
}


def as_json(raw: bytes) -> dict[str, object]:
    value = json.loads(raw)
    assert isinstance(value, dict)
    return value


def check_openai_shape(raw: bytes) -> dict[str, object]:
    body = as_json(raw)
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    return error


def check_anthropic_shape(raw: bytes) -> dict[str, object]:
    body = as_json(raw)
    assert set(body) == {"type", "error"}
    assert body["type"] == "error"
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"type", "message"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize(
    ("status", "openai_type", "anthropic_type"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "authentication_error"),
        (403, "permission_error", "permission_error"),
        (404, "invalid_request_error", "not_found_error"),
        (405, "invalid_request_error", "invalid_request_error"),
        (413, "invalid_request_error", "request_too_large"),
        (422, "invalid_request_error", "invalid_request_error"),
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "server_error", "api_error"),
        (502, "server_error", "api_error"),
        (503, "server_error", "api_error"),
        (504, "server_error", "api_error"),
        (529, "server_error", "overloaded_error"),
    ],
)
def test_status_to_type(status: int, openai_type: str, anthropic_type: str) -> None:
    assert openai_type_for(status) == openai_type
    assert anthropic_type_for(status) == anthropic_type
    assert check_openai_shape(error_body(Dialect.OPENAI, status, "m"))["type"] == openai_type
    assert check_anthropic_shape(error_body(Dialect.ANTHROPIC, status, "m"))["type"] == (
        anthropic_type
    )


def test_error_body_openai_fields() -> None:
    raw = error_body(
        Dialect.OPENAI, 404, "no model x", code="model_not_found", type_="t", param="model"
    )
    assert check_openai_shape(raw) == {
        "message": "no model x",
        "type": "t",
        "param": "model",
        "code": "model_not_found",
    }
    assert check_openai_shape(error_body(Dialect.OPENAI, 400, "bad")) == {
        "message": "bad",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_error_body_anthropic_fields() -> None:
    raw = error_body(Dialect.ANTHROPIC, 404, "no model x", code="model_not_found", param="model")
    assert check_anthropic_shape(raw) == {"type": "not_found_error", "message": "no model x"}
    raw = error_body(Dialect.ANTHROPIC, 400, "é", type_="custom")
    assert check_anthropic_shape(raw) == {"type": "custom", "message": "é"}


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 529])
def test_same_dialect_passes_through(status: int) -> None:
    for dialect, body in ((Dialect.OPENAI, OPENAI_BODY), (Dialect.ANTHROPIC, ANTHROPIC_BODY)):
        raw = json.dumps(body, indent=2).encode()
        assert translate_error_body(raw, dialect, status) == raw


@pytest.mark.parametrize(("status", "type_"), [(429, "rate_limit_error"), (500, "server_error")])
def test_anthropic_error_for_openai_client(status: int, type_: str) -> None:
    raw = json.dumps(ANTHROPIC_BODY).encode()
    error = check_openai_shape(translate_error_body(raw, Dialect.OPENAI, status))
    assert error["message"] == "Overloaded"
    assert error["type"] == type_


@pytest.mark.parametrize(
    ("status", "type_"),
    [(429, "rate_limit_error"), (400, "invalid_request_error"), (529, "overloaded_error")],
)
def test_openai_error_for_anthropic_client(status: int, type_: str) -> None:
    raw = json.dumps(OPENAI_BODY).encode()
    error = check_anthropic_shape(translate_error_body(raw, Dialect.ANTHROPIC, status))
    assert error == {"type": type_, "message": "Rate limit reached for gpt-4o"}


def test_incomplete_openai_shape_is_completed() -> None:
    # An OpenAI-compatible provider that leaves out fields: message and code kept, all four keys.
    raw = json.dumps({"error": {"message": "quota", "code": "insufficient_quota"}}).encode()
    error = check_openai_shape(translate_error_body(raw, Dialect.OPENAI, 429))
    assert error == {
        "message": "quota",
        "type": "rate_limit_error",
        "param": None,
        "code": "insufficient_quota",
    }
    rewritten = check_anthropic_shape(translate_error_body(raw, Dialect.ANTHROPIC, 429))
    assert rewritten == {"type": "rate_limit_error", "message": "quota"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"error": "model overloaded"}', "model overloaded"),
        (b'{"message": "Invalid API key"}', "Invalid API key"),
        (b'{"detail": "Not Found"}', "Not Found"),
        (
            b'[{"error": {"code": 400, "message": "API key not valid", "status": "INVALID"}}]',
            "API key not valid",
        ),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "HTTP 502"),
        (b"\n  <!DOCTYPE html><html></html>", "HTTP 502"),
        (b"", "HTTP 502"),
        (b"\xff\xfe\x00garbage", "HTTP 502"),
        (b"upstream connect error or disconnect/reset", "upstream connect error"),
        (b'"just a string"', "HTTP 502"),
        (b"null", "HTTP 502"),
    ],
)
@pytest.mark.parametrize("client", [Dialect.OPENAI, Dialect.ANTHROPIC])
def test_odd_bodies_become_clean_errors(raw: bytes, message: str, client: Dialect) -> None:
    out = translate_error_body(raw, client, 502)
    check = check_openai_shape if client is Dialect.OPENAI else check_anthropic_shape
    error = check(out)
    assert message in str(error["message"])
    assert "<" not in str(error["message"])


def test_long_text_body_is_cut() -> None:
    out = translate_error_body(b"x" * 10_000, Dialect.OPENAI, 500)
    message = str(check_openai_shape(out)["message"])
    assert message.count("x") == MAX_UPSTREAM_TEXT


@pytest.mark.parametrize(
    ("status", "body", "exception"),
    [
        (400, OPENAI_BODY, anthropic.BadRequestError),
        (429, OPENAI_BODY, anthropic.RateLimitError),
        (500, OPENAI_BODY, anthropic.InternalServerError),
        (404, {"detail": "Not Found"}, anthropic.NotFoundError),
    ],
)
def test_anthropic_sdk_reads_rewritten_errors(
    status: int, body: dict[str, object], exception: type[anthropic.APIStatusError]
) -> None:
    raw = translate_error_body(json.dumps(body).encode(), Dialect.ANTHROPIC, status)
    client = anthropic_client(replying(status, raw, "application/json"))
    error = raised_by(
        lambda: client.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    )
    assert isinstance(error, exception)
    assert isinstance(error.body, dict)
    assert error.body["error"]["type"] == anthropic_type_for(status)


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, openai.BadRequestError),
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
    ],
)
def test_openai_sdk_reads_rewritten_errors(
    status: int, exception: type[openai.APIStatusError]
) -> None:
    raw = translate_error_body(json.dumps(ANTHROPIC_BODY).encode(), Dialect.OPENAI, status)
    client = openai_client(replying(status, raw, "application/json"))
    error = raised_by(
        lambda: client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    )
    assert isinstance(error, exception)
    assert error.message.endswith(" - Overloaded")
    assert error.type == openai_type_for(status)


def test_openai_stream_error_event() -> None:
    events = SseDecoder().feed(openai_stream_error("cut", "server_error", "upstream_error"))
    assert len(events) == 1 and events[0].name is None
    assert events[0].json_or_none() == {
        "error": {"message": "cut", "type": "server_error", "param": None, "code": "upstream_error"}
    }


def test_anthropic_stream_error_event() -> None:
    events = SseDecoder().feed(anthropic_stream_error("overloaded_error", "busy"))
    assert len(events) == 1 and events[0].name == "error"
    raw = events[0].data.encode()
    assert check_anthropic_shape(raw) == {"type": "overloaded_error", "message": "busy"}
