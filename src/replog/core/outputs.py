"""What the core asks its shell to do. The shell drains these in order after every input.

A printed list of outputs reads like a transcript, which is what golden tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from replog.core.messages import Message
from replog.core.vote_messages import VoteMessage
from replog.types import Entry, HealthState, PeerId, RecordRun

MASTER: PeerId = -1
"""The peer a Follower sends to: it has exactly one."""

__all__ = [
    "MASTER",
    "BecameCandidate",
    "BecameFollower",
    "BecameLeader",
    "BecamePreCandidate",
    "CatchUp",
    "ElectionOutput",
    "Disconnect",
    "HealthChanged",
    "HigherTerm",
    "Output",
    "Persist",
    "PersistHardState",
    "ReadOnlyChanged",
    "Reject",
    "Release",
    "Send",
    "SendVote",
    "SetLogId",
    "Truncate",
]


@dataclass(frozen=True, slots=True)
class Persist:
    """Append these entries (or this run of records) to the local log, sync, then call `on_synced`."""

    entries: tuple[Entry, ...] | RecordRun


@dataclass(frozen=True, slots=True)
class Send:
    peer: PeerId
    message: Message


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close this peer's connection (after sending what is queued)."""

    peer: PeerId
    reason: str


@dataclass(frozen=True, slots=True)
class Release:
    """The write concern of the proposal `token` is met."""

    token: int
    index: int


@dataclass(frozen=True, slots=True)
class Reject:
    """The proposal `token` failed (its entries could not be written) and will never be released."""

    token: int
    reason: str


@dataclass(frozen=True, slots=True)
class HealthChanged:
    peer: PeerId
    old: HealthState
    new: HealthState


@dataclass(frozen=True, slots=True)
class ReadOnlyChanged:
    read_only: bool
    alive: int
    needed: int


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A secondary started (done=False) or finished (done=True) catching up on from..to."""

    peer: PeerId
    from_index: int
    to_index: int
    done: bool


@dataclass(frozen=True, slots=True)
class HigherTerm:
    """A peer is in a later term: this node's leadership (if any) is over; tell the election."""

    term: int


@dataclass(frozen=True, slots=True)
class Truncate:
    """Drop every entry after `after_index` (write them to a rollback file first): the leader's log
    differs from ours there. Then call `on_truncated`."""

    after_index: int


@dataclass(frozen=True, slots=True)
class SetLogId:
    """A fresh secondary adopts its master's log id (durably, before it acks anything)."""

    log_id: str


Output = (
    Persist
    | Send
    | Disconnect
    | Release
    | Reject
    | HealthChanged
    | ReadOnlyChanged
    | CatchUp
    | SetLogId
    | HigherTerm
    | Truncate
)


# Election outputs (core/election.py). A separate union: the Leader and the Follower never emit them.


@dataclass(frozen=True, slots=True)
class PersistHardState:
    """Write (term, voted_for) to meta.json and fsync it before acting on any later output."""

    term: int
    voted_for: int | None


@dataclass(frozen=True, slots=True)
class SendVote:
    """Deliver an election message to node `peer` (best effort: a lost one is retried by a timeout)."""

    peer: int
    message: VoteMessage


@dataclass(frozen=True, slots=True)
class BecameFollower:
    """Follow `leader_id` in `term` (None: no leader known yet); also emitted when either changes."""

    term: int
    leader_id: int | None


@dataclass(frozen=True, slots=True)
class BecamePreCandidate:
    """Asking for pre-votes for `term + 1`; still a follower for replication, with no leader known."""

    term: int


@dataclass(frozen=True, slots=True)
class BecameCandidate:
    term: int


@dataclass(frozen=True, slots=True)
class BecameLeader:
    term: int


ElectionOutput = PersistHardState | SendVote | BecameFollower | BecamePreCandidate | BecameCandidate | BecameLeader
