"""HTTP API: Flask blueprints. Views turn requests into typed calls and replies into bytes.

Views hold no routing logic and do not catch errors: plano.api.errors renders every PlanoError
in the caller's dialect. May import the gateway, plano.translation, plano.config, plano.errors.
"""
