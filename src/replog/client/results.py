"""Typed, immutable answers of the server, parsed once at the edge.

Frozen dataclasses rather than dicts: a typo in a field name fails at once, results can be compared
and hashed in tests, and `dataclasses.asdict` gives the JSON shape back for scripts.
Parsers ignore fields they do not know, so a newer server does not break an older client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from replog.client.errors import NoLeader, ReplogClientError

__all__ = [
    "AppendResult",
    "BatchResult",
    "ClusterHealth",
    "Faults",
    "MasterHealth",
    "Message",
    "PeerStatus",
    "ReplicaHealth",
    "SecondaryHealth",
    "StepDown",
    "as_leader",
    "cluster_view",
    "parse_append",
    "parse_batch",
    "parse_faults",
    "parse_health",
    "parse_messages",
    "parse_step_down",
]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """One message appended; `duplicate` means this request_id had been appended before, as `index`.

    A call whose first attempt was stored but whose answer was lost sees `duplicate=True` from its retry.
    """

    index: int
    w: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A batch appended atomically as the consecutive indexes first_index..last_index."""

    first_index: int
    last_index: int
    w: int
    duplicate: bool

    @property
    def indexes(self) -> range:
        return range(self.first_index, self.last_index + 1)


@dataclass(frozen=True, slots=True)
class Message:
    index: int
    msg: str


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One secondary as the master sees it."""

    id: int
    url: str
    status: str  # "Healthy", "Suspected" or "Unhealthy"
    link: str
    acked_index: int
    lag: int
    last_heard_ms_ago: int | None
    reconnects: int
    last_error: str


@dataclass(frozen=True, slots=True)
class MasterHealth:
    log_id: str
    read_only: bool
    quorum_alive: int
    quorum_needed: int
    last_index: int
    waiting: int
    secondaries: tuple[PeerStatus, ...]
    role: str = "master"


@dataclass(frozen=True, slots=True)
class SecondaryHealth:
    """A secondary's own /health: what it holds durably and whether it follows the master."""

    id: int
    log_id: str
    contiguous_index: int
    master_connected: bool
    refusal: str
    role: str = "secondary"


@dataclass(frozen=True, slots=True)
class ReplicaHealth:
    """A node's own /health with failover on: its role and term, whom it follows, what it holds."""

    id: int
    name: str
    role: str  # "leader", "follower" or "candidate"
    term: int
    leader_name: str | None
    leader_url: str | None
    log_id: str
    last_index: int
    commit_index: int
    rolled_back: int
    read_only: bool
    quorum_alive: int
    quorum_needed: int
    peers: tuple[PeerStatus, ...]  # the leader's view of every other node; empty on a follower
    waiting: int = 0  # appends waiting for their write concern (on the leader)


@dataclass(frozen=True, slots=True)
class StepDown:
    """A leadership handover: who led, who leads now, in which term, and how long appends paused."""

    old_leader: str
    new_leader: str
    term: int
    paused_ms: float


def parse_step_down(data: Any) -> StepDown:
    body = _object(data, "a step-down")
    try:
        return StepDown(str(body["old_leader"]), str(body["new_leader"]), int(body["term"]), float(body["paused_ms"]))
    except (KeyError, TypeError, ValueError):
        raise _shape_error("a step-down", data) from None


@dataclass(frozen=True, slots=True)
class Faults:
    """A secondary's injected faults; the two durations are the seconds still remaining."""

    error_after_append: float
    delay_ms: tuple[int, int]
    internal_looping: float
    server_unavailable: float


def _shape_error(what: str, data: object) -> ReplogClientError:
    return ReplogClientError(f"unexpected answer for {what}: {str(data)[:200]}")


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _shape_error(what, data)
    return data


def parse_append(data: Any) -> AppendResult:
    body = _object(data, "an append")
    try:
        return AppendResult(index=int(body["index"]), w=int(body["w"]), duplicate=bool(body["duplicate"]))
    except (KeyError, TypeError, ValueError):
        raise _shape_error("an append", data) from None


def parse_batch(data: Any) -> BatchResult:
    body = _object(data, "a batch append")
    try:
        return BatchResult(
            first_index=int(body["first_index"]),
            last_index=int(body["last_index"]),
            w=int(body["w"]),
            duplicate=bool(body["duplicate"]),
        )
    except (KeyError, TypeError, ValueError):
        raise _shape_error("a batch append", data) from None


def parse_messages(data: Any) -> list[Message]:
    """The `?detail=1` shape: [{"index", "msg"}, ...]."""
    if not isinstance(data, list):
        raise _shape_error("messages", data)
    try:
        return [Message(index=int(item["index"]), msg=str(item["msg"])) for item in data]
    except (KeyError, TypeError, ValueError):
        raise _shape_error("messages", data) from None


def _peer(data: dict[str, Any]) -> PeerStatus:
    heard = data.get("last_heard_ms_ago")
    return PeerStatus(
        id=int(data["id"]),
        url=str(data["url"]),
        status=str(data["status"]),
        link=str(data.get("link", "")),
        acked_index=int(data["acked_index"]),
        lag=int(data["lag"]),
        last_heard_ms_ago=None if heard is None else int(heard),
        reconnects=int(data.get("reconnects", 0)),
        last_error=str(data.get("last_error") or ""),
    )


def parse_health(data: Any) -> MasterHealth | SecondaryHealth | ReplicaHealth:
    body = _object(data, "/health")
    try:
        if "term" in body:
            leader = body["leader"] or {}
            return ReplicaHealth(
                id=int(body["id"]),
                name=str(body["name"]),
                role=str(body["role"]),
                term=int(body["term"]),
                leader_name=leader.get("name"),
                leader_url=leader.get("url"),
                log_id=str(body.get("log_id", "")),
                last_index=int(body["last_index"]),
                commit_index=int(body["commit_index"]),
                rolled_back=int(body["rolled_back"]),
                read_only=bool(body["read_only"]),
                quorum_alive=int(body["quorum"]["alive"]),
                quorum_needed=int(body["quorum"]["needed"]),
                peers=tuple(_peer(peer) for peer in body.get("peers", ())),
                waiting=int(body.get("waiting", 0)),
            )
        if body.get("role") == "secondary":
            return SecondaryHealth(
                id=int(body["id"]),
                log_id=str(body.get("log_id", "")),
                contiguous_index=int(body["contiguous_index"]),
                master_connected=bool(body["master_connected"]),
                refusal=str(body.get("refusal") or ""),
            )
        return MasterHealth(
            log_id=str(body.get("log_id", "")),
            read_only=bool(body["read_only"]),
            quorum_alive=int(body["quorum"]["alive"]),
            quorum_needed=int(body["quorum"]["needed"]),
            last_index=int(body["last_index"]),
            waiting=int(body.get("waiting", 0)),
            secondaries=tuple(_peer(peer) for peer in body["secondaries"]),
        )
    except (KeyError, TypeError, ValueError):
        raise _shape_error("/health", data) from None


ClusterHealth = MasterHealth | ReplicaHealth
"""The cluster as its leader sees it: the fixed master's /health, or a failover leader's."""


def cluster_view(health: MasterHealth | SecondaryHealth | ReplicaHealth, url: str) -> ClusterHealth | str:
    """`health` (of the node at `url`) when it is the cluster's view; else the URL of the leader it names.

    Raises ReplogClientError for a fixed master's secondary, and NoLeader for a node that knows no leader."""
    if isinstance(health, SecondaryHealth):
        raise ReplogClientError(f"{url} is secondary {health.id}, not the master")
    if isinstance(health, MasterHealth) or health.role == "leader":
        return health
    if not health.leader_url:
        raise NoLeader(f"{health.name} at {url} is a {health.role} in term {health.term} and knows no leader")
    return health.leader_url


def as_leader(health: MasterHealth | SecondaryHealth | ReplicaHealth, url: str) -> ReplicaHealth:
    """The /health of the node a follower named as its leader, if it still leads."""
    if isinstance(health, ReplicaHealth) and health.role == "leader":
        return health
    raise NoLeader(f"{url} was named as the leader but does not lead (an election is under way)")


def parse_faults(data: Any) -> Faults:
    body = _object(data, "/faults")
    try:
        low, high = body["delay_ms"]
        return Faults(
            error_after_append=float(body["error_after_append"]),
            delay_ms=(int(low), int(high)),
            internal_looping=float(body["internal_looping"]),
            server_unavailable=float(body["server_unavailable"]),
        )
    except (KeyError, TypeError, ValueError):
        raise _shape_error("/faults", data) from None
