"""pytest fixtures for real local infrastructure: Slurm and Ray clusters, a PostgreSQL server.

Registered from ``tests/conftest.py``. The fixtures are session-scoped, so every test shares
the same daemons:

* ``slurm_clusters``: a factory, ``slurm_clusters("a", "b")`` or
  ``slurm_clusters(ClusterSpec("x", nodes=1, gpu_type="ascend910b"))``, returning started
  :class:`~devtools.slurm_local.LocalSlurmCluster` objects. A name asked for again gets
  the cluster already running (with the same shape, else an error). Clusters asked for in
  one call start in parallel. All share one private ``munged`` and stop at the session end.
* ``ray_clusters``: a factory, ``ray_clusters("a", RaySpec("b", workers=1))``, returning
  started :class:`~devtools.ray_local.LocalRayCluster` objects (head and workers, typed
  accelerators as custom resources, fake GPUs), stopped at the session end.
* ``postgres_url``: the SQLAlchemy URL of a throw-away PostgreSQL database, or the value of
  ``$SUANLI_TEST_PG_URL`` when set (then no server is started).

When the programs are missing (run ``sudo scripts/setup-system.sh``; Ray comes with
``pip install '.[ray]'``, which ``make setup`` does) or we are not root, the
tests that use them are skipped with the reason, unless ``SUANLI_REQUIRE_INFRA=1`` (set it in
CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from devtools.pg_local import PG_URL_ENV, LocalPostgres
from devtools.pg_local import unavailable_reason as pg_unavailable_reason
from devtools.ray_local import LocalRayCluster
from devtools.ray_local import unavailable_reason as ray_unavailable_reason
from devtools.slurm_local import (
    LocalMunge,
    LocalSlurmCluster,
    NodeShape,
    pick_free_ports,
    start_all,
)
from devtools.slurm_local import unavailable_reason as slurm_unavailable_reason

#: Set to 1 to make missing infrastructure fail the tests instead of skipping them.
REQUIRE_ENV = "SUANLI_REQUIRE_INFRA"


def infra_missing(reason: str) -> None:
    """Skip the current test for ``reason``, or fail it when ``SUANLI_REQUIRE_INFRA=1``."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """Shape of a test cluster: ``nodes`` nodes of ``gpus_per_node`` GPUs of ``gpu_type``."""

    name: str
    nodes: int = 2
    gpus_per_node: int = 4
    gpu_type: str = "h100"
    cpus_per_node: int = 8
    message_timeout: int = 5


class SlurmClusterFactory:
    """Starts local Slurm clusters on demand and keeps them until :meth:`stop_all`."""

    def __init__(self, base: Path, munge: LocalMunge) -> None:
        self.base = base
        self.munge = munge
        self._clusters: dict[str, tuple[ClusterSpec, LocalSlurmCluster]] = {}
        self._lock = threading.Lock()

    def __call__(self, *specs: ClusterSpec | str) -> list[LocalSlurmCluster]:
        """Return started clusters for ``specs`` (names get the default shape)."""
        wanted = [ClusterSpec(s) if isinstance(s, str) else s for s in specs]
        with self._lock:
            new: list[LocalSlurmCluster] = []
            new_specs: list[ClusterSpec] = []
            for spec in wanted:
                known = self._clusters.get(spec.name)
                if known is not None:
                    if known[0] != spec:
                        raise ValueError(f"cluster {spec.name} already runs as {known[0]}")
                    continue
                if spec in new_specs:
                    continue
                new_specs.append(spec)
            ports = pick_free_ports(sum(spec.nodes + 1 for spec in new_specs))
            for spec in new_specs:
                mine, ports = ports[: spec.nodes + 1], ports[spec.nodes + 1 :]
                shape = NodeShape(spec.gpus_per_node, spec.gpu_type, spec.cpus_per_node)
                new.append(
                    LocalSlurmCluster(
                        self.base / spec.name,
                        name=spec.name,
                        nodes=[shape] * spec.nodes,
                        munge=self.munge,
                        ports=mine,
                        message_timeout=spec.message_timeout,
                    )
                )
            start_all(new)
            for spec, cluster in zip(new_specs, new, strict=True):
                self._clusters[spec.name] = (spec, cluster)
            return [self._clusters[spec.name][1] for spec in wanted]

    def stop_all(self) -> None:
        """Stop every cluster started so far."""
        with self._lock:
            for _spec, cluster in self._clusters.values():
                cluster.stop()
            self._clusters.clear()


def _short_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Path, bool]:
    """A directory for daemons; Slurm's Unix sockets need a short path. (path, made by us)."""
    path = tmp_path_factory.mktemp(name)
    if len(str(path)) <= 40:
        return path, False
    return Path(tempfile.mkdtemp(prefix=f"suanli-{name}-")), True


@pytest.fixture(scope="session")
def slurm_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmClusterFactory]:
    """Factory of started local Slurm clusters shared by the whole session."""
    reason = slurm_unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    base, made = _short_dir(tmp_path_factory, "slurm")
    munge = LocalMunge(base / "munge")
    munge.start()
    factory = SlurmClusterFactory(base, munge)
    try:
        yield factory
    finally:
        factory.stop_all()
        munge.stop()
        if made:
            shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class RaySpec:
    """Shape of a test Ray cluster: ``1 + workers`` nodes, each with ``devices`` of the
    custom resource ``device_type`` and as many fake GPUs."""

    name: str
    device_type: str = "h100"
    devices: int = 8
    workers: int = 0
    cpus: int = 1


class RayClusterFactory:
    """Starts local Ray clusters on demand and keeps them until :meth:`stop_all`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._clusters: dict[str, tuple[RaySpec, LocalRayCluster]] = {}
        self._lock = threading.Lock()

    def __call__(self, *specs: RaySpec | str) -> list[LocalRayCluster]:
        """Return started clusters for ``specs`` (names get the default shape)."""
        wanted = [RaySpec(s) if isinstance(s, str) else s for s in specs]
        with self._lock:
            for spec in wanted:
                known = self._clusters.get(spec.name)
                if known is not None:
                    if known[0] != spec:
                        raise ValueError(f"Ray cluster {spec.name} already runs as {known[0]}")
                    continue
                cluster = LocalRayCluster(
                    spec.name,
                    {spec.device_type: spec.devices},
                    gpus=spec.devices,
                    cpus=spec.cpus,
                    workers=spec.workers,
                    directory=self.base / spec.name,
                )
                cluster.start()
                self._clusters[spec.name] = (spec, cluster)
            return [self._clusters[spec.name][1] for spec in wanted]

    def stop_all(self) -> None:
        """Stop every cluster started so far."""
        with self._lock:
            for _spec, cluster in self._clusters.values():
                cluster.stop()
            self._clusters.clear()


@pytest.fixture(scope="session")
def ray_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayClusterFactory]:
    """Factory of started local Ray clusters shared by the whole session."""
    reason = ray_unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    base, made = _short_dir(tmp_path_factory, "ray")
    factory = RayClusterFactory(base)
    try:
        yield factory
    finally:
        factory.stop_all()
        if made:
            shutil.rmtree(base, ignore_errors=True)


def pg_url_from_env() -> str | None:
    """The URL in ``$SUANLI_TEST_PG_URL``, or ``None`` when unset or empty."""
    return os.environ.get(PG_URL_ENV) or None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL (``postgresql+psycopg://...``) of a database the tests may use freely."""
    external = pg_url_from_env()
    if external is not None:
        yield external
        return
    reason = pg_unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    with LocalPostgres() as server:
        yield server.url
