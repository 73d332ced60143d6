"""Which declared model a name means: alias resolution and model lookup (SPEC §4 steps 1-2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from plano.config.model import ModelProvider


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A declared model: its canonical id, its provider entry and the id sent upstream."""

    canonical: str
    provider: ModelProvider
    upstream_id: str


class ModelCatalog:
    """Looks names up the way SPEC §4 says: exact name, full, bare id, then a `p/*` wildcard."""

    def __init__(self, providers: Iterable[ModelProvider], aliases: Mapping[str, str]) -> None:
        self._aliases = dict(aliases)
        self._exact: dict[str, ResolvedModel] = {}
        self._wildcards: dict[str, ModelProvider] = {}
        self._declared: list[ResolvedModel] = []
        for provider in providers:
            if provider.is_wildcard:
                self._wildcards.setdefault(provider.provider, provider)
                continue
            resolved = ResolvedModel(provider.name, provider, provider.model_id)
            self._declared.append(resolved)
            for key in (provider.name, provider.model, provider.model_id):
                self._exact.setdefault(key, resolved)

    @property
    def declared(self) -> tuple[ResolvedModel, ...]:
        """Every explicitly declared model, in declaration order."""
        return tuple(self._declared)

    def alias_target(self, name: str) -> str | None:
        """The alias's target (one hop, exact key), or None when `name` is no alias."""
        return self._aliases.get(name)

    @property
    def aliases(self) -> Mapping[str, str]:
        """Alias -> target, as configured."""
        return self._aliases

    def lookup(self, name: str) -> ResolvedModel | None:
        """The declared model `name` means, or None."""
        found = self._exact.get(name)
        if found is not None:
            return found
        prefix, sep, model_id = name.partition("/")
        if sep and model_id:
            wildcard = self._wildcards.get(prefix)
            if wildcard is not None:
                return ResolvedModel(name, wildcard, model_id)
        return None

    def canonical(self, name: str) -> str:
        """The canonical id of `name` when declared, else `name` unchanged."""
        found = self.lookup(name)
        return found.canonical if found is not None else name

    def is_declared(self, name: str) -> bool:
        """True when `name` resolves to a declared model."""
        return self.lookup(name) is not None
