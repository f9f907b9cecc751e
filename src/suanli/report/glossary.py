"""What every metric of a simulation means: the one place its definition is written.

:data:`TERMS` holds, in order, each term of ``docs/metrics.md``'s table with its definition
(Markdown, as the table has it) and the metric paths (into a policy's entry of
``metrics.json``) it explains. The HTML report carries the same definitions in its data
document (``glossary``, as plain text) and shows them as tooltips on the summary table and
as a glossary below it; ``docs/metrics.md``'s table is :func:`markdown_table` — a test keeps
the two equal, so a definition is changed here and the table pasted from
``python -m suanli.report.glossary``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Term:
    """A term of the glossary: ``id`` (stable, for links), the ``term`` as written in
    ``docs/metrics.md``, its ``definition`` (Markdown) and the metric ``paths`` it defines."""

    id: str
    term: str
    definition: str
    paths: tuple[str, ...] = ()


TERMS: tuple[Term, ...] = (
    Term(
        "jobs",
        "jobs submitted / finished / unfinished",
        "jobs whose submit time falls in the run; finished within the run; the rest (still "
        "waiting or running at the end, or never startable)",
        ("jobs.submitted", "jobs.finished", "jobs.unfinished"),
    ),
    Term(
        "never-startable",
        "never startable",
        "jobs no pool can ever run (accepted types and stacks, memory fit, data residency); "
        "reported with the reason",
        ("jobs.never_startable",),
    ),
    Term(
        "gangs-raised",
        "gangs raised for memory",
        "jobs that ran on more devices than their gang asked for, because their model's memory "
        "needed them on the accelerator type they ran on (the extra devices compute too)",
        ("jobs.gangs_raised",),
    ),
    Term(
        "jct",
        "JCT",
        "job completion time `finish − submit`, over finished jobs: mean, p50, p99 (hours); "
        "lower is better",
        ("jct_h.mean", "jct_h.p50", "jct_h.p99"),
    ),
    Term(
        "queueing",
        "queueing delay (wait)",
        "`first start − submit`, over jobs that started; the start is the allocation of "
        "devices (data transfer and restart come after it). Zero when every job found free "
        "devices on arrival",
        ("queueing_delay_h.mean", "queueing_delay_h.p50", "queueing_delay_h.p99"),
    ),
    Term(
        "wait-by-gang",
        "waiting by gang size",
        "the queueing delay `first start − submit` of the jobs that started, by the devices "
        "their gang asked for — `1`, `2-8`, `9-32`, `33-128`, `129-512`, `513+` — per "
        "non-empty bucket: jobs, mean and p95 (hours). Shows whether big gangs starve behind "
        "small jobs",
        ("wait_by_gang",),
    ),
    Term(
        "time-in-system-by-gang",
        "time in system by gang size",
        "per gang-size bucket (as waiting by gang size), every job that arrived and some pool "
        "can run: `finish − submit` if it finished, `end of run − submit` if not (a lower bound "
        "of its JCT) — jobs, finished, mean and p95 (hours). Shows whether big gangs finish "
        "later: a wait for faster devices counts in the waits and pays off here",
        ("time_in_system_by_gang",),
    ),
    Term(
        "makespan",
        "makespan",
        "`max finish − min submit` over finished jobs",
        ("makespan_h",),
    ),
    Term(
        "utilisation",
        "utilisation",
        "busy device-seconds / up device-seconds; a device is busy while a job computes on it "
        "(padding devices of node shapes and devices waiting for data are allocated, not busy); "
        "a job on a share of a device counts as that fraction of a busy device. Lower is not "
        "worse in itself: the same work on faster devices takes fewer busy device-hours",
        ("utilisation",),
    ),
    Term(
        "allocated-share",
        "allocated share",
        "allocated device-seconds / up device-seconds (shares as fractions)",
        ("allocated_share",),
    ),
    Term(
        "unallocated",
        "unallocated capacity",
        "up device-hours not allocated to any job (a share of a device counts as its fraction)",
        ("unallocated_device_hours",),
    ),
    Term(
        "placement",
        "placement",
        "the device placement rule of the run (`--placement`: `best-fit`, `first-fit`, "
        "`worst-fit`, `fgd`; [docs/scheduler.md](scheduler.md#device-placement-and-gpu-sharing))",
        ("placement",),
    ),
    Term(
        "share-jobs",
        "sharing: share jobs",
        "jobs in the run that ask for a share of one device (`device_fraction` < 1)",
        ("sharing.share_jobs",),
    ),
    Term(
        "shared-devices",
        "sharing: shared devices",
        "device-hours, and the mean over the run, of devices that host share jobs",
        ("sharing.shared_device_hours", "sharing.shared_devices_mean"),
    ),
    Term(
        "fragmented",
        "sharing: fragmented devices",
        "device-hours, the mean over the run and the share of up device-hours of the expected "
        "**fragmentation** `F`: the device capacity that the next request of a pool's workload "
        "— drawn from the mix of requests of the run's jobs that can run there — could not use "
        '(the "unallocated GPUs" of FGD, ATC\'23; definition in `src/suanli/core/sharing.py`). '
        "A share stranded on a device too full for the typical share, or whole devices on a "
        "node too full for the typical gang, count; capacity a request could use does not",
        (
            "sharing.fragmented_device_hours",
            "sharing.fragmented_devices_mean",
            "sharing.fragmented_share",
        ),
    ),
    Term(
        "asleep",
        "asleep share",
        "device-seconds suspended by power saving / up device-seconds (sites with `power_saving`)",
        ("asleep_share",),
    ),
    Term(
        "energy",
        "energy",
        "facility energy `Σ PUE · ∫ P_IT dt` (MWh), with `P_IT = Σ busy devices × TDP × power "
        "factor + other up devices × idle power`; failed nodes draw nothing",
        ("energy_mwh",),
    ),
    Term(
        "cost",
        "cost gross / subsidy / net",
        "`Σ_h E_h π_h` with the site's hourly tariff; the subsidy `Σ_h E^elig_h (π_h − π̃_h)` "
        "on the energy of eligible (e.g. domestic-chip) pools; net = gross − subsidy. In the "
        "scenario's currency",
        ("cost.gross", "cost.subsidy", "cost.net"),
    ),
    Term(
        "carbon",
        "carbon",
        "`Σ_h E_h c_h` with the site's hourly grid intensity (location-based), tonnes CO₂",
        ("carbon_t",),
    ),
    Term(
        "rho",
        "fairness ρ",
        "finish-time fairness `ρ_j = JCT_j / T_j^alone`, with `T^alone` the completion time "
        "the job would have with the whole fleet to itself (its run time on its fastest "
        "candidate, its data already there, no queueing), so ρ ≥ 1; per tenant the mean over "
        "its finished jobs; `max_tenant_mean_rho` is the worst tenant",
        ("fairness.mean_rho",),
    ),
    Term(
        "worst-tenant",
        "worst-tenant fairness (max tenant mean ρ)",
        "`max_tenant_mean_rho`: the largest of the tenants' mean ρ — how many times longer "
        "than with the fleet to itself the worst-treated tenant's jobs took on average; 1 is "
        "ideal, lower is fairer",
        ("fairness.max_tenant_mean_rho",),
    ),
    Term(
        "preemptions",
        "preemptions, migrations, resizes, lost work",
        "times jobs were stopped (node failures, preemptive policies), times running jobs were "
        "moved to another pool (migrations), times elastic jobs were given another device "
        "count (resizes) and the hours those cost them (work redone, restarts), and the PFLOP "
        "lost since their last checkpoint",
        ("preemptions", "migrations", "resizes", "resize_lost_h", "lost_pflop"),
    ),
    Term(
        "device-hours-by-size",
        "device-hours by size",
        "per number of devices a job held (node padding included; a share as its fraction), "
        "`H(d) = Σ_k d (e_k − a_k)` over the stretches *k* that held *d* devices from `a_k` "
        "to `e_k` (the end of the run for one still running), in hours, with the jobs that "
        "held *d* at some time; the sizes add up to the allocated device-hours",
        ("device_hours_by_size",),
    ),
    Term(
        "elastic-jobs",
        "elastic jobs, resized jobs",
        "jobs of the run that may run on another device count than their gang (`gang_min` < "
        "`gang` or `gang_max` > `gang`), and those resized at least once",
        ("elastic.jobs", "elastic.resized_jobs"),
    ),
    Term(
        "elastic-device-hours",
        "elastic device-hours below / at / above gang",
        "device-hours elastic jobs held on fewer, as many or more devices than their gang "
        "holds on the same pool (node shape included)",
        ("elastic.device_hours",),
    ),
    Term(
        "goodput-throughput",
        "goodput, throughput, efficiency against the gang",
        "work elastic jobs did while computing, in PFLOP: goodput `Σ_k τ_k r⁰_k S(n_k)/S(u⁰_k)` "
        "(progress, what the simulator advances them by; `S` the speed-up G(n)/G(gang)) and "
        "throughput `Σ_k τ_k r⁰_k T(n_k)/T(u⁰_k)` (examples processed, `T` = X(n)/X(gang), no "
        "statistical-efficiency loss), with `τ_k` the computing time of stretch *k* on `n_k` "
        "devices and `r⁰_k`, `u⁰_k` the rate and devices of the job's gang on that pool (a "
        "job's work is what it needs at its gang, so there the two are equal); efficiency "
        "against the gang = goodput ÷ throughput, the mean statistical efficiency of the "
        "batches they ran at relative to their gang's: below 1 when they ran larger (each "
        "example worth less), above 1 when smaller",
        (
            "elastic.goodput_pflop",
            "elastic.throughput_pflop",
            "elastic.efficiency_vs_gang",
        ),
    ),
    Term(
        "data",
        "data moved, egress cost",
        "TB copied between sites (a copy stays as a replica for later jobs at that site) and "
        "its cost",
        ("data.moved_tb", "data.egress_cost"),
    ),
    Term(
        "peak-power",
        "peak power",
        "per site, the highest hourly mean facility power of the run (MW); an hour the run "
        "covers only in part is averaged over that part",
        ("peak_power_mw",),
    ),
    Term(
        "capacity",
        "power capacity",
        "per site, `power_capacity_mw` of the scenario: the facility power limit of the power "
        "model. The scheduler starts a job only while `PUE × (idle power of every device + "
        "Σ over running jobs of devices × (TDP × power factor − idle power))` stays within it, "
        "so the facility power never exceeds it; the devices at full TDP may draw more (up to "
        "`max_power_oversubscription` × capacity), and jobs then wait for power",
        ("capacity_mw",),
    ),
    Term(
        "pue",
        "PUE",
        "power usage effectiveness of a site, from the scenario: facility power ÷ IT power "
        "(cooling and losses on top of the devices' own draw)",
        ("pue",),
    ),
    Term(
        "serving-policy",
        "serving policy",
        "the policy that scaled the services' replicas in the run (`--serving`: `static-peak`, "
        "`reactive`, `suanli`; [docs/services.md](services.md#serving-policies)); the batch "
        "policy schedules the other jobs beside them",
        ("services.*.serving_policy",),
    ),
    Term(
        "slo-attainment",
        "SLO attainment (SLO met)",
        "per service (and per user region), the share of its requests answered within its SLO "
        "— time to first token (p99, the network from the region included) and time per output "
        "token — over the run: requests on time ÷ requests; dropped requests count as late. 1 "
        "without requests",
        ("services.*.attainment", "services.*.regions.*.attainment"),
    ),
    Term(
        "service-requests",
        "service requests / dropped / tokens",
        "requests the service's users offered over the run (each region's demand curve); "
        "dropped: those of a region with no ready replica within its latency bound, also as a "
        "share of requests; tokens: input and output tokens of the requests served",
        (
            "services.*.requests",
            "services.*.dropped",
            "services.*.dropped_share",
            "services.*.tokens",
        ),
    ),
    Term(
        "replica-device-hours",
        "replica device-hours",
        "device-hours the service's replicas held, from placement (cold start included) until "
        "their devices were freed after draining; in total, by site and by accelerator type",
        ("services.*.device_hours",),
    ),
    Term(
        "cold-starts",
        "cold starts, unplaced",
        "replicas started during the run (each pays a cold start: engine start plus the "
        "weights over the load bandwidth; replicas of a simulated run's start are warm), and "
        "replicas a serving policy asked for that found no room",
        ("services.*.cold_starts", "services.*.unplaced"),
    ),
    Term(
        "service-energy",
        "service energy / cost / carbon",
        "facility energy of the service's replicas (idle power while starting, 0.7 × TDP once "
        "serving, × PUE; kWh), its net cost at the site's hourly price and its carbon at the "
        "site's hourly intensity (kg CO₂). Not in the batch metrics",
        ("services.*.energy_kwh", "services.*.cost", "services.*.carbon_kg"),
    ),
    Term(
        "per-mtok",
        "per million tokens (/Mtok)",
        "a service's energy (kWh), net cost and carbon (kg CO₂), and device-hours, divided by "
        "the tokens it served, × 10⁶",
        ("services.*.per_mtok",),
    ),
    Term(
        "service-by-accelerator",
        "service by site / accelerator type",
        "a service's figures apportioned to the pools its replicas held: device-hours as held; "
        "tokens by each tick's demand shared in proportion to the pools' ready capacity (ready "
        "replicas × requests/s a replica sustains there); energy by device-hours × TDP × PUE; "
        "cost and carbon by that weight × the pool's mean net price (carbon intensity) over "
        "the ticks it had replicas ready. The shares add up to the service's figures; per "
        "million tokens is each share ÷ the tokens apportioned to it. Summed by site and by "
        "accelerator type",
        ("services.*.sites", "services.*.accelerators"),
    ),
)

#: Term of each metric path.
BY_PATH: dict[str, Term] = {p: t for t in TERMS for p in t.paths}


def plain(markdown: str) -> str:
    """``markdown`` as plain text: code spans, emphasis and links keep only their text."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    return text.replace("`", "")


def term_of(path: str) -> Term | None:
    """The term that defines the metric at ``path``, or ``None``."""
    return BY_PATH.get(path)


def glossary_data() -> list[dict[str, Any]]:
    """The report data document's ``glossary``: ``id``, ``term``, ``definition`` (plain
    text) and ``paths`` of every term."""
    return [
        {"id": t.id, "term": t.term, "definition": plain(t.definition), "paths": list(t.paths)}
        for t in TERMS
    ]


def markdown_table() -> str:
    """The table of ``docs/metrics.md``: one row per term."""
    rows = ["| metric | definition |", "|---|---|"]
    rows += [f"| {t.term} | {t.definition} |" for t in TERMS]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # pragma: no cover - prints the table for docs/metrics.md
    print(markdown_table(), end="")
