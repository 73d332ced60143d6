"""In-process preference router: picks a route from a conversation with a small sentence encoder.

Rules: serves on CPU with numpy, onnxruntime and the `tokenizers` package only (no torch, no
network at request time). It may import the stdlib, numpy, onnxruntime, tokenizers, gevent
(offload.py only, lazily) and `onnx` (graph.py only, which builds the graph at install time and
is imported lazily, so serving never loads it); it must not import flask, requests, redis or
other plano packages except `plano.errors`. Weights are loaded when `SentenceEncoder.load` or
`EmbeddedRouter.load` is called, never at import time; `plano install-router-model` puts them on
disk and builds the onnxruntime graph and the gloss lexicon (FreeDict dictionaries, fetched over
HTTPS from deb.debian.org with pinned sha256; never vendored) next to them.
"""

from __future__ import annotations

from plano.embedded_router.encoder import SentenceEncoder
from plano.embedded_router.gloss import Glosser
from plano.embedded_router.model_files import (
    DEFAULT_MODEL_DIR,
    RouterModelMissing,
    install_model,
    load_lexicon,
)
from plano.embedded_router.offload import run_off_loop
from plano.embedded_router.router import EmbeddedRouter, RouterParams, RouteText

__all__ = [
    "DEFAULT_MODEL_DIR",
    "EmbeddedRouter",
    "Glosser",
    "RouteText",
    "RouterModelMissing",
    "RouterParams",
    "SentenceEncoder",
    "install_model",
    "load_lexicon",
    "run_off_loop",
]
