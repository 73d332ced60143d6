"""Model affinity end to end (SPEC §6) under real gunicorn with gevent workers.

A FakeRouter is the router model (`overrides.llm_routing_model: plano/router` with a `plano/router`
provider); one FakeProvider serves every declared model. The memory-backend tests share one
single-worker server (each test uses its own session ids); the Redis tests run against a real
redis-server started with a password, so the `redis://:pass@host:port/0` URL form is exercised.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
import redis
import requests

from tests.fakes.provider_server import Behavior, FakeProvider, ToolCall
from tests.fakes.router_server import FakeRouter
from tests.integration.affinity_setup import (
    MODEL_A,
    MODEL_B,
    MODEL_C,
    REDIS_PASSWORD,
    ROUTE_A,
    ROUTE_B,
    TTL_S,
    config_text,
    metric_total,
    readiness,
)
from tests.services.gunicorn import GunicornServer
from tests.services.ports import HOST, free_port
from tests.services.redis_server import RedisServer


def start_plano(
    tmp: Path, text: str, *, workers: int = 1, extra_args: tuple[str, ...] = ()
) -> GunicornServer:
    """gunicorn -k gevent serving `text` (the caller stops it)."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "plano.yaml"
    path.write_text(text, encoding="utf-8")
    return GunicornServer(path, tmp, workers=workers, extra_args=extra_args).start()


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    """One fake provider for every model (behaviours are per model name)."""
    with FakeProvider(default=Behavior(text="ok")) as fake:
        yield fake


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    """The router model; each test sets `reply` first."""
    with FakeRouter(reply=ROUTE_A) as fake:
        yield fake


@pytest.fixture(scope="module")
def memory_plano(
    tmp_path_factory: pytest.TempPathFactory, provider: FakeProvider, router: FakeRouter
) -> Iterator[GunicornServer]:
    """One worker, memory backend, tenant header, route_on_user_only."""
    cache = "    type: memory\n    tenant_header: x-org-id"
    text = config_text(provider, router, cache, route_on_user_only=True)
    server = start_plano(tmp_path_factory.mktemp("memory"), text)
    yield server
    server.stop()


@pytest.fixture()
def fresh(provider: FakeProvider, router: FakeRouter) -> Iterator[None]:
    """Healthy models and a router that answers route_a, before and after each test."""
    for model in ("model-a", "model-b", "model-c"):
        provider.set_behavior(model, Behavior(text="ok"))
    router.reply = ROUTE_A
    yield
    for model in ("model-a", "model-b", "model-c"):
        provider.set_behavior(model, Behavior(text="ok"))


def oai(server: GunicornServer) -> openai.OpenAI:
    """An OpenAI SDK client on plano, without retries (a retry would hide a status)."""
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="client-key", max_retries=0)


def chat(
    server: GunicornServer,
    text: str,
    session: str | None = None,
    *,
    tenant: str | None = None,
) -> dict[str, str]:
    """One OpenAI chat completion with no model named; the reply's x-plano-* headers."""
    headers: dict[str, str] = {}
    if session is not None:
        headers["X-Model-Affinity"] = session
    if tenant is not None:
        headers["X-Org-Id"] = tenant
    with oai(server) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="", messages=[{"role": "user", "content": text}], extra_headers=headers
        )
        assert raw.http_response.status_code == 200
        assert raw.parse().choices[0].message.content == "ok"
    return {k: v for k, v in raw.headers.items() if k.startswith("x-plano-")}


def router_calls(router: FakeRouter) -> int:
    """How many prompts the router model has received so far."""
    return len(router.requests)


# ----------------------------------------------------------------------------- memory backend


@pytest.mark.usefixtures("fresh")
def test_first_request_routes_then_the_session_skips_the_router(
    memory_plano: GunicornServer, router: FakeRouter
) -> None:
    before = router_calls(router)
    first = chat(memory_plano, "tell me about apples", "s1")
    assert first["x-plano-model"] == MODEL_A
    assert first["x-plano-route"] == "route_a"
    assert router_calls(router) == before + 1

    router.reply = ROUTE_B  # the router would now pick model-c; the session must not ask it
    for _ in range(3):
        again = chat(memory_plano, "now bananas please", "s1")
        assert again["x-plano-model"] == MODEL_A
        assert again["x-plano-route"] == "route_a"
    with anthropic.Anthropic(
        base_url=memory_plano.url, api_key="client-key", max_retries=0
    ) as anthropic_client:
        other_dialect = anthropic_client.messages.with_raw_response.create(
            model="",
            max_tokens=16,
            messages=[{"role": "user", "content": "bananas, in Anthropic"}],
            extra_headers={"X-Model-Affinity": "s1"},
        )
    assert other_dialect.headers["x-plano-model"] == MODEL_A
    assert router_calls(router) == before + 1

    fresh_session = chat(memory_plano, "bananas", "s2")
    assert fresh_session["x-plano-model"] == MODEL_C
    assert fresh_session["x-plano-route"] == "route_b"
    assert router_calls(router) == before + 2

    no_session = chat(memory_plano, "apples or bananas", None)
    assert no_session["x-plano-model"] == MODEL_C
    assert router_calls(router) == before + 3


BAD_VALUES = {
    "257 chars": "x" * 257,
    "tab": "abc\tdef",  # HTAB is legal in an HTTP field value, so plano must reject it
    "latin-1": "caf\xe9",
    "utf-8": "caf\xc3\xa9",  # UTF-8 é as it arrives in a WSGI environ (latin-1 decoded)
}
# Bytes that are not legal in an HTTP field value at all: gunicorn's parser answers 400 (its own
# HTML page) before the request reaches plano, so no JSON error can be promised for them.
ILLEGAL_FIELD_VALUES = {"control 0x01": "abc\x01def", "DEL": "abc\x7fdef", "NUL": "a\x00b"}


def send_raw(
    server: GunicornServer, path: str, body: dict[str, object], affinity: str
) -> tuple[int, dict[str, object]]:
    """POST with http.client; the status and the JSON reply."""
    status, raw = send_raw_bytes(server, path, body, affinity)
    return status, json.loads(raw)


def send_raw_bytes(
    server: GunicornServer, path: str, body: dict[str, object], affinity: str
) -> tuple[int, bytes]:
    """POST with http.client, which sends any byte 0x00-0xFF except CR/LF as is (latin-1)."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        conn.putrequest("POST", path)
        payload = json.dumps(body).encode()
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(payload)))
        conn.putheader("X-Model-Affinity", affinity.encode("latin-1"))
        conn.endheaders(payload)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_invalid_affinity_header_is_a_400_in_the_client_dialect(
    memory_plano: GunicornServer, router: FakeRouter, provider: FakeProvider, value: str
) -> None:
    before_router, before_provider = router_calls(router), provider.request_count
    status, body = send_raw(
        memory_plano,
        "/v1/chat/completions",
        {"model": "", "messages": [{"role": "user", "content": "hi"}]},
        value,
    )
    assert status == 400, body
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) >= {"message", "type", "param", "code"}
    assert "X-Model-Affinity" in str(error["message"])
    assert error["type"] == "invalid_request_error"

    status, body = send_raw(
        memory_plano,
        "/v1/messages",
        {"model": "", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        value,
    )
    assert status == 400, body
    assert body["type"] == "error"
    assert isinstance(body["error"], dict)
    assert body["error"]["type"] == "invalid_request_error"
    assert "X-Model-Affinity" in str(body["error"]["message"])

    status, body = send_raw(
        memory_plano,
        "/routing/v1/chat/completions",
        {"messages": [{"role": "user", "content": "hi"}]},
        value,
    )
    assert status == 400, body
    assert router_calls(router) == before_router
    assert provider.request_count == before_provider


@pytest.mark.parametrize("value", ILLEGAL_FIELD_VALUES.values(), ids=ILLEGAL_FIELD_VALUES.keys())
def test_illegal_header_bytes_are_refused_by_the_http_server(
    memory_plano: GunicornServer, router: FakeRouter, value: str
) -> None:
    before = router_calls(router)
    body: dict[str, object] = {"model": "", "messages": [{"role": "user", "content": "hi"}]}
    status, _ = send_raw_bytes(memory_plano, "/v1/chat/completions", body, value)
    assert status == 400
    assert router_calls(router) == before


@pytest.mark.usefixtures("fresh")
def test_invalid_affinity_header_through_the_sdks(memory_plano: GunicornServer) -> None:
    too_long = {"X-Model-Affinity": "y" * 257}
    with oai(memory_plano) as client, pytest.raises(openai.BadRequestError) as openai_error:
        client.chat.completions.create(
            model="", messages=[{"role": "user", "content": "hi"}], extra_headers=too_long
        )
    assert openai_error.value.status_code == 400
    assert "256" in openai_error.value.message
    with (
        anthropic.Anthropic(base_url=memory_plano.url, api_key="k", max_retries=0) as other,
        pytest.raises(anthropic.BadRequestError) as anthropic_error,
    ):
        other.messages.create(
            model="",
            max_tokens=8,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=too_long,
        )
    assert anthropic_error.value.status_code == 400
    assert anthropic_error.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


@pytest.mark.usefixtures("fresh")
def test_edge_values_of_the_header_are_accepted(
    memory_plano: GunicornServer, router: FakeRouter
) -> None:
    longest = "~" * 128 + " " + "!" * 127  # 256 printable characters, a space inside
    assert chat(memory_plano, "apples", longest)["x-plano-model"] == MODEL_A
    router.reply = ROUTE_B
    assert chat(memory_plano, "bananas", longest)["x-plano-model"] == MODEL_A
    before = router_calls(router)
    assert chat(memory_plano, "bananas", "")["x-plano-model"] == MODEL_C  # empty: no affinity
    assert router_calls(router) == before + 1


@pytest.mark.usefixtures("fresh")
def test_tenant_header_scopes_the_session(memory_plano: GunicornServer, router: FakeRouter) -> None:
    assert chat(memory_plano, "apples", "shared-id", tenant="acme")["x-plano-model"] == MODEL_A
    router.reply = ROUTE_B
    before = router_calls(router)
    # Same id, another tenant (or none): another key, so the router is asked again.
    assert chat(memory_plano, "bananas", "shared-id", tenant="globex")["x-plano-model"] == MODEL_C
    assert chat(memory_plano, "bananas", "shared-id")["x-plano-model"] == MODEL_C
    assert router_calls(router) == before + 2
    router.reply = ROUTE_A
    assert chat(memory_plano, "x", "shared-id", tenant="acme")["x-plano-model"] == MODEL_A
    assert chat(memory_plano, "x", "shared-id", tenant="globex")["x-plano-model"] == MODEL_C
    assert chat(memory_plano, "x", "shared-id")["x-plano-model"] == MODEL_C
    assert router_calls(router) == before + 2


def decide(server: GunicornServer, path: str, session: str | None) -> dict[str, object]:
    """A decision-API call; its JSON reply."""
    body: dict[str, object] = {"messages": [{"role": "user", "content": "a question"}]}
    if path.endswith("/messages"):
        body["max_tokens"] = 8
    headers = {"X-Model-Affinity": session} if session is not None else {}
    with requests.Session() as http:
        reply = http.post(f"{server.url}{path}", json=body, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    decision = reply.json()
    assert isinstance(decision, dict)
    assert re.fullmatch(r"[0-9a-f]{32}", decision["trace_id"])
    return decision


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("path", ["/routing/v1/chat/completions", "/routing/v1/messages"])
def test_decision_api_reports_session_id_and_pinned(
    memory_plano: GunicornServer, router: FakeRouter, provider: FakeProvider, path: str
) -> None:
    session = f"decide-{path.rsplit('/', 1)[-1]}"
    before, forwarded = router_calls(router), provider.request_count
    first = decide(memory_plano, path, session)
    assert first["session_id"] == session
    assert first["pinned"] is False
    assert first["route"] == "route_a"
    assert first["models"] == [MODEL_A, MODEL_B]
    router.reply = ROUTE_B
    second = decide(memory_plano, path, session)
    assert second["session_id"] == session
    assert second["pinned"] is True
    assert second["route"] == "route_a"
    assert second["models"] == [MODEL_A, MODEL_B]
    assert router_calls(router) == before + 1
    # The pin made by the decision API holds for proxied calls too.
    assert chat(memory_plano, "bananas", session)["x-plano-model"] == MODEL_A
    no_session = decide(memory_plano, path, None)
    assert "session_id" not in no_session
    assert "pinned" not in no_session
    assert no_session["route"] == "route_b"
    assert provider.request_count == forwarded + 1


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_failing_pinned_model_falls_back_without_repinning(
    memory_plano: GunicornServer, router: FakeRouter, provider: FakeProvider, status: int
) -> None:
    session = f"failing-{status}"
    assert chat(memory_plano, "apples", session)["x-plano-model"] == MODEL_A
    before = router_calls(router)
    router.reply = ROUTE_B  # were the session re-routed, model-c would serve
    provider.set_behavior("model-a", Behavior(status=status))
    for _ in range(2):
        served = chat(memory_plano, "apples again", session)
        assert served["x-plano-model"] == MODEL_B  # the rest of route_a, in order
        assert served["x-plano-attempts"] == "2"
        assert served["x-plano-route"] == "route_a"
    provider.set_behavior("model-a", Behavior(text="ok"))
    back = chat(memory_plano, "apples once more", session)
    assert back["x-plano-model"] == MODEL_A
    assert back["x-plano-attempts"] == "1"
    assert router_calls(router) == before
    decision = decide(memory_plano, "/routing/v1/chat/completions", session)
    assert decision["pinned"] is True
    assert decision["models"] == [MODEL_A, MODEL_B]


@pytest.mark.usefixtures("fresh")
def test_route_on_user_only_reuses_the_model_for_continuations(
    memory_plano: GunicornServer, router: FakeRouter
) -> None:
    tools: list[dict[str, object]] = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    system: dict[str, object] = {
        "role": "system",
        "content": "You are agent 7 of the affinity test.",
    }
    user: dict[str, object] = {"role": "user", "content": "What is the weather in Paris? (loop 1)"}
    call = ToolCall("get_weather", {"city": "Paris"})
    assistant: dict[str, object] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
        ],
    }
    tool_result: dict[str, object] = {
        "role": "tool",
        "tool_call_id": call.id,
        "content": '{"temp_c": 21}',
    }

    def send(messages: list[dict[str, object]]) -> str:
        with oai(memory_plano) as client:
            raw = client.chat.completions.with_raw_response.create(
                model="",
                messages=messages,  # type: ignore[arg-type]
                tools=tools,  # type: ignore[arg-type]
            )
        return raw.headers["x-plano-model"]

    before = router_calls(router)
    assert send([system, user]) == MODEL_A
    assert router_calls(router) == before + 1
    router.reply = ROUTE_B
    # Tool-result and assistant-last continuations of the same loop: no router, same model.
    assert send([system, user, assistant, tool_result]) == MODEL_A
    assert send([system, user, assistant]) == MODEL_A
    assert router_calls(router) == before + 1
    # A new user turn with text routes again and re-binds the loop.
    follow_up: dict[str, object] = {"role": "user", "content": "And in Rome?"}
    assert send([system, user, assistant, tool_result, follow_up]) == MODEL_C
    assert router_calls(router) == before + 2
    router.reply = ROUTE_A
    assert send([system, user, assistant, tool_result, follow_up, assistant, tool_result]) == (
        MODEL_C
    )
    assert router_calls(router) == before + 2
    # Another loop (another first user message) is another implicit session.
    other: dict[str, object] = {"role": "user", "content": "What is the weather in Oslo? (loop 2)"}
    assert send([system, other, assistant, tool_result]) == MODEL_A
    assert router_calls(router) == before + 3


def test_memory_backend_warns_at_start_with_several_workers(
    tmp_path: Path, provider: FakeProvider, router: FakeRouter
) -> None:
    text = config_text(provider, router, "    type: memory")
    conf = ("-c", "conf/gunicorn.conf.py")
    warning = "memory session cache is per worker"
    several = start_plano(tmp_path / "w2", text, workers=2, extra_args=conf)
    try:
        several.wait_for_workers(2)
        assert warning in several.log_text()
        assert "with 2 workers" in several.log_text()
    finally:
        several.stop()


# ------------------------------------------------------------------------------ Redis backend


def redis_cache(server: RedisServer, tenant_header: bool = True) -> str:
    """The session_cache block for `server` (its url carries the password)."""
    lines = ["    type: redis", f'    url: "{server.url}"']
    if tenant_header:
        lines.append("    tenant_header: x-org-id")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server with requirepass."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), password=REDIS_PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_plano(
    tmp_path_factory: pytest.TempPathFactory,
    provider: FakeProvider,
    router: FakeRouter,
    redis_server: RedisServer,
) -> Iterator[GunicornServer]:
    """Two gevent workers sharing the Redis backend."""
    text = config_text(provider, router, redis_cache(redis_server))
    server = start_plano(tmp_path_factory.mktemp("redis-plano"), text, workers=2)
    server.wait_for_workers(2)
    yield server
    server.stop()


@pytest.fixture()
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A raw client on the test's Redis (authenticated through the URL)."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        client.close()


@pytest.mark.usefixtures("fresh")
def test_redis_binding_key_value_and_ttl(
    redis_plano: GunicornServer, router: FakeRouter, redis_client: redis.Redis
) -> None:
    assert redis_server_url_has_password(redis_client)
    assert chat(redis_plano, "apples", "r1", tenant="acme")["x-plano-model"] == MODEL_A
    assert chat(redis_plano, "apples", "r2")["x-plano-model"] == MODEL_A
    for key in ("plano:affinity:acme:r1", "plano:affinity:r2"):
        raw = redis_client.get(key)
        assert isinstance(raw, bytes), f"{key} not in Redis: {redis_client.keys('*')}"
        assert json.loads(raw) == {"model_name": MODEL_A, "route_name": "route_a"}
        ttl = redis_client.ttl(key)
        assert isinstance(ttl, int)
        assert TTL_S - 10 <= ttl <= TTL_S
    assert redis_client.get("plano:affinity:r1") is None  # the tenant is part of the key

    router.reply = ROUTE_B
    before = router_calls(router)
    for _ in range(4):  # both workers read the shared binding
        assert chat(redis_plano, "bananas", "r1", tenant="acme")["x-plano-model"] == MODEL_A
    assert router_calls(router) == before
    status, report = readiness(redis_plano.url)
    assert status == 200
    assert report["degraded"] == []

    # The binding in Redis is what pins: edit it and the next request follows it.
    redis_client.set(
        "plano:affinity:r2", json.dumps({"model_name": MODEL_B, "route_name": "route_a"}), ex=60
    )
    assert chat(redis_plano, "apples", "r2")["x-plano-model"] == MODEL_B
    # A binding to a model that is not declared is ignored: the session routes afresh.
    redis_client.set(
        "plano:affinity:r2",
        json.dumps({"model_name": "openai/gone", "route_name": "route_a"}),
        ex=60,
    )
    assert chat(redis_plano, "bananas", "r2")["x-plano-model"] == MODEL_C
    assert router_calls(router) == before + 1
    redis_client.delete("plano:affinity:r2")
    assert chat(redis_plano, "bananas", "r2")["x-plano-model"] == MODEL_C
    stored = redis_client.get("plano:affinity:r2")
    assert isinstance(stored, bytes)
    assert json.loads(stored) == {"model_name": MODEL_C, "route_name": "route_b"}


def redis_server_url_has_password(client: redis.Redis) -> bool:
    """True when the server rejects an unauthenticated client (so the URL's password is used)."""
    kwargs = client.connection_pool.connection_kwargs
    anonymous = redis.Redis(host=kwargs["host"], port=kwargs["port"])
    try:
        anonymous.ping()
    except redis.AuthenticationError:
        return True
    except redis.ResponseError as exc:
        return "NOAUTH" in str(exc)
    finally:
        anonymous.close()
    return False


@pytest.mark.usefixtures("fresh")
def test_redis_down_at_start_up_then_affinity_resumes(
    tmp_path: Path, provider: FakeProvider, router: FakeRouter
) -> None:
    down = RedisServer(tmp_path / "redis", port=free_port(), password=REDIS_PASSWORD)
    text = config_text(provider, router, redis_cache(down, tenant_header=False))
    plano = start_plano(tmp_path / "plano", text)  # start() waits for /healthz 200
    try:
        status, report = readiness(plano.url)
        assert status == 200, report
        assert "session_cache" in report["degraded"]  # type: ignore[operator]
        before = router_calls(router)
        for _ in range(3):
            assert chat(plano, "apples", "early")["x-plano-model"] == MODEL_A
        assert router_calls(router) == before + 3  # no affinity while Redis is away
        assert metric_total(plano.url, "plano_session_cache_events_total", {"outcome": "error"}) > 0
        log = plano.log_text()
        assert "session cache redis unreachable at start-up" in log
        # The outage is logged when it starts, not once per request (three requests above).
        assert log.count("session cache redis unavailable, serving without affinity") == 1

        down.start()
        try:
            deadline = time.monotonic() + 10
            while readiness(plano.url)[1]["degraded"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert readiness(plano.url) == (200, readiness(plano.url)[1])
            assert readiness(plano.url)[1]["degraded"] == []
            client = redis.Redis.from_url(down.url)
            try:
                resumed = pin_when_redis_answers(plano, client, "late")
                router.reply = ROUTE_B
                before = router_calls(router)
                assert chat(plano, "bananas", "late")["x-plano-model"] == resumed
                assert router_calls(router) == before
                assert "session cache redis answers again" in plano.log_text()
            finally:
                client.close()
        finally:
            down.stop()
    finally:
        plano.stop()


def pin_when_redis_answers(plano: GunicornServer, client: redis.Redis, session: str) -> str:
    """Send requests for `session` until its binding shows up in Redis; the pinned model."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        served = chat(plano, "apples", session)["x-plano-model"]
        raw = client.get(f"plano:affinity:{session}")
        if isinstance(raw, bytes):
            assert json.loads(raw)["model_name"] == served
            return served
        time.sleep(0.2)
    raise AssertionError(f"no binding for {session} in Redis 10 s after it came back")
