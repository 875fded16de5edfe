"""Leader with failover: the no-op of its term, the epoch handshake, the commit rule, stepping down."""

from __future__ import annotations

import pytest

from replog.core.health import HealthThresholds
from replog.core.leader import Leader, LeaderLimits, Term
from replog.core.messages import STALE_TERM, Ack, Append, Error, Heartbeat, Hello, Welcome
from replog.core.outputs import Disconnect, HigherTerm, Output, Persist, Reject, Release, Send
from replog.errors import InvalidRequest
from replog.storage.memory import MemoryLog
from replog.types import Entry, is_internal

from .leader_harness import Harness

LOG_ID = "log-A"


class TermHarness:
    """A leader of `term` (node 0 of three) over a MemoryLog that already holds `entries`."""

    def __init__(self, term: int, entries: list[Entry]) -> None:
        self.log = MemoryLog(LOG_ID)
        if entries:
            self.log.append(entries)
            self.log.sync()
        self.leader = Leader(
            (1, 2),
            log_id=LOG_ID,
            last_index=self.log.last_index,
            limits=LeaderLimits(HealthThresholds(300, 600), heartbeat_interval_ms=100, pump_frames_max=64),
            read_entries=self.log.read,
            now_ms=0,
            term=Term(term=term, node_id=0, failover=True, epochs=self.log.epochs),
        )
        self.outputs = self.take()

    def take(self) -> list[Output]:
        outputs = self.leader.take_outputs()
        for out in outputs:
            if isinstance(out, Persist):
                self.log.append(out.entries)
        return outputs

    def sync(self) -> list[Output]:
        self.leader.on_synced(self.log.sync())
        return self.take()

    def hello(self, peer: int, contiguous: int, epochs: tuple[tuple[int, int], ...], term: int = 0) -> list[Output]:
        self.leader.on_connected(peer, 0)
        self.leader.on_message(peer, Hello(peer, LOG_ID, contiguous, term=term, epochs=epochs), 0)
        return self.take()

    def ack(self, peer: int, index: int) -> list[Output]:
        self.leader.on_message(peer, Ack(index), 0)
        return self.take()


def _sent(outputs: list[Output], kind: type) -> list[object]:
    return [o.message for o in outputs if isinstance(o, Send) and isinstance(o.message, kind)]


def _terms(term_runs: list[tuple[int, int]]) -> list[Entry]:
    """Entries 1.. with the given (term, count) runs."""
    terms = [term for term, count in term_runs for _ in range(count)]
    return [Entry(index, b"x", None, term) for index, term in enumerate(terms, start=1)]


def test_a_new_leader_writes_a_noop_of_its_term_first() -> None:
    h = TermHarness(3, _terms([(1, 4)]))
    (persist,) = [o for o in h.outputs if isinstance(o, Persist)]
    (noop,) = persist.entries
    assert (noop.index, noop.term, noop.payload) == (5, 3, b"")
    assert is_internal(noop)
    h.hello(1, 4, ((1, 1),))
    proposal = h.leader.propose([b"client"], 1)
    assert proposal.first_index == 6
    assert [e.term for e in h.take()[0].entries] == [3]  # type: ignore[union-attr]


def test_the_welcome_names_where_the_follower_s_log_stops_matching() -> None:
    # Node 1 led term 2 alone and wrote 5..7 that nobody else has; we lead term 3 from 1..4 (term 1).
    h = TermHarness(3, _terms([(1, 4)]))
    h.sync()
    outputs = h.hello(1, 7, ((1, 1), (2, 5)), term=2)
    (welcome,) = _sent(outputs, Welcome)
    assert welcome == Welcome(LOG_ID, 5, term=3, leader_id=0, match_index=4, commit_index=0)
    assert [(m.prev_index, [e.index for e in m.entries]) for m in _sent(outputs, Append)] == [(4, [5])]  # type: ignore[attr-defined]


def test_a_follower_that_is_behind_keeps_everything() -> None:
    h = TermHarness(3, _terms([(1, 4), (2, 2)]))
    h.sync()
    (welcome,) = _sent(h.hello(2, 4, ((1, 1),)), Welcome)
    assert welcome.match_index == 4  # type: ignore[attr-defined]


def test_a_majority_of_old_term_entries_is_not_committed_until_the_noop_is() -> None:
    """Raft's Figure 8: index 2 (term 1) on a majority may still be overwritten until a term-3 entry is."""
    h = TermHarness(3, _terms([(1, 1)]))
    h.sync()
    h.hello(1, 1, ((1, 1),))
    token = h.leader.propose([b"w2"], 2).token  # index 3, after the no-op at 2
    h.take()
    h.sync()
    assert h.leader.commit_index == 0
    assert [o for o in h.ack(1, 2) if isinstance(o, Release)] == []  # no-op on a majority...
    assert h.leader.commit_index == 2  # ...commits it and everything before it.
    assert [(o.token, o.index) for o in h.ack(1, 3) if isinstance(o, Release)] == [(token, 3)]
    assert h.leader.commit_index == 3


def test_w1_is_released_on_the_leader_s_fsync_alone() -> None:
    h = TermHarness(2, [])
    h.hello(1, 0, ())
    token = h.leader.propose([b"a"], 1).token
    h.take()
    assert [(o.token, o.index) for o in h.sync() if isinstance(o, Release)] == [(token, 2)]
    assert h.leader.commit_index == 0


def test_commit_index_rides_on_appends_and_heartbeats() -> None:
    h = TermHarness(2, [])
    h.sync()
    h.hello(1, 0, ())
    h.ack(1, 1)
    h.leader.propose([b"a"], 1)
    h.take()
    (append,) = _sent(h.sync(), Append)
    assert (append.term, append.commit_index) == (2, 1)  # type: ignore[attr-defined]
    h.ack(1, 2)
    h.leader.tick(1000)
    heartbeats = _sent(h.take(), Heartbeat)
    assert heartbeats and all((hb.term, hb.commit_index) == (2, 2) for hb in heartbeats)  # type: ignore[attr-defined]


def test_a_later_term_ends_the_leadership() -> None:
    h = TermHarness(2, [])
    h.sync()
    h.hello(1, 0, ())
    h.leader.on_message(1, Error(STALE_TERM, "we are in term 5", term=5), 0)
    outputs = h.take()
    assert HigherTerm(5) in outputs and any(isinstance(o, Disconnect) for o in outputs)
    outputs = h.hello(2, 0, (), term=7)
    assert HigherTerm(7) in outputs and _sent(outputs, Welcome) == []


def test_stepping_down_fails_every_waiter() -> None:
    h = TermHarness(2, [])
    h.hello(1, 0, ())
    tokens = {h.leader.propose([b"a"], 3).token, h.leader.propose([b"b"], 2).token}
    h.take()
    h.leader.step_down("leadership lost")
    rejected = [o for o in h.take() if isinstance(o, Reject)]
    assert {o.token for o in rejected} == tokens and h.leader.waiting() == 0


def test_a_longer_follower_is_refused_only_without_failover() -> None:
    h = TermHarness(2, _terms([(1, 2)]))
    h.sync()
    outputs = h.hello(1, 5, ((1, 1),))
    assert _sent(outputs, Error) == []
    assert _sent(outputs, Welcome)[0].match_index == 2  # type: ignore[attr-defined]


def test_a_retry_of_a_batch_a_failover_cut_is_refused_not_acknowledged() -> None:
    """A follower held only the head of a 3-entry batch when it won: the retry must not be "duplicate, ok"."""
    h = TermHarness(2, [Entry(1, b"a", "r1", 1)])  # b"b" and b"c" of r1 never reached this node.
    h.leader = Leader(
        (1, 2),
        log_id=LOG_ID,
        last_index=1,
        limits=LeaderLimits(HealthThresholds(300, 600), heartbeat_interval_ms=100),
        read_entries=h.log.read,
        now_ms=0,
        recent_request_ids=[("r1", 1, 1)],
        term=Term(term=2, node_id=0, failover=True, epochs=h.log.epochs),
    )
    with pytest.raises(InvalidRequest, match="holds only 1 of its 3 entries"):
        h.leader.propose([b"a", b"b", b"c"], 2, "r1")
    assert h.leader.propose([b"a"], 2, "r1").duplicate  # A retry of the same size still dedups.


def _releases(outputs: list[Output]) -> list[tuple[int, int]]:
    return [(o.token, o.index) for o in outputs if isinstance(o, Release)]


def test_a_failover_leader_sends_written_entries_before_its_own_fsync() -> None:
    """Raft §10.2.1: the followers' writes and fsyncs overlap the leader's own fsync."""
    h = TermHarness(2, [])
    h.sync()
    h.hello(1, 1, ((2, 1),))
    h.leader.propose([b"a"], 3)
    h.take()
    h.leader.on_written(2)
    assert [[e.index for e in m.entries] for m in _sent(h.take(), Append)] == [[2]]  # type: ignore[attr-defined]


def test_followers_ahead_of_the_leader_s_disk_release_and_commit_nothing_beyond_it() -> None:
    """The leader's copy counts only once synced: w=1 stays "on the leader's disk", commit stays within it."""
    h = TermHarness(2, [])
    h.sync()
    h.hello(1, 1, ((2, 1),))
    h.hello(2, 1, ((2, 1),))
    tokens = [h.leader.propose([payload], w).token for payload, w in ((b"w1", 1), (b"w2", 2), (b"w3", 3))]
    h.take()
    h.leader.on_written(4)
    h.take()
    assert _releases(h.ack(1, 4)) == []
    assert _releases(h.ack(2, 4)) == []  # Both followers hold 2..4 durably; the leader has synced only 1.
    assert h.leader.commit_index == 1
    assert _releases(h.sync()) == list(zip(tokens, (2, 3, 4), strict=True))
    assert h.leader.commit_index == 4


def test_the_fixed_master_still_sends_only_synced_entries() -> None:
    """Without terms its secondaries are never truncated, so none may hold what the master could lose."""
    h = Harness(peers=(1,))
    h.connect(1)
    h.propose(b"a", w=1)
    h.leader.on_written(1)
    assert [m for m in (o.message for o in h.take() if isinstance(o, Send)) if isinstance(m, Append)] == []
    assert [[e.index for e in m.entries] for m in _sent(h.sync(), Append)] == [[1]]  # type: ignore[attr-defined]


def test_entries_written_and_sent_cannot_be_aborted() -> None:
    """Only unwritten entries were never sent; a written one may be on a follower already."""
    h = TermHarness(2, [])
    h.sync()
    h.hello(1, 1, ((2, 1),))
    h.leader.propose([b"a"], 1)
    h.take()
    h.leader.on_written(2)
    with pytest.raises(AssertionError, match="outside written 2"):
        h.leader.abort_unwritten(1, "disk full")
