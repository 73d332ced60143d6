"""The exported metrics: values after observe_*, bounded labels, failures swallowed, and
aggregation across processes through one prometheus_client multiprocess directory."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from plano.api.metrics import metrics_bp
from plano.observability import multiproc
from plano.observability.metrics import MAX_ROUTE_LABELS, Metrics, status_class

REPO = Path(__file__).resolve().parents[3]


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(body: bytes, name: str, **labels: str) -> float | None:
    return samples(body).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def metrics() -> Metrics:
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # these tests read this process's values
    return Metrics()


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None


def test_values_after_observe(metrics: Metrics) -> None:
    metrics.observe_http("chat_completions", 200)
    metrics.observe_http("chat_completions", 201)
    metrics.observe_http("messages", 404)
    metrics.observe_http("made-up", 503)
    metrics.observe_llm("openai/gpt-4o", 200, 1.5, 0.3, 100, 20, 40)
    metrics.observe_llm("openai/gpt-4o", 200, 0.5, None, Usage(10, 5, None))
    metrics.observe_llm("openai/gpt-4o", 429, None, None, None)
    metrics.observe_llm("openai/gpt-4o", None, None, None)  # connect error: no status
    metrics.observe_router("code_generation", "matched", 0.2)
    metrics.observe_router(None, "no_route", 0.1)
    metrics.observe_router("code_generation", "pinned", None)
    metrics.observe_session("redis", "hit")
    metrics.observe_session("redis", "error")
    metrics.set_source_age("cost", 12.0)
    metrics.set_source_age("cost", 42.0)
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    got = samples(body)

    def v(name: str, **labels: str) -> float | None:
        return got.get((name, tuple(sorted(labels.items()))))

    assert v("plano_http_requests_total", handler="chat_completions", status_class="2xx") == 2
    assert v("plano_http_requests_total", handler="messages", status_class="4xx") == 1
    assert v("plano_http_requests_total", handler="other", status_class="5xx") == 1
    model = "openai/gpt-4o"
    assert v("plano_llm_latency_seconds_count", model_name=model) == 2
    assert v("plano_llm_latency_seconds_sum", model_name=model) == 2.0
    assert v("plano_llm_latency_seconds_bucket", model_name=model, le="0.05") == 0
    assert v("plano_llm_latency_seconds_bucket", model_name=model, le="120.0") == 2
    assert v("plano_llm_time_to_first_token_seconds_count", model_name=model) == 1
    assert v("plano_llm_tokens_total", model_name=model, kind="prompt") == 110
    assert v("plano_llm_tokens_total", model_name=model, kind="completion") == 25
    assert v("plano_llm_tokens_total", model_name=model, kind="cached") == 40
    assert v("plano_llm_upstream_requests_total", model_name=model, status_class="2xx") == 2
    assert v("plano_llm_upstream_requests_total", model_name=model, status_class="4xx") == 1
    assert v("plano_llm_upstream_requests_total", model_name=model, status_class="error") == 1
    assert v("plano_router_decisions_total", route="code_generation", outcome="matched") == 1
    assert v("plano_router_decisions_total", route="none", outcome="no_route") == 1
    assert v("plano_router_decisions_total", route="code_generation", outcome="pinned") == 1
    assert v("plano_router_duration_seconds_count") == 2
    assert v("plano_session_cache_events_total", backend="redis", outcome="hit") == 1
    assert v("plano_session_cache_events_total", backend="redis", outcome="error") == 1
    assert v("plano_metrics_source_age_seconds", source="cost") == 42.0


def test_every_spec_family_is_exported(metrics: Metrics) -> None:
    names = {f.name for f in text_string_to_metric_families(metrics.render()[0].decode())}
    assert names >= {
        "plano_http_requests", "plano_llm_latency_seconds",
        "plano_llm_time_to_first_token_seconds", "plano_llm_tokens",
        "plano_llm_upstream_requests", "plano_router_decisions", "plano_router_duration_seconds",
        "plano_session_cache_events", "plano_metrics_source_age_seconds",
    }  # fmt: skip


def test_two_apps_in_one_process_do_not_collide() -> None:
    first, second = Metrics(), Metrics()
    first.observe_http("models", 200)
    assert value(first.render()[0], "plano_http_requests_total", handler="models",
                 status_class="2xx") == 1  # fmt: skip
    assert value(second.render()[0], "plano_http_requests_total", handler="models",
                 status_class="2xx") is None  # fmt: skip


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "2xx"), (204, "2xx"), (302, "3xx"), (404, "4xx"), (429, "4xx"), (500, "5xx"),
     (599, "5xx"), (None, "error"), (0, "other"), (700, "other")],
)  # fmt: skip
def test_status_class(status, expected) -> None:
    assert status_class(status) == expected


def test_outcomes_outside_the_closed_sets_are_bounded(metrics: Metrics) -> None:
    metrics.observe_router("r", "weird", 0.1)
    metrics.observe_session("memory", "weird")
    body = metrics.render()[0]
    assert value(body, "plano_router_decisions_total", route="r", outcome="error") == 1
    assert value(body, "plano_session_cache_events_total", backend="memory", outcome="error") == 1


def test_open_labels_are_capped(metrics: Metrics) -> None:
    for i in range(MAX_ROUTE_LABELS + 5):
        metrics.observe_router(f"route-{i}", "matched", None)
    metrics.observe_router("route-0", "matched", None)  # already seen: still its own label
    body = metrics.render()[0]
    assert value(body, "plano_router_decisions_total", route="other", outcome="matched") == 5
    assert value(body, "plano_router_decisions_total", route="route-0", outcome="matched") == 2


def test_a_failing_metric_call_does_not_raise(metrics: Metrics, caplog) -> None:
    with caplog.at_level(logging.ERROR):
        metrics.observe_llm("m", 200, -1.0, None, "not a number")  # type: ignore[arg-type]
        metrics.observe_http("models", "teapot")  # type: ignore[arg-type]
        metrics.set_source_age("cost", "old")  # type: ignore[arg-type]
        metrics.observe_router(None, "matched", "slow")  # type: ignore[arg-type]
        metrics.observe_session("redis", ["hit"])  # type: ignore[arg-type]
    assert len([r for r in caplog.records if r.getMessage().startswith("metrics:")]) == 5
    # the broken calls did not poison later ones
    metrics.observe_http("models", 200)
    assert value(metrics.render()[0], "plano_http_requests_total", handler="models",
                 status_class="2xx") == 1  # fmt: skip


def test_metrics_endpoint_serves_the_exposition(metrics: Metrics) -> None:
    app = Flask("test")
    app.extensions["plano"] = SimpleNamespace(metrics=metrics)
    app.register_blueprint(metrics_bp)
    metrics.observe_http("health", 200)
    reply = app.test_client().get("/metrics")
    assert reply.status_code == 200
    assert reply.content_type.startswith("text/plain; version=")
    assert value(reply.data, "plano_http_requests_total", handler="health",
                 status_class="2xx") == 1  # fmt: skip


def test_a_dir_set_after_prometheus_client_was_imported_is_not_trusted(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    # This process imported prometheus_client without the variable: its values are in memory.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING):
        late = Metrics()
    assert "imported before it" in caplog.text
    late.observe_http("models", 200)
    assert value(late.render()[0], "plano_http_requests_total", handler="models",
                 status_class="2xx") == 1  # fmt: skip


# ---------------------------------------------------------------- across processes

WORKER = textwrap.dedent(
    """
    import os, sys
    from plano.observability.metrics import Metrics
    m = Metrics()
    n = int(sys.argv[1])
    for _ in range(n):
        m.observe_http("chat_completions", 200)
        m.observe_llm("openai/gpt-4o", 200, 1.0, 0.25, 10, 5, 0)
    m.observe_router("general", "matched", 0.5)
    m.set_source_age("cost", float(sys.argv[2]))
    print(m.render()[0].decode().count("plano_"), flush=True)
    """
)


def _run_worker(multiproc_dir: Path, n: int, age: float) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(n), str(age)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "prometheus_client was imported before" not in done.stderr


def test_two_processes_aggregate_through_one_multiproc_dir(tmp_path: Path) -> None:
    directory = tmp_path / "mp"
    directory.mkdir()
    _run_worker(directory, 3, 5.0)
    _run_worker(directory, 4, 7.0)  # written last: the most recent age wins
    assert len(list(directory.glob("*.db"))) >= 2
    body = Metrics(multiproc_dir=str(directory)).render()[0]
    model = "openai/gpt-4o"
    assert value(body, "plano_http_requests_total", handler="chat_completions",
                 status_class="2xx") == 7  # fmt: skip
    assert value(body, "plano_llm_latency_seconds_count", model_name=model) == 7
    assert value(body, "plano_llm_latency_seconds_sum", model_name=model) == 7.0
    assert value(body, "plano_llm_time_to_first_token_seconds_count", model_name=model) == 7
    assert value(body, "plano_llm_tokens_total", model_name=model, kind="prompt") == 70
    assert value(body, "plano_router_decisions_total", route="general", outcome="matched") == 2
    assert value(body, "plano_router_duration_seconds_count") == 2
    assert value(body, "plano_metrics_source_age_seconds", source="cost") == 7.0
    # a dead worker's counters stay; mark_worker_dead only drops live-only gauges
    multiproc.mark_worker_dead(999_999_999, str(directory))
    body = Metrics(multiproc_dir=str(directory)).render()[0]
    assert value(body, "plano_llm_latency_seconds_count", model_name=model) == 7


# ---------------------------------------------------------------- multiproc dir lifecycle


def test_ensure_multiproc_dir_defaults_to_the_master_pid(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    path = multiproc.ensure_multiproc_dir(env, os.getpid(), tmp_dir=str(tmp_path))
    assert path == str(tmp_path / f"plano-metrics-{os.getpid()}")
    assert env["PROMETHEUS_MULTIPROC_DIR"] == path
    assert os.path.isdir(path)
    # a second worker of the same master keeps what the first wrote
    Path(path, "counter_1.db").write_bytes(b"x")
    assert multiproc.ensure_multiproc_dir({}, os.getpid(), tmp_dir=str(tmp_path)) == path
    assert Path(path, "counter_1.db").exists()


def test_ensure_multiproc_dir_keeps_an_explicit_dir(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(explicit)}
    assert multiproc.ensure_multiproc_dir(env, 1, tmp_dir=str(tmp_path)) == str(explicit)
    assert explicit.is_dir()


def test_a_reused_master_pid_starts_afresh(tmp_path: Path) -> None:
    path = Path(multiproc.default_dir(os.getpid(), str(tmp_path)))
    path.mkdir()
    (path / ".plano-master").write_text("some other start time")
    (path / "counter_1.db").write_bytes(b"stale")
    multiproc.ensure_multiproc_dir({}, os.getpid(), tmp_dir=str(tmp_path))
    assert not (path / "counter_1.db").exists()


def test_stale_dirs_of_dead_masters_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"plano-metrics-{dead.pid}"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"x")
    alive = tmp_path / f"plano-metrics-{os.getppid()}"
    alive.mkdir()
    unrelated = tmp_path / "plano-metrics-notapid"
    unrelated.mkdir()
    assert multiproc.remove_stale_dirs(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and alive.exists() and unrelated.exists()


def test_reset_multiproc_dir_removes_only_metric_files(tmp_path: Path) -> None:
    (tmp_path / "counter_1.db").write_bytes(b"x")
    (tmp_path / "gauge_mostrecent_2.db").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("keep")
    multiproc.reset_multiproc_dir(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_prepare_master_dir_exports_a_clean_dir(tmp_path: Path) -> None:
    target = tmp_path / "mp"
    target.mkdir()
    (target / "counter_9.db").write_bytes(b"x")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(target)}
    assert multiproc.prepare_master_dir(env, os.getpid()) == str(target)
    assert [p.name for p in target.iterdir()] == [".plano-master"]
    # the master's workers keep it as it is
    (target / "counter_10.db").write_bytes(b"x")
    multiproc.ensure_multiproc_dir(env, os.getpid())
    assert (target / "counter_10.db").exists()


def test_an_explicit_dir_is_reset_once_per_master(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    (explicit / "counter_1.db").write_bytes(b"earlier run")
    (explicit / "notes.txt").write_text("not ours")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(explicit)}
    multiproc.ensure_multiproc_dir(env, os.getpid())  # first worker of this master
    assert not (explicit / "counter_1.db").exists()
    assert (explicit / "notes.txt").exists()
    (explicit / "counter_2.db").write_bytes(b"this run")
    multiproc.ensure_multiproc_dir(env, os.getpid())  # second worker: keeps it
    assert (explicit / "counter_2.db").exists()
    multiproc.ensure_multiproc_dir(env, os.getppid())  # another master: a new run
    assert not (explicit / "counter_2.db").exists()


def test_mark_worker_dead_drops_live_gauges_only(tmp_path: Path) -> None:
    (tmp_path / "gauge_livemax_1234.db").write_bytes(b"x")
    (tmp_path / "counter_1234.db").write_bytes(b"x")
    multiproc.mark_worker_dead(1234, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_1234.db"]
    multiproc.mark_worker_dead(1234, str(tmp_path / "missing"))  # nothing to do, no error


# ---------------------------------------------------------------- plain gunicorn, no conf file

TINY_WSGI = textwrap.dedent(
    """
    import os
    from plano.observability.multiproc import ensure_multiproc_dir
    ensure_multiproc_dir(os.environ, os.getppid())  # what plano.cli.boot does, before metrics

    from types import SimpleNamespace
    from flask import Flask
    from plano.api.metrics import metrics_bp
    from plano.observability.metrics import Metrics

    from plano.metrics_sources.refresher import MetricsRefresher, SourceSpec

    app = Flask("tiny")
    metrics = Metrics()
    # the background refresh runs as a greenlet under the gevent worker (threading is patched)
    refresher = MetricsRefresher([SourceSpec("cost", lambda: {"a": 1.0}, 0.2)], metrics=metrics)
    refresher.start()
    app.extensions["plano"] = SimpleNamespace(metrics=metrics, refresher=refresher)
    app.register_blueprint(metrics_bp)

    @app.get("/price")
    def price():
        return str(refresher.snapshot().prices["a"])

    @app.get("/hit")
    def hit():
        app.extensions["plano"].metrics.observe_http("models", 200)
        return str(os.getpid())
    """
)


def test_plain_gunicorn_workers_aggregate(tmp_path: Path) -> None:
    import socket
    import time

    import requests

    (tmp_path / "tiny_wsgi.py").write_text(TINY_WSGI)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(TMPDIR=str(tmp_path), PYTHONPATH=f"{tmp_path}:{REPO}")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(gunicorn), "-k", "gevent", "-w", "2", "-b", f"127.0.0.1:{port}",
             "--keep-alive", "0", "tiny_wsgi:app"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with requests.Session() as probe:
                    probe.get(f"{url}/metrics", timeout=1).close()
                break
            except (requests.ConnectionError, requests.Timeout):  # still booting (slow CI)
                time.sleep(0.1)
        pids = set()
        for _ in range(40):
            with requests.Session() as session:  # a new connection each time
                pids.add(session.get(f"{url}/hit", timeout=5).text)
        scrapes = []
        for _ in range(6):
            with requests.Session() as session:
                scrapes.append(session.get(f"{url}/metrics", timeout=5).content)
        for body in scrapes:  # whichever worker answers, it reports all workers' counts
            assert value(body, "plano_http_requests_total", handler="models",
                         status_class="2xx") == 40, body.decode()  # fmt: skip
        assert (tmp_path / f"plano-metrics-{server.pid}").is_dir()
        with requests.Session() as session:
            assert session.get(f"{url}/price", timeout=5).text == "1.0"
        age = value(scrapes[-1], "plano_metrics_source_age_seconds", source="cost")
        assert age is not None and 0 <= age < 5
        print("workers that served:", pids)
    except BaseException:
        print(log.read_text(errors="replace"))
        raise
    finally:
        os.killpg(server.pid, 9)
        server.wait(10)
