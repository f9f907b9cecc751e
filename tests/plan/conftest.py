"""Fixtures for the planner's tests: the tiny scenario and planning file, and a writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

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
