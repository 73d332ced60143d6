"""The PlanoError tree: every error we raise carries its HTTP status and a stable code.

One handler (plano.api.errors) renders any of them in the caller's dialect. ConfigError never
reaches HTTP: the CLI prints it and the server refuses to start.
"""

from __future__ import annotations

from collections.abc import Sequence


class PlanoError(Exception):
    """Base of every error plano raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    openai_type: str = "server_error"
    anthropic_type: str = "api_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequest(PlanoError):
    """The client's request is malformed (400)."""

    status = 400
    code = "invalid_request"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class Unauthorized(PlanoError):
    """Credentials are missing or wrong (401)."""

    status = 401
    code = "unauthorized"
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"


class NotFound(PlanoError):
    """No such path (404)."""

    status = 404
    code = "not_found"
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"


class UnknownModel(NotFound):
    """The named model is not declared (404 `model_not_found`)."""

    code = "model_not_found"


class MethodNotAllowed(PlanoError):
    """Wrong HTTP method for the path (405)."""

    status = 405
    code = "method_not_allowed"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class PayloadTooLarge(PlanoError):
    """The body is over `observability.max_body_bytes` (413)."""

    status = 413
    code = "request_too_large"
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"


class NoRouteAvailable(PlanoError):
    """Nothing can serve the call (503)."""

    status = 503
    code = "no_route_available"
    openai_type = "server_error"
    anthropic_type = "overloaded_error"


class UpstreamError(PlanoError):
    """A provider failed: bad gateway (502) unless a subclass says otherwise."""

    status = 502
    code = "upstream_error"
    openai_type = "server_error"
    anthropic_type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.body = body
        self.content_type = content_type


class UpstreamTimeout(UpstreamError):
    """The provider did not answer in time (504)."""

    status = 504
    code = "upstream_timeout"
    openai_type = "timeout_error"
    anthropic_type = "timeout_error"


class UpstreamUnavailable(UpstreamError):
    """The provider could not be reached (502)."""

    code = "upstream_unavailable"


class UpstreamRateLimited(UpstreamError):
    """The provider answered 429; `retry_after` is kept."""

    status = 429
    code = "rate_limit_exceeded"
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"


class UpstreamRejected(UpstreamError):
    """The provider answered a 4xx other than 429: passed on with its status."""

    code = "upstream_rejected"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class ConfigError(Exception):
    """A config that cannot run; carries every problem found, each already located."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)
