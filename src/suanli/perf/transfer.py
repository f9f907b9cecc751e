"""Moving a data set between sites.

Over a link of bandwidth ``β`` (Gbit/s), latency ``λ`` (ms) and price ``κ`` per GB,
a data set of ``S`` TB takes

.. math:: T = \\frac{8 \\cdot 10^{12} S}{10^9 \\beta} + \\frac{\\lambda}{1000} \\quad\\text{s},
   \\qquad \\text{egress} = 1000\\, S\\, \\kappa .

Residency rules (a data set that may not leave its region) are checked by
:meth:`suanli.model.Dataset.may_use`; without a link no transfer is possible.
"""

from __future__ import annotations

from suanli.model.fleet import Link


def transfer_seconds(size_tb: float, link: Link) -> float:
    """Seconds to copy ``size_tb`` over ``link``."""
    return size_tb * 8e12 / (link.bandwidth_gbps * 1e9) + link.latency_ms / 1000.0


def egress_cost(size_tb: float, link: Link) -> float:
    """Cost of copying ``size_tb`` over ``link`` (scenario currency)."""
    return size_tb * 1000.0 * link.cost_per_gb
