"""Replication messages between the master and a secondary.

| message   | direction        | meaning                                                     |
|-----------|------------------|-------------------------------------------------------------|
| Hello     | secondary→master | first frame of every connection: "this is exactly what I have" |
| Welcome   | master→secondary | the Hello was accepted; carries the log id to adopt         |
| Append    | master→secondary | consecutive batch from prev_index + 1; entries carry terms  |
| Ack       | secondary→master | cumulative: "1..contiguous_index are durable here"          |
| Heartbeat | master→secondary | liveness probe on idle links; the reply Ack reveals lag     |
| Error     | either           | protocol violation or foreign log; the connection closes    |
"""

from __future__ import annotations

from dataclasses import dataclass

from replog.types import Entry

__all__ = ["PROTOCOL_VERSION", "Ack", "Append", "Error", "Heartbeat", "Hello", "Message", "Welcome"]

# Version 2: each entry in an Append carries its term. A Hello of another version is refused with both
# versions named (the Hello's own layout is the same in every version, so that refusal always gets through).
PROTOCOL_VERSION = 2


@dataclass(frozen=True, slots=True)
class Hello:
    node_id: int
    log_id: str
    contiguous_index: int
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Welcome:
    log_id: str
    last_index: int


@dataclass(frozen=True, slots=True)
class Append:
    prev_index: int
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    contiguous_index: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    last_index: int


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    detail: str


Message = Hello | Welcome | Append | Ack | Heartbeat | Error
