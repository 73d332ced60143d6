"""Building a worker's parts from the settings: provider pools, stores, routers, metrics.

Runs inside create_app, i.e. in the worker after gevent has patched it. Starts the background
metrics refresh; opens no provider connection, and only pings the session cache once to log
whether it answers (Redis down at start-up is logged, never fatal).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from plano.config.model import Route, Settings
from plano.gateway import Gateway, GatewayParts, RouteClassifier, RouterFailed
from plano.metrics_sources.refresher import MetricsRefresher
from plano.observability.metrics import Metrics
from plano.observability.request_log import RequestLog
from plano.providers.upstream import ProviderClient
from plano.router_client import RouterClient, RouterFailure
from plano.routing.call import Turn
from plano.routing.catalog import ModelCatalog
from plano.routing.router_prompt import default_budget
from plano.sessions.factory import build_session_store, check_at_start
from plano.sessions.store import SessionStore

logger = logging.getLogger(__name__)


class ModelRouter:
    """The router model over HTTP, as a RouteClassifier."""

    def __init__(self, client: RouterClient, budget_tokens: int) -> None:
        self._client = client
        self._budget = budget_tokens

    def classify(
        self, routes: Sequence[Route], turns: Sequence[Turn], request_id: str
    ) -> str | None:
        """Ask the router model; RouterFailed on any failure."""
        try:
            return self._client.classify(routes, turns, self._budget, request_id)
        except RouterFailure as failure:
            raise RouterFailed(failure.reason) from failure


class EmbeddedClassifier:
    """The in-process router, run off the gevent loop."""

    def __init__(self, routes: Sequence[Route], model_dir: Path | None) -> None:
        from plano.embedded_router.model_files import DEFAULT_MODEL_DIR
        from plano.embedded_router.router import EmbeddedRouter, RouteText

        self._route_text = RouteText
        self._router = EmbeddedRouter.load(
            [RouteText(r.name, r.description, r.examples) for r in routes],
            model_dir or DEFAULT_MODEL_DIR,
        )

    def classify(
        self, routes: Sequence[Route], turns: Sequence[Turn], request_id: str
    ) -> str | None:
        """The embedded router's pick for these routes."""
        from plano.embedded_router.offload import run_off_loop

        texts = [self._route_text(r.name, r.description, r.examples) for r in routes]
        conversation = [(t.role, t.text) for t in turns]
        result: str | None = run_off_loop(self._router.choose_for, texts, conversation)
        return result


@dataclass(slots=True)
class AppParts:
    """What create_app keeps in app.extensions["plano"]."""

    settings: Settings
    gateway: Gateway
    metrics: Metrics
    sessions: SessionStore
    refresher: MetricsRefresher

    def readiness(self) -> dict[str, object]:
        """Readiness report: ready flag, checks and degraded parts (SPEC §2, §6)."""
        checks: dict[str, str] = {"config": "loaded"}
        degraded: list[str] = []
        try:
            sessions_ok = self.sessions.ping()
        except Exception:  # noqa: BLE001 - a readiness probe reports, it never fails
            sessions_ok = False
        checks["session_cache"] = self.sessions.backend + (" ok" if sessions_ok else " degraded")
        if not sessions_ok:
            degraded.append("session_cache")
        return {
            "ready": True,
            "status": "ready",
            "checks": checks,
            "degraded": degraded,
        }


def build_parts(settings: Settings, *, embedded_model_dir: Path | None = None) -> AppParts:
    """Every per-worker object the app needs."""
    catalog = ModelCatalog(settings.providers, settings.model_aliases)
    timeout_s = settings.listener.timeout_s
    clients = {p.name: ProviderClient(p, timeout_s) for p in settings.providers}
    metrics = Metrics()
    sessions = build_session_store(settings.routing)
    check_at_start(sessions)
    refresher = MetricsRefresher.from_settings(settings, metrics)
    router, fallback = _routers(settings, embedded_model_dir)
    gateway = Gateway(
        GatewayParts(
            settings=settings,
            catalog=catalog,
            clients=clients,
            sessions=sessions,
            snapshots=refresher,
            metrics=metrics,
            request_log=RequestLog(settings.observability.request_log),
            router=router,
            fallback_router=fallback,
        )
    )
    refresher.start()
    return AppParts(settings, gateway, metrics, sessions, refresher)


def _routers(
    settings: Settings, model_dir: Path | None
) -> tuple[RouteClassifier | None, RouteClassifier | None]:
    router_model = settings.router
    if router_model is None:
        return None, None
    embedded: RouteClassifier | None = None
    wants_embedded = (
        router_model.is_embedded or settings.overrides.llm_routing_fallback == "embedded"
    )
    if wants_embedded:
        embedded = EmbeddedClassifier(settings.routes, model_dir)
    if router_model.is_embedded:
        return embedded, None
    budget = settings.overrides.orchestrator_model_context_length or default_budget(
        router_model.prompt_format
    )
    client = RouterClient(router_model, settings.overrides.llm_routing_timeout, requests.Session())
    return ModelRouter(client, budget), embedded
