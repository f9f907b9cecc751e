"""The sites file, the backend registry and its capabilities, the old --slurm-config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.clock import SteppedClock
from suanli.config import load_scenario
from suanli.errors import InputError, UnknownNameError
from suanli.sites.base import Feature, SubmitRequest, make_tag
from suanli.sites.config import dry_run_sites, load_sites
from suanli.sites.dryrun import DryRunSite
from suanli.sites.registry import backend, backend_names, capabilities
from suanli.sites.slurm.backend import SlurmSite
from suanli.sites.slurm.legacy import as_sites_file, load_slurm_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SC = load_scenario(str(FIXTURES / "serve-two-sites.yaml"))
REQ = SubmitRequest(7, 2, make_tag("abcd", 7, 2), "suanli-7", "sleep 1", "h100", 2, 4)


def test_registry_names_backends_and_their_features() -> None:
    assert backend_names() == ["dry-run", "ray", "slurm"]
    assert backend("slurm") is SlurmSite and backend("dry-run") is DryRunSite
    with pytest.raises(UnknownNameError, match="valid site backends: dry-run, ray, slurm"):
        backend("kubernetes")
    caps = capabilities()
    assert caps["slurm"]["typed-devices"] == "yes" and caps["slurm"]["preemption"] == "yes"
    assert "output" in caps["slurm"]["logs"]  # a reason, not a yes
    assert caps["ray"]["logs"] == "yes" and "suspended" in caps["ray"]["suspend"]
    assert set(caps["dry-run"]) == {f.value for f in Feature}


def test_sites_file_mixes_backends_and_names_device_types() -> None:
    cfg = load_sites(
        {
            "device_types": {"nvidia_h100_sxm5": "h100"},
            "sites": {
                "east": {"backend": "slurm", "slurm_conf": "/x/slurm.conf", "allow_root": True},
                "west": {"backend": "dry-run", "run_seconds": 5},
            },
        },
        SC,
    )
    assert cfg.device_type("east", "nvidia_h100_sxm5") == "h100"
    assert cfg.sites["west"].backend == "dry-run"
    built = cfg.build(SteppedClock())
    assert isinstance(built["east"], SlurmSite) and isinstance(built["west"], DryRunSite)
    assert cfg.supports("east", Feature.PREEMPTION)
    assert not cfg.supports("west", Feature.LOGS)


def test_sites_file_reports_every_problem_with_its_field(tmp_path: Path) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text(
        "sites:\n  east: {backend: slurm, slurm_conf: /x, bogus: 1}\n  moon: {backend: dry-run}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        load_sites(path, SC)
    text = str(err.value)
    assert f"{path}: sites.east.bogus: Extra inputs" in text
    assert "sites.moon: not a site of the scenario" in text
    assert "sites.west: missing" in text
    path.write_text(
        "sites:\n  east: {backend: k8s}\n  west: {backend: slurm, timeout_s: -1}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        load_sites(path, SC)
    text = str(err.value)
    assert "sites.east.backend: unknown backend 'k8s'" in text and "dry-run, ray, slurm" in text
    assert "sites.west.timeout_s" in text
    assert "no device type for nvidia_h100_sxm5 (site west, backend slurm)" in text
    path.write_text("sites:\n  east: {backend: ray}\n  west: {backend: dry-run}\n", "utf-8")
    with pytest.raises(InputError, match=r"sites\.east\.address: Field required"):
        load_sites(path, SC)
    path.write_text("sites: [1]\n", encoding="utf-8")
    with pytest.raises(InputError, match="sites: missing"):
        load_sites(path, SC)
    with pytest.raises(InputError, match="not valid YAML"):
        path.write_text("sites: {", encoding="utf-8")
        load_sites(path, SC)


def test_old_slurm_config_reads_as_a_sites_file(tmp_path: Path) -> None:
    old = {
        "gres_types": {"nvidia_h100_sxm5": "h100"},
        "sites": {
            "east": {"slurm_conf": "/x/slurm.conf"},
            "west": {"gres_types": {"nvidia_h100_sxm5": "gpu80"}},
        },
    }
    new = as_sites_file(old, "old.yaml")
    assert new["device_types"] == {"nvidia_h100_sxm5": "h100"}
    assert new["sites"]["west"] == {
        "backend": "slurm",
        "device_types": {"nvidia_h100_sxm5": "gpu80"},
    }
    path = tmp_path / "slurm.yaml"
    path.write_text(
        "gres_types: {nvidia_h100_sxm5: h100}\n"
        "sites: {east: {slurm_conf: /x, allow_root: true},\n"
        "        west: {gres_types: {nvidia_h100_sxm5: gpu80}, allow_root: true}}\n",
        encoding="utf-8",
    )
    cfg = load_slurm_config(path, SC)
    assert cfg.device_type("east", "nvidia_h100_sxm5") == "h100"
    assert cfg.device_type("west", "nvidia_h100_sxm5") == "gpu80"


def test_dry_run_site_plays_fixed_and_modelled_durations() -> None:
    clock = SteppedClock(100.0)
    fixed = dry_run_sites(SC, 2.0).build(clock)["east"]
    assert isinstance(fixed, DryRunSite)
    res = fixed.submit(REQ)
    assert res.external_id == "dry-1" and not res.rejected
    assert [j.native_state for j in fixed.list_jobs().jobs] == ["RUNNING"]
    assert fixed.next_change(100.0) == 102.0
    clock.set(102.0)
    (job,) = fixed.list_jobs().jobs
    assert job.native_state == "COMPLETED" and job.exit_code == 0 and job.end_time == 102.0
    fixed.reachable = False
    assert not fixed.list_jobs().ok and fixed.submit(REQ).external_id is None
    modelled = DryRunSite("m", DryRunSite.Settings(time_scale=1.0, start_seconds=1.0), clock)
    limited = SubmitRequest(8, 1, "t", "n", "c", "h100", 1, 1, expected_end_at=150.0)
    ext = modelled.submit(limited).external_id
    assert ext is not None
    assert modelled.next_change(102.0) == 103.0  # pending for start_seconds
    clock.set(149.0)
    assert modelled.list_jobs().jobs[0].native_state == "RUNNING"
    clock.set(150.0)
    assert modelled.list_jobs().jobs[0].native_state == "COMPLETED"
    short = SubmitRequest(
        9, 1, "t2", "n", "c", "h100", 1, 1, expected_end_at=900.0, time_limit_s=10
    )
    ext = modelled.submit(short).external_id
    assert ext is not None
    clock.set(161.0)
    assert modelled.list_jobs().jobs[1].native_state == "TIMEOUT"
    assert modelled.cancel("dry-404") is None
    with pytest.raises(ValueError, match="not both"):
        DryRunSite.Settings(time_scale=1.0, run_seconds=1.0)
