"""The headline of a report: which policy is best on each key metric and by how much, and
notes that help read the numbers (no queueing and why, a lower utilisation that is better,
power against the sites' capacity, policies that finished different numbers of jobs).

Everything is computed here, into the report data document's ``headline`` (written out in
``docs/report.md``), and the page only shows it. Rules:

* a metric's *best* policies are those whose value is within the metric's tolerance of
  the best one (:func:`tolerance`: 0.1 %, or a minute for times, 0.005 for ρ, exact for
  counts); a metric where every policy with a value ties, or fewer than two have one, has
  no best;
* a policy without a value (``None`` or NaN: no job finished, say) is left out and named;
* a gain is relative to the other policy's value — "45% shorter than fifo" is
  ``(fifo − best) / fifo`` for lower-is-better metrics, ``(best − other) / other`` for
  higher-is-better ones — and is not given when that value is 0 or of the other sign;
* the comparison's default *baseline* is ``fifo`` when it ran, else the first policy; the
  page opens on ``suanli`` when it ran, else on the policy best on the most key metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suanli.config.summary import summarize
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.perf.power import peak_site_power_mw
from suanli.trace.jobs import offered_load as jobs_offered_load

#: Which way is better for the rows of the summary table (metric path → "lower" or
#: "higher"); rows not named (utilisation, subsidies, data moved …) have no better side.
BETTER: dict[str, str] = {
    "jobs.finished": "higher",
    "jobs.unfinished": "lower",
    "jct_h.mean": "lower",
    "jct_h.p50": "lower",
    "jct_h.p99": "lower",
    "queueing_delay_h.mean": "lower",
    "makespan_h": "lower",
    "energy_mwh": "lower",
    "cost.gross": "lower",
    "cost.net": "lower",
    "carbon_t": "lower",
    "fairness.max_tenant_mean_rho": "lower",
    "preemptions": "lower",
    "data.egress_cost": "lower",
    "sharing.fragmented_devices_mean": "lower",
}

#: Values within ``max(absolute, relative × the larger)`` of each other tie: per metric path
#: (a prefix ending in "." stands for every path under it); others 0 and 0.1 %.
TOLERANCES: dict[str, tuple[float, float]] = {
    "jobs.": (0.5, 0.0),
    "preemptions": (0.5, 0.0),
    "jct_h.": (1 / 60, 1e-3),
    "queueing_delay_h.": (1 / 60, 1e-3),
    "makespan_h": (1 / 60, 1e-3),
    "fairness.": (0.005, 1e-3),
}
DEFAULT_TOLERANCE = (0.0, 1e-3)

#: Mean waits under this many seconds count as no queueing to speak of.
NEGLIGIBLE_WAIT_S = 60.0
#: Relative margin by which a peak must exceed capacity to be reported (rounding).
PEAK_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class KeyMetric:
    """A metric of the headline: where it is, which way is better and how to say it."""

    id: str
    path: str
    better: str  # "lower" or "higher"
    spec: str  # Python format spec of its values
    unit: str  # after a value ("{currency}" stands for the scenario's currency)
    label: str  # "average JCT"
    best: str  # "the shortest average JCT"
    gain: str  # "shorter": the best is … than another
    missing: str = ""  # why a policy may have no value


KEY_METRICS: tuple[KeyMetric, ...] = (
    KeyMetric(
        "jct",
        "jct_h.mean",
        "lower",
        ".2f",
        " h",
        "average JCT",
        "the shortest average JCT",
        "shorter",
        "no job finished",
    ),
    KeyMetric(
        "p99_jct",
        "jct_h.p99",
        "lower",
        ".1f",
        " h",
        "p99 JCT",
        "the shortest p99 JCT",
        "shorter",
        "no job finished",
    ),
    KeyMetric(
        "queueing",
        "queueing_delay_h.mean",
        "lower",
        ".2f",
        " h",
        "average queueing delay",
        "the shortest average queueing delay",
        "shorter",
        "no job started",
    ),
    KeyMetric(
        "finished",
        "jobs.finished",
        "higher",
        ",.0f",
        " jobs",
        "number of jobs finished",
        "the most jobs finished",
        "more",
    ),
    KeyMetric(
        "cost",
        "cost.net",
        "lower",
        ",.0f",
        " {currency}",
        "net energy cost",
        "the lowest net energy cost",
        "lower",
    ),
    KeyMetric(
        "energy",
        "energy_mwh",
        "lower",
        ",.0f",
        " MWh",
        "energy",
        "the least energy",
        "less",
    ),
    KeyMetric(
        "carbon",
        "carbon_t",
        "lower",
        ",.0f",
        " t CO₂",
        "carbon",
        "the least carbon",
        "less",
    ),
    KeyMetric(
        "fairness",
        "fairness.max_tenant_mean_rho",
        "lower",
        ".2f",
        "",
        "worst-tenant fairness (max tenant mean ρ)",
        "the best worst-tenant fairness (max tenant mean ρ)",
        "lower",
        "no job finished",
    ),
)


@dataclass(frozen=True, slots=True)
class SitePower:
    """A site's power figures for the notes: capacity and facility power at full TDP."""

    id: str
    capacity_mw: float
    full_tdp_mw: float


def site_power(sc: Scenario) -> list[SitePower]:
    """Each site's power capacity and facility power with every device at full TDP."""
    return [
        SitePower(s.id, s.power_capacity_mw, peak_site_power_mw(s, sc.catalog)) for s in sc.sites
    ]


def offered_load(sc: Scenario, jobs: Sequence[Job]) -> float | None:
    """The load the jobs offer the fleet: as ``suanli validate`` gives it for a generated
    workload (Σ over job classes of demand ÷ the capacity of the devices the class may use),
    else from the jobs themselves (their work at the fleet's speed ÷ their span)."""
    summary = summarize(sc)
    if summary.classes:
        load = summary.offered_load
    else:
        load = jobs_offered_load(sc, sorted(jobs, key=lambda j: j.submit_s))
    return load if math.isfinite(load) and load > 0 else None


def value(metrics: Mapping[str, Any], path: str) -> float | None:
    """The number at a dotted ``path`` of ``metrics``; ``None`` when absent or not finite."""
    v: Any = metrics
    for k in path.split("."):
        if not isinstance(v, Mapping) or k not in v:
            return None
        v = v[k]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def tolerance(path: str) -> tuple[float, float]:
    """Absolute and relative tolerance within which two values of ``path`` tie."""
    for key, tol in TOLERANCES.items():
        if path == key or (key.endswith(".") and path.startswith(key)):
            return tol
    return DEFAULT_TOLERANCE


def tie(a: float, b: float, path: str) -> bool:
    """Whether ``a`` and ``b`` are the same value of the metric at ``path``."""
    absolute, relative = tolerance(path)
    return abs(a - b) <= max(absolute, relative * max(abs(a), abs(b)))


def shown(v: float, spec: str) -> str:
    """``v`` written with the format spec of its summary row, but a fraction with at least
    three significant digits (0.451, not 0) and never "-0"."""
    text = format(v, spec)
    digits = sum(c.isdigit() for c in text.lstrip("-0.,").replace(",", ""))
    if v != round(v) and digits < 3 and not spec.endswith("%"):
        decimals = max(0, 2 - math.floor(math.log10(abs(v))))
        text = f"{v:{',' if ',' in spec else ''}.{decimals}f}"
    zero = not any(c in "123456789" for c in text)
    return text[1:] if zero and text.startswith("-") else text


def best_policies(values: Mapping[str, float | None], better: str, path: str) -> list[str]:
    """Policies with the best of ``values`` (in their order), ties included (:func:`tie`);
    empty when fewer than two policies have a value or all of those tie."""
    have = {p: v for p, v in values.items() if v is not None}
    if len(have) < 2:
        return []
    top = min(have.values()) if better == "lower" else max(have.values())
    best = [p for p, v in have.items() if tie(v, top, path)]
    return [] if len(best) == len(have) else best


def gain(best: float, other: float, better: str) -> float | None:
    """By how much ``best`` beats ``other``, relative to ``other`` (0.45: 45 %); ``None``
    when ``other`` is 0 or the two differ in sign."""
    if other == 0 or (best != 0 and (best > 0) != (other > 0)):
        return None
    return (other - best) / abs(other) if better == "lower" else (best - other) / abs(other)


def percent(x: float) -> str:
    """A share as the headline writes it: 45%, 4.5%, 0.4%, <0.1%."""
    p = abs(x) * 100
    if p >= 9.95:
        return f"{p:.0f}%"
    if p >= 0.05:
        return f"{p:.1f}%"
    return "<0.1%"


def names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _metric(
    k: KeyMetric, per_policy: Mapping[str, Mapping[str, Any]], currency: str
) -> dict[str, Any]:
    unit = k.unit.replace("{currency}", currency).rstrip()

    def text(v: float) -> str:
        return shown(v, k.spec) + unit

    values = {p: value(m, k.path) for p, m in per_policy.items()}
    have = {p: v for p, v in values.items() if v is not None}
    missing = [p for p, v in values.items() if v is None]
    best = best_policies(values, k.better, k.path)
    out: dict[str, Any] = {
        "id": k.id,
        "label": k.label,
        "path": k.path,
        "better": k.better,
        "format": k.spec,
        "unit": unit.strip(),
        "best": best,
        "value": None,
        "all_tied": False,
        "versus": [],
        "missing": missing,
    }
    why = f" ({k.missing})" if k.missing else ""
    gone = f" No value for {names(missing)}{why}." if missing else ""
    if not have:
        out["text"] = f"No policy has a value for {k.label}{why}."
        return out
    if len(per_policy) == 1:
        ((p, v),) = have.items()
        out["value"] = v
        out["text"] = f"{p}'s {k.label}: {text(v)}."
        return out
    if not best:
        v = next(iter(have.values()))
        out["value"] = v
        if len(have) == 1:
            out["text"] = f"Only {next(iter(have))} has a value for {k.label}: {text(v)}.{gone}"
            return out
        out["all_tied"] = True
        who = "Both policies" if len(have) == 2 else f"All {len(have)} policies"
        if missing:
            who = f"{names(list(have))}"
        out["text"] = f"{who} have the same {k.label}: {text(v)}.{gone}"
        return out
    pick = min if k.better == "lower" else max
    top = pick(have[p] for p in best)
    out["value"] = top
    groups: dict[str, list[str]] = {}
    for p, v in have.items():
        if p not in best:
            out["versus"].append({"policy": p, "value": v, "gain": gain(top, v, k.better)})
            groups.setdefault(shown(v, k.spec), []).append(p)
    parts = []
    for others in groups.values():  # policies that show the same value are said together
        v = have[others[0]]
        g = gain(top, v, k.better)
        if g is None:
            parts.append(f"against {names(others)} ({text(v)})")
        else:
            parts.append(f"{percent(g)} {k.gain} than {names(others)} ({text(v)})")
    verb = "has" if len(best) == 1 else "share"
    out["text"] = f"{names(best)} {verb} {k.best}: {text(top)}, {', '.join(parts)}.{gone}"
    return out


def _lead(policies: Sequence[str], metrics: Sequence[dict[str, Any]]) -> tuple[str, dict[str, int]]:
    """The headline's first sentence, and how many key metrics each policy is best on."""
    wins = {p: sum(1 for m in metrics if p in m["best"]) for p in policies}
    if len(policies) == 1:
        return f"Only {policies[0]} ran, so there is nothing to compare it with.", wins
    same = sum(1 for m in metrics if m["all_tied"])
    if not any(wins.values()):
        return "No policy is ahead on any key metric.", wins
    by_wins: dict[int, list[str]] = {}
    for p in policies:
        if wins[p]:
            by_wins.setdefault(wins[p], []).append(p)
    (n, first), *rest = sorted(by_wins.items(), key=lambda kv: -kv[0])
    text = (
        f"{first[0]} is best on {n} of {len(metrics)} key metrics"
        if len(first) == 1
        else f"{names(first)} are each best on {n} of {len(metrics)} key metrics"
    )
    text += "".join(f"; {names(ps)} on {k}" for k, ps in rest)
    if any(len(m["best"]) > 1 for m in metrics):
        text += " (a shared best counts for each)"
    text += "."
    if same:
        text += f" On {same} of them every policy has the same value."
    return text, wins


def _wait_text(hours: float) -> str:
    s = hours * 3600.0
    return f"{s:.1f} s" if s < 60 else (f"{s / 60:.1f} min" if s < 3600 else f"{hours:.2f} h")


def _queueing_note(
    per_policy: Mapping[str, Mapping[str, Any]], offered_load: float | None
) -> dict[str, str] | None:
    """Say so when (almost) nothing queued, and why: the load the jobs offer."""
    waits = {p: value(m, "queueing_delay_h.mean") for p, m in per_policy.items()}
    have = {p: w for p, w in waits.items() if w is not None}
    quiet = [p for p, w in have.items() if w * 3600.0 < NEGLIGIBLE_WAIT_S]
    if not quiet:
        return None
    zero = [p for p in quiet if have[p] == 0]
    some = [p for p in quiet if have[p] > 0]
    load = offered_load if offered_load is not None and math.isfinite(offered_load) else None
    parts = [f"under {names(zero)} every job started as soon as it was submitted"] if zero else []
    parts += [f"under {p} jobs waited {_wait_text(have[p])} on average" for p in some]
    busy = [p for p in have if p not in quiet]
    if busy:
        text = f"Next to no queueing for some: {'; '.join(parts)}. At the same load"
        text += f" ({load:.2f})" if load is not None else ""
        text += ", jobs waited " + ", ".join(f"{_wait_text(have[p])} under {p}" for p in busy)
        text += (
            " on average: the difference comes from the order in which the policies start "
            "jobs and where they put them."
        )
        return {"id": "no-queueing", "text": text}
    if not some:
        who = "every policy" if len(have) > 1 else zero[0]
        text = f"No job queued: under {who} every job started as soon as it was submitted."
    else:
        text = f"Almost nothing queued: {'; '.join(parts)}."
    if load is not None and load < 1:
        text += (
            f" The jobs offer a load of {load:.2f}: the device-time their work needs, at the "
            f"speed of the devices each may use, is {percent(load)} of the device-time the "
            "fleet offers over the run, so free devices were there when they arrived."
        )
    elif load is not None:
        text += (
            f" The jobs offer a load of {load:.2f} of the fleet's capacity, yet found free "
            "devices when they arrived."
        )
    if len(per_policy) > 1:
        text += (
            " The policies therefore differ not in when jobs start but in where they run — on "
            "faster or slower devices, at cheaper or greener sites, near their data or not —, "
            "which is what JCT, cost and carbon compare here."
        )
    return {"id": "no-queueing", "text": text}


def _utilisation_note(
    per_policy: Mapping[str, Mapping[str, Any]], jct: dict[str, Any]
) -> dict[str, str] | None:
    if len(jct["best"]) != 1:
        return None
    b = jct["best"][0]
    ub = value(per_policy[b], "utilisation")
    if ub is None:
        return None
    higher = {
        p: u
        for p, m in per_policy.items()
        if p != b
        and (u := value(m, "utilisation")) is not None
        and shown(u, ".1%") != shown(ub, ".1%")
        and u > ub
    }
    if not higher:
        return None
    against = names([f"{shown(u, '.1%')} under {p}" for p, u in higher.items()])
    text = (
        f"A lower utilisation is better here: {b} has the shortest average JCT "
        f"({shown(jct['value'], '.2f')} h) while its devices were busy {shown(ub, '.1%')} "
        f"of the time, against {against}."
    )
    fin = value(per_policy[b], "jobs.finished")
    others = [value(per_policy[p], "jobs.finished") for p in higher]
    if fin is not None and all(f is not None and fin >= f for f in others):
        more = all(f is not None and fin > f for f in others)
        text += f" It finished {'more jobs' if more else 'as many jobs or more'}"
        e = value(per_policy[b], "energy_mwh")
        es = [value(per_policy[p], "energy_mwh") for p in higher]
        if e is not None and all(x is not None and e < x for x in es):
            text += " with less energy"
        text += "."
    text += (
        " Utilisation is busy ÷ up device-time: the same work on faster devices takes fewer "
        "busy device-hours, so a policy that places jobs well leaves more of the fleet idle — "
        "free for more work — rather than less."
    )
    return {"id": "utilisation", "text": text}


def _power_notes(
    per_policy: Mapping[str, Mapping[str, Any]], sites: Sequence[SitePower]
) -> list[dict[str, str]]:
    notes = []
    meaning = (
        "Capacity is the site's facility power limit in the power model: the scheduler starts "
        "a job only while PUE × (idle power of every device + the busy power above idle of "
        "the running jobs, TDP × the job's power factor − idle power per device) stays within "
        "it."
    )
    above = []
    for s in sites:
        over = {
            p: pk
            for p, m in per_policy.items()
            if (pk := value(m, f"sites.{s.id}.peak_power_mw")) is not None
            and pk > s.capacity_mw * (1 + PEAK_TOLERANCE)
        }
        if over:
            above.append(
                f"at {s.id} (capacity {s.capacity_mw:,.2f} MW) under "
                + names([f"{p} ({pk:,.2f} MW)" for p, pk in over.items()])
            )
    if above:
        notes.append(
            {
                "id": "peak-above-capacity",
                "text": "The peak facility power (the highest hourly mean) is above the site's "
                f"power capacity {'; '.join(above)}. {meaning} A peak above it is power drawn "
                "beyond what the scheduler committed — not expected of the simulator, whose "
                "power follows the same model: please report it with the scenario.",
            }
        )
    over_tdp = [s for s in sites if s.full_tdp_mw > s.capacity_mw * (1 + PEAK_TOLERANCE)]
    if over_tdp:
        listed = names(
            [f"{s.id} ({s.full_tdp_mw:,.1f} MW against {s.capacity_mw:,.1f} MW)" for s in over_tdp]
        )
        notes.append(
            {
                "id": "oversubscribed",
                "text": f"Every device at full TDP would draw more than the site's power "
                f"capacity at {listed}; the scenario allows it "
                f"(max_power_oversubscription). {meaning} So the peak power stays at or below "
                "capacity, and where power is the limit jobs wait for it.",
            }
        )
    return notes


def _finished_note(per_policy: Mapping[str, Mapping[str, Any]]) -> dict[str, str] | None:
    fin = {p: value(m, "jobs.finished") for p, m in per_policy.items()}
    have = {p: f for p, f in fin.items() if f is not None}
    if len({int(f) for f in have.values()}) < 2:
        return None
    sub = [value(m, "jobs.submitted") for m in per_policy.values()]
    of = f" of {int(sub[0]):,} submitted" if sub[0] is not None and len(set(sub)) == 1 else ""
    listed = ", ".join(f"{p} {int(f):,}" for p, f in have.items())
    return {
        "id": "finished-differ",
        "text": f"The policies finished different numbers of jobs within the run ({listed}"
        f"{of}). JCT and ρ are over the jobs each finished, so read them with the jobs "
        "unfinished: a policy that leaves long jobs unfinished looks faster than it is.",
    }


def _positive(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v) and v > 0


def _services_note(
    per_policy: Mapping[str, Mapping[str, Any]], currency: str
) -> dict[str, str] | None:
    """What the services got, when the run has any: SLO attainment under each policy (or
    every policy alike) and net cost and carbon per million tokens."""
    have = {p: m["services"] for p, m in per_policy.items() if m.get("services")}
    if not have:
        return None
    ids = list(next(iter(have.values())))
    parts = []
    for sid in ids:
        got = {p: s[sid] for p, s in have.items() if sid in s}
        att = {p: f"{100 * g['attainment']:.2f}%" for p, g in got.items()}
        if len(set(att.values())) == 1:
            every = " under every policy" if len(got) > 1 else ""
            said = f"{next(iter(att.values()))} of its requests within its SLO{every}"
        else:
            listed = ", ".join(f"{a} ({p})" for p, a in att.items())
            said = f"{listed} of its requests within its SLO"
        per_mtok = {
            p: f"{g['per_mtok']['cost']:.3g} {currency} and {g['per_mtok']['carbon_kg']:.3g} kg CO₂"
            for p, g in got.items()
            if _positive(g["per_mtok"]["cost"]) and _positive(g["per_mtok"]["carbon_kg"])
        }
        if len(set(per_mtok.values())) == 1:
            per = f" ({next(iter(per_mtok.values()))} per million tokens)"
        elif per_mtok:
            per = (
                " (per million tokens: "
                + ", ".join(f"{v} under {p}" for p, v in per_mtok.items())
                + ")"
            )
        else:
            per = ""
        parts.append(f"{sid} answered {said}{per}")
    serving = sorted({s[sid]["serving_policy"] for s in have.values() for sid in s})
    return {
        "id": "services",
        "text": f"Online inference services ran beside the batch work (serving policy "
        f"{names(serving)}): {'; '.join(parts)}. The batch metrics leave their replicas out; "
        "the services section has their demand, replicas and cost.",
    }


def headline(
    per_policy: Mapping[str, Mapping[str, Any]],
    *,
    currency: str = "",
    sites: Sequence[SitePower] = (),
    offered_load: float | None = None,
) -> dict[str, Any]:
    """The document's ``headline`` for these policies' metrics (in the order they ran)."""
    policies = list(per_policy)
    if not policies:
        raise ValueError("headline needs at least one policy")
    metrics = [_metric(k, per_policy, currency) for k in KEY_METRICS]
    lead, wins = _lead(policies, metrics)
    if "suanli" in per_policy:
        open_on = "suanli"
    else:
        top = max(wins.values())
        open_on = next(p for p in policies if wins[p] == top) if top else policies[0]
    notes = [
        n
        for n in (
            _queueing_note(per_policy, offered_load),
            _utilisation_note(per_policy, metrics[0]),
            *_power_notes(per_policy, sites),
            _finished_note(per_policy) if len(policies) > 1 else None,
            _services_note(per_policy, currency),
        )
        if n is not None
    ]
    return {
        "text": lead,
        "policies": len(policies),
        "wins": wins,
        "open_on": open_on,
        "baseline": "fifo" if "fifo" in per_policy else policies[0],
        "offered_load": offered_load,
        "metrics": metrics,
        "notes": notes,
    }


def row_marks(path: str, spec: str, per_policy: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The summary table's marks for the row of ``path`` (values shown with ``spec``):
    which way is ``better`` (or ``None``) and the ``best`` policies (see
    :func:`best_policies`) — none when every value shows the same in the table."""
    better = BETTER.get(path)
    if better is None:
        return {"better": None, "best": []}
    values = {p: value(m, path) for p, m in per_policy.items()}
    texts = {format(v, spec) for v in values.values() if v is not None}
    best = best_policies(values, better, path) if len(texts) > 1 else []
    return {"better": better, "best": best}
