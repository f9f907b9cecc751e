"""Throw-away Ray clusters on this host, for tests and development.

A :class:`LocalRayCluster` starts a *real* Ray cluster: a head node (GCS, raylet, and the
dashboard that serves the Jobs API) and, if asked, worker nodes joining it, each node a
``ray start --block`` in a process group of its own, on ports of its own (a block of 500
per node, so that several clusters run side by side), with typed accelerators as custom
resources (``{"h100": 8}``) and as many fake GPUs. :meth:`LocalRayCluster.stop` ends every
process of the cluster (TERM, then KILL) and nothing else — ``ray stop`` would stop every
cluster on the host.

A :class:`TcpRelay` forwards a local port to another: put it between suanli and a cluster's
Jobs API and cut it to make the cluster unreachable while its jobs go on.

Run ``python -m devtools.ray_local --sites east,west --resources '{"h100": 8}'`` (from the
repository root) to start clusters and print ``RAY_ADDRESS_<SITE>=http://127.0.0.1:PORT``
lines; they run until interrupted. Ray comes with ``pip install 'suanli[ray]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

PORTS_PER_NODE = 500


def unavailable_reason() -> str | None:
    """Why Ray clusters cannot be started here (``None``: they can)."""
    if _ray_command() is None:
        return "Ray is not installed (pip install 'suanli[ray]')"
    return None


def _ray_command() -> str | None:
    beside = Path(sys.executable).with_name("ray")
    if beside.is_file():
        return str(beside)
    return shutil.which("ray")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_base(nodes: int) -> int:
    """A base port whose blocks for ``nodes`` nodes look free."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000 - PORTS_PER_NODE * nodes, 100)
        probe = [base + PORTS_PER_NODE * k + i for k in range(nodes) for i in range(10)]
        if all(_port_free(p) for p in probe):
            return base
    raise RuntimeError("no free block of ports for a Ray cluster")


class LocalRayCluster:
    """A Ray cluster of ``1 + workers`` nodes on this host (see the module docstring)."""

    def __init__(
        self,
        name: str,
        resources: Mapping[str, float],
        *,
        gpus: int = 0,
        cpus: int = 1,
        workers: int = 0,
        directory: Path | None = None,
    ) -> None:
        self.name = name
        self.resources = dict(resources)
        self.gpus = gpus
        self.cpus = cpus
        self.workers = workers
        self.dir = directory or Path(tempfile.mkdtemp(prefix=f"suanli-ray-{name}-"))
        #: Ray's own temp dir: short, for its Unix sockets (at most 107 bytes a path).
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="ray-"))
        self.base = 0
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def gcs_address(self) -> str:
        """The cluster's address for ``ray.init`` and ``ray start --address``."""
        return f"127.0.0.1:{self.base}"

    @property
    def jobs_address(self) -> str:
        """The Jobs API (dashboard) address."""
        return f"http://127.0.0.1:{self.base + 1}"

    def _node_args(self, k: int) -> list[str]:
        b = self.base + PORTS_PER_NODE * k
        args = [
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--node-manager-port={b + 3}",
            f"--object-manager-port={b + 4}",
            f"--dashboard-agent-grpc-port={b + 5}",
            f"--dashboard-agent-listen-port={b + 6}",
            f"--runtime-env-agent-port={b + 7}",
            f"--metrics-export-port={b + 8}",
            f"--min-worker-port={b + 100}",
            f"--max-worker-port={b + PORTS_PER_NODE - 1}",
            f"--num-cpus={self.cpus}",
            f"--num-gpus={self.gpus}",
            f"--resources={json.dumps(self.resources)}",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
        ]
        if k == 0:
            args += [
                "--head",
                f"--port={self.base}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.base + 1}",
                f"--ray-client-server-port={self.base + 2}",
                "--include-dashboard=true",
                f"--temp-dir={self.ray_tmp}",
            ]
        else:
            args.append(f"--address={self.gcs_address}")
        return args

    def _spawn(self, k: int) -> None:
        ray = _ray_command()
        assert ray is not None, unavailable_reason()
        log = (self.dir / f"node-{k}.log").open("wb")
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
        self.procs.append(
            subprocess.Popen(
                [ray, "start", *self._node_args(k)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        )

    def start(self, timeout: float = 120.0) -> LocalRayCluster:
        """Start the head, then the workers; return when every node is alive."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.base = _pick_base(1 + self.workers)
        self._spawn(0)
        deadline = time.monotonic() + timeout
        self._wait(lambda: self._get("/api/version") is not None, deadline, "the Jobs API")
        for k in range(1, 1 + self.workers):
            self._spawn(k)
        self._wait(lambda: self.alive_nodes() >= 1 + self.workers, deadline, "every node")
        return self

    def alive_nodes(self) -> int:
        """Nodes the cluster reports alive."""
        doc = self._get("/nodes?view=summary")
        if not isinstance(doc, dict):
            return 0
        summary = (doc.get("data") or {}).get("summary") or []
        return sum(1 for n in summary if (n.get("raylet") or {}).get("state") == "ALIVE")

    def _get(self, path: str) -> object | None:
        try:
            with urllib.request.urlopen(self.jobs_address + path, timeout=5) as r:
                doc: object = json.loads(r.read())
        except (OSError, ValueError):
            return None
        return doc

    def _wait(self, ok: object, deadline: float, what: str) -> None:
        assert callable(ok)
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"Ray cluster {self.name}: a node exited; see {self.dir}")
            if ok():
                return
            time.sleep(0.5)
        raise RuntimeError(f"Ray cluster {self.name}: {what} not up in time; see {self.dir}")

    def stop(self) -> None:
        """End every process of the cluster (TERM, then KILL after 5 s)."""
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        self.procs.clear()
        shutil.rmtree(self.ray_tmp, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class TcpRelay:
    """Forwards ``127.0.0.1:port`` to ``target``; :meth:`cut` drops every connection and
    refuses new ones until :meth:`restore`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = int(self.server.getsockname()[1])
        self.up = True
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Drop every connection; refuse new ones."""
        self.up = False
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()
            self._conns.clear()

    def restore(self) -> None:
        """Accept connections again."""
        self.up = True

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        """Stop relaying."""
        self.cut()
        self.server.close()


def main() -> None:
    """Start clusters (one per site), print their addresses, run until interrupted."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", default="east,west")
    ap.add_argument("--resources", default='{"h100": 8}', help="custom resources per node")
    ap.add_argument("--gpus", type=int, default=8, help="fake GPUs per node")
    ap.add_argument("--workers", type=int, default=0, help="worker nodes per cluster")
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        sys.exit(reason)
    clusters = [
        LocalRayCluster(s, json.loads(args.resources), gpus=args.gpus, workers=args.workers)
        for s in args.sites.split(",")
    ]
    try:
        for c in clusters:
            c.start()
            print(f"export RAY_ADDRESS_{c.name.upper()}={c.jobs_address}", flush=True)
            print(f"export RAY_GCS_{c.name.upper()}={c.gcs_address}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        for c in clusters:
            c.stop()


if __name__ == "__main__":
    main()
