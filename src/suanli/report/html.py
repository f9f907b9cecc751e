"""The HTML report: one self-contained page drawn in the browser from a report data document.

The page is ``static/report.html`` with the styles (``report.css``) and the scripts
(``format.js``, ``views.js``, ``services.js``, ``elastic.js``, ``waits.js``, ``summary.js``,
``map.js``, ``live.js``, ``jobs.js``, ``app.js``, ``boot.js``) written into it, and three payloads:
plotly.js (from the ``plotly`` package), the map's outlines (``basemap.json``, Natural
Earth, made by ``devtools/basemap.py``) and the report data document
(:mod:`suanli.report.data`), each gzip-compressed and base64-encoded and unpacked by the
browser; nothing is fetched over the network. The same page serves a live dashboard:
:func:`render_page` with ``data_url`` embeds no document and makes the page fetch it from
that URL and poll it (see ``docs/report.md``).

Output is deterministic: the same document gives the same bytes (gzip without a time stamp,
JSON with sorted keys).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from suanli.report.data import report_data
from suanli.sim.result import SimResult

#: The page's scripts, in load order.
SCRIPTS: tuple[str, ...] = (
    "format.js",
    "views.js",
    "services.js",
    "elastic.js",
    "waits.js",
    "summary.js",
    "map.js",
    "live.js",
    "jobs.js",
    "app.js",
    "boot.js",
)

#: The map's outlines (package data; see ``devtools/basemap.py``).
BASEMAP = "basemap.json"


def static_text(name: str) -> str:
    """The text of ``report/static/<name>`` (package data)."""
    return (files("suanli.report") / "static" / name).read_text(encoding="utf-8")


def plotly_js() -> tuple[bytes, str]:
    """plotly.js as shipped by the ``plotly`` package, and its version (from its header)."""
    raw = (files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    m = re.search(rb"plotly\.js v([0-9][0-9A-Za-z.\-]*)", raw[:400])
    return raw, m.group(1).decode() if m else "unknown"


def basemap_bytes() -> bytes:
    """The map's outlines: ``report/static/basemap.json`` (Natural Earth, public domain)."""
    return (files("suanli.report") / "static" / BASEMAP).read_bytes()


def pack(raw: bytes, level: int = 6) -> str:
    """``raw`` gzip-compressed (no time stamp, so deterministic) and base64-encoded."""
    return base64.b64encode(gzip.compress(raw, compresslevel=level, mtime=0)).decode("ascii")


def document_bytes(data: dict[str, Any]) -> bytes:
    """The report data document as compact UTF-8 JSON with sorted keys (NaN is an error)."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def payload_script(element_id: str, text: str) -> str:
    """An inert ``<script>`` element holding a packed payload (:func:`pack`)."""
    return (
        f'<script type="application/octet-stream" id="{element_id}" '
        f'data-encoding="gzip+base64">{text}</script>'
    )


def join_scripts(texts: Sequence[str]) -> str:
    """Scripts joined for one inline ``<script>`` (none may contain ``</script``)."""
    code = "\n".join(texts)
    if "</script" in code.lower():
        raise ValueError("a page script contains '</script'; it would end the page's script")
    return code


def render_page(
    data: dict[str, Any] | None = None,
    *,
    data_url: str | None = None,
    poll_s: float = 10.0,
    auth: str | None = None,
    title: str | None = None,
) -> str:
    """The report page as HTML text.

    With ``data`` (a report data document) the page is self-contained. With ``data_url``
    instead, it fetches the document from that URL when opened and again every
    ``poll_s`` seconds — the live dashboard; with ``auth="bearer"`` it asks for an API
    token and sends it as ``Authorization: Bearer``. ``title`` defaults to the document's
    title.
    """
    if (data is None) == (data_url is None):
        raise ValueError("render_page needs exactly one of data and data_url")
    js, version = plotly_js()
    payloads = [
        payload_script("plotly-js", pack(js, level=9)),
        payload_script("suanli-basemap", pack(basemap_bytes(), level=9)),
    ]
    meta = ""
    if data is not None:
        payloads.append(payload_script("suanli-data", pack(document_bytes(data))))
        title = title if title is not None else str(data.get("title", "report"))
    else:
        meta = (
            f'<meta name="suanli-data-url" content="{html.escape(str(data_url))}">\n'
            f'<meta name="suanli-poll-s" content="{poll_s:g}">'
        )
        if auth is not None:
            meta += f'\n<meta name="suanli-auth" content="{html.escape(auth)}">'
        title = title if title is not None else "live"
    page = static_text("report.html")
    for marker, value in (
        ("<!--@META@-->", meta),
        ("<!--@TITLE@-->", html.escape(title)),
        ("<!--@PLOTLY@-->", f"plotly.js v{html.escape(version)}"),
        ("/*@CSS@*/", static_text("report.css")),
        ("<!--@PAYLOADS@-->", "\n".join(payloads)),
        ("/*@SCRIPTS@*/", join_scripts([static_text(n) for n in SCRIPTS])),
    ):
        page = page.replace(marker, value)
    return page


def write_html(
    path: Path, results: Sequence[SimResult], metrics: dict[str, Any] | None = None
) -> int:
    """Write the self-contained report page of ``results`` to ``path``; return its size."""
    page = render_page(report_data(results, metrics)).encode("utf-8")
    path.write_bytes(page)
    return len(page)
