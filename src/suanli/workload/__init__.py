"""Where jobs come from: the synthetic generator and (later) trace readers."""
