"""The failover simulator finds failover bugs: each test plants one and expects its invariant to fire.

Production code is untouched: the FailoverWorld takes factories for the Election, the Leader and
the node shell, so a planted bug is a test-only subclass of the real class. Each bug names the
invariant messages allowed to catch it, so it cannot be "found" by an unrelated failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from replog.core.concern import satisfied_index
from replog.core.election import Election
from replog.core.leader import Leader
from replog.core.outputs import Release
from replog.core.vote_messages import VoteRequest
from replog.types import Entry

from .failover.node import SimNode
from .failover.world import FailoverWorld
from .test_failover_sim import report
from .world import SimFailure

SEEDS_MAX = 200


class VotesTwice(Election):
    """Bug 1: grants a second vote in a term it already voted in."""

    def _can_vote(self, m: VoteRequest) -> bool:
        return True


class SkipsUpToDateCheck(Election):
    """Bug 2: grants votes without comparing logs (Raft §5.4.1 skipped)."""

    def _log_ok(self, m: VoteRequest) -> bool:
        return True


class CountsOldTermEntries(Leader):
    """Bug 3: commits and releases w >= majority on a majority alone, without an entry of its own term
    on a majority (Raft's current-term rule skipped: the "Figure 8" overwrite becomes possible)."""

    def _release(self) -> None:
        durable = self._durable()
        held_by_majority = satisfied_index(durable, self.quorum_needed())
        self._commit_index = max(self._commit_index, held_by_majority)
        for token, index in self._waiters.pop_satisfied(durable):
            self._outputs.append(Release(token, index))


class CountsWrittenCopy(Leader):
    """Bug 5: counts its own copy for `w` (and the majority) once written, before its fsync (issue #12: the
    leader sends before it syncs, so its written index runs ahead of what a crash leaves)."""

    def _own_durable(self) -> int:
        return self._written_index


class TruncatesWithoutRollback(SimNode):
    """Bug 4: the Truncate handler cuts the log without writing the rollback file first."""

    def write_rollback(self, entries: list[Entry]) -> None:
        pass


@dataclass(frozen=True)
class PlantedBug:
    name: str
    make_world: Callable[[int], FailoverWorld]
    caught_by: tuple[str, ...]


COMMIT_RULE = (
    "while only",
    "without released entry",
    "released with w >= majority",
    "logs disagree below the commit index",
    "below the commit index it showed",
    "two entries released with w >= majority",
)

BUGS = [
    PlantedBug(
        "votes-twice",
        lambda seed: FailoverWorld(seed, election_cls=VotesTwice),
        ("votes twice in term", "two leaders in term"),
    ),
    PlantedBug(
        "skips-up-to-date-check", lambda seed: FailoverWorld(seed, election_cls=SkipsUpToDateCheck), COMMIT_RULE
    ),
    PlantedBug(
        "counts-old-term-entries", lambda seed: FailoverWorld(seed, leader_cls=CountsOldTermEntries), COMMIT_RULE
    ),
    PlantedBug(
        "counts-written-copy",
        lambda seed: FailoverWorld(seed, leader_cls=CountsWrittenCopy),
        ("with its log synced to", "node(s) hold it durably", "has synced only", "while only"),
    ),
    PlantedBug(
        "truncates-without-rollback",
        lambda seed: FailoverWorld(seed, node_cls=TruncatesWithoutRollback),
        ("in neither the final log nor a rollback file",),
    ),
]


def first_failure(make_world: Callable[[int], FailoverWorld], seeds: range) -> SimFailure | None:
    for seed in seeds:
        try:
            make_world(seed).run()
        except SimFailure as failure:
            return failure
    return None


@pytest.mark.parametrize("bug", BUGS, ids=[bug.name for bug in BUGS])
def test_planted_failover_bug_is_caught(bug: PlantedBug) -> None:
    failure = first_failure(bug.make_world, range(SEEDS_MAX))
    assert failure is not None, f"{bug.name}: no violation in seeds 0..{SEEDS_MAX - 1}"
    assert isinstance(failure.error, AssertionError), report(failure)
    assert any(words in str(failure.error) for words in bug.caught_by), report(failure)
    print(f"{bug.name}: first caught by seed {failure.seed} at step {failure.step}: {failure.error}")
    # The seed is a reproduction: running it again fails the same way, at the same step.
    again = first_failure(bug.make_world, range(failure.seed, failure.seed + 1))
    assert again is not None and (again.step, str(again.error)) == (failure.step, str(failure.error))
