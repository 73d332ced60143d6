"""Benchmark: the proxy's throughput, latency and server CPU per request (issue 3).

Run from the repository root (not part of the test run; pytest collects test_*.py only):

    .venv/bin/python -m tests.benchmarks.bench_proxy [--seconds 5] [--concurrency 1,16,64]

Five targets, each measured non-streaming and streaming (20 content chunks) at each concurrency:
- `direct`: the load generator straight to the fake provider;
- `floor`: a bare Flask view that forwards the body with urllib3 (tests/benchmarks/floor_app.py)
  under the same gunicorn settings and worker class as `plano`: what a Flask gateway costs
  before it does anything;
- `floor wsgi`: the same forwarding as a bare WSGI callable: the floor of plano's proxy
  endpoints, which are served in front of Flask's dispatch (plano.api.proxy);
- `plano`: through plano under `gunicorn -c conf/gunicorn.conf.py -w 1` (one worker of the
  shipped class, plano.worker.PlanoWorker: gevent's pywsgi server);
- `plano -k gevent`: the same under gunicorn's plain gevent worker (SPEC §2's command).

The fake provider is a gevent raw-socket server in its own process that replays canned bytes
(an OpenAI completion, or a chunked SSE stream written one event per send). The load generator
is this process, gevent-patched: N greenlets, each with one keep-alive http.client connection.
Server CPU per request = (utime + stime of the gunicorn master and worker, from /proc) ÷ requests.

Targets (issue 3): ≤ 1.5 ms server CPU per non-streaming request at concurrency 64 (stretch
0.8 ms), ≤ 2.5 ms per 20-chunk stream, ≤ 1.5 ms added p50 latency at concurrency 1, ≤ 100 MiB RSS
per worker after the run.
"""

from __future__ import annotations

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHUNKS = 20
TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[2]
BODY = json.dumps(
    {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Say hello in one short sentence, please."},
        ],
        "max_tokens": 64,
    },
    separators=(",", ":"),
).encode()
STREAM_BODY = BODY[:-1] + b',"stream":true}'

CONFIG = """
version: v0.4.0
model_providers:
  - model: openai/gpt-4o
    base_url: http://127.0.0.1:{port}/v1
    access_key: sk-bench
    default: true
observability:
  request_log: {tmp}/requests.log
"""


# ------------------------------------------------------------------------ the fake provider


def _canned() -> tuple[bytes, list[bytes]]:
    completion = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello there, nice to meet you!"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
        },
        separators=(",", ":"),
    ).encode()
    whole = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(completion),
        completion,
    )

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        event = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        return b"%x\r\n%s\r\n" % (len(data), data)

    stream = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk({"role": "assistant", "content": ""})
    ]
    stream += [chunk({"content": f"word{i} "}) for i in range(CHUNKS)]
    stream.append(chunk({}, "stop"))
    usage = b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,'
    usage += b'"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":20,'
    usage += b'"total_tokens":40}}\n\n'
    stream.append(b"%x\r\n%s\r\n" % (len(usage), usage))
    done = b"data: [DONE]\n\n"
    stream.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    return whole, stream


def serve_fake(port: int) -> None:
    """Run the fake provider on 127.0.0.1:port until killed (called in a child process)."""
    import gevent
    from gevent.server import StreamServer

    whole, stream = _canned()
    length_re = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")

    def handle(sock: socket.socket, _address: object) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, rest = buffer.partition(b"\r\n\r\n")
            match = length_re.search(head)
            length = int(match[1]) if match else 0
            while len(rest) < length:
                data = sock.recv(65536)
                if not data:
                    return
                rest += data
            body, buffer = rest[:length], rest[length:]
            if b'"stream":true' in body:
                for event in stream:
                    sock.sendall(event)
                    gevent.sleep(0)  # one event per write, as a provider flushes them
            else:
                sock.sendall(whole)

    StreamServer(("127.0.0.1", port), handle, backlog=1024).serve_forever()


# ------------------------------------------------------------------------ the load generator


@dataclass
class Cell:
    """One measured combination."""

    target: str
    stream: bool
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_s: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    @property
    def cpu_ms_per_request(self) -> float | None:
        return (
            None if self.cpu_s is None or not self.requests else self.cpu_s * 1000 / self.requests
        )


def _one(conn: http.client.HTTPConnection, path: str, body: bytes) -> bool:
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    reply = conn.getresponse()
    data = reply.read()
    return reply.status == 200 and (b"[DONE]" in data or b"chat.completion" in data)


def load(
    port: int, path: str, body: bytes, concurrency: int, seconds: float
) -> tuple[int, int, float, list[float]]:
    """Run `concurrency` keep-alive clients for `seconds`; (ok, errors, elapsed, latencies)."""
    import gevent

    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                ok = _one(conn, path, body)
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
                counts["ok"] += 1
            else:
                counts["errors"] += 1
        conn.close()

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(client) for _ in range(concurrency)])
    return counts["ok"], counts["errors"], time.perf_counter() - started, latencies


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of `pids` (live processes), in seconds."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def rss_mib(pid: int) -> float:
    """Resident set size of `pid` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    target: str,
    port: int,
    path: str,
    stream: bool,
    concurrency: int,
    seconds: float,
    pids: list[int],
) -> Cell:
    """Warm up, then measure one cell."""
    body = STREAM_BODY if stream else BODY
    load(port, path, body, concurrency, min(1.0, seconds / 3))
    before = cpu_seconds(pids)
    ok, errors, elapsed, latencies = load(port, path, body, concurrency, seconds)
    cpu = cpu_seconds(pids) - before
    return Cell(target, stream, concurrency, ok, errors, elapsed, latencies, cpu)


# ---------------------------------------------------------------------------------- driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def main(argv: list[str] | None = None) -> int:
    """Run every cell and print the table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return 0

    from tests.services.gunicorn import GunicornServer

    levels = [int(c) for c in args.concurrency.split(",")]
    fake_port = _free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.bench_proxy", "--serve-fake", str(fake_port)],
        cwd=REPO,
    )
    tmp = Path(tempfile.mkdtemp(prefix="plano-bench-"))
    config = tmp / "plano.yaml"
    config.write_text(CONFIG.format(port=fake_port, tmp=tmp))
    conf = ("-c", "conf/gunicorn.conf.py")
    server = GunicornServer(config, tmp, workers=1, extra_args=conf, start_timeout_s=120)
    # The same plano under gunicorn's plain `-k gevent` (SPEC §2), to show what the shipped
    # worker class saves.
    plain = GunicornServer(
        config, tmp, workers=1, extra_args=conf, worker_class="gevent", start_timeout_s=120
    )
    floor, floor_wsgi = (
        GunicornServer(
            config,
            tmp,
            workers=1,
            extra_args=conf,
            app=f"tests.benchmarks.floor_app:{app}",
            env={"FLOOR_UPSTREAM": f"http://127.0.0.1:{fake_port}"},
            start_timeout_s=120,
        )
        for app in ("app", "wsgi_app")
    )
    servers = (server, plain, floor, floor_wsgi)
    cells: list[Cell] = []
    try:
        _wait_listening(fake_port)
        for started in servers:
            started.start()
        worker_pids = server.wait_for_workers(1)
        targets = [
            ("floor", floor.port, [floor.pid, *floor.wait_for_workers(1)]),
            ("floor wsgi", floor_wsgi.port, [floor_wsgi.pid, *floor_wsgi.wait_for_workers(1)]),
            ("direct", fake_port, [fake.pid]),
            ("plano", server.port, [server.pid, *worker_pids]),
            ("plano -k gevent", plain.port, [plain.pid, *plain.wait_for_workers(1)]),
        ]
        for stream in (False, True):
            for concurrency in levels:
                for name, port, pids in targets:
                    cells.append(
                        measure(
                            name,
                            port,
                            "/v1/chat/completions",
                            stream,
                            concurrency,
                            args.seconds,
                            pids,
                        )  # fmt: skip
                    )
        rss = max(rss_mib(pid) for pid in worker_pids)
    finally:
        for stopped in servers:
            stopped.stop()
        fake.kill()
        fake.wait()
    return report(cells, rss)


def report(cells: list[Cell], rss_worker_mib: float) -> int:
    """Print the table and the targets; 1 when one is missed."""
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(
        "| target | stream | conc | req/s | p50 ms | p99 ms | server CPU ms/req | errors |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for c in cells:
        cpu = c.cpu_ms_per_request
        print(
            f"| {c.target} | {'20 chunks' if c.stream else 'no'} | {c.concurrency} | "
            f"{c.rps:,.0f} | {c.percentile(0.5):.2f} | {c.percentile(0.99):.2f} | "
            f"{'-' if cpu is None else f'{cpu:.3f}'} | {c.errors} |"
        )

    def cell(target: str, stream: bool, concurrency: int) -> Cell | None:
        for c in cells:
            if (c.target, c.stream, c.concurrency) == (target, stream, concurrency):
                return c
        return None

    checks: list[tuple[str, float, float]] = []
    top = max(c.concurrency for c in cells)
    whole, streamed = cell("plano", False, top), cell("plano", True, top)
    if whole and whole.cpu_ms_per_request is not None:
        checks.append((f"CPU ms/request, non-streaming, conc {top}", whole.cpu_ms_per_request, 1.5))
    if streamed and streamed.cpu_ms_per_request is not None:
        checks.append(
            (f"CPU ms/request, 20-chunk stream, conc {top}", streamed.cpu_ms_per_request, 2.5)
        )
    plano_1, direct_1 = cell("plano", False, 1), cell("direct", False, 1)
    if plano_1 and direct_1:
        added = plano_1.percentile(0.5) - direct_1.percentile(0.5)
        checks.append(("added p50 ms, conc 1", added, 1.5))
    checks.append(("worker RSS MiB after the run", rss_worker_mib, 100.0))
    print()
    for stream in (False, True):
        for concurrency in sorted({c.concurrency for c in cells}):
            mine = cell("plano", stream, concurrency)
            for floor in ("floor wsgi", "floor"):
                base = cell(floor, stream, concurrency)
                if mine and base and mine.cpu_ms_per_request and base.cpu_ms_per_request:
                    print(
                        f"plano over {floor} ({'20 chunks' if stream else 'no stream'}, conc "
                        f"{concurrency}): {mine.cpu_ms_per_request - base.cpu_ms_per_request:+.3f}"
                        f" ms CPU/request, x{mine.cpu_ms_per_request / base.cpu_ms_per_request:.2f}"
                    )
    missed = 0
    print()
    for name, value, limit in checks:
        ok = value <= limit
        missed += not ok
        print(f"{'ok  ' if ok else 'MISS'} {name}: {value:.3f} (target <= {limit})")
    errors = sum(c.errors for c in cells)
    if errors:
        print(f"MISS {errors} failed requests")
    print(f"{len(cells)} cells measured")
    return 1 if missed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
