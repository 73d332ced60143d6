"""A real nginx running the shipped conf/nginx.conf on a loopback port chosen at run time.

    with run_gunicorn(config, tmp_path / "g1") as g1, run_gunicorn(config, tmp_path / "g2") as g2:
        with run_nginx([g1.address, g2.address], tmp_path / "nginx") as proxy:
            openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="x")...

`render_nginx_conf` takes conf/nginx.conf, the file a user deploys, and changes only the lines it
tags: every `server … # plano:upstream` line becomes one `server <addr> …;` line per upstream
(same parameters), and the `listen … # plano:listen` line listens on 127.0.0.1:<port>. Temp
paths (client body, proxy, fastcgi, uwsgi, scgi) go into `<tmp>/plano.d/temp_paths.conf`, which
the config's `include plano.d/*.conf;` picks up. nginx runs in the foreground with the prefix
`<tmp>` (so it needs no root and writes nothing outside `<tmp>`):

    /usr/sbin/nginx -p <tmp>/ -c <tmp>/nginx.conf \\
        -g "daemon off; pid <tmp>/nginx.pid; error_log <tmp>/error.log info;"

Ready when `GET <ready_path>` (default /healthz, so the upstreams must be up) answers 200 through
it, within `start_timeout_s`. A missing /usr/sbin/nginx is a failure, not a skip. On a start
failure the error log and output are in NginxError; when a `with` block raises they are printed.
nginx runs in its own process group, killed on `stop()`, on leaving the block and at exit.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from tests.services.gunicorn import http_status
from tests.services.ports import HOST, free_port, is_listening
from tests.services.processes import GroupServer, start_group, wait_until_ready

NGINX = "/usr/sbin/nginx"
REPO_ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO_ROOT / "conf" / "nginx.conf"
START_TIMEOUT_S = 30.0
UPSTREAM_TAG = "# plano:upstream"
LISTEN_TAG = "# plano:listen"
_UPSTREAM_LINE = re.compile(r"^(?P<indent>\s*)server\s+(?P<addr>\S+?)(?P<params>(\s+[^;#]*)?);")
_LISTEN_LINE = re.compile(r"^(?P<indent>\s*)listen\s+[^;]+;")
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class NginxError(RuntimeError):
    """nginx could not be started (its logs are in the message)."""


def render_nginx_conf(template: str, upstreams: Sequence[str], port: int) -> str:
    """The config text with its tagged upstream servers and listen line replaced."""
    if not upstreams:
        raise ValueError("nginx needs at least one upstream")
    out: list[str] = []
    upstream_lines = listen_lines = 0
    for line in template.splitlines():
        if line.rstrip().endswith(UPSTREAM_TAG):
            match = _UPSTREAM_LINE.match(line)
            if match is None:
                raise ValueError(f"a {UPSTREAM_TAG} line is not a `server` line: {line!r}")
            upstream_lines += 1
            if upstream_lines == 1:
                params = (match["params"] or "").rstrip()
                out.extend(f"{match['indent']}server {addr}{params};" for addr in upstreams)
            continue
        if line.rstrip().endswith(LISTEN_TAG):
            match = _LISTEN_LINE.match(line)
            if match is None:
                raise ValueError(f"the {LISTEN_TAG} line is not a `listen` line: {line!r}")
            listen_lines += 1
            out.append(f"{match['indent']}listen {HOST}:{port};")
            continue
        out.append(line)
    if upstream_lines == 0 or listen_lines != 1:
        raise ValueError(
            f"expected `server` lines tagged {UPSTREAM_TAG!r} and one `listen` line tagged "
            f"{LISTEN_TAG!r}; found {upstream_lines} and {listen_lines}"
        )
    return "\n".join(out) + "\n"


def temp_paths_conf(prefix: Path) -> str:
    """http-context directives putting every nginx temp directory under `prefix`."""
    return "".join(f"{name}_temp_path {prefix / 'temp' / name};\n" for name in TEMP_DIRS)


class NginxServer(GroupServer):
    """One nginx master (and its workers) in its own process group, prefix `tmp_path`."""

    def __init__(
        self,
        upstreams: Sequence[str],
        tmp_path: Path,
        *,
        port: int | None = None,
        conf_path: Path = NGINX_CONF,
        ready_path: str | None = "/healthz",
        start_timeout_s: float = START_TIMEOUT_S,
        executable: str = NGINX,
    ) -> None:
        self.upstreams = list(upstreams)
        self.prefix = tmp_path
        self.port = port if port is not None else free_port()
        self.conf_path = conf_path
        self.ready_path = ready_path
        self.start_timeout_s = start_timeout_s
        self.executable = executable
        self.rendered_path = tmp_path / "nginx.conf"
        self.error_log_path = tmp_path / "error.log"
        self.output_path = tmp_path / "nginx.out"

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """The master's pid."""
        assert self._process is not None, "nginx is not running"
        return self._process.pid

    @property
    def command(self) -> list[str]:
        """The nginx command line."""
        directives = (
            f"daemon off; pid {self.prefix / 'nginx.pid'}; error_log {self.error_log_path} info;"
        )
        if os.geteuid() == 0:
            # As root the workers would drop to `nobody`, which cannot enter pytest's 0700 tmp dirs.
            directives += " user root;"
        return [
            self.executable,
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.rendered_path),
            "-g",
            directives,
        ]

    def write_config(self) -> Path:
        """Render the config and the temp-path include into the prefix; return the config path."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        for name in TEMP_DIRS:
            (self.prefix / "temp" / name).mkdir(parents=True, exist_ok=True)
        (self.prefix / "plano.d").mkdir(exist_ok=True)
        (self.prefix / "plano.d" / "temp_paths.conf").write_text(temp_paths_conf(self.prefix))
        text = render_nginx_conf(self.conf_path.read_text(), self.upstreams, self.port)
        self.rendered_path.write_text(text)
        return self.rendered_path

    def start(self) -> NginxServer:
        """Start nginx and wait until it proxies `ready_path` with 200; raise with its logs."""
        if self._process is not None and self._process.poll() is None:
            return self
        if not os.access(self.executable, os.X_OK):
            raise NginxError(
                f"{self.executable} is missing (nginx on PATH: {shutil.which('nginx')}); "
                "install the Debian package nginx"
            )
        self.write_config()
        process = self._launch(start_group(self.command, self.output_path, cwd=self.prefix))
        if wait_until_ready(process, self._is_ready, self.start_timeout_s):
            return self
        code = process.poll()
        self._kill_group()
        if code is not None:
            raise NginxError(f"nginx exited with {code} before it was ready\n{self._report()}")
        raise NginxError(
            f"nginx on port {self.port} was not ready ({self.ready_path}) within "
            f"{self.start_timeout_s}s\n{self._report()}"
        )

    def _is_ready(self) -> bool:
        if self.ready_path is None:
            return is_listening(self.port)
        return http_status(f"{self.url}{self.ready_path}") == 200

    def log_text(self) -> str:
        """The error log, then the access log and anything else nginx printed."""
        parts = []
        for path in (self.error_log_path, self.output_path):
            try:
                parts.append(f"--- {path} ---\n{path.read_text(errors='replace')}")
            except FileNotFoundError:
                parts.append(f"--- {path} (none) ---")
        return "\n".join(parts)

    def _report(self) -> str:
        return f"--- command: {self.command}\n{self.log_text()}"


def run_nginx(
    upstreams: list[str],
    tmp_path: Path,
    *,
    port: int | None = None,
    conf_path: Path = NGINX_CONF,
    ready_path: str | None = "/healthz",
    start_timeout_s: float = START_TIMEOUT_S,
) -> NginxServer:
    """Start nginx with conf/nginx.conf proxying to `upstreams` ("host:port"); wait until ready."""
    server = NginxServer(
        upstreams,
        tmp_path,
        port=port,
        conf_path=conf_path,
        ready_path=ready_path,
        start_timeout_s=start_timeout_s,
    )
    return server.start()
