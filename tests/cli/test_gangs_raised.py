"""A gang smaller than its model's memory needs is raised, and said so (issue 13): the run's
metrics count the jobs (``jobs.gangs_raised``) and ``suanli simulate`` warns with an
example."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import run_cli
from tests.control.helpers import FIXTURES


def _scenario(tmp_path: Path, profile: str) -> Path:
    """tiny.yaml (H100s of 80 GB) whose jobs are 8-device gangs of ``profile``, sized on
    the MI300X (192 GB) as their reference."""
    data = yaml.safe_load((FIXTURES / "tiny.yaml").read_text("utf-8"))
    gen = data["workload"]["generator"]
    gen["reference_accelerator"] = "amd_mi300x"
    gen["classes"][0].update(profile=profile, gang={"choice": [8]}, jobs_per_day=6)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path


def test_a_gang_raised_for_memory_is_counted_and_warned_of(tmp_path: Path) -> None:
    # dense-pretrain holds 1,300 GB: 8 MI300X hold it, 8 H100s (80 GB each) do not
    path = _scenario(tmp_path, "dense-pretrain")
    r = run_cli("simulate", str(path), "-p", "fifo", "--no-plots", "--out", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    assert "ran on more devices than their gang asked for" in r.stderr
    assert "8 → " in r.stderr and "nvidia_h100_sxm5" in r.stderr
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["policies"]["fifo"]["jobs"]["gangs_raised"] > 0


def test_no_warning_when_every_gang_fits(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "dl-training")  # 12 GB
    r = run_cli("simulate", str(path), "-p", "fifo", "--no-plots", "--out", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    assert "more devices than" not in r.stderr
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["policies"]["fifo"]["jobs"]["gangs_raised"] == 0
