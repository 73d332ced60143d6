"""plano.routing.router_prompt: conversation selection, exact prompts (golden files), reply parsing.

Golden files live in tests/data/router_prompts/. To rewrite them after a deliberate change, run
with PLANO_UPDATE_GOLDEN=1 and review the diff: the router models were trained on these bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.config.model import Route
from plano.routing.call import Turn
from plano.routing.router_prompt import (
    ARCH_ROUTER,
    ARCH_ROUTER_TEMPLATE,
    ELLIPSIS,
    ORCHESTRATOR_TEMPLATE,
    PLANO_ORCHESTRATOR,
    RouterReplyError,
    build_prompt,
    default_budget,
    estimate_tokens,
    fill_template,
    parse_reply,
    router_request_body,
    select_conversation,
    trim_middle,
)

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "data" / "router_prompts"

# sha256 of the two code blocks of reference/router-prompts.md, taken verbatim.
ORCHESTRATOR_SHA256 = "394e1dab0c2609822f9efbacf9a1faba18b63d645d547e7686adb00e51028882"
ARCH_ROUTER_SHA256 = "8004153a5e58066139d261d56392543ef29c63487ad4872aaba4d29929890dde"

ROUTES = (
    Route("code_generation", "generating new code, «snippets» and scripts", ("m1",)),
    Route("complex_reasoning", "deep analysis — maths, logic, planning", ("m2",)),
    Route("traducción", "traducir textos al 日本語 y otros idiomas", ("m1", "m2")),
)

MIXED_TURNS = (
    Turn("system", "You are terse."),
    Turn("developer", "Never reveal this."),
    Turn("user", 'Héllo! Write a "binary search" in Python 🚀\nplease'),
    Turn("assistant", ""),  # a turn that only carried tool_calls
    Turn("tool", '{"result": 42}'),
    Turn("assistant", "Here it is:\n```python\ndef bs(a, x): ...\n```"),
    Turn("user", "Now translate the docstring to 日本語, with a backslash \\ and a tab\t."),
)


def check_golden(name: str, text: str) -> None:
    """Compare `text` with the golden file byte for byte (or rewrite it when asked to)."""
    path = GOLDEN_DIR / name
    if os.environ.get("PLANO_UPDATE_GOLDEN") == "1":
        path.write_bytes(text.encode("utf-8"))
    assert text.encode("utf-8") == path.read_bytes()


def long_turns(count: int) -> list[Turn]:
    """`count` alternating user/assistant turns numbered from 0."""
    return [Turn("user" if i % 2 == 0 else "assistant", f"message {i:02d}") for i in range(count)]


# --- templates -----------------------------------------------------------------------------------


def test_templates_are_the_reference_bytes() -> None:
    assert hashlib.sha256(ORCHESTRATOR_TEMPLATE.encode()).hexdigest() == ORCHESTRATOR_SHA256
    assert hashlib.sha256(ARCH_ROUTER_TEMPLATE.encode()).hexdigest() == ARCH_ROUTER_SHA256
    assert len(ORCHESTRATOR_TEMPLATE.encode()) == 846
    assert estimate_tokens(ORCHESTRATOR_TEMPLATE) == 211
    assert '{{"route": ["route_name_1", "route_name_2", "..."]}}' in ORCHESTRATOR_TEMPLATE


def test_default_budgets() -> None:
    assert default_budget(PLANO_ORCHESTRATOR) == 8192
    assert default_budget(ARCH_ROUTER) == 2048
    with pytest.raises(ValueError, match="unknown router prompt format"):
        default_budget("gpt")


def test_fill_template_is_plain_substitution() -> None:
    # Substituted text that looks like a placeholder or a format field stays as it is.
    filled = fill_template("<{routes}|{conversation}|{{x}}>", "{conversation}", "{0} {routes}")
    assert filled == "<{conversation}|{0} {routes}|{{x}}>"


# --- golden prompts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("golden", "prompt_format"),
    [("orchestrator_mixed.txt", PLANO_ORCHESTRATOR), ("arch_router_mixed.txt", ARCH_ROUTER)],
)
def test_golden_mixed_conversation(golden: str, prompt_format: str) -> None:
    prompt = build_prompt(ROUTES, MIXED_TURNS, prompt_format, default_budget(prompt_format))
    check_golden(golden, prompt)
    assert "You are terse" not in prompt
    assert "Never reveal" not in prompt
    assert '{"result": 42}' not in prompt
    assert "🚀" in prompt and "日本語" in prompt and "«snippets»" in prompt  # non-ASCII raw


def test_orchestrator_routes_and_conversation_shape() -> None:
    prompt = build_prompt(ROUTES, MIXED_TURNS, PLANO_ORCHESTRATOR, 8192)
    routes_block = prompt.split("<routes>\n", 1)[1].split("\n</routes>", 1)[0]
    assert routes_block.split("\n") == [
        '{"name": "code_generation", "description": "generating new code, «snippets» and scripts",'
        ' "parameters": {"type": "object", "properties": {}, "required": []}}',
        '{"name": "complex_reasoning", "description": "deep analysis — maths, logic, planning",'
        ' "parameters": {"type": "object", "properties": {}, "required": []}}',
        '{"name": "traducción", "description": "traducir textos al 日本語 y otros idiomas",'
        ' "parameters": {"type": "object", "properties": {}, "required": []}}',
    ]
    conversation = prompt.split("<conversation>\n", 1)[1].split("\n</conversation>", 1)[0]
    assert conversation == json.dumps(
        [
            {"role": "user", "content": 'Héllo! Write a "binary search" in Python 🚀\nplease'},
            {"role": "assistant", "content": "Here it is:\n```python\ndef bs(a, x): ...\n```"},
            {
                "role": "user",
                "content": "Now translate the docstring to 日本語, with a backslash \\ and a tab"
                "\t.",
            },
        ],
        indent=4,
        ensure_ascii=False,
    )
    assert conversation.startswith('[\n    {\n        "role": "user",\n        "content": "Héllo')


def test_arch_router_is_compact() -> None:
    prompt = build_prompt(ROUTES[:1], MIXED_TURNS[-1:], ARCH_ROUTER, 2048)
    assert (
        '<routes>\n[{"name":"code_generation","description":"generating new code, «snippets» and'
        ' scripts"}]\n</routes>' in prompt
    )
    assert (
        '<conversation>\n[{"role":"user","content":"Now translate the docstring to 日本語, with a'
        ' backslash \\\\ and a tab\\t."}]\n</conversation>' in prompt
    )


def test_golden_last_16_of_40_turns() -> None:
    prompt = build_prompt(ROUTES, long_turns(40), PLANO_ORCHESTRATOR, 8192)
    check_golden("orchestrator_40_turns.txt", prompt)
    assert "message 23" not in prompt
    assert all(f"message {i:02d}" in prompt for i in range(24, 40))


def test_golden_500kb_user_message_trimmed_in_the_middle() -> None:
    text = "HEAD-MARKER " + "é0123456789 " * 40_000 + " TAIL-MARKER"
    assert len(text.encode()) > 500_000
    budget = 2048
    prompt = build_prompt(ROUTES, [Turn("user", text)], ARCH_ROUTER, budget)
    check_golden("arch_router_500kb_trimmed.txt", prompt)
    template_bytes = len(ARCH_ROUTER_TEMPLATE.encode())
    assert len(prompt.encode()) < budget * 4 + template_bytes + 1024
    assert "HEAD-MARKER é0123" in prompt and "6789  TAIL-MARKER" in prompt
    assert prompt.count(ELLIPSIS) == 1

    orchestrator = build_prompt(ROUTES, [Turn("user", text)], PLANO_ORCHESTRATOR, budget)
    assert len(orchestrator.encode()) < budget * 4 + len(ORCHESTRATOR_TEMPLATE.encode()) + 1024
    assert "HEAD-MARKER" in orchestrator and "TAIL-MARKER" in orchestrator


# --- conversation selection ----------------------------------------------------------------------


def test_selection_drops_non_conversation_turns() -> None:
    selected = select_conversation(MIXED_TURNS, 8192, ORCHESTRATOR_TEMPLATE)
    assert [role for role, _ in selected] == ["user", "assistant", "user"]


def test_selection_keeps_last_16_after_filtering() -> None:
    turns = [Turn("system", "sys")] + long_turns(40) + [Turn("tool", "t"), Turn("assistant", "")]
    selected = select_conversation(turns, 8192, ORCHESTRATOR_TEMPLATE)
    assert [text for _, text in selected] == [f"message {i:02d}" for i in range(24, 40)]


def test_selection_of_nothing_is_empty() -> None:
    assert select_conversation([Turn("system", "x")], 8192, ORCHESTRATOR_TEMPLATE) == []
    assert build_prompt(ROUTES, [], ARCH_ROUTER, 2048).count("<conversation>\n[]\n") == 1


def test_budget_counts_template_first_and_stops_on_non_user_overflow() -> None:
    template = "t" * 40  # 10 tokens
    turns = [Turn("user", "u" * 400), Turn("assistant", "a" * 40), Turn("user", "b" * 40)]
    # 10 (template) + 10 + 10 fill the 30 tokens: the old user message has no room left at all.
    assert select_conversation(turns, 30, template) == [("assistant", "a" * 40), ("user", "b" * 40)]
    # An overflowing assistant message stops the walk even when older turns would fit.
    turns = [Turn("user", "old"), Turn("assistant", "a" * 400), Turn("user", "b" * 40)]
    assert select_conversation(turns, 30, template) == [("user", "b" * 40)]


def test_overflowing_user_message_is_trimmed_within_remaining_budget() -> None:
    template = "t" * 40  # 10 tokens
    old = "H" * 600 + "T" * 400
    turns = [Turn("user", "older, never reached"), Turn("user", old), Turn("user", "b" * 40)]
    selected = select_conversation(turns, 30, template)
    assert len(selected) == 2
    trimmed = selected[0][1]
    limit = (30 - 10 - 10) * 4  # remaining tokens * 4 bytes
    assert len(trimmed.encode()) <= limit
    head, tail = trimmed.split(ELLIPSIS)
    assert set(head) == {"H"} and set(tail) == {"T"}
    assert len(head) == (limit - 3) * 60 // 100 and len(tail) == (limit - 3) - len(head)


def test_nothing_fits_keeps_newest_whole() -> None:
    turns = [Turn("user", "first"), Turn("assistant", "x" * 100), Turn("assistant", "newest " * 50)]
    # The template alone is over budget: no remaining room at all.
    assert select_conversation(turns, 5, ORCHESTRATOR_TEMPLATE) == [("assistant", "newest " * 50)]


TURN = st.builds(
    Turn,
    role=st.sampled_from(["user", "assistant", "system", "developer", "tool"]),
    text=st.text(st.characters(codec="utf-8"), max_size=300),
)


@settings(database=None, max_examples=300, deadline=None)
@given(turns=st.lists(TURN, max_size=30), budget=st.integers(0, 600))
def test_selection_invariants(turns: list[Turn], budget: int) -> None:
    template = "x" * 200  # 50 tokens
    selected = select_conversation(turns, budget, template)
    eligible = [t for t in turns if t.role in ("user", "assistant") and t.text][-16:]
    assert len(selected) <= len(eligible)
    if not eligible:
        assert selected == []
        return
    # The newest eligible turn is always there (whole, trimmed, or as the fallback).
    if selected[-1] != (eligible[-1].role, eligible[-1].text):
        assert selected[-1][0] == "user" and ELLIPSIS in selected[-1][1]
    used = sum(estimate_tokens(text) for _, text in selected)
    fallback = selected == [(eligible[-1].role, eligible[-1].text)] and used + 50 > budget
    assert fallback or used + 50 <= budget
    # Whole messages are an in-order suffix of the eligible ones; only the oldest may be trimmed.
    whole = [(t.role, t.text) for t in eligible[len(eligible) - len(selected) :]]
    assert selected[1:] == whole[1:]
    assert selected[0] == whole[0] or (selected[0][0] == "user" and not fallback)


@pytest.mark.parametrize("limit", range(40))
def test_trim_middle_cuts_on_character_boundaries(limit: int) -> None:
    text = "日本語テキスト🚀" * 5 + "abc" + "ñandú€" * 5
    trimmed = trim_middle(text, limit)
    assert len(trimmed.encode()) <= max(limit, 0)
    trimmed.encode("utf-8")  # a valid string, no partial characters
    if limit > 3:
        head, tail = trimmed.split(ELLIPSIS)
        assert text.startswith(head) and text.endswith(tail)
    else:
        assert ELLIPSIS not in trimmed and text.startswith(trimmed)


def test_trim_middle_leaves_short_text_alone() -> None:
    assert trim_middle("short", 100) == "short"


# --- request body ------------------------------------------------------------------------------


def test_router_request_body() -> None:
    assert router_request_body("Plano-Orchestrator", "P") == {
        "model": "Plano-Orchestrator",
        "messages": [{"role": "user", "content": "P"}],
        "temperature": 0.01,
    }


# --- reply parsing -------------------------------------------------------------------------------

NAMES = ("code_generation", "complex_reasoning")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"route": ["code_generation"]}', "code_generation"),
        ('{"route": ["code_generation", "complex_reasoning"]}', "code_generation"),
        ('{"route": ["unknown", "complex_reasoning"]}', "complex_reasoning"),
        ('{"route": ["", "complex_reasoning"]}', "complex_reasoning"),
        ('{"route": [1, null, "complex_reasoning"]}', "complex_reasoning"),
        ("{'route': ['complex_reasoning']}", "complex_reasoning"),
        ('{"route": "code_generation"}', "code_generation"),
        ("{'route': 'code_generation'}", "code_generation"),
        ('```json\n{"route": ["complex_reasoning"]}\n```', "complex_reasoning"),
        ('```\n{"route": ["complex_reasoning"]}\n```', "complex_reasoning"),
        ('  ```json {"route": ["complex_reasoning"]} ```  ', "complex_reasoning"),
        ('{"route": ["complex_reasoning"]}\\n', "complex_reasoning"),
        ('\n  {"route": ["code_generation"]}  \n', "code_generation"),
        ('{"route": []}', None),
        ('{"route": null}', None),
        ("{}", None),
        ('{"route": ""}', None),
        ('{"route": "other"}', None),
        ('{"route": ["other"]}', None),
        ('{"route": ["unknown"]}', None),
        ('{"route": "unknown"}', None),
        ('{"route": ["Code_Generation"]}', None),  # names are case-sensitive
        ("", None),
        ("   ", None),
        ("```json\n```", None),
        (None, None),
    ],
)
def test_parse_reply(content: str | None, expected: str | None) -> None:
    assert parse_reply(content, NAMES) == expected


@pytest.mark.parametrize(
    "content",
    [
        '{"route": ["x"',
        "code_generation",
        "I think the route is code_generation",
        "[]",
        "null",
        '"code_generation"',
        '{"route": 3}',
        '{"route": {"name": "code_generation"}}',
    ],
)
def test_parse_reply_rejects_malformed(content: str) -> None:
    with pytest.raises(RouterReplyError) as info:
        parse_reply(content, NAMES)
    assert str(info.value)  # a short reason


def test_parse_reply_error_reason_is_short() -> None:
    with pytest.raises(RouterReplyError) as info:
        parse_reply("garbage " * 1000, NAMES)
    assert len(str(info.value)) < 200
