"""The WSGI entry point: `gunicorn -k gevent wsgi:app` (config path from PLANO_CONFIG)."""

from plano.cli.boot import app_from_environment

app = app_from_environment()
