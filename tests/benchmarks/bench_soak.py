"""Soak: a steady rate through gunicorn with 2 gevent workers for minutes (issue 9; not in CI).

    .venv/bin/python -m tests.benchmarks.bench_soak [--minutes 5] [--rate 40]

The mix, per request: 40 % OpenAI non-streaming to a named model; 20 % Anthropic streaming to a
named Anthropic-dialect model; 20 % affinity (X-Model-Affinity from a pool of 50 ids, routed by
the router model, then pinned); 20 % routed to a route whose first model always answers 503, so
every one of them is an injected fallback (x-plano-attempts: 2). The providers and the router
are the test fakes (tests/fakes), in this process.

Reported: requests, errors beyond the injected ones (a non-200, a stream that does not end
cleanly, or an injected fallback that did not fall back), RSS per worker after warm-up (the first
20 % of the run) and at the end (target: ≤ 5 % growth), and open file descriptors over time
(target: flat, within FD_SLACK). Exit 1 when a target is missed.
"""

from __future__ import annotations

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import argparse
import http.client
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks.bench_proxy import rss_mib
from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeRouter, RecordedRequest
from tests.services.gunicorn import GunicornServer

FD_SLACK = 8  # open fds may vary this much after warm-up and still count as flat

CONFIG = """
version: v0.4.0
model_providers:
  - model: openai/gpt-4o
    base_url: {fake}
    access_key: sk-soak
    default: true
  - model: openai/flaky
    base_url: {fake}
    access_key: sk-soak
  - model: anthropic/claude-sonnet-4-6
    base_url: {fake}
    access_key: sk-ant-soak
  - model: plano/router-model
    base_url: {router}
routing_preferences:
  - name: main
    description: everyday questions
    models: [openai/gpt-4o, anthropic/claude-sonnet-4-6]
  - name: fallback
    description: anything that mentions fallback
    models: [openai/flaky, openai/gpt-4o]
overrides:
  llm_routing_model: plano/router-model
observability:
  request_log: {tmp}/requests.log
"""


@dataclass
class Tally:
    """What happened so far."""

    requests: int = 0
    errors: int = 0
    fallbacks: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[float, dict[int, float], int]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.examples) < 10:
            self.examples.append(text)


def route_for(request: RecordedRequest) -> str:
    """The fake router's answer: the fallback route when the prompt asks for it."""
    return '{"route": ["fallback"]}' if "fallback" in request.prompt else '{"route": ["main"]}'


def one(conn: http.client.HTTPConnection, kind: str, tally: Tally) -> None:
    """Send one request of `kind` and check its answer."""
    headers = {"Content-Type": "application/json"}
    messages = [{"role": "user", "content": "hello there"}]
    path = "/v1/chat/completions"
    body: dict[str, object] = {"messages": messages}
    if kind == "plain":
        body["model"] = "openai/gpt-4o"
    elif kind == "stream":
        path = "/v1/messages"
        body.update(model="anthropic/claude-sonnet-4-6", max_tokens=32, stream=True)
    elif kind == "affinity":
        headers["X-Model-Affinity"] = f"soak-{random.randrange(50)}"
    else:  # fallback
        body["messages"] = [{"role": "user", "content": "please use the fallback route"}]
    conn.request("POST", path, json.dumps(body), headers)
    reply = conn.getresponse()
    data = reply.read()
    tally.requests += 1
    tally.by_kind[kind] = tally.by_kind.get(kind, 0) + 1
    if reply.status != 200:
        tally.error(f"{kind}: HTTP {reply.status} {data[:200]!r}")
    elif kind == "stream" and not data.rstrip().endswith(b'{"type":"message_stop"}'):
        tally.error(f"{kind}: stream did not end with message_stop: {data[-200:]!r}")
    elif kind == "fallback":
        if reply.getheader("x-plano-attempts") != "2":
            tally.error(f"fallback: attempts {reply.getheader('x-plano-attempts')}")
        else:
            tally.fallbacks += 1


def fds(pid: int) -> int:
    """Open file descriptors of `pid`."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the report."""
    import gevent

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args(argv)
    duration = args.minutes * 60
    warmup = duration * 0.2
    tally = Tally()
    tmp = Path(tempfile.mkdtemp(prefix="plano-soak-"))
    kinds = ["plain"] * 4 + ["stream"] * 2 + ["affinity"] * 2 + ["fallback"] * 2
    with (
        FakeProvider(default=Behavior(chunks=10), fast=True) as fake,
        FakeRouter(reply=route_for) as router,
    ):
        fake.set_behavior("flaky", Behavior(status=503))
        config = tmp / "plano.yaml"
        config.write_text(CONFIG.format(fake=fake.base_url, router=router.base_url, tmp=tmp))
        server = GunicornServer(
            config, tmp, workers=2, extra_args=("-c", "conf/gunicorn.conf.py"), start_timeout_s=120
        )
        server.start()
        workers = server.wait_for_workers(2)
        started = time.monotonic()
        interval = args.clients / args.rate

        def client(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            next_at = started + index * interval / args.clients
            while True:
                now = time.monotonic()
                if now - started >= duration:
                    break
                if next_at > now:
                    gevent.sleep(next_at - now)
                next_at += interval
                kind = random.choice(kinds)
                try:
                    one(conn, kind, tally)
                except (OSError, http.client.HTTPException) as exc:
                    tally.requests += 1
                    tally.error(f"{kind}: {type(exc).__name__}: {exc}")
                    conn.close()
            conn.close()

        def sampler() -> None:
            while time.monotonic() - started < duration:
                rss = {pid: rss_mib(pid) for pid in workers}
                tally.samples.append(
                    (time.monotonic() - started, rss, sum(fds(p) for p in [server.pid, *workers]))
                )
                gevent.sleep(min(10.0, duration / 30))

        try:
            gevent.joinall([gevent.spawn(client, i) for i in range(args.clients)]
                           + [gevent.spawn(sampler)])  # fmt: skip
            assert sorted(server.worker_pids()) == sorted(workers), "a worker was replaced"
        finally:
            server.stop()
    return report(tally, warmup, duration)


def report(tally: Tally, warmup: float, duration: float) -> int:
    """Print the figures; 1 when a target is missed."""
    after = [s for s in tally.samples if s[0] >= warmup]
    first, last = after[0], after[-1]
    print(f"\nsoak: {duration / 60:.1f} min, {tally.requests} requests "
          f"({tally.requests / duration:.1f}/s), mix {tally.by_kind}")  # fmt: skip
    print(f"injected fallbacks that fell back: {tally.fallbacks}")
    print(f"errors beyond the injected ones: {tally.errors}")
    for line in tally.examples:
        print(f"  {line}")
    missed = tally.errors > 0
    for pid in first[1]:
        start_rss, end_rss = first[1][pid], last[1][pid]
        growth = (end_rss - start_rss) / start_rss * 100
        ok = growth <= 5.0
        missed |= not ok
        print(f"{'ok  ' if ok else 'MISS'} worker {pid} RSS {start_rss:.1f} MiB after warm-up -> "
              f"{end_rss:.1f} MiB at the end ({growth:+.1f} %, target <= 5 %)")  # fmt: skip
    fd_counts = [s[2] for s in after]
    # Flat: a few keep-alive connections may still open as the pools meet a new peak of
    # concurrency; a leak grows with the request count (thousands here).
    flat = max(fd_counts) - min(fd_counts) <= FD_SLACK
    missed |= not flat
    print(
        f"{'ok  ' if flat else 'MISS'} open fds (master + workers) after warm-up: "
        f"min {min(fd_counts)}, max {max(fd_counts)}, first {fd_counts[0]}, last {fd_counts[-1]}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
