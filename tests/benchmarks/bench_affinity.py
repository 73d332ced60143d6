"""Benchmark: the latency the Redis affinity lookup adds to a request, on loopback.

Run from the repository root: `python -m tests.benchmarks.bench_affinity [iterations]`.
Target: the Redis lookup adds <= 0.5 ms p50 per request (checked on measurement 1; the exit
status is 1 when it is missed).

Two measurements, both against a real redis-server started here:
1. The store itself: RedisSessionStore.get (a warm session: what every pinned request pays) and
   get + put_if_absent (a new session: a miss, then `SET … EX … NX`), next to MemorySessionStore.
2. End to end: the decision API (`POST /routing/v1/chat/completions`) for a pinned session under
   `gunicorn -k gevent -w 1`, once with the memory backend and once with Redis; a pinned session
   skips the router, so the difference of the p50s is what the Redis round trip adds per request.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

from plano.routing.affinity import SessionBinding
from plano.sessions.memory import MemorySessionStore
from plano.sessions.redis_store import RedisSessionStore
from plano.sessions.store import SessionStore
from tests.fakes.provider_server import FakeProvider
from tests.fakes.router_server import FakeRouter
from tests.integration.affinity_setup import config_text
from tests.services.gunicorn import GunicornServer
from tests.services.redis_server import run_redis

TARGET_P50_MS = 0.5
BINDING = SessionBinding("openai/model-a", "route_a")


def percentiles_us(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of `samples` (seconds), in µs."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples) * 1e6, cuts[98] * 1e6


def time_each(operation: Callable[[int], object], iterations: int) -> list[float]:
    """Durations of `operation(i)` for i in range(iterations), after a short warm-up."""
    for i in range(min(200, iterations)):
        operation(-1 - i)
    durations = []
    for i in range(iterations):
        started = time.perf_counter()
        operation(i)
        durations.append(time.perf_counter() - started)
    return durations


def bench_store(name: str, store: SessionStore, iterations: int) -> dict[str, float]:
    """p50s (µs) of a warm lookup and of a new session's miss + SET NX; prints a table row each."""
    store.put("warm", BINDING, 600)

    def warm(_: int) -> object:
        return store.get("warm")

    def new_session(i: int) -> object:
        key = f"{name}-new-{i}-{time.perf_counter_ns()}"
        store.get(key)
        return store.put_if_absent(key, BINDING, 600)

    results = {}
    for label, operation in (("get (warm session)", warm), ("get + SET NX (new)", new_session)):
        p50, p99 = percentiles_us(time_each(operation, iterations))
        results[label] = p50
        print(f"  {name:<6} {label:<20} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs")
    return results


def bench_decision_api(
    servers: dict[str, GunicornServer], iterations: int
) -> dict[str, tuple[float, float]]:
    """Per backend, p50 and p99 (µs) of the decision API for one pinned session.

    The servers are asked in turn, request by request, so that a noisy machine slows both alike;
    each keeps one keep-alive connection.
    """
    body = {"messages": [{"role": "user", "content": "a question about apples"}]}
    headers = {"X-Model-Affinity": "bench-session"}
    sessions = {name: requests.Session() for name in servers}
    durations: dict[str, list[float]] = {name: [] for name in servers}
    try:

        def decide(name: str) -> float:
            url = f"{servers[name].url}/routing/v1/chat/completions"
            started = time.perf_counter()
            reply = sessions[name].post(url, json=body, headers=headers, timeout=10)
            elapsed = time.perf_counter() - started
            assert reply.status_code == 200 and reply.json()["models"][0] == BINDING.model_name
            return elapsed

        for name in servers:
            decide(name)  # pins the session (this one asks the router)
        for _ in range(min(200, iterations)):
            for name in servers:
                decide(name)
        for _ in range(iterations):
            for name in servers:
                durations[name].append(decide(name))
    finally:
        for http in sessions.values():
            http.close()
    return {name: percentiles_us(values) for name, values in durations.items()}


def main(iterations: int) -> int:
    """Run both measurements and print them; exit 1 when the target is missed."""
    with tempfile.TemporaryDirectory(prefix="bench-affinity-") as tmp_dir:
        tmp = Path(tmp_dir)
        with run_redis(tmp / "redis") as redis_server:
            print(f"store operations, {iterations} each, redis-server on loopback:")
            memory = bench_store("memory", MemorySessionStore(10000), iterations)
            store = RedisSessionStore.from_url(redis_server.url)
            redis = bench_store("redis", store, iterations)
            store.close()

            print(f"\ndecision API for a pinned session, {iterations} requests, 1 gevent worker:")
            with FakeProvider() as provider, FakeRouter('{"route": ["route_a"]}') as router:
                caches = {
                    "memory": "    type: memory",
                    "redis": f'    type: redis\n    url: "{redis_server.url}"',
                }
                servers = {}
                try:
                    for backend, cache in caches.items():
                        config = tmp / f"{backend}.yaml"
                        config.write_text(config_text(provider, router, cache), encoding="utf-8")
                        servers[backend] = GunicornServer(config, tmp / backend, workers=1).start()
                    api = bench_decision_api(servers, iterations)
                finally:
                    for server in servers.values():
                        server.stop()
            for backend, (p50, p99) in api.items():
                print(f"  {backend:<6} p50 {p50:8.1f} µs   p99 {p99:8.1f} µs")
            p50s = {backend: p50 for backend, (p50, _) in api.items()}
    added_store_ms = (redis["get (warm session)"] - memory["get (warm session)"]) / 1000
    added_api_ms = (p50s["redis"] - p50s["memory"]) / 1000
    print(
        f"\nadded p50 per pinned request: {added_store_ms:.3f} ms (the Redis lookup; target <= "
        f"{TARGET_P50_MS} ms); decision API p50 redis - memory: {added_api_ms:.3f} ms (this one "
        "is only meaningful on an idle machine: each Redis round trip is two context switches)"
    )
    return 0 if added_store_ms <= TARGET_P50_MS else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
