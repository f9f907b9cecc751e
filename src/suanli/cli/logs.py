"""Log lines of ``suanli serve``: plain text, or one JSON object per line (``--log-format``).

A JSON line has ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger`` and
``message``; ``exception`` (the formatted traceback) and ``stack`` when the record has
them. :func:`configure_logging` sends every logger, uvicorn's included, through one
handler on standard error.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

#: Level names ``--log-level`` accepts (uvicorn's, with its ``trace`` below ``debug``).
LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}

#: The text format's line.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormat(StrEnum):
    """How log lines are written."""

    text = "text"
    json = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and exception, stack)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, tz=UTC)
        line: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


#: uvicorn's loggers: :func:`configure_logging` sends their records to the root logger.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter of ``fmt`` lines."""
    return JsonFormatter() if fmt is LogFormat.json else logging.Formatter(TEXT_FORMAT)


def configure_logging(fmt: LogFormat, level: str) -> bool:
    """Send every log record, uvicorn's included, to standard error as ``fmt`` lines, from
    ``level`` up; run uvicorn with ``log_config=None`` so that it keeps this set-up.

    Like :func:`logging.basicConfig` it does nothing when the root logger already has
    handlers (a program that embeds suanli, or a test runner, set logging up); returns
    whether it set logging up."""
    root = logging.getLogger()
    if root.handlers:
        return False
    logging.addLevelName(LEVELS["trace"], "TRACE")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(LEVELS[level.lower()])
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.propagate = True
    return True
