"""The `plano` command group.

Subcommands are imported when they run, not when `plano` starts: `plano validate` should not pay
for Flask, rich or numpy (see tests/benchmarks/bench_startup.py).
"""

from __future__ import annotations

import importlib
import os

import click

from plano import __version__
from plano.cli.boot import limit_blas_threads

# command name -> "module:attribute" of its click command
COMMANDS = {
    "serve": "plano.cli.serve:serve",
    "route": "plano.cli.route:route",
    "validate": "plano.cli.validate:validate",
    "migrate": "plano.cli.migrate:migrate",
    "obs": "plano.cli.obs:obs",
    "install-router-model": "plano.cli.router_model:install_router_model",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="plano")
def cli() -> None:
    """plano: an LLM routing gateway."""
    # Before any command loads numpy (the embedded router): a multi-threaded OpenBLAS on a busy
    # machine made `plano route` with the embedded router 7x slower than one thread.
    limit_blas_threads(os.environ)
