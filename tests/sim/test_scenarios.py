"""Hand-written scenarios: the World driven step by step, with exact expected outcomes.

Each scenario runs a quiet world (no random faults, no background clients, fixed delays) and
injects exactly the faults it is about. Two of them also compare the message transcript with a
golden file in `scenarios/` (etcd testdata style); after an intended protocol change, rewrite
them with `REPLOG_UPDATE_GOLDEN=1 python -m pytest tests/sim/test_scenarios.py` and review the diff.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from replog.core.messages import Ack, Append, Hello
from replog.faults import FaultPlan
from replog.types import Entry, HealthState

from .net import TO_SECONDARY
from .world import SimConfig, World

GOLDEN_DIR = Path(__file__).parent / "scenarios"


def quiet_world(disk_sync_ms: tuple[int, int] = (5, 5)) -> World:
    """Master + s0 + s1, fixed 1 ms network and fsync delays, connected and idle."""
    config = replace(SimConfig(), secondaries=2, net_delay_ms=(1, 1), disk_sync_ms=disk_sync_ms)
    world = World(0, config=config, faults=False, clients=False)
    world.transcript = []
    world.start()
    assert world.run_until(world.quiescent, 2_000), "the cluster did not come up"
    return world


def check_golden(world: World, name: str) -> None:
    assert world.transcript is not None
    text = "\n".join(world.transcript) + "\n"
    path = GOLDEN_DIR / f"{name}.txt"
    if os.environ.get("REPLOG_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"transcript differs from {path}; see the module docstring"


def log_of(world: World, node: str) -> list[bytes]:
    disk = world.master.disk if node == "master" else world.secondaries[int(node[1:])].disk
    return [entry.payload for entry in disk.entries(1, disk.synced_index)]


def test_w3_blocks_while_a_secondary_is_down_and_w1_does_not() -> None:
    world = quiet_world()
    world.secondaries[1].crash()
    slow = world.workload.request((b"a",), w=3)
    fast = world.workload.request((b"b",), w=1)
    world.run_for(500)
    assert fast.outcome is not None and (fast.outcome.kind, fast.outcome.index) == ("ok", 2)
    assert slow.outcome is None, "w=3 must wait while only 2 of 3 nodes can hold the entry"
    assert log_of(world, "s0") == [b"a", b"b"] and log_of(world, "s1") == []

    world.secondaries[1].start()
    assert world.run_until(lambda: slow.outcome is not None, 2_000)
    assert slow.outcome is not None and (slow.outcome.kind, slow.outcome.index) == ("ok", 1)
    assert log_of(world, "s1") == [b"a", b"b"]
    assert world.run_until(world.quiescent, 2_000)
    check_golden(world, "w3_blocks_until_s1_returns")


def test_secondary_restarts_mid_batch() -> None:
    """s0 crashes after writing a batch but before its fsync: it loses the batch, then catches up."""
    world = quiet_world(disk_sync_ms=(40, 40))
    request = world.workload.request((b"x1", b"x2", b"x3"), w=3)
    s0 = world.secondaries[0]
    assert world.run_until(lambda: s0.disk.last_index == 3, 500)
    assert s0.disk.synced_index == 0
    s0.crash()
    assert s0.disk.last_index == 0, "a crash loses the unsynced tail"
    world.run_for(100)
    assert request.outcome is None

    s0.start()
    assert world.run_until(lambda: request.outcome is not None, 3_000)
    assert request.outcome is not None and (request.outcome.kind, request.outcome.index) == ("ok", 3)
    assert world.run_until(world.quiescent, 2_000)
    assert log_of(world, "s0") == log_of(world, "master") == [b"x1", b"x2", b"x3"]
    hellos = [line for line in world.transcript or [] if "master <- s0" in line and "Hello" in line]
    assert hellos[-1].endswith(str(Hello(0, world.master.disk.log_id, 0))), hellos
    check_golden(world, "secondary_restarts_mid_batch")


def test_lost_ack_resumes_without_resending_and_a_duplicate_is_dropped_but_acked() -> None:
    world = quiet_world()
    s0 = world.secondaries[0]
    s0.faults = FaultPlan(error_after_append=1.0)  # Stores and syncs, then drops the link instead of acking.
    request = world.workload.request((b"once",), w=3)
    assert world.run_until(lambda: world.stats["error_after_append"] == 1, 500)
    s0.faults = FaultPlan()
    assert world.run_until(lambda: request.outcome is not None, 3_000)
    assert request.outcome is not None and (request.outcome.kind, request.outcome.index) == ("ok", 1)
    assert log_of(world, "s0") == [b"once"], "the reconnect resumes after what s0 holds: nothing twice"
    transcript = world.transcript or []
    assert any(line.endswith(str(Hello(0, world.master.disk.log_id, 1))) for line in transcript)
    assert not [line for line in transcript if "s0 <- master" in line and "Append(prev=0" in line][1:]

    # An old-style retry resends entry 1 on the live link: s0 drops it and still acknowledges.
    world.transcript = []
    conn = world.master.links[0].conn
    assert conn is not None
    world.net.send(conn, TO_SECONDARY, Append(0, (Entry(1, b"once"),)))
    world.run_for(50)
    assert log_of(world, "s0") == [b"once"]
    assert f"master <- s0   {Ack(1)}" in "\n".join(world.transcript)
    assert world.run_until(world.quiescent, 1_000)


def test_read_only_without_quorum_then_writable_again() -> None:
    world = quiet_world()
    for secondary in world.secondaries:
        secondary.crash()
    world.run_for(world.config.unhealthy_after_ms + 2 * world.config.tick_ms)
    assert world.master.leader is not None and world.master.leader.read_only
    refused = world.workload.request((b"no",), w=1)
    assert refused.outcome is not None and refused.outcome.kind == "refused" and "read-only" in refused.outcome.reason

    world.secondaries[0].start()
    leader = world.master.leader
    assert world.run_until(lambda: not leader.read_only, 3_000)
    accepted = world.workload.request((b"yes",), w=2)
    assert world.run_until(lambda: accepted.outcome is not None, 1_000)
    assert accepted.outcome is not None and (accepted.outcome.kind, accepted.outcome.index) == ("ok", 1)
    statuses = {s.peer: s.health for s in leader.peer_status()}
    assert statuses == {0: HealthState.HEALTHY, 1: HealthState.UNHEALTHY}


def test_master_restart_keeps_the_request_id_window() -> None:
    """A retried request_id after a master crash gets the original index, not a second entry."""
    world = quiet_world()
    first = world.workload.request((b"p1", b"p2"), w=2, request_id="r-1")
    assert world.run_until(lambda: first.outcome is not None, 1_000)
    world.master.crash()
    world.master.start()
    assert world.run_until(world.quiescent, 3_000)
    retry = world.workload.request((b"p1", b"p2"), w=2, request_id="r-1")
    assert world.run_until(lambda: retry.outcome is not None, 1_000)
    assert retry.outcome is not None and (retry.outcome.index, retry.outcome.duplicate) == (2, True)
    assert log_of(world, "master") == [b"p1", b"p2"]
