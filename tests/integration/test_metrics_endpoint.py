"""`/metrics` under real gunicorn with 2 gevent workers (SPEC §2, §8).

Traffic goes through the official openai and anthropic SDKs, each request on a new connection, so
both workers serve; every scrape (whichever worker answers it) must report what all workers did.
Run twice: the plain `gunicorn -k gevent -w 2 wsgi:app` and with `-c conf/gunicorn.conf.py`.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import anthropic
import openai
import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict

from tests.fakes.catalog_server import FakeCatalog, models_dev_catalog
from tests.fakes.provider_server import Behavior, FakeProvider, Usage
from tests.fakes.router_server import FakeRouter
from tests.integration.exposition import label_values, samples, scrape, total
from tests.services.gunicorn import GunicornServer

OPENAI_MODEL = "openai/fast-model"
ANTHROPIC_MODEL = "anthropic/claude-fake"
ROUTER_MODEL = "plano/Plano-Orchestrator"
USAGE = Usage(prompt_tokens=11, completion_tokens=7, cached_tokens=3)
CONF_ARGS = ("-c", "conf/gunicorn.conf.py")

CONFIG = """
version: v0.4.0
listeners:
  - name: model_listener
    type: model
    port: 12000
model_providers:
  - model: {openai_model}
    base_url: {provider}
    access_key: test-openai-key
    default: true
  - model: {anthropic_model}
    base_url: {provider}
    access_key: test-anthropic-key
  - model: {router_model}
    base_url: {router}
routing_preferences:
  - name: coding
    description: writing code
    models: [{anthropic_model}, {openai_model}]
    selection_policy:
      prefer: cheapest
model_metrics_sources:
  - type: cost
    provider: models.dev
    url: {catalog}
    refresh_interval: 1
overrides:
  llm_routing_model: {router_model}
observability:
  request_log: "off"
"""

# SPEC §8: every family and the labels of its samples (histograms add `le` on _bucket).
SPEC_METRICS = {
    "plano_http_requests_total": {"handler", "status_class"},
    "plano_llm_latency_seconds": {"model_name"},
    "plano_llm_time_to_first_token_seconds": {"model_name"},
    "plano_llm_tokens_total": {"model_name", "kind"},
    "plano_llm_upstream_requests_total": {"model_name", "status_class"},
    "plano_router_decisions_total": {"route", "outcome"},
    "plano_router_duration_seconds": set(),
    "plano_session_cache_events_total": {"backend", "outcome"},
    "plano_metrics_source_age_seconds": {"source"},
}
HISTOGRAMS = {
    "plano_llm_latency_seconds",
    "plano_llm_time_to_first_token_seconds",
    "plano_router_duration_seconds",
}


def plano_config(provider: FakeProvider, router: FakeRouter, catalog: FakeCatalog) -> str:
    """The module's config, pointed at the fakes."""
    return CONFIG.format(
        openai_model=OPENAI_MODEL,
        anthropic_model=ANTHROPIC_MODEL,
        router_model=ROUTER_MODEL,
        provider=provider.base_url,
        router=router.base_url,
        catalog=catalog.url,
    )


def chat(base_url: str, model: str, *, stream: bool = False, affinity: str | None = None) -> str:
    """One OpenAI Chat Completions call on a new connection; the reply text."""
    headers = {"X-Model-Affinity": affinity} if affinity else None
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="client-key", max_retries=0) as client:
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "user", "content": "write a function"}
        ]
        if not stream:
            reply = client.chat.completions.create(
                model=model, messages=messages, extra_headers=headers
            )
            return reply.choices[0].message.content or ""
        chunks = client.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def message(base_url: str, model: str, *, stream: bool = False) -> str:
    """One Anthropic Messages call on a new connection; the reply text."""
    with anthropic.Anthropic(base_url=base_url, api_key="client-key", max_retries=0) as client:
        messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hello"}]
        if not stream:
            reply = client.messages.create(model=model, max_tokens=64, messages=messages)
            return "".join(b.text for b in reply.content if b.type == "text")
        with client.messages.stream(model=model, max_tokens=64, messages=messages) as events:
            return "".join(events.text_stream)


def decide(base_url: str) -> dict[str, object]:
    """One decision API call on a new connection."""
    with requests.Session() as session:
        reply = session.post(
            f"{base_url}/routing/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "write a function"}]},
            timeout=10,
        )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert isinstance(body, dict)
    return body


def multiproc_dir(server: GunicornServer) -> Path:
    """Where the server's workers write their metric files."""
    explicit = server.env.get("PROMETHEUS_MULTIPROC_DIR")
    if explicit:
        return Path(explicit)
    found = sorted((server.tmp_path / f"tmp-{server.port}").glob("plano-metrics-*[0-9]"))
    assert found, f"no multiprocess dir under {server.tmp_path}"
    return found[-1]


def upstream_calls_by_pid(directory: Path) -> dict[int, float]:
    """plano_llm_upstream_requests_total per worker pid, read from the workers' own files."""
    calls: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == "plano_llm_upstream_requests_total":
                calls[pid] = calls.get(pid, 0.0) + value
    return calls


@dataclass(frozen=True)
class Traffic:
    """What was sent to one server, and what it reported right after."""

    server: GunicornServer
    router: FakeRouter
    per_model: dict[str, int]  # proxied calls per canonical model
    proxied_by_handler: dict[str, int]
    decisions: int
    streamed: dict[str, int]  # streamed calls per model
    worker_pids: list[int]
    scrapes: list[str]


def wait_until_both_workers_loaded_the_app(server: GunicornServer) -> list[int]:
    """The 2 worker pids, once each has built plano (its metrics files exist).

    /healthz answers as soon as the first worker is up; traffic sent before the second one has
    loaded the app would all go to the first.
    """
    pids = server.wait_for_workers(2)
    directory = multiproc_dir(server)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(any(directory.glob(f"*_{pid}.db")) for pid in pids):
            return pids
        time.sleep(0.05)
    pytest.fail(f"workers {pids} did not load the app: {sorted(directory.iterdir())}")


def send_traffic(server: GunicornServer, router: FakeRouter) -> Traffic:
    """Proxied calls of every kind, concurrently, on new connections; then 6 scrapes."""
    url = server.url
    worker_pids = wait_until_both_workers_loaded_the_app(server)
    jobs = (
        [lambda: chat(url, OPENAI_MODEL)] * 12
        + [lambda: chat(url, OPENAI_MODEL, stream=True)] * 8
        + [lambda: message(url, ANTHROPIC_MODEL)] * 5
        + [lambda: message(url, ANTHROPIC_MODEL, stream=True)] * 5
        # no model: the router picks `coding`, ranked by price (claude-fake is cheaper)
        + [lambda: chat(url, "", affinity="session-1")] * 6
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(lambda job: job(), jobs))
        decisions = list(pool.map(lambda _: decide(url), range(4)))
    assert all(text == Behavior().text for text in texts), texts
    assert all(d["route"] == "coding" for d in decisions), decisions
    return Traffic(
        server=server,
        router=router,
        per_model={OPENAI_MODEL: 20, ANTHROPIC_MODEL: 16},
        proxied_by_handler={"chat_completions": 26, "messages": 10},
        decisions=4,
        streamed={OPENAI_MODEL: 8, ANTHROPIC_MODEL: 5},
        worker_pids=worker_pids,
        scrapes=[scrape(url) for _ in range(6)],
    )


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeProvider, FakeRouter, FakeCatalog]]:
    """The provider (slightly slow, so calls overlap), the router model and a price catalog."""
    catalog_doc = models_dev_catalog(
        {"openai": {"fast-model": (5.0, 15.0)}, "anthropic": {"claude-fake": (1.0, 2.0)}}
    )
    with (
        FakeProvider(default=Behavior(usage=USAGE, delay_s=0.05)) as provider,
        FakeRouter(reply='{"route": ["coding"]}') as router,
        FakeCatalog(catalog_doc) as catalog,
    ):
        yield provider, router, catalog


@pytest.fixture(scope="module", params=["plain", "conf"])
def traffic(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fakes: tuple[FakeProvider, FakeRouter, FakeCatalog],
) -> Iterator[Traffic]:
    """One 2-worker server per gunicorn command line, with the traffic already sent."""
    provider, router, catalog = fakes
    tmp = tmp_path_factory.mktemp(f"metrics-{request.param}")
    config = tmp / "plano.yaml"
    config.write_text(plano_config(provider, router, catalog))
    extra = CONF_ARGS if request.param == "conf" else ()
    server = GunicornServer(config, tmp, workers=2, extra_args=extra)
    with server:
        router.clear()
        yield send_traffic(server, router)


def test_counters_equal_the_requests_sent_across_both_workers(traffic: Traffic) -> None:
    sent = sum(traffic.per_model.values())
    served_by = upstream_calls_by_pid(multiproc_dir(traffic.server))
    assert set(served_by) == set(traffic.worker_pids), served_by  # both workers served
    assert all(count > 0 for count in served_by.values()), served_by
    assert sum(served_by.values()) == sent
    for body in traffic.scrapes:  # whichever worker answered the scrape
        assert total(body, "plano_llm_upstream_requests_total") == sent
        for model, count in traffic.per_model.items():
            assert (
                total(
                    body, "plano_llm_upstream_requests_total", model_name=model, status_class="2xx"
                )
                == count
            )
            assert total(body, "plano_llm_latency_seconds_count", model_name=model) == count
        for handler, count in traffic.proxied_by_handler.items():
            assert total(body, "plano_http_requests_total", handler=handler) == count
            assert (
                total(body, "plano_http_requests_total", handler=handler, status_class="2xx")
                == count
            )
        assert total(body, "plano_http_requests_total", handler="routing") == traffic.decisions


def test_every_spec_metric_is_exported_with_its_labels(traffic: Traffic) -> None:
    body = traffic.scrapes[-1]
    found = samples(body)
    for family, labels in SPEC_METRICS.items():
        names = {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
        if family not in HISTOGRAMS:
            names = {family}
        of_family = [s for s in found if s.name in names]
        assert of_family, f"{family} is missing from /metrics"
        for sample in of_family:
            expected = labels | ({"le"} if sample.name.endswith("_bucket") else set())
            assert set(sample.labels) == expected, sample
    assert label_values(body, "plano_http_requests_total", "handler") >= {
        "chat_completions", "messages", "routing", "health", "metrics",
    }  # fmt: skip
    assert label_values(body, "plano_session_cache_events_total", "backend") == {"memory"}
    assert label_values(body, "plano_metrics_source_age_seconds", "source") == {"cost"}
    assert label_values(body, "plano_router_decisions_total", "route") == {"coding"}
    # 6 routed proxy calls (some may be pinned by affinity) and 4 decisions
    assert total(body, "plano_router_decisions_total") == 6 + traffic.decisions
    assert total(body, "plano_router_duration_seconds_count") == 6 + traffic.decisions


def test_tokens_count_the_providers_usage(traffic: Traffic) -> None:
    body = traffic.scrapes[-1]
    for model, count in traffic.per_model.items():
        assert total(body, "plano_llm_tokens_total", model_name=model, kind="prompt") == (
            USAGE.prompt_tokens * count
        )
        assert total(body, "plano_llm_tokens_total", model_name=model, kind="completion") == (
            USAGE.completion_tokens * count
        )
        assert total(body, "plano_llm_tokens_total", model_name=model, kind="cached") == (
            USAGE.cached_tokens * count
        )


def test_time_to_first_token_is_observed_for_streams(traffic: Traffic) -> None:
    body = traffic.scrapes[-1]
    for model, count in traffic.streamed.items():
        assert total(body, "plano_llm_time_to_first_token_seconds_count", model_name=model) == (
            count
        )


def test_router_model_calls_are_never_llm_metrics(traffic: Traffic) -> None:
    body = traffic.scrapes[-1]
    # the router model was really called: once per decision it was asked for (pinned ones skip it)
    asked = total(body, "plano_router_decisions_total", outcome="matched")
    assert len(traffic.router.requests) == asked >= 1 + traffic.decisions
    llm = [s for s in samples(body) if s.name.startswith("plano_llm_")]
    assert llm
    assert {s.labels["model_name"] for s in llm} == set(traffic.per_model)
    assert "Plano-Orchestrator" not in "".join(
        line for line in body.splitlines() if line.startswith("plano_llm_")
    )


def test_a_killed_worker_does_not_break_metrics(traffic: Traffic) -> None:
    server = traffic.server
    before = total(scrape(server.url), "plano_llm_upstream_requests_total")
    victim = server.wait_for_workers(2)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if len(pids) == 2 and victim not in pids:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"gunicorn did not replace worker {victim}: {server.worker_pids()}")
    for _ in range(6):  # the dead worker's counts are kept; every scrape answers
        assert total(scrape(server.url), "plano_llm_upstream_requests_total") == before
    chat(server.url, OPENAI_MODEL)
    assert total(scrape(server.url), "plano_llm_upstream_requests_total") == before + 1


# ---------------------------------------------------------------- the directory is reset at start


@pytest.mark.parametrize(
    ("extra_args", "explicit_dir", "workers"),
    [((), False, 1), ((), True, 2), (CONF_ARGS, True, 1)],
    ids=["plain", "plain-explicit-dir", "conf-explicit-dir"],
)
def test_counters_start_from_zero_after_a_restart(
    tmp_path: Path,
    fakes: tuple[FakeProvider, FakeRouter, FakeCatalog],
    extra_args: tuple[str, ...],
    explicit_dir: bool,
    workers: int,
) -> None:
    config = tmp_path / "plano.yaml"
    config.write_text(plano_config(*fakes))
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "multiproc")} if explicit_dir else None
    server = GunicornServer(config, tmp_path, workers=workers, extra_args=extra_args, env=env)
    with server:
        for _ in range(3):
            chat(server.url, OPENAI_MODEL)
        assert total(scrape(server.url), "plano_llm_upstream_requests_total") == 3
        # Killed, not stopped gracefully: nothing gets a chance to clean up the old files.
        server.stop()
        server.start()
        body = scrape(server.url)
        assert total(body, "plano_llm_upstream_requests_total") == 0, body
        assert total(body, "plano_http_requests_total", handler="chat_completions") == 0
        chat(server.url, OPENAI_MODEL)
        assert total(scrape(server.url), "plano_llm_upstream_requests_total") == 1
