"""Shared set-up for the preference-routing integration tests: configs, a keyword router, metrics.

`keyword_router(table)` is a FakeRouter reply rule that reads the latest user message out of the
prompt it received (either prompt format) and answers the route whose keyword it contains, in the
reply format of that prompt; no keyword -> "no route" (`[]` or `"other"`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.router_server import RecordedRequest
from tests.services.gunicorn import GunicornServer

_CONVERSATION = re.compile(r"<conversation>\n(.*)\n</conversation>", re.DOTALL)

CODING = "CODE-PLEASE"
REASONING = "THINK-HARD"
KEYWORDS = {CODING: "code_generation", REASONING: "complex_reasoning"}

ROUTES_YAML = """\
routing_preferences:
  - name: code_generation
    description: >-
      writing new code, implementing functions or features, fixing bugs, refactoring and
      explaining source code in any programming language
    models:
      - anthropic/claude-sonnet-4-6
      - openai/gpt-4o
  - name: complex_reasoning
    description: multi-step reasoning, math proofs and in-depth analysis
    models:
      - openai/gpt-4o
      - openai/gpt-4o-mini
"""


def providers_yaml(openai_url: str, anthropic_url: str) -> str:
    """Three ordinary models on two fake providers; gpt-4o-mini is the default."""
    return f"""\
model_providers:
  - model: openai/gpt-4o-mini
    access_key: sk-test
    base_url: {openai_url}
    default: true
  - model: openai/gpt-4o
    access_key: sk-test
    base_url: {openai_url}
  - model: anthropic/claude-sonnet-4-6
    access_key: sk-ant-test
    base_url: {anthropic_url}
"""


def conversation_in(prompt: str) -> list[dict[str, str]]:
    """The conversation JSON embedded in a router prompt (either format)."""
    match = _CONVERSATION.search(prompt)
    assert match is not None, f"no <conversation> block in the prompt:\n{prompt}"
    messages = json.loads(match.group(1))
    assert isinstance(messages, list)
    return messages


def keyword_router(table: Mapping[str, str] = KEYWORDS) -> Callable[[RecordedRequest], str]:
    """A FakeRouter rule: the route whose keyword the latest user message holds."""

    def answer(request: RecordedRequest) -> str:
        prompt = request.prompt
        arch = "other route" in prompt  # only the arch-router template says this
        users = [m["content"] for m in conversation_in(prompt) if m["role"] == "user"]
        latest = users[-1] if users else ""
        for keyword, route in table.items():
            if keyword in latest:
                return json.dumps({"route": route}) if arch else json.dumps({"route": [route]})
        return '{"route": "other"}' if arch else '{"route": []}'

    return answer


@contextmanager
def serving(
    config_text: str, tmp: Path, env: Mapping[str, str] | None = None
) -> Iterator[GunicornServer]:
    """One gunicorn (1 gevent worker) serving `config_text`; killed on leaving the block."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "plano.yaml"
    path.write_text(config_text, encoding="utf-8")
    with GunicornServer(path, tmp, workers=1, env=env) as server:
        yield server


def metric_value(base_url: str, name: str, **labels: str) -> float:
    """The sum of the `name` samples on /metrics whose labels include `labels`."""
    with requests.Session() as http:
        text = http.get(f"{base_url}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
