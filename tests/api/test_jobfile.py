"""The job file: durations, accelerator names, its checks, the API taking it, and the CLI's
errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from suanli.api.jobfile import JobFile, parse_duration
from suanli.catalog.names import AcceleratorNameError, resolve
from suanli.cli import admin, app, jobs  # noqa: F401  (registers)
from suanli.cli.jobs import read_jobfile
from suanli.config import load_scenario
from suanli.control.jobspec import MIN_TIME_LIMIT_S, RunSettings
from suanli.core.outlook import _Profile
from suanli.errors import InputError
from suanli.scenarios import DEFAULT
from suanli.sites.base import SubmitRequest
from suanli.sites.slurm.backend import SlurmSettings, sbatch_argv
from tests.api.conftest import Api

BASE = {
    "version": 1,
    "profile": "dl-training",
    "resources": {"accelerators": "H100:4"},
    "work": {"hours": 1},
    "run": "true",
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("8h", 28800.0),
        ("2d", 172800.0),
        ("1:30:00", 5400.0),
        ("1-12:00:00", 129600.0),
        ("05:30", 19800.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "1x", True, "1:2:3:4", None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_accelerator_names_as_users_write_them() -> None:
    ids = list(load_scenario(DEFAULT).catalog)
    got = {
        n: resolve(n, ids)
        for n in ("H100", "h200", "910C", "MI300X", "nvidia_h200", "Ascend 910B3")
    }
    assert got == {
        "H100": "nvidia_h100_sxm5",
        "h200": "nvidia_h200_sxm",
        "910C": "huawei_ascend_910c",
        "MI300X": "amd_mi300x",
        "nvidia_h200": "nvidia_h200_sxm",
        "Ascend 910B3": "huawei_ascend_910b3",
    }
    with pytest.raises(AcceleratorNameError, match=r"ambiguous.*910b1.*910b4"):
        resolve("910B", ids)
    with pytest.raises(AcceleratorNameError) as exc:
        resolve("nvidia_h200_sxn", ids)
    assert "did you mean 'nvidia_h200_sxm'" in exc.value.hint
    assert "nvidia_h20," in exc.value.hint  # the whole list, not cut short


def test_the_file_shape_is_checked() -> None:
    JobFile.model_validate(BASE)
    for change, where in [
        ({"resources": {"accelerators": ["H100:4", "910C:8"]}}, "same count"),
        ({"resources": {}}, "give accelerators"),
        ({"work": {"hours": 1, "pflop": 2}}, "exactly one"),
        ({"env": {"SUANLI_JOB": "1"}}, "set by suanli"),
        ({"workdir": "relative/dir"}, "pattern"),
        ({"version": 2}, "1"),
        ({"nonsense": 1}, "Extra inputs"),
        ({"resources": {"accelerators": "H100:4", "elastic": {"min": 8}}}, "elastic.min 8"),
        ({"resources": {"accelerators": "H100:4", "elastic": {"max": 2}}}, "elastic.max 2"),
    ]:
        with pytest.raises(ValidationError, match=where):
            JobFile.model_validate({**BASE, **change})


def test_numbers_in_a_job_file() -> None:
    """YAML reads ``1e3`` as a string: a job file takes it as the number; never ``true``."""
    got = JobFile.model_validate({**BASE, "work": {"pflop": "1e3"}})
    assert got.work.pflop == 1000.0
    with pytest.raises(ValidationError, match="not true/false"):
        JobFile.model_validate({**BASE, "work": {"pflop": True}})


def test_the_api_takes_a_job_file(api: Api) -> None:
    c = api.client
    body = {
        **BASE,
        "resources": {"accelerators": {"any_of": ["h100:2"]}},
        "env": {"A": "1"},
        "time_limit": "2h",
        "workdir": "/srv",
    }
    r = c.post("/v1/jobs", json=body, headers=api.lab)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["gang"] == 2 and job["accepted_types"] == ["nvidia_h100_sxm5"]
    rec = api.services.jobs.get(job["id"], None)
    assert rec is not None and rec.spec["time_limit_s"] == 7200.0
    assert rec.spec["env"] == {"A": "1"} and rec.spec["workdir"] == "/srv"
    bad = c.post(
        "/v1/jobs", json={**BASE, "resources": {"accelerators": "H999:4"}}, headers=api.lab
    )
    assert bad.status_code == 422 and bad.json()["field"] == "resources.accelerators.0"
    shape = c.post("/v1/jobs", json={**BASE, "time_limit": "soon"}, headers=api.lab)
    assert shape.status_code == 422 and shape.json()["field"] == "time_limit"
    assert "properties" in c.get("/v1/schema/jobfile").json()


def test_an_elastic_job_file(api: Api) -> None:
    """``resources.elastic`` is the job's range (gang_min..gang_max), stored and shown."""
    res = {"accelerators": "H100:4", "elastic": {"min": 2, "max": 8}}
    r = api.client.post("/v1/jobs", json={**BASE, "resources": res}, headers=api.lab)
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["gang_min"], job["gang"], job["gang_max"]) == (2, 4, 8)
    fixed = api.client.post("/v1/jobs", json=BASE, headers=api.lab).json()
    assert (fixed["gang_min"], fixed["gang_max"]) == (None, None)


def test_cli_names_the_line_of_a_bad_job_file(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({**BASE, "time_limit": "soon"}, sort_keys=False))
    line = path.read_text().splitlines().index("time_limit: soon") + 1
    r = CliRunner().invoke(app, ["jobs", "submit", str(path)], env={"SUANLI_TOKEN": "x"})
    assert isinstance(r.exception, InputError)  # main() prints it and exits 2
    assert f"{path}:{line}: time_limit: 'soon' is not a duration" in str(r.exception)


def test_time_limits_default_to_a_factor_of_the_estimate() -> None:
    assert RunSettings().limit_for(3600.0) == 7200.0
    assert RunSettings().limit_for(10.0) == MIN_TIME_LIMIT_S
    assert RunSettings(time_limit_s=60.0).limit_for(3600.0) == 60.0
    assert RunSettings().limit_for(3600.0, factor=0) is None


def test_sbatch_line() -> None:
    req = SubmitRequest(
        1,
        1,
        "suanli:i:1:1",
        "suanli-1",
        "echo hi",
        "910c",
        2,
        8,
        time_limit_s=90.0,
        env=(("A", "x,y"),),
        workdir="/srv",
    )
    argv = sbatch_argv(SlurmSettings(gres_name="npu", log_dir=Path("/logs")), req)
    assert "--gres=npu:910c:8" in argv and "--chdir=/srv" in argv and "--time=2" in argv
    assert "--output=/logs/suanli-%j.out" in argv and "--export=ALL" in argv
    assert not any("x,y" in a for a in argv)  # the environment goes in sbatch's own
    assert req.job_env()["A"] == "x,y" and req.job_env()["SUANLI_DEVICE_TYPE"] == "910c"
    with pytest.raises(ValidationError, match="not both"):
        SlurmSettings(log_dir=Path("/logs"), output="/x/%j")


def test_reservation_profile() -> None:
    p = _Profile(0.0, 2.0, [(100.0, 2.0), (50.0, 4.0)])  # 2 free, +4 at 50, +2 at 100
    assert p.earliest(2, 1000) == 0.0 and p.earliest(4, 10) == 50.0 and p.earliest(8, 1) == 100.0
    p.take(50.0, 100.0, 4.0)
    assert p.earliest(4, 10) == 100.0 and p.earliest(6, 10) == 150.0 and p.earliest(2, 10) == 0.0


def test_the_documented_work_form_reads_on_as_a_key(tmp_path: Path) -> None:
    """``work: {hours: 6, on: H100}`` (docs/jobs.md): YAML 1.1 would read ``on`` as true."""
    path = tmp_path / "job.yaml"
    path.write_text(
        "version: 1\nprofile: finetune\nresources: {accelerators: H100:8}\n"
        "work: {hours: 6, on: H100}\nrun: python train.py\ndeferrable: yes\n"
    )
    job, _lines = read_jobfile(path)
    assert job.work.on == "H100" and job.deferrable is True


def test_a_list_is_an_order_and_any_of_a_set(api: Api) -> None:
    """A list under ``resources.accelerators`` is an order of preference; ``any_of`` is a
    set: stored as ``types_ordered`` and read back into the scheduling view (every listed
    type then ranks first)."""
    from suanli.control.jobspec import job_from_spec
    from suanli.core.jobtable import JobTable
    from suanli.core.tables import build_tables

    sc = api.services.scenario
    table = JobTable([], build_tables(sc))
    ranks = {}
    for name, accelerators in (
        ("ordered", ["910C:8", "H100:8"]),
        ("set", {"any_of": ["910C:8", "H100:8"]}),
    ):
        body = {**BASE, "resources": {"accelerators": accelerators}}
        r = api.client.post("/v1/jobs", json=body, headers=api.lab)
        assert r.status_code == 201, r.text
        assert r.json()["types_ordered"] is (name == "ordered")
        rec = api.services.jobs.get(r.json()["id"], None)
        assert rec is not None
        job = job_from_spec(rec.spec, 1, sc.tenants[0].id, 0.0, 0.0)
        ranks[name] = {c.rank for c in table.candidates_of(job)}
    # this fleet has H100 only: listed second, a step down the order; in a set, first
    assert ranks["ordered"] == {1}
    assert ranks["set"] == {0}
