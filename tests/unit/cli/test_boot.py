"""plano.cli.boot: what the worker sets up before the app (and numpy) is imported."""

from __future__ import annotations

from plano.cli.boot import limit_blas_threads


def test_blas_threads_default_to_one() -> None:
    env: dict[str, str] = {}
    limit_blas_threads(env)
    assert env == {"OPENBLAS_NUM_THREADS": "1"}


def test_an_explicit_blas_thread_count_wins() -> None:
    env = {"OPENBLAS_NUM_THREADS": "4"}
    limit_blas_threads(env)
    assert env == {"OPENBLAS_NUM_THREADS": "4"}
