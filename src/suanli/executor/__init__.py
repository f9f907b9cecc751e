"""Executors: hand placed work to real schedulers (Slurm) and follow it to completion."""
