"""A tiny synchronous shell around Leader for unit tests: a MemoryLog, a clock, output filters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from replog.core.health import HealthThresholds
from replog.core.leader import Leader, LeaderLimits, Proposal
from replog.core.messages import Ack, Append, Hello, Message
from replog.core.outputs import Output, Persist, Release, Send
from replog.storage.memory import MemoryLog
from replog.types import Entry, PeerId

__all__ = ["LOG_ID", "Harness", "appends", "releases", "sends"]

LOG_ID = "log-A"
SUSPECT_MS = 300
UNHEALTHY_MS = 600
HEARTBEAT_MS = 100


class Harness:
    """Persist outputs are written to the MemoryLog (unsynced) as soon as they are drained."""

    def __init__(
        self,
        peers: Sequence[PeerId] = (0, 1),
        *,
        last_index: int = 0,
        recent_request_ids: Iterable[tuple[str, int, int]] = (),
        **limits: Any,
    ) -> None:
        self.now = 0
        self.log = MemoryLog(LOG_ID)
        if last_index:
            self.log.append([Entry(i, f"e{i}".encode()) for i in range(1, last_index + 1)])
            self.log.sync()
        limits.setdefault("heartbeat_interval_ms", HEARTBEAT_MS)
        # Most tests look at windows and batches, not at how many frames one input builds.
        limits.setdefault("pump_frames_max", 64)
        self.leader = Leader(
            peers,
            log_id=LOG_ID,
            last_index=last_index,
            limits=LeaderLimits(HealthThresholds(SUSPECT_MS, UNHEALTHY_MS), **limits),
            read_entries=self.log.read,
            now_ms=0,
            recent_request_ids=recent_request_ids,
        )

    def take(self) -> list[Output]:
        outputs = self.leader.take_outputs()
        for out in outputs:
            if isinstance(out, Persist):
                self.log.append(out.entries)
        return outputs

    def propose(self, *payloads: bytes, w: int, request_id: str | None = None) -> tuple[Proposal, list[Output]]:
        proposal = self.leader.propose(payloads, w, request_id)
        return proposal, self.take()

    def sync(self, index: int | None = None) -> list[Output]:
        self.take()
        synced = self.log.sync() if index is None else index
        self.leader.on_synced(synced)
        return self.take()

    def connect(self, peer: PeerId, contiguous: int = 0, log_id: str = LOG_ID) -> list[Output]:
        self.leader.on_connected(peer, self.now)
        return self.message(peer, Hello(peer, log_id, contiguous))

    def message(self, peer: PeerId, message: Message) -> list[Output]:
        self.leader.on_message(peer, message, self.now)
        return self.take()

    def ack(self, peer: PeerId, index: int) -> list[Output]:
        return self.message(peer, Ack(index))

    def tick(self, now_ms: int) -> list[Output]:
        self.now = now_ms
        self.leader.tick(now_ms)
        return self.take()


def releases(outputs: list[Output]) -> list[tuple[int, int]]:
    return [(out.token, out.index) for out in outputs if isinstance(out, Release)]


def sends(outputs: list[Output], kind: type | None = None, peer: PeerId | None = None) -> list[Message]:
    return [
        out.message
        for out in outputs
        if isinstance(out, Send) and (kind is None or isinstance(out.message, kind)) and peer in (None, out.peer)
    ]


def appends(outputs: list[Output], peer: PeerId | None = None) -> list[tuple[int, list[int]]]:
    """(prev_index, [entry indexes]) of every Append sent."""
    return [(m.prev_index, [e.index for e in m.entries]) for m in sends(outputs, Append, peer)]
