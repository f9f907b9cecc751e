"""Where the command line writes: results on standard output, progress on standard error.

Results (tables, summaries) go to :func:`stdout_console`: fitted to the terminal (or to
``COLUMNS``, when set) by wrapping cells at spaces; a table that cannot fit without
breaking words is printed whole, wider than the terminal, never cut or ended in "…".
Through a pipe or into a file, without ``COLUMNS``, tables take the width they need.
Progress goes to standard error (:func:`progress_bar`, :func:`steps`), never to standard
output, so ``--output json`` leaves one document there and piped tables hold no bars.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table

from suanli.cli import err_console

#: Width of standard output when it is not a terminal and ``COLUMNS`` is unset: room for
#: the widest table (rich pads no line, so text keeps its own length).
PIPE_WIDTH = 1000


class ResultConsole(Console):
    """A console that prints every table whole (:func:`fit`), wider than itself if need be."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        need = max((fit(self, o, self.width) for o in objects if isinstance(o, Table)), default=0)
        if need <= self.width:
            super().print(*objects, **kwargs)
            return
        width = self._width
        self.width = need
        try:
            super().print(*objects, **kwargs)
        finally:
            self._width = width


def _span(console: Console, options: ConsoleOptions, column: Column) -> tuple[int, int]:
    """The narrowest (longest word; all of it if it does not wrap) and the widest a column's
    content can be."""
    if column.width is not None:
        return column.width, column.width
    spans = [Measurement.get(console, options, c) for c in (column.header, *column.cells)]
    widest = max(m.maximum for m in spans)
    return (widest if column.no_wrap else max(m.minimum for m in spans)), widest


def fit(console: Console, table: Table, width: int) -> int:
    """Set the widths of ``table``'s columns so that it fits ``width`` breaking lines only
    at spaces — rich would cut a cell to "…" or drop a column's text — and return the width
    the table then takes: more than ``width`` when its longest words leave no room."""
    wide = console.options.update_width(PIPE_WIDTH)
    spans = [_span(console, wide, c) for c in table.columns]
    natural = console.measure(table, options=wide).maximum
    frame = natural - sum(hi for _, hi in spans)  # borders and padding
    room = width - frame
    if natural <= width or not spans:
        return natural
    least = sum(lo for lo, _ in spans)
    slack = sum(hi - lo for lo, hi in spans)
    spare = max(room - least, 0)
    for column, (lo, hi) in zip(table.columns, spans, strict=True):
        column.width = lo + ((hi - lo) * spare // slack if slack else 0)
    return frame + sum(c.width or 0 for c in table.columns)


def columns_set() -> bool:
    """Whether ``COLUMNS`` gives the width of the output (rich honours it)."""
    return os.environ.get("COLUMNS", "").isdigit()


def stdout_console() -> Console:
    """The console for a command's results on standard output."""
    console = ResultConsole()
    if not console.is_terminal and not columns_set():
        console.width = PIPE_WIDTH
    return console


def progress_bar(*, percent: bool = False) -> Progress:
    """A progress display on standard error: per task its description, a bar, the share
    done (``percent``) or steps done of all, the time since the task started and the
    time it still needs (ETA). A task added with ``start=False`` counts its time from
    :meth:`~rich.progress.Progress.start_task`."""
    done = TextColumn("{task.percentage:>5.1f}%") if percent else MofNCompleteColumn()
    return Progress(
        TextColumn("{task.description:>12}"),
        BarColumn(),
        done,
        TimeElapsedColumn(),
        TextColumn("elapsed · ETA"),
        TimeRemainingColumn(),
        console=err_console,
        redirect_stdout=False,  # results written meanwhile stay on standard output
    )


class Steps:
    """The steps of a command on one progress line: :meth:`step` names the one now
    running and counts the one before it done."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress = progress
        self.task = task
        self.started = False

    def step(self, what: str) -> None:
        """``what`` is running now; the step before (if any) is done."""
        # refresh: shown now, however short the step
        self.progress.update(
            self.task, description=what, advance=1 if self.started else 0, refresh=True
        )
        self.started = True


@contextmanager
def steps(total: int, first: str) -> Iterator[Steps]:
    """A progress line on standard error over ``total`` steps, starting with ``first``;
    all are counted done when the block ends without an error."""
    with progress_bar() as progress:
        s = Steps(progress, progress.add_task(first, total=total))
        s.step(first)
        yield s
        progress.update(s.task, description="done", completed=total)
