"""plano.request_head: the strict header-block parser and body-framing rules of the shipped worker.

Blocks are read from bytes into pywsgi's own message class, as the worker does, and compared
with what `http.client.parse_headers` (pywsgi's stock parser) gives for well-formed blocks. The
worker runs under gunicorn in tests/integration/test_worker.py, test_security.py (request
smuggling over a socket) and the proxy modules parametrized over WORKER_CLASSES.
"""

from __future__ import annotations

import http.client
import io

import pytest
from gevent.pywsgi import OldMessage

from plano.request_head import (
    MAX_HEADERS,
    MAX_LINE_BYTES,
    BadFraming,
    BadRequestHead,
    read_header_block,
)

SDK_HEADERS = (
    b"Host: 127.0.0.1:8000\r\n"
    b"Accept-Encoding: gzip, deflate\r\n"
    b"Connection: keep-alive\r\n"
    b"Accept: application/json\r\n"
    b"Content-Type: application/json\r\n"
    b"User-Agent: OpenAI/Python 1.99.0\r\n"
    b"X-Stainless-Lang: python\r\n"
    b"X-Stainless-Retry-Count: 0\r\n"
    b"Authorization: Bearer sk-test\r\n"
    b"X-Repeated: one\r\n"
    b"x-repeated: two\r\n"
    b"Empty:\r\n"
    b"Spaced: \t padded value \t\r\n"
    b"Content-Length: 180\r\n"
    b"\r\n"
    b'{"model": "the body stays unread"}'
)


def _read(block: bytes, version: str = "HTTP/1.1") -> OldMessage:
    return read_header_block(io.BytesIO(block), version, OldMessage)


def _headers(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in ("Host: x", *lines)).encode("latin-1") + b"\r\n"


def test_a_well_formed_block_reads_as_the_stdlib_parser_reads_it() -> None:
    ours = _read(SDK_HEADERS)
    stdlib = http.client.parse_headers(io.BytesIO(SDK_HEADERS))
    # The stdlib keeps trailing whitespace; pywsgi strips it on the way into the environ.
    assert ours.items() == [(name, value.strip(" \t")) for name, value in stdlib.items()]
    assert ours.get_all("x-repeated") == ["one", "two"]
    assert ours["spaced"] == "padded value"
    assert ours["empty"] == ""
    assert ours.status == ""
    assert ours.typeheader == "application/json"  # what pywsgi's get_environ reads


def test_the_body_is_left_unread() -> None:
    stream = io.BytesIO(SDK_HEADERS)
    read_header_block(stream, "HTTP/1.1", OldMessage)
    assert stream.read() == b'{"model": "the body stays unread"}'


def test_bare_line_feeds_and_an_early_end_are_accepted() -> None:
    assert _read(b"Host: x\nContent-Length: 3\n\n")["content-length"] == "3"
    assert _read(b"Host: x\r\n")["host"] == "x"  # the peer closed after the last line


@pytest.mark.parametrize(
    "line",
    [
        b"Host : x",  # space before the colon
        b" folded continuation",  # obs-fold
        b"\tfolded continuation",
        b"No colon here",
        b": no name",
        b"Bad(name): x",
        b"Bad\x00name: x",
        b"Value: carriage\rreturn",  # a bare CR
        b"Value: nul\x00byte",
        b"Value: escape\x1bsequence",
    ],
)
def test_a_malformed_line_is_refused(line: bytes) -> None:
    with pytest.raises(BadRequestHead):
        _read(b"Host: x\r\n" + line + b"\r\nAccept: */*\r\n\r\n")


def test_a_tab_inside_a_value_is_allowed() -> None:
    assert _read(b"Host: x\r\nValue: a\tb\r\n\r\n")["value"] == "a\tb"


def test_too_long_a_line_and_too_many_lines_are_refused() -> None:
    long_line = b"X-Long: " + b"a" * MAX_LINE_BYTES + b"\r\n"
    with pytest.raises(BadRequestHead, match="too long"):
        _read(b"Host: x\r\n" + long_line + b"\r\n")
    many = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    with pytest.raises(BadRequestHead, match=f"more than {MAX_HEADERS}"):
        _read(many + b"\r\n")
    assert len(_read(b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS)) + b"\r\n")) == 100


@pytest.mark.parametrize(
    ("lines", "length", "chunked"),
    [
        (("Content-Length: 12",), "12", False),
        (("Content-Length: 0",), "0", False),
        (("Content-Length:  12 ",), "12", False),  # optional whitespace around the value
        (("Transfer-Encoding: chunked",), None, True),
        (("Transfer-Encoding: Chunked",), None, True),
        ((), None, False),
    ],
    ids=["length", "zero", "spaced", "chunked", "chunked-case", "no-body"],
)
def test_one_unambiguous_length_passes(
    lines: tuple[str, ...], length: str | None, chunked: bool
) -> None:
    headers = _read(_headers(*lines))
    assert headers.get("content-length") == length
    assert (headers.get("transfer-encoding", "").lower() == "chunked") is chunked


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (("Content-Length: 5", "Transfer-Encoding: chunked"), "both"),
        (("Transfer-Encoding: chunked", "Content-Length: 5"), "both"),
        (("Transfer-Encoding: gzip, chunked",), "other than chunked"),
        (("Transfer-Encoding: chunked, chunked",), "other than chunked"),
        (("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), "other than chunked"),
        (("Transfer-Encoding: identity",), "other than chunked"),
        (("Content-Length: 5", "Content-Length: 5"), "more than one"),
        (("Content-Length: 0", "Content-Length: 40"), "more than one"),
        (("Content-Length: 5, 5",), "not a number"),
        (("Content-Length: +5",), "not a number"),
        (("Content-Length: -1",), "not a number"),
        (("Content-Length: 0x10",), "not a number"),
        (("Content-Length: 1_0",), "not a number"),
        (("Content-Length:",), "not a number"),
    ],
)
def test_ambiguous_framing_is_refused(lines: tuple[str, ...], reason: str) -> None:
    with pytest.raises(BadFraming, match=reason):
        _read(_headers(*lines))


def test_chunked_needs_http_1_1() -> None:
    with pytest.raises(BadFraming, match="HTTP/1.0"):
        _read(_headers("Transfer-Encoding: chunked"), "HTTP/1.0")


def test_every_refusal_is_a_value_error_so_pywsgi_answers_400() -> None:
    # pywsgi turns a ValueError from reading the request into 400 without a traceback.
    assert issubclass(BadFraming, BadRequestHead)
    assert issubclass(BadRequestHead, ValueError)
