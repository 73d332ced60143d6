"""The gunicorn and nginx runners of tests/services, exercised with a stub WSGI app.

A stub keeps these tests about the runners (ports, readiness, logs, process groups, shutdown);
conf/gunicorn.conf.py with the real app is covered in test_gunicorn_conf.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.services.gunicorn import GunicornError, GunicornServer
from tests.services.nginx import NginxError, NginxServer, run_nginx
from tests.services.ports import free_port, is_listening, wait_until_closed

pytestmark = pytest.mark.integration

STUB_APP = """
import json, os, time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        time.sleep(1.0)  # gevent-patched: yields
    body = json.dumps({
        "path": path,
        "pid": os.getpid(),
        "plano_config": os.environ.get("PLANO_CONFIG"),
        "tmpdir": os.environ.get("TMPDIR"),
        "x_request_id": environ.get("HTTP_X_REQUEST_ID"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


@pytest.fixture()
def stub_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "stub"
    directory.mkdir()
    (directory / "stubapp.py").write_text(STUB_APP)
    (directory / "broken.py").write_text("raise RuntimeError('the stub refuses to boot')\n")
    (directory / "plano.yaml").write_text("version: v0.4.0\n")
    return directory


def stub_server(stub_dir: Path, tmp_path: Path, **kwargs: object) -> GunicornServer:
    return GunicornServer(
        stub_dir / "plano.yaml",
        tmp_path / "gunicorn",
        app=str(kwargs.pop("app", "stubapp:app")),
        cwd=stub_dir,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture()
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


def test_free_port_is_bindable_and_distinct() -> None:
    ports = {free_port() for _ in range(5)}
    assert len(ports) >= 4
    assert all(1024 <= port < 65536 for port in ports)


def test_gunicorn_serves_with_n_workers_and_the_plano_environment(
    stub_dir: Path, tmp_path: Path, session: requests.Session
) -> None:
    with stub_server(stub_dir, tmp_path, workers=2, env={"EXTRA": "1"}) as server:
        assert server.command[1:6] == ["-m", "gunicorn", "-k", "gevent", "-w"]
        reply = session.get(f"{server.url}/healthz", timeout=5).json()
        assert reply["plano_config"] == str((stub_dir / "plano.yaml").resolve())
        assert reply["tmpdir"].startswith(str(tmp_path))
        workers = server.wait_for_workers(2)
        assert reply["pid"] in workers
        assert server.env["EXTRA"] == "1"
        assert "Booting worker" in server.log_text()


def test_terminate_is_graceful_and_lets_a_request_in_flight_finish(
    stub_dir: Path, tmp_path: Path
) -> None:
    server = stub_server(stub_dir, tmp_path, extra_args=("--graceful-timeout", "10")).start()
    results: list[int] = []

    def slow_call() -> None:
        with requests.Session() as client:
            results.append(client.get(f"{server.url}/slow", timeout=10).status_code)

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.3)
    assert server.terminate() == 0
    caller.join(10)
    assert results == [200]
    assert wait_until_closed(server.port)


def test_stop_kills_master_and_workers(stub_dir: Path, tmp_path: Path) -> None:
    server = stub_server(stub_dir, tmp_path, workers=2).start()
    workers = server.wait_for_workers(2)
    server.stop()
    assert not server.is_running
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)
    assert not is_listening(server.port)


def test_a_gunicorn_that_cannot_boot_fails_with_its_log(stub_dir: Path, tmp_path: Path) -> None:
    server = stub_server(stub_dir, tmp_path, app="broken:app", start_timeout_s=20)
    with pytest.raises(GunicornError) as caught:
        server.start()
    assert "the stub refuses to boot" in str(caught.value)
    assert not server.is_running


def test_nginx_fronts_gunicorn_instances_and_waits_for_healthz(
    stub_dir: Path, tmp_path: Path, session: requests.Session
) -> None:
    with (
        stub_server(stub_dir, tmp_path / "a") as first,
        stub_server(stub_dir, tmp_path / "b") as second,
        run_nginx([first.address, second.address], tmp_path / "nginx") as proxy,
    ):
        reply = session.get(f"{proxy.url}/healthz", headers={"X-Request-Id": "r-1"}, timeout=5)
        assert reply.status_code == 200
        assert reply.json()["x_request_id"] == "r-1"
        assert f"listen 127.0.0.1:{proxy.port};" in proxy.rendered_path.read_text()
        assert (proxy.prefix / "nginx.pid").exists()
        assert '"GET /healthz HTTP/1.1" 200' in proxy.log_text()
    assert not is_listening(proxy.port)


def test_nginx_not_ready_in_time_fails_with_its_log(tmp_path: Path) -> None:
    dead_upstream = f"127.0.0.1:{free_port()}"
    server = NginxServer([dead_upstream], tmp_path, start_timeout_s=1.5)
    with pytest.raises(NginxError, match="was not ready") as caught:
        server.start()
    assert "error.log" in str(caught.value)
    assert not is_listening(server.port)


def test_a_missing_nginx_binary_is_a_failure_not_a_skip(tmp_path: Path) -> None:
    server = NginxServer(["127.0.0.1:1"], tmp_path, executable=str(tmp_path / "no-nginx"))
    with pytest.raises(NginxError, match="missing"):
        server.start()
