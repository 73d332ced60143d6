"""What plano tells operators: logging, the request log and the Prometheus metrics it exports.

Rules: may import the stdlib, prometheus_client, plano.config.model and plano.errors; never flask
views, the gateway or routing. Observability code catches and logs its own failures: a metric or
log line must never fail a request. Nothing is created at import time: `Metrics` is built per app
in create_app, after PROMETHEUS_MULTIPROC_DIR has been set (see multiproc.py).
"""
