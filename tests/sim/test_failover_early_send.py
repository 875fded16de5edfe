"""Issue #12, scripted: a leader that dies with a follower ahead of its own disk loses nothing acknowledged.

n0 leads and sends X (w=2) as soon as it is written; n1 syncs and acks it while n0's own fsync is still
running (n2 is cut off). n0 crashes, losing X from its disk; n1 goes down too. n0 returns and wins a
new term with n2 (their logs are equal), so the new leader's log wins: when n1 comes back its X goes to a
rollback file.

The real Leader counts its own copy only once synced, so X was never acknowledged: the client heard
"unknown". A leader that counts its copy once written acknowledges X with w=2 on n0+n1, only one of
which holds it durably: the release check catches it before the crash makes the loss real.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from replog.core.leader import Leader

from .failover.clients import Answer
from .failover.world import FailoverConfig, FailoverWorld
from .test_failover_figure8 import isolate, submit
from .test_failover_planted import CountsWrittenCopy
from .world import SimFailure

CONFIG = replace(FailoverConfig(), clients=0, net_delay_ms=(2, 2), disk_sync_ms=(1, 1))


def crash_behind_follower(leader_cls: type[Leader]) -> tuple[FailoverWorld, list[Answer]]:
    world = FailoverWorld(8, config=CONFIG, leader_cls=leader_cls, faults=False)
    n0, n1, n2 = world.nodes
    assert world.run_until(world.quiescent, 5_000) and n0.leader is not None
    k = n0.disk.last_index

    isolate(world, 2, cut=True)
    n0.disk.sync_delay_ms = lambda: 1_000  # type: ignore[method-assign]  # n0's fsync outlasts n1's.
    answers: list[Answer] = []
    submit(world, n0, b"X", 2, answers)
    assert world.run_until(lambda: n1.disk.synced_index == k + 1, 100)
    world.run_until(lambda: False, 10)  # n1's ack reaches n0, whose own fsync is still running.
    assert n0.disk.synced_index == k
    n0.crash()  # X was written, sent and synced on n1, never synced here: this crash loses it.
    assert n0.disk.last_index == k
    n1.crash()

    del n0.disk.sync_delay_ms
    isolate(world, 2, cut=False)
    n0.start()
    assert world.run_until(lambda: any(n.leader is not None for n in (n0, n2)), 10_000)
    n1.start()
    world.heal()
    assert world.run_until(world.quiescent, 10_000)
    world.checker.after_liveness()
    return world, answers


def test_a_leader_crashing_behind_its_follower_had_acknowledged_nothing() -> None:
    world, answers = crash_behind_follower(Leader)
    assert [a.kind for a in answers] == ["unknown"]  # n0 died with the client waiting.
    assert [e.payload for e in world.nodes[1].rollback] == [b"X"]  # The new leader's log won.
    assert all(b"X" not in {e.payload for e in n.disk.entries()} for n in world.nodes)


def test_counting_the_leader_s_written_copy_loses_an_acknowledged_write() -> None:
    with pytest.raises(SimFailure, match=r"with its log synced to"):
        crash_behind_follower(CountsWrittenCopy)
