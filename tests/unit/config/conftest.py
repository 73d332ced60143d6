"""Helpers for the config tests: parse YAML text, collect the problems of a bad one."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from plano.config.loader import parse_settings
from plano.config.model import Settings
from plano.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / "data" / "configs"
REPO = Path(__file__).resolve().parents[3]

PROVIDERS = """\
version: v0.4.0
model_providers:
  - model: openai/gpt-4o-mini
    default: true
  - model: openai/gpt-4o
  - model: anthropic/claude-sonnet-4-6
"""


def parse(text: str, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from dedented YAML text."""
    return parse_settings(textwrap.dedent(text), env or {})


def problems(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of a config that must not load."""
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    return list(caught.value.problems)


def with_providers(extra: str) -> str:
    """The three standard providers plus `extra` top-level YAML."""
    return PROVIDERS + textwrap.dedent(extra)
