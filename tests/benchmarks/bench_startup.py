"""Benchmark: start-up figures of issue 2 — `plano validate` per example, worker readiness, RSS.

Run from the repository root (not part of the test run):

    .venv/bin/python -m tests.benchmarks.bench_startup

- `plano validate FILE` wall time for every config in conf/examples/ (the real command, so
  interpreter start and imports count), best of 3;
- the time from starting gunicorn (`-w 1`, gevent) to the first 200 on /healthz, and the idle
  worker's RSS, for model_based.yaml with the hosted router model (never called: it has no
  routes, so nothing loads numpy) and for the default config (conf/plano.yaml, embedded
  router), best of 3.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.services.gunicorn import REPO_ROOT, GunicornServer, http_status

PLANO = Path(sys.executable).with_name("plano")
RUNS = 3


def validate_seconds(config: Path) -> float:
    """Best wall time of `plano validate config`."""
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([str(PLANO), "validate", str(config)], check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def ready_seconds_and_rss(config: Path) -> tuple[float, float]:
    """Best time from spawn to /healthz 200 with one worker, and that worker's idle RSS (MiB)."""
    best, rss = float("inf"), 0.0
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            server = GunicornServer(config, Path(tmp), workers=1)
            started = time.perf_counter()
            server.start()
            # start() polls every few ms; the first 200 is our mark.
            while http_status(f"{server.url}/healthz") != 200:
                time.sleep(0.005)
            elapsed = time.perf_counter() - started
            worker = server.wait_for_workers(1)[0]
            time.sleep(1.0)
            rss = _rss_mib(worker)
            server.stop()
        best = min(best, elapsed)
    return best, rss


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print("| config | `plano validate` s |")
    print("|---|---|")
    worst = 0.0
    for config in sorted((REPO_ROOT / "conf" / "examples").glob("*.yaml")):
        seconds = validate_seconds(config)
        worst = max(worst, seconds)
        print(f"| {config.name} | {seconds:.3f} |")
    print(f"\nworst validate: {worst:.3f} s (target < 0.5 s)\n")
    print("| config | worker ready s | idle worker RSS MiB |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        hosted = Path(tmp) / "model_based_hosted_router.yaml"
        text = (REPO_ROOT / "conf/examples/model_based.yaml").read_text()
        hosted.write_text(
            text.replace("llm_routing_model: embedded", "llm_routing_model: Plano-Orchestrator")
        )
        for name, config in (
            ("model_based.yaml, hosted router", hosted),
            ("conf/plano.yaml, embedded router", REPO_ROOT / "conf/plano.yaml"),
        ):
            ready, rss = ready_seconds_and_rss(config)
            print(f"| {name} | {ready:.2f} | {rss:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
