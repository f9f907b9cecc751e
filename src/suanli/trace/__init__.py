"""Real traces: suanli's trace format, converters from public traces, and replay.

* :mod:`~suanli.trace.format` — the columns and metadata (``docs/trace-format.md``);
* :mod:`~suanli.trace.schema` — the check, with row/column error messages;
* :mod:`~suanli.trace.scaling` — measured speed-ups of elastic jobs (format version 2);
* :mod:`~suanli.trace.io` — CSV and Parquet, byte-stable;
* :mod:`~suanli.trace.sources` — Philly, openb, Pollux and Tiresias converters;
* :mod:`~suanli.trace.jobs` — rows → :class:`~suanli.model.Job` for a scenario;
* :mod:`~suanli.trace.fleets` — the trace's own cluster or a named fleet as a scenario;
* :mod:`~suanli.trace.replay` — trace + fleet choice → scenario and jobs;
* :mod:`~suanli.trace.stats`, :mod:`~suanli.trace.plots` — what ``trace inspect`` shows.
"""

from suanli.trace.fleets import NAMED_FLEETS, fleet_scenario
from suanli.trace.format import COLUMNS, FORMAT_VERSION, Trace
from suanli.trace.io import read_trace, write_trace
from suanli.trace.jobs import LoadOptions, load_trace_jobs, offered_load
from suanli.trace.replay import Replay, prepare_scenario, replay, scenario_jobs
from suanli.trace.scaling import ScalingModel, job_scaling, trace_scaling
from suanli.trace.schema import check_table
from suanli.trace.sources import CONVERTERS, Conversion, convert_source
from suanli.trace.stats import TraceStats, summarize_trace

__all__ = [
    "COLUMNS",
    "CONVERTERS",
    "FORMAT_VERSION",
    "NAMED_FLEETS",
    "Conversion",
    "LoadOptions",
    "Replay",
    "ScalingModel",
    "Trace",
    "TraceStats",
    "check_table",
    "convert_source",
    "fleet_scenario",
    "job_scaling",
    "load_trace_jobs",
    "offered_load",
    "prepare_scenario",
    "read_trace",
    "replay",
    "scenario_jobs",
    "summarize_trace",
    "trace_scaling",
    "write_trace",
]
