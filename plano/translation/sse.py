"""Server-sent events: an incremental decoder for provider streams, and the encoder for ours."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event: its `event:` name (None when absent) and its `data:` lines joined by newlines."""

    name: str | None
    data: str

    def json_or_none(self) -> object:
        """The data parsed as JSON; None when it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None


class SseDecoder:
    """Splits a byte stream into events, whatever the chunk boundaries (LF, CRLF or CR lines)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def pending(self) -> bool:
        """Whether part of an event is held back, waiting for the rest of it."""
        return bool(self._buffer)

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events completed by `chunk`."""
        buffer = self._buffer + chunk
        held = b""
        if b"\r" in buffer:
            # Lines may end in CRLF, LF or CR alone; a CR that ends the chunk may be the first
            # half of a CRLF, so it waits for the next chunk.
            if buffer.endswith(b"\r"):
                buffer, held = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[SseEvent] = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            event = _parse_block(buffer[start:end])
            if event is not None:
                events.append(event)
            start = end + 2
        self._buffer = buffer[start:] + held
        return events

    def flush(self) -> list[SseEvent]:
        """The last event when the stream ended without its blank line."""
        block, self._buffer = self._buffer.strip(b"\r\n"), b""
        event = _parse_block(block) if block else None
        return [event] if event is not None else []


def _parse_block(block: bytes) -> SseEvent | None:
    if block.startswith(b"data: ") and b"\n" not in block:  # the usual one-line event
        return SseEvent(None, block[6:].decode("utf-8", errors="replace"))
    if block.startswith(b"event: "):  # the usual `event:` + one `data:` line (Anthropic)
        head, _, rest = block.partition(b"\n")
        if rest.startswith(b"data: ") and b"\n" not in rest:
            return SseEvent(
                head[7:].decode("utf-8", errors="replace"),
                rest[6:].decode("utf-8", errors="replace"),
            )
    name: str | None = None
    data: list[str] = []
    for raw in block.split(b"\n"):
        line = raw.decode("utf-8", errors="replace")
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    if not data:
        return None
    return SseEvent(name, "\n".join(data))


def encode_event(data: object, name: str | None = None) -> bytes:
    """One SSE event; `data` is a JSON-able value or an already encoded string."""
    text = data if isinstance(data, str) else dumps(data)
    if "\n" in text:
        # Each line of a multi-line payload needs its own `data:` field.
        text = text.replace("\n", "\ndata: ")
    if name is None:
        return f"data: {text}\n\n".encode()
    return f"event: {name}\ndata: {text}\n\n".encode()


# One encoder for every call: json.dumps with options builds a new one each time (~4 µs).
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: object) -> str:
    """Compact JSON, non-ASCII kept as is."""
    return _COMPACT.encode(value)
