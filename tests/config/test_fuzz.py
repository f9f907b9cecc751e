"""Mutation fuzzing of scenario files (issue 19): no mutant of the built-in scenario or of a
small one ends in a traceback, a hang (over 30 s) or an exit other than 0 or 2.

The mutants are seeded, so a failure names a mutant that reproduces: the text is written
beside the failure. Each mutant is a valid YAML document with one leaf, key or subtree
changed (extreme numbers, NaN, wrong types, NUL, dates out of range, deleted or duplicated
entries), or a text-level change (a line deleted, duplicated or re-indented, a byte flipped,
the file cut short).
"""

from __future__ import annotations

import signal
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from suanli.cli import app, scenario, simulate  # noqa: F401  (registers the commands)
from suanli.errors import SuanliError
from suanli.scenarios import builtin_text

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny.yaml"
SEED = 19
HANG_S = 30

#: Values a leaf may be replaced with.
EXTREMES: list[Any] = [
    -1, 0, 1, 2**63, -(2**63), 1e300, -1e300, 1e-300, float("nan"), float("inf"),
    float("-inf"), True, None, "", "\x00", "x" * 10_000, "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+00:00", [], {}, [1, 2, 3], {"a": 1}, "nvidia_h200", "east",
]  # fmt: skip


def leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, (*path, i))


def mutate_data(data: Any, rng: np.random.Generator) -> str:
    paths = [p for p in leaves(data) if p]
    path = paths[int(rng.integers(len(paths)))]
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    action = int(rng.integers(3))
    if action == 0:
        parent[last] = EXTREMES[int(rng.integers(len(EXTREMES)))]
    elif action == 1:
        del parent[last]
    elif isinstance(parent, list):
        parent.append(parent[last])
    else:
        parent[f"{last}_x"] = parent[last]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def mutate_text(text: str, rng: np.random.Generator) -> str:
    lines = text.splitlines(keepends=True)
    i = int(rng.integers(len(lines)))
    action = int(rng.integers(5))
    if action == 0:
        del lines[i]
    elif action == 1:
        lines.insert(i, lines[i])
    elif action == 2:
        lines[i] = " " * int(rng.integers(1, 5)) + lines[i]
    elif action == 3:
        raw = bytearray("".join(lines).encode())
        raw[int(rng.integers(len(raw)))] ^= 1 << int(rng.integers(8))
        return raw.decode("utf-8", "replace")
    else:
        return "".join(lines)[: int(rng.integers(len(text)))]
    return "".join(lines)


def mutants(text: str, n: int, seed: int) -> Iterator[str]:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        if rng.random() < 0.6:
            yield mutate_data(yaml.safe_load(text), rng)
        else:
            yield mutate_text(text, rng)


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def hang(_sig: int, _frame: object) -> None:
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def exit_status(args: list[str]) -> int:
    """Run the CLI in-process as ``suanli.cli.main`` would: 2 for a user error, else its exit."""
    result = CliRunner().invoke(app, args)
    if result.exception is None or isinstance(result.exception, SystemExit):
        return result.exit_code
    if isinstance(result.exception, SuanliError):
        return 2
    raise AssertionError(
        "".join(traceback.format_exception(result.exception))
    ) from result.exception


def fuzz(text: str, n: int, seed: int, args: Callable[[Path], list[str]], tmp_path: Path) -> int:
    """Run every mutant; return how many were accepted (exit 0)."""
    ok = 0
    for k, mutant in enumerate(mutants(text, n, seed)):
        path = tmp_path / f"mutant-{k}.yaml"
        path.write_text(mutant, encoding="utf-8", errors="surrogateescape")
        try:
            with deadline(HANG_S):
                status = exit_status(args(path))
        except (AssertionError, TimeoutError) as exc:
            pytest.fail(f"mutant {k} ({path}): {exc}")
        assert status in (0, 2), f"mutant {k} ({path}) exited {status}"
        ok += status == 0
        path.unlink()
    return ok


def test_mutants_of_the_built_in_scenario_validate_or_exit_2(tmp_path: Path) -> None:
    accepted = fuzz(
        builtin_text("cn-hubs-2026"), 200, SEED, lambda p: ["validate", str(p)], tmp_path
    )
    assert 0 < accepted < 200  # some mutants are harmless, most are not


def test_mutants_of_a_small_scenario_simulate_or_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    accepted = fuzz(
        TINY.read_text(),
        200,
        SEED + 1,
        lambda p: ["simulate", str(p), "-p", "fifo", "--no-plots", "--out", str(out)],
        tmp_path,
    )
    assert accepted > 0
