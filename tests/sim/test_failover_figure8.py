"""Raft's Figure 8, scripted in the failover world: an older-term entry on a majority is not committed.

n0 leads term 1, is cut off and takes a w=1 append X that only it holds, then goes down. One of the
others (L2) wins term 2 and dies with its no-op on its own disk only. n0 returns and wins term 3 with
the third node S, and catches S up: X reaches S before n0's no-op does. A client's retry of X (same
request_id, w=2) now waits on X, which a majority holds. n0 dies right after S acks X; L2 returns and
wins term 4 with S's vote (its last term 2 beats S's 1) and rolls X back on S.

With the real Leader the retry is not released (X is not committed: no term-3 entry is on a majority)
and X ends in a rollback file. With the old-term entries counted, the retry is released with w=2 and
then X is lost: the end-to-end check catches it even with the disk-checked commit rule switched off.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from replog.core.leader import Leader

from .failover.clients import Answer, Request
from .failover.node import SimNode
from .failover.world import FailoverConfig, FailoverWorld
from .test_failover_planted import CountsOldTermEntries
from .world import SimFailure

CONFIG = replace(
    FailoverConfig(), clients=0, net_delay_ms=(5, 5), disk_sync_ms=(1, 1), batch_entries_max=1, inflight_frames_max=1
)


def submit(world: FailoverWorld, node: SimNode, payload: bytes, w: int, answers: list[Answer]) -> Request:
    world.clients.submitted.add(payload)
    request = Request(lambda _, answer: answers.append(answer), (payload,), w, "x")
    node.submit(request)
    return request


def isolate(world: FailoverWorld, node: int, cut: bool) -> None:
    for other in range(3):
        if other != node:
            for pair in ((node, other), (other, node)):
                (world.net.cut if cut else world.net.uncut)(*pair)


def figure8(leader_cls: type[Leader], *, commit_rule: bool) -> tuple[FailoverWorld, list[Answer]]:
    world = FailoverWorld(8, config=CONFIG, leader_cls=leader_cls, faults=False)
    world.checker.commit_rule = commit_rule
    n0 = world.nodes[0]
    assert world.run_until(world.quiescent, 5_000) and n0.leader is not None
    k = n0.disk.last_index

    isolate(world, 0, cut=True)  # n0 still leads for a moment and takes X on its own disk.
    first: list[Answer] = []
    submit(world, n0, b"X", 1, first)
    assert world.run_until(lambda: bool(first), 100) and first[0].kind == "ok" and first[0].index == k + 1
    n0.crash()

    assert world.run_until(lambda: any(n.leader is not None for n in world.nodes[1:]), 5_000)
    l2 = next(n for n in world.nodes[1:] if n.leader is not None)
    s = next(n for n in world.nodes[1:] if n is not l2)
    assert world.run_until(lambda: l2.disk.synced_index == l2.noop_index, 100)
    l2.crash()  # Its term-2 no-op at k+1 is on its disk only.
    assert s.disk.last_index == k

    isolate(world, 0, cut=False)
    n0.start()
    assert world.run_until(lambda: n0.leader is not None, 10_000)
    retry: list[Answer] = []
    submit(world, n0, b"X", 2, retry)  # Same request_id: a duplicate, waiting on X at k+1.

    def s_acked_x() -> bool:
        leader = n0.leader
        return leader is not None and any(p.peer == s.id and p.acked_index >= k + 1 for p in leader.peer_status())

    assert world.run_until(s_acked_x, 1_000)
    n0.crash()  # The no-op's Append is in flight and dies with the connection.
    assert s.disk.last_index == k + 1 and s.disk.term_at(k + 1) == 1

    l2.start()
    assert world.run_until(lambda: l2.leader is not None, 10_000)
    world.run_until(lambda: False, 500)
    world.heal()
    assert world.run_until(world.quiescent, 10_000)
    world.checker.after_liveness()
    return world, retry


def test_figure8_the_real_leader_does_not_release_an_old_term_entry() -> None:
    world, retry = figure8(Leader, commit_rule=True)
    assert [a.kind for a in retry] == ["unknown"]  # Never released; n0 died with the client waiting.
    assert any(e.payload == b"X" for n in world.nodes for e in n.rollback), "X must be in a rollback file"
    assert b"X" not in {e.payload for e in world.nodes[0].disk.entries()}


def test_figure8_counting_old_term_entries_loses_a_released_write() -> None:
    with pytest.raises(SimFailure, match=r"without released entry|released with w >= majority"):
        figure8(CountsOldTermEntries, commit_rule=False)
