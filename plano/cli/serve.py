"""`plano serve`: run gunicorn with gevent workers and conf/gunicorn.conf.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO_ROOT / "conf" / "gunicorn.conf.py"
APP = "plano.cli.boot:app_from_environment()"


@click.command()
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="PLANO_CONFIG",
    help="Config file (default: $PLANO_CONFIG, else conf/plano.yaml).",
)
@click.option("--bind", "-b", help="Override the listener's address:port.")
@click.option("--workers", "-w", type=int, help="Number of gevent workers (default 2).")
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(
    config: str | None, bind: str | None, workers: int | None, gunicorn_args: tuple[str, ...]
) -> None:
    """Start the gateway: gunicorn with gevent workers, bound to the config's model listener."""
    if config:
        os.environ["PLANO_CONFIG"] = str(Path(config).resolve())
    elif not os.environ.get("PLANO_CONFIG"):
        os.environ["PLANO_CONFIG"] = str(REPO_ROOT / "conf" / "plano.yaml")
    argv = [sys.executable, "-m", "gunicorn", "-k", "gevent"]
    if GUNICORN_CONF.exists():
        argv += ["-c", str(GUNICORN_CONF)]
    if bind:
        argv += ["-b", bind]
    if workers:
        argv += ["-w", str(workers)]
    argv += [*gunicorn_args, APP]
    os.execv(sys.executable, argv)
