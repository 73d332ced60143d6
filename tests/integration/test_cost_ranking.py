"""`prefer: cheapest` under real gunicorn (2 gevent workers) with a local price catalog (SPEC §5).

The catalog is a local HTTP server in either shape: DigitalOcean's (USD per token, a
`model_aliases` entry for its own key, a bare key for another) or models.dev's (USD per million,
`provider/model` keys). Observed only through the decision API, proxied calls, the log and
`/metrics`: ranking, refresh, a catalog down at start, and a failing refresh keeping the last data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
import requests

from tests.fakes.catalog_server import FakeCatalog, do_catalog, models_dev_catalog
from tests.fakes.provider_server import Behavior, FakeProvider
from tests.fakes.router_server import FakeRouter
from tests.integration.exposition import scrape, value
from tests.services.gunicorn import GunicornServer

PRICEY = "openai/pricey"
CHEAP = "openai/cheap"
UNPRICED = "openai/unpriced"
DECLARED = [UNPRICED, PRICEY, CHEAP]
CHEAP_FIRST = [CHEAP, PRICEY, UNPRICED]
PRICEY_FIRST = [PRICEY, CHEAP, UNPRICED]  # after the catalog's prices changed

CONFIG = """
version: v0.4.0
model_providers:
  - model: {unpriced}
    base_url: {provider}
    access_key: test-key
    default: true
  - model: {pricey}
    base_url: {provider}
    access_key: test-key
  - model: {cheap}
    base_url: {provider}
    access_key: test-key
  - model: plano/Plano-Orchestrator
    base_url: {router}
routing_preferences:
  - name: general
    description: everyday questions
    models: [{unpriced}, {pricey}, {cheap}]
    selection_policy:
      prefer: cheapest
model_metrics_sources:
  - type: cost
    provider: {catalog_provider}
    url: {catalog}
    refresh_interval: 1
    model_aliases:
      openai-pricey-v1: {pricey}
overrides:
  llm_routing_model: plano/Plano-Orchestrator
observability:
  request_log: "off"
"""


def digitalocean(pricey: tuple[float, float], cheap: tuple[float, float]) -> object:
    """A DigitalOcean catalog (USD per token): one aliased key, one bare key, one unrelated."""
    return do_catalog(
        {"openai-pricey-v1": pricey, "cheap": cheap, "someone-elses-model": (1e-9, 1e-9)}
    )


def models_dev(pricey: tuple[float, float], cheap: tuple[float, float]) -> object:
    """A models.dev catalog (USD per million), keyed provider/model."""
    return models_dev_catalog(
        {"openai": {"pricey": pricey, "cheap": cheap}, "other": {"elsewhere": (0.01, 0.01)}}
    )


Catalog = Callable[[tuple[float, float], tuple[float, float]], object]
SHAPES: dict[str, tuple[Catalog, float]] = {
    # provider name -> (catalog builder, the catalog's unit in USD per million tokens)
    "digitalocean": (digitalocean, 1e-6),
    "models.dev": (models_dev, 1.0),
}


def prices(provider: str, first_cheap: bool) -> object:
    """The catalog document: cheap cheaper than pricey, or (first_cheap=False) the reverse."""
    build, unit = SHAPES[provider]
    low, high = (0.15 * unit, 0.6 * unit), (5.0 * unit, 15.0 * unit)
    return build(high, low) if first_cheap else build(low, high)


def start_plano(
    tmp_path: Path, provider: FakeProvider, router: FakeRouter, catalog: FakeCatalog, kind: str
) -> GunicornServer:
    """A 2-worker plano whose cost source is `catalog`."""
    config = tmp_path / "plano.yaml"
    config.write_text(
        CONFIG.format(
            unpriced=UNPRICED,
            pricey=PRICEY,
            cheap=CHEAP,
            provider=provider.base_url,
            router=router.base_url,
            catalog_provider=kind,
            catalog=catalog.url,
        )
    )
    return GunicornServer(config, tmp_path, workers=2).start()


def decide(base_url: str) -> list[str]:
    """The decision API's ranked models, on a new connection (either worker may answer)."""
    with requests.Session() as session:
        reply = session.post(
            f"{base_url}/routing/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hello"}]},
            timeout=10,
        )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["route"] == "general", body
    return list(body["models"])


def settle(base_url: str, expected: list[str], timeout_s: float = 15.0) -> list[list[str]]:
    """Decide until 8 decisions in a row (both workers) rank `expected`; fail otherwise."""
    decisions: list[list[str]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        decisions.append(decide(base_url))
        if decisions[-8:] == [expected] * 8:
            return decisions
        time.sleep(0.05)
    pytest.fail(f"decisions never settled on {expected}: {decisions[-12:]}")


def routed_chat(base_url: str) -> str:
    """A proxied call with no model (the router picks the route); the model that answered."""
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="client-key", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="", messages=[{"role": "user", "content": "hello"}]
        )
    assert raw.parse().choices[0].message.content == Behavior().text
    return raw.headers["x-plano-model"]


def source_age(base_url: str) -> float:
    """plano_metrics_source_age_seconds{source="cost"} as /metrics reports it."""
    age = value(scrape(base_url), "plano_metrics_source_age_seconds", source="cost")
    assert age is not None
    return age


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_cheapest_ranks_by_catalog_price_and_keeps_the_last_good_data(
    tmp_path: Path, kind: str
) -> None:
    with (
        FakeProvider(default=Behavior()) as provider,
        FakeRouter(reply='{"route": ["general"]}') as router,
        FakeCatalog(prices(kind, first_cheap=True)) as catalog,
    ):
        plano = start_plano(tmp_path, provider, router, catalog, kind)
        try:
            settle(plano.url, CHEAP_FIRST)
            assert routed_chat(plano.url) == CHEAP
            log = plano.log_text()
            assert f"model '{UNPRICED}' has no price data" in log, log
            assert f"model '{CHEAP}' has no price data" not in log
            assert f"model '{PRICEY}' has no price data" not in log

            # The background refresh follows the catalog.
            catalog.set_payload(prices(kind, first_cheap=False))
            settle(plano.url, PRICEY_FIRST)

            # The catalog fails from now on: each worker keeps the last good prices, whose age
            # keeps growing on /metrics.
            catalog.fail(503)
            failed_from = catalog.request_count
            age_before = source_age(plano.url)
            deadline = time.monotonic() + 15
            while catalog.request_count < failed_from + 4 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert catalog.request_count >= failed_from + 4  # both workers retried, and failed
            assert [decide(plano.url) for _ in range(8)] == [PRICEY_FIRST] * 8
            assert routed_chat(plano.url) == PRICEY
            age_after = source_age(plano.url)
            assert age_after >= age_before + 1.0, (age_before, age_after)
            assert "metrics source cost: fetch failed" in plano.log_text()
            assert "keeping the last good data" in plano.log_text()
        finally:
            plano.stop()


def test_catalog_down_at_start_means_declared_order_until_it_answers(tmp_path: Path) -> None:
    with (
        FakeProvider(default=Behavior()) as provider,
        FakeRouter(reply='{"route": ["general"]}') as router,
        FakeCatalog(prices("digitalocean", first_cheap=True)) as catalog,
    ):
        catalog.fail(503)
        plano = start_plano(tmp_path, provider, router, catalog, "digitalocean")
        try:
            assert [decide(plano.url) for _ in range(4)] == [DECLARED] * 4
            assert routed_chat(plano.url) == UNPRICED  # served, by the first declared model
            log = plano.log_text()
            for model in DECLARED:
                assert f"route 'general' model '{model}' has no price data" in log, log
            assert source_age(plano.url) == float("inf")  # never answered
            # The catalog comes back: the next refresh ranks by price.
            catalog.set_payload(prices("digitalocean", first_cheap=True))
            settle(plano.url, CHEAP_FIRST)
            assert source_age(plano.url) < 5
        finally:
            plano.stop()
