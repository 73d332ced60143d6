"""Providers: how plano reaches an LLM provider over HTTP.

transport.py is the only module that touches urllib3; it turns foreign errors into
plano.errors.UpstreamError subclasses. upstream.py builds URLs, auth and headers per provider.
Dialect translation lives in plano.translation. May import plano.config, plano.errors,
plano.routing.call; never flask or the gateway.
"""
