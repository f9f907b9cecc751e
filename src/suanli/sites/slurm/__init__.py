"""The ``slurm`` backend: sites run by Slurm (:mod:`.backend`), and the old
``--slurm-config`` file read as a sites file (:mod:`.legacy`)."""

from suanli.sites.slurm.backend import SlurmSettings, SlurmSite

__all__ = ["SlurmSettings", "SlurmSite"]
