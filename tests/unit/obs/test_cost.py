"""Cost arithmetic (SPEC §8, upstream check 40) over both catalog shapes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from plano.metrics_sources.pricing import Price, parse_digitalocean, parse_models_dev
from plano.obs.cost import TokenCounts, cost_usd, record_cost
from plano.obs.record import RequestRecord, parse_line
from plano.obs.render import format_usd
from tests.unit.obs.conftest import DATA_DIR

CHECK_40 = Price(1.0, 2.0, 0.1)  # USD per million: 1e-6 / 2e-6 / 1e-7 per token


@pytest.mark.parametrize(
    ("tokens", "price", "expected"),
    [
        (TokenCounts(1000, 200, 500), CHECK_40, 0.00182),  # check 40
        (TokenCounts(1000, 0, 500), CHECK_40, 0.002),  # uncached
        (TokenCounts(1000, 200, 500), Price(1.0, 2.0), 0.002),  # no cache rate: input rate
        (TokenCounts(1000, 1000, 0), CHECK_40, 0.0001),  # all cached
        (TokenCounts(100, 500, 0), CHECK_40, 0.00001),  # cached clamped to prompt
        (TokenCounts(0, 0, 0), CHECK_40, 0.0),
        (TokenCounts(2_000_000, 0, 1_000_000), Price(3.0, 15.0), 21.0),
    ],
)
def test_cost_arithmetic(tokens: TokenCounts, price: Price, expected: float) -> None:
    assert cost_usd(tokens, price) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_unknown_price_is_none_and_shows_a_dash() -> None:
    cost = cost_usd(TokenCounts(1000, 200, 500), None)
    assert cost is None
    assert format_usd(cost) == "—"


def test_nan_price_is_unknown() -> None:
    assert cost_usd(TokenCounts(10, 0, 10), Price(float("nan"), 1.0)) is None


def _record(**fields: object) -> RequestRecord:
    line = {
        "time": "2026-11-24T21:40:00.000Z",
        "request_id": "r",
        "dialect": "openai",
        "endpoint": "chat_completions",
        "requested_model": "gpt-4o",
        "model": "openai/gpt-4o",
        "status": 200,
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "cached_tokens": 200,
        **fields,
    }
    record = parse_line(json.dumps(line))
    assert record is not None
    return record


def _catalogs() -> list[dict[str, Price]]:
    digitalocean = parse_digitalocean(json.loads((DATA_DIR / "do_catalog.json").read_text()), {})
    models_dev = parse_models_dev(json.loads((DATA_DIR / "models_dev.json").read_text()), {})
    return [digitalocean, models_dev]


@pytest.mark.parametrize("prices", _catalogs(), ids=["digitalocean", "models.dev"])
def test_record_cost_with_both_catalog_shapes(prices: dict[str, Price]) -> None:
    # gpt-4o: 2.5 / 10 / 1.25 per million (DigitalOcean publishes it per token).
    assert record_cost(_record(), prices) == pytest.approx(0.00725)
    # claude-sonnet-4-6 has no cache-read rate in models.dev: cached tokens at the input rate.
    claude = _record(model="anthropic/claude-sonnet-4-6")
    expected = 0.00996 if prices["claude-sonnet-4-6"].cache_read_per_million else 0.0105
    assert record_cost(claude, prices) == pytest.approx(expected)
    assert record_cost(_record(model="openai/gpt-4o-mini"), prices) is None


def test_digitalocean_aliases_price_plano_names() -> None:
    payload = {"data": [{"model_id": "openai-gpt-4o", "pricing": {
        "input_price_per_million": 1e-6, "output_price_per_million": 2e-6,
        "input_cache_read": 1e-7}}]}  # fmt: skip
    prices = parse_digitalocean(payload, {"openai-gpt-4o": "openai/gpt-4o"})
    assert record_cost(_record(), prices) == pytest.approx(0.00182)


def test_decision_lines_and_missing_tokens() -> None:
    prices = {"openai/gpt-4o": CHECK_40}
    assert record_cost(_record(endpoint="routing"), prices) is None
    no_tokens = _record(prompt_tokens=None, completion_tokens=None, cached_tokens=None)
    assert record_cost(no_tokens, prices) == 0.0
    assert record_cost(replace(no_tokens, model=None, requested_model=None), prices) is None
