"""SIGTERM to gunicorn (run with conf/gunicorn.conf.py) while streams are in flight.

What a deployment relies on (Kubernetes sends SIGTERM, then SIGKILL after the grace period):
the master stops accepting at once, streams already running finish with every chunk and their
proper end (`data: [DONE]`, `message_stop`), and master and workers are gone within
`graceful_timeout` (PLANO_GRACEFUL_TIMEOUT). A stream longer than that is cut at the deadline,
and the shutdown still does not wait past it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import openai
import pytest

from tests.fakes.provider_server import Behavior, FakeProvider, split_text
from tests.services.gunicorn import REPO_ROOT, GunicornServer
from tests.services.ports import is_listening

CONF_ARGS = ("-c", str(REPO_ROOT / "conf" / "gunicorn.conf.py"))
TEXT = "one two three four five six seven eight nine ten "
CHUNKS = 10
CHUNK_DELAY_S = 0.35  # 10 deltas: a stream of about 3.5 s
ENV = {"OPENAI_API_KEY": "sk-openai", "ANTHROPIC_API_KEY": "sk-ant"}
OPENAI_USER: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "count to ten"}
]
CLAUDE_USER: list[anthropic.types.MessageParam] = [{"role": "user", "content": "count to ten"}]


@pytest.fixture()
def provider() -> Iterator[FakeProvider]:
    slow = Behavior(text=TEXT, chunks=CHUNKS, chunk_delay_s=CHUNK_DELAY_S)
    with FakeProvider(default=slow) as fake:
        yield fake


def start_plano(provider: FakeProvider, tmp_path: Path, graceful_timeout_s: int) -> GunicornServer:
    config = tmp_path / "plano.yaml"
    config.write_text(
        f"""\
version: v0.4.0
model_providers:
  - model: openai/gpt-4o-mini
    access_key: $OPENAI_API_KEY
    base_url: {provider.base_url}
    default: true
  - model: anthropic/claude-sonnet-4-6
    access_key: $ANTHROPIC_API_KEY
    base_url: {provider.base_url}
observability:
  request_log: "off"
""",
        encoding="utf-8",
    )
    env = {**ENV, "PLANO_GRACEFUL_TIMEOUT": str(graceful_timeout_s)}
    return GunicornServer(config, tmp_path, workers=2, extra_args=CONF_ARGS, env=env).start()


@dataclass
class StreamRun:
    """One client stream on its own thread: what arrived, and how it ended."""

    name: str
    items: list[str] = field(default_factory=list)
    error: BaseException | None = None
    started: threading.Event = field(default_factory=threading.Event)  # first delta arrived
    finished_at: float | None = None
    thread: threading.Thread | None = None

    def run(self, body: Callable[[StreamRun], None]) -> StreamRun:
        def target() -> None:
            try:
                body(self)
            except BaseException as exc:  # noqa: BLE001 - asserted by the test
                self.error = exc
            finally:
                self.finished_at = time.monotonic()
                self.started.set()

        self.thread = threading.Thread(target=target, name=self.name, daemon=True)
        self.thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        assert self.thread is not None
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"{self.name} stream still running"


def openai_stream(url: str) -> Callable[[StreamRun], None]:
    """The OpenAI SDK's raw streaming response, so the closing `data: [DONE]` line is visible."""

    def body(run: StreamRun) -> None:
        with openai.OpenAI(base_url=f"{url}/v1", api_key="c", max_retries=0, timeout=30) as client:
            with client.chat.completions.with_streaming_response.create(
                model="openai/gpt-4o-mini", messages=OPENAI_USER, stream=True
            ) as response:
                for line in response.iter_lines():
                    if line:
                        run.items.append(line)
                        if '"content":"' in line and '"content":""' not in line:
                            run.started.set()

    return body


def anthropic_stream(url: str) -> Callable[[StreamRun], None]:
    """The Anthropic SDK's event stream: every event type in order, text deltas as `delta:`."""

    def body(run: StreamRun) -> None:
        with anthropic.Anthropic(base_url=url, api_key="c", max_retries=0, timeout=30) as client:
            with client.messages.stream(
                model="anthropic/claude-sonnet-4-6", max_tokens=64, messages=CLAUDE_USER
            ) as stream:
                for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        run.items.append(f"delta:{event.delta.text}")
                        run.started.set()
                    elif event.type != "text":  # the SDK's own convenience events
                        run.items.append(event.type)

    return body


def openai_deltas(lines: list[str]) -> list[str]:
    """The content of each OpenAI content-delta event."""
    out = []
    for line in lines:
        if line.startswith("data: {"):
            delta = json.loads(line[len("data: ") :])["choices"]
            if delta and delta[0]["delta"].get("content"):
                out.append(delta[0]["delta"]["content"])
    return out


def is_gone(pid: int) -> bool:
    """True when the process no longer exists (or is only a zombie waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Terminator:
    """SIGTERM the master now (through GunicornServer.terminate, on a thread) and time the exit."""

    def __init__(self, server: GunicornServer) -> None:
        self.code: int | None = None
        self.exited_at: float | None = None
        self.sent_at = time.monotonic()

        def target() -> None:
            self.code = server.terminate(timeout_s=60)
            self.exited_at = time.monotonic()

        self._thread = threading.Thread(target=target, name="sigterm", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float) -> float:
        """Seconds from SIGTERM to the master's exit."""
        self._thread.join(timeout_s)
        assert self.exited_at is not None, "gunicorn master did not exit"
        return self.exited_at - self.sent_at


def test_sigterm_mid_stream_finishes_streams_refuses_new_calls_and_exits(
    provider: FakeProvider, tmp_path: Path
) -> None:
    graceful_timeout_s = 8
    server = start_plano(provider, tmp_path, graceful_timeout_s)
    try:
        workers = server.wait_for_workers(2)
        port = server.port
        runs = [
            StreamRun("openai").run(openai_stream(server.url)),
            StreamRun("anthropic").run(anthropic_stream(server.url)),
        ]
        for run in runs:
            assert run.started.wait(15), f"{run.name}: no first delta ({run.error!r})"
        assert all(run.finished_at is None for run in runs)

        terminator = Terminator(server)
        # The listening socket closes (master at once, workers within their 1 s loop tick)
        # while both streams are still running.
        assert wait_until(lambda: not is_listening(port), timeout_s=5), "still accepting"
        refused_at = time.monotonic()
        with (
            openai.OpenAI(base_url=f"{server.url}/v1", api_key="c", max_retries=0) as client,
            pytest.raises(openai.APIConnectionError),
        ):
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=OPENAI_USER)

        for run in runs:
            run.join(20)
        assert all(run.finished_at is not None and run.finished_at > refused_at for run in runs)
        exit_s = terminator.join(graceful_timeout_s + 10)
    finally:
        server.stop()

    openai_run, anthropic_run = runs
    assert openai_run.error is None, repr(openai_run.error)
    assert openai_deltas(openai_run.items) == split_text(TEXT, CHUNKS)
    assert openai_run.items[-1] == "data: [DONE]"
    assert '"finish_reason":"stop"' in openai_run.items[-2]

    assert anthropic_run.error is None, repr(anthropic_run.error)
    deltas = [item[len("delta:") :] for item in anthropic_run.items if item.startswith("delta:")]
    assert deltas == split_text(TEXT, CHUNKS)
    kinds = [item for item in anthropic_run.items if not item.startswith("delta:")]
    assert kinds[0] == "message_start" and kinds.count("message_start") == 1
    assert kinds[-2:] == ["message_delta", "message_stop"] and kinds.count("message_stop") == 1

    assert terminator.code == 0
    # Idle keep-alive connections count as busy for gunicorn's gevent worker, so the exit may
    # take up to graceful_timeout (plus the worker's 1 s stop and loop tick), never more.
    assert exit_s <= graceful_timeout_s + 3, f"exit took {exit_s:.1f}s"
    assert wait_until(lambda: all(is_gone(pid) for pid in workers), 5), workers
    assert not is_listening(port)


def test_a_stream_longer_than_graceful_timeout_is_cut_at_the_deadline(
    provider: FakeProvider, tmp_path: Path
) -> None:
    graceful_timeout_s = 2
    provider.set_default(Behavior(text=TEXT, chunks=CHUNKS, chunk_delay_s=1.0))  # about 10 s
    server = start_plano(provider, tmp_path, graceful_timeout_s)
    try:
        workers = server.wait_for_workers(2)
        run = StreamRun("openai").run(openai_stream(server.url))
        assert run.started.wait(15), f"no first delta ({run.error!r})"
        terminator = Terminator(server)
        exit_s = terminator.join(graceful_timeout_s + 10)
        run.join(10)
    finally:
        server.stop()
    assert terminator.code == 0
    assert exit_s <= graceful_timeout_s + 3, f"exit took {exit_s:.1f}s"
    assert wait_until(lambda: all(is_gone(pid) for pid in workers), 5), workers
    # Cut, not completed: fewer deltas and no [DONE] (or a connection error in the client).
    assert len(openai_deltas(run.items)) < CHUNKS
    assert "data: [DONE]" not in run.items
