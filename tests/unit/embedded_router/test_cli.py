"""`plano install-router-model` on an already installed directory (no network: it is a no-op)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from plano.cli.router_model import install_router_model
from plano.embedded_router.model_files import ENCODER_FILE, LEXICON_FILE


def test_install_router_model_reports_where_files_are(model_dir: Path) -> None:
    result = CliRunner().invoke(install_router_model, ["--dir", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert str(model_dir / "model.safetensors") in result.output
    assert str(model_dir / ENCODER_FILE) in result.output
    assert str(model_dir / LEXICON_FILE) in result.output
    assert "router model ready" in result.output
