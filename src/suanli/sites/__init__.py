"""Sites: the workload managers that run placed work, behind one protocol.

* :mod:`.base` — the protocol (:class:`~.base.SiteBackend`), string external ids, the
  neutral job state, the features a backend may lack, dispatch tags;
* :mod:`.registry` — the backend registry (one registered class per backend);
* :mod:`.config` — the sites file (``suanli serve --sites FILE``): each site's backend and
  its settings;
* one module per backend: :mod:`.dryrun` (``dry-run``), :mod:`.slurm` (``slurm``),
  :mod:`.ray` (``ray``).

A new backend (Ray, Kubernetes) is one more module here with a registered class.
"""
