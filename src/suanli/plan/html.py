"""The plan page: one self-contained HTML page drawn in the browser from a plan data
document (:mod:`suanli.plan.page_data`), for one plan or for plans compared.

It is built like the simulation report (:mod:`suanli.report.html`), whose pieces it reuses:
plotly.js from the ``plotly`` package and the document, each gzip-compressed and
base64-encoded (:func:`~suanli.report.html.pack`, :func:`~suanli.report.html.document_bytes`),
the report's styles (``report.css``) and helpers (``format.js``). The template
``plan/static/plan.html``, its styles ``plan.css`` and its scripts (``plan-views.js``,
``plan-compare.js``, ``plan-table.js``, ``plan-app.js``) are this package's. Nothing is
fetched over the network.

Output is deterministic: the same document gives the same bytes.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path
from typing import Any

from suanli.report.html import (
    document_bytes,
    join_scripts,
    pack,
    payload_script,
    plotly_js,
    static_text,
)

#: Scripts of the report that the page uses (read from ``report/static``), in load order.
REPORT_SCRIPTS: tuple[str, ...] = ("format.js",)
#: The page's own scripts (``plan/static``), in load order.
SCRIPTS: tuple[str, ...] = ("plan-views.js", "plan-compare.js", "plan-table.js", "plan-app.js")


def plan_static_text(name: str) -> str:
    """The text of ``plan/static/<name>`` (package data)."""
    return (files("suanli.plan") / "static" / name).read_text(encoding="utf-8")


def render_plan_page(data: dict[str, Any]) -> str:
    """The plan page of ``data`` (a plan data document) as HTML text."""
    js, version = plotly_js()
    payloads = [
        payload_script("plotly-js", pack(js, level=9)),
        payload_script("suanli-plan-data", pack(document_bytes(data))),
    ]
    page = plan_static_text("plan.html")
    for marker, value in (
        ("<!--@TITLE@-->", html.escape(str(data.get("title", "plan")))),
        ("<!--@PLOTLY@-->", f"plotly.js v{html.escape(version)}"),
        ("/*@CSS@*/", static_text("report.css") + "\n" + plan_static_text("plan.css")),
        ("<!--@PAYLOADS@-->", "\n".join(payloads)),
        (
            "/*@SCRIPTS@*/",
            join_scripts(
                [*(static_text(n) for n in REPORT_SCRIPTS), *(plan_static_text(n) for n in SCRIPTS)]
            ),
        ),
    ):
        page = page.replace(marker, value)
    return page


def write_plan_page(path: Path, data: dict[str, Any]) -> int:
    """Write the plan page of ``data`` to ``path``; return its size in bytes."""
    page = render_plan_page(data).encode("utf-8")
    path.write_bytes(page)
    return len(page)
