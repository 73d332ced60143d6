"""EmbeddedRouter decisions: routing, no route, follow-ups, ignored roles, per-request routes and
foreign turns read through the gloss."""

from __future__ import annotations

from pathlib import Path

import pytest

from plano.embedded_router import EmbeddedRouter, RouterParams, RouteText, SentenceEncoder
from plano.embedded_router.gloss import Glosser
from plano.embedded_router.model_files import load_lexicon
from plano.embedded_router.router import question_before_latest, route_views, user_turns

ROUTES = (
    RouteText("code_generation", "Writing new code: functions, classes or scripts."),
    RouteText("travel", "Planning trips: destinations, itineraries, flights and hotels."),
    RouteText("health", "Health, nutrition, fitness and questions about symptoms."),
    RouteText("translation", "Translating text from one language to another."),
)


@pytest.fixture(scope="module")
def router(encoder: SentenceEncoder) -> EmbeddedRouter:
    return EmbeddedRouter(encoder, ROUTES)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("write a python script that renames files", "code_generation"),
        ("3 days in Lisbon, what should we see and where to stay?", "travel"),
        ("how much protein do I need if I lift weights", "health"),
        ("how do you say 'good night' in Spanish", "translation"),
    ],
)
def test_routes_the_latest_user_turn(router: EmbeddedRouter, message: str, expected: str) -> None:
    assert router.choose([("user", message)]) == expected


@pytest.mark.parametrize("message", ["hi!", "ok thanks", "who painted the Mona Lisa"])
def test_small_talk_and_off_topic_get_no_route(router: EmbeddedRouter, message: str) -> None:
    assert router.choose([("user", message)]) is None


def test_threshold_turns_weak_matches_into_no_route(
    encoder: SentenceEncoder, router: EmbeddedRouter
) -> None:
    conversation = [("user", "write a python script that renames files")]
    assert router.choose(conversation) == "code_generation"
    strict = EmbeddedRouter(encoder, ROUTES, RouterParams(min_z=99.0))
    assert strict.choose(conversation) is None
    no_margin = EmbeddedRouter(encoder, ROUTES, RouterParams(min_margin=1.0))
    assert no_margin.choose(conversation) is None


def test_short_follow_up_keeps_the_earlier_intent(router: EmbeddedRouter) -> None:
    conversation = [
        ("system", "You are helpful."),
        ("user", "write a python function that flattens a nested list"),
        ("assistant", "def flatten(xs): ..."),
        ("user", "now do the same in Java"),
    ]
    assert router.choose(conversation) == "code_generation"


def test_short_follow_up_alone_is_not_enough_but_context_routes_it(router: EmbeddedRouter) -> None:
    assert router.choose([("user", "make it 5 days")]) is None
    conversation = [
        ("user", "plan 3 days in Rome for us"),
        ("assistant", "Day 1: the Colosseum ..."),
        ("user", "make it 5 days"),
    ]
    assert router.choose(conversation) == "travel"


def test_short_reply_is_read_with_the_assistants_question(router: EmbeddedRouter) -> None:
    question = ("assistant", "Of course! Where are you flying to?")
    opening = ("user", "can you help me with something")
    assert router.choose([opening, ("user", "Lisbon")]) is None
    assert router.choose([opening, question, ("user", "Lisbon")]) == "travel"


def test_question_before_latest_takes_only_a_question_answered_by_the_latest_turn() -> None:
    asked = [("user", "a"), ("assistant", "Done. Which city?"), ("tool", "t"), ("user", "Rome")]
    assert question_before_latest(asked) == "Which city?"
    assert question_before_latest([("assistant", "Done."), ("user", "thanks")]) == ""
    assert (
        question_before_latest([("assistant", "Which city?"), ("user", "a"), ("user", "b")]) == ""
    )


def test_long_latest_turn_overrides_the_earlier_topic(router: EmbeddedRouter) -> None:
    conversation = [
        ("user", "write a python function that flattens a nested list"),
        ("assistant", "def flatten(xs): ..."),
        ("user", "different question: plan me a week of hiking in Iceland with huts and flights"),
    ]
    assert router.choose(conversation) == "travel"


def test_system_developer_and_tool_turns_are_ignored(router: EmbeddedRouter) -> None:
    conversation = [
        ("system", "Always translate everything the user says into French."),
        ("developer", "Route to translation."),
        ("user", "I have a sore throat and a fever, should I see a doctor?"),
        ("tool", "translation service: ok"),
    ]
    assert router.choose(conversation) == "health"


def test_no_user_turn_means_no_route(router: EmbeddedRouter) -> None:
    assert router.choose([]) is None
    assert router.choose([("system", "write code"), ("user", "   ")]) is None


def test_choose_for_uses_per_request_routes_and_caches_them(router: EmbeddedRouter) -> None:
    other = (
        RouteText("billing", "Invoices, charges, refunds and payment methods."),
        RouteText("shipping", "Order status, delivery, tracking and returns of parcels."),
    )
    conversation = [("user", "I was charged twice for the same order, I want my money back")]
    assert router.choose_for(other, conversation) == "billing"
    first = router._index_for(other)
    assert router.choose_for(
        list(other), [("user", "where is my parcel? tracking says nothing")]
    ) == ("shipping")
    assert router._index_for(other) is first
    assert router.choose([("user", "write a bash script to rename files")]) == "code_generation"


def test_empty_route_set_gives_no_route(router: EmbeddedRouter) -> None:
    assert router.choose_for([], [("user", "write code")]) is None


def test_scores_cover_every_route(router: EmbeddedRouter) -> None:
    scores = router.scores(ROUTES, [("user", "book me a hotel in Rome")])
    assert set(scores) == {r.name for r in ROUTES}
    assert max(scores, key=lambda name: scores[name]) == "travel"


def test_duplicate_route_names_are_rejected(encoder: SentenceEncoder) -> None:
    with pytest.raises(ValueError, match="unique"):
        EmbeddedRouter(encoder, [RouteText("a", "one thing"), RouteText("a", "another")])


def test_examples_become_views_and_can_decide(encoder: SentenceEncoder) -> None:
    routes = (
        RouteText("alpha", "Things of the first kind.", examples=("my kettle is broken",)),
        RouteText("beta", "Things of the second kind.", examples=("book a table for two",)),
    )
    assert "my kettle is broken" in route_views(routes[0])
    router = EmbeddedRouter(encoder, routes, RouterParams(min_z=-99.0, min_margin=-9.0))
    assert router.choose([("user", "the kettle stopped working")]) == "alpha"


def test_route_views_split_description_into_clauses() -> None:
    views = route_views(RouteText("orders_shipping", "Order status, delivery and returns."))
    assert views[0] == "orders shipping: Order status, delivery and returns."
    assert {"Order status", "delivery", "returns", "orders shipping"} <= set(views)
    assert len(views) == len(set(views))


def test_user_turns_keep_only_user_text() -> None:
    conversation = [("system", "s"), ("user", " a \n b "), ("assistant", "c"), ("user", "")]
    assert user_turns(conversation) == ["a b"]


def test_route_text_accepts_a_list_of_examples() -> None:
    route = RouteText("a", "b", examples=["x", "y"])  # type: ignore[arg-type]
    assert route.examples == ("x", "y")
    assert hash(route) == hash(RouteText("a", "b", examples=("x", "y")))


@pytest.mark.parametrize("message", ["hi", "hello there", "thanks", "ok"])
def test_small_talk_gets_no_route_even_with_two_routes(
    encoder: SentenceEncoder, message: str
) -> None:
    routes = (
        RouteText("travel", "Planning trips: flights and hotels."),
        RouteText("code", "Writing and fixing code."),
    )
    router = EmbeddedRouter(encoder, routes)
    assert router.choose([("user", message)]) is None
    assert router.choose([("user", "book me a hotel in Rome for two nights")]) == "travel"


def test_a_clear_sentence_inside_a_long_turn_lifts_its_route(
    encoder: SentenceEncoder, router: EmbeddedRouter
) -> None:
    conversation = [
        (
            "user",
            "We moved house last month and everything is still in boxes. My back hurts from "
            "carrying them. Write a python script that renames my photo files by date.",
        )
    ]
    assert router.choose(conversation) == "code_generation"
    whole_only = EmbeddedRouter(encoder, ROUTES, RouterParams(max_sentences=0))
    with_sentences = router.scores(ROUTES, conversation)["code_generation"]
    assert with_sentences > whole_only.scores(ROUTES, conversation)["code_generation"]


SUPPORT_ROUTES = (
    RouteText("billing", "Invoices, charges, refunds and payment methods."),
    RouteText("orders_shipping", "Order status, delivery, lost or damaged parcels."),
    RouteText("account", "Login problems, passwords and account settings."),
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Mein Paket ist seit einer Woche nicht angekommen", "orders_shipping"),
        ("Je n'arrive plus à me connecter à mon compte depuis hier", "account"),
        ("Necesito cambiar mi contraseña", "account"),
    ],
)
def test_foreign_turns_are_routed_through_the_gloss(
    encoder: SentenceEncoder, model_dir: Path, message: str, expected: str
) -> None:
    glossing = EmbeddedRouter(encoder, SUPPORT_ROUTES, glosser=Glosser(load_lexicon(model_dir)))
    assert glossing.choose([("user", message)]) == expected


def test_load_reads_the_lexicon_next_to_the_model(model_dir: Path) -> None:
    loaded = EmbeddedRouter.load(SUPPORT_ROUTES, model_dir)
    assert loaded.glosser is not None
    assert loaded.choose([("user", "Mein Paket ist seit einer Woche nicht angekommen")]) == (
        "orders_shipping"
    )
