"""Errors a user can act on.

Every error raised for bad input names *where* the problem is (a file and a field
path, with a line number when known), *what* is wrong, and *how* to fix it. The
command-line interface prints them and exits with status 2, without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input.

    ``source`` is the file (or a label such as ``built-in:cn-hubs-2026``),
    ``field`` a dotted path such as ``sites[2].pools[0].accelerator``.
    """

    source: str
    field: str
    message: str
    hint: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return f"{text} — {self.hint}" if self.hint else text


class SuanliError(Exception):
    """Base class of the errors suanli reports to users (exit status 2)."""


class InputError(SuanliError):
    """An input (scenario, trace, catalog, request) has one or more problems."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("InputError needs at least one problem")
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownNameError(SuanliError):
    """A name (policy, scenario, accelerator, format) that is not registered."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = tuple(sorted(valid))
        super().__init__(f"unknown {kind} {name!r}; valid {plural(kind)}: {', '.join(self.valid)}")


def plural(noun: str) -> str:
    """The English plural of a (possibly multi-word) noun: policy → policies, rule → rules."""
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"
