"""Which price catalog the console uses, and its one background fetch.

Precedence: `--pricing-provider` / `--pricing-url`, then the config's cost source, then
DigitalOcean. The fetch runs once on a daemon thread so the console starts at once; a failure
leaves the catalog empty (costs show `—`) and becomes a footer note.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import requests

from plano.config.model import CostSource
from plano.errors import PlanoError
from plano.metrics_sources.pricing import DEFAULT_URLS, Price, fetch_prices

logger = logging.getLogger(__name__)

DEFAULT_PROVIDER = "digitalocean"
PROVIDERS = tuple(DEFAULT_URLS)
PROVIDER_TITLES = {"digitalocean": "DigitalOcean Gradient catalog", "models.dev": "models.dev"}
NO_ALIASES: Mapping[str, str] = MappingProxyType({})


def _no_aliases() -> Mapping[str, str]:
    return NO_ALIASES


@dataclass(frozen=True, slots=True)
class PricingChoice:
    """The catalog to fetch, with the config's aliases when it is the config's catalog."""

    provider: str
    url: str
    model_aliases: Mapping[str, str] = field(default_factory=_no_aliases)

    @property
    def title(self) -> str:
        """A human name for the catalog."""
        return PROVIDER_TITLES.get(self.provider, self.provider)


def choose_pricing(
    provider: str | None, url: str | None, cost_source: CostSource | None
) -> PricingChoice:
    """Flags win, then the config's cost source, then DigitalOcean's public catalog."""
    if provider is None and url is None and cost_source is not None:
        return PricingChoice(cost_source.provider, cost_source.url, cost_source.model_aliases)
    config_provider = cost_source.provider if cost_source is not None else None
    chosen = provider or config_provider or DEFAULT_PROVIDER
    if chosen not in DEFAULT_URLS:
        raise ValueError(f"unknown pricing provider {chosen!r} (one of {', '.join(PROVIDERS)})")
    if cost_source is not None and cost_source.provider == chosen:
        # Same catalog as the config: keep its aliases, and its URL unless one was given.
        return PricingChoice(chosen, url or cost_source.url, cost_source.model_aliases)
    return PricingChoice(chosen, url or DEFAULT_URLS[chosen])


class PriceLoader:
    """Fetches one catalog once, in the background; readable from any thread."""

    def __init__(
        self,
        choice: PricingChoice,
        fetch: Callable[[PricingChoice], dict[str, Price]] | None = None,
    ) -> None:
        self._choice = choice
        self._fetch = fetch or fetch_catalog
        self._done = threading.Event()
        self._prices: Mapping[str, Price] = MappingProxyType({})
        self._error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the fetch on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="plano-obs-pricing", daemon=True)
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the fetch to finish; True when it has."""
        return self._done.wait(timeout_s)

    @property
    def prices(self) -> Mapping[str, Price]:
        """The catalog, empty until (and unless) the fetch succeeds."""
        return self._prices

    @property
    def note(self) -> str:
        """A footer line saying where prices come from, or why there are none."""
        where = f"{self._choice.title} ({self._choice.url})"
        if not self._done.is_set():
            return f"pricing: loading {where}…"
        if self._error is not None:
            return f"no pricing loaded — catalog unreachable: {where}: {self._error}"
        count = len(self._prices)
        return f"cost via {where}: {count} model{'' if count == 1 else 's'} priced"

    def _run(self) -> None:
        try:
            self._prices = MappingProxyType(self._fetch(self._choice))
        except PlanoError as exc:
            self._error = exc.message
            # The footer shows it; a warning on stderr would tear through the live display.
            logger.info("no pricing loaded: %s", exc.message)
        finally:
            self._done.set()


def fetch_catalog(choice: PricingChoice) -> dict[str, Price]:
    """Download and parse the chosen catalog (MetricsSourceError on failure)."""
    with requests.Session() as session:
        return fetch_prices(choice.provider, choice.url, choice.model_aliases, session)
