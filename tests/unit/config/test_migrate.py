"""The v0.3.0 -> v0.4.0 migration: on load, and `migrate_file` keeping comments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plano.config.loader import load_settings, parse_settings
from plano.config.migrate import (
    MIGRATION_WARNING,
    guess_indents,
    is_before_v040,
    migrate_document,
    migrate_file,
    parse_version,
)
from plano.errors import ConfigError
from tests.unit.config.conftest import DATA, problems

CONFLICT = (
    "WARNING: routing preference 'complex_reasoning' has conflicting descriptions across "
    "providers; keeping the first one."
)


def test_migration_warning_is_the_spec_text() -> None:
    assert MIGRATION_WARNING == (
        "WARNING: inline routing_preferences under model_providers is deprecated and has been "
        "auto-migrated to top-level routing_preferences. Update your config to v0.4.0 top-level "
        "form."
    )


@pytest.mark.parametrize(
    ("version", "parsed", "older"),
    [
        ("v0.3.0", (0, 3, 0), True),
        ("0.2.0", (0, 2, 0), True),
        ("0.1-beta", (0, 1, 0), True),
        ("v0.1", (0, 1, 0), True),
        ("v0.4.0", (0, 4, 0), False),
        ("v0.4.1", (0, 4, 1), False),
        ("v1.0", (1, 0, 0), False),
        ("v0.4", (0, 4, 0), False),
        (0.4, (0, 4, 0), False),
        ("vX.y", (0, 0, 0), True),
    ],
)
def test_versions(version: object, parsed: tuple[int, ...], older: bool) -> None:
    assert parse_version(version) == parsed
    assert is_before_v040(version) is older


def test_conformance_34_inline_prefs_merge_in_declaration_order() -> None:
    settings = load_settings(DATA / "v030_two_providers.yaml", {})
    assert settings.version == "v0.4.0"
    assert [(r.name, r.description, r.models) for r in settings.routes] == [
        (
            "complex_reasoning",
            "complex reasoning problems",
            ("openai/gpt-4o", "anthropic/claude-sonnet-4-6"),
        ),
        ("code_generation", "generating new code", ("anthropic/claude-sonnet-4-6",)),
    ]
    assert settings.warnings == (CONFLICT, MIGRATION_WARNING)


def test_conformance_34_wildcard_inline_prefs_are_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(DATA / "v030_wildcard.yaml", {})
    assert caught.value.problems == (
        "model_providers[1].routing_preferences (line 6, col 5): Model openai/* has "
        "routing_preferences but uses wildcard (*). Models with routing preferences cannot be "
        "wildcards.",
    )
    assert "wildcard" in caught.value.problems[0]


def test_conformance_34_existing_top_level_route_wins() -> None:
    settings = load_settings(DATA / "v030_toplevel_wins.yaml", {})
    (route,) = settings.routes
    assert (route.description, route.models) == ("top-level description", ("openai/gpt-4o-mini",))
    assert settings.warnings == ()


def test_old_version_without_inline_prefs_is_upgraded_silently() -> None:
    settings = parse_settings(
        "version: v0.3.0\nmodel_providers: [{model: openai/gpt-4o}]\n"
        "routing_preferences: [{name: r, description: d, models: [gpt-4o]}]\n",
        {},
    )
    assert settings.version == "v0.4.0"
    assert settings.routes[0].models == ("openai/gpt-4o",)
    assert settings.warnings == ()


def test_inline_prefs_left_in_a_v040_config_are_an_error_naming_them() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(DATA / "v040_inline_left.yaml", {})
    assert caught.value.problems == (
        "model_providers[1].routing_preferences (line 6, col 5): inline routing_preferences "
        "(`complex_reasoning`, `math`) are not allowed in a v0.4.0 config: move them to top-level "
        "routing_preferences (or set an older version and run `plano migrate`)",
    )


def test_problems_in_migrated_routes_point_at_the_inline_pref() -> None:
    found = problems(
        """\
        version: v0.3.0
        model_providers:
          - model: openai/gpt-4o
            routing_preferences:
              - name: r
        """
    )
    assert found == ["routing_preferences[0] (line 5, col 9): missing required key `description`"]


def test_migrate_document_on_plain_data() -> None:
    doc = {
        "version": "0.2.0",
        "llm_providers": [
            {"model": "openai/a", "routing_preferences": [{"name": "x", "description": "dx"}]},
            {"model": "openai/b", "routing_preferences": [{"name": "x", "description": "dx"}]},
        ],
    }
    migration = migrate_document(doc)
    assert migration.changed and not migration.problems
    assert doc == {
        "version": "v0.4.0",
        "llm_providers": [{"model": "openai/a"}, {"model": "openai/b"}],
        "routing_preferences": [
            {"name": "x", "description": "dx", "models": ["openai/a", "openai/b"]}
        ],
    }
    assert migration.warnings == (MIGRATION_WARNING,)
    assert migration.origins == (
        (("routing_preferences", 0), ("llm_providers", 0, "routing_preferences", 0)),
    )


def test_migrate_file_rewrites_keeping_comments(tmp_path: Path) -> None:
    path = tmp_path / "plano.yaml"
    shutil.copy(DATA / "v030_two_providers.yaml", path)
    warnings: list[str] = []
    assert migrate_file(path, check=False, warn=warnings.append) is True
    assert warnings == [CONFLICT, MIGRATION_WARNING]
    assert path.read_text() == (
        "# A v0.3.0 config: inline preferences under providers.\n"
        "version: v0.4.0\n"
        "\n"
        "listeners:\n"
        "  egress_traffic:\n"
        "    port: 12000  # the model listener\n"
        "\n"
        "model_providers:\n"
        "  # the default model\n"
        "  - model: openai/gpt-4o-mini\n"
        "    default: true\n"
        "  - model: openai/gpt-4o\n"
        "  - model: anthropic/claude-sonnet-4-6\n"
        "\n"
        "routing_preferences:\n"
        "  - name: complex_reasoning\n"
        "    description: complex reasoning problems\n"
        "    models:\n"
        "      - openai/gpt-4o\n"
        "      - anthropic/claude-sonnet-4-6\n"
        "  - name: code_generation\n"
        "    description: generating new code\n"
        "    models:\n"
        "      - anthropic/claude-sonnet-4-6\n"
        "\n"
        "overrides:\n"
        "  llm_routing_model: embedded  # in-process router\n"
    )
    # The rewritten file loads to the same settings, with no warnings, and needs nothing more.
    before = load_settings(DATA / "v030_two_providers.yaml", {})
    after = load_settings(path, {})
    assert after.routes == before.routes and after.providers == before.providers
    assert after.warnings == ()
    assert migrate_file(path, check=True) is False
    assert migrate_file(path, check=False) is False


def test_migrate_file_check_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "plano.yaml"
    shutil.copy(DATA / "v030_two_providers.yaml", path)
    before = path.read_bytes()
    assert migrate_file(path, check=True) is True
    assert path.read_bytes() == before
    assert migrate_file(DATA / "v040_clean.yaml", check=True) is False


def test_migrate_file_keeps_unindented_sequences(tmp_path: Path) -> None:
    path = tmp_path / "plano.yaml"
    path.write_text(
        "version: 0.2.0\nmodel_providers:\n- model: openai/gpt-4o  # main\n"
        "  routing_preferences:\n  - name: r\n    description: d\n"
    )
    assert guess_indents(path.read_text()) == (2, 0)
    assert migrate_file(path, check=False)
    assert path.read_text() == (
        "version: v0.4.0\nmodel_providers:\n- model: openai/gpt-4o  # main\n"
        "routing_preferences:\n- name: r\n  description: d\n  models:\n  - openai/gpt-4o\n"
    )


def test_migrate_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "plano.yaml"
    shutil.copy(DATA / "v030_wildcard.yaml", path)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        migrate_file(path, check=False)
    assert "wildcard" in caught.value.problems[0]
    assert caught.value.problems[0].startswith("model_providers[1].routing_preferences (line 6")
    assert path.read_bytes() == before
