"""Read YAML while remembering the line of every key and list item.

Error messages then point at ``file:line`` for a field path such as
``("sites", 2, "pools", 0, "accelerator")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from suanli.errors import InputError, Problem

Path = tuple[str | int, ...]


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a mapping key is never a boolean.

    YAML 1.1 reads ``on``, ``off``, ``yes``, ``no``, ``y`` and ``n`` as booleans, so a job
    file's ``work: {hours: 6, on: H100}`` would have a key ``True``. Keys are names here, so
    a plain key that YAML 1.1 would read as a boolean stays text; values keep YAML 1.1's
    booleans (``deferrable: yes`` is true).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        for key_node, _value in node.value:
            if (
                key_node.tag == BOOL
                and isinstance(key_node, yaml.ScalarNode)
                and key_node.style is None
            ):
                key_node.tag = STR
        return super().construct_mapping(node, deep=deep)


BOOL = "tag:yaml.org,2002:bool"
STR = "tag:yaml.org,2002:str"


def load_yaml(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """Parse ``text``; return the data and a map from field path to 1-based line.

    Raises :class:`InputError` naming the line and column of a syntax error.
    """
    try:
        loader = Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        col = f", column {mark.column + 1}" if mark is not None else ""
        raise InputError(
            [
                Problem(
                    source,
                    "",
                    f"not valid YAML{col}: {exc.problem}",
                    "fix the syntax (indentation, a missing ':' or an unclosed quote)",
                    line,
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(source, "", f"not valid YAML: {exc}")]) from None
    lines: dict[Path, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines)


def line_of(lines: dict[Path, int], path: Sequence[str | int]) -> int | None:
    """Line of the longest prefix of ``path`` found in the file."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get(())


def format_path(path: Sequence[str | int]) -> str:
    """``("sites", 2, "pools")`` → ``sites[2].pools``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
