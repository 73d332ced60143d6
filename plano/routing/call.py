"""The dialect-neutral view of one client call: what routing reads of a request."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from plano.config.model import Route


class Dialect(enum.Enum):
    """The API dialect a client (or a provider) speaks."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"


@dataclass(frozen=True, slots=True)
class Turn:
    """One message as routing sees it: its role and its text (text parts joined by newlines)."""

    role: str  # user | assistant | system | developer | tool
    text: str


@dataclass(frozen=True, slots=True)
class ChatCall:
    """One client call, typed: the model asked for, the conversation, and routing inputs."""

    dialect: Dialect
    model: str | None  # as the client named it; None when absent or empty
    turns: tuple[Turn, ...]
    stream: bool = False
    routes: tuple[Route, ...] | None = None  # per-request routes; None: the config's; (): off
    affinity_id: str | None = None
    tenant: str | None = None
    tool_names: tuple[str, ...] = ()
