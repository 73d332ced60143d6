"""The loop closed (SPEC §5, §8): plano's own latency histogram, scraped by a real Prometheus and
read back by plano's latency source, ranks a `prefer: fastest` route.

Real gunicorn with 2 gevent workers; a real Prometheus (Debian package) scraping it every 0.5 s; a
FakeProvider on which `slow-model` answers after 0.4 s and `fast-model` at once. The route declares
the slow model first; once traffic has been scraped, the decision API must rank the fast one first.
The latency source's query is the one conf/examples/latency_aware.yaml ships.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import requests

from plano.config.loader import load_settings
from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeRouter
from tests.integration.exposition import scrape, value
from tests.services.gunicorn import REPO_ROOT, GunicornServer
from tests.services.ports import free_port
from tests.services.prometheus import PrometheusServer, query

QUERY = (
    "sum by (model_name) (rate(plano_llm_latency_seconds_sum[5m])) "
    "/ sum by (model_name) (rate(plano_llm_latency_seconds_count[5m]))"
)
SLOW = "openai/slow-model"
FAST = "openai/fast-model"
SLOW_DELAY_S = 0.4
SCRAPE_INTERVAL_S = 0.5

CONFIG = """
version: v0.4.0
model_providers:
  - model: {slow}
    base_url: {provider}
    access_key: test-key
    default: true
  - model: {fast}
    base_url: {provider}
    access_key: test-key
  - model: plano/Plano-Orchestrator
    base_url: {router}
routing_preferences:
  - name: quick_answers
    description: short factual questions
    models: [{slow}, {fast}]
    selection_policy:
      prefer: fastest
model_metrics_sources:
  - type: latency
    provider: prometheus
    url: {prometheus}
    query: {query!r}
    refresh_interval: 1
overrides:
  llm_routing_model: plano/Plano-Orchestrator
observability:
  request_log: "off"
"""


def example_query() -> str:
    """The latency query of conf/examples/latency_aware.yaml."""
    settings = load_settings(REPO_ROOT / "conf/examples/latency_aware.yaml", dict(os.environ))
    assert settings.latency_source is not None
    return settings.latency_source.query


def chat(base_url: str, model: str) -> None:
    """One proxied call on a new connection (either worker may take it)."""
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="client-key", max_retries=0) as client:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "what time is it?"}]
        )
    assert reply.choices[0].message.content == Behavior().text


def decide(base_url: str) -> list[str]:
    """The decision API's ranked models, on a new connection."""
    with requests.Session() as session:
        reply = session.post(
            f"{base_url}/routing/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "what time is it?"}]},
            timeout=10,
        )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["route"] == "quick_answers", body
    return list(body["models"])


def latencies(prometheus_url: str, promql: str) -> dict[str, float]:
    """`{model_name: mean latency}` as Prometheus answers the query now."""
    return {
        str(series["metric"]["model_name"]): float(series["value"][1])  # type: ignore[index]
        for series in query(prometheus_url, promql)
    }


@dataclass(frozen=True)
class Loop:
    """plano, its Prometheus and the fakes, all running."""

    plano: GunicornServer
    prometheus: PrometheusServer
    provider: FakeProvider
    query: str


def plano_config(provider: FakeProvider, router: FakeRouter, prometheus_url: str, q: str) -> str:
    """The test config pointed at the fakes and at Prometheus."""
    return CONFIG.format(
        slow=SLOW,
        fast=FAST,
        provider=provider.base_url,
        router=router.base_url,
        prometheus=prometheus_url,
        query=q,
    )


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    """Prometheus scraping a 2-worker plano whose latency source reads that Prometheus."""
    tmp = tmp_path_factory.mktemp("latency-loop")
    behaviors = {"slow-model": Behavior(delay_s=SLOW_DELAY_S), "fast-model": Behavior()}
    promql = example_query()
    with (
        FakeProvider(behaviors=behaviors) as provider,
        FakeRouter(reply='{"route": ["quick_answers"]}') as router,
    ):
        plano_port = free_port()
        prometheus = PrometheusServer(
            [f"127.0.0.1:{plano_port}"], tmp, scrape_interval_s=SCRAPE_INTERVAL_S
        )
        config = tmp / "plano.yaml"
        config.write_text(plano_config(provider, router, prometheus.url, promql))
        prometheus.start()
        try:
            with GunicornServer(config, tmp, workers=2, port=plano_port) as plano:
                yield Loop(plano, prometheus, provider, promql)
        except BaseException:
            print(f"--- prometheus log ---\n{prometheus.log()}")
            raise
        finally:
            prometheus.stop()


def test_the_example_reads_plano_own_histogram() -> None:
    assert example_query() == QUERY


def test_fastest_ranks_by_the_latency_prometheus_scraped_from_plano(loop: Loop) -> None:
    url = loop.plano.url
    # No traffic yet, so no latency data: declared order, and a warning naming both models.
    assert decide(url) == [SLOW, FAST]
    log = loop.plano.log_text()
    for model in (SLOW, FAST):
        assert f"model '{model}' has no latency data" in log, log

    # Traffic to both models over several scrapes, until Prometheus has a mean for each
    # (rate() needs two scrapes that saw the counters grow).
    sent = 0
    deadline = time.monotonic() + 30
    means: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=6) as pool:
        while time.monotonic() < deadline:
            list(pool.map(lambda model: chat(url, model), [SLOW, FAST] * 3))
            sent += 6
            means = latencies(loop.prometheus.url, loop.query)
            if len(means) == 2 and all(math.isfinite(v) for v in means.values()):
                break
    assert set(means) == {SLOW, FAST}, means
    assert means[SLOW] >= SLOW_DELAY_S * 0.9 > means[FAST], means

    # The refreshers (one per worker, every second) pick it up: every decision ranks fast first,
    # although the route declares the slow model first.
    decisions: list[list[str]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        decisions.append(decide(url))
        if len(decisions) >= 8 and all(d == [FAST, SLOW] for d in decisions[-8:]):
            break
        time.sleep(0.1)
    assert decisions[-8:] == [[FAST, SLOW]] * 8, decisions

    # What Prometheus scraped is the sum over both workers: every call sent, nothing more.
    deadline = time.monotonic() + 10
    scraped = 0.0
    while time.monotonic() < deadline:
        result = query(loop.prometheus.url, "sum(plano_llm_upstream_requests_total)")
        scraped = float(result[0]["value"][1]) if result else 0.0  # type: ignore[index]
        if scraped == sent:
            break
        time.sleep(SCRAPE_INTERVAL_S)
    assert scraped == sent
    age = value(scrape(url), "plano_metrics_source_age_seconds", source="latency")
    assert age is not None and 0 <= age < 5


def test_prometheus_down_means_declared_order_and_requests_still_served(
    tmp_path: Path,
) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with (
        FakeProvider(default=Behavior()) as provider,
        FakeRouter(reply='{"route": ["quick_answers"]}') as router,
    ):
        config = tmp_path / "plano.yaml"
        config.write_text(plano_config(provider, router, down, QUERY))
        with GunicornServer(config, tmp_path, workers=2) as plano:
            assert decide(plano.url) == [SLOW, FAST]
            chat(plano.url, FAST)
            chat(plano.url, "")  # routed: the first candidate in declared order answers
            assert [r.model for r in provider.requests] == ["fast-model", "slow-model"]
            log = plano.log_text()
            assert "metrics source latency: fetch failed" in log, log
            for model in (SLOW, FAST):
                assert f"model '{model}' has no latency data" in log
            age = value(scrape(plano.url), "plano_metrics_source_age_seconds", source="latency")
            assert age == math.inf
