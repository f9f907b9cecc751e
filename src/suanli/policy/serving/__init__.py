"""Serving policies: how many replicas of each service, where, tick by tick.

``static-peak`` (replicas for the horizon's peak, nearest the users, never changed),
``reactive`` (scale on observed load per replica, as Kubernetes' HPA) and ``suanli``
(forecast, cost- and carbon-aware placement, batch work in the troughs). Each registers
itself in :mod:`suanli.policy.registry`.
"""

from suanli.policy.serving import reactive, static_peak, tidal

__all__ = ["reactive", "static_peak", "tidal"]
