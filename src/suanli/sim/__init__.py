"""The discrete-event simulator: lookup tables, cluster state, events, executor, engine."""
