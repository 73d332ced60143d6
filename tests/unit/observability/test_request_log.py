"""The request log's line format: one JSON object per line, with a UTC millisecond timestamp."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

from plano.observability.request_log import RequestLog


def clock_from(values: list[float]) -> Iterator[float]:
    yield from values


def expected_stamp(now: float) -> str:
    millis = int(now * 1000)
    day_and_time = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000))
    return f"{day_and_time}.{millis % 1000:03d}Z"


def test_each_line_carries_its_own_time_across_second_boundaries(tmp_path: Path) -> None:
    times = [1_764_494_399.998, 1_764_494_399.9995, 1_764_494_400.0, 1_764_494_400.5, 86_399.001]
    ticks = clock_from(times)
    log = RequestLog(str(tmp_path / "requests.log"), clock=lambda: next(ticks))
    for index in range(len(times)):
        log.write(request_id=f"r{index}", status=200, error=None)
    log.close()
    lines = (tmp_path / "requests.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["time"] for r in records] == [expected_stamp(t) for t in times]
    assert records[0]["time"] == "2025-11-30T09:19:59.998Z"
    assert records[2]["time"] == "2025-11-30T09:20:00.000Z"
    assert records[4]["time"] == "1970-01-01T23:59:59.001Z"
    assert list(records[0]) == ["time", "request_id", "status", "error"]


def test_off_writes_nothing_and_stdout_gets_lines(tmp_path: Path) -> None:
    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            return None

    sink = Sink()
    RequestLog("off", clock=lambda: 0.0).write(request_id="x")
    RequestLog("-", stdout=sink, clock=lambda: 0.25).write(request_id="é")  # type: ignore[arg-type]
    assert sink.text == '{"time":"1970-01-01T00:00:00.250Z","request_id":"é"}\n'
