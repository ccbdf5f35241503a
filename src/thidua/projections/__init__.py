"""Read models: projections from a cluster's log to rows, run inline, catching up or
rebuilding, and the queries that read them (live, and as of a position or time)."""
