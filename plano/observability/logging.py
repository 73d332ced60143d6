"""Process-wide logging set-up for plano's own loggers (called once at boot, never at import)."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send the `plano` loggers to stderr, once; leave gunicorn's and the root's alone."""
    logger = logging.getLogger("plano")
    if any(getattr(h, "_plano", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._plano = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
