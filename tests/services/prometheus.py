"""A real Prometheus server on a loopback port chosen at run time, scraping local targets.

    with run_prometheus(["127.0.0.1:8123"], tmp_path) as url:
        wait_for_series(url, "model_latency_p95_seconds")
        ...  # query http://127.0.0.1:<port>

Scrape interval 1 s (`scrape_interval_s=`). `run_prometheus` waits until /-/ready answers 200.
A missing /usr/bin/prometheus (Debian package `prometheus`) is a failure, not a skip. On a start
failure, or when the block raises, the server's log is printed. The process runs in its own
process group, which is killed on exit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.services.ports import HOST, free_port
from tests.services.processes import kill_group, start_group, wait_until_ready

PROMETHEUS = "/usr/bin/prometheus"
START_TIMEOUT_S = 30.0


class PrometheusServerError(RuntimeError):
    """prometheus could not be started or did not scrape in time (its log is in the message)."""


def _get(url: str, timeout_s: float = 1.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 - loopback
            return int(reply.status), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def scrape_config(targets: Sequence[str], scrape_interval_s: float) -> str:
    """A prometheus.yml with one job scraping `targets` (host:port) at /metrics."""
    interval = f"{int(scrape_interval_s * 1000)}ms"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "plano-test",
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    return json.dumps(config, indent=2)  # JSON is YAML


def query(url: str, promql: str, timeout_s: float = 2.0) -> list[dict[str, object]]:
    """The instant-vector result of `promql` ([] when Prometheus does not answer 200)."""
    params = urllib.parse.urlencode({"query": promql})
    status, body = _get(f"{url}/api/v1/query?{params}", timeout_s)
    if status != 200:
        return []
    result = json.loads(body)["data"]["result"]
    return result if isinstance(result, list) else []


def wait_for_series(
    url: str, promql: str, *, count: int = 1, timeout_s: float = 20.0
) -> list[dict[str, object]]:
    """Poll until `promql` gives `count` series or more (a scrape happened); raise on timeout."""
    deadline = time.monotonic() + timeout_s
    result: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        result = query(url, promql)
        if len(result) >= count:
            return result
        time.sleep(0.2)
    targets = _get(f"{url}/api/v1/targets")[1].decode(errors="replace")
    raise PrometheusServerError(
        f"{promql!r} gave {len(result)} series (< {count}) after {timeout_s}s; targets: {targets}"
    )


class PrometheusServer:
    """One prometheus process with its own config, data dir and log under `workdir`."""

    def __init__(
        self,
        scrape_targets: Sequence[str],
        workdir: Path,
        *,
        port: int | None = None,
        scrape_interval_s: float = 1.0,
        executable: str = PROMETHEUS,
    ) -> None:
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.scrape_targets = tuple(scrape_targets)
        self.scrape_interval_s = scrape_interval_s
        self.executable = executable
        self.config_path = workdir / f"prometheus-{self.port}.yml"
        self.log_path = workdir / f"prometheus-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start prometheus and wait until /-/ready is 200; raise with its log otherwise."""
        if not os.access(self.executable, os.X_OK):
            raise PrometheusServerError(
                f"{self.executable} is missing (prometheus on PATH: {shutil.which('prometheus')}); "
                "install the Debian package prometheus"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(scrape_config(self.scrape_targets, self.scrape_interval_s))
        args = [
            self.executable,
            f"--config.file={self.config_path}",
            f"--web.listen-address={HOST}:{self.port}",
            f"--storage.tsdb.path={self.workdir / f'prometheus-data-{self.port}'}",
            "--log.level=info",
        ]
        self._process = start_group(args, self.log_path)
        if wait_until_ready(
            self._process, lambda: _get(f"{self.url}/-/ready")[0] == 200, START_TIMEOUT_S, 0.1
        ):
            return
        self.stop()
        raise PrometheusServerError(
            f"prometheus on port {self.port} was not ready within {START_TIMEOUT_S}s\n"
            f"--- log {self.log_path} ---\n{self.log()}"
        )

    def stop(self) -> None:
        """Kill the process group and wait for it."""
        process, self._process = self._process, None
        if process is not None:
            kill_group(process)

    def log(self) -> str:
        """The server's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@contextmanager
def run_prometheus(
    scrape_targets: list[str], tmp_path: Path, *, scrape_interval_s: float = 1.0
) -> Iterator[str]:
    """Run prometheus scraping `scrape_targets` (host:port) for the block; yield its base URL."""
    server = PrometheusServer(scrape_targets, tmp_path, scrape_interval_s=scrape_interval_s)
    server.start()
    try:
        yield server.url
    except BaseException:
        print(f"--- prometheus log ({server.log_path}) ---\n{server.log()}")
        raise
    finally:
        server.stop()
