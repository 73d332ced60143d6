"""Reading a config: YAML text -> env substitution -> migration -> schemas -> rules -> Settings.

The only config module that sees the environment, and only through the mapping it is given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any

from plano.config.migrate import migrate_document
from plano.config.model import Settings
from plano.config.rules import build_settings, with_source
from plano.config.schema import check_document
from plano.config.yamlpos import (
    Findings,
    Marks,
    Path,
    Problem,
    format_problem,
    parse_yaml_text,
    plain_with_marks,
)
from plano.errors import ConfigError

# `$$` (a literal `$`), `${VAR}`, `${VAR:-default}`, `$VAR`, or a malformed `${...`.
VARIABLE_RE = re.compile(
    r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)|(\$\{[^}]*\}?)"
)


def substitute(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """`value` with its variables replaced from `env`, and the problems (unset, malformed)."""
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        braced, default, bare, malformed = match.groups()
        if malformed is not None:
            problems.append(
                f"malformed variable reference `{malformed}`: use ${{VAR}} or ${{VAR:-default}}"
            )
            return malformed
        if braced is None and bare is None:
            return "$"
        name = braced or bare
        found = env.get(name)
        if default is not None and not found:
            return default  # like the shell's `:-`: unset or empty takes the default
        if found is None:
            problems.append(
                f"environment variable `{name}` is not set (set it, or write "
                f"`${{{name}:-default}}`)"
            )
            return ""
        return found

    return VARIABLE_RE.sub(replace, value), problems


def substitute_tree(
    data: Any, env: Mapping[str, str], problems: list[Problem], path: Path = ()
) -> Any:
    """A copy of plain data with every string value substituted; problems are located."""
    if isinstance(data, dict):
        return {
            key: substitute_tree(value, env, problems, (*path, key)) for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            substitute_tree(item, env, problems, (*path, index)) for index, item in enumerate(data)
        ]
    if isinstance(data, str) and "$" in data:
        text, found = substitute(data, env)
        problems.extend(Problem(path, message) for message in found)
        return text
    return data


def _located(problems: list[Problem], marks: Marks) -> list[str]:
    ordered = sorted(problems, key=lambda problem: marks.locate(problem.path))
    return list(dict.fromkeys(format_problem(problem, marks) for problem in ordered))


def parse_settings(text: str, env: Mapping[str, str], source: str = "<config>") -> Settings:
    """Settings from config text; ConfigError listing every problem, each with line and column."""
    tree = parse_yaml_text(text, source)
    data, marks = plain_with_marks(tree)
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{source} (line 1, col 1): the config must be a mapping of top-level keys"]
        )
    problems: list[Problem] = []
    data = substitute_tree(data, env, problems)
    migration = migrate_document(data)
    marks = marks.with_aliases(dict(migration.origins))
    problems.extend(migration.problems)
    checked = check_document(data)
    problems.extend(checked.problems)
    findings = Findings()
    settings = build_settings(data, checked.data, findings)
    problems.extend(findings.problems)
    if problems:
        raise ConfigError(_located(problems, marks))
    warnings = list(migration.warnings)
    ordered = sorted(
        findings.warnings, key=lambda w: marks.locate(w[0]) if w[0] is not None else (0, 0)
    )
    for path, message in ordered:
        warnings.append(
            format_problem(Problem(path, message), marks) if path is not None else message
        )
    source_path = None if source == "<config>" else source
    return with_source(settings, source_path, warnings)


def load_settings(path: str | os.PathLike[str], env: Mapping[str, str]) -> Settings:
    """Settings from the config file at `path`, substituting variables from `env`."""
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([f"{os.fspath(path)}: cannot read the config: {reason}"]) from None
    return parse_settings(text, env, source=os.fspath(path))
