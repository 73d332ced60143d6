"""The routing core: pure decisions over typed values.

May import only the standard library, plano.config.model and plano.errors: no flask, requests,
redis, gevent or prometheus (enforced by import-linter). No IO, no clocks: time is an argument.
"""
