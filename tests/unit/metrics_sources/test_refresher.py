"""MetricsRefresher: start-up fetch, refresh on interval, last good data kept, ages, warnings.

Fetches and the clock are injected; `refresh_due()` is one loop step, so no test sleeps.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping

import pytest

from plano.config.model import CostSource, LatencySource, Prefer, Route, Settings
from plano.metrics_sources.refresher import COST, LATENCY, MetricsRefresher, SourceSpec
from plano.metrics_sources.source import MetricsSourceError
from plano.routing.ranking import EMPTY_SNAPSHOT

from .conftest import LocalServer, Reply


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedFetch:
    """Returns (or raises) the next scripted outcome; repeats the last one."""

    def __init__(self, *outcomes: Mapping[str, float] | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> Mapping[str, float]:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class RecordingMetrics:
    def __init__(self) -> None:
        self.ages: dict[str, float] = {}

    def set_source_age(self, source: str, age_s: float) -> None:
        self.ages[source] = age_s


def make(cost=None, latency=None, *, cost_every=60.0, latency_every=30.0, routes=()):
    clock = FakeClock()
    metrics = RecordingMetrics()
    specs = []
    if cost is not None:
        specs.append(SourceSpec(COST, cost, cost_every))
    if latency is not None:
        specs.append(SourceSpec(LATENCY, latency, latency_every))
    refresher = MetricsRefresher(specs, routes=routes, metrics=metrics, clock=clock)
    return refresher, clock, metrics


def test_start_up_fetch_fills_the_snapshot() -> None:
    refresher, _, metrics = make(ScriptedFetch({"a": 1.0}), ScriptedFetch({"a": 0.4}))
    assert refresher.snapshot() == EMPTY_SNAPSHOT
    refresher.refresh_all()
    assert dict(refresher.snapshot().prices) == {"a": 1.0}
    assert dict(refresher.snapshot().latencies) == {"a": 0.4}
    assert refresher.age_s(COST) == 0.0
    assert metrics.ages == {COST: 0.0, LATENCY: 0.0}


def test_refresh_only_when_the_interval_has_passed() -> None:
    cost = ScriptedFetch({"a": 1.0}, {"a": 2.0})
    latency = ScriptedFetch({"a": 0.4}, {"a": 0.5})
    refresher, clock, metrics = make(cost, latency, cost_every=60, latency_every=30)
    refresher.refresh_all()
    clock.now += 29
    assert refresher.refresh_due() == []
    assert metrics.ages == {COST: 29.0, LATENCY: 29.0}
    clock.now += 1
    assert refresher.refresh_due() == [LATENCY]
    assert dict(refresher.snapshot().latencies) == {"a": 0.5}
    assert dict(refresher.snapshot().prices) == {"a": 1.0}
    clock.now += 30
    assert refresher.refresh_due() == [COST, LATENCY]
    assert dict(refresher.snapshot().prices) == {"a": 2.0}
    assert (cost.calls, latency.calls) == (2, 3)


def test_a_failed_refresh_keeps_the_last_good_data_and_its_age_grows(caplog) -> None:
    cost = ScriptedFetch({"a": 1.0}, MetricsSourceError("catalog down"))
    refresher, clock, metrics = make(cost, cost_every=10)
    refresher.refresh_all()
    for step in (10, 20, 30):
        clock.now += 10
        with caplog.at_level(logging.WARNING):
            assert refresher.refresh_due() == [COST]
        assert dict(refresher.snapshot().prices) == {"a": 1.0}
        assert refresher.age_s(COST) == step
        assert metrics.ages[COST] == step
    assert "catalog down" in caplog.text
    assert "keeping the last good data" in caplog.text


@pytest.mark.parametrize(
    "failure", [MetricsSourceError("boom"), RuntimeError("unexpected"), {}], ids=str
)
def test_any_failure_or_empty_reply_keeps_data(failure) -> None:
    refresher, clock, _ = make(latency=ScriptedFetch({"m": 0.3}, failure), latency_every=5)
    refresher.refresh_all()
    clock.now += 5
    assert not refresher.refresh(LATENCY)
    assert dict(refresher.snapshot().latencies) == {"m": 0.3}


def test_recovery_after_failures_resets_the_age() -> None:
    cost = ScriptedFetch({"a": 1.0}, MetricsSourceError("down"), {"a": 3.0})
    refresher, clock, _ = make(cost, cost_every=10)
    refresher.refresh_all()
    clock.now += 10
    refresher.refresh_due()
    assert refresher.age_s(COST) == 10
    clock.now += 10
    refresher.refresh_due()
    assert refresher.age_s(COST) == 0
    assert dict(refresher.snapshot().prices) == {"a": 3.0}


def test_failed_start_up_leaves_no_data_and_an_infinite_age() -> None:
    refresher, _, metrics = make(ScriptedFetch(MetricsSourceError("unreachable")))
    refresher.refresh_all()
    assert refresher.snapshot().prices == {}
    assert refresher.age_s(COST) is None
    assert metrics.ages[COST] == math.inf
    assert refresher.age_s("nonexistent") is None


def test_a_source_without_interval_is_fetched_once_but_retried_until_it_answers() -> None:
    cost = ScriptedFetch(MetricsSourceError("down"), {"a": 1.0}, {"a": 9.0})
    refresher, clock, _ = make(cost, cost_every=None)
    refresher.refresh_all()
    clock.now += 59
    assert refresher.refresh_due() == []
    clock.now += 1
    assert refresher.refresh_due() == [COST]
    assert dict(refresher.snapshot().prices) == {"a": 1.0}
    clock.now += 3600
    assert refresher.refresh_due() == []
    assert cost.calls == 2


ROUTES = (
    Route("cheap", "d", ("openai/gpt-4o", "openai/gpt-4o-mini"), Prefer.CHEAPEST),
    Route("fast", "d", ("openai/gpt-4o", "anthropic/claude"), Prefer.FASTEST),
    Route("plain", "d", ("x/unknown",), Prefer.NONE),
)


def test_warnings_name_each_route_model_without_data(caplog) -> None:
    cost = ScriptedFetch({"gpt-4o": 12.5})  # the bare id matches openai/gpt-4o
    latency = ScriptedFetch({"anthropic/claude": math.nan, "openai/gpt-4o": 1.2})
    refresher, _, _ = make(cost, latency, routes=ROUTES)
    with caplog.at_level(logging.WARNING):
        refresher.refresh_all()
    expected = [
        "route 'cheap' model 'openai/gpt-4o-mini' has no price data — it will be ranked last",
        "route 'fast' model 'anthropic/claude' has no latency data — it will be ranked last",
    ]
    assert refresher.warnings_for(ROUTES) == expected
    for line in expected:
        assert line in caplog.text


def test_no_data_warns_for_every_ranked_model() -> None:
    refresher, _, _ = make()
    assert len(refresher.warnings_for(ROUTES)) == 4


def test_start_runs_the_first_fetch_in_the_background() -> None:
    cost = ScriptedFetch({"a": 1.0})
    refresher, _, _ = make(cost, cost_every=3600)
    try:
        refresher.start(wait_s=10)
        assert dict(refresher.snapshot().prices) == {"a": 1.0}
    finally:
        refresher.stop(timeout_s=5)


def test_start_without_sources_starts_nothing() -> None:
    refresher, _, _ = make()
    refresher.start()
    refresher.stop()
    assert refresher.snapshot() == EMPTY_SNAPSHOT


def test_from_settings_fetches_the_configured_catalog(local_server: LocalServer) -> None:
    models = {
        "gpt-4o": {"cost": {"input": 2.5, "output": 10}},
        "gpt-4o-mini": {"cost": {"input": 0.15, "output": 0.6}},
    }
    payload = {"openai": {"models": models}}
    local_server.replies["/api.json"] = Reply(json.dumps(payload).encode())
    result = [{"metric": {"model_name": "openai/gpt-4o"}, "value": [0, "0.4"]}]
    local_server.replies["/api/v1/query"] = Reply(json.dumps({"data": {"result": result}}).encode())
    settings = Settings(
        cost_source=CostSource("models.dev", f"{local_server.url}/api.json", 600),
        latency_source=LatencySource("prometheus", local_server.url, "latency_p95"),
    )
    metrics = RecordingMetrics()
    refresher = MetricsRefresher.from_settings(settings, metrics)
    refresher.refresh_all()
    snapshot = refresher.snapshot()
    assert snapshot.prices["openai/gpt-4o"] == 12.5
    assert snapshot.prices["gpt-4o-mini"] == pytest.approx(0.75)
    assert dict(snapshot.latencies) == {"openai/gpt-4o": 0.4}
    assert set(metrics.ages) == {COST, LATENCY}


def test_from_settings_with_no_sources_is_empty() -> None:
    refresher = MetricsRefresher.from_settings(Settings())
    refresher.refresh_all()
    assert refresher.snapshot() == EMPTY_SNAPSHOT
