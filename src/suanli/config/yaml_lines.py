"""Read YAML while remembering the line of every key and list item.

Error messages then point at ``file:line`` for a field path such as
``("sites", 2, "pools", 0, "accelerator")``.

Input is bounded before anything is built from it (docs/scenario-format.md, "Limits"): a file
of at most :data:`MAX_BYTES`, nesting at most :data:`MAX_DEPTH` deep, aliases that add at most
:data:`ALIAS_BUDGET` nodes when expanded (no alias bombs) and never refer to themselves, no
duplicated key in a mapping, and integers of at most :data:`MAX_INT_DIGITS` digits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path as FilePath
from typing import Any

import yaml

from suanli.errors import InputError, Problem

Path = tuple[str | int, ...]

#: Largest YAML file read (scenario, planning and job files are far smaller).
MAX_BYTES = 16 * 1024 * 1024
#: Deepest nesting of mappings and lists (a scenario needs about eight levels).
MAX_DEPTH = 64
#: Nodes that aliases may add when expanded (each ``*ref`` counts as a copy of its anchor).
ALIAS_BUDGET = 100_000
#: Longest integer literal, in digits.
MAX_INT_DIGITS = 30


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a mapping key is never a boolean.

    YAML 1.1 reads ``on``, ``off``, ``yes``, ``no``, ``y`` and ``n`` as booleans, so a job
    file's ``work: {hours: 6, on: H100}`` would have a key ``True``. Keys are names here, so
    a plain key that YAML 1.1 would read as a boolean stays text; values keep YAML 1.1's
    booleans (``deferrable: yes`` is true).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.tag == BOOL and key_node.style is None:
                key_node.tag = STR
            if key_node.tag == MERGE:
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise _TooMuch(
                    f"the key {key_node.value!r} appears twice in one mapping "
                    f"(first at line {seen[key_node.value]})",
                    "keep one of them: YAML would silently use the last",
                    line,
                )
            seen[key_node.value] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise _TooMuch(
                f"a number of {digits} digits",
                f"numbers have at most {MAX_INT_DIGITS} digits",
                node.start_mark.line + 1,
            )
        return int(super().construct_yaml_int(node))


Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)


class _TooMuch(Exception):
    """Input past one of the module's limits: what, a hint, the line."""

    def __init__(self, what: str, hint: str, line: int | None) -> None:
        super().__init__(what)
        self.what, self.hint, self.line = what, hint, line


BOOL = "tag:yaml.org,2002:bool"
STR = "tag:yaml.org,2002:str"
MERGE = "tag:yaml.org,2002:merge"


def load_yaml(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """Parse ``text``; return the data and a map from field path to 1-based line.

    Raises :class:`InputError` naming the line and column of a syntax error.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise InputError(
            [Problem(source, "", f"the file is {size:,} bytes", f"at most {MAX_BYTES:,} bytes")]
        )
    try:
        loader = Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_shape(node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _TooMuch as exc:
        raise InputError([Problem(source, "", exc.what, exc.hint, exc.line)]) from None
    except RecursionError:
        raise InputError(
            [Problem(source, "", "nested too deeply to read", f"at most {MAX_DEPTH} levels")]
        ) from None
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


def _check_shape(root: yaml.Node) -> None:
    """Refuse nesting past :data:`MAX_DEPTH`, self-referring aliases and alias bombs.

    The expanded size counts a node once per path that reaches it (an alias is a copy of its
    anchor); the distinct nodes are those the parser made. Expanded minus distinct is what
    aliases add, which must stay within :data:`ALIAS_BUDGET`. Iterative, so no depth of
    input can exhaust Python's stack here.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        kids = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if depth[key] > MAX_DEPTH:
                raise _TooMuch(
                    f"nested more than {MAX_DEPTH} levels deep",
                    "flatten the structure: a scenario needs about eight levels",
                    node.start_mark.line + 1,
                )
            if size[key] - len(size) > ALIAS_BUDGET:
                raise _TooMuch(
                    f"aliases expand to more than {ALIAS_BUDGET:,} extra entries",
                    "write the repeated parts out, or use fewer nested aliases",
                    node.start_mark.line + 1,
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise _TooMuch(
                "an alias refers to the mapping or list that contains it",
                "an anchor cannot be used inside itself",
                node.start_mark.line + 1,
            )
        if len(on_path) >= MAX_DEPTH:
            raise _TooMuch(
                f"nested more than {MAX_DEPTH} levels deep",
                "flatten the structure: a scenario needs about eight levels",
                node.start_mark.line + 1,
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_text(path: FilePath) -> str:
    """The UTF-8 text of the YAML file ``path``, refusing files past :data:`MAX_BYTES`."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(
                [Problem(str(path), "", f"the file is {size:,} bytes", f"at most {MAX_BYTES:,}")]
            )
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            [
                Problem(
                    str(path),
                    "",
                    f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                    "save the file as UTF-8",
                )
            ]
        ) from None
    except OSError as exc:
        raise InputError(
            [Problem(str(path), "", f"cannot read the file: {exc.strerror}")]
        ) from None


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


def close_matches(name: str, valid: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` plus the valid names (shortened)."""
    valid = sorted(valid)
    near = difflib.get_close_matches(name, valid, n=1)
    listed = ", ".join(valid[:12]) + (" …" if len(valid) > 12 else "")
    return (f"did you mean {near[0]!r}? " if near else "") + f"valid: {listed}"
