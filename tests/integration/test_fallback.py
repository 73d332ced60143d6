"""Fallback over a route's candidates (SPEC §4), under real gunicorn with the official SDKs.

The candidates come from routes: `overrides.llm_routing_model` points at a FakeRouter, which
answers the route named in the user's message (`ROUTE:<name>`). The first candidate is scripted
to fail in each way SPEC §4 lists; the test checks who answered, `x-plano-attempts`, the status
and body the client got (in its own dialect), and the request-log line.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import openai
import pytest
import requests

from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeRouter, RecordedRequest
from tests.integration.request_log import wait_for_log_record
from tests.services.gunicorn import GunicornServer
from tests.services.ports import free_port

LISTENER_TIMEOUT_S = 1.0
PRIMARY_TEXT = "primary answered"
SECONDARY_TEXT = "secondary answered"
BACKUP_TEXT = "anthropic backup answered"

CONFIG = """\
version: v0.4.0
listeners:
  - name: model_listener
    type: model
    port: 12000
    timeout: 1s
model_providers:
  - model: openai/primary
    base_url: {primary_url}
    access_key: sk-fallback-primary-key
  - model: openai/secondary
    base_url: {secondary_url}
    access_key: sk-fallback-secondary-key
    default: true
  - model: openai/refused
    base_url: http://127.0.0.1:{closed_port}/v1
    access_key: sk-fallback-refused-key
  - model: anthropic/claude-backup
    base_url: {anthropic_url}
    access_key: sk-fallback-anthropic-key
  - model: anthropic/claude-first
    base_url: {anthropic_url}
    access_key: sk-fallback-anthropic-key
  - model: plano/fake-router
    base_url: {router_url}
routing_preferences:
  - name: status_route
    description: the first candidate answers an HTTP error
    models: [openai/primary, openai/secondary]
  - name: refused_route
    description: the first candidate's port is closed
    models: [openai/refused, openai/secondary]
  - name: cross_route
    description: an OpenAI provider first, an Anthropic one second
    models: [openai/primary, anthropic/claude-backup]
  - name: anthropic_first_route
    description: an Anthropic provider first, an OpenAI one second
    models: [anthropic/claude-first, openai/secondary]
overrides:
  llm_routing_model: plano/fake-router
  llm_routing_timeout: 5
observability:
  request_log: {log}
"""


def _route_from_prompt(request: RecordedRequest) -> str:
    match = re.search(r"ROUTE:(\w+)", request.prompt)
    return json.dumps({"route": [match.group(1)] if match else []})


@dataclass(frozen=True)
class Stack:
    plano: GunicornServer
    primary: FakeProvider
    secondary: FakeProvider
    anthropic_fake: FakeProvider
    router: FakeRouter
    request_log: Path
    http: requests.Session

    def reset(self) -> None:
        self.primary.set_default(Behavior(text=PRIMARY_TEXT))
        self.secondary.set_default(Behavior(text=SECONDARY_TEXT))
        self.anthropic_fake.set_default(Behavior(text=BACKUP_TEXT))

    def log_record(self, request_id: str, timeout_s: float = 5.0) -> dict[str, object]:
        """The request-log line for `request_id` (streams log when they end, so wait)."""
        return wait_for_log_record(self.request_log, request_id, timeout_s)

    def got(self, fake: FakeProvider, request_id: str) -> int:
        return sum(1 for r in fake.requests if r.headers.get("x-request-id") == request_id)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("fallback")
    with (
        FakeProvider() as primary,
        FakeProvider() as secondary,
        FakeProvider() as anthropic_fake,
        FakeRouter(reply=_route_from_prompt) as router,
    ):
        log = tmp / "requests.log"
        config = tmp / "plano.yaml"
        config.write_text(
            CONFIG.format(
                primary_url=primary.base_url,
                secondary_url=secondary.base_url,
                anthropic_url=anthropic_fake.base_url,
                closed_port=free_port(),
                router_url=router.base_url,
                log=log,
            )
        )
        with GunicornServer(config, tmp, workers=1) as plano:
            with requests.Session() as http:
                yield Stack(plano, primary, secondary, anthropic_fake, router, log, http)


@pytest.fixture()
def fresh(stack: Stack) -> Stack:
    stack.reset()
    return stack


def new_id() -> str:
    return f"fb-{uuid.uuid4().hex}"


def ask_openai(stack: Stack, route: str, request_id: str) -> object:
    with openai.OpenAI(
        base_url=f"{stack.plano.url}/v1", api_key="sk-client", max_retries=0, timeout=20
    ) as client:
        return client.chat.completions.with_raw_response.create(
            model="",
            messages=[{"role": "user", "content": f"ROUTE:{route} please"}],
            extra_headers={"x-request-id": request_id},
        )


def ask_anthropic(stack: Stack, route: str, request_id: str) -> object:
    with anthropic.Anthropic(
        base_url=stack.plano.url, api_key="sk-client", max_retries=0, timeout=20
    ) as client:
        return client.messages.with_raw_response.create(
            model="",
            max_tokens=32,
            messages=[{"role": "user", "content": f"ROUTE:{route} please"}],
            extra_headers={"x-request-id": request_id},
        )


FIRST_FAILURES = {
    "429": Behavior(status=429, retry_after="7"),
    "500": Behavior(status=500),
    "503": Behavior(status=503),
    "timeout-before-headers": Behavior(delay_s=LISTENER_TIMEOUT_S + 1.5),
    "dropped-before-headers": Behavior(stream_drop_after=0),
}


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
@pytest.mark.parametrize("failure", [*FIRST_FAILURES, "connection-refused"])
def test_first_candidate_fails_the_second_answers(fresh: Stack, failure: str, dialect: str) -> None:
    route = "refused_route" if failure == "connection-refused" else "status_route"
    if failure != "connection-refused":
        fresh.primary.set_default(FIRST_FAILURES[failure])
    request_id = new_id()

    ask = ask_openai if dialect == "openai" else ask_anthropic
    raw = ask(fresh, route, request_id)

    headers = raw.headers  # type: ignore[attr-defined]
    parsed = raw.parse()  # type: ignore[attr-defined]
    text = (
        parsed.choices[0].message.content
        if dialect == "openai"
        else "".join(b.text for b in parsed.content if b.type == "text")
    )
    assert text == SECONDARY_TEXT
    assert headers["x-plano-model"] == "openai/secondary"
    assert headers["x-plano-route"] == route
    assert headers["x-plano-attempts"] == "2"
    assert headers["x-request-id"] == request_id
    if failure != "connection-refused":
        assert fresh.got(fresh.primary, request_id) == 1
    assert fresh.got(fresh.secondary, request_id) == 1
    record = fresh.log_record(request_id)
    assert record["attempts"] == 2
    assert record["status"] == 200
    assert record["route"] == route
    assert record["model"] == "openai/secondary"
    assert record["requested_model"] in (None, "")
    assert record["prompt_tokens"] == 10 and record["completion_tokens"] == 5


def test_streaming_falls_back_before_the_first_byte(fresh: Stack) -> None:
    fresh.primary.set_default(Behavior(status=503))
    request_id = new_id()
    with openai.OpenAI(
        base_url=f"{fresh.plano.url}/v1", api_key="sk-client", max_retries=0, timeout=20
    ) as client:
        stream = client.chat.completions.create(
            model="",
            messages=[{"role": "user", "content": "ROUTE:status_route stream it"}],
            stream=True,
            extra_headers={"x-request-id": request_id},
        )
        with stream:
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert stream.response.headers["x-plano-attempts"] == "2"
            assert stream.response.headers["x-plano-model"] == "openai/secondary"
    assert text == SECONDARY_TEXT
    record = fresh.log_record(request_id)
    assert record["attempts"] == 2
    assert isinstance(record["ttft_ms"], (int, float))


def test_cross_dialect_fallback_openai_provider_to_anthropic_provider(fresh: Stack) -> None:
    fresh.primary.set_default(Behavior(status=500))
    request_id = new_id()
    raw = ask_openai(fresh, "cross_route", request_id)
    assert raw.headers["x-plano-model"] == "anthropic/claude-backup"  # type: ignore[attr-defined]
    assert raw.parse().choices[0].message.content == BACKUP_TEXT  # type: ignore[attr-defined]
    sent = [r for r in fresh.anthropic_fake.requests if r.headers["x-request-id"] == request_id]
    assert len(sent) == 1
    assert sent[0].path == "/v1/messages"


# ------------------------------------------------------------ errors passed on as is


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_returned_as_is_in_the_same_dialect(fresh: Stack, status: int) -> None:
    fresh.primary.set_default(Behavior(status=status, error_message=f"primary says {status}"))
    request_id = new_id()
    with pytest.raises(openai.APIStatusError) as caught:
        ask_openai(fresh, "status_route", request_id)
    error = caught.value
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert error.body["message"] == f"primary says {status}"
    assert error.response.headers["x-plano-attempts"] == "1"
    assert error.response.headers["x-plano-model"] == "openai/primary"
    assert fresh.got(fresh.secondary, request_id) == 0
    record = fresh.log_record(request_id)
    assert (record["status"], record["attempts"]) == (status, 1)


@pytest.mark.parametrize(
    ("status", "anthropic_type"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error")],
)
def test_openai_provider_error_is_rewritten_for_an_anthropic_client(
    fresh: Stack, status: int, anthropic_type: str
) -> None:
    fresh.primary.set_default(Behavior(status=status, error_message=f"primary says {status}"))
    request_id = new_id()
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask_anthropic(fresh, "status_route", request_id)
    error = caught.value
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == anthropic_type
    assert "primary says" in error.body["error"]["message"]
    assert fresh.got(fresh.secondary, request_id) == 0


@pytest.mark.parametrize(
    ("status", "openai_type"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (404, "invalid_request_error")],
)
def test_anthropic_provider_error_is_rewritten_for_an_openai_client(
    fresh: Stack, status: int, openai_type: str
) -> None:
    fresh.anthropic_fake.set_default(Behavior(status=status, error_message=f"claude {status}"))
    request_id = new_id()
    with pytest.raises(openai.APIStatusError) as caught:
        ask_openai(fresh, "anthropic_first_route", request_id)
    error = caught.value
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert error.body["type"] == openai_type  # the SDK hands over the inner `error` object
    assert "claude" in error.body["message"]
    assert error.response.json()["error"]["message"] == f"claude {status}"
    assert fresh.got(fresh.secondary, request_id) == 0


# ---------------------------------------------------------------------- all fail


def test_all_candidates_fail_returns_the_last_error_with_its_status(fresh: Stack) -> None:
    fresh.primary.set_default(Behavior(status=500, error_message="primary broke"))
    fresh.secondary.set_default(Behavior(status=429, retry_after="9", error_message="slow down"))
    request_id = new_id()
    with pytest.raises(openai.RateLimitError) as caught:
        ask_openai(fresh, "status_route", request_id)
    error = caught.value
    assert error.status_code == 429
    assert isinstance(error.body, dict) and error.body["message"] == "slow down"
    assert error.response.headers["retry-after"] == "9"
    assert error.response.headers["x-plano-attempts"] == "2"
    assert error.response.headers["x-plano-model"] == "openai/secondary"
    record = fresh.log_record(request_id)
    assert (record["status"], record["attempts"], record["model"]) == (429, 2, "openai/secondary")


def test_all_candidates_unreachable_or_failing_in_anthropic_dialect(fresh: Stack) -> None:
    fresh.secondary.set_default(Behavior(status=503, error_message="secondary down"))
    request_id = new_id()
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask_anthropic(fresh, "refused_route", request_id)
    error = caught.value
    assert error.status_code == 503
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error"
    assert error.body["error"]["message"] == "secondary down"
    assert error.response.headers["x-plano-attempts"] == "2"


# ------------------------------------------------------------ failure mid-stream


def _stream_raw(
    stack: Stack, path: str, request_id: str, route: str = "status_route"
) -> tuple[requests.Response, str]:
    body: dict[str, object] = {
        "messages": [{"role": "user", "content": f"ROUTE:{route} stream"}],
        "stream": True,
    }
    if path == "/v1/messages":
        body["max_tokens"] = 32
    reply = stack.http.post(
        stack.plano.url + path,
        json=body,
        headers={"x-request-id": request_id},
        timeout=20,
    )
    return reply, reply.text


def cut_the_stream(stack: Stack, cut: str, provider: str) -> str:
    """Make `provider`'s fake drop or stall its stream after one chunk; the route that uses it."""
    behavior = (
        Behavior(text="abcdef", chunks=3, stream_drop_after=1)
        if cut == "drop"
        else Behavior(text="abcdef", chunks=3, stream_stall_after=1, stall_s=5)
    )
    fake = stack.primary if provider == "openai" else stack.anthropic_fake
    fake.set_default(behavior)
    return "status_route" if provider == "openai" else "anthropic_first_route"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("cut", ["drop", "stall"])
def test_openai_stream_cut_mid_way_ends_with_an_error_event(
    fresh: Stack, cut: str, provider: str
) -> None:
    route = cut_the_stream(fresh, cut, provider)
    request_id = new_id()
    reply, text = _stream_raw(fresh, "/v1/chat/completions", request_id, route)
    assert reply.status_code == 200
    assert reply.headers["x-plano-attempts"] == "1"
    events = [e for e in text.split("\n\n") if e.strip()]
    assert "[DONE]" not in text
    assert '"content":"ab"' in text  # the delta before the cut reached the client
    last = events[-1]
    assert last.startswith("data: ")
    error = json.loads(last[len("data: ") :])
    assert set(error) == {"error"}
    assert {"message", "type", "code"} <= set(error["error"])
    assert fresh.got(fresh.secondary, request_id) == 0  # bytes went out: no fallback
    record = fresh.log_record(request_id)
    assert record["status"] != 200
    assert record["attempts"] == 1


def test_a_trickling_stream_is_cut_at_the_listener_timeout(fresh: Stack) -> None:
    # Every wait is shorter than the 1 s listener timeout, the whole stream is not.
    fresh.primary.set_default(Behavior(text="abcdefghijkl", chunks=6, chunk_delay_s=0.4))
    request_id = new_id()
    started = time.monotonic()
    reply, text = _stream_raw(fresh, "/v1/chat/completions", request_id)
    elapsed = time.monotonic() - started
    assert reply.status_code == 200
    assert "[DONE]" not in text
    last = [e for e in text.split("\n\n") if e.strip()][-1]
    error = json.loads(last[len("data: ") :])["error"]
    assert error["code"] == "upstream_timeout"
    assert elapsed < LISTENER_TIMEOUT_S + 1.0  # the provider alone would take 2.4 s
    assert fresh.log_record(request_id)["error"] == "upstream_timeout"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("cut", ["drop", "stall"])
def test_anthropic_stream_cut_mid_way_ends_with_an_error_event(
    fresh: Stack, cut: str, provider: str
) -> None:
    route = cut_the_stream(fresh, cut, provider)
    request_id = new_id()
    reply, text = _stream_raw(fresh, "/v1/messages", request_id, route)
    assert reply.status_code == 200
    events = [e for e in text.split("\n\n") if e.strip()]
    kinds = [e.split("\n")[0] for e in events]
    assert kinds.count("event: message_start") == 1
    assert "event: message_stop" not in kinds
    assert kinds[-1] == "event: error"
    data = json.loads(events[-1].split("\n", 1)[1][len("data: ") :])
    assert data["type"] == "error"
    assert {"type", "message"} <= set(data["error"])
    assert '"text":"ab"' in text


def test_sdk_sees_the_mid_stream_error(fresh: Stack) -> None:
    fresh.primary.set_default(Behavior(text="abcdef", chunks=3, stream_drop_after=1))
    with openai.OpenAI(
        base_url=f"{fresh.plano.url}/v1", api_key="sk-client", max_retries=0, timeout=20
    ) as client:
        stream = client.chat.completions.create(
            model="",
            messages=[{"role": "user", "content": "ROUTE:status_route stream"}],
            stream=True,
        )
        with stream, pytest.raises(openai.APIError):
            for _ in stream:
                pass
    with anthropic.Anthropic(
        base_url=fresh.plano.url, api_key="sk-client", max_retries=0, timeout=20
    ) as aclient:
        with pytest.raises(anthropic.APIStatusError):
            with aclient.messages.stream(
                model="",
                max_tokens=32,
                messages=[{"role": "user", "content": "ROUTE:status_route stream"}],
            ) as astream:
                for _ in astream:
                    pass
