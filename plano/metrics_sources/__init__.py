"""Where ranking data comes from: cost catalogs (DigitalOcean, models.dev) and a Prometheus query.

Rules: may import the stdlib, requests, urllib3, prometheus_api_client (only
`PrometheusConnect.custom_query`; never its pandas-based helpers), plano.config.model, plano.errors
and plano.routing.ranking (the snapshot type); metrics are exported through a small protocol, not
by importing plano.observability. Foreign exceptions are translated into
`MetricsSourceError` where they come in. Every fetch is bounded (5 s connect, 30 s total). Sources
are queried only by the per-worker `MetricsRefresher`, in the background, never inside a request;
nothing here opens a socket or starts a thread at import time.
"""
