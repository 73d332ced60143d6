"""A request body's `routing_preferences`: the config's route shape, checked per request."""

from __future__ import annotations

from typing import Any

from plano.config.model import Route, Settings
from plano.config.rules import build_route
from plano.config.schema import RouteSchema, check_section
from plano.config.yamlpos import Findings, Path, format_path
from plano.errors import InvalidRequest

PARAM = "routing_preferences"
SHAPE = "a list of {name, description, models, selection_policy?}"


def parse_request_routes(raw: object, settings: Settings) -> tuple[Route, ...]:
    """The request's routes with canonical model ids; `[]` turns routing off (returns ())."""
    if not isinstance(raw, list):
        raise InvalidRequest(f"`{PARAM}` must be {SHAPE}", param=PARAM)
    messages: list[str] = []
    routes: list[Route] = []
    seen: set[str] = set()
    schema = RouteSchema()
    for index, item in enumerate(raw):
        where: Path = (PARAM, index)
        checked = check_section(schema, item, where)
        if checked.problems:
            messages += [f"{format_path(p.path)}: {p.message}" for p in checked.problems]
            continue
        loaded: dict[str, Any] = dict(checked.data)
        if loaded["name"] in seen:
            messages.append(
                f"{format_path((*where, 'name'))}: duplicate route name `{loaded['name']}`"
            )
            continue
        seen.add(loaded["name"])
        findings = Findings()
        route = build_route(loaded, where, settings.providers, None, findings)
        messages += [f"{format_path(p.path)}: {p.message}" for p in findings.problems]
        if route is not None:
            routes.append(route)
    if messages:
        raise InvalidRequest("Invalid routing_preferences: " + "; ".join(messages), param=PARAM)
    return tuple(routes)
