"""The failover simulator: three nodes that elect a leader among themselves (DESIGN §9).

A world beside the fixed-master one in `tests/sim`: the same pure cores (`Election`, `Leader`,
`Follower`), the same disk model and codec round trip, wired the way the failover node shell is
specified to wire them. See `world.py` for the loop, `node.py` for the shell, `checker.py` for
the invariants.
"""
