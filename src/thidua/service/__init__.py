"""The service layer: commands that load aggregates, authorise, decide and append."""
