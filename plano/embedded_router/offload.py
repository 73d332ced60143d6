"""Run CPU-bound router work off the gevent loop when there is one.

Under gunicorn's gevent worker a 5-10 ms encoder call in a greenlet stalls every other request of
the worker; gevent's threadpool runs it in a native thread (onnxruntime's run and numpy's
kernels release the GIL) while the hub keeps serving. Without a patched, running hub (tests, the
CLI, sync workers) the call is made directly. gevent is imported lazily and only if something
already imported it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def run_off_loop(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """Call fn(*args) in gevent's threadpool if this thread runs a patched hub, else directly."""
    hub = _patched_hub()
    if hub is None:
        return fn(*args)
    result: T = hub.threadpool.apply(fn, args)
    return result


def _patched_hub() -> Any:
    if "gevent" not in sys.modules:
        return None
    import gevent
    from gevent import monkey

    # get_hub_if_exists does not create a hub: threadpool threads have none and run fn directly.
    from gevent._hub_local import get_hub_if_exists

    if not monkey.is_module_patched("threading"):
        return None
    hub = get_hub_if_exists()
    if hub is None or gevent.getcurrent() is hub:
        return None
    return hub
