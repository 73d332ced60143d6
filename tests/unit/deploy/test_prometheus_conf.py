"""conf/prometheus.yml: a valid Prometheus config that scrapes plano's /metrics on its listener."""

from __future__ import annotations

import os
import subprocess

from ruamel.yaml import YAML

from plano.config.loader import load_settings
from tests.services.gunicorn import REPO_ROOT
from tests.services.prometheus import PROMETHEUS

PROMETHEUS_YML = REPO_ROOT / "conf" / "prometheus.yml"
PROMTOOL = os.path.join(os.path.dirname(PROMETHEUS), "promtool")


def test_promtool_accepts_it() -> None:
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(PROMETHEUS_YML)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_scrapes_plano_metrics_on_the_default_listener() -> None:
    config = YAML(typ="safe").load(PROMETHEUS_YML.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    plano = jobs["plano"]
    assert plano.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for group in plano["static_configs"] for t in group["targets"]]
    settings = load_settings(REPO_ROOT / "conf" / "plano.yaml", dict(os.environ))
    assert targets == [f"localhost:{settings.listener.port}"]
