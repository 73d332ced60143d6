"""A real `gunicorn -k gevent wsgi:app` on a loopback port chosen at run time, for tests.

    with run_gunicorn(config_path, tmp_path, workers=2) as server:
        requests.get(f"{server.url}/healthz", timeout=5)
        server.worker_pids()          # the forked workers, e.g. to kill one
        server.terminate()            # SIGTERM: graceful shutdown; returns the exit code

The command is the plain one of SPEC §2, run from the repository root with `PLANO_CONFIG` set:
`python -m gunicorn -k gevent -w N -b 127.0.0.1:<port> [extra_args] wsgi:app`. Pass
`extra_args=("-c", "conf/gunicorn.conf.py")` to run with the shipped tuning; its bind is
overridden by `-b`, and `-k gevent` is left out so its worker class (SHIPPED_WORKER) is the
one tested. `worker_class=` picks a class explicitly; the proxy's end-to-end modules run under
both WORKER_CLASSES. With `bind_from_config=True` no `-b` is passed (`port=` must then be the
config's listener port); with `workers=None` no `-w` (the conf file decides). `app=` and `cwd=`
serve another WSGI app (runner tests use a stub).

`TMPDIR` points into `tmp_path` (unless `env` sets it), so each server gets its own prometheus
multiprocess directory. Ready when `GET /healthz` answers 200 within `start_timeout_s`;
otherwise the server is killed and GunicornError carries its log. stdout and stderr go to
`<tmp_path>/gunicorn-<port>.log` (`log_text()`); the log is printed when a `with` block raises.
The server runs in its own process group, killed on `stop()`, on leaving the block, and at
interpreter exit as a last resort.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.services.ports import HOST, free_port
from tests.services.processes import GroupServer, start_group, wait_until_ready

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0  # above gunicorn's default graceful_timeout (30 s)


class GunicornError(RuntimeError):
    """gunicorn could not be started or stopped (its log is in the message)."""


def http_status(url: str, timeout_s: float = 1.0) -> int | None:
    """The status of a GET on `url`, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 - loopback
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except (OSError, ValueError):
        return None


#: The worker class conf/gunicorn.conf.py ships (gevent's pywsgi server, held to gunicorn's rules).
SHIPPED_WORKER = "plano.worker.PlanoWorker"
#: The plain `-k gevent` of SPEC §2 and the shipped class: what the proxy modules run under.
WORKER_CLASSES = ("gevent", SHIPPED_WORKER)
WORKER_CLASS_IDS = ("gevent", "shipped")


class GunicornServer(GroupServer):
    """One gunicorn master (and its workers) in its own process group."""

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        tmp_path: Path,
        *,
        workers: int | None = 1,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
        bind_from_config: bool = False,
        app: str = "wsgi:app",
        cwd: Path = REPO_ROOT,
        worker_class: str | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.tmp_path = tmp_path
        self.workers = workers
        self.extra_args = tuple(extra_args)
        self.port = port if port is not None else free_port()
        self.start_timeout_s = start_timeout_s
        self.bind_from_config = bind_from_config
        self.app = app
        self.cwd = cwd
        if worker_class is None and "-c" not in self.extra_args:
            worker_class = "gevent"
        self.worker_class = worker_class
        self.log_path = tmp_path / f"gunicorn-{self.port}.log"
        self.env = self._environment(env)

    def _environment(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        environ = dict(os.environ)
        environ["PLANO_CONFIG"] = str(self.config_path.resolve())
        own_tmp = self.tmp_path / f"tmp-{self.port}"
        own_tmp.mkdir(parents=True, exist_ok=True)
        environ["TMPDIR"] = str(own_tmp)
        # A multiproc dir inherited from the test runner would be shared between servers.
        environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        environ["PYTHONUNBUFFERED"] = "1"
        environ.update(extra or {})
        return environ

    @property
    def command(self) -> list[str]:
        """The gunicorn command line."""
        bind = [] if self.bind_from_config else ["-b", f"{HOST}:{self.port}"]
        workers = [] if self.workers is None else ["-w", str(self.workers)]
        worker_class = [] if self.worker_class is None else ["-k", self.worker_class]
        return [
            sys.executable, "-m", "gunicorn",
            *worker_class,
            *workers,
            *bind,
            *self.extra_args,
            self.app,
        ]  # fmt: skip

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        """`127.0.0.1:<port>`, as nginx's upstream wants it."""
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """The master's pid."""
        assert self._process is not None, "gunicorn is not running"
        return self._process.pid

    @property
    def is_running(self) -> bool:
        """True while the master is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> GunicornServer:
        """Start gunicorn and wait until /healthz answers 200; raise with its log otherwise."""
        if self.is_running:
            return self
        self.tmp_path.mkdir(parents=True, exist_ok=True)
        process = self._launch(start_group(self.command, self.log_path, cwd=self.cwd, env=self.env))
        if wait_until_ready(
            process, lambda: http_status(f"{self.url}/healthz") == 200, self.start_timeout_s
        ):
            return self
        code = process.poll()
        self._kill_group()
        if code is not None:
            raise GunicornError(
                f"gunicorn exited with {code} before it was ready\n{self._report()}"
            )
        raise GunicornError(
            f"gunicorn on port {self.port} did not answer GET /healthz with 200 within "
            f"{self.start_timeout_s}s\n{self._report()}"
        )

    def worker_pids(self) -> list[int]:
        """The pids of the master's live child processes (its workers)."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def wait_for_workers(self, count: int, timeout_s: float = 30.0) -> list[int]:
        """Wait until the master has `count` workers; GunicornError (with the log) otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count:
                return pids
            time.sleep(0.05)
        raise GunicornError(
            f"expected {count} workers, have {self.worker_pids()}\n{self._report()}"
        )

    def log_text(self) -> str:
        """Everything gunicorn and the app wrote so far ('' when nothing)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def terminate(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM the master (graceful shutdown) and wait; return its exit code."""
        process = self._process
        if process is None:
            raise GunicornError("gunicorn is not running")
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._kill_group()
            raise GunicornError(
                f"gunicorn did not stop within {timeout_s}s of SIGTERM\n{self._report()}"
            ) from None
        self._kill_group()  # workers orphaned by an unclean master exit
        return code

    def _report(self) -> str:
        return (
            f"--- command: {' '.join(self.command)}\n--- log {self.log_path} ---\n{self.log_text()}"
        )


def run_gunicorn(
    config_path: str | os.PathLike[str],
    tmp_path: Path,
    workers: int | None = 1,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    start_timeout_s: float = START_TIMEOUT_S,
    bind_from_config: bool = False,
) -> GunicornServer:
    """Start gunicorn serving wsgi:app with PLANO_CONFIG=config_path; ready when /healthz is 200."""
    server = GunicornServer(
        config_path,
        tmp_path,
        workers=workers,
        extra_args=extra_args,
        env=env,
        port=port,
        start_timeout_s=start_timeout_s,
        bind_from_config=bind_from_config,
    )
    return server.start()
