"""Fixtures for the planner's tests: the tiny scenario and planning file, a writer, and two
tiny plans compared, written to files with their pages."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.plan.compare import write_comparison
from suanli.plan.run import run_plan
from suanli.plan.solve import SolveOptions

# The browser fixtures of the report's tests, for the plan page's (tests/plan/test_page_browser.py).

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY_PLAN = FIXTURES / "tiny-plan.yaml"


@pytest.fixture
def write_plan(tmp_path: Path) -> Callable[..., Path]:
    """Write a planning file next to a copy of the tiny scenario; ``changes`` update the
    tiny planning file's top-level fields (``None`` deletes one)."""
    (tmp_path / "tiny.yaml").write_text((FIXTURES / "tiny.yaml").read_text("utf-8"), "utf-8")

    def write(text: str | None = None, name: str = "plan.yaml", **changes: object) -> Path:
        if text is None:
            data = yaml.safe_load(TINY_PLAN.read_text("utf-8"))
            for key, value in changes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            text = yaml.safe_dump(data, sort_keys=False)
        path = tmp_path / name
        path.write_text(text, "utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def plan_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two planning files beside a copy of the tiny scenario: the tiny planning file, and
    ``more-h100`` (its H100 export cap four times as large)."""
    folder = tmp_path_factory.mktemp("plan-pair")
    (folder / "tiny.yaml").write_text((FIXTURES / "tiny.yaml").read_text("utf-8"), "utf-8")
    base = folder / "tiny-plan.yaml"
    base.write_text(TINY_PLAN.read_text("utf-8"), "utf-8")
    more = folder / "more.yaml"
    more.write_text(
        f"extends: {base.name}\nname: more-h100\nsupply:\n"
        "  - {accelerators: [nvidia_h100_sxm5], kind: export_cap, scale: 4}\n",
        "utf-8",
    )
    return base, more


@pytest.fixture(scope="session")
def compared(plan_pair: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``write_comparison`` of the two plans of ``plan_pair`` (no plots): ``compare.json``,
    the comparison page ``index.html``, and each plan's files and page in ``<name>/``."""
    out = tmp_path_factory.mktemp("compared")
    runs = [run_plan(path, options=SolveOptions(exact_shadow=1)) for path in plan_pair]
    write_comparison(runs, out, plots=False)
    return out


def embedded_document(page: Path) -> dict[str, Any]:
    """The plan data document embedded in the plan page ``page``."""
    text = page.read_text("utf-8")
    m = re.search(r'<script [^>]*id="suanli-plan-data"[^>]*>([^<]*)</script>', text)
    assert m is not None, f"{page} embeds no plan data document"
    return json.loads(gzip.decompress(base64.b64decode(m.group(1))))  # type: ignore[no-any-return]
