"""Clocks: scaled scenario time, real intervals, and site times read on a clock."""

from __future__ import annotations

import time

import pytest

from suanli.clock import ScaledClock, SteppedClock, SystemClock
from suanli.sites.base import SiteJob, SiteJobState


def test_a_scaled_clock_runs_scenario_time_faster() -> None:
    real0 = time.time()
    c = ScaledClock(epoch0=1_000.0, scale=60.0, real0=real0)
    assert c.from_wall(real0) == 1_000.0 and c.from_wall(real0 + 2.0) == 1_120.0
    assert c.to_wall(1_120.0) == pytest.approx(real0 + 2.0)
    assert abs(c.time() - 1_000.0) < 60.0  # read just now
    m0 = c.monotonic()
    assert 0.0 <= c.monotonic() - m0 < 1.0  # intervals stay real
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0.0, 0.0)
    assert SystemClock().from_wall(5.0) == 5.0 and SteppedClock(3.0).from_wall(5.0) == 5.0
    with pytest.raises(ValueError, match="cannot go back"):
        SteppedClock(3.0).set(2.0)


def test_site_times_are_read_on_the_backends_clock() -> None:
    job = SiteJob("1", SiteJobState.DONE, "COMPLETED", "", "t", 0, 100.0, 110.0)
    on = job.on(ScaledClock(epoch0=0.0, scale=10.0, real0=90.0))
    assert (on.start_time, on.end_time) == (100.0, 200.0)
    assert job.on(SystemClock()) == job
    pending = SiteJob("2", SiteJobState.PENDING, "PENDING", "", "t", None, None, None)
    assert pending.on(ScaledClock(0.0, 10.0, 0.0)) is pending
