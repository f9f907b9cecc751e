"""GPU sharing: the fragmentation measure and the placement rules against brute force,
the policy's planning view against the cluster, and shares end to end in the simulator."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from sortedcontainers import SortedList

from suanli.core.capacity import Capacity, ClusterState
from suanli.core.jobtable import JobTable
from suanli.core.sharing import MILLI, PLACEMENTS, Fragmentation, placement_rule, pool_requests
from suanli.core.tables import build_tables
from suanli.errors import UnknownNameError
from suanli.policy.registry import make_policy, policy_names
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from tests.sim.helpers import H100, job, scenario, site

# -- brute force: nodes as explicit lists of free thousandths per device ---------------------
# A device is wholly free (1000), held whole (0, not shared) or shared (its free share, and
# shared=True). Fragmentation is computed straight from its definition.

Device = tuple[int, bool]  # (free thousandths, shared)


def brute_f(nodes: list[list[Device]], requests: dict[int, int]) -> float:
    """Expected fragmentation from the definition (sum over nodes and requests)."""
    total = sum(requests.values())
    out = 0.0
    for node in nodes:
        d = len(node)
        whole = sum(1 for f, sh in node if not sh and f == MILLI)
        partial = sum(f for f, sh in node if sh)
        for r, n in requests.items():
            p = n / total
            if r < MILLI:
                out += p * sum(f for f, sh in node if sh and f < r)
            else:
                k = min(r // MILLI, d)
                out += p * (partial + (MILLI * whole if whole < k else 0))
    return out


def random_nodes(rng: random.Random, n_nodes: int, d: int) -> list[list[Device]]:
    nodes = []
    for _ in range(n_nodes):
        node: list[Device] = []
        for _ in range(d):
            kind = rng.random()
            if kind < 0.4:
                node.append((MILLI, False))
            elif kind < 0.6:
                node.append((0, False))
            else:
                node.append((rng.choice([0, 100, 250, 400, 500, 540, 750, 900]), True))
        nodes.append(node)
    return nodes


def random_requests(rng: random.Random, d: int) -> dict[int, int]:
    reqs: dict[int, int] = {}
    for _ in range(rng.randint(1, 6)):
        share = rng.random() < 0.6
        r = rng.choice([100, 250, 460, 500, 750]) if share else MILLI * rng.randint(1, 2 * d)
        reqs[r] = reqs.get(r, 0) + rng.randint(1, 20)
    return reqs


def state_of(nodes: list[list[Device]]) -> tuple[SortedList, list[int], dict[int, tuple[int, int]]]:
    """The rule's view of explicit nodes: shared devices (free, key), node histogram, and
    where each key is."""
    d = len(nodes[0])
    shared: SortedList = SortedList()
    where: dict[int, tuple[int, int]] = {}
    hist = [0] * (d + 1)
    for n, node in enumerate(nodes):
        hist[sum(1 for f, sh in node if not sh and f == MILLI)] += 1
        for g, (f, sh) in enumerate(node):
            if sh:
                key = len(where)
                where[key] = (n, g)
                shared.add((f, key))
    return shared, hist, where


def share_options(nodes: list[list[Device]], m: int) -> list[list[list[Device]]]:
    """Every state after placing a share ``m`` on any device that can take it."""
    out = []
    for n, node in enumerate(nodes):
        for g, (f, sh) in enumerate(node):
            if f >= m and (sh or f == MILLI):
                after = [list(x) for x in nodes]
                after[n][g] = (f - m, True)
                out.append(after)
    return out


def gang_on(nodes: list[list[Device]], w: int, k: int) -> list[list[Device]]:
    """The state after a gang of ``k`` takes whole devices of a node with ``w`` free."""
    n = next(
        i for i, node in enumerate(nodes) if sum(1 for f, sh in node if not sh and f == MILLI) == w
    )
    after = [list(x) for x in nodes]
    free = [g for g, (f, sh) in enumerate(after[n]) if not sh and f == MILLI]
    for g in free[:k]:
        after[n][g] = (0, False)
    return after


def test_fragmentation_matches_its_definition() -> None:
    rng = random.Random(7)
    for _ in range(300):
        d = rng.choice([1, 2, 4, 8])
        nodes = random_nodes(rng, rng.randint(1, 6), d)
        reqs = random_requests(rng, d)
        frag = Fragmentation(reqs, d)
        shared, hist, _ = state_of(nodes)
        sum_h = sum(frag.h[f] for f, _ in shared)
        assert frag.of(sum_h, hist) == pytest.approx(brute_f(nodes, reqs), abs=1e-6)


def test_fgd_takes_the_least_increase_of_fragmentation() -> None:
    rng = random.Random(11)
    rule = placement_rule("fgd")
    checked = 0
    for _ in range(400):
        d = rng.choice([2, 4, 8])
        nodes = random_nodes(rng, rng.randint(1, 5), d)
        reqs = random_requests(rng, d)
        frag = Fragmentation(reqs, d)
        shared, hist, where = state_of(nodes)
        before = brute_f(nodes, reqs)
        m = rng.choice([100, 250, 460, 500, 750])
        options = share_options(nodes, m)
        choice = rule.share(frag, shared, hist, m)
        if not options:
            assert choice is None
            continue
        assert choice is not None
        best = min(brute_f(o, reqs) for o in options) - before
        if choice.key >= 0:
            n, g = where[choice.key]
            assert nodes[n][g] == (choice.f, True)
            after = [list(x) for x in nodes]
            after[n][g] = (choice.f - m, True)
        else:
            n = next(
                i
                for i, node in enumerate(nodes)
                if sum(1 for f, sh in node if not sh and f == MILLI) == choice.bucket
            )
            g = next(g for g, (f, sh) in enumerate(nodes[n]) if not sh and f == MILLI)
            after = [list(x) for x in nodes]
            after[n][g] = (MILLI - m, True)
        assert brute_f(after, reqs) - before == pytest.approx(best, abs=1e-6)
        checked += 1
        # gangs smaller than a node: the node bucket of least increase
        k = rng.randint(1, d - 1)
        fits = [w for w in range(k, d + 1) if hist[w]]
        if fits:
            w = rule.bucket(frag, hist, k)
            assert w in fits
            best = min(brute_f(gang_on(nodes, x, k), reqs) for x in fits)
            assert brute_f(gang_on(nodes, w, k), reqs) == pytest.approx(best, abs=1e-6)
    assert checked > 200


def test_simple_rules_choose_as_documented() -> None:
    frag = Fragmentation({}, 4)
    shared = SortedList([(300, 0), (600, 1), (300, 2), (900, 3)])
    hist = [1, 0, 2, 0, 1]  # nodes with 0, 2, 2 and 4 wholly free devices
    assert placement_rule("best-fit").share(frag, shared, hist, 250).key == 0
    assert placement_rule("best-fit").share(frag, shared, hist, 500).key == 1
    assert placement_rule("first-fit").share(frag, shared, hist, 500).key == 1
    assert placement_rule("first-fit").share(frag, shared, hist, 250).key == 0
    worst = placement_rule("worst-fit").share(frag, shared, hist, 250)
    assert worst is not None and worst.key == -1 and worst.bucket == 4
    full = placement_rule("worst-fit").share(frag, shared, [1, 0, 0, 0, 0], 250)
    assert full is not None and full.key == 3
    new = placement_rule("best-fit").share(frag, shared, hist, 950)
    assert new is not None and new.key == -1 and new.bucket == 2
    assert placement_rule("best-fit").share(frag, shared, [1, 0, 0, 0, 0], 950) is None
    assert placement_rule("best-fit").bucket(frag, hist, 2) == 2


def test_unknown_rule_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="best-fit, fgd, first-fit, worst-fit"):
        placement_rule("tightest")


# -- the policy's planning view places as the cluster does -----------------------------------


def _pool_scenario(count: int, per_node: int, **pool: Any) -> Any:
    s = site("s", [(H100, count)])
    s["pools"] = [{"accelerator": H100, "count": count, "devices_per_node": per_node, **pool}]
    return scenario([s], hours=24)


@pytest.mark.parametrize("rule", sorted(PLACEMENTS))
def test_capacity_overlay_places_like_the_cluster(rule: str) -> None:
    rng = random.Random(3)
    sc = _pool_scenario(32, 4)
    tables = build_tables(sc)
    shares = [0.1, 0.25, 0.46, 0.5, 0.75]
    jobs = [
        job(f"j{i}", 0, 1, 600, device_fraction=rng.choice(shares))
        if rng.random() < 0.7
        else job(f"j{i}", 0, rng.choice([1, 2, 3, 4, 8]), 600)
        for i in range(400)
    ]
    jt = JobTable(jobs, tables)
    cl = ClusterState(tables, rule, pool_requests(jt))
    running: list[Any] = []
    i = 0
    for _round in range(30):
        cap = Capacity(cl)
        planned = []
        while i < len(jobs) and len(planned) < 6:
            c = jt.candidates(i)[0]
            if cap.why_not(0, c) is None:
                cap.take(0, c)
                planned.append((i, c))
            i += 1
        for j, c in planned:  # applied in order, each fits as planned
            assert cl.fits(c)
            running.append(cl.allocate(j, 0, c))
        for p in range(tables.n_pools):
            assert cap.hist(p) == cl.pools[p].hist()
            planned_shares = cap._shared.get(p)
            if planned_shares is not None:
                assert list(planned_shares) == list(cl.shared[p].by_free)
        rng.shuffle(running)
        for a in running[: len(running) // 3]:
            cl.release(a)
        running = running[len(running) // 3 :]


# -- end to end in the simulator ------------------------------------------------------------


def share(jid: str, submit_s: float, fraction: float, seconds: float) -> Any:
    """A job taking ``fraction`` of one H100 that runs ``seconds`` there (as a trace row's
    duration: its work is ``fraction × seconds`` of one device's)."""
    return job(jid, submit_s, 1, seconds * fraction, device_fraction=fraction)


def test_shares_run_together_and_whole_devices_wait_for_them() -> None:
    """One node of two H100s: four half-device jobs run at once; a fifth waits for a free
    half; a whole-device gang of 2 waits until both devices are wholly free."""
    sc = _pool_scenario(2, 2)
    jobs = [share(f"half{i}", 0.0, 0.5, 3600) for i in range(5)]
    jobs.append(job("gang", 1.0, 2, 600))
    r = Simulator(sc, jobs, make_policy("fifo"), verify=True).run()
    start = dict(zip([j.id for j in jobs], r.first_start.tolist(), strict=True))
    finish = dict(zip([j.id for j in jobs], r.finish.tolist(), strict=True))
    for i in range(4):
        assert start[f"half{i}"] == 0.0
        # the share runs at half a device's speed on half its work: its duration
        assert finish[f"half{i}"] == pytest.approx(3600.0)
    assert start["half4"] == pytest.approx(3600.0)
    assert start["gang"] == pytest.approx(7200.0)  # FIFO: behind half4, then both devices
    m = compute_metrics(r)
    assert m["sharing"]["share_jobs"] == 5
    # two shared devices for the first hour, one for the second
    assert m["sharing"]["shared_devices_mean"] * r.end_s == pytest.approx(2 * 3600 + 3600)
    # busy devices: 4 halves for an hour, one half for an hour, the gang for 600 s
    assert float(r.busy_s.sum()) == pytest.approx(2 * 3600 + 0.5 * 3600 + 2 * 600)


def test_share_power_and_energy_are_proportional() -> None:
    sc = _pool_scenario(8, 8)
    quarter = Simulator(sc, [share("q", 0.0, 0.25, 3600)], make_policy("fifo")).run()
    whole = Simulator(sc, [job("w", 0.0, 1, 3600)], make_policy("fifo")).run()
    assert float(quarter.energy_j.sum()) == pytest.approx(0.25 * float(whole.energy_j.sum()))
    c = quarter.jobs.candidates(0)[0]
    assert c.share == 250 and c.devices == 1 and c.milli == 250
    assert c.busy_w == pytest.approx(0.25 * whole.jobs.candidates(0)[0].busy_w)


def test_quotas_count_shares_as_fractions() -> None:
    s = site("s", [(H100, 8)])
    sc = scenario([s], hours=24, tenants=[{"id": "t", "name": "T", "quotas": [{"max_devices": 1}]}])
    jobs = [share(f"q{i}", 0.0, 0.25, 3600) for i in range(6)]
    r = Simulator(sc, jobs, make_policy("backfill"), verify=True).run()
    starts = sorted(r.first_start.tolist())
    assert starts[:4] == [0.0] * 4  # four quarters make the one device of the quota
    assert min(starts[4:]) == pytest.approx(3600.0)
    assert "quota" in " ".join(r.reasons.values()) or all(r.done)


@pytest.mark.parametrize("policy", policy_names())
@pytest.mark.parametrize("rule", sorted(PLACEMENTS))
def test_every_policy_packs_shares(policy: str, rule: str) -> None:
    """Twelve quarter-device jobs on four devices of one node: they start in one round
    under every policy and rule. Packing rules leave a device wholly free for the
    whole-device job, which starts with them; worst-fit spreads the shares over all four
    devices, and the whole-device job waits until they end. Invariants hold throughout."""
    sc = _pool_scenario(4, 4)
    jobs = [share(f"q{i}", 0.0, 0.25, 3600) for i in range(12)]
    jobs.append(job("w", 0.0, 1, 1800))
    r = Simulator(sc, jobs, make_policy(policy), verify=True, placement=rule).run()
    assert all(r.done)
    shares, whole = r.first_start[:12].tolist(), float(r.first_start[12])
    assert len(set(shares)) == 1
    if rule == "worst-fit":
        assert whole == pytest.approx(shares[0] + 3600.0)
    else:
        assert whole == shares[0]
    assert not math.isnan(r.finish[-1])


def test_a_share_on_a_node_still_booting_waits_for_it() -> None:
    """Power saving: the first share wakes the sleeping node and computes once it has
    booted (5 min); a second share placed on the same device 10 s later waits as well."""
    s = site("s", [(H100, 2)], power_saving={"idle_minutes": 1, "resume_minutes": 5})
    s["pools"] = [{"accelerator": H100, "count": 2, "devices_per_node": 2}]
    sc = scenario([s], hours=24)
    jobs = [share("a", 3600.0, 0.5, 600), share("b", 3610.0, 0.5, 600), job("w", 3620.0, 1, 60)]
    r = Simulator(sc, jobs, make_policy("fifo"), verify=True).run()
    compute = {r.jobs.ids[pl.job]: pl.compute_start_s for pl in r.stretches}
    assert compute == {"a": 3900.0, "b": 3900.0, "w": 3900.0}
    assert r.finish.tolist() == [4500.0, 4500.0, 3960.0]


def test_shares_must_be_of_one_device() -> None:
    with pytest.raises(ValueError, match="needs gang 1"):
        job("x", 0.0, 2, 60, device_fraction=0.5)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        job("x", 0.0, 1, 60, device_fraction=0.0)


def test_a_share_of_nearly_all_a_device_takes_the_device() -> None:
    sc = _pool_scenario(8, 8)
    jt = JobTable([share("x", 0.0, 0.9996, 60), share("y", 0.0, 0.9994, 60)], build_tables(sc))
    assert jt.candidates(0)[0].share == 0 and jt.candidates(0)[0].devices == 1
    assert jt.candidates(1)[0].share == 999
