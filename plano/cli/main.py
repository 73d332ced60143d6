"""The `plano` command group."""

from __future__ import annotations

import os

import click

from plano import __version__
from plano.cli.boot import limit_blas_threads
from plano.cli.migrate import migrate
from plano.cli.obs import obs
from plano.cli.route import route
from plano.cli.router_model import install_router_model
from plano.cli.serve import serve
from plano.cli.validate import validate


@click.group()
@click.version_option(__version__, prog_name="plano")
def cli() -> None:
    """plano: an LLM routing gateway."""
    # Before any command loads numpy (the embedded router): a multi-threaded OpenBLAS on a busy
    # machine made `plano route` with the embedded router 7x slower than one thread.
    limit_blas_threads(os.environ)


cli.add_command(serve)
cli.add_command(route)
cli.add_command(validate)
cli.add_command(migrate)
cli.add_command(obs)
cli.add_command(install_router_model)
