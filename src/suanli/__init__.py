"""suanli (算力): coordinate AI work across a network of data centres.

The package follows the data flow of the system::

    scenario → fleet → workload → policy → executor → store → report

``config`` reads and validates scenario files, ``catalog`` holds the accelerator
catalog, ``model`` the frozen domain objects, ``perf`` the physical models,
``workload`` the job sources.
"""

__version__ = "0.1.0"
