"""conf/plano.yaml and every conf/examples/*.yaml load with no environment set."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from plano.config.loader import load_settings
from plano.config.model import Prefer, SessionCacheType, Settings
from plano.config.providers import HOSTED_ROUTER_URL
from tests.unit.config.conftest import REPO

EXAMPLES = REPO / "conf" / "examples"
ALL = [REPO / "conf" / "plano.yaml", *sorted(EXAMPLES.glob("*.yaml"))]


def test_every_example_is_present() -> None:
    assert {path.name for path in EXAMPLES.glob("*.yaml")} >= {
        "model_based.yaml",
        "alias_based.yaml",
        "preference_aligned.yaml",
        "cost_aware.yaml",
        "latency_aware.yaml",
        "affinity_redis.yaml",
        "router_ollama.yaml",
        "router_vllm.yaml",
        "v030_inline.yaml",
    }


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_config_loads_offline_with_no_env(path: Path) -> None:
    settings = load_settings(path, {})
    assert settings.version == "v0.4.0"
    assert settings.default_provider is not None
    assert settings.router is not None


def test_default_config() -> None:
    settings = load_settings(REPO / "conf" / "plano.yaml", {})
    assert [p.name for p in settings.providers] == [
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
        "anthropic/claude-sonnet-4-6",
    ]
    assert dict(settings.model_aliases) == {
        "fast-model": "openai/gpt-4o-mini",
        "creative-model": "anthropic/claude-sonnet-4-6",
    }
    assert [r.name for r in settings.routes] == ["code_generation", "complex_reasoning"]
    assert settings.router is not None and settings.router.is_embedded
    assert settings.warnings == ()
    assert all(p.access_key is None for p in settings.providers)


def test_examples_mean_what_they_say() -> None:
    def load(name: str) -> Settings:
        return load_settings(EXAMPLES / name, {})

    pref = load("preference_aligned.yaml")
    assert pref.router is not None and pref.router.url == HOSTED_ROUTER_URL
    cost = load("cost_aware.yaml")
    assert cost.cost_source is not None and cost.cost_source.provider == "digitalocean"
    assert cost.routes[0].prefer is Prefer.CHEAPEST
    latency = load("latency_aware.yaml")
    assert latency.latency_source is not None
    assert latency.latency_source.url == "http://localhost:9090"
    assert latency.latency_source.query == (
        "sum by (model_name) (rate(plano_llm_latency_seconds_sum[5m])) / sum by (model_name) "
        "(rate(plano_llm_latency_seconds_count[5m]))"
    )
    assert latency.routes[0].prefer is Prefer.FASTEST
    redis = load("affinity_redis.yaml")
    assert redis.routing.session_cache.type is SessionCacheType.REDIS
    assert redis.routing.session_cache.url == "redis://localhost:6379/0"
    ollama = load("router_ollama.yaml")
    assert ollama.router is not None
    assert ollama.router.model_id == "hf.co/katanemo/Arch-Router-1.5B.gguf:Q4_K_M"
    assert ollama.router.url == "http://localhost:11434/v1/chat/completions"
    assert ollama.router.prompt_format == "arch-router"
    assert all(p.provider != "plano" for p in ollama.providers)
    vllm = load("router_vllm.yaml")
    assert vllm.router is not None
    assert (vllm.router.model_id, vllm.router.url) == (
        "Plano-Orchestrator",
        "http://plano-orchestrator:10000/v1/chat/completions",
    )
    assert len(vllm.providers) == 3
    old = load("v030_inline.yaml")
    assert [(r.name, r.models) for r in old.routes] == [
        ("complex_reasoning", ("openai/gpt-4o", "anthropic/claude-sonnet-4-6")),
        ("code_generation", ("anthropic/claude-sonnet-4-6",)),
    ]
    model_based = load("model_based.yaml")
    assert model_based.routes == ()


def test_validate_as_a_subprocess_is_quick() -> None:
    """`plano validate` on each example in a fresh interpreter (the budget is generous for CI)."""
    code = "from plano.cli.validate import validate; validate()"
    for path in ALL:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, check=False
        )
        elapsed = time.perf_counter() - started
        assert done.returncode == 0, done.stderr
        assert elapsed < 3.0, f"{path.name}: {elapsed:.2f}s"
