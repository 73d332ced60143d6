"""`plano obs --once` end to end over a sample log and a local pricing server."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from plano.cli.obs import obs, run_live
from plano.metrics_sources.pricing import Price
from plano.obs.aggregate import Aggregator
from plano.obs.catalog import PriceLoader, PricingChoice


def _run(*args: str, stdin: bytes | None = None, config: str = "") -> Result:
    # PLANO_CONFIG="" counts as unset; COLUMNS pins nothing: --once picks its own width.
    runner = CliRunner()
    return runner.invoke(obs, list(args), input=stdin, env={"PLANO_CONFIG": config})


def test_once_prices_the_sample_log(sample_log: Path, catalog_url: str) -> None:
    result = _run(
        str(sample_log),
        "--once",
        "--pricing-provider",
        "digitalocean",
        "--pricing-url",
        catalog_url,
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "requests 6  decisions 1  errors 2 (4xx 1 · 5xx 1)  cost $0.0280 (1 unpriced)" in out
    assert "tokens in 3,300 (cached 400) · out 1,550" in out
    assert f"cost via DigitalOcean Gradient catalog ({catalog_url}): 2 models priced" in out
    lines = out.splitlines()
    model_row = next(line for line in lines if line.startswith("openai/gpt-4o "))
    assert model_row.split() == ["openai/gpt-4o", "2", "1,000", "400", "500", "800", "ms",
                                 "3.00", "s", "$0.007000"]  # fmt: skip
    claude_row = next(line for line in lines if line.startswith("anthropic/claude-sonnet-4-6 "))
    assert claude_row.endswith("$0.0210")
    mini_row = next(line for line in lines if line.startswith("openai/gpt-4o-mini "))
    assert mini_row.endswith("—")
    assert "21:40:02 anthropic/claude-sonnet-4-6 code_generation" in out
    assert "502 upstream_error" in out and "404 model_not_found" in out


def test_once_with_the_catalog_unreachable(sample_log: Path, dead_url: str) -> None:
    result = _run(str(sample_log), "--once", "--pricing-url", dead_url)
    assert result.exit_code == 0, result.output
    assert "cost — (3 unpriced)" in result.output
    note = f"no pricing loaded — catalog unreachable: DigitalOcean Gradient catalog ({dead_url})"
    assert note in result.output
    assert "$" not in result.output
    assert "requests 6" in result.output


def test_once_reads_stdin(sample_log: Path, catalog_url: str) -> None:
    result = _run(
        "-", "--once", "--recent", "2", "--pricing-url", catalog_url, stdin=sample_log.read_bytes()
    )
    assert result.exit_code == 0, result.output
    assert "cost $0.0280 (1 unpriced)" in result.output
    assert "recent · last 2" in result.output
    assert "21:40:06 nope" in result.output and "21:40:05 openai/gpt-4o" in result.output
    assert "21:40:04" not in result.output


def test_once_with_models_dev(sample_log: Path, models_dev_url: str) -> None:
    result = _run(
        str(sample_log),
        "--once",
        "--pricing-provider",
        "models.dev",
        "--pricing-url",
        models_dev_url,
    )
    assert result.exit_code == 0, result.output
    assert f"cost via models.dev ({models_dev_url}): 4 models priced" in result.output
    # claude has no cache-read rate there, but the sample's claude call cached nothing.
    assert "cost $0.0280 (1 unpriced)" in result.output


def test_a_catalog_of_the_wrong_shape_prices_nothing(sample_log: Path, catalog_url: str) -> None:
    result = _run(
        str(sample_log), "--once", "--pricing-provider", "models.dev", "--pricing-url", catalog_url
    )
    assert result.exit_code == 0, result.output
    assert f"cost via models.dev ({catalog_url}): 0 models priced" in result.output
    assert "cost — (3 unpriced)" in result.output


def test_once_on_a_missing_file(tmp_path: Path, dead_url: str) -> None:
    result = _run(str(tmp_path / "nope.log"), "--once", "--pricing-url", dead_url)
    assert result.exit_code == 1
    assert "no such log file" in result.output


@pytest.mark.parametrize("args", [["--refresh-ms", "10"], ["--window", "0"], ["--recent", "-1"],
                                  ["--pricing-provider", "acme"]])  # fmt: skip
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    assert _run("--once", *args).exit_code == 2


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "plano.yaml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_config_gives_the_log_and_the_cost_source(
    sample_log: Path, tmp_path: Path, catalog_url: str
) -> None:
    config = _config(
        tmp_path,
        f"""
version: v0.4.0
model_providers:
  - model: openai/gpt-4o-mini
    access_key: test
    default: true
model_metrics_sources:
  - type: cost
    provider: digitalocean
    url: {catalog_url}
    model_aliases:
      gpt-4o: openai/gpt-4o-mini
observability:
  request_log: {sample_log}
""",
    )
    result = _run("--once", config=config)
    assert result.exit_code == 0, result.output
    assert "requests 6" in result.output
    # The alias moves gpt-4o's catalog price onto gpt-4o-mini: 300 × 2.5 + 50 × 10 per million.
    mini_row = next(
        line for line in result.output.splitlines() if line.startswith("openai/gpt-4o-mini ")
    )
    assert mini_row.endswith("$0.001250")
    assert f"({catalog_url})" in result.output


def test_a_broken_config_is_ignored_with_a_note(
    sample_log: Path, tmp_path: Path, dead_url: str
) -> None:
    config = _config(tmp_path, "version: v0.4.0\nno_such_key: 1\n")
    result = _run(str(sample_log), "--once", "--pricing-url", dead_url, "--config", config)
    assert result.exit_code == 0, result.output
    assert f"config {config} ignored:" in result.output
    assert "requests 6" in result.output


class _TwoPollsThenCtrlC:
    """A line source: the sample log, nothing new, then the user's Ctrl-C."""

    def __init__(self, lines: list[bytes]) -> None:
        self._batches: list[list[bytes]] = [lines, []]
        self.closed = False

    @property
    def status(self) -> str | None:
        return "input ended" if not self._batches else None

    def read_lines(self) -> list[bytes]:
        if not self._batches:
            raise KeyboardInterrupt
        return self._batches.pop(0)

    def close(self) -> None:
        self.closed = True


def test_live_mode_redraws_and_ctrl_c_exits_cleanly(sample_log: Path) -> None:
    choice = PricingChoice("digitalocean", "http://catalog.test/")
    prices = PriceLoader(choice, lambda _: {"gpt-4o": Price(2.5, 10.0, 1.25)})
    prices.start()
    assert prices.wait(5)
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    source = _TwoPollsThenCtrlC(sample_log.read_bytes().splitlines())
    run_live(source, Aggregator(), prices, [], 15, 0.01, console)
    text = out.getvalue()
    assert "requests 6" in text and "$0.007000" in text
