"""Fixtures for tests that run plano for real: gunicorn with gevent workers, fake providers.

`plano_server(config_text, workers=1, env=None)` writes the config, starts gunicorn on a free
127.0.0.1 port and stops it at teardown; `{tmp}` in the text becomes the test's temp dir.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.fakes.provider_server import Behavior, FakeProvider
from tests.services.gunicorn import GunicornServer

StartPlano = Callable[..., GunicornServer]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything here starts real processes."""
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture()
def openai_provider() -> Iterator[FakeProvider]:
    """A fake OpenAI-dialect provider (any path prefix speaks both shapes)."""
    with FakeProvider(default=Behavior()) as fake:
        yield fake


@pytest.fixture()
def anthropic_provider() -> Iterator[FakeProvider]:
    """A second fake provider, configured as the Anthropic one."""
    with FakeProvider(default=Behavior()) as fake:
        yield fake


@pytest.fixture()
def plano_server(tmp_path: Path) -> Iterator[StartPlano]:
    """Starts plano under gunicorn from a config text; every server is stopped at teardown."""
    started: list[GunicornServer] = []

    def start(
        config_text: str, *, workers: int = 1, env: Mapping[str, str] | None = None
    ) -> GunicornServer:
        config = tmp_path / f"plano-{len(started)}.yaml"
        config.write_text(config_text.replace("{tmp}", str(tmp_path)), encoding="utf-8")
        server = GunicornServer(config, tmp_path, workers=workers, env=env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
