"""Picking the model for one call (SPEC §4): pure, so every rule is a table test.

The gateway does the IO around it in two steps: `plan` says whether the router model must be
asked (and which session key applies); `decide` turns the plan, the router's answer, the stored
session binding and the metrics snapshot into a ranked candidate list.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from plano.config.model import Route
from plano.errors import InvalidRequest, UnknownModel
from plano.routing.affinity import SessionBinding, pin_candidates
from plano.routing.call import ChatCall
from plano.routing.catalog import ModelCatalog, ResolvedModel
from plano.routing.ranking import MetricsSnapshot, rank


class Reason(enum.Enum):
    """Why the candidates are what they are."""

    NAMED = "named_model"  # the client named a model (or an alias)
    ROUTED = "routed"  # the router matched a route
    NO_MATCH = "no_route_matched"  # routes exist, none matched: the fallback model
    DEFAULT = "default_model"  # no model named, no routes: the default provider
    PINNED = "pinned"  # a warm session binding


@dataclass(frozen=True, slots=True)
class Plan:
    """What is known before any IO: the named model, the routes, whether to ask the router."""

    requested: str | None
    alias_target: str | None
    target: ResolvedModel | None  # the named model after alias resolution, when declared
    fallback: str | None  # canonical id served when no route matches
    routes: tuple[Route, ...]
    ask_router: bool


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The outcome: ranked candidates (canonical ids), the route, and why."""

    candidates: tuple[str, ...]
    route: str | None
    reason: Reason
    requested: str | None
    alias_target: str | None
    pinned: bool = False


def plan(
    call: ChatCall,
    catalog: ModelCatalog,
    config_routes: Sequence[Route],
    *,
    classify_all: bool,
    decision_only: bool,
) -> Plan:
    """Resolve the named model and decide whether the router model must be asked."""
    requested = call.model or None
    alias_target = catalog.alias_target(requested) if requested else None
    named = alias_target or requested
    target = catalog.lookup(named) if named else None
    if named and target is None and not decision_only:
        raise UnknownModel(f"The model `{named}` does not exist", param="model")
    routes = tuple(config_routes) if call.routes is None else call.routes
    if target is not None:
        fallback: str | None = target.canonical
    elif named:
        fallback = named  # decision API only: echo the unknown name as the fallback
    else:
        default = next((m for m in catalog.declared if m.provider.default), None)
        fallback = default.canonical if default else None
    ask = bool(routes) and (named is None or classify_all or decision_only)
    return Plan(requested, alias_target, target, fallback, routes, ask)


def decide(
    the_plan: Plan,
    router_route: str | None,
    snapshot: MetricsSnapshot,
) -> RouteDecision:
    """Candidates from the router's answer (a route name or None) and the ranking snapshot."""
    route = _route_named(the_plan.routes, router_route) if the_plan.ask_router else None
    if route is not None:
        return RouteDecision(
            rank(route.models, route.prefer, snapshot),
            route.name,
            Reason.ROUTED,
            the_plan.requested,
            the_plan.alias_target,
        )
    if the_plan.fallback is None:
        raise InvalidRequest(
            "No model was named, no route matched and no default provider is configured",
            param="model",
        )
    if the_plan.target is not None and not the_plan.ask_router:
        reason = Reason.NAMED
    elif the_plan.ask_router:
        reason = Reason.NO_MATCH
    else:
        reason = Reason.DEFAULT
    return RouteDecision(
        (the_plan.fallback,), None, reason, the_plan.requested, the_plan.alias_target
    )


def decide_pinned(
    the_plan: Plan,
    binding: SessionBinding,
    catalog: ModelCatalog,
    snapshot: MetricsSnapshot,
) -> RouteDecision | None:
    """The decision a warm session binding gives, or None when the binding no longer applies."""
    route = _route_named(the_plan.routes, binding.route_name)
    ranked = rank(route.models, route.prefer, snapshot) if route is not None else ()
    declared = {m.canonical for m in catalog.declared}
    candidates = pin_candidates(binding, ranked, declared)
    if candidates is None:
        return None
    return RouteDecision(
        candidates,
        binding.route_name,
        Reason.PINNED,
        the_plan.requested,
        the_plan.alias_target,
        pinned=True,
    )


def _route_named(routes: Sequence[Route], name: str | None) -> Route | None:
    if name is None:
        return None
    return next((r for r in routes if r.name == name), None)
