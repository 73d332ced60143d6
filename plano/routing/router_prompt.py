"""The router model's prompt and reply, without IO: pick the conversation, fill the template, parse.

The router models were trained on these exact prompts (reference/router-prompts.md), so the
templates are sent byte for byte. They are plain strings, not format strings: the orchestrator
template really contains `{{` and `}}`, and placeholders are replaced by plain text substitution.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from plano.config.model import Route
from plano.routing.call import Turn

PLANO_ORCHESTRATOR = "plano-orchestrator"
ARCH_ROUTER = "arch-router"

MAX_ROUTING_TURNS = 16  # upstream MAX_ROUTING_TURNS
BYTES_PER_TOKEN = 4  # the budget's token estimate: UTF-8 bytes // 4
ELLIPSIS = "\u2026"  # marks the cut in a middle-trimmed message (3 UTF-8 bytes)
HEAD_SHARE_PERCENT = 60  # share of a trimmed message kept from its start; the rest from its end

DROPPED_ROLES = frozenset({"system", "developer", "tool"})

ROUTES_PLACEHOLDER = "{routes}"
CONVERSATION_PLACEHOLDER = "{conversation}"

ORCHESTRATOR_TEMPLATE = (
    "\n"
    "You are a helpful assistant that selects the most suitable routes based on user intent.\n"
    "You are provided with a list of available routes enclosed within <routes></routes> XML tags:\n"
    "<routes>\n"
    "{routes}\n"
    "</routes>\n"
    "\n"
    "You are also given the conversation context enclosed within <conversation></conversation>"
    " XML tags:\n"
    "<conversation>\n"
    "{conversation}\n"
    "</conversation>\n"
    "\n"
    "## Instructions\n"
    "1. Analyze the latest user intent from the conversation.\n"
    "2. Compare it against the available routes to find which routes can help fulfill the"
    " request.\n"
    "3. Respond only with the exact route names from <routes>.\n"
    "4. If no routes can help or the intent is already fulfilled, return an empty list.\n"
    "\n"
    "## Response Format\n"
    "Return your answer strictly in JSON as follows:\n"
    '{{"route": ["route_name_1", "route_name_2", "..."]}}\n'
    "If no routes are needed, return an empty list for `route`.\n"
)

ARCH_ROUTER_TEMPLATE = (
    "\n"
    "You are a helpful assistant designed to find the best suited route.\n"
    "You are provided with route description within <routes></routes> XML tags:\n"
    "<routes>\n"
    "{routes}\n"
    "</routes>\n"
    "\n"
    "<conversation>\n"
    "{conversation}\n"
    "</conversation>\n"
    "\n"
    "Your task is to decide which route is best suit with user intent on the conversation in"
    " <conversation></conversation> XML tags.  Follow the instruction:\n"
    "1. If the latest intent from user is irrelevant or user intent is full filled, response with"
    ' other route {"route": "other"}.\n'
    "2. You must analyze the route descriptions and find the best match route for user latest"
    " intent.\n"
    "3. You only response the name of the route that best matches the user's request, use the"
    " exact name in the <routes></routes>.\n"
    "\n"
    "Based on your analysis, provide your response in the following JSON formats if you decide to"
    " match any route:\n"
    '{"route": "route_name"}\n'
)

_FENCE = re.compile(r"\A```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)\n?[ \t]*```\Z", re.DOTALL)
_NO_ROUTE_NAMES = frozenset({"", "other"})


class RouterReplyError(Exception):
    """The router model's reply could not be read as a route answer."""


def _orchestrator_routes(routes: Sequence[Route]) -> str:
    return "\n".join(
        json.dumps(
            {
                "name": route.name,
                "description": route.description,
                # A constant tool-style schema: the orchestrator was trained with it on every route.
                "parameters": {"type": "object", "properties": {}, "required": []},
            },
            ensure_ascii=False,
        )
        for route in routes
    )


def _orchestrator_conversation(messages: Sequence[tuple[str, str]]) -> str:
    return json.dumps(
        [{"role": role, "content": content} for role, content in messages],
        indent=4,
        ensure_ascii=False,
    )


def _arch_router_routes(routes: Sequence[Route]) -> str:
    return json.dumps(
        [{"name": route.name, "description": route.description} for route in routes],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _arch_router_conversation(messages: Sequence[tuple[str, str]]) -> str:
    return json.dumps(
        [{"role": role, "content": content} for role, content in messages],
        separators=(",", ":"),
        ensure_ascii=False,
    )


@dataclass(frozen=True, slots=True)
class PromptFormat:
    """One prompt format: its template, how it renders routes and conversation, its budget."""

    template: str
    render_routes: Callable[[Sequence[Route]], str]
    render_conversation: Callable[[Sequence[tuple[str, str]]], str]
    default_budget_tokens: int


PROMPT_FORMATS: Mapping[str, PromptFormat] = MappingProxyType(
    {
        PLANO_ORCHESTRATOR: PromptFormat(
            ORCHESTRATOR_TEMPLATE, _orchestrator_routes, _orchestrator_conversation, 8192
        ),
        ARCH_ROUTER: PromptFormat(
            ARCH_ROUTER_TEMPLATE, _arch_router_routes, _arch_router_conversation, 2048
        ),
    }
)


def prompt_format_of(name: str) -> PromptFormat:
    """The prompt format called `name`; ValueError for an unknown one."""
    try:
        return PROMPT_FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(PROMPT_FORMATS))
        raise ValueError(f"unknown router prompt format {name!r} (known: {known})") from None


def default_budget(prompt_format: str) -> int:
    """The default token budget of a prompt format: 8192 orchestrator, 2048 arch-router."""
    return prompt_format_of(prompt_format).default_budget_tokens


def estimate_tokens(text: str) -> int:
    """The budget's token estimate of a text: its UTF-8 byte length // 4."""
    return len(text.encode("utf-8")) // BYTES_PER_TOKEN


def _head(data: bytes, limit: int) -> str:
    # Dropping an incomplete last character keeps the cut on a character boundary.
    return data[: max(limit, 0)].decode("utf-8", errors="ignore")


def _tail(data: bytes, limit: int) -> str:
    if limit <= 0:
        return ""
    return data[-limit:].decode("utf-8", errors="ignore")


def trim_middle(text: str, limit_bytes: int) -> str:
    """`text` cut to at most `limit_bytes` UTF-8 bytes: ~60 % head, `…`, ~40 % tail."""
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    marker = len(ELLIPSIS.encode("utf-8"))
    if limit_bytes <= marker:
        return _head(data, limit_bytes)
    available = limit_bytes - marker
    head_bytes = available * HEAD_SHARE_PERCENT // 100
    return _head(data, head_bytes) + ELLIPSIS + _tail(data, available - head_bytes)


def select_conversation(
    turns: Sequence[Turn], budget_tokens: int, template: str
) -> list[tuple[str, str]]:
    """The (role, text) messages the router sees, oldest first, within the token budget."""
    kept = [turn for turn in turns if turn.role not in DROPPED_ROLES and turn.text]
    kept = kept[-MAX_ROUTING_TURNS:]
    used = estimate_tokens(template)
    selected: list[tuple[str, str]] = []
    for turn in reversed(kept):
        tokens = estimate_tokens(turn.text)
        if used + tokens > budget_tokens:
            remaining = budget_tokens - used
            if turn.role == "user" and remaining > 0:
                selected.append((turn.role, trim_middle(turn.text, remaining * BYTES_PER_TOKEN)))
            break
        selected.append((turn.role, turn.text))
        used += tokens
    if not selected and kept:
        # Even a budget smaller than the template must show the router the latest intent.
        newest = kept[-1]
        selected.append((newest.role, newest.text))
    selected.reverse()
    return selected


def fill_template(template: str, routes_text: str, conversation_text: str) -> str:
    """The template with its two placeholders replaced by plain text (never str.format)."""
    before_routes, _, rest = template.partition(ROUTES_PLACEHOLDER)
    between, _, after = rest.partition(CONVERSATION_PLACEHOLDER)
    return before_routes + routes_text + between + conversation_text + after


def build_prompt(
    routes: Sequence[Route], turns: Sequence[Turn], prompt_format: str, budget_tokens: int
) -> str:
    """The exact router prompt for `routes` (declaration order) and the selected conversation."""
    fmt = prompt_format_of(prompt_format)
    messages = select_conversation(turns, budget_tokens, fmt.template)
    return fill_template(fmt.template, fmt.render_routes(routes), fmt.render_conversation(messages))


def router_request_body(model_id: str, prompt: str) -> dict[str, object]:
    """The Chat Completions body sent to the router model: one user message, temperature 0.01."""
    return {
        "model": model_id,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0.01,
    }


def _strip_fence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def _first_known(names: Sequence[object], known: Sequence[str]) -> str | None:
    for name in names:
        if isinstance(name, str) and name not in _NO_ROUTE_NAMES and name in known:
            return name
    return None


def parse_reply(content: str | None, route_names: Sequence[str]) -> str | None:
    """The route the router's reply names (first known one), None for no route.

    Raises RouterReplyError when the reply is not the expected JSON.
    """
    if content is None:
        return None
    text = _strip_fence(content.strip())
    # Upstream's clean-up: small models answer with Python-style quotes or a literal "\n".
    text = text.replace("'", '"').replace("\\n", "").strip()
    if not text:
        return None
    try:
        reply = json.loads(text)
    except ValueError as exc:
        raise RouterReplyError(f"not JSON: {_preview(content)}") from exc
    if not isinstance(reply, dict):
        raise RouterReplyError(f"not a JSON object: {_preview(content)}")
    route = reply.get("route")
    if route is None:
        return None
    if isinstance(route, str):
        return _first_known([route], route_names)
    if isinstance(route, list):
        return _first_known(route, route_names)
    raise RouterReplyError(f"`route` is neither a list nor a string: {_preview(content)}")


def _preview(content: str, limit: int = 120) -> str:
    flat = " ".join(content.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + ELLIPSIS
