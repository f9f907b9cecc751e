"""Slurm command lines and output parsing, without Slurm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suanli.clock import SystemClock
from suanli.sites.base import SiteJobState, SubmitRequest, make_tag, parse_tag
from suanli.sites.slurm.backend import (
    SlurmSettings,
    SlurmSite,
    decode_exit,
    orphan_submissions,
    parse_squeue,
    sbatch_argv,
)

REQ = SubmitRequest(7, 2, make_tag("abcd", 7, 2), "suanli-7", "sleep 1", "h100", 2, 4)


def test_tags_round_trip() -> None:
    assert parse_tag(REQ.tag, "abcd") == (7, 2)
    assert parse_tag(REQ.tag, "other") is None
    assert parse_tag("suanli:abcd:x:1", "abcd") is None
    assert parse_tag("", "abcd") is None


def test_sbatch_command_line() -> None:
    cfg = SlurmSettings(partition="gpu", account="ai", extra_args=("--exclusive",))
    argv = sbatch_argv(cfg, REQ)
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--comment=suanli:abcd:7:2" in argv and "--job-name=suanli-7" in argv
    assert "--nodes=2" in argv and "--gres=gpu:h100:4" in argv
    assert "--partition=gpu" in argv and "--account=ai" in argv and "--exclusive" in argv
    assert not any(a.startswith("--time") for a in argv)
    assert argv[-2:] == ["--wrap", "sleep 1"]
    limited = SubmitRequest(7, 2, REQ.tag, "suanli-7", "true", "h100", 1, 1, time_limit_s=3601)
    assert "--time=61" in sbatch_argv(cfg, limited)  # minutes, rounded up


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
            {"job_id": 4, "job_state": "SOMETHING_NEW", "comment": ""},
            {"job_id": "bad"},
        ],
    }
    jobs, errors = parse_squeue(json.dumps(doc))
    assert errors == []
    assert [(j.external_id, j.state, j.native_state, j.exit_code) for j in jobs] == [
        ("1", SiteJobState.DONE, "COMPLETED", 0),
        ("2", SiteJobState.FAILED, "FAILED", 3),
        ("3", SiteJobState.RUNNING, "RUNNING", 0),
        ("4", None, "SOMETHING_NEW", None),  # a state suanli does not know: left alone
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


def test_orphan_scan_finds_nothing_here() -> None:
    assert orphan_submissions("nosuchinstall") == []


def test_commands_get_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_ADMIN_TOKEN", "secret")
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    site = SlurmSite("a", SlurmSettings(slurm_conf=Path("/etc/a/slurm.conf")), SystemClock())
    assert "SUANLI_ADMIN_TOKEN" not in site.env and "SLURM_JOB_ID" not in site.env
    assert site.env["SLURM_CONF"] == "/etc/a/slurm.conf" and "PATH" in site.env
