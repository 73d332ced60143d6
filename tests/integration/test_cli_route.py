"""`plano route FILE --message TEXT`: the dry-run decision against a FakeRouter router model.

The command prints the route, the ranked models and why; `--show-prompt` prints the exact prompt,
which must be byte for byte what the router model received (and what the golden builder makes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from plano.cli.main import cli
from plano.config.loader import load_settings
from plano.routing.call import Turn
from plano.routing.router_prompt import build_prompt
from tests.fakes.router_server import FakeReply, FakeRouter
from tests.integration.router_setup import (
    CODING,
    REASONING,
    ROUTES_YAML,
    keyword_router,
    providers_yaml,
)
from tests.services.gunicorn import REPO_ROOT

PROMPT_END = "--- end of prompt"


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    with FakeRouter(keyword_router()) as fake:
        yield fake


@pytest.fixture()
def fresh_router(router: FakeRouter) -> FakeRouter:
    router.clear()
    router.reply = keyword_router()
    return router


@pytest.fixture(scope="module")
def config(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Providers nobody calls (a dry run forwards nothing) and FakeRouter as the router model."""
    path = tmp_path_factory.mktemp("cli") / "plano.yaml"
    path.write_text(
        "version: v0.4.0\n"
        + providers_yaml("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1")
        + f"  - model: plano/router-1\n    base_url: {router.base_url}\n"
        + ROUTES_YAML
        + "overrides:\n  llm_routing_model: plano/router-1\n  llm_routing_timeout: 0.5\n",
        encoding="utf-8",
    )
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["route", *args], catch_exceptions=False)


def printed_prompt(output: str) -> str:
    """The text between the `--- prompt ...` line and `--- end of prompt`."""
    start = output.index("--- prompt (")
    body_start = output.index("\n", start) + 1
    return output[body_start : output.index(PROMPT_END)]


def test_message_prints_route_ranked_models_and_why(config: Path, fresh_router: FakeRouter) -> None:
    result = run(str(config), "--message", f"{CODING}: write a B-tree in C")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "route:  code_generation" in lines
    models_at = lines.index("models:")
    assert lines[models_at + 1 : models_at + 3] == [
        "  1. anthropic/claude-sonnet-4-6",
        "  2. openai/gpt-4o",
    ]
    assert any(line.startswith("why:") and "code_generation" in line for line in lines)
    (received,) = fresh_router.requests
    settings = load_settings(config, os.environ)
    golden = build_prompt(
        settings.routes,
        [Turn("user", f"{CODING}: write a B-tree in C")],
        "plano-orchestrator",
        8192,
    )
    assert received.json == {
        "model": "router-1",
        "messages": [{"role": "user", "content": golden}],
        "temperature": 0.01,
    }
    assert "--- prompt" not in result.stdout  # only with --show-prompt


def test_messages_file_and_show_prompt(
    config: Path, fresh_router: FakeRouter, tmp_path: Path
) -> None:
    conversation = [
        {"role": "system", "content": "You are a maths tutor."},
        {"role": "user", "content": "Bonjour ! Ça va ?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Très bien."}]},
        {"role": "tool", "content": "ignored tool output"},
        {"role": "user", "content": f"{REASONING}: prove the AM-GM inequality"},
    ]
    messages = tmp_path / "conversation.json"
    messages.write_text(json.dumps(conversation, ensure_ascii=False), encoding="utf-8")
    result = run(str(config), "--messages", str(messages), "--show-prompt")
    assert result.exit_code == 0, result.output
    shown = printed_prompt(result.stdout)
    (received,) = fresh_router.requests
    assert shown == received.prompt  # the exact prompt, byte for byte
    settings = load_settings(config, os.environ)
    turns = [
        Turn("system", "You are a maths tutor."),
        Turn("user", "Bonjour ! Ça va ?"),
        Turn("assistant", "Très bien."),
        Turn("tool", "ignored tool output"),
        Turn("user", f"{REASONING}: prove the AM-GM inequality"),
    ]
    assert shown == build_prompt(settings.routes, turns, "plano-orchestrator", 8192)
    assert "maths tutor" not in shown and "ignored tool output" not in shown
    assert "Ça va" in shown
    assert "--- prompt (plano-orchestrator) for router-1 at " in result.stdout
    assert "route:  complex_reasoning" in result.stdout
    assert "  1. openai/gpt-4o\n  2. openai/gpt-4o-mini\n" in result.stdout


def test_no_match_shows_the_fallback(config: Path, fresh_router: FakeRouter) -> None:
    result = run(str(config), "-m", "hello", "-m", "what's the weather in Oslo?")
    assert result.exit_code == 0, result.output
    assert "route:  (none)" in result.stdout
    assert "  1. openai/gpt-4o-mini\n" in result.stdout
    assert "no route matched" in result.stdout
    named = run(str(config), "-m", "what's the weather in Oslo?", "--model", "gpt-4o")
    assert "  1. openai/gpt-4o\n" in named.stdout
    assert len(fresh_router.requests) == 2  # a dry run always asks the router


def test_router_failure_is_reported_and_fails_open(config: Path, fresh_router: FakeRouter) -> None:
    fresh_router.reply = FakeReply(status=500)
    result = run(str(config), "-m", f"{CODING}: write a shell")
    assert result.exit_code == 0, result.output
    assert "route:  (none)" in result.stdout
    assert "  1. openai/gpt-4o-mini\n" in result.stdout
    assert "router error: HTTP 500 (failed open)" in result.stdout


def test_usage_and_config_errors(config: Path, tmp_path: Path) -> None:
    no_message = CliRunner().invoke(cli, ["route", str(config)])
    assert no_message.exit_code == 2
    assert "--message" in no_message.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v0.4.0\nmodel_providers: []\nroutng_preferences: []\n")
    broken = CliRunner().invoke(cli, ["route", str(bad), "-m", "hi"])
    assert broken.exit_code == 2
    assert "routing_preferences" in broken.stderr  # "did you mean" names the right key


def test_the_installed_command(config: Path, fresh_router: FakeRouter) -> None:
    """The console script itself, in a fresh process."""
    plano = Path(sys.executable).with_name("plano")
    done = subprocess.run(
        [
            str(plano),
            "route",
            str(config),
            "--message",
            f"{CODING}: a regex engine",
            "--show-prompt",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "route:  code_generation" in done.stdout
    assert printed_prompt(done.stdout) == fresh_router.requests[0].prompt


def test_embedded_router_config(fresh_router: FakeRouter) -> None:
    """conf/plano.yaml routes offline; --show-prompt says there is no prompt to show.

    A fresh process with no OPENBLAS_NUM_THREADS: the command pins BLAS itself (a multi-threaded
    OpenBLAS on a busy 2-core machine took minutes here instead of seconds).
    """
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    plano = Path(sys.executable).with_name("plano")
    done = subprocess.run(
        [
            str(plano), "route", str(REPO_ROOT / "conf" / "plano.yaml"),
            "-m", "Implement a Python function that reverses a linked list",
            "--show-prompt",
        ],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "route:  code_generation" in done.stdout
    assert "  1. anthropic/claude-sonnet-4-6\n  2. openai/gpt-4o\n" in done.stdout
    assert "--- no prompt: the router is `embedded`" in done.stdout
    assert fresh_router.requests == []
