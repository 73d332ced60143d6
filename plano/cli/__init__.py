"""Command line: the `plano` click group and the WSGI boot. The only package, with
config/loader.py and wsgi.py, that reads os.environ."""
