"""The `plano` group: every command of SPEC §9, plus install-router-model, is reachable."""

from __future__ import annotations

from click.testing import CliRunner

from plano.cli.main import cli


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("serve", "route", "validate", "migrate", "obs", "install-router-model"):
        assert f"  {command} " in result.output
