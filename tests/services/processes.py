"""Process-group handling shared by the service runners (gunicorn, nginx, redis, prometheus).

Each runner starts its server as the leader of a new session (`start_new_session=True`), so one
`killpg` reaches the server and everything it forked (gunicorn or nginx workers), even when the
leader already exited and left its children behind.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

KILL_WAIT_S = 10.0


def start_group(
    args: Sequence[str],
    log_path: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `args` in its own process group, stdout and stderr appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(args),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_ready(
    process: subprocess.Popen[bytes],
    is_ready: Callable[[], bool],
    timeout_s: float,
    interval_s: float = 0.05,
) -> bool:
    """Poll `is_ready` until it is True; False when the process exits first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if is_ready():
            return True
        time.sleep(interval_s)
    return False


def kill_group(process: subprocess.Popen[bytes], timeout_s: float = KILL_WAIT_S) -> None:
    """SIGKILL the process group `process` leads and wait (up to `timeout_s`) for the leader."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pass


class GroupServer:
    """Base for a server run as its own process group (gunicorn, nginx).

    Subclasses start it with `_launch` and give `start()` and `_report()`; the group is killed
    on `stop()`, on leaving a `with` block (which prints `_report()` when the block raises) and
    at interpreter exit as a last resort.
    """

    _process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def _report(self) -> str:
        raise NotImplementedError

    def _launch(self, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """Own `process` (killed at interpreter exit unless stopped before); return it."""
        self._process = process
        atexit.register(self._kill_group)
        return process

    def stop(self) -> None:
        """Kill the whole process group (master and workers) and wait for the master."""
        self._kill_group()

    def _kill_group(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            atexit.unregister(self._kill_group)
            kill_group(process)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            print(self._report(), file=sys.stderr)
        self.stop()
