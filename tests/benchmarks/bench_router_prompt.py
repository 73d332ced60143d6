"""Benchmark: build the router prompt and parse its reply for a realistic 16-message conversation.

Run from the repository root: `python -m tests.benchmarks.bench_router_prompt [iterations]`.
Target: p99 of build + parse <= 300 µs per request (both prompt formats).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence

from plano.config.model import Route
from plano.routing.call import Turn
from plano.routing.router_prompt import (
    ARCH_ROUTER,
    PLANO_ORCHESTRATOR,
    build_prompt,
    default_budget,
    parse_reply,
)

ROUTES = (
    Route("code_generation", "generating new code snippets, functions or boilerplate", ("a",)),
    Route("code_understanding", "explaining, reviewing or debugging existing code", ("b",)),
    Route("complex_reasoning", "multi-step reasoning, maths, planning and analysis", ("c",)),
    Route("creative_writing", "stories, poems, marketing copy and other creative text", ("d",)),
    Route("translation", "translating text between languages, e.g. to 日本語 or español", ("e",)),
)


def conversation() -> list[Turn]:
    """A 20-turn chat (system and tool turns included) whose last 16 messages reach the router."""
    turns = [Turn("system", "You are a helpful coding assistant. Answer concisely.")]
    for i in range(9):
        turns.append(
            Turn(
                "user",
                f"Step {i}: here is my function, can you make it faster and explain why? "
                "def f(xs):\n    return [x * 2 for x in xs if x % 3 == 0]\n" * 3,
            )
        )
        turns.append(
            Turn(
                "assistant",
                f"Answer {i}: use a generator and avoid the modulo where possible — "
                "for example `sum(2 * x for x in xs[::3])` when the input is sorted. " * 4,
            )
        )
    turns.append(Turn("tool", '{"ok": true}'))
    turns.append(Turn("user", "Great. Now write unit tests for it with pytest, please. ¿Vale?"))
    return turns


def measure(
    prompt_format: str, turns: Sequence[Turn], reply: str, iterations: int
) -> tuple[float, float, int]:
    """p50 and p99 in µs of build_prompt + parse_reply, and the prompt size in bytes."""
    names = [route.name for route in ROUTES]
    budget = default_budget(prompt_format)
    samples: list[float] = []
    prompt = ""
    for _ in range(iterations):
        started = time.perf_counter_ns()
        prompt = build_prompt(ROUTES, turns, prompt_format, budget)
        answer = parse_reply(reply, names)
        samples.append((time.perf_counter_ns() - started) / 1000)
        assert answer is not None
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.median(samples), p99, len(prompt.encode())


def main(argv: Sequence[str]) -> int:
    """Print p50/p99 per prompt format; exit 1 when a p99 is over the 300 µs target."""
    iterations = int(argv[0]) if argv else 5000
    turns = conversation()
    over = False
    cases = [
        (PLANO_ORCHESTRATOR, '```json\n{"route": ["code_generation"]}\n```'),
        (ARCH_ROUTER, "{'route': 'code_generation'}"),
    ]
    for prompt_format, reply in cases:
        measure(prompt_format, turns, reply, 200)  # warm up
        p50, p99, size = measure(prompt_format, turns, reply, iterations)
        over = over or p99 > 300
        print(
            f"{prompt_format:<20} prompt {size:>6} B  p50 {p50:7.1f} µs  p99 {p99:7.1f} µs"
            f"  ({iterations} runs)"
        )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
