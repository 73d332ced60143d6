"""The v0.3.0 -> v0.4.0 upgrade: inline provider `routing_preferences` become top-level routes.

`migrate_document` works in place on plain dicts (at load) and on ruamel's round-trip tree
(`migrate_file`, which keeps comments and key order). Upstream: reference/upstream-notes.md §6.1.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from plano.config.yamlpos import (
    Path,
    Problem,
    format_problem,
    new_round_trip_yaml,
    parse_yaml_text,
    plain_with_marks,
)
from plano.errors import ConfigError

TARGET_VERSION = "v0.4.0"
MIGRATION_WARNING = (
    "WARNING: inline routing_preferences under model_providers is deprecated and has been "
    "auto-migrated to top-level routing_preferences. Update your config to v0.4.0 top-level form."
)
PROVIDER_KEYS = ("model_providers", "llm_providers")


@dataclass(frozen=True, slots=True)
class Migration:
    """What `migrate_document` did: changed, warnings, problems, and where new routes came from."""

    changed: bool
    warnings: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    # path of a migrated top-level route -> path of the first inline pref it came from
    origins: tuple[tuple[Path, Path], ...] = ()


def parse_version(value: object) -> tuple[int, ...]:
    """`v0.3.0` -> (0, 3, 0), leniently: `v` and `-suffix` dropped, junk parts 0, padded to 3."""
    text = str(value).strip().lstrip("vV").split("-", 1)[0]
    parts = [int(part) if part.isdigit() else 0 for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def is_before_v040(version: object) -> bool:
    """True when a config of this version must be upgraded."""
    return parse_version(version) < (0, 4, 0)


def _providers(doc: MutableMapping[str, Any]) -> tuple[str, list[Any]] | None:
    for key in PROVIDER_KEYS:
        entries = doc.get(key)
        if isinstance(entries, list):
            return key, entries
    return None


def _pref_names(prefs: object) -> list[str]:
    if not isinstance(prefs, list):
        return []
    return [str(pref["name"]) for pref in prefs if isinstance(pref, dict) and "name" in pref]


def _reject_leftover_inline(doc: MutableMapping[str, Any]) -> Migration:
    found = _providers(doc)
    if found is None:
        return Migration(False)
    key, entries = found
    problems = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and "routing_preferences" in entry:
            names = ", ".join(f"`{name}`" for name in _pref_names(entry["routing_preferences"]))
            problems.append(
                Problem(
                    (key, index, "routing_preferences"),
                    f"inline routing_preferences ({names or 'unnamed'}) are not allowed in a "
                    f"{doc.get('version')} config: move them to top-level routing_preferences "
                    "(or set an older version and run `plano migrate`)",
                )
            )
    return Migration(False, problems=tuple(problems))


def _insert_after(doc: MutableMapping[str, Any], after: str, key: str, value: Any) -> None:
    insert = getattr(doc, "insert", None)
    if callable(insert):  # ruamel's CommentedMap keeps key order on insert
        insert(list(doc).index(after) + 1, key, value)
    else:
        doc[key] = value


def migrate_document(doc: MutableMapping[str, Any]) -> Migration:
    """Upgrade a pre-v0.4.0 document in place; in a v0.4.0+ one, inline prefs are problems."""
    version = doc.get("version")
    if version is None:
        return Migration(False)
    if not is_before_v040(version):
        return _reject_leftover_inline(doc)
    doc["version"] = TARGET_VERSION
    found = _providers(doc)
    if found is None:
        return Migration(True)
    key, entries = found
    top = doc.get("routing_preferences")
    existing = set(_pref_names(top))
    merged: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    warnings: list[str] = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "routing_preferences" not in entry:
            continue
        model, prefs = entry.get("model"), entry["routing_preferences"]
        where: Path = (key, index, "routing_preferences")
        if isinstance(model, str) and model.endswith("/*"):
            problems.append(
                Problem(
                    where,
                    f"Model {model} has routing_preferences but uses wildcard (*). "
                    "Models with routing preferences cannot be wildcards.",
                )
            )
            continue
        if not isinstance(prefs, list):
            problems.append(Problem(where, "must be a list of {name, description}"))
            continue
        for position, pref in enumerate(prefs):
            if not isinstance(pref, dict) or not isinstance(pref.get("name"), str):
                continue  # upstream skips prefs without a name
            name = pref["name"]
            if name in existing:
                continue  # an existing top-level route wins
            route = merged.get(name)
            if route is None:
                route = type(entry)()
                route["name"] = name
                if "description" in pref:
                    route["description"] = pref["description"]
                route["models"] = type(entries)()
                merged[name] = route
                origins[name] = (*where, position)
            elif pref.get("description") != route.get("description"):
                warnings.append(
                    f"WARNING: routing preference '{name}' has conflicting descriptions across "
                    "providers; keeping the first one."
                )
            if isinstance(model, str) and model not in route["models"]:
                route["models"].append(model)
        del entry["routing_preferences"]
    if problems:
        return Migration(True, tuple(warnings), tuple(problems))
    moved: list[tuple[Path, Path]] = []
    if merged:
        if not isinstance(top, list):
            top = type(entries)()
            if "routing_preferences" in doc:
                doc["routing_preferences"] = top
            else:
                _insert_after(doc, key, "routing_preferences", top)
        for name, route in merged.items():
            moved.append((("routing_preferences", len(top)), origins[name]))
            top.append(route)
        warnings.append(MIGRATION_WARNING)
    return Migration(True, tuple(warnings), (), tuple(moved))


def migrate_file(
    path: str | os.PathLike[str], check: bool, warn: Callable[[str], None] | None = None
) -> bool:
    """Rewrite `path` in v0.4.0 form keeping comments; True when it needed migrating.

    With `check`, nothing is written. Problems (e.g. inline prefs on a wildcard) raise ConfigError.
    """
    file = FilePath(path)
    text = file.read_text(encoding="utf-8")
    tree = parse_yaml_text(text, str(path))
    if not isinstance(tree, MutableMapping):
        raise ConfigError([f"{path} (line 1, col 1): the config must be a mapping"])
    _, marks = plain_with_marks(tree)
    migration = migrate_document(tree)
    if migration.problems:
        raise ConfigError([format_problem(problem, marks) for problem in migration.problems])
    if warn is not None:
        for warning in migration.warnings:
            warn(warning)
    if not migration.changed or check:
        return migration.changed
    mapping_indent, offset = guess_indents(text)
    yaml = new_round_trip_yaml()
    yaml.indent(mapping=mapping_indent, sequence=offset + 2, offset=offset)
    yaml.width = 4096  # never re-wrap long descriptions
    if re.search(r"^---", text, re.MULTILINE):
        yaml.explicit_start = True
    out = io.StringIO()
    yaml.dump(tree, out)
    file.write_text(restore_section_spacing(text, out.getvalue()), encoding="utf-8")
    return True


def _significant(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def guess_indents(text: str) -> tuple[int, int]:
    """(mapping indent, block sequence dash offset) used by `text`; (2, 2) when unclear."""
    mapping_indent: int | None = None
    offset: int | None = None
    lines = _significant(text.splitlines())
    for previous, line in zip(lines, lines[1:], strict=False):
        if not previous.rstrip().endswith(":"):
            continue
        parent = len(previous) - len(previous.lstrip())
        indent = len(line) - len(line.lstrip())
        if line.lstrip().startswith("- "):
            offset = indent - parent if offset is None else offset
        elif indent > parent and mapping_indent is None:
            mapping_indent = indent - parent
    return mapping_indent or 2, offset if offset is not None else 2


def restore_section_spacing(original: str, dumped: str) -> str:
    """Put back the blank line before top-level keys when the original separated sections so."""
    top_key = re.compile(r"^[A-Za-z_][\w.-]*\s*:")
    lines = original.splitlines()
    spaced = sum(
        1 for i, line in enumerate(lines) if i and top_key.match(line) and not lines[i - 1].strip()
    )
    keys = sum(1 for line in lines if top_key.match(line))
    if keys < 2 or spaced * 2 < keys - 1:
        return dumped
    out: list[str] = []
    for line in dumped.splitlines():
        if top_key.match(line) and out and out[-1].strip() and not out[-1].startswith("#"):
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"
