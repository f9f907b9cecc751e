"""Messages to the control loop, and the per-site workers that post them.

Each site's commands (submit, list, cancel) run in a thread of their own, one at a
time and in order, so that a slow or dead controller holds up nobody else; the outcome
of each goes back to the loop's inbox as a message. A worker that is not started runs
its queued commands only when :meth:`SiteWorker.run_pending` is called — how a test
steps the control plane deterministically.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

from suanli.sites.base import Listing, SiteBackend, SubmitRequest, SubmitResult
from suanli.store.records import JobRecord

log = logging.getLogger("suanli.control")


@dataclass(frozen=True, slots=True)
class Admit:
    """A job was committed by the API: schedule it."""

    record: JobRecord


@dataclass(frozen=True, slots=True)
class Cancel:
    """A job's cancellation was committed by the API: carry it out."""

    job_id: int


@dataclass(frozen=True, slots=True)
class Submitted:
    """A site answered a submission."""

    result: SubmitResult


@dataclass(frozen=True, slots=True)
class Listed:
    """A site listed its jobs (or failed to)."""

    listing: Listing


@dataclass(frozen=True, slots=True)
class CancelDone:
    """A site answered a cancellation (``error`` is None on success)."""

    site: str
    external_id: str
    error: str | None


class TenantsChanged:
    """A tenant was created: the scheduling tables must be rebuilt."""


class ServicesChanged:
    """A service was created, changed or deleted: the serving tables must be rebuilt."""


class SiteWorker:
    """Runs one site's commands in order, in a thread of its own once started; posts
    results back."""

    def __init__(self, backend: SiteBackend, inbox: queue.Queue[object]) -> None:
        self.backend = backend
        self.inbox = inbox
        self.commands: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.listing = False
        self.thread = threading.Thread(
            target=self._run, name=f"suanli-site-{backend.name}", daemon=True
        )

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def stop(self) -> None:
        """Finish the queued commands' current one, then end the thread."""
        self.commands.put(None)

    def submit(self, req: SubmitRequest) -> None:
        """Queue a submission."""
        self.commands.put(("submit", req))

    def cancel(self, external_id: str) -> None:
        """Queue a cancellation."""
        self.commands.put(("cancel", external_id))

    def request_listing(self) -> bool:
        """Queue a listing unless one is pending; whether one was queued."""
        if self.listing:
            return False
        self.listing = True
        self.commands.put(("list", None))
        return True

    def run_pending(self) -> None:
        """Run every queued command now, in this thread (for a worker never started)."""
        while True:
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                return
            if cmd is not None:
                self._execute(*cmd)

    def _run(self) -> None:
        while True:
            cmd = self.commands.get()
            if cmd is None:
                return
            self._execute(*cmd)

    def _execute(self, kind: str, arg: Any) -> None:
        try:
            if kind == "submit":
                self.inbox.put(Submitted(self.backend.submit(arg)))
            elif kind == "cancel":
                err = self.backend.cancel(arg)
                self.inbox.put(CancelDone(self.backend.name, arg, err))
            else:
                listing = self.backend.list_jobs()
                self.listing = False
                self.inbox.put(Listed(listing))
        except Exception:  # a backend bug must not kill the worker
            log.exception("site %s: %s failed", self.backend.name, kind)
            if kind == "list":
                self.listing = False
