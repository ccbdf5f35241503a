"""The domain: aggregates, events and rules. Pure: no I/O, no database, no web."""
