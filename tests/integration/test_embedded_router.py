"""The embedded router under real gunicorn (issue 10): conf/plano.yaml as shipped, offline.

conf/plano.yaml sets `overrides.llm_routing_model: embedded`, so the README's first command routes
with the in-process router and no network. The decision API shows its choices; nothing is
forwarded. The gevent loop must keep serving while the router computes (offload.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.services.gunicorn import REPO_ROOT, GunicornServer
from tests.services.ports import free_port

DEFAULT_CONFIG = REPO_ROOT / "conf" / "plano.yaml"
CODING_MODELS = ["anthropic/claude-sonnet-4-6", "openai/gpt-4o"]
REASONING_MODELS = ["openai/gpt-4o", "openai/gpt-4o-mini"]
DEFAULT_MODEL = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    """conf/plano.yaml, unchanged, with every outbound HTTP(S) proxied to a dead port."""
    dead = f"http://127.0.0.1:{free_port()}"
    offline = {"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": "127.0.0.1,localhost"}
    tmp = tmp_path_factory.mktemp("embedded")
    with GunicornServer(DEFAULT_CONFIG, tmp, workers=1, env=offline) as srv:
        yield srv


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def decide(
    server: GunicornServer, http: requests.Session, messages: list[dict[str, str]], **extra: object
) -> dict[str, object]:
    reply = http.post(
        f"{server.url}/routing/v1/chat/completions",
        json={"messages": messages, **extra},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert "x-plano-route-error" not in reply.headers
    data = reply.json()
    assert isinstance(data, dict)
    return data


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


@pytest.mark.parametrize(
    "text",
    [
        "Implement a Python function that reverses a linked list",
        "Write a function in TypeScript that debounces another function",
    ],
)
def test_a_coding_request_takes_the_coding_route(
    server: GunicornServer, http: requests.Session, text: str
) -> None:
    data = decide(server, http, [user(text)])
    assert data["route"] == "code_generation"
    assert data["models"] == CODING_MODELS


def test_a_reasoning_request_takes_the_reasoning_route(
    server: GunicornServer, http: requests.Session
) -> None:
    text = (
        "Compare three strategies for migrating a monolith to microservices, weighing cost, "
        "risk and team size, and recommend one"
    )
    data = decide(server, http, [user(text)])
    assert data["route"] == "complex_reasoning"
    assert data["models"] == REASONING_MODELS


@pytest.mark.parametrize(
    "messages",
    [
        [user("what's a good name for my golden retriever puppy?")],
        [user("hi!")],
        # A coding system prompt does not make an off-topic user turn a coding request.
        [
            {"role": "system", "content": "You are an expert Python programmer."},
            user("what's a good name for my golden retriever puppy?"),
        ],
    ],
    ids=["puppy", "greeting", "system-ignored"],
)
def test_an_other_request_gets_no_route_and_the_default_model(
    server: GunicornServer, http: requests.Session, messages: list[dict[str, str]]
) -> None:
    data = decide(server, http, messages)
    assert data["route"] is None
    assert data["models"] == [DEFAULT_MODEL]


def test_a_short_follow_up_stays_on_the_coding_route(
    server: GunicornServer, http: requests.Session
) -> None:
    conversation = [
        user("Write a Python function that checks whether a string is a palindrome"),
        {"role": "assistant", "content": "def is_palindrome(s):\n    return s == s[::-1]"},
        user("now do the same in Java"),
    ]
    data = decide(server, http, conversation)
    assert data["route"] == "code_generation"
    follow_up = [
        user("Prove that there are infinitely many prime numbers"),
        {"role": "assistant", "content": "Suppose there were finitely many, p1..pn; then..."},
        user("and for primes of the form 4k+3?"),
    ]
    assert decide(server, http, follow_up)["route"] == "complex_reasoning"


def test_the_proxy_uses_the_embedded_choice(server: GunicornServer, http: requests.Session) -> None:
    """The proxy path decides the same way; the provider (no key, no network) then fails."""
    for text in ("Implement a Python function that reverses a linked list", "hello again"):
        decision = decide(server, http, [user(text)])
        reply = http.post(
            f"{server.url}/v1/chat/completions",
            json={"model": "", "messages": [user(text)]},
            timeout=30,
        )
        assert reply.headers.get("x-plano-route") == decision["route"]
        # x-plano-model is the candidate that answered last: offline, every one fails.
        models = decision["models"]
        assert isinstance(models, list)
        assert reply.headers["x-plano-model"] == models[int(reply.headers["x-plano-attempts"]) - 1]
        assert "x-plano-route-error" not in reply.headers
        assert reply.status_code >= 400  # the real providers are unreachable offline


def _heavy_routes() -> list[dict[str, object]]:
    """Eight request routes no worker has indexed yet: each request costs a fresh index."""
    nonce = uuid.uuid4().hex[:8]
    topics = [
        "cooking recipes, meal planning and kitchen techniques for home cooks",
        "personal finance, budgeting, taxes, savings and retirement planning",
        "travel itineraries, flights, hotels and visa requirements abroad",
        "fitness training plans, nutrition, running and strength workouts",
        "gardening, houseplants, soil, pests and watering schedules",
        "car maintenance, engine noises, tyres and dashboard warning lights",
        "music theory, chords, learning an instrument and songwriting",
        "job applications, CV writing, interviews and salary negotiation",
    ]
    return [
        {
            "name": f"topic_{index}_{nonce}",
            "description": f"{text} (ref {nonce})",
            "models": ["gpt-4o-mini"],
        }
        for index, text in enumerate(topics)
    ]


def test_the_loop_keeps_serving_while_the_router_computes(
    server: GunicornServer, http: requests.Session
) -> None:
    """/healthz answers promptly while several routing decisions burn CPU in the worker."""
    results: list[float] = []
    errors: list[BaseException] = []

    def route_once() -> None:
        try:
            with requests.Session() as own:
                started = time.monotonic()
                reply = own.post(
                    f"{server.url}/routing/v1/chat/completions",
                    json={
                        "messages": [user("my tomato leaves turn yellow, what am I doing wrong?")],
                        "routing_preferences": _heavy_routes(),
                    },
                    timeout=60,
                )
                assert reply.status_code == 200, reply.text
                results.append(time.monotonic() - started)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    # Eight fresh route sets: ~1.5 s of encoding in total with the int8 encoder.
    workers = [threading.Thread(target=route_once) for _ in range(8)]
    batch_started = time.monotonic()
    for thread in workers:
        thread.start()
    probes: list[float] = []
    with requests.Session() as probe:
        time.sleep(0.05)  # let the routing requests reach the worker first
        while any(thread.is_alive() for thread in workers):
            started = time.monotonic()
            assert probe.get(f"{server.url}/healthz", timeout=30).status_code == 200
            probes.append(time.monotonic() - started)
            time.sleep(0.02)
    for thread in workers:
        thread.join()
    batch_s = time.monotonic() - batch_started
    assert not errors, errors
    assert len(results) == 8
    # The batch really kept the worker busy, and /healthz never waited for it.
    assert batch_s > 0.8, f"routing batch took only {batch_s:.2f}s: not a load test"
    assert len(probes) >= 5
    worst = max(probes)
    assert worst < max(0.3, batch_s / 4), (
        f"/healthz waited {worst:.3f}s while routing ran for {batch_s:.2f}s: "
        f"the loop was stalled (probes: {sorted(probes)[-5:]})"
    )


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_embedded_router_memory_per_worker(
    server: GunicornServer, http: requests.Session, tmp_path: Path
) -> None:
    """Within 150 MiB of a worker whose router is remote (same routes, same models)."""
    decide(server, http, [user("Implement a binary heap in C")])
    (embedded_pid,) = server.worker_pids()
    embedded = _rss_mib(embedded_pid)
    remote_config = tmp_path / "remote.yaml"
    remote_config.write_text(
        DEFAULT_CONFIG.read_text().replace(
            "llm_routing_model: embedded", "llm_routing_model: Plano-Orchestrator"
        )
    )
    with GunicornServer(remote_config, tmp_path, workers=1) as remote:
        (remote_pid,) = remote.worker_pids()
        baseline = _rss_mib(remote_pid)
    extra = embedded - baseline
    assert 0 < extra <= 150, f"embedded worker {embedded:.0f} MiB vs {baseline:.0f} MiB"
