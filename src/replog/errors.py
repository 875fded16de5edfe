"""Exception tree. Only web/api.py turns these into HTTP status codes.

ReplogError
├── ReadOnly                 no quorum: the master refuses writes
├── NoLeader                 failover: no leader known to take an append (an election is on)
├── LeadershipLost           failover: the leader stepped down while an append waited
├── TransferFailed           failover: a leadership transfer did not complete in time
├── NotEnoughReplicas        suspend_on_slaves_dead and w-1 exceeds the live secondaries
├── InvalidWriteConcern      w outside 1..N+1
├── InvalidRequest           a client's input is malformed
├── Overloaded               a configured limit on waiters or pending bytes is reached
├── ConfigError              a setting is invalid; names the setting
├── StartupError             the node cannot start: its port is taken
│   └── DataDirInUse         another process holds the node's data directory
├── StorageError             the local log could not be written or read
│   ├── StorageFull          the disk is full
│   ├── CorruptSegment       a closed segment failed validation
│   └── ForeignLog           the data on disk belongs to another log
└── ProtocolError            a replication frame broke the protocol
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorruptSegment",
    "DataDirInUse",
    "ForeignLog",
    "InvalidRequest",
    "InvalidWriteConcern",
    "LeadershipLost",
    "NoLeader",
    "NotEnoughReplicas",
    "Overloaded",
    "ProtocolError",
    "ReadOnly",
    "ReplogError",
    "RequestTimeout",
    "StartupError",
    "StorageError",
    "StorageFull",
    "TransferFailed",
    "TooLarge",
    "Unauthorized",
]


class ReplogError(Exception):
    """Base of every error replog raises on purpose."""


class ReadOnly(ReplogError):
    def __init__(self, alive: int, needed: int, total: int) -> None:
        self.alive, self.needed, self.total = alive, needed, total
        super().__init__(f"read-only: no quorum ({alive} of {total} nodes alive, {needed} needed)")


class NoLeader(ReplogError):
    def __init__(self, term: int, why: str = "election in progress") -> None:
        self.term = term
        super().__init__(f"no leader: {why} (term {term})")


class TransferFailed(ReplogError):
    """A leadership transfer did not complete; the old leader leads on."""


class LeadershipLost(ReplogError):
    """The append's entry may or may not survive the next leader: retry it with the same request_id."""


class NotEnoughReplicas(ReplogError):
    pass


class InvalidWriteConcern(ReplogError):
    pass


class InvalidRequest(ReplogError):
    pass


class TooLarge(InvalidRequest):
    pass


class RequestTimeout(InvalidRequest):
    pass


class Unauthorized(ReplogError):
    pass


class Overloaded(ReplogError):
    pass


class ConfigError(ReplogError):
    pass


class StartupError(ReplogError):
    pass


class DataDirInUse(StartupError):
    pass


class StorageError(ReplogError):
    pass


class StorageFull(StorageError):
    pass


class CorruptSegment(StorageError):
    pass


class ForeignLog(StorageError):
    pass


class ProtocolError(ReplogError):
    pass
