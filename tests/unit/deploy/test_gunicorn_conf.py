"""conf/gunicorn.conf.py: its settings, and real `gunicorn -c conf/gunicorn.conf.py` runs."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import openai
import pytest
import requests

from tests.fakes.provider_server import Behavior, FakeProvider
from tests.services.gunicorn import REPO_ROOT, SHIPPED_WORKER, GunicornServer
from tests.services.ports import free_port, wait_until_closed

pytestmark = pytest.mark.integration

GUNICORN_CONF = REPO_ROOT / "conf" / "gunicorn.conf.py"
CONF_ARGS = ("-c", str(GUNICORN_CONF))


def write_config(directory: Path, base_url: str, port: int, timeout: str = "30s") -> Path:
    """A minimal plano config: one default provider (the fake) and the listener on `port`."""
    path = directory / "plano.yaml"
    path.write_text(
        "version: v0.4.0\n"
        "listeners:\n"
        "  - name: model_listener\n"
        "    type: model\n"
        "    address: 127.0.0.1\n"
        f"    port: {port}\n"
        f"    timeout: {timeout}\n"
        "model_providers:\n"
        "  - model: openai/gpt-4o-mini\n"
        "    access_key: $OPENAI_API_KEY\n"
        f"    base_url: {base_url}\n"
        "    default: true\n"
        "observability:\n"
        "  request_log: 'off'\n"
    )
    return path


@pytest.fixture()
def upstream() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


def load_conf(monkeypatch: pytest.MonkeyPatch, config: Path, **env: str) -> dict[str, object]:
    """The module namespace gunicorn reads from conf/gunicorn.conf.py."""
    monkeypatch.setenv("PLANO_CONFIG", str(config))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    for name in (
        "PLANO_WORKERS",
        "PLANO_GRACEFUL_TIMEOUT",
        "PLANO_ACCESS_LOG",
        "OPENBLAS_NUM_THREADS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_settings_come_from_the_plano_config_and_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/v1", 12345, timeout="120s")
    conf = load_conf(monkeypatch, config)
    assert conf["bind"] == ["127.0.0.1:12345"]
    assert conf["worker_class"] == SHIPPED_WORKER
    assert conf["workers"] == 2
    assert conf["worker_connections"] == 1000
    assert conf["timeout"] == 150
    assert conf["graceful_timeout"] == 30
    assert conf["keepalive"] == 75
    assert conf["preload_app"] is False
    assert conf["accesslog"] is None
    assert callable(conf["on_starting"]) and callable(conf["child_exit"])

    tuned = load_conf(
        monkeypatch, config, PLANO_WORKERS="5", PLANO_GRACEFUL_TIMEOUT="12", PLANO_ACCESS_LOG="-"
    )
    assert (tuned["workers"], tuned["graceful_timeout"], tuned["accesslog"]) == (5, 12, "-")


def test_workers_get_one_blas_thread_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/v1", 12345)
    load_conf(monkeypatch, config)
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    load_conf(monkeypatch, config, OPENBLAS_NUM_THREADS="4")
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"


class RecordingLog:
    """The part of gunicorn's logger the hooks use."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str, *args: object) -> None:
        self.lines.append(("info", msg % args))

    def warning(self, msg: str, *args: object) -> None:
        self.lines.append(("warning", msg % args))


@pytest.mark.parametrize(("workers", "warned"), [(1, False), (3, True)])
def test_on_starting_prepares_metrics_and_warns_about_per_worker_memory_sessions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: int, warned: bool
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/v1", 12345)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale")
    conf = load_conf(monkeypatch, config, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    log = RecordingLog()
    server = SimpleNamespace(log=log, cfg=SimpleNamespace(workers=workers))
    conf["on_starting"](server)  # type: ignore[operator]
    assert not (metrics_dir / "counter_1.db").exists()
    warnings = [line for level, line in log.lines if level == "warning"]
    if warned:
        assert len(warnings) == 1
        assert f"with {workers} workers affinity holds only within one worker" in warnings[0]
    else:
        assert warnings == []


def test_on_starting_says_nothing_about_sessions_with_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/v1", 12345)
    with config.open("a") as out:
        out.write("routing:\n  session_cache: {type: redis, url: 'redis://127.0.0.1:1/0'}\n")
    metrics_dir = tmp_path / "metrics"
    conf = load_conf(monkeypatch, config, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    log = RecordingLog()
    conf["on_starting"](SimpleNamespace(log=log, cfg=SimpleNamespace(workers=4)))  # type: ignore[operator]
    assert [level for level, _ in log.lines] == ["info"]


def test_gunicorn_keepalive_outlasts_nginx_upstream_keepalive() -> None:
    nginx_conf = (REPO_ROOT / "conf" / "nginx.conf").read_text()
    upstream = re.search(r"upstream plano_gunicorn \{[^}]*keepalive_timeout (\d+)s;", nginx_conf)
    assert upstream is not None
    # Below gunicorn's own default (2 s) too: plain `gunicorn wsgi:app` behind nginx gets no 502s.
    assert int(upstream[1]) < 2
    assert "\nkeepalive = 75\n" in GUNICORN_CONF.read_text()


def run_conf_expecting_exit(
    tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "OPENAI_API_KEY": "sk-test", "TMPDIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", *CONF_ARGS, "wsgi:app"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_config_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: v0.4.0\n"
        "listeners: [{name: l, type: model, port: 12000}]\n"
        "model_providers:\n"
        "  - model: openai/gpt-4o\n"
        "    base_url: not-a-url\n"
        "  - model: openai/gpt-4o-mini\n"
        "    acess_key: x\n"
    )
    result = run_conf_expecting_exit(tmp_path, {"PLANO_CONFIG": str(bad)})
    assert result.returncode == 2, result.stderr
    assert f"the config {bad} is not valid" in result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) >= 2, result.stderr
    assert "base_url" in result.stderr and "acess_key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_worker_count_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/v1", free_port())
    result = run_conf_expecting_exit(
        tmp_path, {"PLANO_CONFIG": str(config), "PLANO_WORKERS": "many"}
    )
    assert result.returncode == 2
    assert "PLANO_WORKERS='many' must be a positive integer" in result.stderr


def test_gunicorn_binds_the_config_listener_with_the_shipped_conf(
    upstream: FakeProvider, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(tmp_path, upstream.base_url, port)
    server = GunicornServer(
        config,
        tmp_path,
        workers=1,
        extra_args=CONF_ARGS,
        env={"OPENAI_API_KEY": "sk-test"},
        port=port,
        bind_from_config=True,
    )
    with server:
        assert "-b" not in server.command
        assert server.url == f"http://127.0.0.1:{port}"
        assert len(server.wait_for_workers(1)) == 1
        # on_starting made this master's multiprocess dir inside the server's TMPDIR.
        metrics_dir = Path(server.env["TMPDIR"]) / f"plano-metrics-{server.pid}"
        assert metrics_dir.is_dir()
        with openai.OpenAI(
            base_url=f"{server.url}/v1", api_key="client", max_retries=0, timeout=10
        ) as client:
            reply = client.chat.completions.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        assert reply.choices[0].message.content == "Hello from the fake provider."
        assert upstream.requests[-1].headers["authorization"] == "Bearer sk-test"
        # The master's hooks must not import ssl (redis does) before gevent patches a worker.
        assert "MonkeyPatchWarning" not in server.log_text()


def test_plano_workers_sets_the_worker_count(upstream: FakeProvider, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, upstream.base_url, port)
    env = {"OPENAI_API_KEY": "sk-test", "PLANO_WORKERS": "3"}
    with GunicornServer(
        config, tmp_path, workers=None, extra_args=CONF_ARGS, env=env, port=port
    ) as server:
        assert "-w" not in server.command
        assert len(server.wait_for_workers(3)) == 3


def test_sigterm_lets_a_stream_in_flight_finish(upstream: FakeProvider, tmp_path: Path) -> None:
    upstream.set_default(Behavior(chunks=5, chunk_delay_s=0.4))
    port = free_port()
    config = write_config(tmp_path, upstream.base_url, port)
    server = GunicornServer(
        config,
        tmp_path,
        extra_args=CONF_ARGS,
        env={"OPENAI_API_KEY": "sk-test", "PLANO_GRACEFUL_TIMEOUT": "10"},
        port=port,
    ).start()
    received: list[str] = []
    errors: list[BaseException] = []

    def stream_one() -> None:
        try:
            with requests.Session() as session, session.post(
                f"{server.url}/v1/chat/completions",
                json={"model": "openai/gpt-4o-mini", "stream": True,
                      "messages": [{"role": "user", "content": "hi"}]},
                stream=True,
                timeout=15,
            ) as reply:  # fmt: skip
                received.extend(line.decode() for line in reply.iter_lines() if line)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    caller = threading.Thread(target=stream_one)
    try:
        caller.start()
        upstream.wait_for_requests(1, timeout_s=10)
        code = server.terminate(timeout_s=20)
        caller.join(15)
    finally:
        server.stop()
    assert errors == []
    assert received and received[-1] == "data: [DONE]"
    assert code == 0
    assert wait_until_closed(port)
