"""Deterministic simulation of a replog cluster (DESIGN.md section 7).

The pure core (`Leader`, `Follower`) is driven exactly as the asyncio shells drive it, but time,
network, disks, crashes and clients are simulated from one seeded `random.Random`, so a whole run
replays event for event from its seed.
"""
