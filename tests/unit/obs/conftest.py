"""Shared fixtures: the sample request log, and a local HTTP server for price catalogs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "obs"


@pytest.fixture
def sample_log() -> Path:
    """A request log mixing records, access-log lines, malformed JSON and other JSON."""
    return DATA_DIR / "requests.log"


def _handler(body: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test output is the console's."""

    return Handler


@contextmanager
def _serving(body: bytes) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(body))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def catalog_url() -> Iterator[str]:
    """URL of a local server answering every GET with the DigitalOcean-shaped sample catalog."""
    with _serving((DATA_DIR / "do_catalog.json").read_bytes()) as base:
        yield f"{base}/v2/gen-ai/models/catalog"


@pytest.fixture
def models_dev_url() -> Iterator[str]:
    """URL of a local server answering every GET with the models.dev-shaped sample catalog."""
    with _serving((DATA_DIR / "models_dev.json").read_bytes()) as base:
        yield f"{base}/api.json"


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/catalog"
