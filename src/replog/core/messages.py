"""Replication messages between the master and a secondary.

| message   | direction        | meaning                                                     |
|-----------|------------------|-------------------------------------------------------------|
| Hello     | secondary→master | first frame of every connection: "this is exactly what I have" |
| Welcome   | master→secondary | the Hello was accepted; carries the log id to adopt         |
| Append    | master→secondary | consecutive batch from prev_index + 1; entries carry terms  |
|           |                  | (a RecordRun in catch-up: the records as on the leader's disk) |
| Ack       | secondary→master | cumulative: "1..contiguous_index are durable here"          |
| Heartbeat | master→secondary | liveness probe on idle links; the reply Ack reveals lag     |
| Error     | either           | protocol violation or foreign log; the connection closes    |
"""

from __future__ import annotations

from dataclasses import dataclass

from replog.types import Entry, RecordRun

__all__ = ["PROTOCOL_VERSION", "STALE_TERM", "Ack", "Append", "Error", "Heartbeat", "Hello", "Message", "Welcome"]

# Version 2: each entry in an Append carries its term, and terms ride on the handshake (the follower's
# epoch table, the leader's match index) and on every Append and Heartbeat (with the commit index). A
# Hello of another version is refused with both versions named: the Hello's first four fields are the
# same in every version, so that refusal always gets through.
# Version 3: an Append may carry a RecordRun, the records as they lie on the leader's disk (a frame kind
# of its own; wire/codec.py).
PROTOCOL_VERSION = 3


@dataclass(frozen=True, slots=True)
class Hello:
    """The follower's log as it is: its synced end, its term, and its epoch table (term, first_index)."""

    node_id: int
    log_id: str
    contiguous_index: int
    protocol_version: int = PROTOCOL_VERSION
    term: int = 0
    epochs: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Welcome:
    """The leader's answer: keep entries 1..match_index (they equal the leader's), drop the rest."""

    log_id: str
    last_index: int
    term: int = 0
    leader_id: int = 0
    match_index: int = 0
    commit_index: int = 0


@dataclass(frozen=True, slots=True)
class Append:
    prev_index: int
    entries: tuple[Entry, ...] | RecordRun
    term: int = 0
    commit_index: int = 0


@dataclass(frozen=True, slots=True)
class Ack:
    contiguous_index: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    last_index: int
    term: int = 0
    commit_index: int = 0


@dataclass(frozen=True, slots=True)
class Error:
    """`term` is the sender's term; with code STALE_TERM it tells a deposed leader to step down."""

    code: str
    detail: str
    term: int = 0


STALE_TERM = "stale_term"


Message = Hello | Welcome | Append | Ack | Heartbeat | Error
