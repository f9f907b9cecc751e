"""Metrics, files and plots from simulation results."""
