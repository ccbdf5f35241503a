"""The log's pure half: what an entry is, its hashes, the Merkle tree over a cluster's log,
signed checkpoints and the evidence an auditor takes away. Nothing here talks to a database
or the network, so the offline verifier can run on it alone."""
