"""Network latency between a user region and a site.

When the region names a site in its city, the latency to any site is that of the
scenario's link between the two (0 to the site itself). Otherwise it comes from the
great-circle distance *D* (km, haversine on a sphere of radius 6,371 km): light in
fibre covers about 200 km per ms, and fibre routes run longer than the great circle
by a factor *f*, so the one-way latency is

.. math:: \\ell = \\ell_0 + \\frac{f \\, D}{200} \\quad\\text{ms},

with ``ℓ₀ = 1`` ms for the access network and routers and ``f = 1.5`` (ASSUMPTIONS:
round figures; measured routes in China and elsewhere are mostly between 1.3× and 2×
the great circle).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from suanli.model.fleet import Link, Site
from suanli.model.service import UserRegion

EARTH_RADIUS_KM = 6371.0
FIBRE_KM_PER_MS = 200.0
ROUTE_FACTOR = 1.5
ACCESS_MS = 1.0


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_latency_ms(km: float) -> float:
    """One-way latency over ``km`` of great-circle distance."""
    return ACCESS_MS + ROUTE_FACTOR * km / FIBRE_KM_PER_MS


def region_latency_ms(
    region: UserRegion, site: Site, link: Callable[[str, str], Link | None]
) -> float:
    """One-way latency (ms) between ``region``'s users and ``site`` (``link(a, b)``
    finds the scenario's link between two sites)."""
    if region.site is not None:
        if region.site == site.id:
            return ACCESS_MS
        ln = link(region.site, site.id)
        if ln is not None:
            return ACCESS_MS + ln.latency_ms
    return distance_latency_ms(distance_km(region.lat, region.lon, site.lat, site.lon))
