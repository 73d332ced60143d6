"""What every metrics source shares: its error and its fetch bounds."""

from __future__ import annotations

from plano.errors import PlanoError

CONNECT_TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 30.0


class MetricsSourceError(PlanoError):
    """A cost catalog or latency source could not be fetched or parsed (never reaches HTTP)."""

    code = "metrics_source_error"
