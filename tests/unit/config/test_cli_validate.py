"""`plano validate` and `plano migrate`: output and exit codes (click's CliRunner)."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from plano.cli.migrate import migrate
from plano.cli.validate import validate
from plano.config.migrate import MIGRATION_WARNING
from tests.unit.config.conftest import DATA, REPO

NO_KEYS = {"OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None, "REDIS_URL": None}


def test_validate_prints_a_summary() -> None:
    result = CliRunner().invoke(validate, [str(REPO / "conf/plano.yaml")], env=NO_KEYS)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].endswith("conf/plano.yaml: valid (v0.4.0)")
    assert lines[1:] == [
        "listener: 0.0.0.0:12000, upstream timeout 300 s",
        "providers (3): openai/gpt-4o-mini (default), openai/gpt-4o, anthropic/claude-sonnet-4-6",
        "aliases (2): fast-model -> openai/gpt-4o-mini, creative-model -> "
        "anthropic/claude-sonnet-4-6",
        "routes (2):",
        "  code_generation [prefer none]: anthropic/claude-sonnet-4-6, openai/gpt-4o",
        "  complex_reasoning [prefer none]: openai/gpt-4o, openai/gpt-4o-mini",
        "metrics sources: none",
        "session cache: memory (ttl 600 s, max 10000 entries)",
        "router: embedded (in-process)",
    ]


def test_validate_hides_the_redis_password_and_shows_sources() -> None:
    env = {"OPENAI_API_KEY": "k", "GROQ_API_KEY": "g"}
    result = CliRunner().invoke(validate, [str(DATA / "good_full.yaml")], env=env)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert (
        "session cache: redis rediss://:***@redis.test:6380/1, tenant header x-org-id "
        "(ttl 60 s, max 50 entries)" in result.stdout
    )
    assert (
        "metrics sources: cost models.dev (https://models.dev/api.json), latency prometheus "
        "(http://prometheus:9090)" in result.stdout
    )
    assert (
        "router: Plano-Orchestrator at http://plano-orchestrator:10000/v1/chat/completions "
        "(plano-orchestrator format)" in result.stdout
    )
    # warnings go to stderr
    assert "`prompt_targets` is a Plano feature plano does not implement" in result.stderr
    assert "prompt_targets" not in result.stdout


def test_validate_lists_every_problem_and_exits_2() -> None:
    path = DATA / "bad_many.yaml"
    result = CliRunner().invoke(validate, [str(path)], env={"MISSING_KEY": None})
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: 19 problems"
    assert len(lines) == 20
    assert lines[1].startswith("listeners[0].port (line 5, col 5): ")
    assert (
        "routng_preferences (line 22, col 1): unknown key `routng_preferences`; did you mean "
        "`routing_preferences`?" in lines
    )


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(validate, [str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read the config" in result.stderr


def test_validate_prints_the_migration_warning() -> None:
    result = CliRunner().invoke(validate, [str(DATA / "v030_two_providers.yaml")])
    assert result.exit_code == 0
    assert MIGRATION_WARNING in result.stderr.splitlines()


def test_migrate_check_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    shutil.copy(DATA / "v030_two_providers.yaml", path)
    before = path.read_bytes()
    needs = CliRunner().invoke(migrate, [str(path), "--check"])
    assert needs.exit_code == 1
    assert needs.stdout == f"{path}: needs migrating to v0.4.0 (run `plano migrate {path}`)\n"
    assert path.read_bytes() == before
    done = CliRunner().invoke(migrate, [str(path)])
    assert done.exit_code == 0
    assert done.stdout == f"{path}: migrated to v0.4.0\n"
    assert MIGRATION_WARNING in done.stderr
    clean = CliRunner().invoke(migrate, [str(path), "--check"])
    assert (clean.exit_code, clean.stdout) == (0, f"{path}: already v0.4.0\n")
    again = CliRunner().invoke(migrate, [str(path)])
    assert (again.exit_code, again.stdout) == (0, f"{path}: already v0.4.0; nothing to do\n")


def test_migrate_error_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "wild.yaml"
    shutil.copy(DATA / "v030_wildcard.yaml", path)
    result = CliRunner().invoke(migrate, [str(path)])
    assert result.exit_code == 2
    assert "wildcard" in result.stderr
