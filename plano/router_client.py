"""The router model over HTTP: send the prompt, return the route it names.

The only IO around plano.routing.router_prompt. Every failure (timeout, connection error, non-2xx,
unreadable body or reply) becomes one RouterFailure with a short human reason, so the gateway can
fail open. Foreign exceptions from requests are translated here, at the boundary. Reasons never
carry headers: the router's headers may hold credentials.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import requests

from plano.config.model import Route, RouterModel
from plano.routing.call import Turn
from plano.routing.router_prompt import (
    RouterReplyError,
    build_prompt,
    default_budget,
    parse_reply,
    router_request_body,
)

CONNECT_TIMEOUT_CAP_S = 5.0  # connecting never gets more than this, whatever the read timeout


class RouterFailure(Exception):
    """The router model gave no usable answer; `reason` says why, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def prompt_for(
    router: RouterModel, routes: Sequence[Route], turns: Sequence[Turn], budget_tokens: int | None
) -> str:
    """The exact prompt `router` would be sent (budget None: the format's default)."""
    fmt = router.prompt_format
    budget = default_budget(fmt) if budget_tokens is None else budget_tokens
    return build_prompt(routes, turns, fmt, budget)


@contextmanager
def _translated(timeout_s: float) -> Iterator[None]:
    """Turn requests' exceptions into RouterFailure (`raise ... from exc`)."""
    try:
        yield
    except requests.Timeout as exc:
        raise RouterFailure(f"timeout after {float(timeout_s)}s") from exc
    except requests.ConnectionError as exc:
        raise RouterFailure(_connection_reason(exc)) from exc
    except requests.RequestException as exc:
        raise RouterFailure(f"request failed: {type(exc).__name__}") from exc


def _connection_reason(exc: requests.ConnectionError) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "reset" in text or "aborted" in text or "disconnected" in text:
        return "connection closed by the router"
    return "connection error"


class RouterClient:
    """Asks the router model which route fits a conversation, over one requests.Session."""

    def __init__(self, router: RouterModel, timeout_s: float, session: requests.Session) -> None:
        self.router = router
        self.timeout_s = timeout_s
        self.session = session

    def prompt_for(
        self, routes: Sequence[Route], turns: Sequence[Turn], budget_tokens: int | None = None
    ) -> str:
        """The exact prompt `classify` would send (for `plano route --show-prompt`)."""
        return prompt_for(self.router, routes, turns, budget_tokens)

    def classify(
        self,
        routes: Sequence[Route],
        turns: Sequence[Turn],
        budget_tokens: int | None,
        request_id: str | None = None,
    ) -> str | None:
        """The route the router names for `turns`, None for none; RouterFailure on any failure."""
        prompt = self.prompt_for(routes, turns, budget_tokens)
        content = self._ask(prompt, request_id)
        try:
            return parse_reply(content, [route.name for route in routes])
        except RouterReplyError as exc:
            raise RouterFailure(f"unparseable reply: {exc}") from exc

    def _headers(self, request_id: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        headers.update(self.router.headers)
        if request_id:
            headers["x-request-id"] = request_id
        return headers

    def _ask(self, prompt: str, request_id: str | None) -> str | None:
        """POST the prompt; the reply's `choices[0].message.content` (None: no choices/content)."""
        body = router_request_body(self.router.model_id, prompt)
        timeout = (min(CONNECT_TIMEOUT_CAP_S, self.timeout_s), self.timeout_s)
        with _translated(self.timeout_s):
            with self.session.post(
                self.router.url, json=body, headers=self._headers(request_id), timeout=timeout
            ) as response:
                if not 200 <= response.status_code < 300:
                    raise RouterFailure(f"HTTP {response.status_code}")
                try:
                    payload = response.json()
                except ValueError as exc:
                    raise RouterFailure("unparseable body: not JSON") from exc
        return _content_of(payload)


def _content_of(payload: object) -> str | None:
    """`choices[0].message.content` of a Chat Completions reply; `choices: []` is no answer."""
    if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
        raise RouterFailure("unparseable body: no choices")
    choices = payload["choices"]
    if not choices:
        return None
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise RouterFailure("unparseable body: no message")
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content
    raise RouterFailure("unparseable body: content is not a string")
