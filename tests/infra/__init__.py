"""Tests of the local test infrastructure: Slurm clusters and PostgreSQL."""
