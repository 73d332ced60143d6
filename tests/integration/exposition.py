"""Reading plano's `/metrics` (Prometheus text format) in integration tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, slots=True)
class Sample:
    """One exposition line: sample name, labels and value."""

    name: str
    labels: dict[str, str]
    value: float


def samples(body: str) -> list[Sample]:
    """Every sample of an exposition body."""
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(body)
        for s in family.samples
    ]


def total(body: str, name: str, **labels: str) -> float:
    """The sum of the `name` samples whose labels include `labels` (0 when none)."""
    return sum(
        s.value
        for s in samples(body)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def label_values(body: str, name: str, label: str) -> set[str]:
    """The values `label` takes on the `name` samples."""
    return {s.labels[label] for s in samples(body) if s.name == name and label in s.labels}


def value(body: str, name: str, **labels: str) -> float | None:
    """The single sample `name` with exactly these labels, None when absent."""
    for s in samples(body):
        if s.name == name and s.labels == labels:
            return s.value
    return None


def scrape(base_url: str) -> str:
    """GET /metrics on a fresh connection (so any worker may answer); asserts a 200."""
    with requests.Session() as session:
        reply = session.get(f"{base_url}/metrics", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return reply.text


def is_finite(number: float | None) -> bool:
    """True for a real number (not None, NaN or infinite)."""
    return number is not None and math.isfinite(number)
