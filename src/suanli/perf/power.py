"""Power of a site.

With ``b_a`` busy and ``i_a`` idle devices of type *a*, TDP ``W_a``, idle power
``w_a`` and the running work's power factor ``f`` (share of TDP drawn when busy):

.. math::

    P_{IT} = \\sum_a b_a W_a f + i_a w_a , \\qquad P_{facility} = \\mathrm{PUE} \\cdot P_{IT},

and the facility power must never exceed the site's capacity.
"""

from __future__ import annotations

from collections.abc import Mapping

from suanli.model.accelerator import Accelerator
from suanli.model.fleet import Site


def device_power_w(acc: Accelerator, busy: bool, power_factor: float = 1.0) -> float:
    """Power of one device: ``TDP × power_factor`` when busy, idle power otherwise."""
    tdp = acc.tdp_w or 0.0
    return tdp * power_factor if busy else acc.idle_power_w


def busy_increment_w(acc: Accelerator, power_factor: float) -> float:
    """Extra IT power when one idle device starts work."""
    return device_power_w(acc, True, power_factor) - device_power_w(acc, False)


def facility_power_w(it_power_w: float, pue: float) -> float:
    """Facility power from IT power."""
    return it_power_w * pue


def site_power_mw(
    site: Site, catalog: Mapping[str, Accelerator], busy_fraction: float, power_factor: float = 1.0
) -> float:
    """Facility power (MW) with ``busy_fraction`` of every pool busy at ``power_factor``."""
    it = 0.0
    for pool in site.pools:
        acc = catalog[pool.accelerator]
        busy = pool.count * busy_fraction
        it += busy * device_power_w(acc, True, power_factor)
        it += (pool.count - busy) * device_power_w(acc, False)
    return facility_power_w(it, site.pue) / 1e6


def idle_site_power_mw(site: Site, catalog: Mapping[str, Accelerator]) -> float:
    """Facility power (MW) with every device idle."""
    return site_power_mw(site, catalog, 0.0)


def peak_site_power_mw(site: Site, catalog: Mapping[str, Accelerator]) -> float:
    """Facility power (MW) with every device at TDP."""
    return site_power_mw(site, catalog, 1.0, 1.0)
