"""Gateway: one call end to end — decide, forward with fallback, record. IO only through parts.

The views hand over a typed ChatCall plus the raw body; the gateway asks the session store and
the router, calls `routing.decide`, tries the candidates in order through the provider clients,
and returns bytes (or a stream of bytes) in the client's dialect.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

from plano.config.model import Route, Settings
from plano.errors import PlanoError, UpstreamError, UpstreamTimeout
from plano.observability.metrics import Metrics
from plano.observability.request_log import RequestLog
from plano.providers.transport import UpstreamReply, raise_for_status
from plano.providers.upstream import ProviderClient
from plano.routing import decision as routing
from plano.routing.affinity import (
    SessionBinding,
    implicit_session_key,
    is_continuation,
    session_key,
)
from plano.routing.call import ChatCall, Dialect, Turn
from plano.routing.catalog import ModelCatalog, ResolvedModel
from plano.routing.ranking import MetricsSnapshot
from plano.routing.retry import Failure, should_fall_back
from plano.sessions.store import SessionStore, SessionStoreError
from plano.translation.errors import (
    anthropic_stream_error,
    error_body,
    openai_stream_error,
    translate_error_body,
)
from plano.translation.requests import to_anthropic_request, to_openai_request
from plano.translation.responses import Usage, to_anthropic_response, to_openai_response, usage_of
from plano.translation.sse import SseDecoder, dumps
from plano.translation.streams import StreamConverter, convert_chunks, stream_converter

logger = logging.getLogger(__name__)

JSON = "application/json"
SSE = "text/event-stream"
SSE_UTF8 = "text/event-stream; charset=utf-8"  # what plano's streams are sent as
REDACTED = b"[redacted]"
MIN_REDACTED_KEY = 8


class RouteClassifier(Protocol):
    """Something that names the route for a conversation (the router model, or embedded)."""

    def classify(
        self, routes: Sequence[Route], turns: Sequence[Turn], request_id: str
    ) -> str | None:
        """The matched route's name, or None; raises RouterFailure-like errors on failure."""


class RouterFailed(Exception):
    """A classifier failed; `reason` is short and safe to log and to send in a header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SnapshotSource(Protocol):
    """Where the current prices and latencies come from (refreshed in the background)."""

    def snapshot(self) -> MetricsSnapshot:
        """The current snapshot."""


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the view knows about the HTTP request beyond the body."""

    request_id: str
    endpoint: str  # chat_completions | messages | routing
    headers: Mapping[str, str]  # the client headers a provider call reads, lower-case names
    started: float  # time.perf_counter() at arrival


@dataclass(slots=True)
class Reply:
    """What the view sends back: a whole body or a stream of bytes."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    content_type: str = JSON
    #: Work for after the body has gone out (the request-log line of a whole reply): the view
    #: hands it to the server, which runs it when it closes the response.
    after_sent: Callable[[], None] | None = None


@dataclass(slots=True)
class Outcome:
    """The decision plus what happened around it, for headers, replies and the request log."""

    decision: routing.RouteDecision
    session_id: str | None = None
    router_error: str | None = None


@dataclass(slots=True)
class _Attempt:
    """Book-keeping of one proxied call, filled as it goes."""

    outcome: Outcome
    context: RequestContext
    call: ChatCall
    attempts: int = 0
    model: str | None = None
    status: int = 0
    ttft_s: float | None = None
    usage: Usage | None = None
    error: str | None = None
    include_usage: bool = False  # an OpenAI client asked for the usage chunk of a stream


@dataclass(frozen=True, slots=True)
class GatewayParts:
    """Everything the gateway talks to, built once per worker by create_app."""

    settings: Settings
    catalog: ModelCatalog
    clients: Mapping[str, ProviderClient]  # provider entry name -> client
    sessions: SessionStore
    snapshots: SnapshotSource
    metrics: Metrics
    request_log: RequestLog
    router: RouteClassifier | None = None
    fallback_router: RouteClassifier | None = None
    clock: Callable[[], float] = time.perf_counter


class Gateway:
    """Handles one call end to end."""

    def __init__(self, parts: GatewayParts) -> None:
        self._p = parts
        self._settings = parts.settings
        self._secrets = _access_keys(parts.settings)
        # Whether the last session-cache call failed: an outage is logged when it starts and
        # when it ends, not once per request (the error counter has every occurrence).
        self._sessions_down = False

    # ----------------------------------------------------------------- deciding

    def decide(self, call: ChatCall, context: RequestContext, *, decision_only: bool) -> Outcome:
        """Pick the ranked candidates for `call` (SPEC §4, §6)."""
        settings = self._settings
        the_plan = routing.plan(
            call,
            self._p.catalog,
            settings.routes,
            classify_all=settings.routing.classify_all_requests,
            decision_only=decision_only,
        )
        snapshot = self._p.snapshots.snapshot()
        explicit_key = session_key(call.affinity_id, call.tenant)
        key = explicit_key
        implicit = False
        if key is None and settings.routing.route_on_user_only and the_plan.routes:
            key, implicit = implicit_session_key(call), True
        if key is not None and the_plan.ask_router:
            binding = self._session_get(key)
            if binding is not None and (not implicit or is_continuation(call.turns)):
                pinned = routing.decide_pinned(the_plan, binding, self._p.catalog, snapshot)
                if pinned is not None:
                    self._p.metrics.observe_router(pinned.route or "none", "pinned", 0.0)
                    return Outcome(pinned, session_id=call.affinity_id)
        route_name, router_error = (None, None)
        if the_plan.ask_router:
            route_name, router_error = self._classify(the_plan.routes, call.turns, context)
        decision = routing.decide(the_plan, route_name, snapshot)
        if key is not None and the_plan.ask_router and decision.candidates:
            decision = self._bind(key, implicit, decision, the_plan, snapshot)
        return Outcome(decision, session_id=call.affinity_id, router_error=router_error)

    def _classify(
        self, routes: Sequence[Route], turns: Sequence[Turn], context: RequestContext
    ) -> tuple[str | None, str | None]:
        router = self._p.router
        if router is None:
            return None, None
        started = self._p.clock()
        try:
            name = router.classify(routes, turns, context.request_id)
        except RouterFailed as failure:
            self._p.metrics.observe_router("none", "error", self._p.clock() - started)
            logger.warning(
                "router model failed (%s); request %s served without a route match",
                failure.reason,
                context.request_id,
            )
            fallback = self._p.fallback_router
            if fallback is None:
                return None, failure.reason
            try:
                return fallback.classify(routes, turns, context.request_id), failure.reason
            except RouterFailed as second:
                logger.warning("embedded router failed too: %s", second.reason)
                return None, failure.reason
        outcome = "matched" if name is not None else "no_route"
        self._p.metrics.observe_router(name or "none", outcome, self._p.clock() - started)
        return name, None

    def _session_get(self, key: str) -> SessionBinding | None:
        backend = self._p.sessions.backend
        try:
            binding = self._p.sessions.get(key)
        except SessionStoreError as exc:
            self._session_failed(exc)
            return None
        self._session_answered()
        self._p.metrics.observe_session(backend, "hit" if binding else "miss")
        return binding

    def _session_failed(self, exc: SessionStoreError) -> None:
        backend = self._p.sessions.backend
        self._p.metrics.observe_session(backend, "error")
        if not self._sessions_down:
            self._sessions_down = True
            logger.warning(
                "session cache %s unavailable, serving without affinity until it answers: %s",
                backend,
                exc,
            )

    def _session_answered(self) -> None:
        if self._sessions_down:
            self._sessions_down = False
            logger.warning(
                "session cache %s answers again: affinity resumed", self._p.sessions.backend
            )

    def _bind(
        self,
        key: str,
        implicit: bool,
        decision: routing.RouteDecision,
        the_plan: routing.Plan,
        snapshot: MetricsSnapshot,
    ) -> routing.RouteDecision:
        store = self._p.sessions
        wanted = SessionBinding(decision.candidates[0], decision.route)
        ttl = self._settings.routing.session_ttl_seconds
        try:
            if implicit:
                store.put(key, wanted, ttl)
                winner = wanted
            else:
                winner = store.put_if_absent(key, wanted, ttl)
        except SessionStoreError as exc:
            self._session_failed(exc)
            return decision
        self._session_answered()
        self._p.metrics.observe_session(store.backend, "store")
        if winner == wanted:
            return decision
        # Another worker or replica bound this session first: follow its choice (SPEC §6).
        pinned = routing.decide_pinned(the_plan, winner, self._p.catalog, snapshot)
        return replace(pinned, pinned=False) if pinned is not None else decision

    # --------------------------------------------------------------- forwarding

    def proxy(self, call: ChatCall, body: dict[str, object], context: RequestContext) -> Reply:
        """Decide, then forward to the candidates in order until one answers (SPEC §4)."""
        outcome = self.decide(call, context, decision_only=False)
        attempt = _Attempt(outcome, context, call, include_usage=_wants_stream_usage(body))
        last_error: UpstreamError | None = None
        for canonical in outcome.decision.candidates:
            resolved = self._p.catalog.lookup(canonical)
            if resolved is None:
                continue
            attempt.attempts += 1
            attempt.model = canonical
            try:
                reply = self._forward(resolved, call, body, attempt)
            except UpstreamError as exc:
                self._scrub(exc)
                last_error = exc
                failure = (
                    Failure.TIMEOUT
                    if isinstance(exc, UpstreamTimeout)
                    else Failure.STATUS
                    if exc.body is not None
                    else Failure.CONNECT
                )
                self._p.metrics.observe_llm(canonical, exc.status, None, None, None)
                logger.info(
                    "request %s: %s failed (%s)", context.request_id, canonical, exc.message
                )
                if should_fall_back(failure, exc.status, bytes_sent=False):
                    continue
                break
            return reply
        if last_error is None:
            last_error = UpstreamError("no declared candidate could serve the call")
        return self._error_reply(last_error, attempt)

    def _forward(
        self,
        resolved: ResolvedModel,
        call: ChatCall,
        body: dict[str, object],
        attempt: _Attempt,
    ) -> Reply:
        client = self._p.clients[resolved.provider.name]
        if client.dialect is Dialect.OPENAI:
            upstream_body = to_openai_request(body, call.dialect, resolved.upstream_id)
        else:
            upstream_body = to_anthropic_request(body, call.dialect, resolved.upstream_id)
        payload = _dumps(upstream_body)
        sent_at = self._p.clock()
        reply = client.send(
            resolved.upstream_id, payload, attempt.context.headers, attempt.context.request_id
        )
        try:
            raise_for_status(reply)
            if call.stream and reply.content_type.startswith(SSE):
                return self._start_stream(reply, client.dialect, resolved, attempt, sent_at)
            data = reply.read()
        except BaseException:
            reply.close()
            raise
        return self._whole_reply(data, client.dialect, resolved, attempt, sent_at)

    def _whole_reply(
        self,
        data: bytes,
        upstream: Dialect,
        resolved: ResolvedModel,
        attempt: _Attempt,
        sent_at: float,
    ) -> Reply:
        call = attempt.call
        try:
            parsed = json.loads(data)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise UpstreamError("the provider answered a body that is not JSON") from exc
        if upstream is call.dialect:
            out = data
        elif call.dialect is Dialect.OPENAI:
            out = _dumps(to_openai_response(parsed, upstream, resolved.upstream_id))
        else:
            out = _dumps(to_anthropic_response(parsed, upstream, resolved.upstream_id))
        latency = self._p.clock() - sent_at
        attempt.usage = usage_of(parsed, upstream)
        attempt.status = 200
        self._p.metrics.observe_llm(resolved.canonical, 200, latency, None, attempt.usage)
        headers = self._reply_headers(attempt)
        # The request-log line goes out after the body, as a stream's does: its write (about
        # 45 µs) is then off the client's wait. Metrics stay before: a scrape right after a
        # reply must count it.
        return Reply(200, headers, out, after_sent=partial(self._log, attempt))

    def _start_stream(
        self,
        reply: UpstreamReply,
        upstream: Dialect,
        resolved: ResolvedModel,
        attempt: _Attempt,
        sent_at: float,
    ) -> Reply:
        call = attempt.call
        include_usage = call.dialect is Dialect.OPENAI and attempt.include_usage
        converter = stream_converter(call.dialect, upstream, resolved.upstream_id, include_usage)
        decoder = SseDecoder()
        chunks = reply.iter_bytes()
        # Read up to the first event before committing, so a provider that fails before its
        # first byte still lets the call fall back to the next candidate.
        first_out: list[bytes] = []
        for chunk in chunks:
            for event in decoder.feed(chunk):
                first_out.extend(converter.feed(event))
            if first_out:
                break
        else:  # the stream ended before any output: a cut stream still falls back here
            for event in decoder.flush():
                first_out.extend(converter.feed(event))
            first_out.extend(converter.finish())
        attempt.ttft_s = self._p.clock() - sent_at
        attempt.status = 200
        headers = self._reply_headers(attempt)
        headers["cache-control"] = "no-cache"
        headers["x-accel-buffering"] = "no"
        return Reply(
            200,
            headers,
            stream=self._relay(
                reply, chunks, decoder, converter, first_out, resolved, attempt, sent_at
            ),
            content_type=SSE_UTF8,
        )

    def _relay(
        self,
        reply: UpstreamReply,
        chunks: Iterator[bytes],
        decoder: SseDecoder,
        converter: StreamConverter,
        first_out: list[bytes],
        resolved: ResolvedModel,
        attempt: _Attempt,
        sent_at: float,
    ) -> Iterator[bytes]:
        completed = False
        try:
            yield b"".join(first_out)
            yield from convert_chunks(chunks, decoder, converter)
            completed = True
        except PlanoError as exc:
            attempt.error = exc.code
            attempt.status = exc.status
            self._scrub(exc)
            logger.warning(
                "request %s: stream from %s failed after the first byte: %s",
                attempt.context.request_id,
                resolved.canonical,
                exc.message,
            )
            yield _stream_error(attempt.call.dialect, exc)
        finally:
            reply.close()
            attempt.usage = converter.usage
            status = attempt.status if not completed else 200
            self._p.metrics.observe_llm(
                resolved.canonical,
                status,
                self._p.clock() - sent_at,
                attempt.ttft_s,
                attempt.usage,
            )
            self._log(attempt)

    # ------------------------------------------------------------------ replies

    def _scrub(self, error: PlanoError) -> None:
        """Redact access keys from an error's message: a provider's may echo a key."""
        error.message = _redact(error.message.encode(), self._secrets).decode()

    def _error_reply(self, error: UpstreamError, attempt: _Attempt) -> Reply:
        dialect = attempt.call.dialect
        attempt.status = error.status
        attempt.error = error.code
        if error.body:
            upstream_body = _redact(error.body, self._secrets)
            body = translate_error_body(upstream_body, dialect, error.status)
        else:
            body = error_body(
                dialect,
                error.status,
                error.message,
                code=error.code,
                type_=_error_type(error, dialect),
            )
        headers = self._reply_headers(attempt)
        if error.retry_after:
            headers["retry-after"] = error.retry_after
        self._log(attempt)
        return Reply(error.status, headers, body)

    def _reply_headers(self, attempt: _Attempt) -> dict[str, str]:
        headers = {
            "x-request-id": attempt.context.request_id,
            "x-plano-attempts": str(attempt.attempts),
        }
        if attempt.model:
            headers["x-plano-model"] = attempt.model
        decision = attempt.outcome.decision
        if decision.route:
            headers["x-plano-route"] = decision.route
        if attempt.outcome.router_error:
            headers["x-plano-route-error"] = _header_safe(attempt.outcome.router_error)
        return headers

    def _log(self, attempt: _Attempt) -> None:
        decision = attempt.outcome.decision
        usage = attempt.usage
        context = attempt.context
        self._p.request_log.write(
            request_id=context.request_id,
            dialect=attempt.call.dialect.value,
            endpoint=context.endpoint,
            requested_model=decision.requested,
            alias_target=decision.alias_target,
            route=decision.route,
            model=attempt.model,
            attempts=attempt.attempts,
            status=attempt.status,
            latency_ms=(self._p.clock() - context.started) * 1000.0,
            ttft_ms=None if attempt.ttft_s is None else attempt.ttft_s * 1000.0,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            cached_tokens=usage.cached_tokens if usage else None,
            session_id=attempt.outcome.session_id,
            pinned=decision.pinned,
            stream=attempt.call.stream,
            error=attempt.error,
        )

    def log_refused(
        self,
        dialect: Dialect,
        call: ChatCall | None,
        context: RequestContext,
        error: PlanoError,
    ) -> None:
        """The line of a call refused before any provider was tried (bad body, unknown model…).

        `call` is None when the body could not even be read as a call.
        """
        self._p.request_log.write(
            request_id=context.request_id,
            dialect=dialect.value,
            endpoint=context.endpoint,
            requested_model=call.model if call else None,
            alias_target=None,
            route=None,
            model=None,
            attempts=0,
            status=error.status,
            latency_ms=(self._p.clock() - context.started) * 1000.0,
            ttft_ms=None,
            prompt_tokens=None,
            completion_tokens=None,
            cached_tokens=None,
            session_id=call.affinity_id if call else None,
            pinned=False,
            stream=call.stream if call else False,
            error=error.code,
        )

    def log_decision(self, call: ChatCall, outcome: Outcome, context: RequestContext) -> None:
        """One request-log line for a decision-API call."""
        attempt = _Attempt(outcome, context, call, status=200)
        attempt.model = outcome.decision.candidates[0] if outcome.decision.candidates else None
        self._log(attempt)


def _access_keys(settings: Settings) -> set[str]:
    """The configured provider keys worth redacting (very short ones would mangle text)."""
    return {
        p.access_key
        for p in settings.providers
        if p.access_key and len(p.access_key) >= MIN_REDACTED_KEY
    }


def _redact(body: bytes, secrets: set[str]) -> bytes:
    """`body` with every access key replaced: providers echo a bad key in their 401 message."""
    for secret in secrets:
        for form in {secret, json.dumps(secret)[1:-1]}:
            body = body.replace(form.encode(), REDACTED)
    return body


def _dumps(value: object) -> bytes:
    return dumps(value).encode()


def _wants_stream_usage(body: Mapping[str, object]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _stream_error(dialect: Dialect, exc: PlanoError) -> bytes:
    if dialect is Dialect.OPENAI:
        return openai_stream_error(exc.message, exc.openai_type, exc.code)
    return anthropic_stream_error(exc.anthropic_type, exc.message)


def _error_type(error: PlanoError, dialect: Dialect) -> str:
    return error.openai_type if dialect is Dialect.OPENAI else error.anthropic_type


def _header_safe(text: str) -> str:
    cleaned = "".join(ch if 0x20 <= ord(ch) < 0x7F else " " for ch in text)
    return cleaned[:200]
