"""PrometheusLatencySource against a real Prometheus scraping a local exporter (check 22).

Needs /usr/bin/prometheus (Debian package `prometheus`): missing, the test fails.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from plano.config.model import LatencySource, Prefer, Settings
from plano.metrics_sources.latency import PrometheusLatencySource
from plano.metrics_sources.refresher import MetricsRefresher
from plano.routing.ranking import rank
from tests.services.prometheus import (
    PrometheusServer,
    PrometheusServerError,
    run_prometheus,
    wait_for_series,
)

from .conftest import LocalServer, Reply

EXPOSITION = b"""\
# HELP model_latency_p95_seconds p95 latency per model.
# TYPE model_latency_p95_seconds gauge
model_latency_p95_seconds{model_name="a"} 0.4
model_latency_p95_seconds{model_name="openai/gpt-4o"} 1.2
model_latency_p95_seconds{model_name="anthropic/claude-sonnet-4-6"} 0.85
model_latency_p95_seconds{model_name="broken"} NaN
model_latency_p95_seconds{other_label="no-model-name"} 0.01
"""
QUERY = "model_latency_p95_seconds"


def test_latencies_from_a_real_prometheus(local_server: LocalServer, tmp_path: Path) -> None:
    local_server.replies["/metrics"] = Reply(EXPOSITION, content_type="text/plain; version=0.0.4")
    target = local_server.url.removeprefix("http://")
    with run_prometheus([target], tmp_path) as url:
        wait_for_series(url, QUERY, count=5)
        source = PrometheusLatencySource(url, QUERY)
        try:
            latencies = source.fetch()
        finally:
            source.close()
        # the series without model_name and the NaN one are ignored
        assert latencies == {"a": 0.4, "openai/gpt-4o": 1.2, "anthropic/claude-sonnet-4-6": 0.85}

        # aggregation queries work too (one series per model_name)
        source = PrometheusLatencySource(url, f"max by (model_name) ({QUERY})")
        try:
            assert source.fetch()["a"] == 0.4
        finally:
            source.close()

        # end to end: config -> refresher -> ranking (check 17)
        settings = Settings(latency_source=LatencySource("prometheus", url, QUERY, 30))
        refresher = MetricsRefresher.from_settings(settings)
        refresher.refresh_all()
        route = ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-6"]
        assert rank(route, Prefer.FASTEST, refresher.snapshot()) == (
            "anthropic/claude-sonnet-4-6",
            "openai/gpt-4o",
            "openai/gpt-4o-mini",
        )
        assert math.isclose(refresher.age_s("latency") or 0.0, 0.0, abs_tol=1.0)


def test_a_query_prometheus_rejects_is_a_failed_fetch(local_server, tmp_path: Path) -> None:
    local_server.replies["/metrics"] = Reply(EXPOSITION, content_type="text/plain; version=0.0.4")
    with run_prometheus([local_server.url.removeprefix("http://")], tmp_path) as url:
        settings = Settings(latency_source=LatencySource("prometheus", url, "sum(( bad", 30))
        refresher = MetricsRefresher.from_settings(settings)
        assert not refresher.refresh("latency")
        assert refresher.snapshot().latencies == {}


def test_a_missing_prometheus_binary_is_a_failure(tmp_path: Path) -> None:
    server = PrometheusServer([], tmp_path, executable=str(tmp_path / "no-prometheus"))
    with pytest.raises(PrometheusServerError, match="is missing"):
        server.start()
