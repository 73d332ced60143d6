"""`plano validate FILE`: check a config offline and summarise it, or list every problem."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit, urlunsplit

import click

from plano.config.loader import load_settings
from plano.config.model import SessionCacheType, Settings
from plano.errors import ConfigError

EXIT_INVALID = 2


def _redacted(url: str) -> str:
    """`url` with any password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def summary_lines(settings: Settings) -> list[str]:
    """A short human summary of valid settings."""
    providers = [p.name + (" (default)" if p.default else "") for p in settings.providers]
    lines = [
        f"listener: {settings.listener.bind}, upstream timeout {settings.listener.timeout_s:g} s",
        f"providers ({len(providers)}): {', '.join(providers) or 'none'}",
    ]
    aliases = [f"{alias} -> {target}" for alias, target in settings.model_aliases.items()]
    lines.append(f"aliases ({len(aliases)}): {', '.join(aliases) or 'none'}")
    lines.append(f"routes ({len(settings.routes)}):" + ("" if settings.routes else " none"))
    for route in settings.routes:
        lines.append(f"  {route.name} [prefer {route.prefer.value}]: {', '.join(route.models)}")
    sources = []
    if settings.cost_source is not None:
        sources.append(f"cost {settings.cost_source.provider} ({settings.cost_source.url})")
    if settings.latency_source is not None:
        sources.append(
            f"latency {settings.latency_source.provider} ({settings.latency_source.url})"
        )
    lines.append(f"metrics sources: {', '.join(sources) or 'none'}")
    routing = settings.routing
    cache = routing.session_cache
    where = cache.type.value
    if cache.type is SessionCacheType.REDIS and cache.url:
        where += f" {_redacted(cache.url)}"
    if cache.tenant_header:
        where += f", tenant header {cache.tenant_header}"
    lines.append(
        f"session cache: {where} (ttl {routing.session_ttl_seconds} s, "
        f"max {routing.session_max_entries} entries)"
    )
    router = settings.router
    if router is None:
        lines.append("router: none")
    elif router.is_embedded:
        lines.append("router: embedded (in-process)")
    else:
        lines.append(f"router: {router.model_id} at {router.url} ({router.prompt_format} format)")
    return lines


@click.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
def validate(config_file: str) -> None:
    """Check a config offline; print a summary, or every problem and exit 2."""
    try:
        settings = load_settings(config_file, os.environ)
    except ConfigError as exc:
        count = len(exc.problems)
        click.echo(f"{config_file}: {count} problem{'s' if count != 1 else ''}", err=True)
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(EXIT_INVALID)
    for warning in settings.warnings:
        click.echo(warning, err=True)
    click.echo(f"{config_file}: valid ({settings.version})")
    for line in summary_lines(settings):
        click.echo(line)
