"""Shared fixtures: the installed encoder (PLANO_ROUTER_MODEL_DIR or the default directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plano.embedded_router import DEFAULT_MODEL_DIR, SentenceEncoder


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """Where CI installed the model (`plano install-router-model`)."""
    return Path(os.environ.get("PLANO_ROUTER_MODEL_DIR", str(DEFAULT_MODEL_DIR)))


@pytest.fixture(scope="session")
def encoder(model_dir: Path) -> SentenceEncoder:
    """The real encoder, loaded once; a missing model fails with the install hint."""
    return SentenceEncoder.load(model_dir)


@pytest.fixture(scope="session")
def float32_encoder(model_dir: Path) -> SentenceEncoder:
    """The same encoder with float32 layers: reproduces the published model outputs."""
    return SentenceEncoder.load(model_dir, quantized=False)
