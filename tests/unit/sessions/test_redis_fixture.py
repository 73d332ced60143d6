"""The redis-server fixture others reuse: it fails loudly, restarts on its port, cleans up."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.services.redis_server import RedisServer, RedisServerError, run_redis


def test_missing_redis_server_fails(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, executable=str(tmp_path / "no-such-redis-server"))
    with pytest.raises(RedisServerError, match="missing"):
        server.start()


def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, extra_args=["--no-such-option", "1"])
    with pytest.raises(RedisServerError, match="did not answer PING"):
        server.start()
    assert not server.is_running


def test_stop_start_keeps_the_port(tmp_path: Path) -> None:
    with run_redis(tmp_path) as server:
        port, url = server.port, server.url
        assert url == f"redis://127.0.0.1:{port}/0"
        server.stop()
        assert not server.is_running
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        server.start()
        assert server.is_running
        assert (server.port, server.url) == (port, url)
    assert not server.is_running
