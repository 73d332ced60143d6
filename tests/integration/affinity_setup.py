"""Shared pieces of the affinity integration tests: the plano config, /metrics and /readyz."""

from __future__ import annotations

import re

import requests

from tests.fakes.provider_server import FakeProvider
from tests.fakes.router_server import FakeRouter

MODEL_A = "openai/model-a"
MODEL_B = "openai/model-b"
MODEL_C = "openai/model-c"
ROUTE_A = '{"route": ["route_a"]}'  # candidates: model-a, model-b
ROUTE_B = '{"route": ["route_b"]}'  # candidates: model-c, model-a
REDIS_PASSWORD = "s3cr3t pass"  # a space: the URL must carry it percent-encoded
TTL_S = 120


def config_text(
    provider: FakeProvider,
    router: FakeRouter,
    session_cache: str,
    *,
    route_on_user_only: bool = False,
) -> str:
    """A plano config: three models on the fake provider, two routes, the fake router model."""
    return f"""\
version: v0.4.0
listeners:
  - name: model_listener
    type: model
    port: 12000
model_providers:
  - model: {MODEL_A}
    base_url: {provider.base_url}
    access_key: test-key
    default: true
  - model: {MODEL_B}
    base_url: {provider.base_url}
    access_key: test-key
  - model: {MODEL_C}
    base_url: {provider.base_url}
    access_key: test-key
  - model: plano/router
    base_url: {router.base_url}
routing_preferences:
  - name: route_a
    description: questions about apples
    models: [{MODEL_A}, {MODEL_B}]
  - name: route_b
    description: questions about bananas
    models: [{MODEL_C}, {MODEL_A}]
routing:
  session_ttl_seconds: {TTL_S}
  route_on_user_only: {"true" if route_on_user_only else "false"}
  session_cache:
{session_cache}
overrides:
  llm_routing_model: plano/router
  llm_routing_timeout: 5
observability:
  request_log: "off"
"""


def metric_total(base_url: str, name: str, labels: dict[str, str]) -> float:
    """The sum of the samples of `name` on `<base_url>/metrics` whose labels include `labels`."""
    with requests.Session() as http:
        text = http.get(f"{base_url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, value = line[len(name) + 1 :].rsplit("} ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def readiness(base_url: str) -> tuple[int, dict[str, object]]:
    """`<base_url>/readyz`: status and body."""
    with requests.Session() as http:
        reply = http.get(f"{base_url}/readyz", timeout=10)
    return reply.status_code, reply.json()
