"""Small builders for routing tables: providers, routes and calls without YAML."""

from __future__ import annotations

from plano.config.model import ModelProvider, Prefer, Route
from plano.config.providers import kind_of
from plano.routing.call import ChatCall, Dialect, Turn


def provider(model: str, *, name: str | None = None, default: bool = False) -> ModelProvider:
    """A provider entry as the config loader would build it."""
    prefix, _, model_id = model.partition("/")
    return ModelProvider(
        model=model,
        name=name or model,
        provider=prefix,
        model_id=model_id,
        interface=kind_of(prefix).dialect,
        default=default,
    )


def route(name: str, *models: str, prefer: Prefer = Prefer.NONE) -> Route:
    """A route with a stock description."""
    return Route(name, f"{name} requests", tuple(models), prefer)


def call(model: str | None = None, text: str = "hello", **kw: object) -> ChatCall:
    """An OpenAI-dialect call with one user turn."""
    return ChatCall(Dialect.OPENAI, model, (Turn("user", text),), **kw)  # type: ignore[arg-type]


# The upstream conformance "config A" (reference/upstream-notes.md §12).
PROVIDERS = (
    provider("openai/gpt-4o-mini", default=True),
    provider("openai/gpt-4o"),
    provider("anthropic/claude-sonnet-4-6"),
    provider("anthropic/*"),
)
ALIASES = {"fast-model": "openai/gpt-4o-mini", "creative-model": "anthropic/claude-sonnet-4-6"}
ROUTES = (
    route("complex_reasoning", "openai/gpt-4o", "openai/gpt-4o-mini"),
    route("code_generation", "anthropic/claude-sonnet-4-6", "openai/gpt-4o"),
)
