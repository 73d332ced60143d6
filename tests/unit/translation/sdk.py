"""The official SDKs over an in-memory transport: they parse plano's bytes as a client would."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import httpx2
import openai

BASE_URL = "http://plano.test"


def replying(status: int, body: bytes, content_type: str) -> httpx2.MockTransport:
    """A transport that answers every request with `body`."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": content_type})

    return httpx2.MockTransport(handle)


def openai_client(transport: httpx2.MockTransport) -> openai.OpenAI:
    """An OpenAI client whose requests never leave the process."""
    return openai.OpenAI(
        api_key="sk-test",
        base_url=f"{BASE_URL}/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )


def anthropic_client(transport: httpx2.MockTransport) -> anthropic.Anthropic:
    """An Anthropic client whose requests never leave the process."""
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url=BASE_URL,
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )


def raised_by(call: Callable[[], object]) -> Exception:
    """The exception `call` raises (fails the test when it returns)."""
    try:
        call()
    except Exception as exc:  # the caller checks the type
        return exc
    raise AssertionError("expected an exception")
