"""A request body's routing_preferences: same shape as the config's, declared models only."""

from __future__ import annotations

import pytest

from plano.config.model import Prefer, Route
from plano.config.request_routes import parse_request_routes
from plano.errors import InvalidRequest
from tests.unit.config.conftest import PROVIDERS, parse

SETTINGS = parse(
    PROVIDERS
    + "  - {model: plano/Plano-Orchestrator, base_url: 'http://o:1'}\n"
    + "overrides: {llm_routing_model: plano/Plano-Orchestrator}\n"
)


def test_conformance_14_routes_with_canonical_ids() -> None:
    routes = parse_request_routes(
        [
            {
                "name": "general",
                "description": "anything",
                "models": ["openai/gpt-4o", "gpt-4o-mini"],
                "selection_policy": {"prefer": "cheapest"},
            }
        ],
        SETTINGS,
    )
    assert routes == (
        Route("general", "anything", ("openai/gpt-4o", "openai/gpt-4o-mini"), Prefer.CHEAPEST),
    )


@pytest.mark.parametrize(
    "policy",
    [
        {},
        {"selection_policy": {"prefer": None}},
        {"selection_policy": {"prefer": ""}},
        {"selection_policy": None},
    ],
)
def test_conformance_15_prefer_null_empty_or_missing(policy: dict[str, object]) -> None:
    item: dict[str, object] = {"name": "r", "description": "d", "models": ["gpt-4o"], **policy}
    (route,) = parse_request_routes([item], SETTINGS)
    assert route.prefer is Prefer.NONE


def test_conformance_15_empty_list_turns_routing_off() -> None:
    assert parse_request_routes([], SETTINGS) == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"name": "r"},
            "`routing_preferences` must be a list of {name, description, models, "
            "selection_policy?}",
        ),
        (
            [{"name": "r", "description": "d", "models": ["gpt-9"]}],
            "Invalid routing_preferences: routing_preferences[0].models[0]: routing_preferences "
            "route 'r' references model 'gpt-9' which is not declared in model_providers",
        ),
        (
            [{"name": "r", "description": "d", "models": ["plano/Plano-Orchestrator"]}],
            "Invalid routing_preferences: routing_preferences[0].models[0]: routing_preferences "
            "route 'r' references model 'plano/Plano-Orchestrator' which is not declared in "
            "model_providers",
        ),
        (
            [{"name": "r", "models": [], "extra": 1}, "x"],
            "Invalid routing_preferences: routing_preferences[0]: missing required key "
            "`description`; routing_preferences[0].models: must name at least one model; "
            "routing_preferences[0].extra: unknown key `extra`; routing_preferences[1]: must be a "
            "mapping",
        ),
        (
            [
                {"name": "r", "description": "d", "models": ["gpt-4o"]},
                {"name": "r", "description": "d", "models": ["gpt-4o"]},
            ],
            "Invalid routing_preferences: routing_preferences[1].name: duplicate route name `r`",
        ),
        (
            [
                {
                    "name": "r",
                    "description": "d",
                    "models": ["gpt-4o"],
                    "selection_policy": {"prefer": "best"},
                }
            ],
            "Invalid routing_preferences: routing_preferences[0].selection_policy.prefer: must be "
            "one of cheapest, fastest, none (got `best`)",
        ),
    ],
)
def test_bad_request_routes(raw: object, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request_routes(raw, SETTINGS)
    assert caught.value.message == message
    assert caught.value.param == "routing_preferences"
    assert caught.value.status == 400
