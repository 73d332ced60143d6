"""Dialect translation between OpenAI Chat Completions and Anthropic Messages.

Pure functions over decoded JSON and SSE events: requests, whole responses, streams and
errors, both directions. No Flask and no network; may import plano.routing.call and plano.errors.
"""
