"""Experiments above the simulator: run a scenario's workload through policies
(:mod:`.run`) and sweep policies × seeds × loads on all cores (:mod:`.sweep`)."""
