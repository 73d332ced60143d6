"""Reading the request log as it grows: a file like `tail -F`, or a stream such as stdin.

Both followers are polled: `read_lines()` returns the complete lines that arrived since the last
call and never blocks on the log. A partial last line is kept until its newline arrives.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import IO, Protocol

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 1024 * 1024


class LineSource(Protocol):
    """Where the console's lines come from."""

    def read_lines(self) -> list[bytes]:
        """The complete lines that arrived since the last call, without blocking."""
        ...

    @property
    def status(self) -> str | None:
        """A note for the footer (waiting for the file, input ended), or None."""
        ...

    def close(self) -> None:
        """Release the file or stop listening."""
        ...


def split_lines(pending: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines from pending + data, and the unterminated rest."""
    buffer = pending + data
    *lines, rest = buffer.split(b"\n")
    return lines, rest


class FileFollower:
    """Follows a path across rotation (a new file at the path) and truncation (a shrunk file)."""

    def __init__(self, path: str, *, max_bytes_per_read: int = READ_CHUNK_BYTES) -> None:
        self._path = path
        self._max_bytes = max_bytes_per_read
        self._file: IO[bytes] | None = None
        self._identity: tuple[int, int] | None = None
        self._pending = b""
        self._status: str | None = None

    @property
    def status(self) -> str | None:
        """`waiting for <path>` while the file does not exist."""
        return self._status

    def read_lines(self) -> list[bytes]:
        """New complete lines, following rotation and truncation."""
        lines: list[bytes] = []
        if self._file is None and not self._open():
            return lines
        assert self._file is not None
        try:
            stat = os.stat(self._path)
        except FileNotFoundError:
            stat = None  # moved away; drain the old file until a new one appears
        if stat is not None and (stat.st_dev, stat.st_ino) != self._identity:
            lines += self._drain_all()
            self._reset()
            if not self._open():
                return lines
            assert self._file is not None
        elif stat is not None and stat.st_size < self._file.tell():
            logger.info("%s was truncated; reading from its start", self._path)
            self._file.seek(0)
            self._pending = b""
        lines += self._read_some()
        return lines

    def close(self) -> None:
        """Close the current file."""
        self._reset()

    def _open(self) -> bool:
        try:
            handle = open(self._path, "rb")  # kept open across polls
        except FileNotFoundError:
            self._status = f"waiting for {self._path}"
            return False
        stat = os.fstat(handle.fileno())
        self._file, self._identity, self._status = handle, (stat.st_dev, stat.st_ino), None
        return True

    def _reset(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._identity, self._pending = None, None, b""

    def _read_some(self) -> list[bytes]:
        assert self._file is not None
        lines, self._pending = split_lines(self._pending, self._file.read(self._max_bytes))
        return lines

    def _drain_all(self) -> list[bytes]:
        assert self._file is not None
        lines, rest = split_lines(self._pending, self._file.read())
        # The old file is finished: its last line counts even without a newline.
        return lines + ([rest] if rest.strip() else [])


class StreamFollower:
    """Reads a blocking stream (stdin) on a daemon thread; `read_lines` drains what it queued."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._ended = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reader thread."""
        self._thread = threading.Thread(target=self._pump, name="plano-obs-stdin", daemon=True)
        self._thread.start()

    @property
    def status(self) -> str | None:
        """`input ended` after EOF."""
        return "input ended" if self._ended else None

    def read_lines(self) -> list[bytes]:
        """The lines queued since the last call."""
        lines: list[bytes] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return lines
            if item is None:
                self._ended = True
            else:
                lines.append(item)

    def close(self) -> None:
        """Nothing to release: the daemon thread ends with the process or at EOF."""

    def _pump(self) -> None:
        try:
            for line in self._stream:
                self._queue.put(line)
        except (OSError, ValueError):
            logger.exception("reading the request log stream failed")
        finally:
            self._queue.put(None)
