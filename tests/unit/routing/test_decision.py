"""SPEC §4 as tables: (call, routes, router answer, binding, snapshot) -> decision."""

from __future__ import annotations

import math

import pytest

from plano.config.model import Prefer
from plano.errors import InvalidRequest, UnknownModel
from plano.routing.affinity import SessionBinding
from plano.routing.catalog import ModelCatalog
from plano.routing.decision import Reason, decide, decide_pinned, plan
from plano.routing.ranking import MetricsSnapshot
from tests.unit.routing.builders import ALIASES, PROVIDERS, ROUTES, call, provider, route

EMPTY = MetricsSnapshot(prices={}, latencies={})
CATALOG = ModelCatalog(PROVIDERS, ALIASES)


def _plan(model, *, routes=ROUTES, request_routes=None, classify_all=False, decision_only=False):
    the_call = call(model, routes=request_routes)
    return plan(the_call, CATALOG, routes, classify_all=classify_all, decision_only=decision_only)


@pytest.mark.parametrize(
    ("model", "candidates", "reason"),
    [
        ("openai/gpt-4o", ("openai/gpt-4o",), Reason.NAMED),
        ("gpt-4o", ("openai/gpt-4o",), Reason.NAMED),
        ("fast-model", ("openai/gpt-4o-mini",), Reason.NAMED),
        ("creative-model", ("anthropic/claude-sonnet-4-6",), Reason.NAMED),
        ("anthropic/claude-next", ("anthropic/claude-next",), Reason.NAMED),
    ],
)
def test_a_named_model_is_served_without_asking_the_router(model, candidates, reason) -> None:
    the_plan = _plan(model)
    assert not the_plan.ask_router
    decision = decide(the_plan, None, EMPTY)
    assert (decision.candidates, decision.reason, decision.route) == (candidates, reason, None)


def test_alias_target_and_requested_are_reported() -> None:
    decision = decide(_plan("fast-model"), None, EMPTY)
    assert decision.requested == "fast-model"
    assert decision.alias_target == "openai/gpt-4o-mini"


def test_unknown_model_is_404_on_the_proxy_and_a_fallback_on_the_decision_api() -> None:
    with pytest.raises(UnknownModel) as info:
        _plan("nonexistent-model")
    assert info.value.status == 404 and info.value.code == "model_not_found"
    the_plan = _plan("nonexistent-model", decision_only=True)
    assert the_plan.ask_router
    assert decide(the_plan, None, EMPTY).candidates == ("nonexistent-model",)


def test_no_model_with_routes_asks_the_router_and_serves_the_route() -> None:
    the_plan = _plan(None)
    assert the_plan.ask_router
    decision = decide(the_plan, "code_generation", EMPTY)
    assert decision.candidates == ("anthropic/claude-sonnet-4-6", "openai/gpt-4o")
    assert (decision.route, decision.reason) == ("code_generation", Reason.ROUTED)


@pytest.mark.parametrize("answer", [None, "unknown-route"])
def test_no_match_falls_back_to_the_default_provider(answer) -> None:
    decision = decide(_plan(None), answer, EMPTY)
    assert decision.candidates == ("openai/gpt-4o-mini",)
    assert (decision.route, decision.reason) == (None, Reason.NO_MATCH)


def test_no_model_no_routes_is_the_default_provider() -> None:
    the_plan = _plan(None, routes=())
    assert not the_plan.ask_router
    decision = decide(the_plan, None, EMPTY)
    assert (decision.candidates, decision.reason) == (("openai/gpt-4o-mini",), Reason.DEFAULT)


def test_no_model_no_match_and_no_default_is_a_400() -> None:
    catalog = ModelCatalog([provider("openai/gpt-4o")], {})
    the_plan = plan(call(None), catalog, ROUTES, classify_all=False, decision_only=False)
    with pytest.raises(InvalidRequest):
        decide(the_plan, None, EMPTY)


def test_request_routes_override_and_empty_list_turns_routing_off() -> None:
    own = (route("general", "openai/gpt-4o"),)
    the_plan = _plan(None, request_routes=own)
    assert the_plan.routes == own
    assert decide(the_plan, "general", EMPTY).candidates == ("openai/gpt-4o",)
    off = _plan(None, request_routes=())
    assert not off.ask_router
    assert decide(off, None, EMPTY).reason is Reason.DEFAULT


def test_classify_all_lets_a_matched_route_override_the_named_model() -> None:
    the_plan = _plan("openai/gpt-4o-mini", classify_all=True)
    assert the_plan.ask_router
    routed = decide(the_plan, "code_generation", EMPTY)
    assert routed.candidates[0] == "anthropic/claude-sonnet-4-6"
    unmatched = decide(the_plan, None, EMPTY)
    assert unmatched.candidates == ("openai/gpt-4o-mini",)


def test_decision_api_always_asks_the_router_when_routes_exist() -> None:
    assert _plan("gpt-4o", decision_only=True).ask_router
    assert not _plan("gpt-4o", decision_only=True, routes=()).ask_router


@pytest.mark.parametrize(
    ("prefer", "snapshot", "expected"),
    [
        (Prefer.NONE, EMPTY, ("openai/gpt-4o", "openai/gpt-4o-mini")),
        (
            Prefer.CHEAPEST,
            MetricsSnapshot(
                prices={"openai/gpt-4o": 12.5, "openai/gpt-4o-mini": 0.75}, latencies={}
            ),
            ("openai/gpt-4o-mini", "openai/gpt-4o"),
        ),
        (
            Prefer.FASTEST,
            MetricsSnapshot(
                prices={}, latencies={"openai/gpt-4o": 0.4, "openai/gpt-4o-mini": math.nan}
            ),
            ("openai/gpt-4o", "openai/gpt-4o-mini"),
        ),
    ],
)
def test_route_candidates_are_ranked_by_the_policy(prefer, snapshot, expected) -> None:
    routes = (route("general", "openai/gpt-4o", "openai/gpt-4o-mini", prefer=prefer),)
    assert decide(_plan(None, routes=routes), "general", snapshot).candidates == expected


def test_a_binding_pins_its_model_first_and_keeps_the_route_as_fallback() -> None:
    binding = SessionBinding("openai/gpt-4o", "code_generation")
    pinned = decide_pinned(_plan(None), binding, CATALOG, EMPTY)
    assert pinned is not None
    assert pinned.candidates == ("openai/gpt-4o", "anthropic/claude-sonnet-4-6")
    assert (pinned.route, pinned.reason, pinned.pinned) == ("code_generation", Reason.PINNED, True)


def test_a_binding_to_a_model_no_longer_declared_is_ignored() -> None:
    binding = SessionBinding("openai/gpt-3", "code_generation")
    assert decide_pinned(_plan(None), binding, CATALOG, EMPTY) is None
