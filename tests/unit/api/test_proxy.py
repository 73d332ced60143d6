"""plano.api.proxy: the proxy endpoints served in front of Flask, and what they refuse.

No provider is reached here: every case is answered before a call would go upstream. The
answers that do go upstream are tested end to end under both worker classes (test_proxy_sdk,
test_hygiene, test_security, test_fuzz, test_fallback).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from plano.app import create_app
from plano.config.loader import parse_settings
from plano.config.model import Settings
from plano.gateway import Gateway, GatewayParts
from plano.observability.request_log import RequestLog
from plano.routing.catalog import ModelCatalog
from plano.routing.ranking import MetricsSnapshot
from plano.wiring import AppParts, build_parts

MAX_BODY = 2048
PATHS = ["/v1/chat/completions", "/v1/messages"]
CONFIG = """\
version: v0.4.0
model_providers:
  - model: openai/gpt-4o
    base_url: http://127.0.0.1:9
    access_key: sk-never-sent
    default: true
observability:
  request_log: {log}
  max_body_bytes: {max_body}
"""
CALL = {"model": "gpt-4o", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def _settings(tmp_path: Path) -> Settings:
    text = CONFIG.format(log=tmp_path / "requests.log", max_body=MAX_BODY)
    return parse_settings(text, {})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(_settings(tmp_path))
    yield app
    app.extensions["plano"].refresher.stop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _log_lines(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "requests.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _assert_dialect_error(body: dict[str, Any], path: str, error_type: str) -> None:
    if path.endswith("/messages"):
        assert body["type"] == "error"
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == error_type


def test_other_paths_are_served_by_flask(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    models = client.get("/v1/models").get_json()
    assert [m["id"] for m in models["data"]] == ["openai/gpt-4o"]
    # A near miss of a proxy path is Flask's 404, in OpenAI's dialect.
    reply = client.post("/v1/chat/completions/", json=CALL)
    assert reply.status_code == 404
    assert reply.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", PATHS)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, tmp_path: Path, method: str, path: str
) -> None:
    reply = client.open(path, method=method, headers={"x-request-id": "rid-405"})
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    assert reply.headers["x-request-id"] == "rid-405"
    assert reply.headers["content-length"] == str(len(reply.data))
    _assert_dialect_error(reply.get_json(), path, "invalid_request_error")
    assert _log_lines(tmp_path) == []  # not a call: no request-log line


@pytest.mark.parametrize("path", PATHS)
def test_head_gets_the_405_headers_without_a_body(client: FlaskClient, path: str) -> None:
    reply = client.head(path)
    assert reply.status_code == 405
    assert reply.data == b""
    assert int(reply.headers["content-length"]) > 0  # the length of the body a GET would get


@pytest.mark.parametrize("path", PATHS)
def test_a_body_that_is_not_json_is_400_and_logged(
    client: FlaskClient, tmp_path: Path, path: str
) -> None:
    reply = client.post(path, data=b"{oops", headers={"x-request-id": "rid-400"})
    assert reply.status_code == 400
    assert reply.headers["x-request-id"] == "rid-400"
    _assert_dialect_error(reply.get_json(), path, "invalid_request_error")
    [line] = _log_lines(tmp_path)
    assert line["request_id"] == "rid-400"
    assert line["status"] == 400
    assert line["endpoint"] == path.rsplit("/", 1)[1].replace("completions", "chat_completions")
    assert line["attempts"] == 0


@pytest.mark.parametrize("path", PATHS)
def test_a_body_over_the_limit_is_413(client: FlaskClient, path: str) -> None:
    reply = client.post(path, data=b"x" * (MAX_BODY + 1), content_type="application/json")
    assert reply.status_code == 413
    expected = "request_too_large" if path.endswith("/messages") else "invalid_request_error"
    _assert_dialect_error(reply.get_json(), path, expected)


def test_an_unknown_model_is_404_and_logged_with_the_requested_model(
    client: FlaskClient, tmp_path: Path
) -> None:
    reply = client.post("/v1/messages", json={**CALL, "model": "no-such-model"})
    assert reply.status_code == 404
    assert reply.get_json()["error"]["type"] == "not_found_error"
    [line] = _log_lines(tmp_path)
    assert line["requested_model"] == "no-such-model"
    assert line["error"] == "model_not_found"


def test_the_proxy_endpoints_count_in_http_metrics(app: Flask, client: FlaskClient) -> None:
    client.get("/v1/chat/completions")
    client.post("/v1/messages", data=b"[]")
    client.get("/healthz")
    body = app.extensions["plano"].metrics.render()[0].decode()
    assert 'plano_http_requests_total{handler="chat_completions",status_class="4xx"} 1.0' in body
    assert 'plano_http_requests_total{handler="messages",status_class="4xx"} 1.0' in body
    assert 'plano_http_requests_total{handler="health",status_class="2xx"} 1.0' in body


class _BrokenSnapshots:
    """A SnapshotSource with a bug: what any unexpected exception in the gateway looks like."""

    def snapshot(self) -> MetricsSnapshot:
        raise RuntimeError("a bug")


@pytest.mark.parametrize("path", PATHS)
def test_an_unexpected_error_is_a_500_with_the_request_id(
    tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    real = build_parts(settings)
    gateway = Gateway(
        GatewayParts(
            settings=settings,
            catalog=ModelCatalog(settings.providers, settings.model_aliases),
            clients={},
            sessions=real.sessions,
            snapshots=_BrokenSnapshots(),
            metrics=real.metrics,
            request_log=RequestLog(settings.observability.request_log),
        )
    )
    parts = AppParts(settings, gateway, real.metrics, real.sessions, real.refresher)
    client = create_app(settings, parts).test_client()
    try:
        reply = client.post(path, json=CALL, headers={"x-request-id": "rid-bug"})
    finally:
        real.refresher.stop()
    assert reply.status_code == 500
    assert "rid-bug" in json.dumps(reply.get_json())
    assert "Traceback" not in reply.text and "a bug" not in reply.text
    assert [r.getMessage() for r in caplog.records] == ["unexpected error in request rid-bug"]
    assert caplog.records[0].exc_info is not None  # logged once, with its traceback
    [line] = _log_lines(tmp_path)
    assert (line["status"], line["error"]) == (500, "internal_error")
