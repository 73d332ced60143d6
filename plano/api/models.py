"""GET /v1/models: declared models and aliases, never the router model (SPEC §2)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from plano.config.providers import kind_of

models_bp = Blueprint("models", __name__)


@models_bp.get("/v1/models")
def list_models() -> ResponseReturnValue:
    """The model list in OpenAI's shape."""
    settings = current_app.extensions["plano"].settings
    data: list[dict[str, object]] = []
    seen: set[str] = set()
    for provider in settings.providers:
        if provider.is_wildcard or provider.name in seen:
            continue
        seen.add(provider.name)
        owned_by = kind_of(provider.provider, provider.interface).owned_by or provider.provider
        data.append({"id": provider.name, "object": "model", "created": 0, "owned_by": owned_by})
    for alias in settings.model_aliases:
        if alias not in seen:
            seen.add(alias)
            data.append({"id": alias, "object": "model", "created": 0, "owned_by": "plano"})
    return jsonify({"object": "list", "data": data})
