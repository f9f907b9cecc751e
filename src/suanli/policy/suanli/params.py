"""Parameters of the ``suanli`` policy, set per scenario under ``policies: {suanli: {...}}``.

The objective weights are dimensionless; see :mod:`.utility` for how they combine.
"""

from __future__ import annotations

from pydantic import Field

from suanli.core.policy import PolicyParams


class SuanliParams(PolicyParams):
    """Objective weights and knobs, with their defaults."""

    w_time: float = Field(1.0, ge=0, description="weight of completion time (speed × urgency)")
    w_cost: float = Field(0.5, ge=0, description="weight of energy cost (net of subsidies)")
    w_carbon: float = Field(0.2, ge=0, description="weight of carbon")
    carbon_price: float | None = Field(
        None,
        ge=0,
        description="price of a tonne of CO2e added to energy cost (the scenario's currency); "
        "unset: the scenario's carbon_price, or none",
    )
    w_fair: float = Field(
        0.5, ge=0, description="exponent of the tenant-share correction (0: no fairness)"
    )
    w_prefer: float = Field(
        0.5,
        ge=0,
        description="worth lost per step down a job's ordered list of accelerator types",
    )
    patience: float = Field(
        0.5, ge=0, le=1, description="θ: skip candidates slower than θ × the best, at first"
    )
    defer: bool = Field(True, description="defer deferrable jobs to cheaper/greener hours")
    w_delay: float = Field(
        1.0, ge=0, description="weight of a deferral's delay, relative to the job's run time"
    )
    defer_min_saving: float = Field(
        0.3, gt=0, lt=1, description="defer only if cost+carbon drop by at least this share"
    )
    defer_max_hours: float = Field(
        12.0, gt=0, description="longest deferral of a deferrable job without a deadline"
    )
    deadline_slack: float = Field(
        1.5, ge=1, description="a deferred job starts by deadline − slack × its run time"
    )
    reserve_after_s: float = Field(
        1800.0, ge=0, description="a job blocked this long gets a reservation (no starvation)"
    )
    migrate: bool = Field(True, description="move running jobs to faster devices when it pays")
    bridge: bool = Field(
        True,
        description="start a job blocked from its fast pools on slower devices with room, "
        "moving it up when they free, when that ends it sooner or spares a long wait at no "
        "more cost",
    )
    migrate_margin: float = Field(
        1.0, ge=0, description="μ: move only if the time gained ≥ (1 + μ) × the move's cost"
    )
    migrate_min_interval_s: float = Field(
        1800.0, ge=0, description="least time a job runs where it started before it may move"
    )
    elastic: bool = Field(True, description="grow elastic jobs into idle room, shrink them back")
    elastic_min_efficiency: float = Field(
        0.1, ge=0, le=1, description="η: an added device must do ≥ η of an average one's work"
    )
    elastic_min_runs: float = Field(
        5.0, ge=0, description="κ: a job runs ≥ κ × its restart cost between growths"
    )
    tick_s: float = Field(300.0, gt=0, description="seconds between full (LP) rounds")
    max_jobs_per_round: int = Field(20_000, gt=0, description="waiting jobs considered per round")
    split_above: int = Field(
        20_000, gt=0, description="LP columns above which the problem is split (POP)"
    )
