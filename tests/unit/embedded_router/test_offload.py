"""run_off_loop: direct call without gevent, threadpool under a patched hub (in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from plano.embedded_router import run_off_loop


def test_without_gevent_hub_calls_directly() -> None:
    assert run_off_loop(lambda a, b: (a + b, threading.get_ident()), 2, 3) == (
        5,
        threading.get_ident(),
    )


GEVENT_SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import threading
    import gevent
    from plano.embedded_router import run_off_loop

    real_sleep = monkey.get_original("time", "sleep")
    ticks = []

    def ticker():
        for _ in range(100):
            ticks.append(1)
            gevent.sleep(0.005)

    def blocking(x):
        real_sleep(0.3)  # stands in for a CPU-bound numpy forward pass
        return x * 2, threading.get_native_id()

    ticking = gevent.spawn(ticker)
    gevent.sleep(0)
    result, worker_thread = run_off_loop(blocking, 21)
    during = len(ticks)
    ticking.kill()
    assert result == 42, result
    assert worker_thread != threading.get_native_id(), "fn ran on the hub's thread"
    assert during >= 10, f"the loop stalled: only {during} ticks while fn ran"

    def inside_threadpool():
        return run_off_loop(threading.get_native_id)

    nested = gevent.get_hub().threadpool.apply(inside_threadpool)
    assert nested != threading.get_native_id()
    print("ok", during)
    """
)


def test_under_patched_gevent_runs_in_threadpool_and_loop_keeps_running() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", GEVENT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
