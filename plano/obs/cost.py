"""What a request cost in USD, from its token counts and a catalog price (SPEC §8)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from plano.metrics_sources.pricing import Price, price_for
from plano.obs.record import RequestRecord

TOKENS_PER_MILLION = 1e6


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Token counts billed together; `prompt` includes `cached`."""

    prompt: int = 0
    cached: int = 0
    completion: int = 0

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(
            self.prompt + other.prompt,
            self.cached + other.cached,
            self.completion + other.completion,
        )


def tokens_of(record: RequestRecord) -> TokenCounts:
    """The record's billable tokens, missing counts as 0 (a decision-API line has none)."""
    if record.is_decision:
        return TokenCounts()
    return TokenCounts(
        record.prompt_tokens or 0, record.cached_tokens or 0, record.completion_tokens or 0
    )


def cost_usd(tokens: TokenCounts, price: Price | None) -> float | None:
    """(prompt − cached) × input + cached × cache-read (else input) + completion × output."""
    if price is None:
        return None
    cached = min(tokens.cached, tokens.prompt)
    cache_rate = price.cache_read_per_million
    if cache_rate is None or math.isnan(cache_rate):
        cache_rate = price.input_per_million
    total = (
        (tokens.prompt - cached) * price.input_per_million
        + cached * cache_rate
        + tokens.completion * price.output_per_million
    ) / TOKENS_PER_MILLION
    return None if math.isnan(total) else total


def record_cost(record: RequestRecord, prices: Mapping[str, Price]) -> float | None:
    """The request's cost; None for a decision-API line or a model the catalog does not price."""
    model = record.priced_model
    if record.is_decision or model is None:
        return None
    return cost_usd(tokens_of(record), price_for(prices, model))
