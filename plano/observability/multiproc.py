"""The prometheus_client multiprocess directory: where every gunicorn worker writes its metrics.

prometheus_client chooses between in-memory and file-backed (multiprocess) values when it is first
imported, from PROMETHEUS_MULTIPROC_DIR; so the variable must be set in a worker before anything
imports prometheus_client. This module therefore imports prometheus_client lazily.

How `/metrics` aggregates across workers:

- With conf/gunicorn.conf.py (`plano serve`): `on_starting` calls `prepare_master_dir` in the
  master: it picks the directory (PROMETHEUS_MULTIPROC_DIR, else `<tmp>/plano-metrics-<master
  pid>`), wipes stale files and exports the variable, which every forked worker inherits.
  `child_exit` calls `mark_worker_dead` so live-only gauges drop a dead worker.
- With plain `gunicorn -k gevent -w N wsgi:app` (no conf file, no hooks): each worker's boot calls
  `ensure_multiproc_dir(os.environ, os.getppid())` before the app (and prometheus_client) is
  imported. All workers of one master share `<tmp>/plano-metrics-<master pid>`, so they aggregate;
  a new master gets a new directory, so its counters start at zero. The directory is stamped with
  the master's pid and start time, so a reused pid does not inherit a dead master's files, and the
  directories of dead masters are removed. A worker never wipes a directory its master still uses.
  An explicit PROMETHEUS_MULTIPROC_DIR gets the same stamp: the first worker of a new master
  removes the earlier run's `*.db` files (nothing else), so a restart starts from zero there too.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DIR_PREFIX = "plano-metrics-"
_STAMP = ".plano-master"
_DIR_RE = re.compile(rf"^{re.escape(DIR_PREFIX)}(\d+)$")


def default_dir(master_pid: int, tmp_dir: str | None = None) -> str:
    """`<tmp>/plano-metrics-<master_pid>`."""
    return os.path.join(tmp_dir or tempfile.gettempdir(), f"{DIR_PREFIX}{master_pid}")


def process_start_token(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may hold spaces and parentheses: split after its closing parenthesis.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def is_alive(pid: int) -> bool:
    """True when a process with this pid exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_multiproc_dir(
    environ: MutableMapping[str, str], master_pid: int, *, tmp_dir: str | None = None
) -> str:
    """Set PROMETHEUS_MULTIPROC_DIR (default `<tmp>/plano-metrics-<master_pid>`), create it.

    Run in each worker before prometheus_client is imported. An existing directory is kept, unless
    its stamp shows it belonged to an earlier process with the same pid.
    """
    existing = environ.get(MULTIPROC_ENV)
    token = master_token(master_pid)
    if existing:
        os.makedirs(existing, exist_ok=True)
        # Not ours to delete: only the metric files of an earlier run go.
        with _locked(os.path.join(existing, f"{_STAMP}.lock")):
            if _read_stamp(existing) != token:
                reset_multiproc_dir(existing)
                Path(existing, _STAMP).write_text(token)
        return existing
    tmp = tmp_dir or tempfile.gettempdir()
    remove_stale_dirs(tmp, keep=master_pid)
    path = default_dir(master_pid, tmp)
    with _locked(f"{path}.lock"):
        current = _read_stamp(path)
        if current != token:
            if current is not None or os.path.isdir(path):
                logger.info("metrics: %s belonged to an earlier process; starting it afresh", path)
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path, exist_ok=True)
            Path(path, _STAMP).write_text(token)
    environ[MULTIPROC_ENV] = path
    return path


def master_token(master_pid: int) -> str:
    """What identifies one gunicorn master's run: its pid and start time."""
    return f"{master_pid} {process_start_token(master_pid) or ''}"


def _read_stamp(path: str) -> str | None:
    try:
        return Path(path, _STAMP).read_text()
    except OSError:
        return None


def prepare_master_dir(environ: MutableMapping[str, str], master_pid: int) -> str:
    """For gunicorn's `on_starting`: choose the directory, wipe it, export it to the workers."""
    path = environ.get(MULTIPROC_ENV) or default_dir(master_pid)
    if not environ.get(MULTIPROC_ENV):
        remove_stale_dirs(os.path.dirname(path), keep=master_pid)
    reset_multiproc_dir(path)
    # The workers' ensure_multiproc_dir sees this stamp and keeps the (fresh) directory.
    Path(path, _STAMP).write_text(master_token(master_pid))
    environ[MULTIPROC_ENV] = path
    return path


def reset_multiproc_dir(path: str) -> None:
    """Remove every metrics file left from an earlier run (master start only, never a worker)."""
    os.makedirs(path, exist_ok=True)
    for entry in os.scandir(path):
        if entry.is_file() and entry.name.endswith(".db"):
            os.remove(entry.path)


def mark_worker_dead(pid: int, path: str | None = None) -> None:
    """For gunicorn's `child_exit`: drop a dead worker's live-only gauges (logs, never raises)."""
    try:
        from prometheus_client import multiprocess

        directory = path or os.environ.get(MULTIPROC_ENV)
        if directory:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - a metrics hook must not take the arbiter down
        logger.exception("metrics: could not mark worker %s dead", pid)


def remove_stale_dirs(tmp_dir: str, *, keep: int | None = None) -> list[str]:
    """Delete our `plano-metrics-<pid>` directories whose master is gone; return their paths."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(tmp_dir))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        match = _DIR_RE.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        pid = int(match.group(1))
        try:
            owned = entry.stat(follow_symlinks=False).st_uid == uid
        except OSError:
            continue
        if pid == keep or not owned or is_alive(pid):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        try:
            os.remove(f"{entry.path}.lock")
        except OSError:
            pass
        removed.append(entry.path)
    return removed


class _locked:
    """An exclusive flock on `path` for the block: workers booting together agree on the dir."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
