"""HTTP API. Views turn requests into typed calls and replies into bytes.

The proxy endpoints are a WSGI handler in front of Flask's dispatch (plano.api.proxy: Flask's
per-request machinery cost as much as all of plano's own work on a call); every other endpoint
is a Flask blueprint. Views hold no routing logic. Every PlanoError is rendered in the caller's
dialect by plano.api.errors: through Flask's error handlers, or by the proxy handler itself.
May import the gateway, plano.translation, plano.config, plano.errors.
"""
