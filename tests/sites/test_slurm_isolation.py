"""Run-time isolation: each tenant's job runs as its own Unix user (docs/serve.md).

The unit tests check who a job runs as and the ``sbatch`` command line. The live test makes
two throw-away Unix users, starts a local Slurm cluster in a directory they can reach, and
submits one job per tenant through :class:`SlurmSite` as root: each job's ``id -un`` is its
tenant's user, its output is that user's alone (0700 directory, 0600 file), and the other
tenant's user can neither read it nor cancel the job.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.slurm_local import LocalSlurmCluster, unavailable_reason

from suanli.clock import SystemClock
from suanli.config import load_scenario
from suanli.errors import InputError
from suanli.sites.base import SiteJobState, SubmitRequest, make_tag
from suanli.sites.config import load_sites
from suanli.sites.slurm.backend import RunAsError, SlurmSettings, SlurmSite, run_as, sbatch_argv
from tests.fixtures_infra import infra_missing

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def req(job: int, tenant: str | None, command: str = "true") -> SubmitRequest:
    tag = make_tag("iso", job, 1)
    return SubmitRequest(job, 1, tag, f"suanli-{job}", command, "h100", 1, 1, tenant=tenant)


# -- who a job runs as ----------------------------------------------------------------------
def test_tenants_map_to_users_and_accounts() -> None:
    cfg = SlurmSettings(
        users={"lab": "nobody"},
        user_prefix="sl-",
        accounts={"lab": "ai"},
        account="shared",
        log_dir=Path("/logs"),
    )
    assert cfg.user_for("lab") == "nobody" and cfg.user_for("uni") == "sl-uni"
    assert cfg.user_for(None) is None
    assert cfg.account_for("lab") == "ai" and cfg.account_for("uni") == "shared"
    argv = sbatch_argv(cfg, req(7, "lab"), user="nobody")
    assert argv[:5] == ["runuser", "-u", "nobody", "--", "sbatch"]
    assert "--output=/logs/nobody/suanli-%j.out" in argv and "--account=ai" in argv
    assert sbatch_argv(cfg, req(7, "uni"))[0] == "sbatch"
    with pytest.raises(ValueError, match="not Unix user names"):
        SlurmSettings(users={"lab": "Bad Name"})


def test_run_as_refuses_root_unless_allowed() -> None:
    plain = SlurmSettings()
    with pytest.raises(RunAsError, match=r"tenant lab has no Unix user.*allow_root: true"):
        run_as(plain, "lab", euid=0)
    with pytest.raises(RunAsError, match="a job without a tenant"):
        run_as(plain, None, euid=0)
    assert run_as(SlurmSettings(allow_root=True), "lab", euid=0) is None
    assert run_as(plain, "lab", euid=1000) is None  # not root: runs as suanli's user
    to_root = SlurmSettings(users={"lab": "root"})
    with pytest.raises(RunAsError, match="would run as root"):
        run_as(to_root, "lab", euid=0)
    mapped = SlurmSettings(users={"lab": "nobody", "uni": "no-such-user-xyz"})
    assert run_as(mapped, "lab", euid=0) == "nobody"
    with pytest.raises(RunAsError, match="no-such-user-xyz does not exist"):
        run_as(mapped, "uni", euid=0)
    with pytest.raises(RunAsError, match="does not run as root"):
        run_as(mapped, "lab", euid=1000)


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal applies to suanli run as root")
def test_the_sites_file_refuses_root_at_start() -> None:
    sc = load_scenario(str(FIXTURES / "serve-two-sites.yaml"))
    tenants = sorted(t.id for t in sc.tenants)
    west = {"backend": "dry-run"}
    doc = {"device_types": {"nvidia_h100_sxm5": "h100"}, "sites": {"west": west}}
    doc["sites"]["east"] = {"backend": "slurm", "slurm_conf": "/x"}
    with pytest.raises(InputError) as err:
        load_sites(doc, sc, "sites.yaml")
    text = str(err.value)
    assert f"sites.east.users: suanli serve runs as root and tenants {', '.join(tenants)}" in text
    assert "allow_root: true" in text and "Run-time isolation" in text
    doc["sites"]["east"] = {"backend": "slurm", "users": {t: "no-such-user-xyz" for t in tenants}}
    with pytest.raises(InputError, match=r"sites\.east\.users: tenant .* does not exist"):
        load_sites(doc, sc, "sites.yaml")
    doc["sites"]["east"] = {"backend": "slurm", "users": {t: "nobody" for t in tenants}}
    assert load_sites(doc, sc).sites["east"].backend == "slurm"
    doc["sites"]["east"] = {"backend": "slurm", "allow_root": True}
    assert load_sites(doc, sc).sites["east"].backend == "slurm"


# -- on a real cluster ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def users() -> Iterator[dict[str, str]]:
    """Two throw-away Unix users, one per tenant (removed afterwards)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        infra_missing("creating Unix users needs root and useradd")
    suffix = uuid.uuid4().hex[:6]
    names = {"lab": f"sqlab{suffix}", "uni": f"squni{suffix}"}
    made: list[str] = []
    try:
        for name in names.values():
            subprocess.run(
                ["useradd", "--no-create-home", "--shell", "/bin/sh", name],
                check=True,
                capture_output=True,
            )
            made.append(name)
        yield names
    finally:
        for name in made:
            subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[LocalSlurmCluster, Path]]:
    """A local cluster (with its own MUNGE) in a directory every user can reach (pytest's
    temporary directories are root's alone), and a log directory there."""
    reason = unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    base = Path(tempfile.mkdtemp(prefix="suanli-iso-"))
    base.chmod(0o755)
    try:
        with LocalSlurmCluster(base / "c", name="iso", nodes=1, gpus_per_node=4) as cluster:
            (base / "logs").mkdir()
            yield cluster, base / "logs"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_each_tenant_runs_as_its_user(
    users: dict[str, str], shared: tuple[LocalSlurmCluster, Path]
) -> None:
    cluster, logs = shared
    cfg = SlurmSettings(slurm_conf=cluster.conf_path, timeout_s=20, log_dir=logs, users=users)
    site = SlurmSite("iso", cfg, SystemClock())
    ids = {}
    for job, tenant in ((1, "lab"), (2, "uni")):
        res = site.submit(req(job, tenant, "id -un; sleep 60"))
        assert res.external_id is not None, res.error
        ids[tenant] = res.external_id
    refused = site.submit(req(3, "guest"))  # no user, and root is not allowed
    assert refused.rejected and "tenant guest has no Unix user" in refused.error

    def running() -> bool:
        listing = site.list_jobs()
        got = {j.external_id: j.state for j in listing.jobs}
        return all(got.get(i) == SiteJobState.RUNNING for i in ids.values())

    deadline = time.monotonic() + 30
    while not running() or not all(site.logs(i, 0).text for i in ids.values()):
        assert time.monotonic() < deadline, "jobs did not start"
        time.sleep(0.2)
    try:
        for tenant, ext in ids.items():
            user = users[tenant]
            assert site.logs(ext, 0).text.split() == [user]  # the job's `id -un`
            uid = pwd.getpwnam(user).pw_uid
            out = logs / user / f"suanli-{ext}.out"
            assert out.stat().st_uid == uid and out.stat().st_mode & 0o077 == 0
            assert out.parent.stat().st_uid == uid and out.parent.stat().st_mode & 0o777 == 0o700
        lab_out = logs / users["lab"] / f"suanli-{ids['lab']}.out"
        env = dict(site.env)
        as_uni = ["runuser", "-u", users["uni"], "--"]
        read = subprocess.run([*as_uni, "cat", str(lab_out)], capture_output=True, text=True)
        assert read.returncode != 0 and "Permission denied" in read.stderr
        cancel = subprocess.run(
            [*as_uni, "scancel", ids["lab"]], capture_output=True, text=True, env=env, timeout=30
        )
        assert cancel.returncode != 0 and "denied" in cancel.stderr.lower(), cancel.stderr
        time.sleep(1)
        assert running()  # lab's job still runs
    finally:
        for ext in ids.values():  # suanli (root) still cancels any tenant's job
            assert site.cancel(ext) is None
