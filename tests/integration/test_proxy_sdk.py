"""The proxy end to end with the official SDKs: plano under real gunicorn (gevent), fake providers.

SPEC §2 (endpoints, headers, errors), §4 steps 1-2 (alias, named model, default), §7 (either
client dialect to either provider dialect, streaming included), §8 (request log). One gunicorn
and two fake providers serve the whole module; each request carries its own `x-request-id`, which
plano forwards, so a test finds exactly what the provider received for its own call.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import requests
from anthropic.types import Message
from openai.types.chat import ChatCompletion

from tests.fakes.provider_server import Behavior, FakeProvider, RecordedRequest, ToolCall, Usage
from tests.integration.conftest import StartPlano
from tests.integration.request_log import wait_for_log_record
from tests.services.gunicorn import WORKER_CLASS_IDS, WORKER_CLASSES, GunicornServer

OPENAI_TEXT = "Hello from the OpenAI-shaped fake."
ANTHROPIC_TEXT = "Hello from the Anthropic-shaped fake."
OPENAI_USAGE = Usage(prompt_tokens=12, completion_tokens=7)
ANTHROPIC_USAGE = Usage(prompt_tokens=20, completion_tokens=9)
WEATHER = ToolCall("get_weather", {"city": "Paris"}, id="call_weather_1")
CHUNK_DELAY_S = 0.25
SLOW_CHUNKS = 6

CONFIG = """\
version: v0.4.0
listeners:
  - name: model_listener
    type: model
    port: 12000
    timeout: 20s
model_providers:
  - model: openai/gpt-4o
    base_url: {openai_url}
    access_key: sk-proxy-sdk-openai-key
    default: true
  - model: openai/gpt-tools
    base_url: {openai_url}
    access_key: sk-proxy-sdk-openai-key
  - model: openai/gpt-slow
    base_url: {openai_url}
    access_key: sk-proxy-sdk-openai-key
  - model: anthropic/claude-sonnet-4-6
    base_url: {anthropic_url}
    access_key: sk-proxy-sdk-anthropic-key
  - model: anthropic/claude-tools
    base_url: {anthropic_url}
    access_key: sk-proxy-sdk-anthropic-key
  - model: anthropic/claude-slow
    base_url: {anthropic_url}
    access_key: sk-proxy-sdk-anthropic-key
model_aliases:
  quick:
    target: gpt-4o
  smart:
    target: claude-sonnet-4-6
observability:
  request_log: {log}
"""

NO_DEFAULT_CONFIG = """\
version: v0.4.0
model_providers:
  - model: openai/gpt-4o
    base_url: {openai_url}
    access_key: sk-proxy-sdk-openai-key
observability:
  request_log: "off"
"""


@dataclass(frozen=True)
class Stack:
    """The module's plano and its two providers."""

    plano: GunicornServer
    openai_fake: FakeProvider
    anthropic_fake: FakeProvider
    request_log: Path
    http: requests.Session

    @property
    def openai_base(self) -> str:
        return f"{self.plano.url}/v1"

    def received(self, fake: FakeProvider, request_id: str) -> RecordedRequest:
        """The one request `fake` got for the call with `request_id`."""
        matching = [r for r in fake.requests if r.headers.get("x-request-id") == request_id]
        assert len(matching) == 1, f"{fake.base_url} got {len(matching)} requests for {request_id}"
        return matching[0]

    def log_record(self, request_id: str, timeout_s: float = 5.0) -> dict[str, object]:
        """The request-log line for `request_id` (streams log when they end, so wait)."""
        return wait_for_log_record(self.request_log, request_id, timeout_s)


@pytest.fixture(scope="module", params=WORKER_CLASSES, ids=WORKER_CLASS_IDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("proxy_sdk")
    slow = dict(chunks=SLOW_CHUNKS, chunk_delay_s=CHUNK_DELAY_S)
    with (
        FakeProvider(
            default=Behavior(text=OPENAI_TEXT, usage=OPENAI_USAGE),
            behaviors={
                "gpt-tools": Behavior(tool_call=WEATHER, usage=OPENAI_USAGE),
                "gpt-slow": Behavior(text=OPENAI_TEXT, **slow),  # type: ignore[arg-type]
            },
        ) as openai_fake,
        FakeProvider(
            default=Behavior(text=ANTHROPIC_TEXT, usage=ANTHROPIC_USAGE),
            behaviors={
                "claude-tools": Behavior(tool_call=WEATHER, usage=ANTHROPIC_USAGE),
                "claude-slow": Behavior(text=ANTHROPIC_TEXT, **slow),  # type: ignore[arg-type]
            },
        ) as anthropic_fake,
    ):
        log = tmp / "requests.log"
        config = tmp / "plano.yaml"
        config.write_text(
            CONFIG.format(
                openai_url=openai_fake.base_url, anthropic_url=anthropic_fake.base_url, log=log
            )
        )
        with GunicornServer(config, tmp, workers=1, worker_class=request.param) as plano:
            with requests.Session() as http:
                yield Stack(plano, openai_fake, anthropic_fake, log, http)


def new_id() -> str:
    return f"sdk-{uuid.uuid4().hex}"


# Every SDK client, sync or async: a key plano must not forward, no SDK retries, a bound wait.
CLIENT_OPTIONS: dict[str, Any] = {"api_key": "sk-client-key", "max_retries": 0, "timeout": 20}


def openai_client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.openai_base, **CLIENT_OPTIONS)


def anthropic_client(stack: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stack.plano.url, **CLIENT_OPTIONS)


# ------------------------------------------------------------------ the SDK matrix


@dataclass(frozen=True)
class Answer:
    """What a client saw, normalised across SDKs and modes."""

    text: str
    headers: dict[str, str]
    prompt_tokens: int | None
    completion_tokens: int | None


def _lower(headers: object) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}  # type: ignore[attr-defined]


def _openai_answer(completion: ChatCompletion, headers: object) -> Answer:
    usage = completion.usage
    assert usage is not None
    return Answer(
        completion.choices[0].message.content or "",
        _lower(headers),
        usage.prompt_tokens,
        usage.completion_tokens,
    )


def _anthropic_answer(message: Message, headers: object) -> Answer:
    text = "".join(block.text for block in message.content if block.type == "text")
    return Answer(text, _lower(headers), message.usage.input_tokens, message.usage.output_tokens)


def openai_sync(stack: Stack, model: str, request_id: str) -> Answer:
    with openai_client(stack) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": request_id},
        )
        return _openai_answer(raw.parse(), raw.headers)


def openai_async(stack: Stack, model: str, request_id: str) -> Answer:
    async def run() -> Answer:
        async with openai.AsyncOpenAI(base_url=stack.openai_base, **CLIENT_OPTIONS) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model=model,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-request-id": request_id},
            )
            return _openai_answer(raw.parse(), raw.headers)

    return asyncio.run(run())


def openai_stream(stack: Stack, model: str, request_id: str) -> Answer:
    with openai_client(stack) as client:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-request-id": request_id},
        )
        with stream:
            pieces, usage = [], None
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                if chunk.usage is not None:
                    usage = chunk.usage
            headers = _lower(stream.response.headers)
        assert usage is not None, "include_usage asked for, no usage chunk came"
        return Answer("".join(pieces), headers, usage.prompt_tokens, usage.completion_tokens)


def anthropic_sync(stack: Stack, model: str, request_id: str) -> Answer:
    with anthropic_client(stack) as client:
        raw = client.messages.with_raw_response.create(
            model=model,
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": request_id},
        )
        return _anthropic_answer(raw.parse(), raw.headers)


def anthropic_async(stack: Stack, model: str, request_id: str) -> Answer:
    async def run() -> Answer:
        async with anthropic.AsyncAnthropic(base_url=stack.plano.url, **CLIENT_OPTIONS) as client:
            raw = await client.messages.with_raw_response.create(
                model=model,
                max_tokens=64,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-request-id": request_id},
            )
            return _anthropic_answer(await raw.parse(), raw.headers)

    return asyncio.run(run())


def anthropic_stream(stack: Stack, model: str, request_id: str) -> Answer:
    with anthropic_client(stack) as client:
        with client.messages.stream(
            model=model,
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": request_id},
        ) as stream:
            kinds = [event.type for event in stream]
            message = stream.get_final_message()
            headers = _lower(stream.response.headers)
        assert kinds.count("message_start") == 1, kinds
        assert kinds.count("message_stop") == 1, kinds
        assert kinds[-1] == "message_stop", kinds
        return _anthropic_answer(message, headers)


CLIENTS = {
    "openai-sync": openai_sync,
    "openai-async": openai_async,
    "openai-stream": openai_stream,
    "anthropic-sync": anthropic_sync,
    "anthropic-async": anthropic_async,
    "anthropic-stream": anthropic_stream,
}
# model as the client names it -> (canonical id, which fake, upstream id, upstream path)
MODELS = {
    "openai/gpt-4o": ("openai/gpt-4o", "openai", "gpt-4o", "/v1/chat/completions"),
    "gpt-4o": ("openai/gpt-4o", "openai", "gpt-4o", "/v1/chat/completions"),
    "quick": ("openai/gpt-4o", "openai", "gpt-4o", "/v1/chat/completions"),
    "anthropic/claude-sonnet-4-6": (
        "anthropic/claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6", "/v1/messages"
    ),
    "claude-sonnet-4-6": (
        "anthropic/claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6", "/v1/messages"
    ),
    "smart": ("anthropic/claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6", "/v1/messages"),
}  # fmt: skip


@pytest.mark.parametrize("named", list(MODELS))
@pytest.mark.parametrize("client_kind", list(CLIENTS))
def test_sdk_reaches_the_named_model(stack: Stack, client_kind: str, named: str) -> None:
    canonical, fake_name, upstream_id, path = MODELS[named]
    fake = stack.openai_fake if fake_name == "openai" else stack.anthropic_fake
    request_id = new_id()

    answer = CLIENTS[client_kind](stack, named, request_id)

    expected_text = OPENAI_TEXT if fake_name == "openai" else ANTHROPIC_TEXT
    usage = OPENAI_USAGE if fake_name == "openai" else ANTHROPIC_USAGE
    assert answer.text == expected_text
    assert (answer.prompt_tokens, answer.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert answer.headers["x-request-id"] == request_id
    assert answer.headers["x-plano-model"] == canonical
    assert answer.headers["x-plano-attempts"] == "1"
    assert "x-plano-route" not in answer.headers  # no routes in this config
    received = stack.received(fake, request_id)
    assert received.path == path
    assert received.model == upstream_id
    body = received.json
    assert isinstance(body, dict)
    assert body.get("stream", False) is client_kind.endswith("stream")
    if fake_name == "anthropic":
        assert received.headers["x-api-key"] == "sk-proxy-sdk-anthropic-key"
        assert received.headers["anthropic-version"]
        assert isinstance(body["max_tokens"], int)
    else:
        assert received.headers["authorization"] == "Bearer sk-proxy-sdk-openai-key"


@pytest.mark.parametrize("client_kind", ["openai-sync", "anthropic-sync", "openai-stream"])
def test_request_log_line_per_call(stack: Stack, client_kind: str) -> None:
    request_id = new_id()
    model = "smart" if client_kind.startswith("openai") else "gpt-4o"
    CLIENTS[client_kind](stack, model, request_id)

    record = stack.log_record(request_id)

    fields = (
        "time", "request_id", "dialect", "requested_model", "alias_target", "route", "model",
        "attempts", "status", "latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens",
        "cached_tokens", "session_id", "pinned",
    )  # fmt: skip
    assert set(fields) <= set(record)
    usage = ANTHROPIC_USAGE if model == "smart" else OPENAI_USAGE
    assert record["dialect"] == client_kind.split("-")[0]
    assert record["requested_model"] == model
    assert record["alias_target"] == ("anthropic/claude-sonnet-4-6" if model == "smart" else None)
    assert record["model"] == (
        "anthropic/claude-sonnet-4-6" if model == "smart" else "openai/gpt-4o"
    )
    assert record["route"] is None
    assert record["attempts"] == 1
    assert record["status"] == 200
    assert record["prompt_tokens"] == usage.prompt_tokens
    assert record["completion_tokens"] == usage.completion_tokens
    assert record["cached_tokens"] == 0
    assert isinstance(record["latency_ms"], (int, float)) and record["latency_ms"] > 0
    if client_kind.endswith("stream"):
        assert isinstance(record["ttft_ms"], (int, float))
        assert 0 < record["ttft_ms"] <= record["latency_ms"]
    else:
        assert record["ttft_ms"] is None
    assert record["session_id"] is None
    assert record["pinned"] is False


# ------------------------------------------------------------- unknown model, default


def test_unknown_model_is_404_in_openai_dialect(stack: Stack) -> None:
    with openai_client(stack) as client, pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="nope/never-declared", messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value
    assert error.status_code == 404
    assert error.code == "model_not_found"
    assert isinstance(error.body, dict) and "nope/never-declared" in str(error.body["message"])
    assert error.response.headers["x-request-id"]


def test_unknown_model_is_404_in_anthropic_dialect(stack: Stack) -> None:
    with anthropic_client(stack) as client, pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model="never-declared", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    body = caught.value.body
    assert caught.value.status_code == 404
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
    assert caught.value.response.headers["x-request-id"]


def test_unknown_model_gets_a_request_log_line(stack: Stack) -> None:
    request_id = new_id()
    reply = stack.http.post(
        f"{stack.plano.url}/v1/chat/completions",
        json={"model": "nope/unknown", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-request-id": request_id},
        timeout=20,
    )
    assert reply.status_code == 404
    record = stack.log_record(request_id)
    assert record["status"] == 404
    assert record["requested_model"] == "nope/unknown"
    assert record["attempts"] == 0
    assert record["model"] is None


@pytest.mark.parametrize(
    ("path", "body", "dialect", "endpoint"),
    [
        ("/v1/chat/completions", b"{not json", "openai", "chat_completions"),
        ("/v1/messages", b'{"messages": "hi"}', "anthropic", "messages"),
        ("/routing/v1/chat/completions", b"[]", "openai", "routing"),
        (
            "/v1/chat/completions",
            b'{"messages": []}' + b" " * (11 << 20),
            "openai",
            "chat_completions",
        ),
    ],
    ids=["not-json", "bad-messages", "decision-api-not-an-object", "too-large"],
)
def test_a_call_refused_before_routing_gets_a_request_log_line(
    stack: Stack, path: str, body: bytes, dialect: str, endpoint: str
) -> None:
    request_id = new_id()
    reply = stack.http.post(
        stack.plano.url + path,
        data=body,
        headers={"x-request-id": request_id, "content-type": "application/json"},
        timeout=20,
    )
    assert reply.status_code in (400, 413)
    record = stack.log_record(request_id)
    assert record["status"] == reply.status_code
    assert record["dialect"] == dialect
    assert record["endpoint"] == endpoint
    assert record["attempts"] == 0
    assert record["model"] is None
    assert record["error"] in ("invalid_request", "request_too_large")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/chat/completions", {"model": "", "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/messages", {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
    ],
)
def test_no_model_and_no_routes_goes_to_the_default(
    stack: Stack, path: str, body: dict[str, object]
) -> None:
    request_id = new_id()
    reply = stack.http.post(
        stack.plano.url + path, json=body, headers={"x-request-id": request_id}, timeout=20
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-plano-model"] == "openai/gpt-4o"
    received = stack.received(stack.openai_fake, request_id)
    assert received.model == "gpt-4o"
    payload = reply.json()
    if path == "/v1/messages":
        assert payload["type"] == "message"
        assert payload["content"][0]["text"] == OPENAI_TEXT
    else:
        assert payload["choices"][0]["message"]["content"] == OPENAI_TEXT


def test_no_model_no_routes_no_default_is_400(stack: Stack, plano_server: StartPlano) -> None:
    server = plano_server(NO_DEFAULT_CONFIG.format(openai_url=stack.openai_fake.base_url))
    with (
        openai.OpenAI(base_url=f"{server.url}/v1", **CLIENT_OPTIONS) as client,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        client.chat.completions.create(model="", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 400
    with (
        anthropic.Anthropic(base_url=server.url, **CLIENT_OPTIONS) as client,
        pytest.raises(anthropic.BadRequestError) as bad,
    ):
        client.messages.create(model="", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert isinstance(bad.value.body, dict)
    assert bad.value.body["error"]["type"] == "invalid_request_error"


# ----------------------------------------------------------- tool calls across dialects

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def test_tool_round_trip_openai_client_anthropic_provider(stack: Stack) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER_SCHEMA,
            },
        }
    ]
    first_id, second_id = new_id(), new_id()
    with openai_client(stack) as client:
        first = client.chat.completions.create(
            model="anthropic/claude-tools",
            messages=[
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Weather in Paris?"},
            ],
            tools=tools,  # type: ignore[arg-type]
            extra_headers={"x-request-id": first_id},
        )
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls is not None
        call = choice.message.tool_calls[0]
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]

        sent = stack.received(stack.anthropic_fake, first_id).json
        assert isinstance(sent, dict)
        assert sent["system"] in ("You are terse.", [{"type": "text", "text": "You are terse."}])
        assert sent["tools"] == [
            {
                "name": "get_weather",
                "description": "Weather for a city",
                "input_schema": WEATHER_SCHEMA,
            }
        ]
        assert all(m["role"] in ("user", "assistant") for m in sent["messages"])

        client.chat.completions.create(
            model="anthropic/claude-tools",
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": call.function.arguments,  # type: ignore[union-attr]
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
            ],
            tools=tools,  # type: ignore[arg-type]
            extra_headers={"x-request-id": second_id},
        )

    sent = stack.received(stack.anthropic_fake, second_id).json
    assert isinstance(sent, dict)
    user, assistant, result = sent["messages"]
    assert user["role"] == "user"
    assert assistant["role"] == "assistant"
    tool_use = [b for b in assistant["content"] if b["type"] == "tool_use"]
    assert tool_use == [
        {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert result["role"] == "user"
    tool_result = [b for b in result["content"] if b["type"] == "tool_result"]
    assert len(tool_result) == 1
    assert tool_result[0]["tool_use_id"] == call.id
    content = tool_result[0]["content"]
    text = content if isinstance(content, str) else "".join(p["text"] for p in content)
    assert text == "18C and sunny"


def test_tool_round_trip_anthropic_client_openai_provider(stack: Stack) -> None:
    tools = [
        {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA}
    ]
    first_id, second_id = new_id(), new_id()
    with anthropic_client(stack) as client:
        first = client.messages.create(
            model="openai/gpt-tools",
            max_tokens=64,
            system="You are terse.",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=tools,  # type: ignore[arg-type]
            extra_headers={"x-request-id": first_id},
        )
        assert first.stop_reason == "tool_use"
        uses = [block for block in first.content if block.type == "tool_use"]
        assert len(uses) == 1
        use = uses[0]
        assert use.name == "get_weather"
        assert use.input == {"city": "Paris"}

        sent = stack.received(stack.openai_fake, first_id).json
        assert isinstance(sent, dict)
        assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
        assert sent["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": WEATHER_SCHEMA,
                },
            }
        ]

        client.messages.create(
            model="openai/gpt-tools",
            max_tokens=64,
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": use.id, "content": "18C and sunny"}
                    ],
                },
            ],
            tools=tools,  # type: ignore[arg-type]
            extra_headers={"x-request-id": second_id},
        )

    sent = stack.received(stack.openai_fake, second_id).json
    assert isinstance(sent, dict)
    messages = [m for m in sent["messages"] if m["role"] != "system"]
    user, assistant, tool = messages
    assert user["role"] == "user"
    assert assistant["role"] == "assistant"
    assert len(assistant["tool_calls"]) == 1
    call = assistant["tool_calls"][0]
    assert call["id"] == use.id
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert tool["role"] == "tool"
    assert tool["tool_call_id"] == use.id
    content = tool["content"]
    text = content if isinstance(content, str) else "".join(p["text"] for p in content)
    assert text == "18C and sunny"


def test_streamed_tool_call_openai_client_anthropic_provider(stack: Stack) -> None:
    with openai_client(stack) as client:
        stream = client.chat.completions.create(
            model="anthropic/claude-tools",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[{"type": "function", "function": {"name": "get_weather"}}],
            stream=True,
        )
        with stream:
            names, arguments, finish = [], [], None
            for chunk in stream:
                for choice in chunk.choices:
                    for delta in choice.delta.tool_calls or []:
                        if delta.function and delta.function.name:
                            names.append(delta.function.name)
                        if delta.function and delta.function.arguments:
                            arguments.append(delta.function.arguments)
                    finish = choice.finish_reason or finish
    assert names == ["get_weather"]
    assert json.loads("".join(arguments)) == {"city": "Paris"}
    assert finish == "tool_calls"


# --------------------------------------------------------------------- real streaming


def test_openai_stream_arrives_event_by_event(stack: Stack) -> None:
    started = time.monotonic()
    arrivals: list[float] = []
    with openai_client(stack) as client:
        stream = client.chat.completions.create(
            model="anthropic/claude-slow",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
        with stream:
            assert stream.response.headers["x-accel-buffering"] == "no"
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            text = []
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    arrivals.append(time.monotonic() - started)
                    text.append(chunk.choices[0].delta.content)
    assert "".join(text) == ANTHROPIC_TEXT
    _assert_spread(arrivals)


def test_anthropic_stream_arrives_event_by_event(stack: Stack) -> None:
    started = time.monotonic()
    arrivals: list[float] = []
    with anthropic_client(stack) as client:
        with client.messages.stream(
            model="openai/gpt-slow", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert stream.response.headers["x-accel-buffering"] == "no"
            text = []
            for piece in stream.text_stream:
                if piece:
                    arrivals.append(time.monotonic() - started)
                    text.append(piece)
    assert "".join(text) == OPENAI_TEXT
    _assert_spread(arrivals)


def _assert_spread(arrivals: list[float]) -> None:
    """The deltas arrived as the provider sent them, CHUNK_DELAY_S apart, not in one burst."""
    assert len(arrivals) == SLOW_CHUNKS, arrivals
    provider_total = SLOW_CHUNKS * CHUNK_DELAY_S
    # The first delta came long before the provider could have sent its last one.
    assert arrivals[0] < provider_total - 2 * CHUNK_DELAY_S, arrivals
    assert arrivals[-1] - arrivals[0] >= (SLOW_CHUNKS - 2) * CHUNK_DELAY_S, arrivals
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) > CHUNK_DELAY_S / 3, arrivals


@pytest.mark.parametrize("client_kind", ["openai", "anthropic"])
def test_client_disconnect_closes_the_upstream_connection(stack: Stack, client_kind: str) -> None:
    endless = Behavior(text="x" * 400, chunks=200, chunk_delay_s=0.1)  # 20 s if read to the end
    fake = stack.openai_fake if client_kind == "openai" else stack.anthropic_fake
    model = "gpt-4o" if client_kind == "openai" else "claude-sonnet-4-6"
    previous = fake.behavior_for(model)
    fake.set_behavior(model, endless)
    request_id = new_id()
    try:
        if client_kind == "openai":
            with openai_client(stack) as client:
                stream = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": "go on forever"}],
                    stream=True,
                    extra_headers={"x-request-id": request_id},
                )
                first = next(c for c in stream if c.choices and c.choices[0].delta.content)
                assert first.choices[0].delta.content
                stream.close()
        else:
            with anthropic_client(stack) as aclient:
                with aclient.messages.stream(
                    model=model,
                    max_tokens=64,
                    messages=[{"role": "user", "content": "go on forever"}],
                    extra_headers={"x-request-id": request_id},
                ) as astream:
                    assert next(iter(astream.text_stream))
        closed_at = time.monotonic()
        received = stack.received(fake, request_id)
        fake.wait_for_connection_close(received.connection_id, timeout_s=5.0)
        assert time.monotonic() - closed_at < 5.0
    finally:
        fake.set_behavior(model, previous)
