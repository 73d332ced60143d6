"""`plano obs --once` over the request log a real gateway wrote, priced by a local catalog.

Requests go through real gunicorn (two gevent workers appending to one log file) to a
FakeProvider whose replies carry scripted usage, cached tokens included, in both dialects and
both streaming modes. A local HTTP server serves a models.dev-shaped and a DigitalOcean-shaped
catalog. The real `plano` CLI runs as a subprocess; every expected cost below is worked out by
hand from the scripted usage and the catalog rates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anthropic
import openai
import pytest

from tests.fakes.provider_server import Behavior, FakeProvider, Usage
from tests.services.gunicorn import GunicornServer
from tests.services.ports import HOST, free_port

PLANO = Path(sys.executable).parent / "plano"
USER: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
CLAUDE_USER: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hello"}]
ENV_KEYS = {"OPENAI_API_KEY": "sk-openai", "ANTHROPIC_API_KEY": "sk-ant", "GROQ_API_KEY": "gsk"}

# models.dev: USD per million tokens.
MODELS_DEV = {
    "openai": {
        "models": {
            "gpt-4o": {"cost": {"input": 2.5, "output": 10, "cache_read": 1.25}},
            "gpt-4o-mini": {"cost": {"input": 0.15, "output": 0.6}},  # no cache-read rate
        }
    },
    "anthropic": {
        "models": {"claude-sonnet-4-6": {"cost": {"input": 3, "output": 15, "cache_read": 0.3}}}
    },
}
# DigitalOcean: the "per million" fields hold USD per token. Only gpt-4o, at other rates.
DIGITALOCEAN = {
    "data": [
        {
            "model_id": "gpt-4o",
            "pricing": {"input_price_per_million": 5e-6, "output_price_per_million": 2e-5},
        }
    ]
}
CATALOG_PATHS = {"/api.json": MODELS_DEV, "/v2/gen-ai/models/catalog": DIGITALOCEAN}


@dataclass(frozen=True, slots=True)
class Catalogs:
    models_dev_url: str
    digitalocean_url: str


def _catalog_handler() -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = CATALOG_PATHS.get(self.path)
            body = json.dumps(payload).encode() if payload is not None else b"{}"
            self.send_response(200 if payload is not None else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    return Handler


@pytest.fixture(scope="module")
def catalogs() -> Iterator[Catalogs]:
    server = ThreadingHTTPServer((HOST, 0), _catalog_handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://{HOST}:{server.server_address[1]}"
    try:
        yield Catalogs(f"{base}/api.json", f"{base}/v2/gen-ai/models/catalog")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    behaviors = {
        "gpt-4o": Behavior(usage=Usage(1200, 300, cached_tokens=800)),
        "claude-sonnet-4-6": Behavior(usage=Usage(2000, 500, cached_tokens=1500)),
        "gpt-4o-mini": Behavior(usage=Usage(1000, 100, cached_tokens=400)),
        "llama-3.1-8b-instant": Behavior(usage=Usage(10, 5)),
        "gpt-4.1": Behavior(status=500),
        "o3": Behavior(status=400),
    }
    with FakeProvider(behaviors=behaviors) as fake:
        yield fake


@dataclass(frozen=True, slots=True)
class Gateway:
    server: GunicornServer
    config: Path
    log: Path


@pytest.fixture(scope="module")
def gateway(
    provider: FakeProvider, catalogs: Catalogs, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("obs-e2e")
    log = tmp / "requests.log"
    config = tmp / "plano.yaml"
    base = provider.base_url
    config.write_text(
        f"""\
version: v0.4.0
model_providers:
  - model: openai/gpt-4o
    access_key: $OPENAI_API_KEY
    base_url: {base}
    default: true
  - model: openai/gpt-4o-mini
    access_key: $OPENAI_API_KEY
    base_url: {base}
  - model: openai/gpt-4.1
    access_key: $OPENAI_API_KEY
    base_url: {base}
  - model: openai/o3
    access_key: $OPENAI_API_KEY
    base_url: {base}
  - model: anthropic/claude-sonnet-4-6
    access_key: $ANTHROPIC_API_KEY
    base_url: {base}
  - model: groq/llama-3.1-8b-instant
    access_key: $GROQ_API_KEY
    base_url: {base}
model_metrics_sources:
  - type: cost
    provider: digitalocean
    url: {catalogs.digitalocean_url}
observability:
  request_log: {log}
""",
        encoding="utf-8",
    )
    server = GunicornServer(config, tmp, workers=2, env=ENV_KEYS).start()
    try:
        _send_traffic(server.url)
        _wait_for_lines(log, 9)
        yield Gateway(server, config, log)
    finally:
        server.stop()


def _send_traffic(url: str) -> None:
    """Nine requests: 6 answered with usage, an upstream 500 and 400, an unknown model (404)."""
    with openai.OpenAI(base_url=f"{url}/v1", api_key="client", max_retries=0) as client:
        client.chat.completions.create(model="openai/gpt-4o", messages=USER)
        stream = client.chat.completions.create(
            model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        assert [c.usage.prompt_tokens for c in stream if c.usage] == [1200]
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        client.chat.completions.create(model="groq/llama-3.1-8b-instant", messages=USER)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="openai/gpt-4.1", messages=USER)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="openai/o3", messages=USER)
        with pytest.raises(openai.NotFoundError):  # refused by plano itself, still logged
            client.chat.completions.create(model="no-such-model", messages=USER)
    with anthropic.Anthropic(base_url=url, api_key="client", max_retries=0) as claude:
        reply = claude.messages.create(
            model="anthropic/claude-sonnet-4-6", max_tokens=64, messages=CLAUDE_USER
        )
        assert reply.usage.cache_read_input_tokens == 1500
        with claude.messages.stream(
            model="claude-sonnet-4-6", max_tokens=64, messages=CLAUDE_USER
        ) as events:
            assert events.get_final_message().stop_reason == "end_turn"


def _wait_for_lines(log: Path, count: int, timeout_s: float = 10.0) -> None:
    """Streams are logged when they end, just after the client saw the last byte."""
    deadline = time.monotonic() + timeout_s
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"expected {count} request-log lines, have {len(lines)}: {lines}")


def run_obs(*args: str, stdin: bytes | None = None, config: Path | None = None) -> str:
    """The real CLI, as a user runs it; its stdout (not a terminal: 120 columns)."""
    env = {**_base_env(), "PLANO_CONFIG": str(config) if config else "", **ENV_KEYS}
    result = subprocess.run(
        [str(PLANO), "obs", *args, "--once"],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    return out


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


def model_row(out: str, model: str) -> list[str]:
    """The per-model table row: model, req, input, cached, output, p50, p95, cost."""
    head, _, _ = out.partition("route share")
    (line,) = [row for row in head.splitlines() if row.startswith(model + " ")]
    cells = line.split()
    # p50 and p95 are "<n> ms" or "<n> s": two tokens each.
    return [*cells[:5], " ".join(cells[5:7]), " ".join(cells[7:9]), cells[9]]


def recent_costs(out: str, model: str) -> list[str]:
    """The cost cell of each recent-requests row for `model`."""
    _, _, recent = out.partition("recent · last")
    rows = [line.split() for line in recent.splitlines()]
    # time model route in cached out ttft(2) latency(2) cost status...: cost is 11th or later.
    return [_cost_cell(row) for row in rows if len(row) > 2 and row[1] == model]


def _cost_cell(row: list[str]) -> str:
    (cost,) = [cell for cell in row[3:] if cell.startswith("$") or cell == "—"][-1:]
    return cost


def test_the_log_has_one_line_per_request_with_usage(gateway: Gateway) -> None:
    records = [json.loads(line) for line in gateway.log.read_text().splitlines()]
    assert len(records) == 9
    served = sorted((r["model"] or r["requested_model"], r["status"], r["stream"]) for r in records)
    assert served == [
        ("anthropic/claude-sonnet-4-6", 200, False),
        ("anthropic/claude-sonnet-4-6", 200, True),
        ("groq/llama-3.1-8b-instant", 200, False),
        ("no-such-model", 404, False),
        ("openai/gpt-4.1", 500, False),
        ("openai/gpt-4o", 200, False),
        ("openai/gpt-4o", 200, True),
        ("openai/gpt-4o-mini", 200, False),
        ("openai/o3", 400, False),
    ]
    claude = [r for r in records if r["model"] == "anthropic/claude-sonnet-4-6"]
    assert all(
        (r["prompt_tokens"], r["cached_tokens"], r["completion_tokens"]) == (2000, 1500, 500)
        for r in claude
    )


def test_obs_prices_the_gateway_log_with_the_flagged_catalog(
    gateway: Gateway, catalogs: Catalogs
) -> None:
    # The flags win over the config's (DigitalOcean) cost source.
    out = run_obs(
        str(gateway.log),
        "--pricing-provider",
        "models.dev",
        "--pricing-url",
        catalogs.models_dev_url,
        config=gateway.config,
    )
    # Per request, USD = ((prompt - cached) × input + cached × cache_read + out × output) / 1e6:
    #   gpt-4o     (400 × 2.5 + 800 × 1.25 + 300 × 10) / 1e6      = 0.005     (× 2 = 0.01)
    #   claude     (500 × 3 + 1500 × 0.3 + 500 × 15) / 1e6         = 0.00945   (× 2 = 0.0189)
    #   gpt-4o-mini, no cache-read rate: cached at the input rate
    #              (600 × 0.15 + 400 × 0.15 + 100 × 0.6) / 1e6     = 0.00021
    #   llama: not in the catalog → unpriced.       Total: 0.01 + 0.0189 + 0.00021 = 0.02911
    assert "requests 9  decisions 0  errors 3 (4xx 2 · 5xx 1)  cost $0.0291 (1 unpriced)" in out
    # Tokens: in 2×1200 + 2×2000 + 1000 + 10, cached 2×800 + 2×1500 + 400, out 600+1000+100+5.
    assert "tokens in 7,410 (cached 5,000) · out 1,705" in out
    assert f"cost via models.dev ({catalogs.models_dev_url}): " in out

    gpt4o = model_row(out, "openai/gpt-4o")
    assert gpt4o[1:5] == ["2", "2,400", "1,600", "600"] and gpt4o[-1] == "$0.0100"
    claude = model_row(out, "anthropic/claude-sonnet-4-6")
    assert claude[1:5] == ["2", "4,000", "3,000", "1,000"] and claude[-1] == "$0.0189"
    mini = model_row(out, "openai/gpt-4o-mini")
    assert mini[1:5] == ["1", "1,000", "400", "100"] and mini[-1] == "$0.000210"
    llama = model_row(out, "groq/llama-3.1-8b-instant")
    assert llama[1:5] == ["1", "10", "0", "5"] and llama[-1] == "—"
    for row in (gpt4o, claude, mini, llama):
        assert row[5].endswith("ms") or row[5].endswith(" s")  # p50 of real latencies

    assert recent_costs(out, "openai/gpt-4o") == ["$0.005000", "$0.005000"]
    assert recent_costs(out, "anthropic/claude-sonnet-4-6") == ["$0.009450", "$0.009450"]
    assert recent_costs(out, "openai/gpt-4o-mini") == ["$0.000210"]
    assert recent_costs(out, "groq/llama-3.1-8b-instant") == ["—"]
    for status in ("404 model_not_found", "400 upstream_rejected", "500 upstream_error"):
        assert status in out
    # No routes configured: every request is under "(none)", 3 of them errors.
    (route,) = [line.split() for line in out.splitlines() if line.startswith("(none) ")]
    assert (route[1], route[2], route[-1]) == ("9", "100.0%", "3")


def test_obs_reads_stdin_and_falls_back_to_the_configs_catalog(gateway: Gateway) -> None:
    # No pricing flags: the config's DigitalOcean source prices gpt-4o at 5 and 20 USD/million,
    # with no cache-read rate: (1200 × 5 + 300 × 20) / 1e6 = 0.012 per request, 0.024 for two.
    # Claude (2), gpt-4o-mini and llama are not in that catalog: 4 unpriced requests.
    out = run_obs("-", stdin=gateway.log.read_bytes(), config=gateway.config)
    assert "requests 9  decisions 0  errors 3 (4xx 2 · 5xx 1)  cost $0.0240 (4 unpriced)" in out
    assert "tokens in 7,410 (cached 5,000) · out 1,705" in out
    assert model_row(out, "openai/gpt-4o")[-1] == "$0.0240"
    assert model_row(out, "anthropic/claude-sonnet-4-6")[-1] == "—"
    assert recent_costs(out, "openai/gpt-4o") == ["$0.0120", "$0.0120"]


def test_obs_still_shows_everything_when_the_catalog_is_unreachable(gateway: Gateway) -> None:
    dead = f"http://{HOST}:{free_port()}/api.json"
    out = run_obs(str(gateway.log), "--pricing-provider", "models.dev", "--pricing-url", dead)
    assert "requests 9  decisions 0  errors 3 (4xx 2 · 5xx 1)  cost — (6 unpriced)" in out
    assert "tokens in 7,410 (cached 5,000) · out 1,705" in out
    assert f"no pricing loaded — catalog unreachable: models.dev ({dead})" in out
    assert model_row(out, "openai/gpt-4o")[1:5] == ["2", "2,400", "1,600", "600"]
    assert "$" not in out
