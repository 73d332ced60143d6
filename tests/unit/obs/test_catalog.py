"""Pricing source precedence and the background fetch."""

from __future__ import annotations

import pytest

from plano.config.model import CostSource
from plano.metrics_sources.pricing import DEFAULT_URLS, Price
from plano.metrics_sources.source import MetricsSourceError
from plano.obs.catalog import PriceLoader, PricingChoice, choose_pricing

CONFIG = CostSource("models.dev", "http://prices.internal/api.json", None, {"a/x": "b/y"})


@pytest.mark.parametrize(
    ("provider", "url", "source", "expected"),
    [
        (None, None, None, PricingChoice("digitalocean", DEFAULT_URLS["digitalocean"])),
        (None, None, CONFIG, PricingChoice("models.dev", CONFIG.url, CONFIG.model_aliases)),
        ("digitalocean", None, CONFIG, PricingChoice("digitalocean", DEFAULT_URLS["digitalocean"])),
        ("models.dev", None, None, PricingChoice("models.dev", DEFAULT_URLS["models.dev"])),
        ("models.dev", None, CONFIG, PricingChoice("models.dev", CONFIG.url, CONFIG.model_aliases)),
        (None, "http://x/", None, PricingChoice("digitalocean", "http://x/")),
        (None, "http://x/", CONFIG, PricingChoice("models.dev", "http://x/", CONFIG.model_aliases)),
        ("digitalocean", "http://x/", CONFIG, PricingChoice("digitalocean", "http://x/")),
    ],
)
def test_flags_then_config_then_digitalocean(
    provider: str | None, url: str | None, source: CostSource | None, expected: PricingChoice
) -> None:
    assert choose_pricing(provider, url, source) == expected


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError):
        choose_pricing("acme", None, None)


def test_loader_success_and_note() -> None:
    choice = PricingChoice("digitalocean", "http://catalog.test/")
    loader = PriceLoader(choice, lambda _: {"m": Price(1.0, 2.0)})
    assert loader.prices == {}
    assert loader.note.startswith("pricing: loading DigitalOcean Gradient catalog")
    loader.start()
    assert loader.wait(5)
    assert loader.prices == {"m": Price(1.0, 2.0)}
    assert loader.note == (
        "cost via DigitalOcean Gradient catalog (http://catalog.test/): 1 model priced"
    )


def test_loader_failure_leaves_no_prices_and_a_note() -> None:
    def fail(choice: PricingChoice) -> dict[str, Price]:
        raise MetricsSourceError(f"cost catalog {choice.url}: HTTP 503")

    loader = PriceLoader(PricingChoice("models.dev", "http://catalog.test/"), fail)
    loader.start()
    assert loader.wait(5)
    assert loader.prices == {}
    assert loader.note == (
        "no pricing loaded — catalog unreachable: models.dev (http://catalog.test/): "
        "cost catalog http://catalog.test/: HTTP 503"
    )
