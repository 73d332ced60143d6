"""A fake price catalog on loopback: serves one JSON document, or fails on demand.

    with FakeCatalog(do_catalog({"openai-gpt-4o": (2.5e-6, 1e-5)})) as catalog:
        ...  # a cost source with `url: {catalog.url}`
        catalog.set_payload(models_dev_catalog({"openai": {"gpt-4o": (2.5, 10.0)}}))
        catalog.fail(503)          # every GET now answers 503 (a refresh failure)
        catalog.request_count      # GETs received so far

Any GET path answers the same document. `do_catalog` and `models_dev_catalog` build the two shapes
of SPEC §5: DigitalOcean's (values in USD per token despite the field names) and models.dev's
(USD per million tokens).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler

from tests.fakes.loopback import LoopbackHTTPServer, LoopbackServer


def do_catalog(prices_per_token: Mapping[str, tuple[float, float]]) -> dict[str, object]:
    """DigitalOcean's catalog shape: `{model_id: (input, output)}` in USD per token."""
    return {
        "data": [
            {
                "model_id": model_id,
                "name": model_id,
                "pricing": {
                    "input_price_per_million": input_rate,
                    "output_price_per_million": output_rate,
                },
            }
            for model_id, (input_rate, output_rate) in prices_per_token.items()
        ]
    }


def models_dev_catalog(
    prices_per_million: Mapping[str, Mapping[str, tuple[float, float]]],
) -> dict[str, object]:
    """models.dev's shape: `{provider: {model: (input, output)}}` in USD per million tokens."""
    return {
        provider: {
            "id": provider,
            "models": {
                model: {"id": model, "cost": {"input": input_rate, "output": output_rate}}
                for model, (input_rate, output_rate) in models.items()
            },
        }
        for provider, models in prices_per_million.items()
    }


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackHTTPServer[FakeCatalog]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        status, body = self.server.fake._answer()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeCatalog(LoopbackServer):
    """A threaded HTTP server on 127.0.0.1 (port chosen by the OS) serving a catalog document."""

    server_class = LoopbackHTTPServer
    handler_class = _Handler

    def __init__(self, payload: object = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._body = json.dumps(payload if payload is not None else {}).encode()
        self._status = 200
        self._count = 0

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>/catalog.json`."""
        return f"{self.origin}/catalog.json"

    @property
    def request_count(self) -> int:
        """GETs received so far."""
        with self._lock:
            return self._count

    def set_payload(self, payload: object) -> None:
        """Serve this document with 200 from now on."""
        with self._lock:
            self._body = json.dumps(payload).encode()
            self._status = 200

    def fail(self, status: int = 503) -> None:
        """Answer every GET with `status` and an error body from now on."""
        with self._lock:
            self._status = status

    def _answer(self) -> tuple[int, bytes]:
        with self._lock:
            self._count += 1
            if self._status != 200:
                return self._status, b'{"id": "service_unavailable", "message": "down"}'
            return 200, self._body
