"""``suanli`` shrinks elastic jobs only where that lets a job it admitted start (issue 15):
the freed devices must make node-shaped room, counted as the state will carry the shrink
out (the job relaunched on its new shape, placed by the cluster's rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.config import load_scenario
from suanli.core.capacity import Capacity
from suanli.core.policy import PolicyOutput, Start
from suanli.core.state import SchedulingState
from suanli.model.job import Job, JobKind
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.policy.resizing import Share, sizes
from suanli.policy.suanli.elastic import _shrinks_admit
from suanli.sim.engine import Simulator
from tests.core.test_migration import FLEET, V100, _on, _state


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """The moves fleet with two nodes of eight V100."""
    text = FLEET.read_text().replace(
        "{accelerator: nvidia_v100_sxm2_32g, count: 8, devices_per_node: 8}",
        "{accelerator: nvidia_v100_sxm2_32g, count: 16, devices_per_node: 8}",
        1,
    )
    path: Path = tmp_path_factory.mktemp("fleet") / "two-nodes.yaml"
    path.write_text(text)
    return load_scenario(str(path))


def _job(i: int, gang: int, **kw: object) -> Job:
    return Job(
        str(i),
        "lab",
        JobKind.PRETRAIN,
        "dl-training",
        0.0,
        gang,
        1e6,
        accepted_types=("nvidia_v100_sxm2_32g",),
        **kw,  # type: ignore[arg-type]
    )


def _running(sc: Scenario, extra: int) -> tuple[SchedulingState, list[Share]]:
    """A fixed 4 and an elastic 2–4 job (at 4) fill node 0; a fixed job of ``extra``
    devices runs on node 1; a fixed 8 waits."""
    jobs = [_job(0, 4), _job(1, 4, gang_min=2), _job(2, extra), _job(3, 8), _job(4, 2)]
    st = _state(sc, jobs)
    st.apply(PolicyOutput(starts=[Start(j, _on(st, j, V100), "x") for j in (0, 1, 2)]), 0.0)
    f, e, g = (st.running[j].alloc for j in (0, 1, 2))
    assert f is not None and e is not None and g is not None
    assert f.nodes[0][0] == e.nodes[0][0] != g.nodes[0][0]  # node 0 full, node 1 beside
    inp = st.snapshot(10.0)
    e = inp.running[1]
    shapes = sizes(st.jobs, 1, _on(st, 1, V100))
    return st, [Share(1, shapes, e.candidate, _on(st, 1, V100).rate, pick=0)]


@pytest.mark.parametrize("extra", [1, 2])
def test_no_shrink_where_the_freed_devices_make_no_node_shaped_room(
    two_nodes: Scenario, extra: int
) -> None:
    """Shrinking the elastic job to two frees two devices; relaunched on two it lands where
    two are free, and the waiting eight still finds no whole node: no shrink."""
    st, shares = _running(two_nodes, extra)
    inp = st.snapshot(10.0)
    eight = _on(st, 3, V100)
    cap = Capacity(inp.capacity.state)
    assert cap.why_not(0, eight) is not None
    shrink = [(shares[0], shares[0].shapes[0])]
    assert shares[0].shapes[0].devices == 2
    assert _shrinks_admit(inp, cap, shrink, [(0, eight)]) is False


def test_a_shrink_admits_when_its_devices_make_room(two_nodes: Scenario) -> None:
    """Node 0 full (4 + the elastic 4), four free on node 1; a 4 and a 2 wait. Without the
    shrink only the 4 fits; with the elastic job down to two (relaunched where two fit
    best, on node 0) the 2 fits too. With only the 4 waiting, the shrink admits no one."""
    st, shares = _running(two_nodes, 4)
    inp = st.snapshot(10.0)
    cap = Capacity(inp.capacity.state)
    shrink = [(shares[0], shares[0].shapes[0])]
    four, two = _on(st, 0, V100), _on(st, 4, V100)
    assert _shrinks_admit(inp, cap, shrink, [(0, four), (0, two)]) is True
    assert _shrinks_admit(inp, cap, shrink, [(0, four)]) is False
    assert cap.free_devices(V100) == 4  # the overlay is left as it was


def test_no_growth_on_a_slower_type_than_the_job_takes() -> None:
    """With every H100 busy, an elastic 4–8 job that accepts V100 and H100 starts on four
    V100 and is never lent the other four: they would tie it to the slower type. The same
    job limited to V100 (its fastest type there) grows onto all eight."""
    fleet = load_scenario(str(FLEET))
    rate = _state(fleet, [_job(0, 4)]).jobs.candidates(0)[0].rate
    both = ("nvidia_v100_sxm2_32g", "nvidia_h100_sxm5")
    blockers = [
        Job(f"b{i}", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 8, 1e9, accepted_types=(h,))
        for i, h in enumerate(["nvidia_h100_sxm5"] * 3)  # the three H100 pools
    ]
    for types, grows in ((both, False), (("nvidia_v100_sxm2_32g",), True)):
        elastic = Job(
            "e",
            "lab",
            JobKind.PRETRAIN,
            "dl-training",
            60.0,
            4,
            4 * 3600.0 * rate,
            gang_max=8,
            accepted_types=types,
            types_ordered=False,  # either type, as a set: no preference between them
            checkpoint_interval_s=0.0,
            restart_cost_s=30.0,
        )
        r = Simulator(fleet, [*blockers, elastic], make_policy("suanli"), drain=False).run()
        held = {s.devices for s in r.stretches if s.job == len(blockers) and s.pool == V100}
        assert held and (max(held) == 8.0) is grows, (types, held)
