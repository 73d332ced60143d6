"""The fake provider speaks the real shapes: the official openai and anthropic SDKs talk to it."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anthropic
import openai
import pytest
import requests
from openai.types.chat import ChatCompletionMessageFunctionToolCall

from tests.fakes.provider_server import (
    Behavior,
    FakeProvider,
    FastFakeProvider,
    ToolCall,
    Usage,
    split_text,
)

USER: Any = [{"role": "user", "content": "hi"}]  # both SDKs accept it; Any spares their TypedDicts


@pytest.fixture()
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture()
def closing() -> Iterator[ExitStack]:
    """Clients, sessions and responses made by a test, closed after it (no ResourceWarning)."""
    with ExitStack() as stack:
        yield stack


@pytest.fixture()
def session(closing: ExitStack) -> requests.Session:
    """A plain requests Session, closed after the test."""
    return closing.enter_context(requests.Session())


def openai_client(closing: ExitStack, fake: FakeProvider, timeout_s: float = 5.0) -> openai.OpenAI:
    client = openai.OpenAI(
        base_url=fake.base_url, api_key="sk-test", max_retries=0, timeout=timeout_s
    )
    return closing.enter_context(client)


def anthropic_client(
    closing: ExitStack, fake: FakeProvider, timeout_s: float = 5.0
) -> anthropic.Anthropic:
    # The anthropic SDK appends /v1/messages to its base_url itself.
    client = anthropic.Anthropic(
        base_url=fake.origin, api_key="sk-ant-test", max_retries=0, timeout=timeout_s
    )
    return closing.enter_context(client)


def raw_post(
    closing: ExitStack, fake: FakeProvider, path: str, body: object, timeout_s: float = 5.0
) -> requests.Response:
    """A POST with a plain requests Session (no SDK), the body left unread (stream=True)."""
    session = closing.enter_context(requests.Session())
    reply = session.post(f"{fake.origin}{path}", json=body, stream=True, timeout=timeout_s)
    return closing.enter_context(reply)


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """(event, data) pairs of an SSE body."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        event, data = None, ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        events.append((event, data))
    return events


# --- OpenAI Chat Completions ---------------------------------------------------------------


def test_openai_sdk_reads_a_completion_with_usage_and_the_request_is_recorded(
    closing: ExitStack,
) -> None:
    behavior = Behavior(text="Paris.", usage=Usage(20, 3, cached_tokens=16))
    with FakeProvider(behaviors={"gpt-4o": behavior}) as fake:
        reply = openai_client(closing, fake).chat.completions.create(
            model="gpt-4o", messages=USER, temperature=0.2
        )
        assert reply.choices[0].message.content == "Paris."
        assert reply.choices[0].finish_reason == "stop"
        assert reply.model == "gpt-4o"
        assert reply.usage is not None
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (20, 3)
        assert reply.usage.total_tokens == 23
        assert reply.usage.prompt_tokens_details is not None
        assert reply.usage.prompt_tokens_details.cached_tokens == 16
        (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.model == "gpt-4o"
    assert request.json == {"model": "gpt-4o", "messages": USER, "temperature": 0.2}


def test_openai_sdk_streams_text_deltas_and_a_usage_chunk(closing: ExitStack) -> None:
    behavior = Behavior(text="one two three four", chunks=4, usage=Usage(7, 4, cached_tokens=2))
    with FakeProvider(behaviors={"gpt-4o": behavior}) as fake:
        stream = openai_client(closing, fake).chat.completions.create(
            model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == "one two three four"
    assert len(texts) == 4
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert all(f is None for f in finishes[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None and usage_chunk.usage.prompt_tokens == 7
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_stream_without_include_usage_has_no_usage_and_ends_with_done(
    fake: FakeProvider, closing: ExitStack
) -> None:
    reply = raw_post(
        closing, fake, "/v1/chat/completions", {"model": "m", "messages": USER, "stream": True}
    )
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["transfer-encoding"] == "chunked"
    events = sse_events(reply.content)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all("usage" not in chunk for chunk in chunks)
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}


def test_openai_sdk_reads_a_tool_call_whole_and_streamed(closing: ExitStack) -> None:
    call = ToolCall("get_weather", {"city": "Paris", "unit": "c"}, id="call_abc")
    with FakeProvider(behaviors={"gpt-4o": Behavior(tool_call=call, chunks=3)}) as fake:
        client = openai_client(closing, fake)
        reply = client.chat.completions.create(model="gpt-4o", messages=USER)
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    message = reply.choices[0].message
    assert message.content is None
    assert reply.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    (tool_call,) = message.tool_calls
    assert isinstance(tool_call, ChatCompletionMessageFunctionToolCall)
    assert tool_call.id == "call_abc"
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Paris", "unit": "c"}

    arguments = ""
    names = []
    for chunk in chunks:
        for delta_call in chunk.choices[0].delta.tool_calls or []:
            assert delta_call.index == 0
            if delta_call.function and delta_call.function.name:
                names.append(delta_call.function.name)
            if delta_call.function and delta_call.function.arguments:
                arguments += delta_call.function.arguments
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "Paris", "unit": "c"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_sdk_sees_a_429_with_retry_after_and_an_openai_error_body(
    closing: ExitStack,
) -> None:
    behavior = Behavior(status=429, retry_after="7", error_message="slow down")
    with FakeProvider(behaviors={"gpt-4o": behavior}) as fake:
        with pytest.raises(openai.RateLimitError) as caught:
            openai_client(closing, fake).chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.response.headers["retry-after"] == "7"
    body = caught.value.response.json()
    assert body == {
        "error": {
            "message": "slow down",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_openai_sdk_maps_each_scripted_status(
    status: int, error_class: type[Exception], closing: ExitStack
) -> None:
    with FakeProvider(default=Behavior(status=status)) as fake:
        with pytest.raises(error_class):
            openai_client(closing, fake).chat.completions.create(
                model="any", messages=USER, stream=True
            )


def test_fail_first_fails_n_requests_then_succeeds_and_resets_on_set_behavior(
    closing: ExitStack,
) -> None:
    with FakeProvider(behaviors={"m": Behavior(fail_first=2, fail_status=503)}) as fake:
        client = openai_client(closing, fake)
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="m", messages=USER)
        assert client.chat.completions.create(model="m", messages=USER).choices
        fake.set_behavior("m", Behavior(fail_first=1, fail_status=429))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=USER)
        assert client.chat.completions.create(model="m", messages=USER).choices
        assert len(fake.requests_for("m")) == 5


def test_set_behavior_and_default_pick_the_reply_per_model(closing: ExitStack) -> None:
    with FakeProvider(
        behaviors={"a": Behavior(text="from a")}, default=Behavior(text="default")
    ) as fake:
        client = openai_client(closing, fake)

        def ask(model: str) -> str | None:
            return (
                client.chat.completions.create(model=model, messages=USER)
                .choices[0]
                .message.content
            )

        assert ask("a") == "from a"
        assert ask("b") == "default"
        fake.set_behavior("b", Behavior(text="from b"))
        fake.set_default(Behavior(text="new default"))
        assert (ask("b"), ask("c")) == ("from b", "new default")
        assert fake.behavior_for("a").text == "from a"


def test_reply_model_overrides_the_echoed_model(closing: ExitStack) -> None:
    with FakeProvider(default=Behavior(reply_model="gpt-4o-2024-08-06")) as fake:
        reply = openai_client(closing, fake).chat.completions.create(model="gpt-4o", messages=USER)
    assert reply.model == "gpt-4o-2024-08-06"


# --- Anthropic Messages --------------------------------------------------------------------


def test_anthropic_sdk_reads_a_message_with_cache_usage(closing: ExitStack) -> None:
    behavior = Behavior(text="Bonjour.", usage=Usage(20, 3, cached_tokens=16))
    with FakeProvider(behaviors={"claude-sonnet-4-6": behavior}) as fake:
        message = anthropic_client(closing, fake).messages.create(
            model="claude-sonnet-4-6", max_tokens=100, messages=USER, system="be brief"
        )
        (request,) = fake.requests
    assert message.type == "message" and message.role == "assistant"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Bonjour."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 4  # cache reads are not input tokens in Anthropic's usage
    assert message.usage.cache_read_input_tokens == 16
    assert message.usage.output_tokens == 3
    assert request.path == "/v1/messages"
    assert request.json == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": USER,
        "system": "be brief",
    }
    assert "anthropic-version" in request.headers


def test_anthropic_sdk_streams_text_and_accumulates_the_final_message(closing: ExitStack) -> None:
    behavior = Behavior(text="a streamed answer", chunks=5, usage=Usage(9, 6))
    with FakeProvider(default=behavior) as fake:
        with anthropic_client(closing, fake).messages.stream(
            model="claude-sonnet-4-6", max_tokens=50, messages=USER
        ) as stream:
            pieces = list(stream.text_stream)
            final = stream.get_final_message()
    assert "".join(pieces) == "a streamed answer"
    assert len(pieces) == 5
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 6
    assert final.content[0].text == "a streamed answer"  # type: ignore[union-attr]


def test_anthropic_stream_is_the_exact_event_sequence(
    fake: FakeProvider, closing: ExitStack
) -> None:
    fake.set_default(Behavior(text="abc", chunks=3))
    body = {"model": "claude", "max_tokens": 10, "messages": USER, "stream": True}
    events = sse_events(raw_post(closing, fake, "/v1/messages", body).content)
    names = [event for event, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    for event, data in events:
        assert json.loads(data)["type"] == event
    assert [json.loads(d)["delta"]["text"] for e, d in events if e == "content_block_delta"] == [
        "a",
        "b",
        "c",
    ]


def test_anthropic_sdk_reads_a_tool_use_whole_and_streamed(closing: ExitStack) -> None:
    call = ToolCall("get_weather", {"city": "Paris"}, id="toolu_01")
    with FakeProvider(default=Behavior(tool_call=call, chunks=4)) as fake:
        client = anthropic_client(closing, fake)
        whole = client.messages.create(model="claude", max_tokens=50, messages=USER)
        with client.messages.stream(model="claude", max_tokens=50, messages=USER) as stream:
            streamed = stream.get_final_message()
    for message in (whole, streamed):
        assert message.stop_reason == "tool_use"
        (block,) = message.content
        assert block.type == "tool_use"
        assert (block.id, block.name, block.input) == ("toolu_01", "get_weather", {"city": "Paris"})


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.APIStatusError, "overloaded_error"),
    ],
)
def test_anthropic_sdk_sees_errors_in_the_anthropic_dialect(
    status: int, error_class: type[anthropic.APIStatusError], error_type: str, closing: ExitStack
) -> None:
    with FakeProvider(default=Behavior(status=status, error_message="nope")) as fake:
        with pytest.raises(error_class) as caught:
            anthropic_client(closing, fake).messages.create(
                model="claude", max_tokens=5, messages=USER
            )
    assert caught.value.status_code == status
    assert caught.value.response.json() == {
        "type": "error",
        "error": {"type": error_type, "message": "nope"},
    }


def test_a_request_a_real_provider_rejects_gets_a_400_in_its_dialect(
    fake: FakeProvider, closing: ExitStack, session: requests.Session
) -> None:
    no_max_tokens = raw_post(closing, fake, "/v1/messages", {"model": "claude", "messages": USER})
    assert no_max_tokens.status_code == 400
    assert no_max_tokens.json()["error"]["type"] == "invalid_request_error"
    no_messages = raw_post(closing, fake, "/v1/chat/completions", {"model": "gpt-4o"})
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["type"] == "invalid_request_error"
    not_json = session.post(f"{fake.base_url}/chat/completions", data=b"{oops", timeout=5)
    assert not_json.status_code == 400
    assert fake.requests[-1].json is None and fake.requests[-1].body == b"{oops"
    unknown = session.post(f"{fake.base_url}/responses", json={"model": "m"}, timeout=5)
    assert unknown.status_code == 404


# --- failure injection ---------------------------------------------------------------------


def test_delay_before_headers_makes_the_client_time_out(closing: ExitStack) -> None:
    with FakeProvider(default=Behavior(delay_s=5)) as fake:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            openai_client(closing, fake, timeout_s=0.3).chat.completions.create(
                model="m", messages=USER
            )
        assert time.monotonic() - started < 3


def test_chunk_delay_spaces_out_the_stream_deltas(closing: ExitStack) -> None:
    with FakeProvider(default=Behavior(chunks=3, chunk_delay_s=0.15)) as fake:
        started = time.monotonic()
        stream = openai_client(closing, fake).chat.completions.create(
            model="m", messages=USER, stream=True
        )
        first = next(iter(stream))
        first_at = time.monotonic() - started
        list(stream)
        total = time.monotonic() - started
    assert first.choices[0].delta.role == "assistant"
    assert first_at < total - 0.3  # the role chunk is not delayed; three deltas are
    assert total >= 0.45


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_stall_sends_k_deltas_then_keeps_the_socket_silent(path: str, closing: ExitStack) -> None:
    with FakeProvider(default=Behavior(chunks=4, stream_stall_after=1)) as fake:
        body = {"model": "m", "max_tokens": 5, "messages": USER, "stream": True}
        reply = raw_post(closing, fake, path, body, timeout_s=0.5)
        received = b""
        with pytest.raises(requests.exceptions.ConnectionError):  # the read timed out
            for piece in reply.iter_content(chunk_size=None):
                received += piece
    names = [event for event, _ in sse_events(received)]
    if path.endswith("messages"):
        assert names == ["message_start", "content_block_start", "ping", "content_block_delta"]
    else:  # the role chunk, then one content chunk
        assert names == [None, None]
        assert json.loads(sse_events(received)[1][1])["choices"][0]["delta"]["content"]


def test_stall_ends_when_the_fake_closes(closing: ExitStack) -> None:
    fake = FakeProvider(default=Behavior(stream_stall_after=0)).start()
    reply = raw_post(
        closing, fake, "/v1/chat/completions", {"model": "m", "messages": USER, "stream": True}
    )
    done = threading.Event()

    def read_all() -> None:
        try:
            reply.content  # noqa: B018 - reading the body is the point
        except requests.exceptions.RequestException:
            pass
        done.set()

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    time.sleep(0.2)
    assert not done.is_set()
    started = time.monotonic()
    fake.close()
    assert done.wait(5)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_drop_closes_the_connection_mid_stream(path: str, closing: ExitStack) -> None:
    with FakeProvider(default=Behavior(chunks=4, stream_drop_after=2)) as fake:
        body = {"model": "m", "max_tokens": 5, "messages": USER, "stream": True}
        reply = raw_post(closing, fake, path, body)
        received = b""
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for piece in reply.iter_content(chunk_size=None):
                received += piece
    events = sse_events(received)
    assert len(events) == (1 if path.endswith("completions") else 3) + 2
    assert b"[DONE]" not in received and b"message_stop" not in received


def test_openai_sdk_stream_raises_when_the_connection_drops(closing: ExitStack) -> None:
    with FakeProvider(default=Behavior(chunks=4, stream_drop_after=1)) as fake:
        stream = openai_client(closing, fake).chat.completions.create(
            model="m", messages=USER, stream=True
        )
        with pytest.raises(openai.APIError):
            list(stream)


def test_non_streaming_drop_after_zero_closes_without_a_response(closing: ExitStack) -> None:
    with FakeProvider(default=Behavior(stream_drop_after=0)) as fake:
        with pytest.raises(openai.APIConnectionError):
            openai_client(closing, fake).chat.completions.create(model="m", messages=USER)


def test_non_streaming_stall_sends_headers_and_half_the_body(closing: ExitStack) -> None:
    with FakeProvider(default=Behavior(stream_stall_after=1)) as fake:
        reply = raw_post(
            closing, fake, "/v1/chat/completions", {"model": "m", "messages": USER}, 0.5
        )
        assert reply.status_code == 200
        with pytest.raises(requests.exceptions.ConnectionError):
            reply.content  # noqa: B018


def test_malformed_body_is_cut_json_with_status_200(fake: FakeProvider, closing: ExitStack) -> None:
    fake.set_default(Behavior(malformed_body=True))
    reply = raw_post(closing, fake, "/v1/chat/completions", {"model": "m", "messages": USER})
    assert reply.status_code == 200
    assert int(reply.headers["content-length"]) == len(reply.content)
    with pytest.raises(ValueError):
        json.loads(reply.content)
    streamed = raw_post(
        closing,
        fake,
        "/v1/messages",
        {"model": "m", "max_tokens": 1, "messages": USER, "stream": True},
    )
    bad = [data for _, data in sse_events(streamed.content) if data == '{"choices": [']
    assert bad


def test_content_type_and_raw_body_override_the_reply(
    fake: FakeProvider, closing: ExitStack
) -> None:
    fake.set_default(Behavior(content_type="text/html", raw_body=b"<html>gateway</html>"))
    reply = raw_post(
        closing, fake, "/v1/chat/completions", {"model": "m", "messages": USER, "stream": True}
    )
    assert reply.headers["content-type"] == "text/html"
    assert reply.content == b"<html>gateway</html>"
    fake.set_default(Behavior(headers={"x-ratelimit-remaining-requests": "0"}))
    reply = raw_post(closing, fake, "/v1/chat/completions", {"model": "m", "messages": USER})
    assert reply.headers["x-ratelimit-remaining-requests"] == "0"


# --- transport -----------------------------------------------------------------------------


def test_pooled_clients_reuse_one_keep_alive_connection(
    fake: FakeProvider, session: requests.Session, closing: ExitStack
) -> None:
    with openai_client(closing, fake) as client:
        for _ in range(3):
            client.chat.completions.create(model="m", messages=USER)
    for stream in (True, False, True):
        body = {"model": "m", "messages": USER, "stream": stream}
        with session.post(f"{fake.base_url}/chat/completions", json=body, timeout=5) as reply:
            assert reply.ok
    assert len(fake.requests) == 6
    assert fake.connection_count == 2
    assert [r.connection_id for r in fake.requests] == [1, 1, 1, 2, 2, 2]


def test_http11_framing_is_exact_on_one_connection(fake: FakeProvider) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        for stream in (True, False, True):
            body = json.dumps({"model": "m", "messages": USER, "stream": stream})
            connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "x"})
            reply = connection.getresponse()
            assert reply.version == 11
            assert reply.read().rstrip().endswith(b"[DONE]" if stream else b"}")
            assert (reply.getheader("Content-Length") is None) == stream
    finally:
        connection.close()
    assert fake.connection_count == 1


def test_a_chunked_request_body_is_read(fake: FakeProvider, session: requests.Session) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"model": "m", '
        yield b'"messages": []}'

    reply = session.post(f"{fake.base_url}/chat/completions", data=body(), timeout=5)
    assert reply.status_code == 200
    assert fake.requests[0].json == {"model": "m", "messages": []}
    assert fake.requests[0].headers["transfer-encoding"] == "chunked"


@pytest.mark.parametrize(
    ("root", "path"), [("", "/chat/completions"), ("/openai/v1/", "/openai/v1/chat/completions")]
)
def test_the_root_prefix_is_configurable(root: str, path: str, closing: ExitStack) -> None:
    with FakeProvider(root=root) as fake:
        assert fake.base_url == fake.origin + path.removesuffix("/chat/completions")
        openai_client(closing, fake).chat.completions.create(model="m", messages=USER)
        assert fake.requests[0].path == path


def test_models_lists_the_scripted_models(closing: ExitStack) -> None:
    with FakeProvider(behaviors={"b": Behavior(), "a": Behavior()}) as fake:
        models = openai_client(closing, fake).models.list()
    assert [m.id for m in models] == ["a", "b"]


def test_wait_for_requests_returns_or_raises(fake: FakeProvider, session: requests.Session) -> None:
    threading.Timer(
        0.1,
        lambda: session.post(f"{fake.base_url}/chat/completions", json={}, timeout=5),
    ).start()
    assert len(fake.wait_for_requests(1, timeout_s=5)) == 1
    with pytest.raises(AssertionError):
        fake.wait_for_requests(2, timeout_s=0.1)
    fake.clear()
    assert fake.requests == [] and fake.request_count == 0


def test_fast_provider_replays_cached_replies_and_only_counts(closing: ExitStack) -> None:
    with FastFakeProvider(default=Behavior(text="fast", chunks=2)) as fake:
        client = openai_client(closing, fake)
        replies = [client.chat.completions.create(model="m", messages=USER) for _ in range(3)]
        streamed = list(client.chat.completions.create(model="m", messages=USER, stream=True))
        message = anthropic_client(closing, fake).messages.create(
            model="c", max_tokens=1, messages=USER
        )
        assert {r.id for r in replies} == {"chatcmpl-fake"}
        assert all(r.choices[0].message.content == "fast" for r in replies)
        assert "".join(c.choices[0].delta.content or "" for c in streamed) == "fast"
        assert message.content[0].text == "fast"  # type: ignore[union-attr]
        assert fake.request_count == 5
        assert fake.requests == []
        fake.set_default(Behavior(text="changed"))
        changed = client.chat.completions.create(model="m", messages=USER)
        assert changed.choices[0].message.content == "changed"


def test_fast_provider_serves_many_concurrent_clients() -> None:
    errors: list[BaseException] = []
    with FastFakeProvider() as fake:

        def worker() -> None:
            try:
                with requests.Session() as session:
                    for _ in range(50):
                        reply = session.post(
                            f"{fake.base_url}/chat/completions",
                            json={"model": "m", "messages": USER, "stream": True},
                            timeout=5,
                        )
                        assert reply.content.endswith(b"data: [DONE]\n\n")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert errors == []
        assert fake.request_count == 400
        assert fake.connection_count == 8
    assert elapsed < 10


def test_close_shuts_idle_keep_alive_connections() -> None:
    fake = FakeProvider().start()
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        connection.request(
            "POST", "/v1/chat/completions", json.dumps({"model": "m", "messages": USER})
        )
        assert connection.getresponse().read()
        fake.close()
        assert connection.sock is not None
        assert connection.sock.recv(1) == b""  # closed by the server, not left hanging
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("text", "parts", "expected"),
    [("abcdef", 3, ["ab", "cd", "ef"]), ("abcde", 2, ["abc", "de"]), ("ab", 0, ["ab"])],
)
def test_split_text(text: str, parts: int, expected: list[str]) -> None:
    assert split_text(text, parts) == expected
