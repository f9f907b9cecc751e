"""Throw-away Slurm clusters on this host, for tests and development.

A :class:`LocalSlurmCluster` starts a *real* Slurm cluster (Debian's ``slurm-wlm`` 22.05:
one ``slurmctld`` and one ``slurmd -N <node>`` per node, all on this host) inside a directory
of its own: its own ``slurm.conf`` with a unique ``ClusterName`` and free TCP ports, its own
state, spool, log and pid files, and fake GPUs: typed GRES (``Gres=gpu:h100:4``) backed by
character device nodes made with ``mknod`` (major 195, like NVIDIA's), so that Slurm allocates
them and sets ``CUDA_VISIBLE_DEVICES`` for jobs. Several clusters (one per site) run side by
side without clashes. Client commands reach a cluster through :attr:`LocalSlurmCluster.env`
(``SLURM_CONF`` points at its configuration).

Authentication uses MUNGE. Rather than the system ``munged`` (which would need
``/etc/munge/munge.key`` and ``/run/munge``, and would outlive the tests), a
:class:`LocalMunge` runs a private ``munged`` with its own key and socket; ``slurm.conf``
names that socket (``AuthInfo=socket=...``). Clusters can share one :class:`LocalMunge`;
a cluster given none starts (and stops) its own.

Slurm daemons run as root and so do the jobs (sites files for these clusters say
``allow_root: true``); the module needs root (``mknod``, ``slurmd``). A job submitted as
another Unix user (``runuser -u USER -- sbatch``) runs as that user, if the user exists and
can reach the cluster's directory (``slurm.conf``, the MUNGE socket): put the cluster in a
directory that is not private to root (pytest's temporary directories are).
Use :func:`unavailable_reason` to find out whether this host can run local clusters.

What works against these clusters with Slurm 22.05 (checked by the tests):

* ``squeue --json`` lists running, pending *and* finished jobs (finished ones for
  ``MinJobAge`` seconds, 600 here). It **ignores filters** (``-j``, ``--name``, ``-t``):
  filter the ``jobs`` list yourself. When the controller is down it still exits 0, with an
  empty ``jobs`` list and a non-empty ``errors`` list; plain ``squeue`` exits 1.
* ``scontrol show job --json`` does **not** exist in 22.05 (it came with 23.02); use
  ``scontrol -o show job <id>`` (one ``Key=Value`` line) or ``squeue --json``.
* ``sinfo --json`` works; ``sacct`` does not (no accounting database).
* A request that no node can ever satisfy (more GPUs per node than any node has, an unknown
  GPU type) is rejected by ``sbatch`` (exit 1, "Requested node configuration is not
  available"); more nodes than the partition has stays pending (``PartitionConfig``); a request
  that merely exceeds what is free now stays pending (``Resources``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "SLURM_BINARIES",
    "LocalMunge",
    "LocalSlurmCluster",
    "LocalSlurmError",
    "NodeInfo",
    "NodeShape",
    "local_clusters",
    "main",
    "pick_free_ports",
    "start_all",
    "unavailable_reason",
]

#: Programs a local cluster needs (daemons, client commands, MUNGE).
SLURM_BINARIES: tuple[str, ...] = (
    "slurmctld",
    "slurmd",
    "slurmstepd",
    "sbatch",
    "srun",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
    "munged",
    "mungekey",
)

_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_GPU_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: Unix socket paths are limited to 107 bytes; Slurm adds names below the spool directory.
_MAX_DIR_LEN = 70
_PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range (32768-60999)
_TAIL_LINES = 25


class LocalSlurmError(RuntimeError):
    """A local Slurm cluster or its MUNGE daemon could not be started, used or stopped."""


def unavailable_reason() -> str | None:
    """Why local Slurm clusters cannot run on this host, or ``None`` when they can.

    They need root (for ``mknod`` and ``slurmd``) and the programs in :data:`SLURM_BINARIES`
    (Debian: ``scripts/setup-system.sh`` installs ``slurm-wlm`` and ``munge``).
    """
    missing = [name for name in SLURM_BINARIES if _which(name) is None]
    if missing:
        return (
            f"Slurm/MUNGE programs not found: {', '.join(missing)} "
            "(install them with `sudo scripts/setup-system.sh`)"
        )
    if os.geteuid() != 0:
        return "local Slurm clusters need root (slurmd runs jobs as root; fake GPUs need mknod)"
    return None


def _which(name: str) -> str | None:
    """Find ``name`` on PATH, also in the sbin directories a non-login root shell may lack."""
    path = os.environ.get("PATH", os.defpath) + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def _binary(name: str) -> str:
    found = _which(name)
    if found is None:
        raise LocalSlurmError(f"{name} not found (install with `sudo scripts/setup-system.sh`)")
    return found


def pick_free_ports(count: int, *, exclude: Sequence[int] = ()) -> list[int]:
    """Return ``count`` distinct TCP ports that are free on all addresses right now.

    Ports are drawn at random from 20000-31999, below Linux's ephemeral range, so that
    outgoing connections do not take them before the daemons bind. All ports are held until
    all are found, so one call never returns a port twice: pick the ports of several
    clusters in one call when starting them at the same time.
    """
    rng = random.SystemRandom()
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _attempt in range(20 * count + 200):
            if len(ports) == count:
                break
            port = rng.randrange(*_PORT_RANGE)
            if port in ports or port in exclude:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    if len(ports) < count:
        raise LocalSlurmError(f"could not find {count} free TCP ports in {_PORT_RANGE}")
    return ports


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path}: not readable)"
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) if kept else f"({path}: empty)"


def _clean_env(base: Mapping[str, str]) -> dict[str, str]:
    """Copy ``base`` without SLURM_* variables (as set inside a Slurm job) and with sbin on PATH."""
    env = {k: v for k, v in base.items() if not k.startswith("SLURM_")}
    path = env.get("PATH", os.defpath)
    for extra in ("/usr/sbin", "/sbin"):
        if extra not in path.split(":"):
            path = f"{path}:{extra}"
    env["PATH"] = path
    return env


class _Daemon:
    """One daemon process run in the foreground under our control (never daemonised)."""

    def __init__(self, label: str, argv: list[str], log_file: Path, out_file: Path) -> None:
        self.label = label
        self.argv = argv
        self.log_file = log_file
        self.out_file = out_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str], cwd: Path) -> None:
        with self.out_file.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,  # a Ctrl-C in the terminal must not reach it
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def send_stop(self) -> None:
        if self.alive and self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()

    def wait_stopped(self, timeout: float) -> None:
        """Wait for the process to exit after :meth:`send_stop`; SIGKILL it after ``timeout``."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        self.send_stop()
        self.wait_stopped(timeout)

    def diagnostics(self) -> str:
        """State of the process and the tails of its log and output files."""
        if self.proc is None:
            state = "never started"
        elif self.proc.poll() is None:
            state = f"running (pid {self.proc.pid})"
        else:
            state = f"exited with status {self.proc.returncode} (pid {self.proc.pid})"
        parts = [f"{self.label}: {state}; command: {' '.join(self.argv)}"]
        has_log = self.log_file.exists() and self.log_file.stat().st_size > 0
        if has_log:
            parts.append(f"--- last lines of {self.log_file} ---\n{_tail(self.log_file)}")
        if self.out_file.exists() and self.out_file != self.log_file:
            lines = 5 if has_log else _TAIL_LINES
            parts.append(f"--- last lines of {self.out_file} ---\n{_tail(self.out_file, lines)}")
        return "\n".join(parts)


class LocalMunge:
    """A private ``munged`` with its own key and socket in ``directory``.

    Runs in the foreground under this object's control; :meth:`stop` ends it. Several
    :class:`LocalSlurmCluster` objects may share one. ``munged`` runs with ``--force`` so
    that a directory below a private (mode 0700) parent, such as pytest's temporary
    directories, is accepted.
    """

    def __init__(self, directory: Path | str, *, start_timeout: float = 15.0) -> None:
        self.directory = Path(directory).absolute()
        self.start_timeout = start_timeout
        self.socket = self.directory / "munge.socket"
        self.key_file = self.directory / "munge.key"
        if len(str(self.socket)) > 100:
            raise LocalSlurmError(f"MUNGE socket path too long for a Unix socket: {self.socket}")
        self._daemon: _Daemon | None = None

    @property
    def running(self) -> bool:
        """Whether the ``munged`` started by this object is running."""
        return self._daemon is not None and self._daemon.alive

    def start(self) -> None:
        """Create the key if none exists, start ``munged`` and wait until it answers."""
        if self.running:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o755)
        if not self.key_file.exists():
            _run_checked(
                [_binary("mungekey"), "--create", "--keyfile", str(self.key_file)], timeout=30
            )
        os.chmod(self.key_file, 0o600)
        argv = [
            _binary("munged"),
            "--foreground",
            "--force",
            f"--socket={self.socket}",
            f"--key-file={self.key_file}",
            f"--log-file={self.directory / 'munged.log'}",
            f"--pid-file={self.directory / 'munged.pid'}",
            f"--seed-file={self.directory / 'munged.seed'}",
        ]
        self._daemon = _Daemon(
            "munged", argv, self.directory / "munged.log", self.directory / "munged.out"
        )
        self._daemon.start(_clean_env(os.environ), self.directory)
        deadline = time.monotonic() + self.start_timeout
        munge = _binary("munge")
        while True:
            if not self._daemon.alive:
                raise LocalSlurmError(f"munged failed to start\n{self._daemon.diagnostics()}")
            probe = subprocess.run(
                [munge, "--socket", str(self.socket), "--no-input"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            if probe.returncode == 0:
                return
            if time.monotonic() > deadline:
                diag = self._daemon.diagnostics()
                self.stop()
                raise LocalSlurmError(
                    f"munged did not answer in {self.start_timeout:.0f} s\n{diag}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop ``munged`` (no-op when not running). The key stays for a later start."""
        if self._daemon is not None:
            self._daemon.stop()
            self._daemon = None

    def __enter__(self) -> LocalMunge:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class NodeShape:
    """What one node of a local cluster has: ``gpus`` fake GPUs of ``gpu_type``, ``cpus`` CPUs.

    CPUs and memory are declared, not real (``SlurmdParameters=config_overrides``): a job
    takes one CPU unless it asks for more, so ``cpus`` bounds the jobs that share a node.
    """

    gpus: int = 4
    gpu_type: str = "h100"
    cpus: int = 8
    memory_mb: int = 65536

    def __post_init__(self) -> None:
        if self.gpus < 0 or self.gpus > 64:
            raise ValueError(f"gpus must be in 0..64, not {self.gpus}")
        if not _GPU_TYPE_RE.match(self.gpu_type):
            raise ValueError(f"gpu_type must match {_GPU_TYPE_RE.pattern}, not {self.gpu_type!r}")
        if self.cpus < 1:
            raise ValueError(f"cpus must be at least 1, not {self.cpus}")
        if self.memory_mb < 1:
            raise ValueError(f"memory_mb must be at least 1, not {self.memory_mb}")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node of a started local cluster: its Slurm name, ``slurmd`` port and fake GPUs."""

    name: str
    port: int
    shape: NodeShape
    devices: tuple[Path, ...]

    @property
    def gres(self) -> str:
        """The node's GRES as ``slurm.conf`` writes it, e.g. ``gpu:h100:4`` (empty: none)."""
        return f"gpu:{self.shape.gpu_type}:{self.shape.gpus}" if self.shape.gpus else ""


class LocalSlurmCluster:
    """A real Slurm cluster (``slurmctld`` plus one ``slurmd`` per node) on this host.

    ``directory`` holds everything: ``slurm.conf``, ``gres.conf``, ``state/``
    (``StateSaveLocation``, which keeps jobs across a controller restart), ``spool/<node>``,
    ``log/``, ``run/`` (pid files) and ``dev/<node>/nvidia<i>`` (the fake GPUs). Use it as a
    context manager or call :meth:`start` and :meth:`stop`::

        with LocalSlurmCluster(tmp / "a", name="a", nodes=2, gpus_per_node=4) as cluster:
            subprocess.run(["sbatch", "--gres=gpu:h100:2", "--wrap", "nvidia-smi"],
                           env=cluster.env, check=True)

    ``nodes`` is a count (each node then gets ``gpus_per_node`` GPUs of ``gpu_type`` and
    ``cpus_per_node`` CPUs) or a sequence of :class:`NodeShape` for mixed nodes. Nodes are
    named ``<name>-1``, ``<name>-2``, ... and all sit in one default partition. Finished jobs
    stay visible to ``squeue`` for ``min_job_age`` seconds. ``message_timeout`` is Slurm's
    ``MessageTimeout``; with the controller down a client command gives up after about
    ``message_timeout - 1`` seconds. ``ports`` (controller first, then one per node) are
    picked with :func:`pick_free_ports` unless given. ``munge`` is a shared
    :class:`LocalMunge`, already started; without one the cluster runs its own.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        name: str,
        nodes: int | Sequence[NodeShape] = 2,
        gpus_per_node: int = 4,
        gpu_type: str = "h100",
        cpus_per_node: int = 8,
        partition: str = "gpu",
        munge: LocalMunge | None = None,
        ports: Sequence[int] | None = None,
        min_job_age: int = 600,
        message_timeout: int = 5,
        device_major: int = 195,
        start_timeout: float = 60.0,
    ) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"cluster name must match {_NAME_RE.pattern}, not {name!r}")
        if not _NAME_RE.match(partition):
            raise ValueError(f"partition must match {_NAME_RE.pattern}, not {partition!r}")
        if isinstance(nodes, int):
            if nodes < 1:
                raise ValueError(f"a cluster needs at least one node, not {nodes}")
            shapes = [NodeShape(gpus_per_node, gpu_type, cpus_per_node)] * nodes
        else:
            shapes = list(nodes)
            if not shapes:
                raise ValueError("a cluster needs at least one node")
        if ports is not None and len(ports) != len(shapes) + 1:
            raise ValueError(f"need {len(shapes) + 1} ports (controller + nodes), got {len(ports)}")
        if min_job_age < 2 or message_timeout < 2:
            raise ValueError("min_job_age and message_timeout must be at least 2 seconds")
        self.directory = Path(directory).absolute()
        if len(str(self.directory)) > _MAX_DIR_LEN:
            raise ValueError(
                f"directory path longer than {_MAX_DIR_LEN} characters: {self.directory} "
                "(Slurm puts Unix sockets below it)"
            )
        self.name = name
        self.partition = partition
        self.min_job_age = min_job_age
        self.message_timeout = message_timeout
        self.device_major = device_major
        self.start_timeout = start_timeout
        self.conf_path = self.directory / "slurm.conf"
        self._shapes = tuple(shapes)
        self._given_ports = list(ports) if ports is not None else None
        self._shared_munge = munge
        self._own_munge: LocalMunge | None = None
        self._ctld: _Daemon | None = None
        self._slurmds: list[_Daemon] = []
        self._nodes: tuple[NodeInfo, ...] = ()
        self._controller_port = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ information

    @property
    def nodes(self) -> tuple[NodeInfo, ...]:
        """The nodes (names, ports, fake GPU devices); empty before :meth:`start`."""
        return self._nodes

    @property
    def node_names(self) -> list[str]:
        """Slurm names of the nodes, e.g. ``["a-1", "a-2"]`` (known before start)."""
        return [f"{self.name}-{i}" for i in range(1, len(self._shapes) + 1)]

    @property
    def gpus_by_type(self) -> dict[str, int]:
        """Number of fake GPUs in the cluster per GPU type, e.g. ``{"h100": 8}``."""
        totals: dict[str, int] = {}
        for shape in self._shapes:
            if shape.gpus:
                totals[shape.gpu_type] = totals.get(shape.gpu_type, 0) + shape.gpus
        return totals

    @property
    def total_gpus(self) -> int:
        """Number of fake GPUs in the cluster."""
        return sum(shape.gpus for shape in self._shapes)

    @property
    def controller_port(self) -> int:
        """The ``SlurmctldPort``; 0 before :meth:`start`."""
        return self._controller_port

    @property
    def controller_running(self) -> bool:
        """Whether this object's ``slurmctld`` process is running."""
        return self._ctld is not None and self._ctld.alive

    @property
    def munge_socket(self) -> Path:
        """The MUNGE socket this cluster authenticates through."""
        munge = self._shared_munge or self._own_munge
        if munge is None:
            raise LocalSlurmError(f"cluster {self.name} is not started")
        return munge.socket

    @property
    def env(self) -> dict[str, str]:
        """Environment for Slurm client commands aimed at this cluster.

        A copy of this process's environment without any ``SLURM_*`` variable, plus
        ``SLURM_CONF`` pointing at this cluster's ``slurm.conf`` (and sbin on ``PATH``).
        Jobs submitted with it inherit it (``sbatch`` exports the environment by default).
        """
        env = _clean_env(os.environ)
        env["SLURM_CONF"] = str(self.conf_path)
        return env

    def __repr__(self) -> str:
        shapes = ", ".join(f"{s.gpus}x{s.gpu_type}" for s in self._shapes)
        return (
            f"LocalSlurmCluster(name={self.name!r}, directory={str(self.directory)!r}, "
            f"nodes=[{shapes}])"
        )

    # ------------------------------------------------------------------ commands

    def run(
        self, *args: str, timeout: float = 30.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command (``run("squeue", "--json")``) against this cluster.

        Captures text output. With ``check=True`` a non-zero exit raises
        :class:`LocalSlurmError` carrying the command's stderr.
        """
        if not args:
            raise ValueError("run() needs a command")
        argv = [_binary(args[0]), *args[1:]]
        try:
            done = subprocess.run(
                argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as err:
            raise LocalSlurmError(
                f"{' '.join(args)} timed out after {timeout} s on cluster {self.name}"
            ) from err
        if check and done.returncode != 0:
            raise LocalSlurmError(
                f"{' '.join(args)} failed on cluster {self.name} (exit {done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
        return done

    def controller_reachable(self, timeout: float = 15.0) -> bool:
        """Whether ``scontrol ping`` reaches the controller."""
        try:
            done = self.run("scontrol", "ping", timeout=timeout)
        except LocalSlurmError:
            return False
        return done.returncode == 0 and " is UP" in done.stdout

    def node_states(self) -> dict[str, str]:
        """State of each node as ``sinfo`` prints it (``idle``, ``mixed``, ``down*``, ...)."""
        done = self.run("sinfo", "--noheader", "--Node", "--format=%N|%T", check=True)
        states: dict[str, str] = {}
        for line in done.stdout.splitlines():
            node, _, state = line.strip().partition("|")
            if node:
                states[node] = state
        return states

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Write the configuration, start MUNGE (if not shared), the controller and the nodes.

        Returns when every node is idle. On any failure everything started so far is
        stopped and :class:`LocalSlurmError` is raised with the failing daemon's log tail.
        """
        reason = unavailable_reason()
        if reason is not None:
            raise LocalSlurmError(reason)
        with self._lock:
            if self._ctld is not None or self._slurmds:
                raise LocalSlurmError(f"cluster {self.name} is already started")
        try:
            self._prepare()
            if self._shared_munge is None:
                self._own_munge = LocalMunge(self.directory / "munge")
                self._own_munge.start()
            elif not self._shared_munge.running:
                raise LocalSlurmError("the shared LocalMunge is not running; start it first")
            self._start_ctld(clear_state=True)
            self._wait_controller(self.start_timeout)
            self._start_slurmds()
            self.wait_ready(self.start_timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process this cluster started: daemons, job steps and their jobs, MUNGE.

        Safe to call more than once and after a failed start. Job processes are found as the
        ``slurmstepd`` processes whose environment names this cluster's ``slurm.conf``, and
        their descendants.
        """
        with self._lock:
            daemons = [d for d in (self._ctld, *self._slurmds) if d is not None]
            for daemon in daemons:
                daemon.send_stop()
            for daemon in daemons:
                daemon.wait_stopped(10.0)
            self._ctld = None
            self._slurmds = []
            _kill_job_steps(self.conf_path)
            if self._own_munge is not None:
                self._own_munge.stop()
                self._own_munge = None

    def stop_controller(self) -> None:
        """Stop ``slurmctld`` (SIGTERM: it saves its state), leaving the ``slurmd``s running.

        Client commands then fail (see the module docstring) until :meth:`start_controller`.
        """
        with self._lock:
            if self._ctld is None:
                raise LocalSlurmError(f"controller of cluster {self.name} is not running")
            self._ctld.stop(timeout=15.0)
            self._ctld = None

    def start_controller(self, timeout: float | None = None) -> None:
        """Start ``slurmctld`` again, recovering jobs from ``StateSaveLocation``.

        Returns when the controller answers; nodes re-register within a few seconds
        (use :meth:`wait_ready` with ``idle=False`` to wait for them).
        """
        with self._lock:
            if self._ctld is not None and self._ctld.alive:
                raise LocalSlurmError(f"controller of cluster {self.name} is already running")
        self._start_ctld(clear_state=False)
        self._wait_controller(self.start_timeout if timeout is None else timeout)

    def wait_ready(self, timeout: float = 60.0, *, idle: bool = True) -> None:
        """Wait until every node is up: ``idle`` (default), or with ``idle=False`` also busy.

        Raises :class:`LocalSlurmError` with node states and log tails on timeout, or at
        once when a daemon has died.
        """
        deadline = time.monotonic() + timeout
        wanted = {"idle"} if idle else {"idle", "mixed", "allocated", "completing"}
        states: dict[str, str] = {}
        while True:
            self._check_daemons()
            with contextlib.suppress(LocalSlurmError):
                states = self.node_states()
                if set(states) == set(self.node_names) and all(
                    state in wanted for state in states.values()
                ):
                    return
            if time.monotonic() > deadline:
                raise LocalSlurmError(
                    f"nodes of cluster {self.name} not ready after {timeout:.0f} s: "
                    f"{states or 'no answer'}\n{self._diagnostics()}"
                )
            time.sleep(0.1)

    def __enter__(self) -> LocalSlurmCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _prepare(self) -> None:
        d = self.directory
        for sub in ("state", "spool", "log", "run", "dev"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        ports = self._given_ports or pick_free_ports(len(self._shapes) + 1)
        self._controller_port = ports[0]
        nodes: list[NodeInfo] = []
        for name, shape, port in zip(self.node_names, self._shapes, ports[1:], strict=True):
            (d / "spool" / name).mkdir(exist_ok=True)
            devices = self._make_devices(d / "dev" / name, shape.gpus)
            nodes.append(NodeInfo(name=name, port=port, shape=shape, devices=devices))
        self._nodes = tuple(nodes)
        munge = self._shared_munge.socket if self._shared_munge else d / "munge" / "munge.socket"
        (d / "plugstack.conf").write_text("# no SPANK plugins\n")
        self.conf_path.write_text(self._slurm_conf(munge))
        (d / "gres.conf").write_text(self._gres_conf())

    def _make_devices(self, directory: Path, count: int) -> tuple[Path, ...]:
        directory.mkdir(parents=True, exist_ok=True)
        devices = []
        for i in range(count):
            path = directory / f"nvidia{i}"
            mode = stat.S_IFCHR | 0o666
            if path.exists():
                st = path.stat()
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(self.device_major, i):
                    devices.append(path)
                    continue
                path.unlink()
            try:
                os.mknod(path, mode, os.makedev(self.device_major, i))
            except OSError as err:
                raise LocalSlurmError(f"cannot create fake GPU device {path}: {err}") from err
            devices.append(path)
        return tuple(devices)

    def _slurm_conf(self, munge_socket: Path) -> str:
        d = self.directory
        host = socket.gethostname().split(".")[0]
        lines = [
            "# Written by devtools.slurm_local: a throw-away local test cluster.",
            f"ClusterName={self.name}",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={self._controller_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            f"StateSaveLocation={d}/state",
            f"SlurmdSpoolDir={d}/spool/%n",
            f"SlurmctldPidFile={d}/run/slurmctld.pid",
            f"SlurmdPidFile={d}/run/slurmd-%n.pid",
            f"SlurmctldLogFile={d}/log/slurmctld.log",
            f"SlurmdLogFile={d}/log/slurmd-%n.log",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            f"PlugStackConfig={d}/plugstack.conf",
            "SlurmdParameters=config_overrides",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "GresTypes=gpu",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=sched_interval=1,bf_interval=1",
            "ReturnToService=2",
            f"MinJobAge={self.min_job_age}",
            f"MessageTimeout={self.message_timeout}",
            "SlurmctldTimeout=120",
            "SlurmdTimeout=300",
            "InactiveLimit=0",
            "KillWait=2",
            "Waittime=0",
        ]
        for node in self._nodes:
            shape = node.shape
            gres = f" Gres={node.gres}" if node.gres else ""
            lines.append(
                f"NodeName={node.name} NodeHostname={host} NodeAddr=127.0.0.1 Port={node.port} "
                f"CPUs={shape.cpus} RealMemory={shape.memory_mb}{gres} State=UNKNOWN"
            )
        lines.append(
            f"PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
        )
        return "\n".join(lines) + "\n"

    def _gres_conf(self) -> str:
        lines = ["# Written by devtools.slurm_local: fake GPUs (mknod, major 195)."]
        for node in self._nodes:
            if node.devices:
                last = len(node.devices) - 1
                files = node.devices[0].parent / f"nvidia[0-{last}]"
                lines.append(
                    f"NodeName={node.name} Name=gpu Type={node.shape.gpu_type} File={files}"
                )
        return "\n".join(lines) + "\n"

    def _daemon_env(self) -> dict[str, str]:
        return self.env

    def _start_ctld(self, *, clear_state: bool) -> None:
        argv = [_binary("slurmctld"), "-D", "-f", str(self.conf_path)]
        if clear_state:
            argv.append("-c")
        log = self.directory / "log"
        daemon = _Daemon("slurmctld", argv, log / "slurmctld.log", log / "slurmctld.out")
        with self._lock:
            self._ctld = daemon
            daemon.start(self._daemon_env(), self.directory)

    def _start_slurmds(self) -> None:
        log = self.directory / "log"
        with self._lock:
            for node in self._nodes:
                argv = [_binary("slurmd"), "-D", "-f", str(self.conf_path), "-N", node.name]
                daemon = _Daemon(
                    f"slurmd {node.name}",
                    argv,
                    log / f"slurmd-{node.name}.log",
                    log / f"slurmd-{node.name}.out",
                )
                self._slurmds.append(daemon)
                daemon.start(self._daemon_env(), self.directory)

    def _wait_controller(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_daemons()
            # Ask the controller only once it listens: a client command against a port with
            # no listener blocks for about MessageTimeout seconds.
            if _port_open(self._controller_port) and self.controller_reachable(
                timeout=max(5.0, self.message_timeout + 2.0)
            ):
                return
            if time.monotonic() > deadline:
                raise LocalSlurmError(
                    f"slurmctld of cluster {self.name} did not answer in {timeout:.0f} s\n"
                    f"{self._diagnostics()}"
                )
            time.sleep(0.1)

    def _check_daemons(self) -> None:
        dead = [d for d in (self._ctld, *self._slurmds) if d is not None and not d.alive]
        if dead:
            details = "\n".join(d.diagnostics() for d in dead)
            raise LocalSlurmError(f"a daemon of cluster {self.name} exited\n{details}")

    def _diagnostics(self) -> str:
        return "\n".join(d.diagnostics() for d in (self._ctld, *self._slurmds) if d is not None)


def _port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _proc_table() -> dict[int, int]:
    """Map pid → parent pid for every process visible in /proc."""
    table: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1:
            table[int(entry)] = int(fields[1])
    return table


def _job_step_pids(conf_path: Path) -> set[int]:
    """Pids of the ``slurmstepd`` processes of the cluster whose config is ``conf_path``."""
    marker = f"SLURM_CONF={conf_path}".encode()
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes()
            if not cmdline.startswith(b"slurmstepd"):
                continue
            environ = Path("/proc", entry, "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            found.add(int(entry))
    return found


def _with_descendants(roots: set[int], table: Mapping[int, int]) -> set[int]:
    result = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, ppid in table.items():
            if ppid in result and pid not in result:
                result.add(pid)
                grew = True
    return result


def _kill_job_steps(conf_path: Path) -> None:
    """SIGKILL the job steps of a cluster and everything they started.

    The processes are first stopped (SIGSTOP) so that none can fork while the set is
    collected, then killed.
    """
    for _round in range(5):
        roots = _job_step_pids(conf_path)
        if not roots:
            return
        victims = _with_descendants(roots, _proc_table())
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        victims = _with_descendants(victims, _proc_table())
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _run_checked(argv: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise LocalSlurmError(f"{' '.join(argv)} timed out after {timeout} s") from err
    if done.returncode != 0:
        raise LocalSlurmError(
            f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()}"
        )


# ---------------------------------------------------------------------- several clusters


@contextlib.contextmanager
def local_clusters(
    base: Path | str,
    sites: Sequence[str],
    *,
    nodes: int = 2,
    gpus_per_node: int = 4,
    gpu_type: str = "h100",
    cpus_per_node: int = 8,
    on_started: Callable[[LocalSlurmCluster], None] | None = None,
) -> Iterator[list[LocalSlurmCluster]]:
    """Start one cluster per site name under ``base`` (sharing one MUNGE), in parallel.

    Yields the started clusters and stops all of them (and MUNGE) on exit.
    """
    base = Path(base).absolute()
    with LocalMunge(base / "munge") as munge:
        shape = NodeShape(gpus_per_node, gpu_type, cpus_per_node)
        ports = pick_free_ports(len(sites) * (nodes + 1))
        clusters = [
            LocalSlurmCluster(
                base / site,
                name=site,
                nodes=[shape] * nodes,
                munge=munge,
                ports=ports[i * (nodes + 1) : (i + 1) * (nodes + 1)],
            )
            for i, site in enumerate(sites)
        ]
        try:
            start_all(clusters)
            for cluster in clusters:
                if on_started is not None:
                    on_started(cluster)
            yield clusters
        finally:
            for cluster in clusters:
                cluster.stop()


def start_all(clusters: Sequence[LocalSlurmCluster]) -> None:
    """Start several clusters at the same time (one thread each).

    When any fails, all are stopped and the first error is raised. Give them ports picked
    in one :func:`pick_free_ports` call so that they cannot pick the same ones.
    """
    errors: list[BaseException] = []

    def start(cluster: LocalSlurmCluster) -> None:
        try:
            cluster.start()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=start, args=(c,), name=f"start-{c.name}") for c in clusters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for cluster in clusters:
            cluster.stop()
        raise errors[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Start local clusters, print their ``SLURM_CONF`` exports, wait for Ctrl-C, stop them."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.slurm_local",
        description="Start throw-away local Slurm clusters (one per site) until Ctrl-C.",
    )
    parser.add_argument("--sites", default="a", help="comma-separated site names (default: a)")
    parser.add_argument("--nodes", type=int, default=2, help="nodes per site (default: 2)")
    parser.add_argument("--gpus", type=int, default=4, help="fake GPUs per node (default: 4)")
    parser.add_argument("--type", default="h100", help="GPU type (default: h100)")
    parser.add_argument("--cpus", type=int, default=8, help="declared CPUs per node (default: 8)")
    parser.add_argument("--dir", help="base directory (default: a new one under /tmp)")
    args = parser.parse_args(argv)
    sites = [s.strip() for s in str(args.sites).split(",") if s.strip()]
    if not sites:
        parser.error("--sites is empty")
    reason = unavailable_reason()
    if reason is not None:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    made_dir = args.dir is None
    base = Path(tempfile.mkdtemp(prefix="suanli-slurm-")) if made_dir else Path(args.dir)
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop_requested.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = time.monotonic()
        with local_clusters(
            base,
            sites,
            nodes=args.nodes,
            gpus_per_node=args.gpus,
            gpu_type=args.type,
            cpus_per_node=args.cpus,
        ) as clusters:
            elapsed = time.monotonic() - started
            print(f"# {len(clusters)} local Slurm cluster(s) up in {elapsed:.1f} s under {base}")
            for cluster in clusters:
                gpus = ", ".join(f"{n} x {t}" for t, n in cluster.gpus_by_type.items())
                print(
                    f"# site {cluster.name}: nodes {','.join(cluster.node_names)}; "
                    f"GPUs {gpus or 'none'}; partition {cluster.partition}"
                )
                print(f"export SLURM_CONF_{cluster.name.upper()}={cluster.conf_path}")
            print(f"export SLURM_CONF={clusters[0].conf_path}")
            print("# Ctrl-C stops the clusters.", flush=True)
            while not stop_requested.wait(1.0):
                pass
            print("# stopping ...", file=sys.stderr)
    except LocalSlurmError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if made_dir:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
