"""Memory fit: the smallest gang whose HBM holds the job.

A profile needs ``M`` GB of HBM across its gang (weights, optimizer state,
activations or KV cache). A device with ``m`` GB offers ``u·m`` of it, ``u`` the
usable fraction (runtime, fragmentation; default 0.9, an assumption). The
minimum gang is

.. math:: n_{\\min} = \\lceil M / (u\\, m) \\rceil .
"""

from __future__ import annotations

import math

from suanli.model.accelerator import Accelerator
from suanli.model.job import WorkloadProfile

USABLE_FRACTION = 0.9


def min_devices(
    acc: Accelerator, profile: WorkloadProfile, usable_fraction: float = USABLE_FRACTION
) -> int:
    """Smallest number of devices of ``acc`` whose memory holds ``profile`` (≥ 1)."""
    if not acc.mem_gb:
        raise ValueError(f"accelerator {acc.id} has no memory size")
    return max(1, math.ceil(profile.memory_gb / (usable_fraction * acc.mem_gb) - 1e-9))


def fits(acc: Accelerator, profile: WorkloadProfile, devices: int) -> bool:
    """Whether ``devices`` devices of ``acc`` hold the profile."""
    return devices >= min_devices(acc, profile)
