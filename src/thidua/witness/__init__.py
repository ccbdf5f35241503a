"""A witness for the cluster logs (c2sp.org/tlog-witness): it cosigns a log's checkpoint only
once a consistency proof shows the log grew from the checkpoint it last cosigned, so a log
cannot show one history to the city board and another to an auditor. The board or an
auditor runs it themselves (`thidua-witness`); `client` is the product's side.

It keeps only each log's last size and root, and imports nothing of the product but the
ledger's pure code."""
