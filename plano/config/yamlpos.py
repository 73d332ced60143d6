"""YAML text -> plain data plus the line and column of every node, and located problems.

Reads with ruamel's round-trip loader only to get marks; what leaves this module is plain dicts,
lists and scalars plus a `Marks` table, never the loader's node types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from plano.errors import ConfigError

PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One config problem: where (a YAML path) and what."""

    path: Path
    message: str


@dataclass(slots=True)
class Findings:
    """Problems and warnings gathered while building; a warning is (path or None, text)."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[tuple[Path | None, str]] = field(default_factory=list)

    def problem(self, path: Path, message: str) -> None:
        """Record a problem at `path`."""
        self.problems.append(Problem(path, message))

    def warn(self, path: Path | None, message: str) -> None:
        """Record a warning, located at `path` when given."""
        self.warnings.append((path, message))


@dataclass(frozen=True, slots=True)
class Marks:
    """1-based (line, col) of each node; a mapping entry is located at its key."""

    positions: Mapping[Path, tuple[int, int]]

    def locate(self, path: Path) -> tuple[int, int]:
        """The position of `path`, else of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return (1, 1)

    def with_aliases(self, aliases: Mapping[Path, Path]) -> Marks:
        """A copy where each new path (and its children) takes the position of its origin."""
        merged = dict(self.positions)
        for new, origin in aliases.items():
            for path, position in self.positions.items():
                if path[: len(origin)] == origin:
                    merged.setdefault(new + path[len(origin) :], position)
            merged.setdefault(new, self.locate(origin))
        return Marks(merged)


def format_path(path: Path) -> str:
    """`model_providers[2].base_url` for ("model_providers", 2, "base_url")."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "<root>"


def format_problem(problem: Problem, marks: Marks) -> str:
    """`<path> (line L, col C): <message>`."""
    line, col = marks.locate(problem.path)
    return f"{format_path(problem.path)} (line {line}, col {col}): {problem.message}"


def new_round_trip_yaml() -> YAML:
    """A round-trip YAML instance (comments and key order kept, duplicate keys rejected)."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def parse_yaml_text(text: str, source: str) -> Any:
    """The ruamel round-trip tree of `text`; a syntax error becomes a located ConfigError."""
    try:
        return new_round_trip_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, col {mark.column + 1})" if mark is not None else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"{source}{where}: {what}"]) from None
    except YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from None


def _entries(node: Any, path: Path) -> Iterator[tuple[Path, Any, tuple[int, int] | None]]:
    if isinstance(node, CommentedMap):
        for key in node:
            position: tuple[int, int] | None
            try:
                position = node.lc.key(key)
            except (KeyError, IndexError, TypeError):
                position = None
            yield (*path, str(key)), node[key], position
    elif isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            try:
                position = node.lc.item(index)
            except (KeyError, IndexError, TypeError):
                position = None
            yield (*path, index), item, position


def plain_with_marks(tree: Any) -> tuple[Any, Marks]:
    """Plain dict/list/scalar data and the marks of every node of a round-trip tree."""
    positions: dict[Path, tuple[int, int]] = {(): (1, 1)}
    if isinstance(tree, CommentedMap | CommentedSeq) and tree.lc.line is not None:
        positions[()] = (tree.lc.line + 1, tree.lc.col + 1)

    def walk(node: Any, path: Path) -> Any:
        if isinstance(node, CommentedMap):
            plain_map: dict[str, Any] = {}
            for child_path, child, position in _entries(node, path):
                if position is not None:
                    positions[child_path] = (position[0] + 1, position[1] + 1)
                plain_map[str(child_path[-1])] = walk(child, child_path)
            return plain_map
        if isinstance(node, CommentedSeq):
            plain_list: list[Any] = []
            for child_path, child, position in _entries(node, path):
                if position is not None:
                    positions[child_path] = (position[0] + 1, position[1] + 1)
                plain_list.append(walk(child, child_path))
            return plain_list
        if isinstance(node, str):
            return str(node)  # drop ruamel's scalar string subclasses
        if isinstance(node, ScalarBoolean):
            return bool(node)
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        return node

    return walk(tree, ()), Marks(positions)
