"""Scheduling policies, in one registry (:mod:`.registry`): ``fifo``, ``backfill``,
``greedy-cost``, ``las``, ``maxmin-het`` and ``suanli``, each a module; what several share
is in :mod:`.common`, :mod:`.costs` and :mod:`.freed`. The interface they implement is
:mod:`suanli.core.policy`."""
