"""Per-model latency from a Prometheus instant query (SPEC §5): lower is faster.

Each series' `model_name` label names the model; series without it, or whose value is not a
number, are skipped. Queried with prometheus-api-client's `custom_query` only (its other helpers
pull in pandas).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from plano.metrics_sources.source import CONNECT_TIMEOUT_S, TOTAL_TIMEOUT_S, MetricsSourceError

logger = logging.getLogger(__name__)


@contextmanager
def _translated(url: str) -> Iterator[None]:
    """Turn prometheus-api-client's, requests' and JSON errors into MetricsSourceError."""
    try:
        yield
    except (PrometheusApiClientException, requests.RequestException) as exc:
        raise MetricsSourceError(f"prometheus {url}: {type(exc).__name__}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:  # a reply that is not the expected JSON
        raise MetricsSourceError(f"prometheus {url}: unexpected reply: {exc!r}") from exc


def parse_series(result: object) -> dict[str, float]:
    """`{model_name: value}` from an instant-vector result list; bad series are skipped."""
    if not isinstance(result, list):
        raise MetricsSourceError("prometheus: expected an instant-vector result list")
    latencies: dict[str, float] = {}
    for series in result:
        if not isinstance(series, dict):
            continue
        labels = series.get("metric")
        value = series.get("value")
        name = labels.get("model_name") if isinstance(labels, dict) else None
        if not isinstance(name, str) or not name:
            continue
        if not isinstance(value, list | tuple) or len(value) != 2:
            continue
        try:
            number = float(value[1])
        except (TypeError, ValueError):
            continue
        if math.isnan(number):
            continue  # ranked as "no data" anyway
        latencies[name] = number
    return latencies


class PrometheusLatencySource:
    """One PromQL query against one Prometheus server."""

    def __init__(self, url: str, query: str, *, total_timeout_s: float = TOTAL_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.query = query
        # No retries inside a fetch: the refresher tries again at its next interval.
        self._client = PrometheusConnect(
            url=self.url,
            retry=Retry(total=0, raise_on_status=False),
            timeout=(CONNECT_TIMEOUT_S, total_timeout_s),
        )

    def fetch(self) -> dict[str, float]:
        """Run the query now; MetricsSourceError when Prometheus cannot answer it."""
        with _translated(self.url):
            result = self._client.custom_query(self.query)
        return parse_series(result)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()
