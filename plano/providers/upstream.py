"""One provider as plano calls it: its URL, auth and headers, and which dialect it speaks.

Source of the URL and auth rules: SPEC §3 (URL rule) and §7, reference/upstream-notes.md §7.
"""

from __future__ import annotations

from collections.abc import Mapping

import urllib3

from plano.config.model import ModelProvider
from plano.config.providers import Auth, ProviderKind, api_root, kind_of
from plano.providers.transport import DEFAULT_SIZING, PoolSizing, UpstreamReply, make_pool, send
from plano.routing.call import Dialect

ANTHROPIC_VERSION = "2023-06-01"
AZURE_API_VERSION = "2025-01-01-preview"

# Client headers that may go upstream; everything else (cookies, hop-by-hop, host, auth) stays.
FORWARDED_CLIENT_HEADERS = ("traceparent", "tracestate")
FORWARDED_ANTHROPIC_HEADERS = ("anthropic-version", "anthropic-beta")
# Every client header a provider call reads: the forwarded ones and the passthrough credentials.
CLIENT_HEADERS_READ = (
    *FORWARDED_CLIENT_HEADERS,
    *FORWARDED_ANTHROPIC_HEADERS,
    "authorization",
    "x-api-key",
)


class ProviderClient:
    """Sends calls to one provider entry through its own connection pool."""

    def __init__(
        self, provider: ModelProvider, call_timeout_s: float, sizing: PoolSizing = DEFAULT_SIZING
    ) -> None:
        self.provider = provider
        self._kind: ProviderKind = kind_of(provider.provider, provider.interface)
        self.dialect = Dialect.ANTHROPIC if self._kind.dialect == "anthropic" else Dialect.OPENAI
        self._timeout_s = call_timeout_s
        self._root = api_root(provider.base_url, self._kind)
        root = urllib3.util.parse_url(self._root)
        self._origin_len = len(f"{root.scheme}://{root.netloc}")
        self._pool = make_pool(self._root[: self._origin_len], sizing)
        self._static_headers = self._make_static_headers()

    def url_for(self, upstream_id: str) -> str:
        """The endpoint URL for a call to `upstream_id`."""
        if self.provider.provider == "azure_openai":
            return (
                f"{self._root}/deployments/{upstream_id}/chat/completions"
                f"?api-version={AZURE_API_VERSION}"
            )
        endpoint = "/messages" if self.dialect is Dialect.ANTHROPIC else "/chat/completions"
        return self._root + endpoint

    def send(
        self,
        upstream_id: str,
        body: bytes,
        client_headers: Mapping[str, str],
        request_id: str,
    ) -> UpstreamReply:
        """POST one call; the reply is open (the caller closes it)."""
        headers = dict(self._static_headers)
        headers["x-request-id"] = request_id
        for name in FORWARDED_CLIENT_HEADERS:
            value = client_headers.get(name)
            if value:
                headers[name] = value
        if self.dialect is Dialect.ANTHROPIC:
            for name in FORWARDED_ANTHROPIC_HEADERS:
                value = client_headers.get(name)
                if value:
                    headers[name] = value
        if self.provider.passthrough_auth:
            headers.update(self._auth_headers(_client_credential(client_headers)))
        elif self.provider.access_key:
            headers.update(self._auth_headers(self.provider.access_key))
        headers.update(self.provider.headers)
        return send(
            self._pool,
            self.url_for(upstream_id)[self._origin_len :],
            body,
            headers,
            read_timeout_s=self._timeout_s,
        )

    def _make_static_headers(self) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",
            "user-agent": "plano",
        }
        if self.dialect is Dialect.ANTHROPIC:
            headers["anthropic-version"] = ANTHROPIC_VERSION
        return headers

    def _auth_headers(self, key: str | None) -> dict[str, str]:
        if not key:
            return {}
        auth = self._kind.auth
        if auth is Auth.BEARER:
            return {"authorization": f"Bearer {key}"}
        if auth is Auth.X_API_KEY:
            return {"x-api-key": key}
        if auth is Auth.API_KEY:
            return {"api-key": key}
        return {}


def _client_credential(client_headers: Mapping[str, str]) -> str | None:
    """The client's key for passthrough_auth: `Authorization: Bearer` wins over `x-api-key`."""
    authorization = (client_headers.get("authorization") or "").strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else authorization
        if token:
            return token
    api_key = (client_headers.get("x-api-key") or "").strip()
    return api_key or None
