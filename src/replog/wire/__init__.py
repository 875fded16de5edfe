"""The wire format of replication frames."""
