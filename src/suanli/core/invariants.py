"""The invariants of the scheduling state, checked from scratch (tests, ``verify=True`` runs).

Every pool: 0 ≤ free ≤ up devices, free = Σ free devices of up nodes, held = Σ devices of
its running whole-device jobs + its shared devices; every shared device: free + Σ shares of
its jobs = 1000, free ≥ 0, on an up node; allocated = Σ devices (shares as fractions) of
its running jobs; fragmentation = its value recomputed; every site: committed IT power ≤
capacity/PUE; every quota: usage ≤ maximum. Jobs kept outside the mirror (a masked site)
are left out of the per-pool sums.
"""

from __future__ import annotations

from suanli.core.levels import effective, tenant_priorities
from suanli.core.state import RUNNING, SchedulingState


def check_invariants(st: SchedulingState) -> None:
    """Raise AssertionError naming the first invariant ``st`` breaks."""
    cl = st.cluster
    tables = st.tables
    alloc = [0] * tables.n_pools
    held_by_jobs = [0] * tables.n_pools
    on_device: list[dict[int, int]] = [{} for _ in cl.pools]
    for rs in st.running.values():
        alloc[rs.cand.pool] += rs.cand.milli
        a = rs.alloc
        if a is None:
            continue
        if a.share:
            on_device[a.pool][a.device] = on_device[a.pool].get(a.device, 0) + a.share
        else:
            pn = cl.pools[a.pool]
            held_by_jobs[a.pool] += sum(n for node, n in a.nodes if pn.up[node])
    for p, pn in enumerate(cl.pools):
        free = sum(f for f, up in zip(pn.free, pn.up, strict=True) if up)
        label = tables.pool_label(p)
        assert free == pn.free_devices, f"{label}: free count {pn.free_devices} != {free}"
        assert 0 <= pn.free_devices <= pn.up_devices, f"{label}: free {pn.free_devices}"
        assert min(pn.free) >= 0, f"{label}: a node has negative free devices"
        sh = cl.shared[p]
        assert set(sh.free) == set(on_device[p]), f"{label}: shared devices without jobs"
        assert sh.free_total == sum(sh.free.values()), f"{label}: free share total"
        for key, f in sh.free.items():
            assert f >= 0 and f + on_device[p][key] == 1000, f"{label}: device {key} {f}"
            assert pn.up[sh.node[key]], f"{label}: shared device {key} on a down node"
        held = held_by_jobs[p] + len(sh)
        assert held + pn.free_devices == pn.up_devices, f"{label}: over-allocated"
        assert abs(alloc[p] / 1000 - st.acct.allocated[p]) < 1e-6, f"{label}: allocation accounting"
        assert len(sh) == st.acct.shared[p], f"{label}: shared device accounting"
        frag = cl.fragmented_from_scratch(p)
        assert abs(frag - st.acct.fragmented[p]) < 1e-6, f"{label}: fragmentation"
    for s, cap in enumerate(cl.site_cap_it_w):
        assert cl.site_committed_w[s] <= cap * (1 + 1e-9) + 1e-6, (
            f"site {tables.site_ids[s]}: committed {cl.site_committed_w[s]:.0f} W > {cap:.0f} W"
        )
    for qi, used in enumerate(cl.quota_usage):
        assert used <= cl.quota_max[qi], f"quota {tables.quotas[qi][3]}: {used}"
    for j, rs in st.running.items():
        assert st.status[j] == RUNNING, (
            f"job {st.jobs.ids[j]} runs but its status is {st.status[j]}"
        )
        assert j in st.running_by_pool[rs.cand.pool], f"job {st.jobs.ids[j]} not on its pool"
    assert len(st.waiting) == sum(len(v) for v in st.waiting_by_sig.values()), "queue by sig"
    _check_levels(st)


def _check_levels(st: SchedulingState) -> None:
    """The queue by effective priority holds the waiting jobs, each under its level, highest
    level first, each level in arrival order."""
    tp = tenant_priorities(st.tables)
    levels = st.waiting_levels()
    assert [lv for lv, _ in levels] == sorted((lv for lv, _ in levels), reverse=True), "levels"
    got = sorted((lv, j) for lv, jobs in levels for j in jobs)
    assert got == sorted((effective(st.jobs, j, tp), j) for _, j in st.waiting), "queue by level"
    submit = st.jobs.submit
    for _, jobs in levels:
        keys = [(submit[j], j) for j in jobs]
        assert keys == sorted(keys), "a level's queue out of arrival order"
