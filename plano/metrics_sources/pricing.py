"""Model prices from a cost catalog: DigitalOcean's GenAI catalog or models.dev (SPEC §5).

Used by the refresher (blended prices for `prefer: cheapest`) and by the `plano obs` console
(per-token cost). Parsing is pure; `fetch_prices` is the only IO, bounded by a 5 s connect
timeout and a 30 s deadline over the whole download.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import requests
import urllib3

from plano.metrics_sources.source import CONNECT_TIMEOUT_S, TOTAL_TIMEOUT_S, MetricsSourceError
from plano.routing.ranking import bare_id

logger = logging.getLogger(__name__)

DEFAULT_URLS = {
    "digitalocean": "https://api.digitalocean.com/v2/gen-ai/models/catalog",
    "models.dev": "https://models.dev/api.json",
}
MAX_CATALOG_BYTES = 64 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# DigitalOcean's catalog names its fields "per million" but the values are USD per token.
_DO_TOKENS_PER_UNIT = 1e6


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens; `cache_read_per_million` is None when the catalog has no rate."""

    input_per_million: float
    output_per_million: float
    cache_read_per_million: float | None = None

    @property
    def blended(self) -> float:
        """Input + output per million: the `cheapest` ranking signal (relative, not a bill)."""
        return self.input_per_million + self.output_per_million


def _number(value: object) -> float | None:
    """A finite-or-NaN float from a JSON number or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_digitalocean(payload: object, model_aliases: Mapping[str, str]) -> dict[str, Price]:
    """Prices from DigitalOcean's catalog `{"data": [{"model_id", "pricing": {...}}]}`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise MetricsSourceError("digitalocean catalog: expected an object with a 'data' list")
    prices: dict[str, Price] = {}
    for entry in payload["data"]:
        if not isinstance(entry, dict):
            continue
        model_id = entry.get("model_id")
        pricing = entry.get("pricing")
        if not isinstance(model_id, str) or not model_id or not isinstance(pricing, dict):
            continue
        # Missing input or output counts as 0, as upstream Plano does.
        input_rate = _number(pricing.get("input_price_per_million")) or 0.0
        output_rate = _number(pricing.get("output_price_per_million")) or 0.0
        cached = _number(pricing.get("cache_read_input_price_per_million"))
        if cached is None:
            cached = _number(pricing.get("input_cache_read"))
        key = model_aliases.get(model_id, model_id)
        prices[key] = Price(
            input_rate * _DO_TOKENS_PER_UNIT,
            output_rate * _DO_TOKENS_PER_UNIT,
            cached * _DO_TOKENS_PER_UNIT if cached is not None else None,
        )
    return prices


def parse_models_dev(payload: object, model_aliases: Mapping[str, str]) -> dict[str, Price]:
    """Prices from models.dev `{provider: {"models": {model: {"cost": {...}}}}}` (USD/million)."""
    if not isinstance(payload, dict):
        raise MetricsSourceError("models.dev catalog: expected an object keyed by provider")
    prices: dict[str, Price] = {}
    bare: dict[str, Price] = {}
    for provider, section in payload.items():
        if not isinstance(section, dict) or not isinstance(section.get("models"), dict):
            continue
        for model, info in section["models"].items():
            cost = info.get("cost") if isinstance(info, dict) else None
            if not isinstance(cost, dict):
                continue
            input_rate = _number(cost.get("input"))
            output_rate = _number(cost.get("output"))
            if input_rate is None or output_rate is None:
                continue
            price = Price(input_rate, output_rate, _number(cost.get("cache_read")))
            key = f"{provider}/{model}"
            prices[model_aliases.get(key, key)] = price
            bare.setdefault(str(model), price)  # first writer wins, never aliased
    for model, price in bare.items():
        prices.setdefault(model, price)
    return prices


_PARSERS = {"digitalocean": parse_digitalocean, "models.dev": parse_models_dev}


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """Turn requests', urllib3's (raw reads), socket and JSON errors into MetricsSourceError."""
    try:
        yield
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise MetricsSourceError(f"cost catalog {url}: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        raise MetricsSourceError(f"cost catalog {url}: not JSON: {exc}") from exc


def _download(url: str, session: requests.Session, total_timeout_s: float) -> bytes:
    """The body of GET url within the deadline (requests' read timeout is per socket read)."""
    deadline = time.monotonic() + total_timeout_s
    response = session.get(
        url,
        timeout=(CONNECT_TIMEOUT_S, total_timeout_s),
        stream=True,
        headers={"accept": "application/json"},
    )
    try:
        if response.status_code != 200:
            raise MetricsSourceError(f"cost catalog {url}: HTTP {response.status_code}")
        body = bytearray()
        raw = response.raw
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MetricsSourceError(f"cost catalog {url}: over {total_timeout_s:g}s")
            _shorten_read_timeout(response, remaining)
            # read1: at most one socket read, so the deadline is checked between reads.
            chunk = raw.read1(_CHUNK_BYTES, decode_content=True)
            if not chunk:
                break
            body += chunk
            if len(body) > MAX_CATALOG_BYTES:
                raise MetricsSourceError(f"cost catalog {url}: over {MAX_CATALOG_BYTES} bytes")
        return bytes(body)
    finally:
        response.close()


def _shorten_read_timeout(response: requests.Response, remaining_s: float) -> None:
    """Cap the next socket read at the time left, so a trickling server cannot pass the deadline."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(remaining_s, 0.001))


def fetch_prices(
    provider: str,
    url: str,
    model_aliases: Mapping[str, str],
    session: requests.Session,
    *,
    total_timeout_s: float = TOTAL_TIMEOUT_S,
) -> dict[str, Price]:
    """Download and parse one catalog; MetricsSourceError on any failure."""
    parser = _PARSERS.get(provider)
    if parser is None:
        raise MetricsSourceError(f"unknown cost provider {provider!r}")
    with _translated(url):
        payload = json.loads(_download(url, session, total_timeout_s))
    return parser(payload, model_aliases)


def price_for(prices: Mapping[str, Price], model_name: str) -> Price | None:
    """The model's price: exact name, then the bare id after the first `/`."""
    price = prices.get(model_name)
    if price is None:
        bare = bare_id(model_name)
        price = prices.get(bare) if bare is not None else None
    return price


def blended_prices(prices: Mapping[str, Price]) -> dict[str, float]:
    """Input + output per million for each model, NaN rates dropped."""
    return {name: p.blended for name, p in prices.items() if not math.isnan(p.blended)}
