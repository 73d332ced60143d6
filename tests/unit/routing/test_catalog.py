from __future__ import annotations

import pytest

from plano.routing.catalog import ModelCatalog
from tests.unit.routing.builders import ALIASES, PROVIDERS, provider


@pytest.fixture
def catalog() -> ModelCatalog:
    return ModelCatalog(PROVIDERS, ALIASES)


@pytest.mark.parametrize(
    ("name", "canonical", "upstream_id"),
    [
        ("openai/gpt-4o", "openai/gpt-4o", "gpt-4o"),
        ("gpt-4o", "openai/gpt-4o", "gpt-4o"),
        ("claude-sonnet-4-6", "anthropic/claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("anthropic/claude-new", "anthropic/claude-new", "claude-new"),
    ],
)
def test_lookup_exact_full_bare_then_wildcard(
    catalog: ModelCatalog, name: str, canonical: str, upstream_id: str
) -> None:
    found = catalog.lookup(name)
    assert found is not None
    assert (found.canonical, found.upstream_id) == (canonical, upstream_id)


@pytest.mark.parametrize("name", ["nonexistent-model", "openai/nope", "groq/llama", "", "a/"])
def test_unknown_names(catalog: ModelCatalog, name: str) -> None:
    assert catalog.lookup(name) is None
    assert catalog.canonical(name) == name


def test_custom_name_is_the_canonical_id() -> None:
    catalog = ModelCatalog([provider("openai/gpt-4o", name="smart")], {})
    for name in ("smart", "openai/gpt-4o", "gpt-4o"):
        found = catalog.lookup(name)
        assert found is not None and found.canonical == "smart"


def test_alias_is_one_hop_exact(catalog: ModelCatalog) -> None:
    assert catalog.alias_target("fast-model") == "openai/gpt-4o-mini"
    assert catalog.alias_target("FAST-MODEL") is None
    assert catalog.alias_target("gpt-4o") is None


def test_declared_excludes_wildcards(catalog: ModelCatalog) -> None:
    assert [m.canonical for m in catalog.declared] == [
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
        "anthropic/claude-sonnet-4-6",
    ]
