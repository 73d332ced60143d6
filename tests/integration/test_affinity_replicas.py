"""Affinity across replicas (SPEC §6): two gunicorn instances behind real nginx, one real Redis.

Each replica runs two gevent workers, so a session's requests may land on any of four processes.
The FakeRouter answers each session's first router call with one route and its second with the
other (after a short delay that widens the race), so when both first requests of a session reach
the router they *disagree*, and only `SET … NX` in Redis can make them end on one model.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai
import pytest
import redis

from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeReply, FakeRouter, RecordedRequest
from tests.integration.affinity_setup import MODEL_A, MODEL_C, config_text, metric_total, readiness
from tests.services.gunicorn import GunicornServer
from tests.services.nginx import NginxServer
from tests.services.redis_server import RedisServer

SESSIONS = 200
ROUTER_DELAY_S = 0.02
ROUTES = ('{"route": ["route_a"]}', '{"route": ["route_b"]}')
FIRST_MODEL = {"route_a": MODEL_A, "route_b": MODEL_C}
_SESSION_TAG = re.compile(r"\[session (\S+?)\]")


class DisagreeingRouter:
    """A reply rule: per session, the n-th router call answers ROUTES[(start + n) % 2]."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers: dict[str, list[str]] = defaultdict(list)

    def __call__(self, request: RecordedRequest) -> FakeReply:
        found = _SESSION_TAG.findall(request.prompt)
        session = found[-1] if found else ""
        with self._lock:
            given = self.answers[session]
            start = sum(map(ord, session)) % 2
            answer = ROUTES[(start + len(given)) % 2]
            given.append(answer)
        return FakeReply(content=answer, delay_s=ROUTER_DELAY_S)


@dataclass
class Cluster:
    """What the tests talk to."""

    nginx: NginxServer
    replicas: tuple[GunicornServer, GunicornServer]
    redis: RedisServer
    router: FakeRouter
    rule: DisagreeingRouter


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Redis, the fakes, two plano replicas (2 workers each) and nginx in front of them."""
    tmp = tmp_path_factory.mktemp("replicas")
    rule = DisagreeingRouter()
    redis_server = RedisServer(tmp / "redis")
    redis_server.start()
    started: list[GunicornServer | NginxServer] = []
    try:
        with (
            FakeProvider(default=Behavior(text="ok")) as provider,
            FakeRouter(reply=rule) as router,
        ):
            cache = f'    type: redis\n    url: "{redis_server.url}"'
            config = tmp / "plano.yaml"
            config.write_text(config_text(provider, router, cache), encoding="utf-8")
            for name in ("r1", "r2"):
                replica = GunicornServer(config, tmp / name, workers=2)
                started.append(replica)
                replica.start()
                replica.wait_for_workers(2)
            one, two = started[0], started[1]
            assert isinstance(one, GunicornServer) and isinstance(two, GunicornServer)
            nginx = NginxServer([one.address, two.address], tmp / "nginx")
            started.append(nginx)
            nginx.start()
            yield Cluster(nginx, (one, two), redis_server, router, rule)
    finally:
        for server in reversed(started):
            server.stop()
        redis_server.stop()


def ask(client: openai.OpenAI, session: str, text: str = "a question") -> tuple[int, str]:
    """One routed chat completion in `session`; its status and x-plano-model."""
    raw = client.chat.completions.with_raw_response.create(
        model="",
        messages=[{"role": "user", "content": f"{text} [session {session}]"}],
        extra_headers={"X-Model-Affinity": session},
    )
    return raw.http_response.status_code, raw.headers.get("x-plano-model", "")


def race(client: openai.OpenAI, sessions: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Send each session's first request twice at the same moment, all sessions at once."""
    results: dict[str, list[tuple[int, str]]] = defaultdict(list)
    barriers = {session: threading.Barrier(2, timeout=30) for session in sessions}
    lock = threading.Lock()

    def first_request(session: str) -> None:
        barriers[session].wait()  # both copies leave together
        outcome = ask(client, session)
        with lock:
            results[session].append(outcome)

    # Pairs are submitted back to back to an even-sized FIFO pool: partners always run together.
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [pool.submit(first_request, s) for s in sessions for _ in range(2)]
        for future in futures:
            future.result()
    return results


def stored_model(client: redis.Redis, session: str) -> str | None:
    """The model Redis holds for `session`, or None."""
    raw = client.get(f"plano:affinity:{session}")
    if raw is None:
        return None
    assert isinstance(raw, bytes)
    value = json.loads(raw)
    assert set(value) == {"model_name", "route_name"}
    assert FIRST_MODEL[value["route_name"]] == value["model_name"]
    return str(value["model_name"])


def sdk(cluster: Cluster) -> openai.OpenAI:
    """An OpenAI SDK client pointed at nginx, without retries, pooled for the thread pool."""
    return openai.OpenAI(base_url=f"{cluster.nginx.url}/v1", api_key="k", max_retries=0)


def test_racing_first_requests_across_replicas_end_on_one_model(cluster: Cluster) -> None:
    sessions = [f"race-{i:03d}" for i in range(SESSIONS)]
    with sdk(cluster) as client, redis.Redis.from_url(cluster.redis.url) as store:
        results = race(client, sessions)
        disagreements = 0
        for session in sessions:
            outcomes = results[session]
            assert [status for status, _ in outcomes] == [200, 200], session
            models = {model for _, model in outcomes}
            assert len(models) == 1, f"{session} served by {models}"
            assert stored_model(store, session) == models.pop()
            if len(set(cluster.rule.answers[session])) == 2:
                disagreements += 1
        # The race was real: for many sessions both copies asked the router and got different
        # routes, yet each session still ended on a single model.
        assert disagreements >= SESSIONS // 4, f"only {disagreements} racing sessions"

        # Both replicas stored bindings (nginx spread the first requests over them).
        for replica in cluster.replicas:
            stores = metric_total(
                replica.url, "plano_session_cache_events_total", {"outcome": "store"}
            )
            assert stores > 0, replica.address

        # Later requests of every session, on any replica and worker, skip the router.
        asked = len(cluster.router.requests)
        with ThreadPoolExecutor(max_workers=16) as pool:
            later = list(pool.map(lambda s: (s, ask(client, s, "again")), sessions))
        for session, (status, model) in later:
            assert status == 200
            assert model == stored_model(store, session)
        assert len(cluster.router.requests) == asked


def test_redis_outage_fails_open_then_affinity_resumes(cluster: Cluster) -> None:
    errors_before = sum(
        metric_total(r.url, "plano_session_cache_events_total", {"outcome": "error"})
        for r in cluster.replicas
    )
    warm = [f"race-{i:03d}" for i in range(30)]  # pinned by the previous test
    cold = [f"outage-{i:02d}" for i in range(30)]
    sessions = [s for pair in zip(warm, cold, strict=True) for s in pair]
    stop_at = 16  # Redis dies while the requests before it are still in flight

    def step(index: int) -> tuple[int, str]:
        if index == stop_at:
            cluster.redis.stop()
        return ask(client, sessions[index])

    try:
        with sdk(cluster) as client:
            with ThreadPoolExecutor(max_workers=16) as pool:
                outcomes = list(pool.map(step, range(len(sessions))))
            assert not cluster.redis.is_running
            assert [status for status, _ in outcomes] == [200] * len(sessions)
            assert all(model in (MODEL_A, MODEL_C) for _, model in outcomes)
            with ThreadPoolExecutor(max_workers=16) as pool:  # all of these with Redis down
                outcomes = list(pool.map(lambda s: ask(client, s), warm + cold))
            assert [status for status, _ in outcomes] == [200] * len(sessions)
            for replica in cluster.replicas:
                errors = metric_total(
                    replica.url, "plano_session_cache_events_total", {"outcome": "error"}
                )
                assert errors > 0, replica.address
                status, report = readiness(replica.url)
                assert status == 200, report
                assert report["degraded"] == ["session_cache"]
                checks = report["checks"]
                assert isinstance(checks, dict)
                assert checks["session_cache"] == "redis degraded"
            assert (
                sum(
                    metric_total(r.url, "plano_session_cache_events_total", {"outcome": "error"})
                    for r in cluster.replicas
                )
                > errors_before
            )
            via_nginx = metric_total(
                cluster.nginx.url, "plano_session_cache_events_total", {"outcome": "error"}
            )
            assert via_nginx > 0
            status, report = readiness(cluster.nginx.url)
            assert (status, report["degraded"]) == (200, ["session_cache"])
    finally:
        cluster.redis.start()  # same port, empty data set

    with sdk(cluster) as client, redis.Redis.from_url(cluster.redis.url) as store:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if all(readiness(r.url)[1]["degraded"] == [] for r in cluster.replicas):
                break
            time.sleep(0.1)
        # A new session pins again, racing across replicas like before, and stays pinned.
        sessions = [f"after-{i:02d}" for i in range(20)]
        deadline = time.monotonic() + 15
        results = race(client, sessions)
        while any(stored_model(store, s) is None for s in sessions):
            # A worker that has not spoken to Redis since it came back may still be cooling
            # down (1 s); its binding is then written by the next request.
            assert time.monotonic() < deadline, "affinity did not resume after Redis came back"
            for session in sessions:
                if stored_model(store, session) is None:
                    results[session].append(ask(client, session))
            time.sleep(0.2)
        asked = len(cluster.router.requests)
        for session in sessions:
            status, model = ask(client, session, "again")
            assert status == 200
            assert model == stored_model(store, session)
        assert len(cluster.router.requests) == asked
        assert all(status == 200 for o in results.values() for status, _ in o)
