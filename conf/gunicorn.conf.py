"""gunicorn settings for plano: `gunicorn -c conf/gunicorn.conf.py wsgi:app` (`plano serve`).

Plain `gunicorn -k gevent -w N wsgi:app` works without this file (SPEC §2); it only adds tuning.
Settings given on the command line (`-b`, `-w`, …) or in GUNICORN_CMD_ARGS win over the ones here.

Environment:
  PLANO_CONFIG            the plano config (default conf/plano.yaml); read here for bind and timeout
  PLANO_WORKERS           worker processes (default 2)
  PLANO_GRACEFUL_TIMEOUT  seconds a worker may finish its calls after SIGTERM (default 30)
  PLANO_ACCESS_LOG        gunicorn access log (a path or `-`); off by default, since plano writes
                          its own per-request JSON log and nginx has one too
  PLANO_LOG_LEVEL         gunicorn's log level (default info)
  OPENBLAS_NUM_THREADS    BLAS threads per worker for the embedded router (default 1 here)

The config is validated here, in the master, before any socket is bound: a bad config prints
every problem and exits 2, so gunicorn never starts workers that would fail to boot.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plano.config.model import Settings

_DEFAULT_CONFIG = "conf/plano.yaml"

# One BLAS thread per worker: the workers already take the cores (the embedded router's
# onnxruntime session is pinned to one intra-op thread in code; numpy does the scoring).
# OpenBLAS reads this once when numpy loads, so it is set here, in the master, before any worker
# forks; workers inherit it. An explicit value in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _env_int(name: str, default: int) -> int:
    """An integer setting from the environment; exit 2 with a message when it is not one."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 1:
        print(f"plano: {name}={raw!r} must be a positive integer", file=sys.stderr)
        raise SystemExit(2)
    return value


def _load_settings() -> Settings:
    """The plano config (for the listener's bind and timeout); exit 2 on a bad config."""
    # Imported here, not at the top: the rest of this file must stay importable without plano.
    from plano.config.loader import load_settings
    from plano.errors import ConfigError

    path = os.environ.get("PLANO_CONFIG", _DEFAULT_CONFIG)
    try:
        settings = load_settings(path, os.environ)
    except ConfigError as exc:
        print(f"plano: the config {path} is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings


_settings = _load_settings()

bind = [_settings.listener.bind]
# gevent's pywsgi server, held to gunicorn's framing and keep-alive rules (plano/worker.py): about
# 0.3 ms less CPU per call than `-k gevent`, which keeps working too (SPEC §2).
worker_class = "plano.worker.PlanoWorker"
workers = _env_int("PLANO_WORKERS", 2)
# Concurrent requests per gevent worker; the providers' HTTP pools are sized to match.
worker_connections = 1000
# With gevent, `timeout` only kills a worker whose event loop is blocked (greenlets that wait on
# the network still let it heartbeat). It must exceed the longest legitimate call: the listener
# timeout bounds one upstream call.
timeout = int(_settings.listener.timeout_s) + 30
graceful_timeout = _env_int("PLANO_GRACEFUL_TIMEOUT", 30)
# Longer than nginx's upstream keepalive_timeout (1 s, conf/nginx.conf), so nginx closes idle
# connections first and never sends a request on a connection gunicorn is closing.
keepalive = 75
# Off: the app must be created in each worker *after* gevent has monkey-patched it. Preloading
# would build requests Sessions, the Redis client and the metrics refresher (and import
# prometheus_client before PROMETHEUS_MULTIPROC_DIR is final) in the master, unpatched, and share
# their sockets and locks across fork.
preload_app = False
accesslog = os.environ.get("PLANO_ACCESS_LOG") or None
loglevel = os.environ.get("PLANO_LOG_LEVEL", "info").lower()
# The heartbeat file lives in memory: on a container's overlay filesystem its fchmod can block
# long enough to get a healthy worker killed.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"


def on_starting(server: Any) -> None:
    """Master start: a fresh prometheus multiprocess dir, and the memory session cache warning."""
    from plano.config.model import SessionCacheType
    from plano.observability.multiproc import prepare_master_dir

    # Not plano.sessions.factory: it imports redis, hence ssl, in the master before gevent
    # patches the workers (gevent then warns that ssl was imported first).
    from plano.sessions.memory import memory_backend_warning

    # Wipes stale *.db files and exports PROMETHEUS_MULTIPROC_DIR before any worker is forked.
    path = prepare_master_dir(os.environ, os.getpid())
    server.log.info("plano: prometheus multiprocess dir %s", path)
    # server.cfg.workers is the effective count: `-w` and GUNICORN_CMD_ARGS win over PLANO_WORKERS.
    if _settings.routing.session_cache.type is SessionCacheType.MEMORY:
        warning = memory_backend_warning(server.cfg.workers)
        if warning is not None:
            server.log.warning("plano: %s", warning)


def child_exit(server: Any, worker: Any) -> None:
    """A worker died: drop its live-only gauges from the aggregated /metrics."""
    from plano.observability.multiproc import mark_worker_dead

    mark_worker_dead(worker.pid)
