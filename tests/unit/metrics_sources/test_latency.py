"""The Prometheus latency source against a fake /api/v1/query: parsing and error translation."""

from __future__ import annotations

import json
import math
import socket

import pytest

from plano.metrics_sources.latency import PrometheusLatencySource, parse_series
from plano.metrics_sources.source import MetricsSourceError

from .conftest import LocalServer, Reply


def series(value: object, **labels: str) -> dict[str, object]:
    return {"metric": labels, "value": [1700000000.0, value]}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([series("0.4", model_name="a"), series("1.2", model_name="b")], {"a": 0.4, "b": 1.2}),
        # check 22: a series without the model_name label is ignored, the others used
        ([series("0.4", job="x"), series("0.9", model_name="b")], {"b": 0.9}),
        # non-numbers skipped; NaN means no data
        ([series("fast", model_name="a"), series(None, model_name="b"),
          series("NaN", model_name="c"), series("+Inf", model_name="d")], {"d": math.inf}),
        # malformed series skipped
        (["junk", {"metric": {"model_name": "a"}}, {"metric": None, "value": [0, "1"]},
          {"metric": {"model_name": "a"}, "value": [0]}], {}),
        ([series("2", model_name="")], {}),
        ([], {}),
    ],
)  # fmt: skip
def test_parse_series(result, expected) -> None:
    assert parse_series(result) == expected


def test_parse_series_rejects_a_non_list() -> None:
    with pytest.raises(MetricsSourceError):
        parse_series({"resultType": "matrix"})


def _reply(result: object) -> Reply:
    body = {"status": "success", "data": {"resultType": "vector", "result": result}}
    return Reply(json.dumps(body).encode())


def test_fetch_queries_the_instant_api(local_server: LocalServer) -> None:
    local_server.replies["/api/v1/query"] = _reply(
        [series("0.4", model_name="openai/gpt-4o"), series("1", instance="x")]
    )
    source = PrometheusLatencySource(local_server.url + "/", "model_latency_p95_seconds")
    try:
        assert source.fetch() == {"openai/gpt-4o": 0.4}
    finally:
        source.close()
    assert local_server.requests == ["/api/v1/query?query=model_latency_p95_seconds"]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(b'{"status":"error"}', status=400), "HTTP Status Code 400"),
        (Reply(b"oops", status=503), "HTTP Status Code 503"),
        (Reply(b"not json"), "JSONDecodeError"),
        (Reply(b'{"status": "success"}'), "unexpected reply"),
        (Reply(b'{"data": {"result": {"a": 1}}}'), "instant-vector"),
    ],
)
def test_fetch_failures_become_metrics_source_errors(local_server, reply, message) -> None:
    local_server.replies["/api/v1/query"] = reply
    source = PrometheusLatencySource(local_server.url, "q")
    try:
        with pytest.raises(MetricsSourceError, match=message):
            source.fetch()
    finally:
        source.close()


def test_fetch_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = PrometheusLatencySource(f"http://127.0.0.1:{port}", "q")
    try:
        with pytest.raises(MetricsSourceError, match="prometheus"):
            source.fetch()
    finally:
        source.close()


def test_a_stalled_reply_times_out(local_server) -> None:
    local_server.replies["/api/v1/query"] = Reply(b"{}", delay_before_body_s=3)
    source = PrometheusLatencySource(local_server.url, "q", total_timeout_s=0.3)
    try:
        with pytest.raises(MetricsSourceError):
            source.fetch()
    finally:
        source.close()
