"""`plano migrate FILE [--check]`: rewrite a pre-v0.4.0 config in v0.4.0 form, keeping comments."""

from __future__ import annotations

import sys

import click

from plano.config.migrate import migrate_file
from plano.errors import ConfigError

EXIT_NEEDS_MIGRATION = 1
EXIT_INVALID = 2


def _warn(message: str) -> None:
    click.echo(message, err=True)


@click.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the file needs migrating.")
def migrate(config_file: str, check: bool) -> None:
    """Upgrade a config to v0.4.0 (inline routing_preferences become top-level routes)."""
    try:
        changed = migrate_file(config_file, check, warn=None if check else _warn)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(EXIT_INVALID)
    if check:
        if changed:
            click.echo(
                f"{config_file}: needs migrating to v0.4.0 (run `plano migrate {config_file}`)"
            )
            sys.exit(EXIT_NEEDS_MIGRATION)
        click.echo(f"{config_file}: already v0.4.0")
        return
    if changed:
        click.echo(f"{config_file}: migrated to v0.4.0")
    else:
        click.echo(f"{config_file}: already v0.4.0; nothing to do")
