"""Independent pieces of an experiment in parallel: on this machine's cores, or as tasks on
a Ray cluster.

:func:`run_all` calls ``fn(shared, item)`` for every item and returns the results in item
order, whatever order they finished in, so a result never depends on where it ran.
``shared`` — a scenario, a trace, the jobs of a run — is what every call needs: on Ray it
is put once in the object store and every task reads it from there; on this machine each
process of the pool gets it with its task. Ray needs ``pip install 'suanli[ray]'`` here,
and suanli (with the same dependencies) on the cluster's nodes; ``ray`` is
``"auto"`` (the cluster of ``RAY_ADDRESS`` or this host's) or a cluster address
(``host:port`` of its GCS, or ``ray://host:10001``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from suanli.errors import InputError, Problem

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

Progress = Callable[[int, int], None]


def run_all(
    fn: Callable[[S, T], R],
    shared: S,
    items: Sequence[T],
    *,
    workers: int | None = None,
    ray: str | None = None,
    progress: Progress | None = None,
) -> list[R]:
    """``[fn(shared, item) for item in items]``, in parallel (see the module docstring)."""
    if ray is not None:
        return _on_ray(fn, shared, items, ray, progress)
    workers = workers or os.cpu_count() or 1
    results: list[Any] = [None] * len(items)
    if workers == 1 or len(items) <= 1:
        for i, item in enumerate(items):
            results[i] = fn(shared, item)
            if progress:
                progress(i + 1, len(items))
        return results
    with ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = {pool.submit(fn, shared, item): i for i, item in enumerate(items)}
        for done, fut in enumerate(as_completed(futures), start=1):
            results[futures[fut]] = fut.result()
            if progress:
                progress(done, len(items))
    return results


def _reachable(address: str) -> None:
    """For a ``host:port`` address, fail at once when nothing listens there (``ray.init``
    would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise InputError(
            [
                Problem(
                    "--ray",
                    "",
                    f"cannot connect to the Ray cluster at {address!r}: {exc}",
                    "give its GCS address (host:6379), ray://host:10001, or auto",
                )
            ]
        ) from None


def _on_ray(
    fn: Callable[[S, T], R], shared: S, items: Sequence[T], address: str, progress: Progress | None
) -> list[R]:
    try:
        import ray
    except ImportError:
        raise InputError(
            [Problem("--ray", "", "Ray is not installed", "pip install 'suanli[ray]'")]
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        _reachable(address)
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(
                [
                    Problem(
                        "--ray",
                        "",
                        f"cannot connect to the Ray cluster at {address!r}: {exc}",
                        "give its GCS address (host:6379), ray://host:10001, or auto",
                    )
                ]
            ) from None
    try:
        task = ray.remote(fn)
        ref = ray.put(shared)
        pending = {task.remote(ref, item): i for i, item in enumerate(items)}
        results: list[Any] = [None] * len(items)
        waiting = list(pending)
        done = 0
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for r in ready:
                results[pending[r]] = ray.get(r)
                done += 1
                if progress:
                    progress(done, len(items))
        return results
    finally:
        if started_here:
            ray.shutdown()
