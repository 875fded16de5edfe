"""Python clients of a replog cluster: `Client` (blocking) and `AsyncClient` (asyncio).

    from replog.client import Client
    with Client() as log:                      # $REPLOG_URL, else http://127.0.0.1:7000
        log.append("kek", w=3)                 # AppendResult(index=1, w=3, duplicate=False)
        log.append_many(["a", "b"], w=2)       # BatchResult(first_index=2, last_index=3, ...)
        log.messages()                         # ['kek', 'a', 'b']
        for m in log.tail(from_=1): ...        # Message(index=1, msg='kek'), ... and then new ones

Two transports, one protocol. The blocking client uses the standard library's `http.client` rather than
running the async client on a private event loop in a background thread: a blocking call that simply
blocks has no thread or loop to start, stop or leak, works inside someone else's event loop and after
`fork`, and adds no dependency. The async client uses aiohttp, which replog already depends on. What to
send and what each answer means is written once, in `_http`, as pure functions both use.

Retries: a request that gets no answer (refused, reset, closed early, connect timeout) is retried with
exponential backoff (`RetryPolicy`). Every append carries a request_id, a fresh uuid4 unless the caller
gives one, and each retry resends the same id: if the lost attempt had been stored, the node answers
`duplicate=True` with the original index instead of appending again. Server answers, errors included, are
not retried: they raise the exception for their status carrying the server's message (see `errors`).

Failover: given several nodes (`Client("http://a:7000,http://b:8000")` or a list, or $REPLOG_URL with
commas), a request that gets no answer, or a 503 "no leader" while the cluster elects one, moves on to the
next node, with the same request_id, until `failover_timeout` seconds (default 10) have passed; a call
starts at the node that last answered. With one URL nothing changes. The rules are in `failover`.

TLS: https URLs are verified against `ca_file` ($REPLOG_CA_FILE, else the system's trust store); a cluster
with `tls_client_auth` also wants `cert_file` and `key_file`. A certificate that does not verify is said
so (see `tls`), and with one node it is not retried: the next attempt would meet the same certificate.

`AsyncClient` is imported on first use: aiohttp takes longer to import than a CLI command takes to run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from replog.client.errors import (
    ConnectionFailed,
    InvalidRequest,
    NoLeader,
    ReadOnly,
    ReplogClientError,
    StorageFull,
    Unauthorized,
    Unavailable,
    WriteConcernTimeout,
)
from replog.client.results import (
    AppendResult,
    BatchResult,
    ClusterHealth,
    Faults,
    MasterHealth,
    Message,
    PeerStatus,
    ReplicaHealth,
    SecondaryHealth,
    StepDown,
)
from replog.client.retry import RetryPolicy
from replog.client.sync import Client

if TYPE_CHECKING:
    from replog.client.aio import AsyncClient

__all__ = [
    "AppendResult",
    "AsyncClient",
    "BatchResult",
    "Client",
    "ClusterHealth",
    "ConnectionFailed",
    "Faults",
    "InvalidRequest",
    "MasterHealth",
    "ReplicaHealth",
    "StepDown",
    "Message",
    "NoLeader",
    "PeerStatus",
    "ReadOnly",
    "ReplogClientError",
    "RetryPolicy",
    "SecondaryHealth",
    "StorageFull",
    "Unauthorized",
    "Unavailable",
    "WriteConcernTimeout",
]


def __getattr__(name: str) -> Any:
    if name == "AsyncClient":
        from replog.client.aio import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
