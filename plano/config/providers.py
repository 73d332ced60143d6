"""Static facts about provider prefixes: dialect, default API root, auth style, base_url need.

Data only. The config loader checks entries against it; the provider layer builds URLs and auth
headers from it. Sources: the original Plano's provider table (reference/upstream-notes.md §7).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit


class Auth(enum.Enum):
    """How an access key is sent upstream."""

    BEARER = "bearer"  # Authorization: Bearer <key>
    X_API_KEY = "x-api-key"  # Anthropic
    API_KEY = "api-key"  # Azure OpenAI
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """What a provider prefix means."""

    dialect: str  # "openai" | "anthropic"
    default_base_url: str | None  # None: base_url required
    default_root: str = "/v1"  # API root appended to a base_url that has no path
    auth: Auth = Auth.BEARER
    owned_by: str = ""


def _openai(url: str | None, owned_by: str, root: str = "/v1") -> ProviderKind:
    return ProviderKind("openai", url, root, Auth.BEARER, owned_by)


PROVIDER_KINDS = MappingProxyType(
    {
        "openai": _openai("https://api.openai.com/v1", "OpenAI"),
        "anthropic": ProviderKind(
            "anthropic", "https://api.anthropic.com/v1", "/v1", Auth.X_API_KEY, "Anthropic"
        ),
        "gemini": _openai("https://generativelanguage.googleapis.com/v1beta/openai", "Gemini"),
        "google": _openai("https://generativelanguage.googleapis.com/v1beta/openai", "Gemini"),
        "groq": _openai("https://api.groq.com/openai/v1", "Groq"),
        "deepseek": _openai("https://api.deepseek.com/v1", "Deepseek"),
        "mistral": _openai("https://api.mistral.ai/v1", "Mistral"),
        "xai": _openai("https://api.x.ai/v1", "xai"),
        "together_ai": _openai("https://api.together.xyz/v1", "together_ai"),
        "moonshotai": _openai("https://api.moonshot.ai/v1", "moonshotai"),
        "zhipu": _openai("https://open.bigmodel.cn/api/paas/v4", "zhipu"),
        "xiaomi": _openai("https://api.xiaomimimo.com/v1", "xiaomi"),
        "digitalocean": _openai("https://inference.do-ai.run/v1", "digitalocean"),
        "vercel": _openai("https://ai-gateway.vercel.sh/v1", "vercel"),
        "openrouter": _openai("https://openrouter.ai/api/v1", "openrouter"),
        "edenai": _openai("https://api.edenai.run/v3", "edenai"),
        "perplexity": _openai("https://api.perplexity.ai", "perplexity", root=""),
        "qwen": _openai(None, "qwen", root="/compatible-mode/v1"),
        "ollama": _openai(None, "ollama"),
        "azure_openai": ProviderKind("openai", None, "/openai", Auth.API_KEY, "azure_openai"),
        "plano": ProviderKind("openai", None, "/v1", Auth.NONE, "plano"),
    }
)

# Interfaces a custom prefix may declare with `provider_interface`.
INTERFACES = frozenset(PROVIDER_KINDS) | {"chatgpt"}

HOSTED_ROUTER_URL = "https://archfc.katanemo.dev/v1/chat/completions"
HOSTED_ROUTER_HEADER = "plano-orchestrator"  # sent as the `model` header (upstream #839)


def kind_of(prefix: str, interface: str | None = None) -> ProviderKind:
    """The kind for a prefix, or for its declared interface when the prefix is custom."""
    if prefix in PROVIDER_KINDS:
        return PROVIDER_KINDS[prefix]
    if interface and interface in PROVIDER_KINDS:
        return PROVIDER_KINDS[interface]
    return PROVIDER_KINDS["openai"]


def api_root(base_url: str | None, kind: ProviderKind) -> str:
    """The API root URL: a base_url with a path is the root; a bare host gets the default root."""
    if base_url is None:
        if kind.default_base_url is None:
            raise ValueError("this provider needs a base_url")
        return kind.default_base_url.rstrip("/")
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin + (path if path else kind.default_root)


def endpoint_url(base_url: str | None, kind: ProviderKind, endpoint: str) -> str:
    """The URL of `endpoint` (`/chat/completions`, `/messages`) under the provider's API root."""
    return api_root(base_url, kind) + endpoint
