"""Ranking candidates by selection policy (SPEC §5, upstream checks 14 and 17): tables."""

from __future__ import annotations

import math

import pytest

from plano.config.model import Prefer
from plano.routing.ranking import EMPTY_SNAPSHOT, MetricsSnapshot, bare_id, lookup, rank

NAN = math.nan


def prices(**values: float) -> MetricsSnapshot:
    return MetricsSnapshot(prices=values, latencies={})


def latencies(**values: float) -> MetricsSnapshot:
    return MetricsSnapshot(prices={}, latencies=values)


@pytest.mark.parametrize(
    ("models", "prefer", "snapshot", "expected"),
    [
        # none: declared order, whatever the data says
        (["a", "b", "c"], Prefer.NONE, prices(a=3, b=2, c=1), ("a", "b", "c")),
        (["a", "b"], Prefer.NONE, EMPTY_SNAPSHOT, ("a", "b")),
        # upstream rank_models tests
        (["a", "b", "c"], Prefer.CHEAPEST, prices(a=0.01, b=0.005, c=0.02), ("b", "a", "c")),
        (["a", "b"], Prefer.CHEAPEST, prices(b=0.5), ("b", "a")),
        (list("abcd"), Prefer.CHEAPEST, prices(a=NAN, b=0.5, c=0.1), ("c", "b", "a", "d")),
        (list("abcd"), Prefer.FASTEST, latencies(a=NAN, b=0.5, c=0.1), ("c", "b", "a", "d")),
        # ties keep declared order (stable), in both directions
        (["a", "b", "c"], Prefer.FASTEST, latencies(a=1, b=1, c=0.5), ("c", "a", "b")),
        (["b", "a", "c"], Prefer.FASTEST, latencies(a=1, b=1, c=0.5), ("c", "b", "a")),
        # no data at all: declared order
        (["a", "b", "c"], Prefer.CHEAPEST, EMPTY_SNAPSHOT, ("a", "b", "c")),
        (["a", "b"], Prefer.FASTEST, latencies(a=NAN, b=NAN), ("a", "b")),
        # unknown models keep declared order among themselves, after the known ones
        (["x", "a", "y", "b"], Prefer.CHEAPEST, prices(b=1, a=2), ("b", "a", "x", "y")),
        # the policy picks its own metric: prices do not rank `fastest`
        (["a", "b"], Prefer.FASTEST, prices(a=2, b=1), ("a", "b")),
        (["a", "b"], Prefer.CHEAPEST, latencies(a=2, b=1), ("a", "b")),
        # zero and negative values are data, not "missing"
        (["a", "b"], Prefer.CHEAPEST, prices(a=0.0, b=-1.0), ("b", "a")),
        ([], Prefer.CHEAPEST, prices(a=1), ()),
    ],
)
def test_rank(models, prefer, snapshot, expected) -> None:
    assert rank(models, prefer, snapshot) == expected


def test_check_14_cheapest_blended_prices() -> None:
    snapshot = MetricsSnapshot(
        prices={"openai/gpt-4o": 12.5, "openai/gpt-4o-mini": 0.75}, latencies={}
    )
    ranked = rank(["openai/gpt-4o", "openai/gpt-4o-mini"], Prefer.CHEAPEST, snapshot)
    assert ranked == ("openai/gpt-4o-mini", "openai/gpt-4o")


def test_check_17_fastest_with_a_model_without_data() -> None:
    route = ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-6"]
    snapshot = latencies(**{"anthropic/claude-sonnet-4-6": 0.85, "openai/gpt-4o": 1.20})
    assert rank(route, Prefer.FASTEST, snapshot) == (
        "anthropic/claude-sonnet-4-6",
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
    )


@pytest.mark.parametrize(
    ("values", "model", "expected"),
    [
        ({"openai/gpt-4o": 1.0}, "openai/gpt-4o", 1.0),
        ({"gpt-4o": 2.0}, "openai/gpt-4o", 2.0),  # bare id after the first "/"
        ({"openai/gpt-4o": 1.0, "gpt-4o": 2.0}, "openai/gpt-4o", 1.0),  # exact wins
        ({"gpt-4o": NAN, "openai/gpt-4o": NAN}, "openai/gpt-4o", None),
        ({"org/model": 3.0}, "hf/org/model", 3.0),  # only the first "/" is split
        ({"gpt-4o": 2.0}, "gpt-4o", 2.0),
        ({"gpt-4o": 2.0}, "gpt-4o-mini", None),
        ({}, "openai/gpt-4o", None),
        ({"": 1.0}, "openai/", None),  # no bare id: nothing after the "/"
    ],
)
def test_lookup_exact_then_bare_id(values, model, expected) -> None:
    assert lookup(values, model) == expected


def test_rank_falls_back_to_the_bare_id() -> None:
    snapshot = prices(**{"gpt-4o-mini": 0.75, "openai/gpt-4o": 12.5})
    assert rank(["openai/gpt-4o", "openai/gpt-4o-mini"], Prefer.CHEAPEST, snapshot) == (
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
    )


def test_bare_id() -> None:
    assert bare_id("openai/gpt-4o") == "gpt-4o"
    assert bare_id("gpt-4o") is None
    assert bare_id("a/b/c") == "b/c"


def test_empty_snapshot_is_read_only() -> None:
    with pytest.raises(TypeError):
        EMPTY_SNAPSHOT.prices["x"] = 1.0  # type: ignore[index]
