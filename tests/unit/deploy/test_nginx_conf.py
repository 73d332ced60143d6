"""conf/nginx.conf, run by a real nginx (tests/services/nginx.py) in front of fake upstreams.

The upstreams are FakeProviders, which record what nginx forwards and can stream slowly; gunicorn
is not needed to check the proxy's own behaviour (streaming, ids, limits, keep-alive).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from plano.config.model import Listener, Observability
from tests.fakes.provider_server import Behavior, FakeProvider
from tests.services.gunicorn import REPO_ROOT
from tests.services.nginx import (
    LISTEN_TAG,
    NGINX_CONF,
    UPSTREAM_TAG,
    NginxServer,
    render_nginx_conf,
    run_nginx,
)

pytestmark = pytest.mark.integration

USER = [{"role": "user", "content": "hi"}]


def address(fake: FakeProvider) -> str:
    return f"127.0.0.1:{fake.port}"


@pytest.fixture()
def upstream() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture()
def proxy(upstream: FakeProvider, tmp_path: Path) -> Iterator[NginxServer]:
    # The fake serves no /healthz; GET /v1/models proves nginx proxies to it.
    with run_nginx([address(upstream)], tmp_path, ready_path="/v1/models") as server:
        yield server


@pytest.fixture()
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


def test_render_replaces_only_the_tagged_lines() -> None:
    template = NGINX_CONF.read_text()
    rendered = render_nginx_conf(template, ["127.0.0.1:9001", "127.0.0.1:9002"], 8123)
    servers = re.findall(r"^\s*server (\S+) max_fails=3 fail_timeout=10s;$", rendered, re.M)
    assert servers == ["127.0.0.1:9001", "127.0.0.1:9002"]
    assert re.findall(r"^\s*listen (.+);$", rendered, re.M) == ["127.0.0.1:8123"]
    untagged = [line for line in template.splitlines() if "# plano:" not in line]
    assert [line for line in rendered.splitlines() if line in untagged] == untagged


def test_render_refuses_a_config_without_the_tags() -> None:
    with pytest.raises(ValueError, match="plano:upstream"):
        render_nginx_conf("events {}\nhttp { server { listen 80; } }\n", ["127.0.0.1:1"], 2)
    with pytest.raises(ValueError, match="at least one upstream"):
        render_nginx_conf(NGINX_CONF.read_text(), [], 2)


def test_the_shipped_config_sets_the_sse_and_keepalive_directives() -> None:
    text = NGINX_CONF.read_text()
    for directive in (
        "keepalive 64;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_buffering off;",
        "proxy_cache off;",
        "proxy_read_timeout 330s;",
        "chunked_transfer_encoding on;",
        "client_max_body_size 10m;",
        "gzip off;",
        "proxy_set_header X-Request-Id $plano_request_id;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    ):
        assert directive in text, directive
    # pid and user come from the command line (tests) or the package defaults, never twice.
    assert not re.search(r"^\s*(pid|user)\s", text, re.M)


def test_a_stream_reaches_the_client_event_by_event(
    upstream: FakeProvider, proxy: NginxServer, session: requests.Session
) -> None:
    upstream.set_default(Behavior(chunks=4, chunk_delay_s=0.4))
    started = time.monotonic()
    body = {"model": "m", "messages": USER, "stream": True}
    arrivals = []
    with session.post(
        f"{proxy.url}/v1/chat/completions", json=body, stream=True, timeout=10
    ) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in reply.headers
        for line in reply.iter_lines():
            if line:
                arrivals.append((time.monotonic() - started, line))
    assert arrivals[-1][1] == b"data: [DONE]"
    # The role chunk and the first delta arrive long before the stream ends: nothing buffered.
    assert arrivals[-1][0] >= 1.6
    assert arrivals[1][0] < arrivals[-1][0] - 1.0


def test_the_request_id_is_passed_through_or_made(
    upstream: FakeProvider, proxy: NginxServer, session: requests.Session
) -> None:
    url = f"{proxy.url}/v1/chat/completions"
    session.post(url, json={"model": "m", "messages": USER}, headers={"X-Request-Id": "abc-1"})
    session.post(url, json={"model": "m", "messages": USER})
    given, made = upstream.requests[-2:]
    assert given.headers["x-request-id"] == "abc-1"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert made.headers["x-forwarded-for"] == "127.0.0.1"
    assert made.headers["x-forwarded-proto"] == "http"


def test_bodies_over_10_mib_are_refused_by_nginx(
    upstream: FakeProvider, proxy: NginxServer, session: requests.Session
) -> None:
    url = f"{proxy.url}/v1/chat/completions"
    big = b'{"model": "m", "messages": [], "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert session.post(url, data=big, timeout=30).status_code == 413
    fits = b'{"model": "m", "messages": [], "pad": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    assert session.post(url, data=fits, timeout=30).status_code == 200
    assert [len(r.body) for r in upstream.requests if r.method == "POST"] == [len(fits)]


def test_upstream_errors_pass_through_unchanged(
    upstream: FakeProvider, proxy: NginxServer, session: requests.Session
) -> None:
    upstream.set_default(Behavior(status=429, retry_after="9", error_message="busy"))
    reply = session.post(f"{proxy.url}/v1/messages", json={"model": "m", "messages": USER,
                                                            "max_tokens": 1})  # fmt: skip
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "9"
    assert reply.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "busy"},
    }


def test_nginx_keeps_its_upstream_connections_alive(
    upstream: FakeProvider, proxy: NginxServer, session: requests.Session
) -> None:
    before = upstream.connection_count  # the readiness probe's
    for stream in (False, True, False, True, False):
        body = {"model": "m", "messages": USER, "stream": stream}
        reply = session.post(f"{proxy.url}/v1/chat/completions", json=body, timeout=5)
        assert reply.status_code == 200
    # One client connection lands on one nginx worker, which reuses one upstream connection.
    assert upstream.connection_count - before <= 1
    # `Connection: ""` strips the header, so HTTP/1.1's default (keep-alive) applies upstream.
    assert all("connection" not in r.headers for r in upstream.requests[-5:])


def test_requests_are_spread_over_every_upstream(tmp_path: Path) -> None:
    with FakeProvider() as first, FakeProvider() as second:
        upstreams = [address(first), address(second)]
        with run_nginx(upstreams, tmp_path, ready_path="/v1/models") as proxy:
            for _ in range(6):
                with requests.Session() as client:  # new connections, so round robin shows
                    reply = client.post(
                        f"{proxy.url}/v1/chat/completions",
                        json={"model": "m", "messages": USER},
                        timeout=5,
                    )
                    assert reply.status_code == 200
        assert first.requests_for("m") and second.requests_for("m")


def test_a_start_failure_reports_the_nginx_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.conf"
    broken.write_text(
        NGINX_CONF.read_text().replace("proxy_buffering off;", "proxy_buffering sideways;")
    )
    server = NginxServer(["127.0.0.1:1"], tmp_path / "prefix", conf_path=broken, ready_path=None)
    with pytest.raises(RuntimeError, match="proxy_buffering"):
        server.start()
    assert server.log_text()


def directive_values(text: str, name: str) -> list[str]:
    """The values of every `name value;` directive in an nginx config text."""
    return re.findall(rf"^\s*{name}\s+([^;]+);", text, re.M)


def test_the_integration_tests_run_the_shipped_file(proxy: NginxServer) -> None:
    shipped = REPO_ROOT / "conf" / "nginx.conf"
    assert NGINX_CONF == shipped and proxy.conf_path == shipped
    # What nginx is running right now: the shipped file, only the tagged lines replaced.
    running = proxy.rendered_path.read_text().splitlines()
    tags = (UPSTREAM_TAG, LISTEN_TAG)
    untagged = [line for line in shipped.read_text().splitlines() if not line.endswith(tags)]
    assert [line for line in running if line in untagged] == untagged
    assert len(running) == len(untagged) + 2  # one upstream `server` line and the `listen` line
    assert f"        listen 127.0.0.1:{proxy.port};" in running


def test_limits_and_timeouts_agree_with_plano_and_gunicorn() -> None:
    text = NGINX_CONF.read_text()
    units = {"k": 1024, "m": 1024 * 1024}
    (size,) = directive_values(text, "client_max_body_size")
    assert int(size[:-1]) * units[size[-1]] == Observability().max_body_bytes
    # An upstream call may take the listener timeout; nginx must wait at least as long for bytes.
    (read_timeout,) = directive_values(text, "proxy_read_timeout")
    (send_timeout,) = directive_values(text, "proxy_send_timeout")
    for value in (read_timeout, send_timeout):
        assert value.endswith("s") and int(value[:-1]) > Listener().timeout_s
    # nginx drops idle upstream connections before gunicorn does (gunicorn keepalive 75 s).
    upstream_idle = re.search(r"upstream plano_gunicorn \{[^}]*keepalive_timeout (\d+)s;", text)
    assert upstream_idle is not None and int(upstream_idle[1]) < 75
