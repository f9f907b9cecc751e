"""Install suanli as a user does, and run it: the wheel smoke test (part of ``make test``).

1. Build the wheel from the checkout (``pip wheel``, with build isolation).
2. Check that it holds every data file: each non-Python file under ``src/suanli``.
3. Install it in a fresh virtual environment outside the checkout.
4. From a directory outside the checkout, run ``suanli validate``, a short
   ``suanli simulate``, ``suanli plan`` and ``suanli serve --dry-run`` up to a healthy
   ``/health``.

An editable install reads data files from the source tree and so hides a file missing
from the package; this does not. Run: ``python scripts/wheel_smoke.py`` (exit 0: passed).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHORT_SCENARIO = """\
name: wheel-smoke
horizon: {start: 2026-03-02T00:00:00+08:00, hours: 24}
sites:
  - id: east
    name: East DC
    location: {lat: 31.2, lon: 121.5}
    grid_region: East China
    pue: 1.25
    power_capacity_mw: 1.0
    tariff: {base_per_kwh: 0.65}
    carbon: {kg_per_kwh: 0.6}
    pools:
      - {accelerator: nvidia_h100_sxm5, count: 64}
tenants:
  - {id: lab, name: Lab}
workload:
  generator:
    seed: 1
    reference_accelerator: nvidia_h100_sxm5
    classes:
      - name: train
        tenant: lab
        profile: dl-training
        jobs_per_day: 24
        gang: {choice: [1, 2, 4, 8]}
        hours_on_reference: {lognormal: {median: 1, mean: 2}}
"""


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run a command; print and fail on a non-zero exit."""
    print("$", " ".join(argv), flush=True)
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        sys.exit(f"FAILED ({done.returncode}): {' '.join(argv)}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def check_contents(wheel: Path) -> None:
    """Every non-Python file of the package is in the wheel; no development tooling is."""
    src = ROOT / "src"
    want = {
        p.relative_to(src).as_posix()
        for p in (src / "suanli").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    have = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(want - have)
    if missing:
        sys.exit(f"FAILED: the wheel lacks data files: {missing}; add them to package-data")
    dev = sorted(n for n in have if n.startswith("devtools/") or "_local.py" in n)
    if dev:
        sys.exit(f"FAILED: development tooling in the wheel: {dev}")
    print(f"wheel holds all {len(want)} data files", flush=True)


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_until_healthy(suanli: Path, cwd: Path, env: dict[str, str]) -> None:
    """Start ``suanli serve --dry-run``, wait for ``/health`` to answer 200, stop it."""
    port = free_port()
    env = {**env, "SUANLI_ADMIN_TOKEN": secrets.token_hex(16)}
    argv = [str(suanli), "serve", "--dry-run", "--db", str(cwd / "smoke.db"), "--port", str(port)]
    print("$", " ".join(argv), flush=True)
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                sys.exit(f"FAILED: suanli serve exited {proc.returncode}\n{out}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        print(f"/health: {r.read().decode()}", flush=True)
                        return
            except OSError:
                pass
            time.sleep(0.5)
        sys.exit("FAILED: /health did not answer within 120 s")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    """Build, check, install and run (see the module docstring)."""
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="suanli-wheel-") as d:
        tmp = Path(d)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), str(ROOT)],
            tmp,
            env,
        )
        (wheel,) = tmp.glob("suanli-*.whl")
        check_contents(wheel)
        venv = tmp / "venv"
        base_python = getattr(sys, "_base_executable", sys.executable)
        run([base_python, "-m", "venv", str(venv)], tmp, env)
        run([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(wheel)], tmp, env)
        work = tmp / "work"
        work.mkdir()
        suanli = venv / "bin/suanli"
        run([str(suanli), "validate"], work, env)
        (work / "smoke.yaml").write_text(SHORT_SCENARIO, encoding="utf-8")
        run([str(suanli), "simulate", "smoke.yaml", "-p", "fifo", "--out", "sim"], work, env)
        if not (work / "sim/index.html").is_file():
            sys.exit("FAILED: suanli simulate wrote no sim/index.html")
        run([str(suanli), "plan", "--out", "plan"], work, env)
        if not (work / "plan/index.html").is_file():
            sys.exit("FAILED: suanli plan wrote no plan/index.html")
        serve_until_healthy(suanli, work, env)
        shutil.rmtree(venv, ignore_errors=True)
    print(f"wheel smoke test passed in {time.monotonic() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
