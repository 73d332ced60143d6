"""`plano route`: the dry-run decision from a config file, without a server."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from plano.cli.route import route

NO_ROUTES = """\
version: v0.4.0
model_providers:
  - model: openai/gpt-4o-mini
    access_key: sk-test
    default: true
observability:
  request_log: 'off'
"""


def test_without_routes_the_default_provider_is_picked(tmp_path: Path) -> None:
    config = tmp_path / "plano.yaml"
    config.write_text(NO_ROUTES)
    result = CliRunner().invoke(route, [str(config), "--message", "hi"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "route:  (none)",
        "models:",
        "  1. openai/gpt-4o-mini",
        "why:    no model named and no routes: the default provider",
    ]


def test_a_message_is_required(tmp_path: Path) -> None:
    config = tmp_path / "plano.yaml"
    config.write_text(NO_ROUTES)
    result = CliRunner().invoke(route, [str(config)])
    assert result.exit_code == 2
    assert "give --message TEXT or --messages FILE" in result.output
