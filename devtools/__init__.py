"""Development and test tooling, not shipped in the ``suanli`` wheel.

* :mod:`devtools.slurm_local` — throw-away local Slurm clusters with typed fake GPUs
  (``python -m devtools.slurm_local --sites east,west``);
* :mod:`devtools.pg_local` — a throw-away PostgreSQL server;
* :mod:`devtools.basemap` — makes the report map's outlines (``report/static/basemap.json``)
  from Natural Earth data (``python -m devtools.basemap --npm``).

The tests and benchmarks import them from the repository root.
"""
