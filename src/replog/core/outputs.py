"""What the core asks its shell to do. The shell drains these in order after every input.

A printed list of outputs reads like a transcript, which is what golden tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from replog.core.messages import Message
from replog.types import Entry, HealthState, PeerId

MASTER: PeerId = -1
"""The peer a Follower sends to: it has exactly one."""

__all__ = [
    "MASTER",
    "CatchUp",
    "Disconnect",
    "HealthChanged",
    "Output",
    "Persist",
    "ReadOnlyChanged",
    "Reject",
    "Release",
    "Send",
    "SetLogId",
]


@dataclass(frozen=True, slots=True)
class Persist:
    """Append these entries to the local log, sync, then call `on_synced`."""

    entries: tuple[Entry, ...]


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
class SetLogId:
    """A fresh secondary adopts its master's log id (durably, before it acks anything)."""

    log_id: str


Output = Persist | Send | Disconnect | Release | Reject | HealthChanged | ReadOnlyChanged | CatchUp | SetLogId
