"""HTTP front of the nodes: the only place errors become status codes."""
