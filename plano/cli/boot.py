"""Booting the WSGI app in a gunicorn worker from the environment."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

from plano.config.loader import load_settings
from plano.errors import ConfigError
from plano.observability.logging import configure_logging
from plano.observability.multiproc import ensure_multiproc_dir

if TYPE_CHECKING:
    from flask import Flask

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "conf/plano.yaml"
# gunicorn's arbiter stops (instead of respawning workers forever) on this exit code.
WORKER_BOOT_ERROR = 3
# One BLAS thread per worker: the workers already take the cores (see conf/gunicorn.conf.py).
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS",)


def config_path(environ: MutableMapping[str, str]) -> str:
    """The config file: PLANO_CONFIG, else conf/plano.yaml."""
    return environ.get("PLANO_CONFIG") or DEFAULT_CONFIG


def limit_blas_threads(environ: MutableMapping[str, str]) -> None:
    """Default the BLAS thread count to 1 (an explicit value wins); no effect once numpy loaded."""
    for name in BLAS_THREAD_VARS:
        environ.setdefault(name, "1")


def app_from_environment(environ: MutableMapping[str, str] | None = None) -> Flask:
    """Load the config named by PLANO_CONFIG and build the app; a bad config stops the server."""
    env = os.environ if environ is None else environ
    # OpenBLAS reads this once, when numpy loads: before plano.app (which imports numpy through
    # the embedded router). Covers plain `gunicorn wsgi:app`, which never reads the conf file.
    limit_blas_threads(env)
    # Before any metric object exists: prometheus_client reads this when it creates values.
    ensure_multiproc_dir(env, os.getppid())
    configure_logging(env.get("PLANO_LOG_LEVEL", "INFO"))
    path = config_path(env)
    try:
        settings = load_settings(path, env)
    except ConfigError as exc:
        print(f"plano: the config {path} is not valid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(WORKER_BOOT_ERROR) from None
    for warning in settings.warnings:
        logger.warning("%s", warning)
    from plano.app import create_app

    model_dir = env.get("PLANO_ROUTER_MODEL_DIR")
    return create_app(settings, embedded_model_dir=Path(model_dir) if model_dir else None)
