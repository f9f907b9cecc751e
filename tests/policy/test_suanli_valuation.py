"""``value_all`` gives, class by class, the numbers ``value`` gives one class at a time.

``value_all`` values every class of a round in one set of arrays, keeps the arrays that
depend on the classes' signatures alone between rounds (:class:`Layouts`), and takes each
class's mean cost and carbon in Python where numpy would add in order: the decisions
rest on these numbers to the last bit, so they are compared exactly, on every round of
a run with classes of fewer and of more than 8 candidates.
"""

from __future__ import annotations

import numpy as np
import pytest

import suanli.policy.suanli as suanli_policy
from suanli.policy.registry import make_policy
from suanli.policy.suanli.utility import _class_means, value, value_all
from suanli.sim.engine import Simulator
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0
TOU = [
    {"name": "valley", "multiplier": 0.4, "hours": ["00-08"]},
    {"name": "peak", "multiplier": 1.6, "hours": ["08-22"]},
]


def test_class_means_are_numpys_to_the_last_bit() -> None:
    rng = np.random.default_rng(7)
    for _ in range(2000):
        sizes = rng.integers(1, 20, rng.integers(1, 12))
        ends = np.cumsum(sizes).tolist()
        starts = [0, *ends[:-1]]
        x = rng.random(int(sizes.sum())) * 10.0 ** rng.uniform(-6, 6, int(sizes.sum()))
        got = _class_means(x, starts, ends)
        assert got == [max(float(x[a:b].mean()), 1e-12) for a, b in zip(starts, ends, strict=True)]


@pytest.mark.parametrize("sites_n", [2, 5])  # 4 and 10 candidates per class
def test_value_all_equals_value_class_by_class(sites_n: int) -> None:
    sites = []
    for i in range(sites_n):
        s = site(f"s{i}", [(H100, 16), (ASCEND, 16)], price=0.3 + 0.1 * i, carbon=0.2 + 0.15 * i)
        if i % 2:
            s["tariff"] = {"base_per_kwh": 0.5, "time_of_use": TOU}
        sites.append(s)
    tenants = [{"id": "a", "name": "A", "weight": 2.0}, {"id": "b", "name": "B"}]
    sc = scenario(sites, hours=72, tenants=tenants)
    rng = np.random.default_rng(3)
    jobs = [
        job(
            f"j{k}",
            float(rng.uniform(0, 20 * HOUR)),
            int(rng.choice([1, 2, 4, 8])),
            float(rng.uniform(0.2, 6.0)) * HOUR,
            tenant=str(rng.choice(["a", "b"])),
        )
        for k in range(120)
    ]
    checked = []

    def checking(inp, classes, fair, p, layouts=None):  # type: ignore[no-untyped-def]
        got = value_all(inp, classes, fair, p, layouts)
        fresh = value_all(inp, classes, fair, p)  # the arrays laid out anew
        assert [v[:4] for v in fresh] == [v[:4] for v in got]
        for cls, v in zip(classes, got, strict=True):
            one = value(inp, cls, fair[cls.tenant], p)
            val = v.valuation()
            for name in ("tau_s", "cost", "carbon_kg", "utility"):
                assert np.array_equal(getattr(val, name), getattr(one, name)), name
            assert v.tau_s == one.tau_s.tolist() and v.utility == one.utility.tolist()
            assert v.order == np.argsort(-one.utility, kind="stable").tolist()
            assert v.best == int(np.argmax(one.utility))
            checked.append(len(cls.candidates))
        return got

    mp = pytest.MonkeyPatch()
    mp.setattr(suanli_policy, "value_all", checking)
    try:
        r = Simulator(sc, jobs, make_policy("suanli"), drain=True).run()
    finally:
        mp.undo()
    assert r.done.all()
    assert len(checked) > 100 and set(checked) == {2 * sites_n}
