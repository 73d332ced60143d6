"""Affinity policy (SPEC §6): tables of inputs -> outputs; no IO."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from plano.errors import InvalidRequest
from plano.routing.affinity import (
    AFFINITY_MAX_LEN,
    SessionBinding,
    implicit_session_key,
    is_continuation,
    pin_candidates,
    session_key,
    validate_affinity_id,
)
from plano.routing.call import ChatCall, Dialect, Turn

# ---------------------------------------------------------------- validate_affinity_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("s1", "s1"),
        ("3f2b6c1e-8d4a-4b9e-9c1d-2a7f5e6b8c90", "3f2b6c1e-8d4a-4b9e-9c1d-2a7f5e6b8c90"),
        ("acme:session 42", "acme:session 42"),
        (" ", " "),
        ("~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./", "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./"),
        ("x" * AFFINITY_MAX_LEN, "x" * AFFINITY_MAX_LEN),
        ("".join(chr(c) for c in range(0x20, 0x7F)), "".join(chr(c) for c in range(0x20, 0x7F))),
    ],
)
def test_valid_affinity_ids(raw: str | None, expected: str | None) -> None:
    assert validate_affinity_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "x" * (AFFINITY_MAX_LEN + 1),
        "x" * 10_000,
        "s1\r\nX-Injected: 1",
        "s1\n",
        "\r",
        "tab\there",
        "nul\x00",
        "bell\x07",
        "del\x7f",
        "esc\x1b[31m",
        "caf\u00e9",
        "\u00a0",
        "snow\u2603",
        "emoji\U0001f600",
    ],
)
def test_invalid_affinity_ids_are_400(raw: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_affinity_id(raw)
    assert info.value.status == 400
    assert info.value.param == "X-Model-Affinity"


def test_length_limit_is_256() -> None:
    assert AFFINITY_MAX_LEN == 256
    assert validate_affinity_id("a" * 256) == "a" * 256
    with pytest.raises(InvalidRequest, match="256"):
        validate_affinity_id("a" * 257)


# ---------------------------------------------------------------- session_key


@pytest.mark.parametrize(
    ("affinity_id", "tenant", "expected"),
    [
        (None, None, None),
        (None, "acme", None),
        ("", "acme", None),
        ("s1", None, "s1"),
        ("s1", "", "s1"),
        ("s1", "acme", "acme:s1"),
        ("acme:s1", None, "acme:s1"),
        ("s1", "other", "other:s1"),
    ],
)
def test_session_key(affinity_id: str | None, tenant: str | None, expected: str | None) -> None:
    assert session_key(affinity_id, tenant) == expected


def test_tenants_do_not_share_keys() -> None:
    assert session_key("s1", "acme") != session_key("s1", "globex")


# ---------------------------------------------------------------- implicit_session_key


def _call(
    *turns: tuple[str, str], tools: tuple[str, ...] = (), tenant: str | None = None
) -> ChatCall:
    return ChatCall(
        Dialect.OPENAI,
        "gpt-4o",
        tuple(Turn(role, text) for role, text in turns),
        tool_names=tools,
        tenant=tenant,
    )


LOOP_START = _call(
    ("system", "You are a coding agent."), ("user", "Fix the bug"), tools=("bash", "edit")
)


def test_implicit_key_shape() -> None:
    key = implicit_session_key(LOOP_START)
    assert re.fullmatch(r"implicit:[0-9a-f]{16,32}", key)


def test_implicit_key_is_stable_across_a_loop() -> None:
    later = _call(
        ("system", "You are a coding agent."),
        ("user", "Fix the bug"),
        ("assistant", ""),
        ("tool", "exit 1"),
        ("assistant", "Trying again"),
        ("tool", "exit 0"),
        tools=("edit", "bash"),  # order of the tools does not matter
    )
    assert implicit_session_key(later) == implicit_session_key(LOOP_START)
    # deterministic: the same input always gives the same key (no per-process salt)
    assert implicit_session_key(LOOP_START) == implicit_session_key(LOOP_START)


def test_implicit_key_golden_value() -> None:
    # A fixed value: the key must not change between processes, workers or releases.
    material = [
        "plano-affinity-v1",
        "",
        ["You are a coding agent."],
        ["bash", "edit"],
        "Fix the bug",
    ]
    digest = hashlib.sha256(json.dumps(material, separators=(",", ":")).encode()).hexdigest()
    assert implicit_session_key(LOOP_START) == "implicit:" + digest[:32]


@pytest.mark.parametrize(
    "other",
    [
        _call(("system", "You are a reviewer."), ("user", "Fix the bug"), tools=("bash", "edit")),
        _call(("system", "You are a coding agent."), ("user", "Fix a bug"), tools=("bash", "edit")),
        _call(("system", "You are a coding agent."), ("user", "Fix the bug"), tools=("bash",)),
        _call(("user", "Fix the bug"), tools=("bash", "edit")),
        _call(
            ("system", "You are a coding agent."),
            ("user", "Fix the bug"),
            tools=("bash", "edit"),
            tenant="acme",
        ),
        # field boundaries are unambiguous: moving text between fields changes the key
        _call(
            ("system", "You are a coding agent.Fix the bug"), ("user", ""), tools=("bash", "edit")
        ),
    ],
)
def test_implicit_key_changes_with_its_inputs(other: ChatCall) -> None:
    assert implicit_session_key(other) != implicit_session_key(LOOP_START)


def test_implicit_key_ignores_later_user_turns() -> None:
    a = _call(("user", "first"), ("assistant", "ok"), ("user", "second"))
    b = _call(("user", "first"), ("assistant", "ok"), ("user", "third"))
    assert implicit_session_key(a) == implicit_session_key(b)


def test_developer_text_counts_as_system() -> None:
    a = _call(("developer", "rules A"), ("user", "hi"))
    b = _call(("developer", "rules B"), ("user", "hi"))
    assert implicit_session_key(a) != implicit_session_key(b)


# ---------------------------------------------------------------- is_continuation


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        ((), False),
        ((("user", "hello"),), False),
        ((("system", "s"), ("user", "write code")), False),
        ((("user", "a"), ("assistant", "b"), ("user", "c")), False),
        ((("user", "a"), ("tool", "result")), True),
        ((("user", "a"), ("tool", "")), True),
        ((("user", "a"), ("assistant", "partial")), True),
        ((("user", "a"), ("assistant", "")), True),
        ((("user", "a"), ("user", "")), True),
        ((("user", "a"), ("user", "   \n\t")), True),
        ((("user", "a"), ("user", "<system-reminder>todo list changed</system-reminder>")), True),
        (
            (
                ("user", "a"),
                ("user", "<user-prompt-submit-hook>\nhook out\n</user-prompt-submit-hook>\n"),
            ),
            True,
        ),
        ((("user", "a"), ("user", "<system-reminder>x</system-reminder> and now do B")), False),
        ((("user", "a"), ("system", "s")), False),
    ],
)
def test_is_continuation(turns: tuple[tuple[str, str], ...], expected: bool) -> None:
    assert is_continuation(tuple(Turn(r, t) for r, t in turns)) is expected


# ---------------------------------------------------------------- pin_candidates

CLAUDE = "anthropic/claude-sonnet-4-6"
GPT4O = "openai/gpt-4o"
MINI = "openai/gpt-4o-mini"
DECLARED = frozenset({CLAUDE, GPT4O, MINI})


@pytest.mark.parametrize(
    ("binding", "route_candidates", "declared", "expected"),
    [
        # stored model already first: unchanged
        (SessionBinding(CLAUDE, "code_generation"), (CLAUDE, GPT4O), DECLARED, (CLAUDE, GPT4O)),
        # stored model not first (ranking changed since): it leads, the rest keep their order
        (SessionBinding(GPT4O, "code"), (MINI, CLAUDE, GPT4O), DECLARED, (GPT4O, MINI, CLAUDE)),
        # stored model not in its route any more (or no route): it alone, then the route
        (SessionBinding(MINI, "code_generation"), (CLAUDE, GPT4O), DECLARED, (MINI, CLAUDE, GPT4O)),
        (SessionBinding(MINI, None), (), DECLARED, (MINI,)),
        # duplicates in the route list are dropped
        (SessionBinding(CLAUDE, "r"), (GPT4O, CLAUDE, GPT4O), DECLARED, (CLAUDE, GPT4O)),
        # an undeclared fallback is dropped; an undeclared stored model voids the binding
        (SessionBinding(CLAUDE, "r"), (CLAUDE, "gone/model"), DECLARED, (CLAUDE,)),
        (SessionBinding("gone/model", "r"), (CLAUDE, GPT4O), DECLARED, None),
        (SessionBinding(CLAUDE, "r"), (CLAUDE,), frozenset(), None),
    ],
)
def test_pin_candidates(
    binding: SessionBinding,
    route_candidates: tuple[str, ...],
    declared: frozenset[str],
    expected: tuple[str, ...] | None,
) -> None:
    assert pin_candidates(binding, route_candidates, declared) == expected


def test_pin_candidates_accepts_any_collection() -> None:
    assert pin_candidates(SessionBinding(MINI, None), [GPT4O], [GPT4O, MINI]) == (MINI, GPT4O)


# ---------------------------------------------------------------- SessionBinding JSON


@pytest.mark.parametrize(
    "binding",
    [
        SessionBinding(CLAUDE, "code_generation"),
        SessionBinding(GPT4O, None),
        SessionBinding("none", None),
        SessionBinding("ünï/cödé", "route with spaces"),
    ],
)
def test_binding_round_trip(binding: SessionBinding) -> None:
    raw = binding.to_json()
    assert SessionBinding.from_json(raw) == binding
    assert SessionBinding.from_json(raw.encode()) == binding


def test_binding_json_shape() -> None:
    raw = SessionBinding(GPT4O, "code generation").to_json()
    assert json.loads(raw) == {"model_name": GPT4O, "route_name": "code generation"}
    assert json.loads(SessionBinding(GPT4O, None).to_json()) == {
        "model_name": GPT4O,
        "route_name": None,
    }


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        b"",
        "not json",
        b"\xff\xfe\x00garbage",
        "[]",
        "null",
        '"openai/gpt-4o"',
        "{}",
        '{"route_name": "r"}',
        '{"model_name": "", "route_name": null}',
        '{"model_name": 3, "route_name": null}',
        '{"model_name": "m", "route_name": 7}',
        '{"anchor_model": "m", "default_model": "m", "last_used": 1}',  # upstream HEAD format
    ],
)
def test_undecodable_binding_is_none(raw: str | bytes | None) -> None:
    assert SessionBinding.from_json(raw) is None


def test_missing_route_name_means_no_route() -> None:
    assert SessionBinding.from_json('{"model_name": "m"}') == SessionBinding("m", None)
