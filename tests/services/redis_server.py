"""A real redis-server on a loopback port chosen at run time, for unit and integration tests.

    with run_redis(tmp_path) as redis_server:
        store = RedisSessionStore.from_url(redis_server.url)
        redis_server.stop()    # simulate an outage: connections are refused
        redis_server.start()   # back on the same port, with an empty data set

Options: `password=` (adds --requirepass; the url carries it), `tls=True` (TLS-only port with a
self-signed certificate; the url is `rediss://…?ssl_ca_certs=…`), `extra_args=`.

A missing /usr/bin/redis-server is a failure, not a skip. On a start failure the server's log is
included in the error. The process runs in its own process group, which is killed on exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from urllib.parse import quote

from tests.services.ports import HOST, free_port
from tests.services.processes import kill_group, wait_until_ready

REDIS_SERVER = "/usr/bin/redis-server"
START_TIMEOUT_S = 10.0


class RedisServerError(RuntimeError):
    """redis-server could not be started (its log is in the message)."""


def _ping(
    port: int, password: str | None, tls: ssl.SSLContext | None, timeout_s: float = 0.5
) -> bool:
    """True when a redis-server on `port` answers PING with PONG (raw RESP, no client library)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as raw:
            if tls is None:
                return _exchange(raw, password)
            with tls.wrap_socket(raw, server_hostname=HOST) as sock:
                return _exchange(sock, password)
    except OSError:
        return False


def _exchange(sock: socket.socket, password: str | None) -> bool:
    if password is not None:
        sock.sendall(_command("AUTH", password))
        if not sock.recv(128).startswith(b"+OK"):
            return False
    sock.sendall(_command("PING"))
    return sock.recv(128).startswith(b"+PONG")


def _command(*parts: str) -> bytes:
    encoded = [p.encode() for p in parts]
    out = [f"*{len(encoded)}\r\n".encode()]
    for part in encoded:
        out.append(f"${len(part)}\r\n".encode() + part + b"\r\n")
    return b"".join(out)


def make_tls_files(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl CLI."""
    cert, key = workdir / "redis-tls.crt", workdir / "redis-tls.key"
    if not cert.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", str(key), "-out", str(cert), "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return cert, key


class RedisServer:
    """One redis-server process; `stop()` and `start()` again keep the same port.

    With `tls=True` the port speaks TLS only (self-signed certificate `tls_cert`, which clients
    trust through `url`'s `ssl_ca_certs`); client certificates are not required.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        password: str | None = None,
        tls: bool = False,
        extra_args: Sequence[str] = (),
        executable: str = REDIS_SERVER,
    ) -> None:
        self.workdir = workdir
        self.executable = executable
        self.tls = tls
        self.tls_cert: Path | None = None
        self.tls_key: Path | None = None
        self.port = port if port is not None else free_port()
        self.password = password
        self.extra_args = tuple(extra_args)
        self.log_path = workdir / f"redis-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """`redis://[:password@]127.0.0.1:<port>/0`, or `rediss://…?ssl_ca_certs=…` with TLS."""
        auth = f":{quote(self.password, safe='')}@" if self.password is not None else ""
        if self.tls:
            return f"rediss://{auth}{HOST}:{self.port}/0?ssl_ca_certs={quote(str(self.tls_cert))}"
        return f"redis://{auth}{HOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        """The redis-server pid (e.g. to SIGSTOP it: a Redis that accepts but never answers)."""
        assert self._process is not None, "redis-server is not running"
        return self._process.pid

    @property
    def is_running(self) -> bool:
        """True while the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start redis-server and wait until it answers PING; raise with its log otherwise."""
        if self.is_running:
            return
        if not os.access(self.executable, os.X_OK):
            found = shutil.which("redis-server")
            raise RedisServerError(
                f"{self.executable} is missing (redis-server on PATH: {found}); "
                "install the Debian package redis-server"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            self.executable,
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        client_tls: ssl.SSLContext | None = None
        if self.tls:
            self.tls_cert, self.tls_key = make_tls_files(self.workdir)
            args += ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.tls_cert), "--tls-key-file", str(self.tls_key)]
            args += ["--tls-ca-cert-file", str(self.tls_cert), "--tls-auth-clients", "no"]
            client_tls = ssl.create_default_context(cafile=str(self.tls_cert))
        else:
            args += ["--port", str(self.port)]
        if self.password is not None:
            args += ["--requirepass", self.password]
        args += list(self.extra_args)
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        answers = partial(_ping, self.port, self.password, client_tls)
        if wait_until_ready(self._process, answers, START_TIMEOUT_S, interval_s=0.02):
            return
        stderr = self._kill()
        raise RedisServerError(
            f"redis-server on port {self.port} did not answer PING within {START_TIMEOUT_S}s\n"
            f"--- stderr ---\n{stderr}\n--- log {self.log_path} ---\n{self.log()}"
        )

    def stop(self) -> None:
        """Kill the process group and wait for it: the port refuses connections afterwards."""
        self._kill()

    def log(self) -> str:
        """The server's log so far ('' when none was written)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _kill(self) -> str:
        process, self._process = self._process, None
        if process is None:
            return ""
        kill_group(process)
        _, stderr = process.communicate(timeout=10)
        return stderr.decode(errors="replace")


@contextmanager
def run_redis(
    tmp_path: Path,
    port: int | None = None,
    *,
    password: str | None = None,
    tls: bool = False,
    extra_args: Sequence[str] = (),
) -> Iterator[RedisServer]:
    """Run a redis-server for the duration of the block; its log is printed when the block fails."""
    server = RedisServer(tmp_path, port, password=password, tls=tls, extra_args=extra_args)
    server.start()
    try:
        yield server
    except BaseException:
        print(f"--- redis-server log ({server.log_path}) ---\n{server.log()}")
        raise
    finally:
        server.stop()
