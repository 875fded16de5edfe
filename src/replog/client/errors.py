"""Exceptions of the client: one class per thing a caller can do something about.

The server's own message (`{"error": "..."}`) is the exception's text, unchanged, so a program can log
it and a person can act on it without knowing the status code. The status is kept on `.status`. A client
that gives up after trying several nodes says so, then quotes the last node's error.

ReplogClientError              any failure; `.status` is the HTTP status, None when there was no answer
├── Unavailable                503: not now (not enough replicas, overloaded, storage error), and:
│   ├── ReadOnly               503 read-only: no quorum; retry later (`.retry_after` seconds)
│   └── NoLeader               503 no leader: an election is in progress; retried across the nodes given
├── WriteConcernTimeout        504: stored on the leader as `.index`, `w` not reached in time
├── InvalidRequest             400, 404, 405, 408, 413: the request itself is wrong; retrying will not help
├── Unauthorized               401, 403: missing or wrong token (see the server's client/read/cluster_token)
├── StorageFull                507: the master's disk is full
└── ConnectionFailed           no answer at all, after the retries the policy (or the failover deadline) allows
"""

from __future__ import annotations

__all__ = [
    "ConnectionFailed",
    "InvalidRequest",
    "NoLeader",
    "ReadOnly",
    "ReplogClientError",
    "StorageFull",
    "Unauthorized",
    "Unavailable",
    "WriteConcernTimeout",
]


class ReplogClientError(Exception):
    """Base of every error the client raises; `str(exc)` is the server's message when there is one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Unavailable(ReplogClientError):
    """503: the master cannot take this request now; `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, *, status: int | None = 503, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ReadOnly(Unavailable):
    """503 because the master has no quorum; it takes writes again by itself once quorum returns.

    A subclass of Unavailable so that `except Unavailable` covers every 503.
    """


class NoLeader(Unavailable):
    """503 because an election is in progress and no node leads yet.

    A client given several nodes (or a `failover_timeout`) retries it by itself until its deadline, and
    raises it only when the deadline passes with the last node still saying so.
    """


class WriteConcernTimeout(ReplogClientError):
    """504: `timeout_ms` passed before `w` copies existed. The entry stays: it is `index` and keeps replicating."""

    def __init__(self, message: str, *, index: int | None, w: int | None, status: int | None = 504) -> None:
        super().__init__(message, status=status)
        self.index = index
        self.w = w


class InvalidRequest(ReplogClientError):
    """400/404/405/408/413: the request is malformed or misdirected; the message names the problem."""


class Unauthorized(ReplogClientError):
    """401/403: the node wants a Bearer token this client did not present (or presented wrong)."""


class StorageFull(ReplogClientError):
    """507: the master's disk is full; nothing was appended."""


class ConnectionFailed(ReplogClientError):
    """The node did not answer: refused, reset, unreachable or too slow, after every allowed retry."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message, status=None)
        self.attempts = attempts
