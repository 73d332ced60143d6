"""Loopback ports for the services tests start (gunicorn, nginx, redis, prometheus): run-time."""

from __future__ import annotations

import socket
import time

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def is_listening(port: int, host: str = HOST, timeout_s: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until_closed(port: int, timeout_s: float = 10.0, host: str = HOST) -> bool:
    """Wait until nothing accepts connections on host:port; False when it still does at the end."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_listening(port, host):
            return True
        time.sleep(0.05)
    return not is_listening(port, host)
