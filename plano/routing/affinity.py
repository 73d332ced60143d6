"""Model affinity (SPEC §6): validating session ids, naming session keys, pinning candidates.

Pure policy over typed values. Storing and reading bindings is plano.sessions' job; this module
decides what a binding means for one call.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from plano.errors import InvalidRequest
from plano.routing.call import ChatCall, Turn

AFFINITY_HEADER = "X-Model-Affinity"
AFFINITY_MAX_LEN = 256
IMPLICIT_PREFIX = "implicit:"
IMPLICIT_SALT = "plano-affinity-v1"
IMPLICIT_HEX_LEN = 32

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
# Text that agent harnesses (Claude Code) inject into user turns: not something the user typed,
# so a user turn holding only these is still a continuation of the agent loop.
_INJECTED_SPANS = re.compile(
    r"<system-reminder>.*?</system-reminder>"
    r"|<user-prompt-submit-hook>.*?</user-prompt-submit-hook>",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class SessionBinding:
    """What a session is bound to: the model that served it first and that model's route."""

    model_name: str  # canonical id
    route_name: str | None

    def to_json(self) -> str:
        """The stored form: `{"model_name": ..., "route_name": ...}` (route may be null)."""
        return json.dumps(
            {"model_name": self.model_name, "route_name": self.route_name},
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str | bytes | bytearray | None) -> SessionBinding | None:
        """Parse a stored binding; anything undecodable (or another format) gives None."""
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(value, dict):
            return None
        model = value.get("model_name")
        route = value.get("route_name")
        if not isinstance(model, str) or not model:
            return None
        if route is not None and not isinstance(route, str):
            return None
        return cls(model, route)


def validate_affinity_id(raw: str | None) -> str | None:
    """The affinity id from the header: None when empty or absent, 400 when malformed."""
    if raw is None or raw == "":
        return None
    if len(raw) > AFFINITY_MAX_LEN:
        raise InvalidRequest(
            f"{AFFINITY_HEADER} must be at most {AFFINITY_MAX_LEN} characters, got {len(raw)}",
            param=AFFINITY_HEADER,
        )
    if _PRINTABLE_ASCII.fullmatch(raw) is None:
        raise InvalidRequest(
            f"{AFFINITY_HEADER} must contain only printable ASCII characters (0x20-0x7E)",
            param=AFFINITY_HEADER,
        )
    return raw


def session_key(affinity_id: str | None, tenant: str | None) -> str | None:
    """The store key for an explicit affinity id: `id`, or `tenant:id` with a tenant."""
    if not affinity_id:
        return None
    if tenant:
        return f"{tenant}:{affinity_id}"
    return affinity_id


def implicit_session_key(call: ChatCall) -> str:
    """The key of an agent loop without an affinity id (`route_on_user_only`).

    A hash of the tenant, the system/developer text, the tool names and the first user message:
    what stays the same across every request of one loop.
    """
    system = [t.text for t in call.turns if t.role in ("system", "developer")]
    first_user = next((t.text for t in call.turns if t.role == "user"), "")
    material = [IMPLICIT_SALT, call.tenant or "", system, sorted(call.tool_names), first_user]
    encoded = json.dumps(material, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    digest = hashlib.sha256(encoded).hexdigest()[:IMPLICIT_HEX_LEN]
    return f"{IMPLICIT_PREFIX}{digest}"


def is_user_text(turn: Turn) -> bool:
    """True for a user turn carrying text the user wrote (injected reminder spans removed)."""
    return turn.role == "user" and _INJECTED_SPANS.sub("", turn.text).strip() != ""


def is_continuation(turns: Sequence[Turn]) -> bool:
    """True when the last turn is a tool result, an assistant turn or a user turn without text."""
    if not turns:
        return False
    last = turns[-1]
    if last.role in ("tool", "assistant"):
        return True
    return last.role == "user" and not is_user_text(last)


def pin_candidates(
    binding: SessionBinding, route_candidates: Sequence[str], declared: Collection[str]
) -> tuple[str, ...] | None:
    """The candidates a binding gives: its model first, then the rest of its route's candidates.

    None when the stored model is no longer declared: the binding is then ignored.
    """
    if binding.model_name not in declared:
        return None
    ordered = [binding.model_name]
    for candidate in route_candidates:
        if candidate in declared and candidate not in ordered:
            ordered.append(candidate)
    return tuple(ordered)
