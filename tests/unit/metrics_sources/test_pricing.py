"""Cost catalogs: parsing both shapes (units, aliases, bare keys, skipped entries) and fetching."""

from __future__ import annotations

import json
import math
import socket
import time

import pytest
import requests

from plano.metrics_sources.pricing import (
    DEFAULT_URLS,
    Price,
    blended_prices,
    fetch_prices,
    parse_digitalocean,
    parse_models_dev,
    price_for,
)
from plano.metrics_sources.source import MetricsSourceError

from .conftest import LocalServer, Reply

NO_ALIASES: dict[str, str] = {}


def do_entry(model_id: str, **pricing: object) -> dict[str, object]:
    return {"model_id": model_id, "pricing": pricing}


# ---------------------------------------------------------------- DigitalOcean


@pytest.mark.parametrize(
    ("entries", "aliases", "expected"),
    [
        # check 21: USD per token despite the names -> x 1e6
        (
            [do_entry("digitalocean/openai-gpt-4o", input_price_per_million=2.5e-6,
                      output_price_per_million=10e-6)],
            NO_ALIASES,
            {"digitalocean/openai-gpt-4o": Price(2.5, 10.0)},
        ),
        # cached rate: cache_read_input_price_per_million wins over input_cache_read
        (
            [do_entry("m", input_price_per_million=1e-6, output_price_per_million=2e-6,
                      cache_read_input_price_per_million=1e-7, input_cache_read=5e-7)],
            NO_ALIASES,
            {"m": Price(1.0, 2.0, 0.1)},
        ),
        (
            [do_entry("m", input_price_per_million=1e-6, output_price_per_million=2e-6,
                      input_cache_read=5e-7)],
            NO_ALIASES,
            {"m": Price(1.0, 2.0, 0.5)},
        ),
        # missing input or output counts as 0; numeric strings are read
        ([do_entry("m", output_price_per_million="3e-6")], NO_ALIASES, {"m": Price(0.0, 3.0)}),
        # entries without pricing (or without a model id) are skipped
        (
            [{"model_id": "free"}, {"pricing": {"input_price_per_million": 1e-6}},
             {"model_id": "null", "pricing": None}, "junk",
             do_entry("kept", input_price_per_million=1e-6, output_price_per_million=1e-6)],
            NO_ALIASES,
            {"kept": Price(1.0, 1.0)},
        ),
        # key = raw model_id after alias mapping (catalog key -> plano model); original not kept
        (
            [do_entry("openai-gpt-4o", input_price_per_million=2.5e-6,
                      output_price_per_million=10e-6)],
            {"openai-gpt-4o": "openai/gpt-4o"},
            {"openai/gpt-4o": Price(2.5, 10.0)},
        ),
        ([], NO_ALIASES, {}),
    ],
)  # fmt: skip
def test_parse_digitalocean(entries, aliases, expected) -> None:
    parsed = parse_digitalocean({"data": entries}, aliases)
    assert parsed.keys() == expected.keys()
    for key, price in expected.items():
        got = parsed[key]
        assert got.input_per_million == pytest.approx(price.input_per_million)
        assert got.output_per_million == pytest.approx(price.output_per_million)
        if price.cache_read_per_million is None:
            assert got.cache_read_per_million is None
        else:
            assert got.cache_read_per_million == pytest.approx(price.cache_read_per_million)


@pytest.mark.parametrize("payload", [[], {"models": []}, {"data": {}}, None, "data"])
def test_parse_digitalocean_rejects_another_shape(payload) -> None:
    with pytest.raises(MetricsSourceError):
        parse_digitalocean(payload, NO_ALIASES)


# ---------------------------------------------------------------- models.dev


def test_check_20_models_dev() -> None:
    payload = {
        "anthropic": {
            "models": {
                "claude-opus-4-5": {"cost": {"input": 5, "output": 25, "cache_read": 0.5}},
                "claude-free": {"name": "no cost"},
            }
        },
        "openai": {"models": {"gpt-oss-120b": {"cost": {"input": 0.1, "output": 0.5}}}},
    }
    parsed = parse_models_dev(payload, {"openai/gpt-oss-120b": "openai/gpt-4o"})
    assert parsed == {
        "anthropic/claude-opus-4-5": Price(5.0, 25.0, 0.5),
        "claude-opus-4-5": Price(5.0, 25.0, 0.5),
        "openai/gpt-4o": Price(0.1, 0.5),
        "gpt-oss-120b": Price(0.1, 0.5),
    }
    assert parsed["anthropic/claude-opus-4-5"].blended == 30.0


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # USD per million already: no scaling
        ({"p": {"models": {"m": {"cost": {"input": 1.5, "output": 2}}}}},
         {"p/m": Price(1.5, 2.0), "m": Price(1.5, 2.0)}),
        # without both input and output: skipped
        ({"p": {"models": {"m": {"cost": {"input": 1}}, "n": {"cost": {"output": 1}},
                           "o": {"cost": None}, "q": "junk"}}}, {}),
        # bare key: first writer wins, full keys all kept
        ({"a": {"models": {"m": {"cost": {"input": 1, "output": 1}}}},
          "b": {"models": {"m": {"cost": {"input": 2, "output": 2}}}}},
         {"a/m": Price(1, 1), "b/m": Price(2, 2), "m": Price(1, 1)}),
        # providers without a models object are skipped
        ({"a": {"name": "x"}, "b": [], "c": {"models": None}}, {}),
        # zero cost is a price
        ({"p": {"models": {"m": {"cost": {"input": 0, "output": 0}}}}},
         {"p/m": Price(0, 0), "m": Price(0, 0)}),
    ],
)  # fmt: skip
def test_parse_models_dev(payload, expected) -> None:
    assert parse_models_dev(payload, NO_ALIASES) == expected


def test_parse_models_dev_rejects_another_shape() -> None:
    with pytest.raises(MetricsSourceError):
        parse_models_dev([{"p": {}}], NO_ALIASES)


# ---------------------------------------------------------------- lookups


def test_price_for_exact_then_bare_id() -> None:
    prices = {"openai/gpt-4o": Price(2.5, 10.0), "gpt-4o-mini": Price(0.15, 0.6)}
    assert price_for(prices, "openai/gpt-4o") == Price(2.5, 10.0)
    assert price_for(prices, "openai/gpt-4o-mini") == Price(0.15, 0.6)
    assert price_for(prices, "gpt-4o") is None
    assert price_for(prices, "anthropic/claude") is None


def test_blended_prices_drop_nan() -> None:
    prices = {"a": Price(1.0, 2.0), "b": Price(math.nan, 1.0)}
    assert blended_prices(prices) == {"a": 3.0}


def test_default_urls() -> None:
    assert DEFAULT_URLS == {
        "digitalocean": "https://api.digitalocean.com/v2/gen-ai/models/catalog",
        "models.dev": "https://models.dev/api.json",
    }


# ---------------------------------------------------------------- fetching


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


def test_fetch_digitalocean(local_server: LocalServer, session) -> None:
    payload = {"data": [do_entry("openai-gpt-4o", input_price_per_million=2.5e-6,
                                 output_price_per_million=10e-6)]}  # fmt: skip
    local_server.replies["/catalog"] = Reply(json.dumps(payload).encode())
    prices = fetch_prices(
        "digitalocean", f"{local_server.url}/catalog", {"openai-gpt-4o": "openai/gpt-4o"}, session
    )
    assert prices.keys() == {"openai/gpt-4o"}
    assert prices["openai/gpt-4o"].blended == pytest.approx(12.5)


def test_fetch_models_dev(local_server: LocalServer, session) -> None:
    payload = {"openai": {"models": {"gpt-4o": {"cost": {"input": 2.5, "output": 10}}}}}
    local_server.replies["/api.json"] = Reply(json.dumps(payload).encode())
    prices = fetch_prices("models.dev", f"{local_server.url}/api.json", {}, session)
    assert prices == {"openai/gpt-4o": Price(2.5, 10.0), "gpt-4o": Price(2.5, 10.0)}


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(b"{not json"), "not JSON"),
        (Reply(b"\xff\xfe garbage"), "not JSON"),
        (Reply(b"oops", status=500), "HTTP 500"),
        (Reply(b"[]"), "expected an object"),
    ],
)
def test_fetch_failures_raise_metrics_source_error(local_server, session, reply, message) -> None:
    local_server.replies["/catalog"] = reply
    with pytest.raises(MetricsSourceError, match=message):
        fetch_prices("digitalocean", f"{local_server.url}/catalog", {}, session)


def test_fetch_unreachable(session) -> None:
    with socket.socket() as sock:  # a port that was free: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MetricsSourceError, match="ConnectionError"):
        fetch_prices("models.dev", f"http://127.0.0.1:{port}/api.json", {}, session)


def test_fetch_unknown_provider(session) -> None:
    with pytest.raises(MetricsSourceError, match="unknown cost provider"):
        fetch_prices("example", "http://127.0.0.1:1/", {}, session)


def test_a_stalled_body_hits_the_read_timeout(local_server, session) -> None:
    local_server.replies["/catalog"] = Reply(b'{"data": []}', delay_before_body_s=5)
    started = time.monotonic()
    with pytest.raises(MetricsSourceError, match="Timeout|ConnectionError"):
        url = f"{local_server.url}/catalog"
        fetch_prices("digitalocean", url, {}, session, total_timeout_s=0.5)
    assert time.monotonic() - started < 3


def test_a_trickling_body_is_bounded_by_the_total_deadline(local_server, session) -> None:
    # One byte every 0.1 s: each read is quick, so only the overall deadline stops it.
    local_server.replies["/catalog"] = Reply(b'{"data": []}' + b" " * 200, trickle_every_s=0.1)
    started = time.monotonic()
    with pytest.raises(MetricsSourceError, match=r"over 1s|Timeout|ConnectionError"):
        fetch_prices("digitalocean", f"{local_server.url}/catalog", {}, session, total_timeout_s=1)
    assert time.monotonic() - started < 3
