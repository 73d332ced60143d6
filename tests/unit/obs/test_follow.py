"""Following a growing, rotated or truncated file, and a stream on a thread."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from plano.obs.follow import FileFollower, StreamFollower, split_lines


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def test_split_lines_keeps_the_partial_tail() -> None:
    assert split_lines(b"", b"a\nb\nc") == ([b"a", b"b"], b"c")
    assert split_lines(b"c", b"d\n") == ([b"cd"], b"")
    assert split_lines(b"", b"") == ([], b"")


def test_reads_existing_then_new_lines_and_waits_for_partial_ones(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"one\ntwo\nthr")
    follower = FileFollower(str(log))
    try:
        assert follower.read_lines() == [b"one", b"two"]
        assert follower.read_lines() == []
        _append(log, b"ee\nfour\n")
        assert follower.read_lines() == [b"three", b"four"]
    finally:
        follower.close()


def test_bounded_reads_return_the_backlog_in_pieces(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"".join(b"line %d\n" % n for n in range(100)))
    follower = FileFollower(str(log), max_bytes_per_read=64)
    try:
        lines: list[bytes] = []
        while batch := follower.read_lines():
            assert len(batch) <= 10
            lines += batch
        assert lines == [b"line %d" % n for n in range(100)]
    finally:
        follower.close()


def test_missing_file_is_waited_for(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    follower = FileFollower(str(log))
    try:
        assert follower.read_lines() == []
        assert follower.status == f"waiting for {log}"
        log.write_bytes(b"hello\n")
        assert follower.read_lines() == [b"hello"]
        assert follower.status is None
    finally:
        follower.close()


def test_truncation_restarts_from_the_top(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"old line one\nold line two\n")
    follower = FileFollower(str(log))
    try:
        assert len(follower.read_lines()) == 2
        with log.open("r+b") as handle:
            handle.truncate(0)
        _append(log, b"new\n")
        assert follower.read_lines() == [b"new"]
    finally:
        follower.close()


def test_rotation_drains_the_old_file_then_opens_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"a\n")
    follower = FileFollower(str(log))
    try:
        assert follower.read_lines() == [b"a"]
        _append(log, b"b\nlast-without-newline")
        os.rename(log, tmp_path / "requests.log.1")
        assert follower.read_lines() == [b"b"]  # moved away, no new file yet: keep reading
        log.write_bytes(b"c\n")
        assert follower.read_lines() == [b"last-without-newline", b"c"]
    finally:
        follower.close()


def test_stream_follower_drains_without_blocking() -> None:
    follower = StreamFollower(io.BytesIO(b"x\ny\n"))
    follower.start()
    lines: list[bytes] = []
    deadline = time.monotonic() + 5
    while follower.status is None and time.monotonic() < deadline:
        lines += follower.read_lines()
        time.sleep(0.01)
    lines += follower.read_lines()
    assert lines == [b"x\n", b"y\n"]
    assert follower.status == "input ended"
    follower.close()
