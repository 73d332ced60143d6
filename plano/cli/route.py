"""`plano route FILE --message TEXT`: a dry-run routing decision, with the ranked models and why."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from plano.config.loader import load_settings
from plano.errors import ConfigError, PlanoError
from plano.routing.call import ChatCall, Dialect, Turn
from plano.routing.router_prompt import build_prompt, default_budget

REASONS = {
    "named_model": "the request named this model",
    "routed": "the router matched route `{route}`; candidates ranked by its selection_policy",
    "no_route_matched": "no route matched: the fallback model",
    "default_model": "no model named and no routes: the default provider",
    "pinned": "the session is pinned to this model",
}


def _turns(message: tuple[str, ...], messages_file: str | None) -> tuple[Turn, ...]:
    if messages_file:
        raw = json.loads(Path(messages_file).read_text(encoding="utf-8"))
        if not isinstance(raw, list):
            raise click.UsageError("--messages must hold a JSON list of {role, content}")
        turns = []
        for item in raw:
            content = item.get("content", "") if isinstance(item, dict) else ""
            if isinstance(content, list):
                content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            turns.append(Turn(str(item.get("role", "user")), str(content or "")))
        return tuple(turns)
    return tuple(Turn("user", text) for text in message)


@click.command()
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--message", "-m", multiple=True, help="A user message (repeat for several turns).")
@click.option(
    "--messages",
    "messages_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A JSON file with the conversation: [{role, content}, ...].",
)
@click.option("--model", default=None, help="The model the request names (the fallback).")
@click.option("--show-prompt", is_flag=True, help="Print the exact router-model prompt.")
def route(
    config_file: str,
    message: tuple[str, ...],
    messages_file: str | None,
    model: str | None,
    show_prompt: bool,
) -> None:
    """Show which route and models plano would pick for a conversation, and why."""
    if not message and not messages_file:
        raise click.UsageError("give --message TEXT or --messages FILE")
    try:
        settings = load_settings(config_file, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(2)
    turns = _turns(message, messages_file)
    router = settings.router
    if show_prompt and router is not None and not router.is_embedded:
        budget = settings.overrides.orchestrator_model_context_length or default_budget(
            router.prompt_format
        )
        click.echo(f"--- prompt ({router.prompt_format}) for {router.model_id} at {router.url}")
        click.echo(build_prompt(settings.routes, turns, router.prompt_format, budget), nl=False)
        click.echo("--- end of prompt")
    elif show_prompt and router is not None:
        click.echo("--- no prompt: the router is `embedded` (in-process; it reads routes directly)")
    # Imported here: the gateway and wiring pull in every part (providers, sessions, the embedded
    # router), which `plano validate`, `migrate` and `--help` must not need.
    from plano.gateway import RequestContext
    from plano.wiring import build_parts

    model_dir = os.environ.get("PLANO_ROUTER_MODEL_DIR")
    parts = build_parts(settings, embedded_model_dir=Path(model_dir) if model_dir else None)
    call = ChatCall(Dialect.OPENAI, model or None, turns)
    context = RequestContext("plano-route", "routing", {}, time.perf_counter())
    try:
        outcome = parts.gateway.decide(call, context, decision_only=True)
    except PlanoError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    decision = outcome.decision
    snapshot = parts.refresher.snapshot()
    click.echo(f"route:  {decision.route or '(none)'}")
    click.echo("models:")
    for rank, name in enumerate(decision.candidates, 1):
        notes = []
        if name in snapshot.prices:
            notes.append(f"${snapshot.prices[name]:g}/M tokens in+out")
        if name in snapshot.latencies:
            notes.append(f"latency {snapshot.latencies[name]:g}")
        suffix = f"  ({', '.join(notes)})" if notes else ""
        click.echo(f"  {rank}. {name}{suffix}")
    click.echo("why:    " + REASONS[decision.reason.value].format(route=decision.route))
    if outcome.router_error:
        click.echo(f"router error: {outcome.router_error} (failed open)")
