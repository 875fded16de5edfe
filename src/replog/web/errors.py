"""Which HTTP status each replog error becomes: one table for the REST routes and /stream."""

from __future__ import annotations

from replog.errors import (
    InvalidRequest,
    InvalidWriteConcern,
    LeadershipLost,
    NoLeader,
    NotEnoughReplicas,
    Overloaded,
    ReadOnly,
    ReplogError,
    RequestTimeout,
    StorageError,
    StorageFull,
    TooLarge,
    TransferFailed,
    Unauthorized,
)
from replog.node.master import WriteConcernTimeout

__all__ = ["describe", "outcome_of", "status_for"]

_STATUS: list[tuple[type[Exception], int]] = [
    (TooLarge, 413),
    (RequestTimeout, 408),
    (Unauthorized, 401),
    (InvalidRequest, 400),
    (InvalidWriteConcern, 400),
    (ReadOnly, 503),
    (NoLeader, 503),
    (LeadershipLost, 503),
    (TransferFailed, 503),
    (NotEnoughReplicas, 503),
    (Overloaded, 503),
    (WriteConcernTimeout, 504),
    (StorageFull, 507),
    (StorageError, 503),
]


def status_for(exc: Exception) -> int:
    """The status of an error replog raises on purpose; anything else is a 500."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def describe(exc: Exception) -> str:
    if isinstance(exc, StorageFull):
        return f"disk full: {exc}"
    if isinstance(exc, StorageError):
        return f"storage error: {exc}"
    if isinstance(exc, ReplogError | WriteConcernTimeout):
        return str(exc)
    return "internal error"


def outcome_of(exc: BaseException) -> str:
    """The `outcome` label of replog_appends for an append that failed with `exc`."""
    if isinstance(exc, ReadOnly):
        return "read_only"
    if isinstance(exc, NoLeader | LeadershipLost):
        return "no_leader"
    if isinstance(exc, WriteConcernTimeout):
        return "timeout"
    if isinstance(exc, InvalidRequest | InvalidWriteConcern | Unauthorized):
        return "invalid"
    if isinstance(exc, NotEnoughReplicas | Overloaded):
        return "refused"
    return "error"
