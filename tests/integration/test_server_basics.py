"""The foundation under real gunicorn: health, readiness, the model list, errors, clean stop.

Runs the shipped `conf/examples/alias_based.yaml` unchanged (with a free port), so the example
is proved to start, not only to validate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.services.gunicorn import REPO_ROOT, GunicornServer

EXAMPLE = REPO_ROOT / "conf" / "examples" / "alias_based.yaml"


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    tmp = tmp_path_factory.mktemp("basics")
    with GunicornServer(EXAMPLE, tmp, workers=2) as running:
        yield running


def test_healthz_says_ok(server: GunicornServer, http: requests.Session) -> None:
    reply = http.get(f"{server.url}/healthz", timeout=10)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}
    assert reply.headers["x-request-id"]


def test_readyz_is_ready_with_the_config_loaded(
    server: GunicornServer, http: requests.Session
) -> None:
    reply = http.get(f"{server.url}/readyz", timeout=10)
    assert reply.status_code == 200
    assert reply.json()["ready"] is True


def test_models_lists_declared_models_and_aliases(
    server: GunicornServer, http: requests.Session
) -> None:
    reply = http.get(f"{server.url}/v1/models", timeout=10)
    assert reply.status_code == 200
    body = reply.json()
    assert body["object"] == "list"
    ids = [entry["id"] for entry in body["data"]]
    assert ids == [
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
        "anthropic/claude-sonnet-4-6",
        "fast-model",
        "smart-model",
        "creative-model",
    ]
    for entry in body["data"]:
        assert set(entry) == {"id", "object", "created", "owned_by"}
        assert entry["object"] == "model"
        assert entry["created"] == 0
        assert isinstance(entry["owned_by"], str) and entry["owned_by"]
    owners = {entry["id"]: entry["owned_by"] for entry in body["data"]}
    assert owners["fast-model"] == "plano"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/nothing-here", 404),
        ("GET", "/v1/chat/completions", 405),
        ("DELETE", "/v1/models", 405),
    ],
)
def test_unknown_paths_and_methods_get_openai_json(
    server: GunicornServer, http: requests.Session, method: str, path: str, status: int
) -> None:
    reply = http.request(method, server.url + path, timeout=10)
    assert reply.status_code == status
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in reply.text


def test_wrong_method_on_messages_gets_anthropic_json(
    server: GunicornServer, http: requests.Session
) -> None:
    reply = http.get(f"{server.url}/v1/messages", timeout=10)
    assert reply.status_code == 405
    assert reply.json()["type"] == "error"
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert "POST" in reply.headers["allow"]


def test_sigterm_stops_master_and_workers_cleanly(tmp_path: Path) -> None:
    server = GunicornServer(EXAMPLE, tmp_path, workers=2).start()
    workers = server.wait_for_workers(2)
    assert server.terminate() == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
