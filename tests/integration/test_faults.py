"""Fault matrix through real gunicorn: one test per fault, each ending as SPEC §3–§6 say.

Single-candidate end states (a request naming one model: no fallback) and the non-provider faults
(router model, Redis, Prometheus, price catalog). The two-candidate fallback matrix lives in
test_fallback.py. Every reply is parsed: a completion, or an error in the client's dialect.

Two plano servers per module:
- `faulty`: healthy dependencies that we break one at a time (a scriptable FakeRouter, a real
  Redis we SIGSTOP, a cost catalog and a "Prometheus" that answer garbage);
- `deps_down`: every dependency down from the start (router, Redis, Prometheus, price catalog all
  on closed ports).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import requests

from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeReply, FakeRouter
from tests.integration.dialects import (
    ANTHROPIC,
    OPENAI,
    assert_completion,
    assert_error_body,
    assert_stream_error,
    body_for,
    path_of,
)
from tests.services.gunicorn import WORKER_CLASS_IDS, WORKER_CLASSES, GunicornServer
from tests.services.ports import free_port
from tests.services.redis_server import RedisServer

OPENAI_KEY = "sk-faults-openai-5f1c0d9e8b7a"
ANTHROPIC_KEY = "sk-ant-faults-2a9b8c7d6e5f"
DIALECTS = (OPENAI, ANTHROPIC)
LISTENER_TIMEOUT_S = 1.0
ROUTER_TIMEOUT_S = 0.5

CONFIG = """
version: v0.4.0
listeners:
  - name: model_listener
    type: model
    port: 12000
    timeout: {listener_timeout}
model_providers:
  - model: openai/gpt-4o
    base_url: {fake}
    access_key: {openai_key}
    default: true
  - model: openai/gpt-4o-mini
    base_url: {fake}
    access_key: {openai_key}
  - model: openai/*
    base_url: {fake}
    access_key: {openai_key}
  - model: anthropic/*
    base_url: {fake}
    access_key: {anthropic_key}
  - model: deadhost/gpt-dead
    provider_interface: openai
    base_url: http://127.0.0.1:{dead_port}/v1
    access_key: {openai_key}
  - model: plano/router-model
    base_url: {router}
routing_preferences:
  - name: code
    description: writing or fixing code
    models: [openai/gpt-4o, openai/gpt-4o-mini]
    selection_policy: {{prefer: cheapest}}
  - name: quick
    description: quick factual answers
    models: [openai/gpt-4o, openai/gpt-4o-mini]
    selection_policy: {{prefer: fastest}}
model_metrics_sources:
  - type: cost
    provider: digitalocean
    url: {catalog}/v2/gen-ai/models/catalog
  - type: latency
    provider: prometheus
    url: {prometheus}
    query: sum by (model_name) (rate(plano_llm_latency_seconds_sum[5m]))
routing:
  session_cache:
    type: redis
    url: {redis}
overrides:
  llm_routing_model: plano/router-model
  llm_routing_timeout: {router_timeout}
observability:
  request_log: {{tmp}}/requests.log
"""


def _render(**values: object) -> str:
    values.setdefault("listener_timeout", LISTENER_TIMEOUT_S)
    values.setdefault("router_timeout", ROUTER_TIMEOUT_S)
    values.setdefault("openai_key", OPENAI_KEY)
    values.setdefault("anthropic_key", ANTHROPIC_KEY)
    values.setdefault("dead_port", free_port())
    return CONFIG.format(**values)


def _start(config_text: str, tmp: Path, worker_class: str | None = None) -> GunicornServer:
    config = tmp / "plano.yaml"
    config.write_text(config_text.replace("{tmp}", str(tmp)), encoding="utf-8")
    return GunicornServer(config, tmp, workers=1, worker_class=worker_class).start()


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(default=Behavior()) as provider:
        yield provider


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    with FakeRouter(reply='{"route": []}') as fake_router:
        yield fake_router


@pytest.fixture(scope="module")
def garbage() -> Iterator[FakeRouter]:
    """A server answering every path with a 200 that is not JSON: a broken catalog or Prometheus."""
    with FakeRouter(reply=FakeReply(body=b"<html><body>maintenance</body></html>")) as server:
        yield server


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=WORKER_CLASSES, ids=WORKER_CLASS_IDS)
def worker_class(request: pytest.FixtureRequest) -> str:
    """The `faulty` server runs under each worker class (the proxy's faults are worker-bound)."""
    return str(request.param)


@pytest.fixture(scope="module")
def faulty(
    worker_class: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake: FakeProvider,
    router: FakeRouter,
    garbage: FakeRouter,
    redis_server: RedisServer,
) -> Iterator[GunicornServer]:
    text = _render(
        fake=fake.base_url,
        router=router.base_url,
        catalog=garbage.base_url,
        prometheus=garbage.base_url,
        redis=redis_server.url,
    )
    server = _start(text, tmp_path_factory.mktemp("faulty"), worker_class)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deps_down(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeProvider
) -> Iterator[GunicornServer]:
    text = _render(
        fake=fake.base_url,
        router=f"http://127.0.0.1:{free_port()}",
        catalog=f"http://127.0.0.1:{free_port()}",
        prometheus=f"http://127.0.0.1:{free_port()}",
        redis=f"redis://127.0.0.1:{free_port()}/0",
    )
    server = _start(text, tmp_path_factory.mktemp("deps_down"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset(fake: FakeProvider, router: FakeRouter) -> None:
    fake.set_default(Behavior())
    router.reply = '{"route": []}'


def _post(
    server: GunicornServer,
    dialect: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> requests.Response:
    with requests.Session() as http:
        return http.post(server.url + path_of(dialect), json=body, headers=headers, timeout=15)


def _get(server: GunicornServer, path: str) -> requests.Response:
    with requests.Session() as http:
        return http.get(server.url + path, timeout=5)


def _scripted(fake: FakeProvider, name: str, behavior: Behavior) -> str:
    fake.set_behavior(name, behavior)
    return name


# ------------------------------------------------------------------ provider faults, one model


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_provider_429_keeps_status_and_retry_after(faulty, fake, dialect, provider):
    model = _scripted(fake, f"rl-{provider}", Behavior(status=429, retry_after="7"))
    reply = _post(faulty, dialect, body_for(dialect, f"{provider}/{model}"))
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "7"
    assert reply.headers["x-plano-attempts"] == "1"
    error = assert_error_body(reply.content, dialect)
    assert error["type"] == "rate_limit_error" if dialect == ANTHROPIC else True


def test_provider_429_reaches_the_sdks_as_rate_limit_errors(faulty, fake):
    model = _scripted(fake, "rl-sdk", Behavior(status=429, retry_after="3"))
    oa = openai.OpenAI(base_url=faulty.url + "/v1", api_key="client-key", max_retries=0)
    with pytest.raises(openai.RateLimitError) as raised:
        oa.chat.completions.create(
            model=f"openai/{model}", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.response.headers["retry-after"] == "3"
    an = anthropic.Anthropic(base_url=faulty.url, api_key="client-key", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as raised_an:
        an.messages.create(
            model=f"openai/{model}",
            max_tokens=16,
            messages=[{"role": "user", "content": "hi"}],
        )
    assert raised_an.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_provider_5xx_keeps_its_status(faulty, fake, dialect, status):
    model = _scripted(fake, f"err-{status}", Behavior(status=status))
    for provider in ("openai", "anthropic"):
        reply = _post(faulty, dialect, body_for(dialect, f"{provider}/{model}"))
        assert reply.status_code == status, reply.text
        assert reply.headers["x-plano-model"] == f"{provider}/{model}"
        error = assert_error_body(reply.content, dialect)
        assert f"fake {status} error" in error["message"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_connection_refused_is_a_502(faulty, dialect):
    started = time.monotonic()
    reply = _post(faulty, dialect, body_for(dialect, "deadhost/gpt-dead"))
    assert reply.status_code == 502
    assert time.monotonic() - started < 5
    assert_error_body(reply.content, dialect)
    assert reply.headers["x-plano-model"] == "deadhost/gpt-dead"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("stream", [False, True])
def test_timeout_before_headers_is_a_504(faulty, fake, dialect, stream):
    model = _scripted(fake, "sleepy", Behavior(delay_s=LISTENER_TIMEOUT_S + 4))
    started = time.monotonic()
    reply = _post(faulty, dialect, body_for(dialect, f"openai/{model}", stream=stream))
    elapsed = time.monotonic() - started
    assert reply.status_code == 504, reply.text
    assert LISTENER_TIMEOUT_S * 0.9 <= elapsed < LISTENER_TIMEOUT_S + 2
    error = assert_error_body(reply.content, dialect)
    assert error["type"] == "timeout_error"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_stall_mid_stream_ends_with_an_error_event(faulty, fake, dialect, provider):
    model = _scripted(fake, "staller", Behavior(chunks=4, stream_stall_after=2, stall_s=10))
    started = time.monotonic()
    reply = _post(faulty, dialect, body_for(dialect, f"{provider}/{model}", stream=True))
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert time.monotonic() - started < LISTENER_TIMEOUT_S + 3
    assert_stream_error(reply.content, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_reset_mid_stream_ends_with_an_error_event(faulty, fake, dialect, provider):
    model = _scripted(fake, "dropper", Behavior(chunks=4, stream_drop_after=2))
    reply = _post(faulty, dialect, body_for(dialect, f"{provider}/{model}", stream=True))
    assert reply.status_code == 200
    assert_stream_error(reply.content, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_reset_before_any_byte_is_a_502(faulty, fake, dialect):
    model = _scripted(fake, "hangup", Behavior(stream_drop_after=0))
    reply = _post(faulty, dialect, body_for(dialect, f"openai/{model}"))
    assert reply.status_code == 502
    assert_error_body(reply.content, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_malformed_json_body_is_a_502(faulty, fake, dialect, provider):
    model = _scripted(fake, "garbled", Behavior(malformed_body=True))
    reply = _post(faulty, dialect, body_for(dialect, f"{provider}/{model}"))
    assert reply.status_code == 502, reply.text
    assert_error_body(reply.content, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_malformed_stream_event_ends_as_a_dialect_error(faulty, fake, dialect):
    model = _scripted(fake, "garbled-stream", Behavior(malformed_body=True))
    reply = _post(faulty, dialect, body_for(dialect, f"openai/{model}", stream=True))
    if reply.status_code == 200:
        assert_stream_error(reply.content, dialect)
    else:
        assert reply.status_code == 502
        assert_error_body(reply.content, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("stream", [False, True])
def test_wrong_content_type_is_a_502(faulty, fake, dialect, stream):
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    model = _scripted(fake, "html", Behavior(content_type="text/html", raw_body=html))
    reply = _post(faulty, dialect, body_for(dialect, f"openai/{model}", stream=stream))
    assert reply.status_code == 502, reply.text
    error = assert_error_body(reply.content, dialect)
    assert "<html>" not in error["message"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_json_reply_labelled_text_plain_still_answers(faulty, fake, dialect):
    """A provider that mislabels a good JSON body: the body decides, the client gets it."""
    model = _scripted(fake, "plain", Behavior(content_type="text/plain"))
    reply = _post(faulty, dialect, body_for(dialect, f"openai/{model}"))
    assert reply.status_code == 200, reply.text
    assert_completion(reply.content, dialect)


# ------------------------------------------------------------------------------ router model


def _routed(server: GunicornServer, dialect: str) -> requests.Response:
    """A request with no model: the router model is asked (SPEC §4 step 3)."""
    return _post(server, dialect, body_for(dialect, None, "write a python function"))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_router_healthy_picks_the_route(faulty, router, dialect):
    router.reply = '{"route": ["code"]}'
    reply = _routed(faulty, dialect)
    assert reply.status_code == 200
    assert reply.headers["x-plano-route"] == "code"
    assert "x-plano-route-error" not in reply.headers
    assert_completion(reply.content, dialect)


@pytest.mark.parametrize(
    "answer",
    [
        FakeReply(delay_s=ROUTER_TIMEOUT_S + 3),
        FakeReply(body=b"\x00\xffnot json"),
        FakeReply(content="I think you want the code route!"),
        FakeReply(status=500),
        FakeReply(close=True),
    ],
    ids=["slow", "garbage-body", "garbage-content", "http-500", "hangup"],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_router_failure_fails_open(faulty, router, dialect, answer):
    router.reply = answer
    started = time.monotonic()
    reply = _routed(faulty, dialect)
    assert time.monotonic() - started < ROUTER_TIMEOUT_S + 2
    assert reply.status_code == 200, reply.text
    assert_completion(reply.content, dialect)
    assert reply.headers["x-plano-model"] == "openai/gpt-4o"  # the default provider
    assert "x-plano-route" not in reply.headers
    assert reply.headers["x-plano-route-error"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_router_down_fails_open(deps_down, dialect):
    reply = _routed(deps_down, dialect)
    assert reply.status_code == 200, reply.text
    assert_completion(reply.content, dialect)
    assert reply.headers["x-plano-model"] == "openai/gpt-4o"
    assert "refused" in reply.headers["x-plano-route-error"]


def test_router_failures_are_counted(faulty, router):
    router.reply = FakeReply(status=503)
    assert _routed(faulty, OPENAI).status_code == 200
    metrics = _get(faulty, "/metrics").text
    errors = [
        line
        for line in metrics.splitlines()
        if line.startswith("plano_router_decisions_total") and 'outcome="error"' in line
    ]
    assert errors and float(errors[0].rsplit(" ", 1)[1]) >= 1


# ---------------------------------------------------------------------------------- Redis


def _affinity(server: GunicornServer, session: str) -> requests.Response:
    return _post(
        server,
        OPENAI,
        body_for(OPENAI, None, "write a python function"),
        headers={"X-Model-Affinity": session},
    )


def test_redis_down_requests_succeed_without_affinity(deps_down):
    for index in range(3):
        reply = _affinity(deps_down, f"session-{index}")
        assert reply.status_code == 200, reply.text
        assert_completion(reply.content, OPENAI)
    ready = _get(deps_down, "/readyz")
    assert ready.status_code == 200
    assert "session_cache" in ready.json()["degraded"]
    metrics = _get(deps_down, "/metrics").text
    assert any(
        line.startswith("plano_session_cache_events_total") and 'outcome="error"' in line
        for line in metrics.splitlines()
    )


def test_redis_slow_costs_little_and_affinity_resumes(faulty, router, redis_server):
    router.reply = '{"route": ["code"]}'
    first = _affinity(faulty, "slow-redis")
    assert first.status_code == 200 and first.headers["x-plano-route"] == "code"
    os.kill(redis_server.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        timings = []
        for _ in range(3):
            started = time.monotonic()
            reply = _affinity(faulty, "slow-redis")
            timings.append(time.monotonic() - started)
            assert reply.status_code == 200, reply.text
            assert_completion(reply.content, OPENAI)
        # One command timeout (0.5 s) at most per request, then the breaker fails fast.
        assert max(timings) < 2.0, timings
        assert sum(timings) < 3.0, timings
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
    # Once Redis answers again (after the breaker's cooldown), the pin is back: no router call.
    router.reply = FakeReply(status=500)
    deadline = time.monotonic() + 10
    while True:
        reply = _affinity(faulty, "slow-redis")
        assert reply.status_code == 200
        if "x-plano-route-error" not in reply.headers:
            break
        assert time.monotonic() < deadline, "affinity did not resume after Redis came back"
        time.sleep(0.3)
    assert reply.headers["x-plano-route"] == "code"
    assert _get(faulty, "/readyz").json()["degraded"] == []


# --------------------------------------------------------------- metrics sources (SPEC §5)


def _source_age(server: GunicornServer, source: str) -> float:
    metrics = _get(server, "/metrics").text
    for line in metrics.splitlines():
        if line.startswith("plano_metrics_source_age_seconds") and f'source="{source}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no age exported for {source}:\n{metrics}")


@pytest.mark.usefixtures("worker_class")  # getfixturevalue("faulty") needs its parameter
@pytest.mark.parametrize("server_name", ["faulty", "deps_down"])
def test_metrics_sources_down_or_garbage_leave_declared_order(request, router, server_name):
    """Prometheus and the price catalog, down or answering garbage: served in declared order."""
    server = request.getfixturevalue(server_name)
    assert _source_age(server, "cost") == float("inf")
    assert _source_age(server, "latency") == float("inf")
    log = server.log_text()
    assert "metrics source cost: fetch failed" in log
    assert "metrics source latency: fetch failed" in log
    if server_name == "faulty":
        for route in ("code", "quick"):
            router.reply = f'{{"route": ["{route}"]}}'
            reply = _routed(server, OPENAI)
            assert reply.status_code == 200
            assert reply.headers["x-plano-route"] == route
            assert reply.headers["x-plano-model"] == "openai/gpt-4o"  # first declared
    with requests.Session() as http:
        decided = http.post(
            server.url + "/routing/v1/chat/completions",
            json=body_for(OPENAI, None, "write code"),
            timeout=10,
        )
    assert decided.status_code == 200
    assert decided.json()["models"][0] == "openai/gpt-4o"


# -------------------------------------------------------------------------------- hygiene


def test_no_access_key_in_any_log(faulty, deps_down):
    """Run last: everything the faults made both servers write is free of access keys."""
    for server in (faulty, deps_down):
        for text in (server.log_text(), (server.tmp_path / "requests.log").read_text()):
            assert OPENAI_KEY not in text
            assert ANTHROPIC_KEY not in text
            assert "Traceback" not in text
