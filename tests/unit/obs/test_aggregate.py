"""Aggregation: totals, error split, percentiles, route share, the window, late prices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plano.metrics_sources.pricing import Price
from plano.obs.aggregate import NONE_KEY, Aggregator, percentile
from plano.obs.cost import TokenCounts
from plano.obs.record import RequestRecord, parse_line

PRICES = {
    "gpt-4o": Price(2.5, 10.0, 1.25),
    "claude-sonnet-4-6": Price(3.0, 15.0, 0.3),
}


def _record(n: int, **fields: object) -> RequestRecord:
    line = {
        "time": f"2026-11-24T21:40:{n % 60:02d}.000Z",
        "request_id": f"r{n}",
        "endpoint": "chat_completions",
        "model": "openai/gpt-4o",
        "route": None,
        "status": 200,
        "latency_ms": float(n),
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "cached_tokens": 0,
        **fields,
    }
    record = parse_line(json.dumps(line))
    assert record is not None
    return record


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, None),
        ([7.0], 95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([4.0, 3.0, 2.0, 1.0], 95, 4.0),
        ([float(v) for v in range(1, 101)], 95, 95.0),
        ([float(v) for v in range(1, 101)], 50, 50.0),
        ([float(v) for v in range(1, 21)], 95, 19.0),
        ([5.0, 1.0], 0, 1.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], pct: float, expected: float | None) -> None:
    assert percentile(values, pct) == expected


def test_sample_log_totals(sample_log: Path) -> None:
    aggregator = Aggregator()
    kept = [aggregator.add_line(line) for line in sample_log.read_bytes().splitlines()]
    assert kept.count(True) == 6 and kept.count(False) == 4
    summary = aggregator.snapshot(PRICES).summary
    assert (summary.requests, summary.decisions) == (6, 1)
    assert (summary.errors_4xx, summary.errors_5xx, summary.errors) == (1, 1, 2)
    assert summary.tokens == TokenCounts(3300, 400, 1550)
    # gpt-4o 0.007 + claude 0.021; gpt-4o-mini is unpriced; the 404 and 502 carried no tokens.
    assert summary.total_cost == pytest.approx(0.028)
    assert summary.unpriced_requests == 1
    assert summary.latest is not None and summary.latest.request_id == "req-6"


def test_per_model_rows(sample_log: Path) -> None:
    aggregator = Aggregator()
    for line in sample_log.read_text().splitlines():
        aggregator.add_line(line)
    rows = {row.model: row for row in aggregator.snapshot(PRICES).models}
    # Sorted by cost: claude, gpt-4o, then the unpriced ones by requests and name.
    assert list(rows) == [
        "anthropic/claude-sonnet-4-6",
        "openai/gpt-4o",
        "nope",
        "openai/gpt-4o-mini",
    ]
    gpt = rows["openai/gpt-4o"]
    assert gpt.requests == 2 and gpt.tokens == TokenCounts(1000, 400, 500)
    assert (gpt.p50_ms, gpt.p95_ms) == (800.0, 3000.0)
    assert gpt.cost == pytest.approx(0.007)
    # The decision-API line is not a served request of the model.
    assert rows["anthropic/claude-sonnet-4-6"].requests == 1
    assert rows["openai/gpt-4o-mini"].cost is None


def test_route_share_counts_decisions_and_errors(sample_log: Path) -> None:
    aggregator = Aggregator()
    for line in sample_log.read_text().splitlines():
        aggregator.add_line(line)
    rows = {row.route: row for row in aggregator.snapshot(PRICES).routes}
    assert list(rows) == ["(none)", "code_generation", "complex_reasoning"]
    assert rows["code_generation"].hits == 2
    assert rows["code_generation"].share == pytest.approx(2 / 6)
    assert rows["code_generation"].p95_ms == 1500.0
    assert rows["complex_reasoning"].errors == 1
    assert rows[NONE_KEY].errors == 1
    assert sum(row.share for row in rows.values()) == pytest.approx(1.0)


def test_window_bounds_percentiles_and_recent_but_not_totals() -> None:
    aggregator = Aggregator(window=10)
    for n in range(1, 101):
        aggregator.add(_record(n, status=500 if n % 10 == 0 else 200))
    snapshot = aggregator.snapshot(PRICES, recent=3)
    assert snapshot.summary.requests == 100
    assert snapshot.summary.errors_5xx == 10
    (row,) = snapshot.models
    assert row.requests == 100 and row.tokens == TokenCounts(10000, 0, 1000)
    assert (row.p50_ms, row.p95_ms) == (95.0, 100.0)  # only 91..100 are in the window
    assert [r.record.request_id for r in snapshot.recent] == ["r100", "r99", "r98"]
    assert snapshot.recent[0].cost == pytest.approx((100 * 2.5 + 10 * 10.0) / 1e6)


def test_prices_arriving_late_price_everything_seen() -> None:
    aggregator = Aggregator()
    aggregator.add(_record(1))
    before = aggregator.snapshot({})
    assert before.summary.total_cost is None and before.summary.unpriced_requests == 1
    assert before.models[0].cost is None and before.recent[0].cost is None
    after = aggregator.snapshot(PRICES)
    assert after.summary.total_cost == pytest.approx(0.00035)
    assert after.summary.unpriced_requests == 0


def test_no_requests_and_only_tokenless_requests() -> None:
    empty = Aggregator().snapshot(PRICES)
    assert empty.summary.requests == 0 and empty.summary.total_cost == 0.0
    assert empty.models == () and empty.routes == () and empty.recent == ()
    aggregator = Aggregator()
    aggregator.add(_record(1, endpoint="routing", route="r", model="unknown/x"))
    summary = aggregator.snapshot({}).summary
    assert summary.total_cost == 0.0 and summary.unpriced_requests == 0


def test_window_must_hold_a_record() -> None:
    with pytest.raises(ValueError):
        Aggregator(window=0)
