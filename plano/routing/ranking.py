"""Ordering a route's candidates by its `selection_policy` (SPEC §5): pure.

The gateway hands in the worker's current `MetricsSnapshot` (refreshed in the background by
plano.metrics_sources); nothing here does IO or reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from plano.config.model import Prefer


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Prices (blended input + output USD per million tokens) and latencies, by model name."""

    prices: Mapping[str, float]
    latencies: Mapping[str, float]


EMPTY_SNAPSHOT = MetricsSnapshot(prices=MappingProxyType({}), latencies=MappingProxyType({}))


def bare_id(model: str) -> str | None:
    """The model id after the first `/`, or None when the name has no provider prefix."""
    _, slash, rest = model.partition("/")
    return rest if slash and rest else None


def lookup(values: Mapping[str, float], model: str) -> float | None:
    """The model's value (exact name, then bare id); None when missing or NaN."""
    value = values.get(model)
    if value is None:
        bare = bare_id(model)
        value = values.get(bare) if bare is not None else None
    if value is None or math.isnan(value):
        return None
    return value


def metric_for(prefer: Prefer, snapshot: MetricsSnapshot) -> Mapping[str, float] | None:
    """The values a policy ranks by: prices for cheapest, latencies for fastest, None for none."""
    if prefer is Prefer.CHEAPEST:
        return snapshot.prices
    if prefer is Prefer.FASTEST:
        return snapshot.latencies
    return None


def rank(models: Sequence[str], prefer: Prefer, snapshot: MetricsSnapshot) -> tuple[str, ...]:
    """Models by the policy: stable ascending, models without data last in declared order."""
    values = metric_for(prefer, snapshot)
    if values is None:
        return tuple(models)
    known: list[tuple[float, str]] = []
    unknown: list[str] = []
    for model in models:
        value = lookup(values, model)
        if value is None:
            unknown.append(model)
        else:
            known.append((value, model))
    # sorted() is stable: ties keep their declared order.
    ranked = sorted(known, key=lambda pair: pair[0])
    return tuple(model for _, model in ranked) + tuple(unknown)
