"""Money and time formats, and the rendered console against golden text files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.console import Console

from plano.metrics_sources.pricing import Price
from plano.obs.aggregate import Aggregator
from plano.obs.render import format_count, format_ms, format_usd, render_console
from tests.unit.obs.conftest import DATA_DIR

PRICES = {"gpt-4o": Price(2.5, 10.0, 1.25), "claude-sonnet-4-6": Price(3.0, 15.0, 0.3)}
# PLANO_UPDATE_GOLDEN=1 rewrites the golden files after an intended change to the console.
UPDATE_GOLDEN = os.environ.get("PLANO_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (float("nan"), "—"),
        (0.0, "$0.00"),
        (0.00182, "$0.001820"),
        (0.00001234, "$0.00001234"),
        (0.00005, "$0.00005"),
        (1e-11, "<$0.00000001"),
        (0.0099994, "$0.009999"),
        (0.0123, "$0.0123"),
        (0.99994, "$0.9999"),
        (1.0, "$1.00"),
        (1234.5649, "$1,234.56"),
        (1234567.891, "$1,234,567.89"),
    ],
)
def test_format_usd(value: float | None, text: str) -> None:
    assert format_usd(value) == text


def test_format_ms_and_count() -> None:
    assert [format_ms(v) for v in (None, 0.4, 812.5, 999.4, 1500.0, 61234.0)] == [
        "—", "0 ms", "812 ms", "999 ms", "1.50 s", "61.23 s",
    ]  # fmt: skip
    assert [format_count(v) for v in (None, 0, 1234567)] == ["—", "0", "1,234,567"]


def _rendered(aggregator: Aggregator, prices: dict[str, Price], notes: list[str]) -> str:
    console = Console(record=True, width=120, file=open(os.devnull, "w"))  # noqa: SIM115
    try:
        console.print(render_console(aggregator.snapshot(prices, 15), notes, 15))
    finally:
        console.file.close()
    return console.export_text()


def _check_golden(name: str, text: str) -> None:
    golden = DATA_DIR / name
    if UPDATE_GOLDEN:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def _sample(sample_log: Path) -> Aggregator:
    aggregator = Aggregator()
    for line in sample_log.read_bytes().splitlines():
        aggregator.add_line(line)
    return aggregator


def test_console_snapshot_priced(sample_log: Path) -> None:
    notes = ["cost via DigitalOcean Gradient catalog (http://catalog.test/): 2 models priced"]
    _check_golden("console_priced.txt", _rendered(_sample(sample_log), PRICES, notes))


def test_console_snapshot_unpriced(sample_log: Path) -> None:
    notes = ["no pricing loaded — catalog unreachable: http://catalog.test/: HTTP 503"]
    text = _rendered(_sample(sample_log), {}, notes)
    _check_golden("console_unpriced.txt", text)
    assert "$" not in text


def test_console_snapshot_empty() -> None:
    _check_golden("console_empty.txt", _rendered(Aggregator(), PRICES, ["waiting for x.log"]))
