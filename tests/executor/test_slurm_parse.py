"""Slurm command lines and output parsing, without Slurm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suanli.config import load_scenario
from suanli.errors import InputError
from suanli.executor.site import MemorySite, SubmitRequest, make_tag, parse_tag
from suanli.executor.slurm import (
    SlurmSite,
    decode_exit,
    orphan_submissions,
    parse_squeue,
    sbatch_argv,
)
from suanli.executor.slurm_config import SiteConfig, gres_type, load_slurm_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REQ = SubmitRequest(7, 2, make_tag("abcd", 7, 2), "suanli-7", "sleep 1", "h100", 2, 4)


def test_tags_round_trip() -> None:
    assert parse_tag(REQ.tag, "abcd") == (7, 2)
    assert parse_tag(REQ.tag, "other") is None
    assert parse_tag("suanli:abcd:x:1", "abcd") is None
    assert parse_tag("", "abcd") is None


def test_sbatch_command_line() -> None:
    cfg = SiteConfig(partition="gpu", account="ai", extra_args=("--time=1:00:00",))
    argv = sbatch_argv(cfg, REQ)
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--comment=suanli:abcd:7:2" in argv and "--job-name=suanli-7" in argv
    assert "--nodes=2" in argv and "--gres=gpu:h100:4" in argv
    assert "--partition=gpu" in argv and "--account=ai" in argv and "--time=1:00:00" in argv
    assert argv[-2:] == ["--wrap", "sleep 1"]


def test_parse_squeue_22_05_and_newer() -> None:
    doc = {
        "errors": [],
        "jobs": [
            {
                "job_id": 1,
                "job_state": "COMPLETED",
                "state_reason": "None",
                "comment": "suanli:abcd:1:1",
                "exit_code": 0,
                "start_time": 10,
                "end_time": 11,
            },
            {"job_id": 2, "job_state": "FAILED", "comment": "", "exit_code": 768},
            {
                "job_id": 3,
                "job_state": ["RUNNING"],
                "comment": "x",
                "exit_code": {"set": True, "number": 0},
                "start_time": {"set": True, "number": 5},
            },
            {"job_id": "bad"},
        ],
    }
    jobs, errors = parse_squeue(json.dumps(doc))
    assert errors == []
    assert [(j.slurm_job_id, j.state, j.exit_code) for j in jobs] == [
        (1, "COMPLETED", 0),
        (2, "FAILED", 3),
        (3, "RUNNING", 0),
    ]
    assert jobs[0].tag == "suanli:abcd:1:1" and jobs[2].start_time == 5.0


def test_parse_squeue_errors() -> None:
    down = {"jobs": [], "errors": [{"error": "Unspecified error", "source": "slurm_load_jobs"}]}
    assert parse_squeue(json.dumps(down))[1] == ["Unspecified error: slurm_load_jobs"]
    assert parse_squeue("not json")[1][0].startswith("squeue printed no JSON")
    assert parse_squeue("[]")[1]


def test_exit_codes() -> None:
    assert decode_exit(0) == 0 and decode_exit(768) == 3 and decode_exit(15) == -15
    assert decode_exit(None) is None and decode_exit(True) is None


def test_config_checks_sites_and_gres() -> None:
    sc = load_scenario(str(FIXTURES / "serve-two-sites.yaml"))
    cfg = load_slurm_config(
        {
            "gres_types": {"nvidia_h100_sxm5": "h100"},
            "sites": {
                "east": {"slurm_conf": "/x/slurm.conf"},
                "west": {"gres_types": {"nvidia_h100_sxm5": "gpu80"}},
            },
        },
        sc,
    )
    assert gres_type(cfg, "east", "nvidia_h100_sxm5") == "h100"
    assert gres_type(cfg, "west", "nvidia_h100_sxm5") == "gpu80"
    with pytest.raises(InputError) as err:
        load_slurm_config(
            {
                "sites": {
                    "east": {},
                    "moon": {},
                }
            },
            sc,
        )
    text = str(err.value)
    assert "sites.west: missing" in text and "sites.moon" in text and "no GRES type" in text
    with pytest.raises(InputError, match="Extra inputs"):
        load_slurm_config({"sites": {"east": {"bogus": 1}}}, sc)


def test_memory_site() -> None:
    site = MemorySite("m", run_s=0.0)
    res = site.submit(REQ)
    assert res.slurm_job_id == 1
    listing = site.list_jobs()
    assert listing.ok and listing.jobs[0].state == "COMPLETED"
    site.reachable = False
    assert not site.list_jobs().ok and site.submit(REQ).slurm_job_id is None


def test_orphan_scan_finds_nothing_here() -> None:
    assert orphan_submissions("nosuchinstall") == []


def test_commands_get_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_ADMIN_TOKEN", "secret")
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    site = SlurmSite("a", SiteConfig(slurm_conf=Path("/etc/a/slurm.conf")))
    assert "SUANLI_ADMIN_TOKEN" not in site.env and "SLURM_JOB_ID" not in site.env
    assert site.env["SLURM_CONF"] == "/etc/a/slurm.conf" and "PATH" in site.env
