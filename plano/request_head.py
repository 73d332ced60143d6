"""A request's header block, parsed strictly, and its body framing: for the shipped worker.

pywsgi parses request headers with `http.client.parse_headers`, which runs them through the
email package's MIME parser: about 0.1 ms for the 17 headers an SDK sends, and lenient (folded
lines, spaces before the colon, bare CRs pass). Plain `name: value` lines need none of it.
`read_header_block` reads the lines itself and refuses, as gunicorn's parser does, what a
front proxy could read differently: a malformed line, obs-fold, a control character in a value,
and ambiguous body framing (`check_framing`, RFC 9112 §6: the CL.TE / TE.TE request-smuggling
shapes). Every refusal is a ValueError, which pywsgi answers with 400 and a closed connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, BinaryIO

#: http.client's limits: one header line, and lines in a block.
MAX_LINE_BYTES = 65536
MAX_HEADERS = 100

_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls other than tab
_DIGITS = frozenset("0123456789")
_OWS = " \t"  # the only whitespace allowed around a field value (RFC 9110 §5.5)


class BadRequestHead(ValueError):
    """A header block plano will not read: malformed, too large, or framed ambiguously."""


class BadFraming(BadRequestHead):
    """Headers that give the body's length ambiguously."""


def read_header_block(rfile: BinaryIO, http_version: str, message_class: Callable[[], Any]) -> Any:
    """Read header lines up to the blank line into `message_class()` (an email Message).

    Raises BadRequestHead for a line over MAX_LINE_BYTES, more than MAX_HEADERS lines, a line
    that is not `token ":" value`, a control character in a value, or ambiguous framing.
    """
    message = message_class()
    count = 0
    while True:
        raw = rfile.readline(MAX_LINE_BYTES + 1)
        if len(raw) > MAX_LINE_BYTES:
            raise BadRequestHead("a header line is too long")
        if raw in (b"\r\n", b"\n", b""):
            break
        count += 1
        if count > MAX_HEADERS:
            raise BadRequestHead(f"more than {MAX_HEADERS} headers")
        line = raw.decode("latin-1").removesuffix("\n").removesuffix("\r")
        name, colon, value = line.partition(":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise BadRequestHead("a malformed header line")
        if _BAD_VALUE.search(value):
            raise BadRequestHead(f"a control character in the {name} header")
        message[name] = value.strip(_OWS)
    message.status = ""  # pywsgi's OldMessage: no parse problem to report
    check_framing(message, http_version)
    return message


def check_framing(headers: Any, http_version: str) -> None:
    """Raise BadFraming unless the body's length is given one unambiguous way (RFC 9112 §6).

    `headers` is the parsed header block (`get_all(name)` returns every value of a field).
    """
    transfer_encodings = headers.get_all("transfer-encoding") or []
    content_lengths = headers.get_all("content-length") or []
    if transfer_encodings:
        if content_lengths:
            raise BadFraming("both Transfer-Encoding and Content-Length")
        if http_version != "HTTP/1.1":
            raise BadFraming(f"Transfer-Encoding in an {http_version} request")
        if len(transfer_encodings) != 1 or transfer_encodings[0].strip(_OWS).lower() != "chunked":
            raise BadFraming("a Transfer-Encoding other than chunked")
    if len(content_lengths) > 1:
        raise BadFraming("more than one Content-Length")
    if content_lengths:
        value = content_lengths[0].strip(_OWS)
        if not value or not _DIGITS.issuperset(value):
            raise BadFraming("a Content-Length that is not a number")
