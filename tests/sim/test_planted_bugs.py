"""The simulator finds bugs: each test plants one in a test-only subclass and expects a violation.

Production code is untouched; the World takes factories for the Leader, the Follower and the
network, so a planted bug is a few lines of subclass. Each test also names the invariant that
must catch it, so a planted bug cannot be "found" by an unrelated failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from replog.core.follower import Follower
from replog.core.leader import Leader
from replog.core.messages import Ack, Append, Message
from replog.core.outputs import MASTER, Persist, Send
from replog.storage.runs import run_entries
from replog.types import HealthState, RecordRun

from .invariants import InvariantViolation
from .net import TO_SECONDARY, SimNet
from .world import SimFailure, World

SEEDS_MAX = 200


class AcksBeforeStoring(Follower):
    """Bug 1: acknowledges an Append as soon as it is queued for the disk, before the fsync."""

    def _on_append(self, append: Append) -> None:
        super()._on_append(append)
        if self.appended_index > self.synced_index:
            self._outputs.append(Send(MASTER, Ack(self.appended_index)))


class AcceptsGaps(Follower):
    """Bug 2: stores a batch without checking that it continues the log (no prev_index check)."""

    def _on_append(self, append: Append) -> None:
        batch = run_entries(append.entries) if isinstance(append.entries, RecordRun) else append.entries
        fresh = tuple(entry for entry in batch if entry.index > self.appended_index)
        if fresh:
            self._appended_index = fresh[-1].index
            self._outputs.append(Persist(fresh))
        else:
            self._outputs.append(Send(MASTER, Ack(self.synced_index)))


class LosesAppendFrames(SimNet):
    """Makes gaps possible: an Append frame inside a connection is lost now and then (TCP never does)."""

    def send(self, conn_id: int, direction: str, message: Message) -> None:
        if direction == TO_SECONDARY and isinstance(message, Append) and self._world.rng.random() < 0.05:
            self._world.note("net", f"PLANTED: loses Append {message.prev_index + 1}..")
            return
        super().send(conn_id, direction, message)


class CountsSuspectedTwice(Leader):
    """Bug 3: a Suspected secondary counts twice, both for quorum and for write concerns."""

    def _suspected(self) -> list[int]:
        return [p.acked_index for p in self._progress.values() if p.health is HealthState.SUSPECTED]

    def _durable(self) -> list[int]:
        return [*super()._durable(), *self._suspected()]

    def alive(self) -> int:
        return super().alive() + len(self._suspected())


@dataclass(frozen=True)
class PlantedBug:
    name: str
    make_world: Callable[[int], World]
    caught_by: tuple[str, ...]  # Words of the invariant message(s) expected to catch it.


BUGS = [
    PlantedBug(
        "acks-before-storing",
        lambda seed: World(seed, follower_cls=AcksBeforeStoring),
        ("but its disk has synced only", "node(s) hold it durably"),
    ),
    PlantedBug(
        "accepts-gaps",
        lambda seed: World(seed, follower_cls=AcceptsGaps, net_cls=LosesAppendFrames),
        ("no holes",),
    ),
    PlantedBug(
        "counts-suspected-twice",
        lambda seed: World(seed, leader_cls=CountsSuspectedTwice),
        ("node(s) hold it durably", "read_only is"),
    ),
]


def first_failure(make_world: Callable[[int], World], seeds: range) -> SimFailure | None:
    for seed in seeds:
        try:
            make_world(seed).run()
        except SimFailure as failure:
            return failure
    return None


@pytest.mark.parametrize("bug", BUGS, ids=[bug.name for bug in BUGS])
def test_planted_bug_is_caught(bug: PlantedBug) -> None:
    failure = first_failure(bug.make_world, range(SEEDS_MAX))
    assert failure is not None, f"{bug.name}: no violation in seeds 0..{SEEDS_MAX - 1}"
    assert isinstance(failure.error, InvariantViolation), failure.report()
    assert any(words in str(failure.error) for words in bug.caught_by), failure.report()
    print(f"{bug.name}: first caught by seed {failure.seed} at step {failure.step}: {failure.error}")
    # The seed is a reproduction: running it again fails the same way, at the same step.
    again = first_failure(bug.make_world, range(failure.seed, failure.seed + 1))
    assert again is not None and (again.step, str(again.error)) == (failure.step, str(failure.error))


def test_lossy_net_alone_is_safe() -> None:
    """Control for bug 2: with the real Follower, a lost frame becomes a reconnect, never a hole.

    Safety only: losing a frame inside a connection is outside TCP's model, and the core does not
    promise liveness for it (a lost *last* Append is never resent while no new entry follows,
    since the leader does not rewind next_index on a lagging heartbeat Ack).
    """
    for seed in range(40):
        world = World(seed, net_cls=LosesAppendFrames)
        try:
            world.run_steps(world.config.steps_max)
        except SimFailure as failure:
            pytest.fail(failure.report(), pytrace=False)
