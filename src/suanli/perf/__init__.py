"""Physical models (DESIGN §3): throughput, memory fit, power, energy cost, carbon, data.

Each module is small and pure, with its formula in the docstring; the simulator
precomputes their results into lookup tables (:mod:`suanli.perf.table`).
"""
