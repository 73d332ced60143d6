"""`plano obs`: a terminal console over the request log (SPEC §8).

Rules: may import the stdlib, rich, requests (only through plano.metrics_sources.pricing),
plano.config.model and plano.metrics_sources.pricing. Parsing, cost and aggregation are pure;
IO lives in follow.py (reading the log) and catalog.py (one background price fetch). Nothing
here opens a file, a socket or a thread at import time, and nothing reads os.environ.
"""
